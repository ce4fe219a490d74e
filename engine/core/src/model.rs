//! State: the entities that events project into. Nouns only; no behaviour beyond
//! derived values and invariant checks.

use crate::amount::{Money, Percent, Points, Qty};
use crate::ids::*;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

pub use crate::certificate::Certificate;
/// Kept here too: records name it `crate::model::local_time`.
pub use crate::local_time;
pub use crate::lots::{Lot, LotSource, LotTerms, Take};
pub use crate::offer::*;
pub use crate::programme::*;

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
    /// The login the till's Loymax module is configured with (the XML endpoint's URL and
    /// Basic credentials name it; the password is the cashbox's secret).
    #[serde(default)]
    pub login: Option<String>,
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
    /// Points the customer owes the programme: accrual of returned goods that was already
    /// spent, or the shortfall of a late confirm. Recovered from points as soon as they
    /// would become spendable (credits and released holds), never negative.
    #[serde(default)]
    pub debt: Points,
    /// Accrual the customer has earned and kept: credited accruals less what refunds took
    /// back (or made owed). A refund without the receipt takes back no more than this.
    #[serde(default)]
    pub earned: Points,
    /// Points credited but not yet spendable (what is left of pending lots).
    #[serde(default)]
    pub pending: Points,
    /// The account's lots with points left, by id (see [`crate::lots`]).
    #[serde(default)]
    pub lots: Vec<Lot>,
    /// How many lots were ever credited (the last lot's id).
    #[serde(default)]
    pub lots_made: u32,
    /// The time the account is indexed under for the sweep ([`Account::next_due`] when it
    /// was last stored).
    #[serde(default)]
    pub due: Option<UnixMillis>,
    /// How many of its purchases became final (confirmed, or uploaded offline).
    #[serde(default)]
    pub purchases: u32,
    /// The event bonuses this account was given once (a birthday's is yearly: `birthday`).
    #[serde(default)]
    pub bonuses: Vec<BonusKind>,
    /// The customer's date of birth, as given at registration.
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    /// The birthday the sweep looks at next (see `decide::bonus::birthday`), and the server
    /// time from which it does (the account is due then).
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
    #[serde(default)]
    pub birthday_from: Option<UnixMillis>,
    /// The account's status level (a name of the programme's `Tiers`), if it has one.
    #[serde(default)]
    pub tier: Option<String>,
    /// A level an administrator set as the least the account has, whatever it spends.
    #[serde(default)]
    pub tier_floor: Option<String>,
    /// What the customer spent (goods' value after discounts, less refunds) by month of the
    /// cheques' local time (`Tiers::month`), the last 13 months.
    #[serde(default)]
    pub spend: Vec<(u32, Money)>,
    /// When the account's level is next reviewed (a downgrade can only happen then).
    #[serde(default)]
    pub tier_review: Option<UnixMillis>,
}

impl Account {
    /// A new account: active, no points, no history.
    pub fn opened(id: AccountId, name: String, phone: String) -> Account {
        Account {
            id,
            status: AccountStatus::Active,
            balance: Points::ZERO,
            held: Points::ZERO,
            name,
            phone,
            consent: false,
            favourites: Vec::new(),
            debt: Points::ZERO,
            earned: Points::ZERO,
            pending: Points::ZERO,
            lots: Vec::new(),
            lots_made: 0,
            due: None,
            purchases: 0,
            bonuses: Vec::new(),
            birth_date: None,
            birthday: None,
            birthday_from: None,
            tier: None,
            tier_floor: None,
            spend: Vec::new(),
            tier_review: None,
        }
    }

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
        assert!(self.debt.0 >= 0, "account {:?}: negative debt", self.id);
        self.check_lots();
    }

    /// Debt recoverable now: what is owed, up to what is spendable.
    pub fn recoverable(&self) -> Points {
        self.debt.min(self.spendable()).max(Points::ZERO)
    }
}

/// Card life cycle: Prepared → Issued → Activated → Blocked, and Replaced (by another card
/// of the same account) from any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// Wrong PINs since the last right one or the last lock.
    #[serde(default)]
    pub pin_failures: u32,
    /// Redemption by PIN is locked until then (server time).
    #[serde(default)]
    pub pin_locked_until: Option<UnixMillis>,
    /// Locks since the last right PIN: each lasts twice the one before.
    #[serde(default)]
    pub pin_locks: u32,
    /// The card number the PIN's hash was made with, when it is another card's: a PIN kept
    /// through a replacement.
    #[serde(default)]
    pub pin_of: Option<CardNo>,
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

/// A series of coupons: how often one may be used and how long it lives once issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponSeries {
    pub id: CouponSeriesId,
    pub name: String,
    /// Uses per coupon; 0 = unlimited until it expires.
    pub uses: u32,
    /// Days an issued coupon stays valid (from its issue, in the cashbox's local time).
    pub valid_days: u32,
}

/// A coupon: a code of a series, perhaps bound to one customer's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub code: CouponCode,
    pub series: CouponSeriesId,
    /// Only this account's cards may use it; `None`: any card.
    pub account: Option<AccountId>,
    /// Valid until this local time (exclusive).
    #[serde(with = "crate::model::local_time")]
    pub expires: NaiveDateTime,
    /// Purchases using it now (pending or confirmed); released by cancel or expiry.
    pub used: u32,
    /// The purchase that issued it, if an offer did.
    pub issued_by: Option<PurchaseKey>,
    /// Withdrawn because the purchase that issued it was cancelled or expired.
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Waiting to be picked up; its points are held.
    Open,
    /// Bought out at a till (the purchase carries the hold on).
    PickedUp,
    Cancelled,
    /// Not picked up within the order lifetime; its points were released.
    Expired,
}

/// One promised line of an e-commerce order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderLine {
    pub product: ProductCode,
    pub qty: Qty,
    pub price: Money,
    /// The discount promised online for the whole line.
    pub discount: Money,
}

/// An online order the customer picks up at a store: its lines, discounts and the points
/// reserved for it are what the till must honour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub number: OrderNo,
    pub account: AccountId,
    pub card: CardNo,
    pub lines: Vec<OrderLine>,
    /// Points reserved online (held on the account until pick-up or cancellation).
    pub points: Points,
    pub status: OrderStatus,
    /// The purchase that picked it up.
    pub purchase: Option<PurchaseKey>,
    /// Server time after which an open order may no longer be picked up; the expiry sweep
    /// then releases its points.
    pub expires_at: UnixMillis,
    /// The lots its points were taken from.
    #[serde(default)]
    pub taken: Vec<Take>,
}

/// One line of a cheque as sent by the till.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Line {
    pub product: ProductCode,
    pub qty: Qty,
    /// Price per unit before loyalty discounts.
    pub price: Money,
    /// A discount the till already applied to the whole line on its own (respected: the
    /// engine's discounts come on top, above the minimal price).
    pub local_discount: Money,
    /// The till marks the line promotional (a price tag changed at the shelf): no further
    /// discount. Either the till or the catalogue marking it is enough.
    #[serde(default)]
    pub promotional: bool,
    /// The minimal price per unit the till knows for the line; the higher of it and the
    /// catalogue's applies. Zero: the catalogue's alone.
    #[serde(default)]
    pub min_price: Money,
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
    /// The part of `accrual` that offers with their own lot terms gave, by terms (the rest
    /// lives by the programme's).
    #[serde(default)]
    pub accrual_lots: Vec<(LotTerms, Points)>,
}

impl PricedLine {
    /// Money due for this line after discount.
    pub fn net(&self) -> Money {
        self.amount.minus(self.discount)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TenderKind {
    Cash,
    BankCard,
    /// A fast-payment QR (bank transfer by QR code).
    FastPayment,
    /// A gift certificate: held on it while the purchase is pending, taken from it when
    /// the purchase is confirmed (see [`crate::certificate`]).
    Certificate(CertificateCode),
}

/// One part of how the money was paid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Not a sale: goods returned without the original receipt, recorded under the refund's
    /// cheque number; `accrual` is what was taken back for them.
    ReturnedWithoutReceipt,
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
    #[serde(with = "crate::model::local_time")]
    pub local_time: NaiveDateTime,
    pub lines: Vec<PricedLine>,
    /// Points held, then paid on confirmation.
    pub paid: Points,
    pub accrual: Points,
    /// An unconfirmed purchase expires (and its hold is released) at this server time.
    pub expires_at: UnixMillis,
    pub created_at: UnixMillis,
    /// Coupons this purchase uses (each counts one use until it is cancelled or expires).
    pub coupons: Vec<CouponCode>,
    /// Coupons offers issued with this purchase (revoked if it is cancelled or expires,
    /// restored by a late confirm).
    pub issued: Vec<CouponCode>,
    /// The e-commerce order this purchase picked up.
    pub order: Option<OrderNo>,
    /// Refund cheques recorded before the record format 5 (all at the selling cashbox);
    /// later ones are in `refund_keys`.
    pub refunds: Vec<ChequeId>,
    pub refunded_money: Money,
    pub points_returned: Points,
    pub accrual_reversed: Points,
    /// Refunds by refunding cashbox and refund cheque.
    #[serde(default)]
    pub refund_keys: Vec<PurchaseKey>,
    /// The cheque was registered (a purchase that expired after it may still be confirmed
    /// late; one that only held points may not).
    #[serde(default)]
    pub registered: bool,
    /// The offers' messages for the cheque, as templates: the confirmation renders them
    /// with the figures after it.
    #[serde(default)]
    pub messages: Vec<crate::outcome::Message>,
    /// The lots its points were taken from (a hold, a late confirm, a return without
    /// receipt's reversal), less what was given back since.
    #[serde(default)]
    pub taken: Vec<Take>,
    /// The lots its accrual joined.
    #[serde(default)]
    pub lots: Vec<u32>,
    /// What the offers with limits gave this purchase, by offer (discount money or points):
    /// counted against their budgets while the purchase stands.
    #[serde(default)]
    pub budget: Vec<(OfferId, i64)>,
    /// The stamps this purchase collected, by stamps offer (whole units of its lines).
    #[serde(default)]
    pub stamps: Vec<(OfferId, u32)>,
}

impl Purchase {
    pub fn amount(&self) -> Money {
        self.lines.iter().fold(Money::ZERO, |s, l| s.plus(l.amount))
    }
    /// Whether the refund `key` (refunding cashbox, refund cheque) is recorded.
    pub fn has_refund(&self, key: &PurchaseKey) -> bool {
        self.refund_keys.contains(key)
            || (key.cashbox == self.key.cashbox && self.refunds.contains(&key.cheque))
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
    /// E-commerce orders not picked up expire (and release their points) after this long.
    pub order_lifetime_secs: u64,
    /// The share of a line's net amount that may be paid with points.
    pub redeem_share: Percent,
    pub lines_per_cheque_max: usize,
    /// Expiry sweeps release at most this many purchases per command.
    pub expire_batch_max: usize,
    /// A registered purchase stays completable this long after its hold lifetime: a late
    /// `Confirm` takes its points again, and what is no longer there becomes debt.
    pub late_confirm_secs: u64,
    /// Tills may refund goods without the original receipt (`RefundWithoutReceipt`).
    pub receiptless_refunds: bool,
    /// Wrong PINs in a row that lock redemption by PIN, and the first lock's length (each
    /// further lock before a right PIN lasts twice as long, at most a day).
    pub pin_attempts_max: u32,
    pub pin_lock_secs: u64,
    /// Key of the PIN hashes (kept by the server, outside the log).
    pub pin_key: [u8; 32],
    /// How long credited points are pending, then spendable.
    pub lots: LotTerms,
    /// The stores' local time ahead of UTC: an offline cheque's lots are dated by its
    /// local time.
    pub utc_offset_secs: i64,
}

/// How the customer was identified; the program says which kinds may redeem points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdKind {
    /// The card's barcode (or its number typed in).
    Barcode,
    MagStripe,
    Phone,
    /// A dynamic QR code from the customer's app.
    Qr,
}

/// Which identifier kinds may redeem points; the others accrue only. Set by an
/// administrator; until then barcode, magnetic stripe and QR may, a phone may not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierPolicy {
    pub redeem_via: Vec<IdKind>,
}

impl Default for IdentifierPolicy {
    fn default() -> Self {
        IdentifierPolicy {
            redeem_via: vec![IdKind::Barcode, IdKind::MagStripe, IdKind::Qr],
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
            order_lifetime_secs: 7 * 24 * 3600,
            redeem_share: Percent(rust_decimal::Decimal::from(50)),
            lines_per_cheque_max: 500,
            expire_batch_max: 1000,
            late_confirm_secs: 72 * 3600,
            receiptless_refunds: false,
            pin_attempts_max: 5,
            pin_lock_secs: 15 * 60,
            pin_key: [0; 32],
            lots: LotTerms::default(),
            utc_offset_secs: 0,
        }
    }
}
