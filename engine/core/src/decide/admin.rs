//! Administration: cashboxes, the catalogue, offers, coupon series and coupons, card
//! ranges and the identifier policy.

use super::{one, reject, Decided, Rejection};
use crate::event::Event;
use crate::ids::*;
use crate::model::*;
use crate::outcome::{Code, Reply};
use crate::state::StateView;

pub(super) fn register_cashbox(view: &impl StateView, cashbox: Cashbox) -> Decided {
    if view.cashbox(cashbox.id).is_some() {
        return Err(reject(
            Code::CashboxExists,
            format!("cashbox {}", cashbox.id.0),
        ));
    }
    if let Some(other) = cashbox
        .login
        .as_deref()
        .and_then(|l| view.cashbox_by_login(l))
    {
        return Err(reject(
            Code::CashboxExists,
            format!("the login is cashbox {}'s", other.0),
        ));
    }
    one(Event::CashboxRegistered { cashbox })
}

/// Registers, replaces or (with `None`) removes a cashbox's signing key.
pub(super) fn set_cashbox_key(
    view: &impl StateView,
    id: CashboxId,
    public_key: Option<[u8; 32]>,
) -> Decided {
    let cashbox = view
        .cashbox(id)
        .ok_or_else(|| reject(Code::CashboxUnknown, format!("cashbox {}", id.0)))?;
    if cashbox.public_key == public_key {
        return Ok((Vec::new(), Reply::ok()));
    }
    one(Event::CashboxKeySet {
        cashbox: id,
        public_key,
    })
}

pub(super) fn set_cashbox_enabled(view: &impl StateView, id: CashboxId, enabled: bool) -> Decided {
    view.cashbox(id)
        .ok_or_else(|| reject(Code::CashboxUnknown, format!("cashbox {}", id.0)))?;
    one(Event::CashboxEnabledChanged {
        cashbox: id,
        enabled,
    })
}

pub(super) fn import_products(products: &[Product]) -> Decided {
    if products.is_empty() {
        return Err(reject(Code::ProductInvalid, "no products"));
    }
    let events = products
        .iter()
        .map(|p| Event::ProductUpserted { product: p.clone() })
        .collect();
    Ok((events, Reply::ok()))
}

pub(super) fn upsert_offer(view: &impl StateView, offer: &Offer) -> Decided {
    check_offer(view, offer)?;
    one(Event::OfferUpserted {
        offer: offer.clone().normalized(),
    })
}

/// An offer must be well-formed: a window, fixed amounts above zero, scopes that name
/// something, a daily window that is not empty, and coupon series that exist.
fn check_offer(view: &impl StateView, offer: &Offer) -> Result<(), Rejection> {
    let bad = |why: &str| Err(reject(Code::OfferInvalid, why));
    if offer.valid_from >= offer.valid_to {
        return bad("valid_from must precede valid_to");
    }
    match &offer.effect {
        OfferEffect::Discount(Rate::PerLine(x) | Rate::Total(x))
        | OfferEffect::Accrual(Rate::PerLine(x) | Rate::Total(x))
            if *x <= 0 || *x > crate::amount::AMOUNT_MINOR_MAX =>
        {
            return bad("a fixed amount must be positive");
        }
        OfferEffect::Multibuy { buy, get, percent }
            if *buy == 0 || *get == 0 || buy + get > 100 || !percent.is_share() =>
        {
            return bad("N + M: buy and get at least 1, 100 units at most, a percent up to 100");
        }
        OfferEffect::Stamps { every, percent }
            if *every < 2 || *every > 100 || !percent.is_share() =>
        {
            return bad("stamps: every 2nd to every 100th unit, a percent up to 100");
        }
        OfferEffect::Bundle { price }
            if price.0 <= 0 || price.0 > crate::amount::AMOUNT_MINOR_MAX =>
        {
            return bad("a bundle's price must be positive");
        }
        OfferEffect::Bundle { .. } if !matches!(&offer.scope, OfferScope::Products(v) if v.len() >= 2) =>
        {
            return bad("a bundle is two products or more");
        }
        _ if offer.limits.is_some() && !offer.effect.is_monetary() => {
            return bad("only discounts and accruals have limits");
        }
        _ if offer.limits.is_some_and(|l| {
            l.total
                .is_some_and(|x| x <= 0 || x > crate::amount::AMOUNT_MINOR_MAX)
                || l.per_customer_day
                    .is_some_and(|x| x <= 0 || x > crate::amount::AMOUNT_MINOR_MAX)
                || l.uses_per_customer == Some(0)
        }) =>
        {
            return bad("limits above zero");
        }
        OfferEffect::Gift { qty, .. } if qty.0 <= 0 || qty.0 > 100_000 => {
            return bad("a gift of 0.001 to 100 units");
        }
        OfferEffect::Gift { product, .. } if view.product(product).is_none() => {
            return bad("the gift is not in the catalogue");
        }
        OfferEffect::Message { template, .. } if template.trim().is_empty() => {
            return bad("a message needs its text");
        }
        OfferEffect::Message { template, .. } if template.len() > 500 => {
            return bad("a message is at most 500 bytes");
        }
        OfferEffect::Message { template, .. }
            if !crate::pricing::unknown_placeholders(template).is_empty() =>
        {
            return Err(reject(
                Code::OfferInvalid,
                format!(
                    "unknown placeholder {} in the message; known: {{{}}}",
                    crate::pricing::unknown_placeholders(template).join(", "),
                    crate::pricing::PLACEHOLDERS.join("}, {")
                ),
            ));
        }
        _ => {}
    }
    match &offer.scope {
        OfferScope::Groups(v) if v.is_empty() => return bad("no groups"),
        OfferScope::Products(v) if v.is_empty() => return bad("no products"),
        _ => {}
    }
    let w = &offer.when;
    if w.weekdays > 0x7f {
        return bad("weekdays are bits 0 (Monday) to 6 (Sunday)");
    }
    if w.hours.is_some_and(|(from, to)| from == to) {
        return bad("the daily window is empty");
    }
    if w.min_total.0 < 0 || w.min_qty.0 < 0 {
        return bad("minimums may not be negative");
    }
    let series = [
        w.coupon,
        match offer.effect {
            OfferEffect::IssueCoupon(s) => Some(s),
            _ => None,
        },
    ];
    if let Some(s) = series
        .into_iter()
        .flatten()
        .find(|s| view.coupon_series(*s).is_none())
    {
        return Err(reject(Code::CouponSeriesUnknown, format!("series {}", s.0)));
    }
    Ok(())
}

pub(super) fn set_coupon_series(series: &CouponSeries) -> Decided {
    one(Event::CouponSeriesSet {
        series: series.clone(),
    })
}

/// Coupons of a series with these codes, to one account (by a card the engine knows) or
/// to anyone.
pub(super) fn issue_coupons(
    view: &impl StateView,
    series: CouponSeriesId,
    codes: &[CouponCode],
    card: Option<&CardNo>,
    expires: chrono::NaiveDateTime,
) -> Decided {
    if view.coupon_series(series).is_none() {
        return Err(reject(
            Code::CouponSeriesUnknown,
            format!("series {}", series.0),
        ));
    }
    // Bound to a customer: a card the engine knows (not one merely in a range).
    let account = match card {
        Some(n) => Some(
            view.card(n)
                .ok_or_else(|| reject(Code::CardUnknown, n.masked()))?
                .account,
        ),
        None => None,
    };
    let mut seen = std::collections::BTreeSet::new();
    for code in codes {
        if view.coupon(code).is_some() || !seen.insert(code) {
            return Err(reject(Code::CouponExists, code.as_str()));
        }
    }
    let events: Vec<Event> = codes
        .iter()
        .map(|code| Event::CouponIssued {
            coupon: Coupon {
                code: code.clone(),
                series,
                account,
                expires,
                used: 0,
                issued_by: None,
                revoked: false,
            },
        })
        .collect();
    Ok((events, Reply::ok()))
}

pub(super) fn set_card_range(range: &CardRange, active: bool) -> Decided {
    one(Event::CardRangeSet {
        range: range.clone(),
        active,
    })
}

pub(super) fn set_identifier_policy(policy: &IdentifierPolicy) -> Decided {
    one(Event::IdentifierPolicySet {
        policy: policy.clone(),
    })
}
