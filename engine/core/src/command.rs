//! Commands: what a cashbox or an administrator asks for. Verbs. Every field is already
//! validated (ids, amounts) by construction at the edge.

use crate::amount::{Money, Points};
use crate::ids::*;
use crate::model::*;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An identifier as presented at the till, parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Presented {
    /// A card number read from a barcode or a magnetic stripe.
    Card {
        number: CardNo,
        via: IdKind,
    },
    Phone(Phone),
    /// A dynamic QR code: the card number and the six-digit code.
    Qr {
        number: CardNo,
        code: u32,
    },
    /// A value whose kind the engine works out: magnetic stripe data, a known card number,
    /// a registered phone, or else a card number.
    Auto(String),
}

/// A cheque as the till sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cheque {
    pub cheque: ChequeId,
    /// The card's barcode: the common case, the same as `Presented::Card` via barcode.
    pub card: Option<CardNo>,
    /// Further identifiers; a card (any kind) beats a phone.
    pub presented: Vec<Presented>,
    /// The PIN the customer typed, if any (needed to redeem with a card that has one).
    pub pin: Option<Pin>,
    /// How the money part was paid (mixed tender, e.g. at a kiosk): when given, the parts
    /// must add up to what is left to pay after discounts and points.
    pub tenders: Vec<Tender>,
    /// The cashbox's local time; offers are evaluated in it (no time zone is sent).
    #[serde(with = "crate::model::local_time")]
    pub local_time: NaiveDateTime,
    pub lines: Vec<Line>,
    pub cashier: Option<CashierId>,
    /// Coupons as scanned (barcode text, magnetic stripe data or QR payload); one that is
    /// unknown or not valid never fails the cheque, the cashier gets a note instead.
    pub coupons: Vec<String>,
    /// An e-commerce order this cheque buys out.
    pub order: Option<OrderNo>,
}

/// Commands that change state. Each is recorded under its operation id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Put a hold on points to pay part of the cheque.
    PayWithBonus { cheque: Cheque, points: Points },
    /// Record the cheque with its discounts and a pending accrual.
    RegisterPurchase { cheque: Cheque },
    /// Post the hold and credit the accrual.
    Confirm { cheque: ChequeId },
    /// Release the hold and drop the accrual.
    Cancel { cheque: ChequeId },
    /// Return lines (index into the purchase's lines, quantity) of a confirmed purchase.
    Refund {
        refund: ChequeId,
        purchase: ChequeId,
        lines: Vec<RefundLine>,
        /// The cashbox that sold the purchase, when another than the refunding one: any POS
        /// refunds any purchase of the programme.
        #[serde(default)]
        sold_at: Option<CashboxId>,
    },
    /// A cheque rung up while the till was offline, uploaded later: accrual only, at the
    /// offers valid at its original local time. Points paid or discounts the till claims to
    /// have granted offline are refused.
    ImportOfflinePurchase {
        cheque: Cheque,
        points_paid: Points,
        local_discount: Money,
    },
    /// Admin: register a cashbox.
    RegisterCashbox {
        id: CashboxId,
        store: StoreId,
        kind: CashboxKind,
        secret_sha256: [u8; 32],
        /// Ed25519 public key the cashbox signs its requests with, if it signs.
        public_key: Option<[u8; 32]>,
        /// Its Loymax login, unique among cashboxes (validated at the edge).
        #[serde(default)]
        login: Option<String>,
    },
    /// Admin: register, replace or (with `None`) remove a cashbox's signing key.
    SetCashboxKey {
        id: CashboxId,
        public_key: Option<[u8; 32]>,
    },
    /// Admin: enable or disable a cashbox.
    SetCashboxEnabled { id: CashboxId, enabled: bool },
    /// Admin: create or update products.
    ImportProducts { products: Vec<Product> },
    /// Admin: create or update an offer.
    UpsertOffer { offer: Offer },
    /// Issue a card, opening a new account unless one is given. A cashbox may issue a card
    /// it sells at the till: status Issued, new account.
    IssueCard {
        number: CardNo,
        card_type: String,
        status: CardStatus,
        account: Option<AccountId>,
        holder_name: String,
        holder_phone: String,
    },
    /// Admin: activate a card.
    ActivateCard { number: CardNo },
    /// Admin: block a card.
    BlockCard { number: CardNo },
    /// At the till (or by an administrator): register the customer of an issued or
    /// prepared card; the card becomes Activated.
    RegisterCustomer {
        card: CardNo,
        name: String,
        phone: String,
        consent: bool,
        /// For the birthday bonus; validated at the edge (not in the future).
        #[serde(default)]
        birth_date: Option<chrono::NaiveDate>,
    },
    /// At the till (or by an administrator): a new card takes over the old card's account —
    /// balance, holds, history and profile; the old card becomes Replaced.
    ReplaceCard { old: CardNo, new: CardNo },
    /// Admin: create or replace a card range (identified by prefix and length), or with
    /// `active = false` remove it.
    SetCardRange { range: CardRange, active: bool },
    /// Admin: which identifier kinds may redeem.
    SetIdentifierPolicy { policy: IdentifierPolicy },
    /// At the till (or by an administrator): the customer's favourite goods (replacing the
    /// earlier choice; empty clears it).
    ChooseFavourites {
        card: CardNo,
        products: Vec<ProductCode>,
    },
    /// Admin: give a card a (new) secret for dynamic QR codes; the secret is generated at
    /// the edge and shown once.
    IssueQrSecret { card: CardNo, secret: [u8; 32] },
    /// At the till (or by an administrator): set or (with `None`) clear a card's PIN.
    SetCardPin {
        card: CardNo,
        pin: Option<Pin>,
        /// A till changing or clearing a PIN must give the current one (an administrator
        /// need not); a wrong one counts as a wrong PIN.
        #[serde(default)]
        old_pin: Option<Pin>,
    },
    /// Admin: block or unblock the account behind a card (all its cards with it).
    SetAccountBlocked { card: CardNo, blocked: bool },
    /// Admin: a manual correction of a card's account balance (customer service), with
    /// the reason recorded. A debit may not take points that are held or do not exist.
    AdjustPoints {
        card: CardNo,
        delta: Points,
        reason: String,
    },
    /// System: expire unconfirmed purchases whose lifetime has passed.
    ExpireHolds,
    /// Admin: create or update a coupon series.
    SetCouponSeries { series: CouponSeries },
    /// Admin: issue coupons of a series with these codes, to one account (by its card) or
    /// to anyone, valid until `expires` (local time).
    IssueCoupons {
        series: CouponSeriesId,
        codes: Vec<CouponCode>,
        card: Option<CardNo>,
        #[serde(with = "crate::model::local_time")]
        expires: NaiveDateTime,
    },
    /// Admin (the online shop): an order to be picked up at a store, with the discounts
    /// promised and points reserved (held) for it.
    CreateOrder {
        number: OrderNo,
        card: CardNo,
        lines: Vec<OrderLine>,
        points: Points,
    },
    /// Admin: cancel an open order, releasing its points.
    CancelOrder { number: OrderNo },
    /// Admin (support): confirm or cancel a pending purchase of any cashbox, with the reason.
    ResolvePurchase {
        purchase: PurchaseKey,
        confirm: bool,
        reason: String,
    },
    /// A refund without the original receipt (when the programme allows it): the goods as
    /// the cashier enters them, on a cheque numbered as the refund, with the customer's
    /// card; the accrual such goods earn today is taken back, never more than the customer
    /// has earned.
    RefundWithoutReceipt { cheque: Cheque },
    /// Admin: create, change or switch off the bonus for a kind of customer event.
    SetBonusRule { rule: BonusRule },
    /// Admin: the programme's status levels (replacing the earlier ones).
    SetTiers { tiers: Tiers },
    /// Admin: the least level a card's account has (`None`: no floor).
    SetTierFloor { card: CardNo, floor: Option<String> },
    /// Customer service: a gift certificate with this code and amount, valid for
    /// `valid_days` from now (sold at a till, or issued by an administrator).
    IssueCertificate {
        code: CertificateCode,
        amount: Money,
        valid_days: u32,
    },
}

impl Command {
    /// The command's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::PayWithBonus { .. } => "PayWithBonus",
            Command::RegisterPurchase { .. } => "RegisterPurchase",
            Command::Confirm { .. } => "Confirm",
            Command::Cancel { .. } => "Cancel",
            Command::Refund { .. } => "Refund",
            Command::ImportOfflinePurchase { .. } => "ImportOfflinePurchase",
            Command::RegisterCashbox { .. } => "RegisterCashbox",
            Command::SetCashboxEnabled { .. } => "SetCashboxEnabled",
            Command::SetCashboxKey { .. } => "SetCashboxKey",
            Command::ImportProducts { .. } => "ImportProducts",
            Command::UpsertOffer { .. } => "UpsertOffer",
            Command::IssueCard { .. } => "IssueCard",
            Command::ActivateCard { .. } => "ActivateCard",
            Command::BlockCard { .. } => "BlockCard",
            Command::AdjustPoints { .. } => "AdjustPoints",
            Command::RegisterCustomer { .. } => "RegisterCustomer",
            Command::ReplaceCard { .. } => "ReplaceCard",
            Command::SetAccountBlocked { .. } => "SetAccountBlocked",
            Command::SetCardRange { .. } => "SetCardRange",
            Command::SetCardPin { .. } => "SetCardPin",
            Command::IssueQrSecret { .. } => "IssueQrSecret",
            Command::ChooseFavourites { .. } => "ChooseFavourites",
            Command::SetIdentifierPolicy { .. } => "SetIdentifierPolicy",
            Command::ExpireHolds => "ExpireHolds",
            Command::SetCouponSeries { .. } => "SetCouponSeries",
            Command::IssueCoupons { .. } => "IssueCoupons",
            Command::CreateOrder { .. } => "CreateOrder",
            Command::CancelOrder { .. } => "CancelOrder",
            Command::ResolvePurchase { .. } => "ResolvePurchase",
            Command::RefundWithoutReceipt { .. } => "RefundWithoutReceipt",
            Command::SetBonusRule { .. } => "SetBonusRule",
            Command::SetTiers { .. } => "SetTiers",
            Command::SetTierFloor { .. } => "SetTierFloor",
            Command::IssueCertificate { .. } => "IssueCertificate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RefundLine {
    pub index: u32,
    pub qty: crate::amount::Qty,
}

/// Who sends a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Actor {
    Cashbox(CashboxId),
    /// An administrator, by the name their credentials were issued to.
    Admin(OperatorName),
    System,
}

/// A command with everything the engine needs to decide it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub op: OpId,
    pub actor: Actor,
    pub command: Command,
}

impl Request {
    /// The content fingerprint for idempotency: SHA-256 of the canonical encoding of actor
    /// and command. Amounts are integers and ids validated, so equal content always has
    /// equal bytes ("10.5" and "10.50" are the same request). Fields appended to a command
    /// since count only when set (`evolve::canonical`), so a resend across an upgrade
    /// replays.
    pub fn fingerprint(&self) -> [u8; 32] {
        let bytes =
            crate::evolve::canonical(&(&self.actor, &self.command), Vec::with_capacity(512));
        Sha256::digest(bytes).into()
    }
}

/// The cheque money totals, for answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub amount: Money,
    pub discount: Money,
    pub paid: Points,
    pub accrual: Points,
    pub redeem_max: Points,
    /// A cheque without a card: what the customer would earn with one (an enrolment
    /// prompt; credited nowhere).
    #[serde(default)]
    pub potential_accrual: Points,
    /// The part of the accrual that will be pending when credited (by the programme's or
    /// the offers' own pending periods).
    #[serde(default)]
    pub pending_accrual: Points,
}
