//! What a programme's marketers set beyond offers, and what it keeps of each customer for
//! it: event bonuses, status levels, offers' limits. Nouns only, like `model` (which
//! re-exports them).

use crate::amount::{Money, Points};
use crate::lots::LotTerms;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The programme's status levels, set by an administrator: a customer's level follows what
/// they spent over a period, up at once and down only when the period is reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tiers {
    /// From the lowest to the highest, each with the spend it needs in the period.
    pub levels: Vec<TierLevel>,
    /// The period's length in months (1 to 12).
    pub months: u8,
    /// The last `months` months up to now; otherwise calendar periods from January (then
    /// `months` divides 12: a month, a quarter, a half, a year).
    pub rolling: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierLevel {
    pub name: String,
    pub spend: Money,
}

/// Why an account's level changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierCause {
    /// Its spend reached a higher level (at once).
    Spend,
    /// The period's review (down, or up to the floor or the spend).
    Review,
    /// An administrator's floor.
    Floor,
}

/// A customer's event the programme gives a bonus for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BonusKind {
    /// The customer registered at a till or with an administrator (`RegisterCustomer`).
    Welcome,
    /// The account's first purchase became final: confirmed online (also late, or by an
    /// administrator) or uploaded offline.
    FirstPurchase,
    /// The customer's birthday (date of birth given at registration): once a year, by the
    /// sweep, in a window around the day.
    Birthday,
}

impl BonusKind {
    pub const ALL: [BonusKind; 3] = [
        BonusKind::Welcome,
        BonusKind::FirstPurchase,
        BonusKind::Birthday,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BonusKind::Welcome => "welcome",
            BonusKind::FirstPurchase => "first_purchase",
            BonusKind::Birthday => "birthday",
        }
    }

    /// Granted at most once per account (a birthday's once a year).
    pub fn once(self) -> bool {
        self != BonusKind::Birthday
    }
}

/// An event bonus as an administrator set it: points credited as a lot of their own, with
/// their own pending period and lifetime, once per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BonusRule {
    pub kind: BonusKind,
    pub points: Points,
    pub lots: LotTerms,
    /// Off: nothing more is granted (what was granted stays).
    pub enabled: bool,
    /// Birthday: the window the bonus is granted in, days before and after the day (the
    /// other kinds have none).
    #[serde(default)]
    pub days_before: u16,
    #[serde(default)]
    pub days_after: u16,
}

/// An offer's budget and limits (see `crate::budget`). Amounts are in minor units of what
/// the offer gives: discount money, or points for an accrual.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OfferLimits {
    /// What it may give in all.
    pub total: Option<i64>,
    /// What it may give one customer in a day (the cheques' local day).
    pub per_customer_day: Option<i64>,
    /// The cheques of one customer it may apply to.
    pub uses_per_customer: Option<u32>,
}

/// What a limited offer gave one customer: on how many cheques, and on the last day it did,
/// how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferUse {
    pub uses: u32,
    pub day: NaiveDate,
    pub day_given: i64,
}
