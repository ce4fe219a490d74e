//! State: the entities that events project into. Nouns only; no behaviour beyond
//! derived values and invariant checks.

use crate::amount::{Money, Percent, Points, Qty};
use crate::ids::*;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Server time in milliseconds since the Unix epoch. Always passed in, never read.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn plus_secs(self, secs: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add((secs as i64).saturating_mul(1000)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CashboxKind {
    Pos,
    SelfCheckout,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cashbox {
    pub id: CashboxId,
    pub store: StoreId,
    pub kind: CashboxKind,
    pub enabled: bool,
    /// SHA-256 of the cashbox's secret; the secret itself is never stored.
    pub secret_sha256: [u8; 32],
    /// The Ed25519 public key its requests are signed with; a cashbox with a key must
    /// sign every request.
    pub public_key: Option<[u8; 32]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountStatus {
    Active,
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub status: AccountStatus,
    /// Points on the account, including held ones.
    pub balance: Points,
    /// Points reserved by unconfirmed purchases.
    pub held: Points,
    pub name: String,
    pub phone: String,
    /// The customer agreed to the program's terms (registration at the till).
    pub consent: bool,
    /// Goods the customer chose at the till; offers scoped to favourites boost them.
    pub favourites: Vec<ProductCode>,
}

impl Account {
    /// What may be spent now: balance less holds.
    pub fn spendable(&self) -> Points {
        self.balance.minus(self.held)
    }

    /// Invariants every account satisfies after any event.
    pub fn check(&self) {
        assert!(self.held.0 >= 0, "account {:?}: negative hold", self.id);
        assert!(
            self.balance.0 >= self.held.0,
            "account {:?}: holds exceed balance",
            self.id
        );
    }
}

/// Card life cycle: Prepared → Issued → Activated → Blocked, and Replaced (by another card
/// of the same account) from any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CardStatus {
    Prepared,
    Issued,
    Activated,
    Blocked,
    Replaced,
}

impl CardStatus {
    /// Prepared and issued cards accrue points but may not redeem them.
    pub fn may_redeem(self) -> bool {
        self == CardStatus::Activated
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub number: CardNo,
    pub account: AccountId,
    pub status: CardStatus,
    pub card_type: String,
    /// Set when the card was replaced: the card that took over its account.
    pub replaced_by: Option<CardNo>,
    /// Keyed hash of the card's PIN, when it has one: redemption then needs the PIN.
    pub pin_hash: Option<[u8; 32]>,
    /// The secret of the card's dynamic QR codes, once issued (see [`crate::qr`]).
    pub qr_secret: Option<[u8; 32]>,
    /// The last QR code a purchase used: its window and the purchase.
    pub qr_used: Option<(i64, PurchaseKey)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub code: ProductCode,
    pub name: String,
    pub group: Option<GroupCode>,
    pub barcodes: Vec<ProductCode>,
    /// The price per unit below which the line may never be discounted.
    pub min_price: Money,
    /// Already promotional: no further discount.
    pub promotional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OfferEffect {
    /// A direct discount off the line price.
    Discount,
    /// Bonus points credited on confirmation.
    Accrual,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OfferScope {
    Cheque,
    Group(GroupCode),
    /// The lines of goods the customer chose as favourites.
    Favourites,
}

/// A percent offer valid in a window of the cashbox's local time: `[valid_from, valid_to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub name: String,
    pub effect: OfferEffect,
    pub percent: Percent,
    pub scope: OfferScope,
    pub valid_from: NaiveDateTime,
    pub valid_to: NaiveDateTime,
    pub enabled: bool,
}

impl Offer {
    /// Whether the offer applies at `at` to a line of a product in `group`, which is or is
    /// not one of the customer's favourites.
    pub fn applies(&self, at: NaiveDateTime, group: Option<&GroupCode>, favourite: bool) -> bool {
        self.enabled
            && self.valid_from <= at
            && at < self.valid_to
            && match &self.scope {
                OfferScope::Cheque => true,
                OfferScope::Group(g) => group == Some(g),
                OfferScope::Favourites => favourite,
            }
    }
}

/// One line of a cheque as sent by the till.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Line {
    pub product: ProductCode,
    pub qty: Qty,
    /// Price per unit before loyalty discounts.
    pub price: Money,
}

/// A line after pricing: what the customer pays for it and what it earns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub line: Line,
    /// price × quantity.
    pub amount: Money,
    pub discount: Money,
    /// The most points this line may be paid with.
    pub redeem_cap: Points,
    /// Points paid for this line (allocated from the cheque's payment).
    pub paid: Points,
    pub accrual: Points,
    pub offers: Vec<OfferId>,
    /// Quantity refunded so far.
    pub refunded_qty: Qty,
}

impl PricedLine {
    /// Money due for this line after discount.
    pub fn net(&self) -> Money {
        self.amount.minus(self.discount)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TenderKind {
    Cash,
    BankCard,
    /// A fast-payment QR (bank transfer by QR code).
    FastPayment,
}

/// One part of how the money was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tender {
    pub kind: TenderKind,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PurchaseStatus {
    /// Points are held; the cheque is not registered yet.
    Held,
    /// The cheque is recorded with a pending accrual.
    Registered,
    Confirmed,
    Cancelled,
    /// Not confirmed within the hold lifetime; holds released, accrual dropped.
    Expired,
}

impl PurchaseStatus {
    pub fn is_pending(self) -> bool {
        matches!(self, PurchaseStatus::Held | PurchaseStatus::Registered)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub key: PurchaseKey,
    /// Who rang the cheque up, as the till names its cashier.
    pub cashier: Option<CashierId>,
    /// How the money part was paid, as the till reported it.
    pub tenders: Vec<Tender>,
    pub account: Option<AccountId>,
    pub card: Option<CardNo>,
    pub status: PurchaseStatus,
    pub local_time: NaiveDateTime,
    pub lines: Vec<PricedLine>,
    /// Points held, then paid on confirmation.
    pub paid: Points,
    pub accrual: Points,
    /// An unconfirmed purchase expires (and its hold is released) at this server time.
    pub expires_at: UnixMillis,
    pub created_at: UnixMillis,
    pub refunds: Vec<ChequeId>,
    pub refunded_money: Money,
    pub points_returned: Points,
    pub accrual_reversed: Points,
}

impl Purchase {
    pub fn amount(&self) -> Money {
        self.lines.iter().fold(Money::ZERO, |s, l| s.plus(l.amount))
    }
    pub fn discount(&self) -> Money {
        self.lines
            .iter()
            .fold(Money::ZERO, |s, l| s.plus(l.discount))
    }
}

/// Program-wide settings passed into every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Unconfirmed purchases (and their holds) expire after this long.
    pub hold_lifetime_secs: u64,
    /// The share of a line's net amount that may be paid with points.
    pub redeem_share: Percent,
    pub lines_per_cheque_max: usize,
    /// Expiry sweeps release at most this many purchases per command.
    pub expire_batch_max: usize,
    /// Key of the PIN hashes (kept by the server, outside the log).
    pub pin_key: [u8; 32],
}

/// Which identifier kinds may redeem points; the others accrue only. Set by an
/// administrator; until then barcode, magnetic stripe and QR may, a phone may not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierPolicy {
    pub redeem_via: Vec<crate::command::IdKind>,
}

impl Default for IdentifierPolicy {
    fn default() -> Self {
        IdentifierPolicy {
            redeem_via: vec![
                crate::command::IdKind::Barcode,
                crate::command::IdKind::MagStripe,
                crate::command::IdKind::Qr,
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckDigit {
    None,
    /// The last digit is the Luhn (mod 10) check digit of the others.
    Luhn,
    /// The last digit is the EAN-13 check digit (weights 1, 3) of the others.
    Ean13,
}

impl CheckDigit {
    pub fn holds(self, digits: &str) -> bool {
        let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
        let Some((last, body)) = d.split_last() else {
            return false;
        };
        let weighted = |w: &dyn Fn(usize) -> u32| {
            body.iter()
                .rev()
                .enumerate()
                .map(|(i, x)| w(i) * x)
                .map(|v| {
                    if v > 9 && matches!(self, CheckDigit::Luhn) {
                        v - 9
                    } else {
                        v
                    }
                })
                .sum::<u32>()
        };
        match self {
            CheckDigit::None => true,
            CheckDigit::Luhn => {
                (10 - weighted(&|i| if i % 2 == 0 { 2 } else { 1 }) % 10) % 10 == *last
            }
            CheckDigit::Ean13 => {
                (10 - weighted(&|i| if i % 2 == 0 { 3 } else { 1 }) % 10) % 10 == *last
            }
        }
    }
}

/// A range of card numbers the chain prints: numbers of `length` digits starting with
/// `prefix` (and with a valid check digit). An unknown number in a range is accepted as a
/// new Prepared card of `card_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRange {
    pub prefix: String,
    pub length: u8,
    pub check: CheckDigit,
    pub card_type: String,
}

impl CardRange {
    pub fn matches(&self, number: &CardNo) -> bool {
        let n = number.as_str();
        n.len() == usize::from(self.length) && n.starts_with(&self.prefix) && self.check.holds(n)
    }
}

impl Default for Program {
    fn default() -> Self {
        Program {
            hold_lifetime_secs: 15 * 60,
            redeem_share: Percent(rust_decimal::Decimal::from(50)),
            lines_per_cheque_max: 500,
            expire_batch_max: 1000,
            pin_key: [0; 32],
        }
    }
}
