//! Offers as an administrator sets them: the effect (discounts, accruals, coupons,
//! messages, "N + M", bundles, gifts, stamps), the scope, the conditions and the window.
//! Nouns and the checks of their conditions; pricing is `crate::pricing` (`model`
//! re-exports these).

use crate::amount::{Money, Percent, Qty};
use crate::ids::*;
use crate::lots::LotTerms;
use crate::model::{CardStatus, OfferLimits};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// How much an offer grants: a percent of each target line, a fixed amount for each
/// target line, or a fixed amount for the target lines together (allocated across them).
/// Fixed amounts are minor units: money for discounts, points for accrual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rate {
    Percent(Percent),
    PerLine(i64),
    Total(i64),
}

/// Where an offer's message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageTo {
    /// The cashier's screen.
    Cashier,
    /// Printed on the cheque.
    Cheque,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OfferEffect {
    /// A direct discount off the target lines.
    Discount(Rate),
    /// Bonus points credited on confirmation.
    Accrual(Rate),
    /// A coupon of the series, issued to the customer's account with the purchase.
    IssueCoupon(CouponSeriesId),
    /// A message; the template may use `{discount}`, `{paid}`, `{accrued}`, `{balance}`,
    /// `{to_pay}` and `{total}`.
    Message { to: MessageTo, template: String },
    /// "N + M": of every `buy + get` whole units among the target lines, the `get` cheapest
    /// get `percent` off (100: free). "The cheapest of a set free" is `buy` = the set's size
    /// less one and `get` = 1. Goods sold by weight do not take part.
    Multibuy {
        buy: u32,
        get: u32,
        percent: Percent,
    },
    /// A fixed price for a set: one whole unit of each target product (the scope's
    /// products) makes a set, and each set costs `price`; the discount is split over the
    /// set's lines by their value.
    Bundle { price: Money },
    /// A gift: the till adds `qty` of `product` to the cheque at no charge (once per cheque
    /// the offer is open for).
    Gift { product: ProductCode, qty: Qty },
    /// Stamps ("every 6th coffee free"): each whole unit of the target lines a customer
    /// buys is a stamp, and every `every`-th gets `percent` off (100: free).
    Stamps { every: u32, percent: Percent },
}

impl OfferEffect {
    /// Whether the effect changes prices or points (and so takes part in priorities).
    pub fn is_monetary(&self) -> bool {
        matches!(
            self,
            OfferEffect::Discount(_)
                | OfferEffect::Accrual(_)
                | OfferEffect::Multibuy { .. }
                | OfferEffect::Bundle { .. }
                | OfferEffect::Stamps { .. }
        )
    }
}

/// The lines an offer looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OfferScope {
    Cheque,
    /// Lines of products in any of these groups or groups inside them.
    Groups(Vec<GroupCode>),
    /// Lines of these products (codes; a line may name a barcode), kept sorted.
    Products(Vec<ProductCode>),
    /// The lines of goods the customer chose as favourites.
    Favourites,
}

/// Conditions on the cheque besides the validity window; empty lists and zeros mean
/// "any". Times are the cashbox's local time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conditions {
    /// Days of the week, bit 0 = Monday … bit 6 = Sunday; 0 = every day.
    pub weekdays: u8,
    /// A daily time window `[from, to)`; `from > to` spans midnight.
    pub hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
    pub stores: Vec<StoreId>,
    /// Card types (a cheque without a card then never qualifies).
    pub card_types: Vec<String>,
    /// The cheque's amount before discounts must be at least this.
    pub min_total: Money,
    /// The target lines' quantity together must be at least this.
    pub min_qty: Qty,
    /// A valid coupon of this series must be presented with the cheque.
    pub coupon: Option<CouponSeriesId>,
    /// Statuses of the card (a cheque without a card then never qualifies): e.g. accrue
    /// only on activated cards.
    #[serde(default)]
    pub card_statuses: Vec<CardStatus>,
}

/// An offer valid in a window of the cashbox's local time, `[valid_from, valid_to)`.
///
/// Monetary offers (discounts and accruals) are taken in priority order (higher first,
/// then lower id). A stackable offer applies on top of those before it; an exclusive one
/// applies only to target lines no earlier offer of the same kind (discount or accrual)
/// has touched, and then no later offer of that kind touches them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub name: String,
    pub effect: OfferEffect,
    pub scope: OfferScope,
    pub when: Conditions,
    pub priority: u32,
    pub exclusive: bool,
    #[serde(with = "crate::model::local_time")]
    pub valid_from: NaiveDateTime,
    #[serde(with = "crate::model::local_time")]
    pub valid_to: NaiveDateTime,
    pub enabled: bool,
    /// How long what this offer accrues is pending and lives, when not the programme's.
    #[serde(default)]
    pub lots: Option<LotTerms>,
    /// What the offer may give at most (discount money, or points for an accrual).
    #[serde(default)]
    pub limits: Option<OfferLimits>,
}

/// What an offer's conditions are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Occasion<'a> {
    pub at: NaiveDateTime,
    pub store: StoreId,
    pub card_type: Option<&'a str>,
    pub card_status: Option<CardStatus>,
    /// Coupon series presented (and valid) with the cheque.
    pub coupons: &'a [CouponSeriesId],
}

impl Offer {
    /// An enabled offer with no conditions beyond its window, priority 0, stackable.
    pub fn new(
        id: OfferId,
        effect: OfferEffect,
        scope: OfferScope,
        valid_from: NaiveDateTime,
        valid_to: NaiveDateTime,
    ) -> Offer {
        Offer {
            id,
            name: format!("offer {}", id.0),
            effect,
            scope,
            when: Conditions::default(),
            priority: 0,
            exclusive: false,
            valid_from,
            valid_to,
            enabled: true,
            lots: None,
            limits: None,
        }
    }

    /// The offer with its lists sorted and without repeats (products are then found by
    /// binary search).
    pub fn normalized(mut self) -> Offer {
        fn tidy<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        match &mut self.scope {
            OfferScope::Groups(g) => tidy(g),
            OfferScope::Products(p) => tidy(p),
            OfferScope::Cheque | OfferScope::Favourites => {}
        }
        tidy(&mut self.when.stores);
        tidy(&mut self.when.card_types);
        tidy(&mut self.when.card_statuses);
        self
    }

    /// Whether the offer's time, store, card and coupon conditions hold (the line
    /// conditions — scope, quantity, total — are for the pricer).
    pub fn open_for(&self, o: &Occasion<'_>) -> bool {
        use chrono::{Datelike, Timelike};
        let w = &self.when;
        let weekday = o.at.weekday().num_days_from_monday();
        let time = o.at.time().with_nanosecond(0).unwrap_or(o.at.time());
        self.enabled
            && self.valid_from <= o.at
            && o.at < self.valid_to
            && (w.weekdays == 0 || w.weekdays & (1 << weekday) != 0)
            && w.hours.is_none_or(|(from, to)| {
                if from <= to {
                    from <= time && time < to
                } else {
                    time >= from || time < to
                }
            })
            && (w.stores.is_empty() || w.stores.contains(&o.store))
            && (w.card_types.is_empty()
                || o.card_type
                    .is_some_and(|t| w.card_types.iter().any(|c| c == t)))
            && (w.card_statuses.is_empty()
                || o.card_status.is_some_and(|s| w.card_statuses.contains(&s)))
            && w.coupon.is_none_or(|s| o.coupons.contains(&s))
    }

    /// Whether a line of `product` (its code and group) is one of the offer's targets.
    pub fn targets(&self, code: &ProductCode, group: Option<&GroupCode>, favourite: bool) -> bool {
        match &self.scope {
            OfferScope::Cheque => true,
            OfferScope::Groups(gs) => group.is_some_and(|g| gs.iter().any(|o| g.within(o))),
            OfferScope::Products(ps) => ps.binary_search(code).is_ok(),
            OfferScope::Favourites => favourite,
        }
    }
}
