//! The shared step of every command that prices a cheque: its lines checked, priced once
//! for the customer with the points it pays (the redeemable cap checked on that same
//! pricing), its totals, and the purchase record made from it.

use super::identify::holder;
use super::{reject, Rejection};
use crate::amount::{Money, Points};
use crate::checkout::{potential_accrual, quote, PerksOut, Quote, Terms};
use crate::command::{Cheque, Totals};
use crate::ids::*;
use crate::model::*;
use crate::outcome::{Code, Reply};
use crate::pricing::{cap_sum, totals};
use crate::state::StateView;

pub(super) fn check_lines(program: &Program, cheque: &Cheque) -> Result<(), Rejection> {
    if cheque.lines.is_empty() {
        return Err(reject(Code::EmptyCheque, cheque.cheque.as_str()));
    }
    if cheque.lines.len() > program.lines_per_cheque_max {
        return Err(reject(
            Code::TooManyLines,
            format!("{} > {}", cheque.lines.len(), program.lines_per_cheque_max),
        ));
    }
    for (i, l) in cheque.lines.iter().enumerate() {
        let amount = crate::amount::line_amount(l.price.0, l.qty).ok_or_else(|| {
            reject(
                Code::AmountInvalid,
                format!("line {i}: price × quantity above the largest amount"),
            )
        })?;
        if l.local_discount.0 < 0 || l.local_discount.0 > amount {
            return Err(reject(
                Code::AmountInvalid,
                format!("line {i}: the till's discount exceeds the line"),
            ));
        }
    }
    Ok(())
}

/// At the till, online: discounts, and accrual when a customer is known.
pub(super) fn online<'a>(
    cashbox: &'a Cashbox,
    who: Option<&'a (Card, Account)>,
    existing: Option<&'a Purchase>,
) -> Terms<'a> {
    Terms {
        cashbox,
        who,
        existing,
        discounts: true,
        coupons: true,
    }
}

/// What a customer may pay with points, if this card may pay with them at all.
pub(super) fn spendable_if_redeemable(card: &Card, account: &Account) -> Option<Points> {
    card.status.may_redeem().then(|| account.spendable())
}

/// Tenders, when given, are each more than zero and add up to the money left to pay:
/// checked by every command that takes a cheque's tenders.
pub(super) fn check_tenders(cheque: &Cheque, t: &Totals) -> Result<(), Rejection> {
    if cheque.tenders.is_empty() {
        return Ok(());
    }
    if let Some(i) = cheque.tenders.iter().position(|x| x.amount.0 <= 0) {
        return Err(reject(
            Code::AmountInvalid,
            format!("tender {i} is not more than zero"),
        ));
    }
    let due = t.amount.minus(t.discount).minus(Money(t.paid.0));
    let tendered = cheque
        .tenders
        .iter()
        .fold(Money::ZERO, |s, x| s.plus(x.amount));
    if tendered != due {
        return Err(reject(
            Code::AmountInvalid,
            format!("tenders add up to {tendered}, {due} is left to pay"),
        ));
    }
    Ok(())
}

/// A cheque priced for a customer: the quote and its totals.
pub(super) struct PricedCheque {
    pub q: Quote,
    pub t: Totals,
}

/// Prices a cheque once: the quote with `paid` points spread over the lines, refused when
/// `paid` exceeds what the lines may take (their caps do not depend on what is paid), and
/// the totals with `spendable` as what the customer could pay.
pub(super) fn price_cheque(
    view: &impl StateView,
    program: &Program,
    cheque: &Cheque,
    paid: Points,
    terms: &Terms<'_>,
    spendable: Option<Points>,
) -> Result<PricedCheque, Rejection> {
    let q = quote(view, program, cheque, paid, terms);
    if paid.0 > 0 {
        let cap = cap_sum(&q.priced.lines);
        if paid > cap {
            return Err(reject(Code::RedeemLimitExceeded, format!("{paid} > {cap}")));
        }
    }
    let mut t = totals(&q.priced.lines, spendable);
    t.pending_accrual = crate::pricing::pending_accrual(program, &q.priced.lines);
    if terms.who.is_none() && terms.discounts {
        t.potential_accrual = potential_accrual(view, program, cheque, terms.cashbox);
    }
    Ok(PricedCheque { q, t })
}

pub(super) fn purchase_key(cashbox: &Cashbox, cheque: &ChequeId) -> PurchaseKey {
    PurchaseKey {
        cashbox: cashbox.id,
        cheque: cheque.clone(),
    }
}

/// When a recorded purchase expires, and when it was created.
pub(super) struct Times {
    pub expires_at: UnixMillis,
    pub created_at: UnixMillis,
}

/// A purchase recorded from a priced cheque, and the answer that shows it.
pub(super) fn recorded(
    key: PurchaseKey,
    who: Option<&(Card, Account)>,
    status: PurchaseStatus,
    cheque: &Cheque,
    PricedCheque { q, t }: PricedCheque,
    out: PerksOut,
    times: Times,
) -> (Purchase, Reply) {
    let purchase = Purchase {
        taken: Vec::new(),
        lots: Vec::new(),
        key,
        cashier: cheque.cashier.clone(),
        tenders: cheque.tenders.clone(),
        account: who.map(|(_, a)| a.id),
        card: who.map(|(c, _)| c.number.clone()),
        status,
        local_time: cheque.local_time,
        paid: t.paid,
        accrual: t.accrual,
        lines: q.priced.lines.clone(),
        expires_at: times.expires_at,
        created_at: times.created_at,
        coupons: q.used.clone(),
        issued: out.issued.iter().map(|c| c.code.clone()).collect(),
        order: cheque.order.clone(),
        refunds: Vec::new(),
        refunded_money: Money::ZERO,
        points_returned: Points::ZERO,
        accrual_reversed: Points::ZERO,
        refund_keys: Vec::new(),
        registered: status == PurchaseStatus::Registered,
        messages: crate::checkout::message_templates(&q.priced.perks),
        budget: q.priced.budget.clone(),
        stamps: q.priced.stamps.clone(),
    };
    let reply = Reply {
        holder: who.map(|(c, a)| holder(c, a)),
        lines: q.priced.lines,
        totals: Some(t),
        purchase_status: Some(status),
        messages: [q.notes, out.messages].concat(),
        coupons_issued: out.issued,
        coupons_used: q.used,
        purchase: Some(purchase.key.clone()),
        gifts: out.gifts,
        ..Reply::ok()
    };
    (purchase, reply)
}
