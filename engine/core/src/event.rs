//! Events: immutable, versioned facts in the log. Past tense. Each carries what `apply`
//! needs, so that applying never decides anything.

use crate::amount::{Money, Points};
use crate::command::RefundLine;
use crate::ids::*;
use crate::model::*;
use serde::{Deserialize, Serialize};

/// Version of the event encoding. Bump when a variant's fields change; new variants are
/// appended at the end so older records keep decoding.
pub const EVENT_SCHEMA_VERSION: u16 = 6;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    CashboxRegistered {
        cashbox: Cashbox,
    },
    CashboxEnabledChanged {
        cashbox: CashboxId,
        enabled: bool,
    },
    ProductUpserted {
        product: Product,
    },
    OfferUpserted {
        offer: Offer,
    },
    AccountOpened {
        account: AccountId,
        name: String,
        phone: String,
    },
    CardIssued {
        card: Card,
    },
    CardActivated {
        card: CardNo,
        account: AccountId,
    },
    CardBlocked {
        card: CardNo,
        account: AccountId,
    },
    BonusHeld {
        purchase: Purchase,
    },
    PurchaseRegistered {
        purchase: Purchase,
    },
    /// An offline cheque, imported as confirmed with its accrual credited (as `lots`,
    /// dated by the cheque's time).
    PurchaseImported {
        purchase: Purchase,
        #[serde(default)]
        lots: Vec<Lot>,
    },
    /// The accrual is credited as `lots`; a late confirm takes its points again from the
    /// lots in `taken`.
    PurchaseConfirmed {
        purchase: PurchaseKey,
        account: Option<AccountId>,
        points_debited: Points,
        points_credited: Points,
        #[serde(default)]
        lots: Vec<Lot>,
        #[serde(default)]
        taken: Vec<Take>,
    },
    PurchaseCancelled {
        purchase: PurchaseKey,
        account: Option<AccountId>,
        points_released: Points,
    },
    HoldExpired {
        purchase: PurchaseKey,
        account: Option<AccountId>,
        points_released: Points,
    },
    RefundRecorded {
        purchase: PurchaseKey,
        refund: ChequeId,
        account: Option<AccountId>,
        lines: Vec<RefundLine>,
        money_returned: Money,
        points_returned: Points,
        accrual_reversed: Points,
        /// Accrued points that could not be taken back because they were already spent;
        /// the refund policy writes them off rather than push the balance below zero.
        accrual_unrecovered: Points,
        /// The refunding cashbox and its store (absent from refunds recorded before the
        /// record format 5, all made at the selling cashbox).
        #[serde(default)]
        refunded_at: Option<CashboxId>,
        #[serde(default)]
        refunded_in: Option<StoreId>,
        /// The lots the returned points go back to, and the lots (the purchase's own) the
        /// reversed accrual came from.
        #[serde(default)]
        returned: Vec<Take>,
        #[serde(default)]
        returned_lots: Vec<Lot>,
        #[serde(default)]
        reversed_from: Vec<Take>,
        /// The money that goes back onto the purchase's gift certificates, by certificate.
        #[serde(default)]
        certificates: Vec<(CertificateCode, Money)>,
    },
    /// A cashbox's request-signing key was registered, replaced or removed.
    CashboxKeySet {
        cashbox: CashboxId,
        public_key: Option<[u8; 32]>,
    },
    /// A customer registered at the till; the card is activated by a following event.
    CustomerRegistered {
        account: AccountId,
        card: CardNo,
        name: String,
        phone: String,
        consent: bool,
        #[serde(default)]
        birth_date: Option<chrono::NaiveDate>,
    },
    /// `new` took over `old`'s account; `old` is Replaced.
    CardReplaced {
        account: AccountId,
        old: CardNo,
        new: CardNo,
        status: CardStatus,
        card_type: String,
        /// The old card's PIN, which the new card keeps, and the number its hash was made
        /// with (absent before record format 5).
        #[serde(default)]
        pin_hash: Option<[u8; 32]>,
        #[serde(default)]
        pin_of: Option<CardNo>,
    },
    AccountBlockedChanged {
        account: AccountId,
        blocked: bool,
    },
    /// The PIN was set or cleared: only its keyed hash is recorded (see `Pin::hash`).
    CardPinSet {
        card: CardNo,
        account: AccountId,
        pin_hash: Option<[u8; 32]>,
    },
    FavouritesChosen {
        account: AccountId,
        products: Vec<ProductCode>,
    },
    /// A card's QR secret was (re)issued.
    CardQrSecretSet {
        card: CardNo,
        account: AccountId,
        secret: [u8; 32],
    },
    /// A purchase used a QR code of the card; no other purchase may use it again.
    QrCodeUsed {
        card: CardNo,
        account: AccountId,
        window: i64,
        purchase: PurchaseKey,
    },
    CardRangeSet {
        range: CardRange,
        active: bool,
    },
    IdentifierPolicySet {
        policy: IdentifierPolicy,
    },
    /// A manual correction by an administrator; the log record names who made it.
    PointsAdjusted {
        account: AccountId,
        card: CardNo,
        delta: Points,
        reason: String,
        /// A credit's lot, or the lots a debit took.
        #[serde(default)]
        lots: Vec<Lot>,
        #[serde(default)]
        taken: Vec<Take>,
    },
    CouponSeriesSet {
        series: CouponSeries,
    },
    /// A coupon was issued: by an administrator, or by an offer with a purchase
    /// (`coupon.issued_by`).
    CouponIssued {
        coupon: Coupon,
    },
    /// An e-commerce order was created; its points are held on the account.
    OrderCreated {
        order: Order,
    },
    /// An open order was cancelled; its points are released.
    OrderCancelled {
        order: OrderNo,
        account: AccountId,
        points_released: Points,
    },
    /// A till bought out an open order; the purchase registered next carries its hold.
    OrderPickedUp {
        order: OrderNo,
        account: AccountId,
        purchase: PurchaseKey,
    },
    /// An open order outlived its lifetime; its points are released.
    OrderExpired {
        order: OrderNo,
        account: AccountId,
        points_released: Points,
    },
    /// Support resolved a stuck purchase by hand; the confirmation or cancellation follows
    /// as its own event. Changes nothing itself: it records who did it (the record's actor)
    /// and why.
    PurchaseResolved {
        purchase: PurchaseKey,
        account: Option<AccountId>,
        confirmed: bool,
        reason: String,
    },
    /// The customer came to owe points (see `DebtCause`); nothing else changes.
    DebtIncurred {
        account: AccountId,
        purchase: PurchaseKey,
        points: Points,
        cause: DebtCause,
    },
    /// Points that became spendable paid back debt instead: off the balance and the debt.
    DebtRecovered {
        account: AccountId,
        points: Points,
        #[serde(default)]
        taken: Vec<Take>,
    },
    /// Goods came back without the original receipt: the record (status
    /// `ReturnedWithoutReceipt`) says the money returned (`refunded_money`), the accrual
    /// taken back (`accrual`) and how much of it came off the balance (`accrual_reversed`;
    /// the rest is owed, by a `DebtIncurred` that follows).
    ReturnedWithoutReceipt {
        purchase: Purchase,
    },
    /// A wrong PIN: the card's count of failures after it, and — when it was one too many —
    /// the lock it set (the count starts again then).
    PinFailed {
        card: CardNo,
        account: AccountId,
        failures: u32,
        locked_until: Option<UnixMillis>,
        locks: u32,
    },
    /// The right PIN after failures or locks: they are forgotten.
    PinAccepted {
        card: CardNo,
        account: AccountId,
    },
    /// A pending lot became spendable (the sweep, at its `activates_at`).
    PointsActivated {
        account: AccountId,
        lot: u32,
        points: Points,
    },
    /// What was left of a lot burnt at its `expires_at` (the sweep).
    PointsExpired {
        account: AccountId,
        lot: u32,
        points: Points,
    },
    /// The sweep dated the points carried over from before lots: the programme's lifetime
    /// from then.
    LotDated {
        account: AccountId,
        lot: u32,
        expires_at: Option<UnixMillis>,
    },
    /// The sweep moved on from a customer's birthday: `reached` is the birthday whose
    /// window is open now (its bonus follows, when the rule is on), and `next` the birthday
    /// it looks at from `from` (server time).
    BirthdayScheduled {
        account: AccountId,
        reached: Option<chrono::NaiveDate>,
        next: chrono::NaiveDate,
        from: UnixMillis,
    },
    /// An administrator set the programme's status levels.
    TiersSet {
        tiers: Tiers,
    },
    /// An administrator set (or with `None` cleared) an account's least level.
    TierFloorSet {
        account: AccountId,
        floor: Option<String>,
    },
    /// An account's level changed (`to` `None`: it has none), and when it is next reviewed.
    TierChanged {
        account: AccountId,
        from: Option<String>,
        to: Option<String>,
        cause: TierCause,
        review: Option<UnixMillis>,
    },
    /// The period's review kept the account's level; the next review.
    TierKept {
        account: AccountId,
        review: Option<UnixMillis>,
    },
    /// An administrator set an event bonus.
    BonusRuleSet {
        rule: BonusRule,
    },
    /// The programme credited a bonus for a customer's event: a lot of its own (the card is
    /// the one registered, or the purchase's).
    BonusGranted {
        account: AccountId,
        card: Option<CardNo>,
        kind: BonusKind,
        points: Points,
        lot: Lot,
    },
    /// A gift certificate was issued by an administrator or sold at a till.
    CertificateIssued {
        certificate: Certificate,
    },
}

/// Why a customer owes points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DebtCause {
    /// A refund's accrual to take back had already been spent (or is held).
    RefundedAccrualSpent,
    /// A late confirm found fewer points than the purchase paid with.
    LateConfirmShortfall,
}

impl DebtCause {
    pub fn name(self) -> &'static str {
        match self {
            DebtCause::RefundedAccrualSpent => "refunded accrual already spent",
            DebtCause::LateConfirmShortfall => "late confirm: points no longer there",
        }
    }
}

impl Event {
    /// The stable name of the event type (for logs and the analytics stream).
    pub fn name(&self) -> &'static str {
        match self {
            Event::CashboxRegistered { .. } => "CashboxRegistered",
            Event::CashboxEnabledChanged { .. } => "CashboxEnabledChanged",
            Event::ProductUpserted { .. } => "ProductUpserted",
            Event::OfferUpserted { .. } => "OfferUpserted",
            Event::AccountOpened { .. } => "AccountOpened",
            Event::CardIssued { .. } => "CardIssued",
            Event::CardActivated { .. } => "CardActivated",
            Event::CardBlocked { .. } => "CardBlocked",
            Event::BonusHeld { .. } => "BonusHeld",
            Event::PurchaseRegistered { .. } => "PurchaseRegistered",
            Event::PurchaseImported { .. } => "PurchaseImported",
            Event::PurchaseConfirmed { .. } => "PurchaseConfirmed",
            Event::PurchaseCancelled { .. } => "PurchaseCancelled",
            Event::HoldExpired { .. } => "HoldExpired",
            Event::RefundRecorded { .. } => "RefundRecorded",
            Event::CashboxKeySet { .. } => "CashboxKeySet",
            Event::PointsAdjusted { .. } => "PointsAdjusted",
            Event::CustomerRegistered { .. } => "CustomerRegistered",
            Event::CardReplaced { .. } => "CardReplaced",
            Event::AccountBlockedChanged { .. } => "AccountBlockedChanged",
            Event::CardRangeSet { .. } => "CardRangeSet",
            Event::CardPinSet { .. } => "CardPinSet",
            Event::FavouritesChosen { .. } => "FavouritesChosen",
            Event::CardQrSecretSet { .. } => "CardQrSecretSet",
            Event::QrCodeUsed { .. } => "QrCodeUsed",
            Event::IdentifierPolicySet { .. } => "IdentifierPolicySet",
            Event::CouponSeriesSet { .. } => "CouponSeriesSet",
            Event::CouponIssued { .. } => "CouponIssued",
            Event::OrderCreated { .. } => "OrderCreated",
            Event::OrderCancelled { .. } => "OrderCancelled",
            Event::PurchaseResolved { .. } => "PurchaseResolved",
            Event::OrderPickedUp { .. } => "OrderPickedUp",
            Event::OrderExpired { .. } => "OrderExpired",
            Event::DebtIncurred { .. } => "DebtIncurred",
            Event::DebtRecovered { .. } => "DebtRecovered",
            Event::ReturnedWithoutReceipt { .. } => "ReturnedWithoutReceipt",
            Event::PinFailed { .. } => "PinFailed",
            Event::PinAccepted { .. } => "PinAccepted",
            Event::PointsActivated { .. } => "PointsActivated",
            Event::PointsExpired { .. } => "PointsExpired",
            Event::LotDated { .. } => "LotDated",
            Event::BonusRuleSet { .. } => "BonusRuleSet",
            Event::BirthdayScheduled { .. } => "BirthdayScheduled",
            Event::TiersSet { .. } => "TiersSet",
            Event::TierFloorSet { .. } => "TierFloorSet",
            Event::TierChanged { .. } => "TierChanged",
            Event::TierKept { .. } => "TierKept",
            Event::BonusGranted { .. } => "BonusGranted",
            Event::CertificateIssued { .. } => "CertificateIssued",
        }
    }

    /// The account this event touches, if any (the future shard key).
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Event::AccountOpened { account, .. } => Some(*account),
            Event::CardIssued { card } => Some(card.account),
            Event::CardActivated { account, .. }
            | Event::CardBlocked { account, .. }
            | Event::PointsAdjusted { account, .. }
            | Event::CustomerRegistered { account, .. }
            | Event::CardReplaced { account, .. }
            | Event::AccountBlockedChanged { account, .. }
            | Event::CardPinSet { account, .. }
            | Event::FavouritesChosen { account, .. }
            | Event::CardQrSecretSet { account, .. }
            | Event::QrCodeUsed { account, .. }
            | Event::OrderCancelled { account, .. }
            | Event::OrderExpired { account, .. }
            | Event::OrderPickedUp { account, .. }
            | Event::DebtIncurred { account, .. }
            | Event::DebtRecovered { account, .. }
            | Event::PinFailed { account, .. }
            | Event::PinAccepted { account, .. }
            | Event::PointsActivated { account, .. }
            | Event::PointsExpired { account, .. }
            | Event::LotDated { account, .. }
            | Event::BonusGranted { account, .. }
            | Event::BirthdayScheduled { account, .. }
            | Event::TierFloorSet { account, .. }
            | Event::TierChanged { account, .. }
            | Event::TierKept { account, .. } => Some(*account),
            Event::CouponIssued { coupon } => coupon.account,
            Event::OrderCreated { order } => Some(order.account),
            Event::BonusHeld { purchase }
            | Event::PurchaseRegistered { purchase }
            | Event::PurchaseImported { purchase, .. }
            | Event::ReturnedWithoutReceipt { purchase } => purchase.account,
            Event::PurchaseConfirmed { account, .. }
            | Event::PurchaseCancelled { account, .. }
            | Event::HoldExpired { account, .. }
            | Event::PurchaseResolved { account, .. }
            | Event::RefundRecorded { account, .. } => *account,
            _ => None,
        }
    }

    /// The change this event makes to the sum of all points on accounts, pending ones
    /// included: points enter only by accrual, event bonuses, adjustments and refunds of
    /// paid points, and leave only by redemption, reversal, recovered debt and expiry.
    pub fn balance_delta(&self) -> i64 {
        match self {
            Event::PurchaseConfirmed {
                points_debited,
                points_credited,
                ..
            } => points_credited.0 - points_debited.0,
            Event::PurchaseImported { purchase, .. } => purchase.accrual.0,
            Event::PointsExpired { points, .. } => -points.0,
            Event::RefundRecorded {
                points_returned,
                accrual_reversed,
                ..
            } => points_returned.0 - accrual_reversed.0,
            Event::PointsAdjusted { delta, .. } => delta.0,
            Event::BonusGranted { points, .. } => points.0,
            Event::DebtRecovered { points, .. } => -points.0,
            Event::ReturnedWithoutReceipt { purchase } => -purchase.accrual_reversed.0,
            _ => 0,
        }
    }
}

/// An event as stored in the log: with its sequence, the operation that caused it and
/// both clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub version: u16,
    pub seq: u64,
    pub op: OpId,
    pub actor: crate::command::Actor,
    pub at: UnixMillis,
    pub event: Event,
}
