//! Refunds of a confirmed purchase, by line, at any POS of the programme: the money of the
//! returned lines, the points paid for them given back and their accrual taken back,
//! proportionally and never more in total than the purchase. A refund is named by its
//! cashbox and cheque, so refunds of one purchase at several tills never collide.

use super::cheque::{check_lines, online, price_cheque, purchase_key, recorded, Times};
use super::identify::{identify_cheque, Identified};
use super::purchase::purchase_reply;
use super::{reject, Decided};
use crate::amount::{prorate, Money, Points, Qty};
use crate::checkout::{PerksOut, Terms};
use crate::command::Cheque;
use crate::command::RefundLine;
use crate::event::{DebtCause, Event};
use crate::ids::*;
use crate::model::*;
use crate::outcome::{Code, RefundSummary, Reply};
use crate::state::StateView;

pub(super) fn refund(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    refund: &ChequeId,
    sold: &PurchaseKey,
    lines: &[RefundLine],
    now: UnixMillis,
) -> Decided {
    if cashbox.kind == CashboxKind::SelfCheckout {
        return Err(reject(Code::RefundAtKiosk, ""));
    }
    let p = view
        .purchase(sold)
        .ok_or_else(|| reject(Code::PurchaseUnknown, sold.to_string()))?;
    if p.status != PurchaseStatus::Confirmed {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    let key = PurchaseKey {
        cashbox: cashbox.id,
        cheque: refund.clone(),
    };
    if p.has_refund(&key) {
        return Err(reject(Code::RefundExists, refund.as_str()));
    }
    if lines.is_empty() {
        return Err(reject(Code::EmptyCheque, refund.as_str()));
    }
    // Aggregate per line so that a line named twice is checked as one.
    let mut asked = std::collections::BTreeMap::<u32, i64>::new();
    for l in lines {
        if l.qty.0 <= 0 {
            return Err(reject(Code::AmountInvalid, format!("line {}", l.index)));
        }
        if l.index as usize >= p.lines.len() {
            return Err(reject(Code::RefundLineUnknown, format!("line {}", l.index)));
        }
        *asked.entry(l.index).or_default() += l.qty.0;
    }
    let (mut money, mut paid, mut accrual) = (0i64, 0i64, 0i64);
    for (&i, &q) in &asked {
        let line = &p.lines[i as usize];
        let (before, total) = (line.refunded_qty.0, line.line.qty.0);
        if before + q > total {
            return Err(reject(
                Code::RefundExceedsPurchase,
                format!(
                    "line {i}: {} of {} left",
                    Qty(total - before),
                    line.line.qty
                ),
            ));
        }
        let part = |whole: i64| prorate(whole, before + q, total) - prorate(whole, before, total);
        money += part(line.net().0);
        paid += part(line.paid.0);
        accrual += part(line.accrual.0);
    }
    let account = p.account.and_then(|a| view.account(a));
    // The accrual comes back from the purchase's own lots, pending or not, as far as they
    // are unspent; the rest is owed (and paid at once from what is spendable).
    let mut reversed_from = Vec::new();
    let mut reversed = 0;
    for l in account.iter().flat_map(|a| a.lots_in(&p.lots)) {
        let n = (accrual - reversed).min(l.left.0);
        if n > 0 {
            reversed_from.push(Take {
                lot: l.id,
                points: Points(n),
                expires_at: l.expires_at,
            });
            reversed += n;
        }
    }
    // Points paid go back to the lots they came from; what the purchase no longer has
    // taken (a late confirm's shortfall, owed instead; a purchase paid before lots) comes
    // back as a new lot, spendable at once for the programme's lifetime.
    let returned = returned_takes(&p.taken, Points(paid));
    let excess = paid - returned.iter().map(|t| t.points.0).sum::<i64>();
    let returned_lots = match &account {
        Some(a) if excess > 0 => {
            let terms = LotTerms {
                pending_secs: 0,
                ..program.lots
            };
            vec![terms.credit(a, LotSource::Returned, Points(excess), now, now)]
        }
        _ => Vec::new(),
    };
    let certificates = super::certificate::refund_credits(view, &p, Money(money - paid), now);
    let summary = RefundSummary {
        money_returned: Money(money),
        points_returned: Points(paid),
        accrual_reversed: Points(reversed),
        accrual_unrecovered: Points(accrual - reversed),
        certificates_returned: crate::certificate::total(&certificates),
    };
    let event = Event::RefundRecorded {
        purchase: p.key.clone(),
        refund: refund.clone(),
        account: p.account,
        lines: asked
            .iter()
            .map(|(&index, &q)| RefundLine { index, qty: Qty(q) })
            .collect(),
        money_returned: summary.money_returned,
        points_returned: summary.points_returned,
        accrual_reversed: summary.accrual_reversed,
        accrual_unrecovered: summary.accrual_unrecovered,
        refunded_at: Some(cashbox.id),
        refunded_in: Some(cashbox.store),
        returned,
        returned_lots,
        reversed_from,
        certificates,
    };
    let mut events = vec![event];
    if let (Some(account), true) = (p.account, summary.accrual_unrecovered.0 > 0) {
        events.push(Event::DebtIncurred {
            account,
            purchase: p.key.clone(),
            points: summary.accrual_unrecovered,
            cause: DebtCause::RefundedAccrualSpent,
        });
    }
    let reply = Reply {
        refund: Some(summary),
        ..purchase_reply(view, &p, PurchaseStatus::Confirmed)
    };
    Ok((events, reply))
}

/// The lots refunded points go back to: of those the purchase took, the latest to expire
/// first, as far as they go.
fn returned_takes(taken: &[Take], points: Points) -> Vec<Take> {
    let mut order: Vec<&Take> = taken.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse((t.expires_at.map_or(i64::MAX, |e| e.0), t.lot)));
    let mut want = points.0;
    let mut back = Vec::new();
    for t in order {
        let n = want.min(t.points.0);
        if n > 0 {
            back.push(Take {
                points: Points(n),
                ..*t
            });
            want -= n;
        }
    }
    back
}

/// A refund without the original receipt, when the programme allows it: the goods as the
/// cashier enters them (on a cheque numbered as the refund), the money of the lines as
/// entered, and the accrual such goods earn the customer today taken back — never more
/// than the customer has earned and kept, from the spendable balance first, the rest owed.
pub(super) fn without_receipt(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cheque: &Cheque,
    now: UnixMillis,
) -> Decided {
    if !program.receiptless_refunds {
        return Err(reject(
            Code::Forbidden,
            "the programme does not allow refunds without the receipt",
        ));
    }
    if cashbox.kind == CashboxKind::SelfCheckout {
        return Err(reject(Code::RefundAtKiosk, ""));
    }
    check_lines(program, cheque)?;
    super::certificate::refuse_in_return(cheque)?;
    let key = purchase_key(cashbox, &cheque.cheque);
    if view.purchase(&key).is_some() {
        return Err(reject(Code::RefundExists, cheque.cheque.as_str()));
    }
    let Identified { who, .. } =
        identify_cheque(view, now, None, cheque.card.as_ref(), &cheque.presented)?;
    // Priced as today's sale of the goods, without coupons: the goods' accrual.
    let terms = Terms {
        coupons: false,
        ..online(cashbox, who.as_ref(), None)
    };
    let priced = price_cheque(view, program, cheque, Points::ZERO, &terms, None)?;
    let money = cheque.lines.iter().fold(Money::ZERO, |s, l| {
        let amount = crate::amount::line_amount(l.price.0, l.qty).expect("checked lines");
        s.plus(Money(amount)).minus(l.local_discount)
    });
    let (accrual, reversed) = who.as_ref().map_or((Points::ZERO, Points::ZERO), |(_, a)| {
        let accrual = priced.t.accrual.min(a.earned).max(Points::ZERO);
        (accrual, accrual.min(a.spendable()))
    });
    let unrecovered = accrual.minus(reversed);
    let times = Times {
        expires_at: now,
        created_at: now,
    };
    let (mut record, reply) = recorded(
        key,
        who.as_ref(),
        PurchaseStatus::ReturnedWithoutReceipt,
        cheque,
        priced,
        PerksOut::default(),
        times,
    );
    record.accrual = accrual;
    record.accrual_reversed = reversed;
    record.taken = who
        .as_ref()
        .map_or_else(Vec::new, |(_, a)| a.take(reversed));
    record.refunded_money = money;
    let account = record.account;
    let purchase = record.key.clone();
    let mut events = vec![Event::ReturnedWithoutReceipt { purchase: record }];
    if let (Some(account), true) = (account, unrecovered.0 > 0) {
        events.push(Event::DebtIncurred {
            account,
            purchase,
            points: unrecovered,
            cause: DebtCause::RefundedAccrualSpent,
        });
    }
    let reply = Reply {
        refund: Some(RefundSummary {
            money_returned: money,
            points_returned: Points::ZERO,
            accrual_reversed: reversed,
            accrual_unrecovered: unrecovered,
            certificates_returned: Money::ZERO,
        }),
        coupons_issued: Vec::new(),
        messages: Vec::new(),
        ..reply
    };
    Ok((events, reply))
}
