//! Offer budgets and limits. An offer may limit what it gives — in all (`total`), to one
//! customer in a day (`per_customer_day`, by the cheques' local day) and in cheques per
//! customer (`uses_per_customer`). Pricing gives a limited offer at most its **room**
//! (`room`), split over its lines in proportion to what it would give; what it gave is
//! recorded on the purchase (`Purchase::budget`) and counted against the limits from the
//! moment the purchase is recorded (held, registered or uploaded offline), so the one
//! writer sees every earlier cheque's share: two tills racing for the last of a budget get
//! it in the writer's order, never more than it. A purchase cancelled, or a hold that
//! expired unregistered, gives its share back; a registered purchase keeps it (it may
//! still be confirmed late, and its discount was given at the till); a refund gives
//! nothing back. An offer with a per-customer limit gives nothing to a cheque without a
//! customer.
//!
//! Stamps follow the same life: a stamps offer's units are counted for the customer when
//! the purchase is recorded (`Purchase::stamps`) and taken back with it.

use crate::ids::{AccountId, OfferId};
use crate::model::{Offer, OfferUse, Purchase};
use crate::state::{StateStore, StateView};
use chrono::NaiveDate;

/// What each limited offer may still give this cheque: for the customer `account` (if
/// any), on the cheque's local `day`, continuing the purchase `existing` (a hold being
/// registered: its own share counts as room again). Offers without limits are not listed.
pub fn room(
    view: &impl StateView,
    offers: &[Offer],
    account: Option<AccountId>,
    day: NaiveDate,
    existing: Option<&Purchase>,
) -> Vec<(OfferId, i64)> {
    offers
        .iter()
        .filter_map(|o| Some((o.id, o.limits?)))
        .map(|(id, l)| {
            let own: i64 = existing
                .iter()
                .flat_map(|p| &p.budget)
                .filter(|(o, _)| *o == id)
                .map(|(_, x)| x)
                .sum();
            let mut room = i64::MAX;
            if let Some(total) = l.total {
                room = room.min(total - view.offer_given(id) + own);
            }
            if l.per_customer_day.is_some() || l.uses_per_customer.is_some() {
                match account {
                    None => room = 0,
                    Some(a) => {
                        let used = view.offer_use(id, a);
                        if let Some(max) = l.uses_per_customer {
                            let uses = used.map_or(0, |u| u.uses);
                            let again = u32::from(own > 0);
                            if uses.saturating_sub(again) >= max {
                                room = 0;
                            }
                        }
                        if let Some(per_day) = l.per_customer_day {
                            let today = used.filter(|u| u.day == day).map_or(0, |u| u.day_given);
                            room = room.min(per_day - today + own);
                        }
                    }
                }
            }
            (id, room.max(0))
        })
        .collect()
}

/// The stamps the customer `account` has with each stamps offer, less those of the
/// purchase `existing` this cheque continues (they are counted again with it).
pub fn stamps(
    view: &impl StateView,
    offers: &[Offer],
    account: Option<AccountId>,
    existing: Option<&Purchase>,
) -> Vec<(OfferId, u32)> {
    let Some(account) = account else {
        return Vec::new();
    };
    offers
        .iter()
        .filter(|o| matches!(o.effect, crate::model::OfferEffect::Stamps { .. }))
        .map(|o| {
            let own: u32 = existing
                .iter()
                .flat_map(|p| &p.stamps)
                .filter(|(s, _)| *s == o.id)
                .map(|(_, n)| n)
                .sum();
            (o.id, view.stamps(o.id, account).saturating_sub(own))
        })
        .collect()
}

/// Counts (`sign` 1) or gives back (`sign` −1) what a purchase's limited offers gave and
/// the stamps it collected.
pub fn count(state: &mut impl StateStore, p: &Purchase, sign: i64) {
    if let Some(account) = p.account {
        for &(offer, n) in &p.stamps {
            let had = state.stamps(offer, account);
            let now = if sign > 0 {
                had.saturating_add(n)
            } else {
                had.saturating_sub(n)
            };
            state.put_stamps(offer, account, now);
        }
    }
    let day = p.local_time.date();
    for &(offer, x) in &p.budget {
        let given = state.offer_given(offer) + sign * x;
        state.put_offer_given(offer, given);
        let Some(account) = p.account else { continue };
        let used = match state.offer_use(offer, account) {
            Some(u) if u.day == day => OfferUse {
                uses: u.uses.saturating_add_signed(sign as i32),
                day_given: u.day_given + sign * x,
                ..u
            },
            Some(u) if sign > 0 => OfferUse {
                uses: u.uses.saturating_add(1),
                day,
                day_given: x,
            },
            Some(u) => OfferUse {
                uses: u.uses.saturating_sub(1),
                ..u
            },
            None => OfferUse {
                uses: u32::from(sign > 0),
                day,
                day_given: x.max(0) * i64::from(sign > 0),
            },
        };
        state.put_offer_use(offer, account, used);
    }
}
