//! Refunds of a confirmed purchase, by line, at any POS of the programme: the money of the
//! returned lines, the points paid for them given back and their accrual taken back,
//! proportionally and never more in total than the purchase. A refund is named by its
//! cashbox and cheque, so refunds of one purchase at several tills never collide.

use super::purchase::purchase_reply;
use super::{reject, Decided};
use crate::amount::{prorate, Money, Points, Qty};
use crate::command::RefundLine;
use crate::event::{DebtCause, Event};
use crate::ids::*;
use crate::model::*;
use crate::outcome::{Code, RefundSummary, Reply};
use crate::state::StateView;

pub(super) fn refund(
    view: &impl StateView,
    cashbox: &Cashbox,
    refund: &ChequeId,
    sold: &PurchaseKey,
    lines: &[RefundLine],
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
    let available = account.as_ref().map_or(0, |a| a.spendable().0 + paid);
    let reversed = accrual.min(available.max(0));
    let summary = RefundSummary {
        money_returned: Money(money),
        points_returned: Points(paid),
        accrual_reversed: Points(reversed),
        accrual_unrecovered: Points(accrual - reversed),
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
