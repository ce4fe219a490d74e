//! Outcome codes and answers. Rejections are values: every command gets a code. The
//! numbers are part of the public contract (mirrored in `schemas/loyalty/v1/cash.proto`);
//! they are never reused. Within a command, checks run in the order of the codes' listing
//! in `decide`: idempotency first, then actor, then objects, then balances.

use crate::amount::Points;
use crate::command::Totals;
use crate::ids::*;
use crate::model::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u16)]
pub enum Code {
    Ok = 0,
    /// The same operation id was used before with different content.
    OperationConflict = 1,
    CashboxUnknown = 10,
    CashboxDisabled = 11,
    CashboxExists = 12,
    /// The command is not allowed for this kind of actor.
    Forbidden = 13,
    CardUnknown = 20,
    CardBlocked = 21,
    /// Prepared and issued cards accrue but may not redeem.
    CardNotActivated = 22,
    AccountBlocked = 23,
    CardExists = 24,
    AccountUnknown = 25,
    /// Redemption needs a card.
    CardRequired = 26,
    /// The card's status does not allow this (issued blocked, registered twice).
    CardStatusInvalid = 27,
    /// The card was replaced by another; the message names the new one.
    CardReplaced = 28,
    PurchaseUnknown = 30,
    /// The purchase is not in a state that allows this command.
    PurchaseWrongState = 31,
    HoldExpired = 32,
    /// The card of the cheque differs from the card the purchase was started with.
    CardMismatch = 33,
    InsufficientPoints = 40,
    RedeemLimitExceeded = 41,
    TooManyLines = 42,
    EmptyCheque = 43,
    /// Zero where a positive amount is needed.
    AmountInvalid = 44,
    RefundAtKiosk = 50,
    RefundExceedsPurchase = 51,
    RefundLineUnknown = 52,
    RefundExists = 53,
    /// Offline cheques cannot be paid with points.
    OfflineRedemptionRefused = 70,
    /// Offline cheques cannot carry loyalty discounts granted at the till.
    OfflineDiscountRefused = 71,
    OfferInvalid = 60,
    ProductInvalid = 61,
    /// No registered customer has this phone.
    PhoneUnknown = 80,
    /// The phone is registered to another account.
    PhoneExists = 81,
    /// The program does not let this kind of identifier redeem points.
    RedeemNotAllowed = 82,
    /// An `Auto` identifier is neither magnetic stripe data, a card number nor a phone.
    IdentifierInvalid = 83,
    /// The card has a PIN: paying with points needs it.
    PinRequired = 84,
    PinInvalid = 85,
    /// A QR code that is not this card's (wrong code, or the card has no QR secret).
    QrInvalid = 86,
    /// A QR code older than its lifetime.
    QrExpired = 87,
    /// A QR code another purchase already used.
    QrReplayed = 88,
    OrderUnknown = 90,
    OrderExists = 91,
    /// The order was picked up or cancelled already.
    OrderWrongState = 92,
    /// The cheque's lines differ from the order's (product, quantity, price, in order).
    OrderMismatch = 93,
    CouponExists = 94,
    CouponSeriesUnknown = 95,
    /// A status level the programme does not have (or no levels at all).
    TierUnknown = 96,
    PinLocked = 89,
    /// Offline cheques cannot be paid with a gift certificate (its balance is known online
    /// only).
    OfflineCertificateRefused = 72,
    CertificateUnknown = 100,
    /// The certificate's validity has ended.
    CertificateExpired = 101,
    /// The certificate has less left than the tender names.
    CertificateInsufficient = 102,
    CertificateExists = 103,
}

impl Code {
    pub fn number(self) -> u16 {
        self as u16
    }

    pub fn describe(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::OperationConflict => "operation id already used with different content",
            Code::CashboxUnknown => "cashbox is not registered",
            Code::CashboxDisabled => "cashbox is disabled",
            Code::CashboxExists => "cashbox already registered",
            Code::Forbidden => "not allowed for this caller",
            Code::CardUnknown => "card is unknown",
            Code::CardBlocked => "card is blocked",
            Code::CardNotActivated => "card is not activated: it may accrue but not redeem",
            Code::AccountBlocked => "account is blocked",
            Code::CardExists => "card already exists",
            Code::AccountUnknown => "account is unknown",
            Code::CardRequired => "paying with points needs a card",
            Code::CardStatusInvalid => "the card's status does not allow this",
            Code::CardReplaced => "card was replaced",
            Code::PurchaseUnknown => "purchase is unknown",
            Code::PurchaseWrongState => "purchase is not in a state that allows this",
            Code::HoldExpired => "the hold has expired",
            Code::CardMismatch => "another customer's card",
            Code::InsufficientPoints => "not enough points",
            Code::RedeemLimitExceeded => "more points than this cheque may be paid with",
            Code::TooManyLines => "too many lines in the cheque",
            Code::EmptyCheque => "the cheque has no lines",
            Code::AmountInvalid => "an amount is not valid",
            Code::RefundAtKiosk => "refunds are not allowed at self-checkout kiosks",
            Code::RefundExceedsPurchase => "refund exceeds what was bought",
            Code::RefundLineUnknown => "refund names a line the purchase does not have",
            Code::RefundExists => "this refund cheque was already recorded with other content",
            Code::OfflineRedemptionRefused => {
                "offline cheques accrue only: paying with points is refused"
            }
            Code::OfflineDiscountRefused => {
                "offline cheques accrue only: discounts granted offline are refused"
            }
            Code::OfferInvalid => "offer is invalid",
            Code::ProductInvalid => "product is invalid",
            Code::PhoneUnknown => "no customer is registered with this phone",
            Code::PhoneExists => "the phone is registered to another customer",
            Code::RedeemNotAllowed => "this kind of identifier may accrue but not redeem points",
            Code::IdentifierInvalid => "the identifier is not a card, magnetic stripe or phone",
            Code::PinRequired => "this card needs its PIN to pay with points",
            Code::PinInvalid => "wrong PIN",
            Code::QrInvalid => "the QR code is not valid for this card",
            Code::QrExpired => "the QR code has expired: refresh it in the app",
            Code::QrReplayed => "the QR code was already used for another purchase",
            Code::OrderUnknown => "order is unknown",
            Code::OrderExists => "order already exists",
            Code::OrderWrongState => "the order was picked up or cancelled already",
            Code::OrderMismatch => "the cheque differs from the order",
            Code::CouponExists => "coupon already exists",
            Code::CouponSeriesUnknown => "coupon series is unknown",
            Code::TierUnknown => "no such status level",
            Code::PinLocked => "too many wrong PINs: redemption by PIN is locked for now",
            Code::OfflineCertificateRefused => {
                "offline cheques cannot be paid with a gift certificate"
            }
            Code::CertificateUnknown => "gift certificate is unknown",
            Code::CertificateExpired => "the gift certificate has expired",
            Code::CertificateInsufficient => "not enough left on the gift certificate",
            Code::CertificateExists => "gift certificate already exists",
        }
    }
}

/// What the customer's identifier resolved to, for the till's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub account: AccountId,
    pub name: String,
    pub card_type: String,
    pub masked_card: String,
    /// The customer's favourite goods, to show at the till.
    pub favourites: Vec<ProductCode>,
    pub card_status: CardStatus,
    /// The account's status level, if the programme has levels and it has one.
    #[serde(default)]
    pub tier: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceInfo {
    pub balance: Points,
    pub held: Points,
    pub spendable: Points,
    /// Points the customer owes (recovered from the next points they get).
    #[serde(default)]
    pub debt: Points,
    /// Credited, not yet spendable.
    #[serde(default)]
    pub pending: Points,
    /// The next points to burn: when, and how many.
    #[serde(default)]
    pub next_expiry: Option<(UnixMillis, Points)>,
}

impl BalanceInfo {
    /// What the account's lots say it will hold at `t` (now or later) if nothing else
    /// happens: lots active by then and not burnt are spendable — after paying the debt,
    /// as a maturing lot does — lots activating later are pending; holds stay as they are.
    pub fn forecast(a: &Account, t: UnixMillis) -> BalanceInfo {
        let live = a.lots.iter().filter(|l| l.expires_at.is_none_or(|e| e > t));
        let (mut active, mut pending) = (Points::ZERO, Points::ZERO);
        for l in live {
            if l.pending && l.activates_at > t {
                pending = pending.plus(l.left);
            } else {
                active = active.plus(l.left);
            }
        }
        let recovered = a.debt.min(active);
        let spendable = active.minus(recovered);
        let next_expiry = a
            .lots
            .iter()
            .filter_map(|l| l.expires_at)
            .filter(|e| *e > t)
            .min()
            .map(|at| {
                let points = a
                    .lots
                    .iter()
                    .filter(|l| l.expires_at == Some(at))
                    .fold(Points::ZERO, |s, l| s.plus(l.left));
                (at, points)
            });
        BalanceInfo {
            balance: a.held.plus(spendable),
            held: a.held,
            spendable,
            debt: a.debt.minus(recovered),
            pending,
            next_expiry,
        }
    }
}

impl From<&Account> for BalanceInfo {
    fn from(a: &Account) -> Self {
        BalanceInfo {
            balance: a.balance,
            held: a.held,
            spendable: a.spendable(),
            debt: a.debt,
            pending: a.pending,
            next_expiry: a.next_expiry(),
        }
    }
}

/// The answer to any command. The same shape for every command keeps the wire simple;
/// fields a command does not produce stay empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub code: Code,
    pub message: String,
    pub holder: Option<Holder>,
    pub balance: Option<BalanceInfo>,
    pub lines: Vec<PricedLine>,
    pub totals: Option<Totals>,
    pub purchase_status: Option<PurchaseStatus>,
    pub refund: Option<RefundSummary>,
    /// Offer messages (rendered) and notes for the cashier (e.g. a coupon not accepted).
    pub messages: Vec<Message>,
    /// Coupons offers issued with this purchase, to print on the cheque.
    pub coupons_issued: Vec<IssuedCoupon>,
    /// Coupons the purchase used.
    pub coupons_used: Vec<CouponCode>,
    /// FetchOrder: the order's status.
    pub order_status: Option<OrderStatus>,
    pub events: u32,
    /// The purchase the answer is about (its id for the slip and for refunds elsewhere).
    #[serde(default)]
    pub purchase: Option<PurchaseKey>,
    /// Gifts offers give with the cheque: the till adds them at no charge.
    #[serde(default)]
    pub gifts: Vec<GiftItem>,
    /// A gift certificate as it stands after the operation (issued, or asked about).
    #[serde(default)]
    pub certificate: Option<Certificate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftItem {
    pub offer: OfferId,
    pub product: ProductCode,
    /// The catalogue's name, for the cashier.
    pub name: String,
    pub qty: crate::amount::Qty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub to: MessageTo,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCoupon {
    pub code: CouponCode,
    pub series: CouponSeriesId,
    pub name: String,
    /// Valid until this local time (exclusive).
    #[serde(with = "crate::model::local_time")]
    pub expires: chrono::NaiveDateTime,
}

/// What a refund gives back and takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundSummary {
    /// The value of the returned goods after discounts: money and points together.
    pub money_returned: crate::amount::Money,
    /// The points paid for the returned goods, given back as points.
    pub points_returned: Points,
    pub accrual_reversed: Points,
    pub accrual_unrecovered: Points,
    /// The money that went back onto the purchase's gift certificates.
    #[serde(default)]
    pub certificates_returned: crate::amount::Money,
}

impl RefundSummary {
    /// The money the till pays out: see [`money_to_pay_out`].
    pub fn money_to_pay_out(&self) -> crate::amount::Money {
        money_to_pay_out(
            self.money_returned,
            self.points_returned,
            self.certificates_returned,
        )
    }
}

/// The money a till pays out for returned goods worth `value`, of which `points` were paid
/// with points (those come back as points, one point for one unit of money) and
/// `certificates` go back onto gift certificates. Summed over every refund of a purchase
/// it is exactly what the customer paid in money and is not back on a certificate.
pub fn money_to_pay_out(
    value: crate::amount::Money,
    points: Points,
    certificates: crate::amount::Money,
) -> crate::amount::Money {
    value
        .minus(crate::amount::Money(points.0))
        .minus(certificates)
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            code: Code::Ok,
            message: String::new(),
            holder: None,
            balance: None,
            lines: Vec::new(),
            totals: None,
            purchase_status: None,
            refund: None,
            messages: Vec::new(),
            coupons_issued: Vec::new(),
            coupons_used: Vec::new(),
            order_status: None,
            events: 0,
            purchase: None,
            gifts: Vec::new(),
            certificate: None,
        }
    }

    pub fn rejected(code: Code, detail: impl Into<String>) -> Reply {
        let detail = detail.into();
        let message = if detail.is_empty() {
            code.describe().to_owned()
        } else {
            format!("{}: {}", code.describe(), detail)
        };
        Reply {
            code,
            message,
            ..Reply::ok()
        }
    }

    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }
}

/// The stored record of an operation: its fingerprint and original answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub op: OpId,
    pub actor: crate::command::Actor,
    pub fingerprint: [u8; 32],
    pub at: UnixMillis,
    pub reply: Reply,
}
