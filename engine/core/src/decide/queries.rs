//! Read-only answers: the preview of a cheque, an order as the till rings it up, a
//! balance, and the original answer of an earlier operation. They change nothing.

use super::cheque::{check_lines, online, price_cheque, spendable_if_redeemable};
use super::identify::{active_cashbox, holder, identify_cheque, Identified};
use super::orders::order_for;
use super::{reject, Rejection};
use crate::amount::{Money, Points};
use crate::checkout::{perks, pickup_price};
use crate::command::{Actor, Cheque, Presented};
use crate::ids::*;
use crate::model::*;
use crate::outcome::{BalanceInfo, Code, OperationRecord, Reply};
use crate::pricing::totals;
use crate::state::StateView;

/// The preview of a cheque: discounts, accrual, the most points payable and the balance.
/// Always answers for a cheque without a card too.
pub fn calculate(
    view: &impl StateView,
    program: &Program,
    cashbox: CashboxId,
    cheque: &Cheque,
    now: UnixMillis,
) -> Reply {
    let run = || -> Result<Reply, Rejection> {
        let cashbox = active_cashbox(view, cashbox)?;
        check_lines(program, cheque)?;
        if let Some(number) = &cheque.order {
            let (order, who, _) = order_for(view, now, None, cheque, number)?;
            let lines = pickup_price(view, program, cheque, &order, &cashbox, &who).lines;
            return Ok(Reply {
                totals: Some(totals(&lines, None)),
                lines,
                holder: Some(holder(&who.0, &who.1)),
                balance: Some(BalanceInfo::from(&who.1)),
                order_status: Some(order.status),
                ..Reply::ok()
            });
        }
        let Identified { who, redeems, .. } =
            identify_cheque(view, now, None, cheque.card.as_ref(), &cheque.presented)?;
        let spendable = who
            .as_ref()
            .filter(|_| redeems)
            .and_then(|(c, a)| spendable_if_redeemable(c, a));
        let terms = online(&cashbox, who.as_ref(), None);
        let priced = price_cheque(view, program, cheque, Points::ZERO, &terms, spendable)?;
        let customer = who.as_ref().map(|(_, a)| a);
        let out = perks(view, &priced.q.priced.perks, &priced.t, customer, None);
        let q = priced.q;
        Ok(Reply {
            totals: Some(priced.t),
            lines: q.priced.lines,
            holder: who.as_ref().map(|(c, a)| holder(c, a)),
            balance: who.as_ref().map(|(_, a)| BalanceInfo::from(a)),
            messages: [q.notes, out.messages].concat(),
            coupons_used: q.used,
            gifts: out.gifts,
            ..Reply::ok()
        })
    };
    run().unwrap_or_else(Reply::from)
}

/// An e-commerce order as the till rings it up: its lines priced as promised (with the
/// accrual of the offers open at `local_time`), the customer, and its status.
pub fn fetch_order(
    view: &impl StateView,
    program: &Program,
    cashbox: CashboxId,
    number: &OrderNo,
    local_time: chrono::NaiveDateTime,
    now: UnixMillis,
) -> Reply {
    let Some(order) = view.order(number) else {
        return Reply::rejected(Code::OrderUnknown, number.as_str());
    };
    let cheque = Cheque {
        cheque: ChequeId::new(number.as_str()).expect("an order number is a cheque id"),
        card: None,
        presented: Vec::new(),
        pin: None,
        tenders: Vec::new(),
        local_time,
        lines: order
            .lines
            .iter()
            .map(|l| Line {
                product: l.product.clone(),
                qty: l.qty,
                price: l.price,
                local_discount: Money::ZERO,
                promotional: false,
                min_price: Money::ZERO,
            })
            .collect(),
        cashier: None,
        coupons: Vec::new(),
        order: Some(number.clone()),
    };
    let mut reply = calculate(view, program, cashbox, &cheque, now);
    if reply.code == Code::OrderWrongState {
        reply.order_status = Some(order.status);
    }
    reply
}

/// The balance behind a card, or behind any identifier of its account.
/// The customer's balance now, or as the lots say it will be at `as_of` (not before now).
pub fn balance(
    view: &impl StateView,
    cashbox: CashboxId,
    card: Option<&CardNo>,
    presented: &[Presented],
    now: UnixMillis,
    as_of: Option<UnixMillis>,
) -> Reply {
    let run = || -> Result<Reply, Rejection> {
        active_cashbox(view, cashbox)?;
        let (c, a) = identify_cheque(view, now, None, card, presented)?
            .who
            .ok_or_else(|| reject(Code::CardRequired, "no identifier"))?;
        let balance = match as_of {
            Some(t) if t < now => {
                return Err(reject(
                    Code::AmountInvalid,
                    "as_of: now or later (what happened before is in the history)",
                ))
            }
            Some(t) => BalanceInfo::forecast(&a, t),
            None => BalanceInfo::from(&a),
        };
        Ok(Reply {
            holder: Some(holder(&c, &a)),
            balance: Some(balance),
            ..Reply::ok()
        })
    };
    run().unwrap_or_else(Reply::from)
}

/// The original answer of an earlier operation of this cashbox, or `None` if the engine
/// never recorded it (the till should resend it with the same id).
pub fn operation_status(view: &impl StateView, actor: Actor, op: OpId) -> Option<OperationRecord> {
    view.operation(op)
        .filter(|rec| rec.actor == actor || matches!(actor, Actor::Admin(_)))
}
