//! Pricing a cheque: discounts, the redeemable cap per line, allocation of points paid, and
//! accrual. Pure arithmetic over the offers valid at the cashbox's local time.
//!
//! Rules: per line, the single best discount offer and the single best accrual offer
//! apply (offers of one effect do not stack; the higher percent wins, ties to the lower
//! offer id). Promotional lines get no discount. A line is never discounted below its
//! minimal price × quantity, and never paid with points below it either. Points paid are
//! allocated across lines in proportion to their caps (largest remainder); accrual is
//! computed on what is left to pay in money.

use crate::amount::{allocate, extend, percent_of, Money, Percent, Points};
use crate::command::{Cheque, Totals};
use crate::model::*;
use crate::state::StateView;

/// A line priced before points are allocated, with the accrual rate that applies to it.
struct Draft {
    line: PricedLine,
    accrual_rate: Option<Percent>,
}

fn best<'a>(offers: impl Iterator<Item = &'a Offer>) -> Option<&'a Offer> {
    offers.fold(None, |acc: Option<&Offer>, o| match acc {
        Some(a) if a.percent > o.percent || (a.percent == o.percent && a.id < o.id) => Some(a),
        _ => Some(o),
    })
}

/// What pricing may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grants<'a> {
    /// Direct discounts (not for offline cheques, which were paid in full).
    pub discounts: bool,
    /// Accrual (not for cheques without a card).
    pub accrual: bool,
    /// The customer's favourite goods (for offers scoped to them).
    pub favourites: &'a [crate::ids::ProductCode],
}

/// Prices every line of the cheque. `paid` must not exceed the sum of the caps (callers
/// check that first).
pub fn price(
    view: &impl StateView,
    program: &Program,
    cheque: &Cheque,
    paid: Points,
    grants: Grants<'_>,
) -> Vec<PricedLine> {
    let offers = view.offers();
    let drafts: Vec<Draft> = cheque
        .lines
        .iter()
        .map(|line| {
            let product = view.product(&line.product);
            let group = product.as_ref().and_then(|p| p.group.as_ref());
            let promotional = product.as_ref().is_some_and(|p| p.promotional);
            let floor = product
                .as_ref()
                .map_or(0, |p| extend(p.min_price.0, line.qty));
            let amount = extend(line.price.0, line.qty);
            let code = product.as_ref().map_or(&line.product, |p| &p.code);
            let favourite = grants.favourites.contains(code);
            let valid = |effect: OfferEffect| {
                offers.iter().filter(move |o| {
                    o.effect == effect && o.applies(cheque.local_time, group, favourite)
                })
            };
            let mut applied = Vec::new();
            let mut discount = 0;
            if grants.discounts && !promotional {
                if let Some(o) = best(valid(OfferEffect::Discount)) {
                    let room = (amount - floor).max(0);
                    discount = percent_of(amount, o.percent).min(room);
                    if discount > 0 {
                        applied.push(o.id);
                    }
                }
            }
            let accrual_offer = if grants.accrual {
                best(valid(OfferEffect::Accrual))
            } else {
                None
            };
            if let Some(o) = accrual_offer {
                applied.push(o.id);
            }
            let net = amount - discount;
            let cap = percent_of(net, program.redeem_share).min((net - floor).max(0));
            Draft {
                line: PricedLine {
                    line: line.clone(),
                    amount: Money(amount),
                    discount: Money(discount),
                    redeem_cap: Points(cap),
                    paid: Points::ZERO,
                    accrual: Points::ZERO,
                    offers: applied,
                    refunded_qty: crate::amount::Qty(0),
                },
                accrual_rate: accrual_offer.map(|o| o.percent),
            }
        })
        .collect();
    let caps: Vec<i64> = drafts.iter().map(|d| d.line.redeem_cap.0).collect();
    let parts = allocate(paid.0, &caps);
    drafts
        .into_iter()
        .zip(parts)
        .map(|(mut d, part)| {
            d.line.paid = Points(part);
            let money_due = d.line.net().0 - part;
            d.line.accrual = Points(d.accrual_rate.map_or(0, |r| percent_of(money_due, r)));
            d.line
        })
        .collect()
}

/// Cheque totals; `redeem_max` is the cap limited by what the customer may spend.
pub fn totals(lines: &[PricedLine], spendable: Option<Points>) -> Totals {
    let mut t = Totals::default();
    let mut caps = Points::ZERO;
    for l in lines {
        t.amount = t.amount.plus(l.amount);
        t.discount = t.discount.plus(l.discount);
        t.paid = t.paid.plus(l.paid);
        t.accrual = t.accrual.plus(l.accrual);
        caps = caps.plus(l.redeem_cap);
    }
    t.redeem_max = spendable.map_or(Points::ZERO, |s| caps.min(s.max(Points::ZERO)));
    t
}

/// The sum of the lines' redeemable caps.
pub fn cap_sum(lines: &[PricedLine]) -> Points {
    lines.iter().fold(Points::ZERO, |s, l| s.plus(l.redeem_cap))
}
