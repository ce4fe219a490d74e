//! How stored shapes evolve. Records are postcard: compact and fast, but not
//! self-describing, so a decoder must know how many fields each struct had when the record
//! was written. The one rule: a field is only ever **appended** to a struct or to a struct
//! variant, marked `#[serde(default)]`, with a default that encodes as the single byte 0
//! (`None`, `0`, `false`, an empty list or string), and listed in [`APPENDED`] with the
//! record format that introduced it (a new kind of command or event is a new variant at the
//! end of its enum and needs no entry).
//!
//! - A record of an older format decodes through [`decode_older`], which ends every listed
//!   struct where that format ended it; serde fills in the defaults.
//! - A request's fingerprint ([`canonical`]) leaves out an appended field that is at its
//!   default, so an operation sent before an upgrade and resent after it has the same
//!   fingerprint, and a resend is a replay, not a conflict.

mod canonical;
mod older;
#[cfg(test)]
mod tests;

use canonical::Canonical;
use older::Older;
use serde::{de, Serialize};

/// The format byte of every record written now.
pub const RECORD_FORMAT: u8 = 13;
/// The oldest record format still read.
pub const OLDEST_FORMAT: u8 = 4;

/// A field appended to a stored shape: `container` is the struct's name, or the enum's
/// name with `variant` for a struct variant (names as serde sees them: the Rust names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub format: u8,
    pub container: &'static str,
    pub variant: &'static str,
    pub field: &'static str,
}

const fn field(format: u8, container: &'static str, field: &'static str) -> Appended {
    Appended {
        format,
        container,
        variant: "",
        field,
    }
}

const fn variant_field(
    format: u8,
    container: &'static str,
    variant: &'static str,
    field: &'static str,
) -> Appended {
    Appended {
        format,
        container,
        variant,
        field,
    }
}

/// Every field appended since [`OLDEST_FORMAT`], oldest first.
pub const APPENDED: &[Appended] = &[
    // Refunds across the chain: the sale may be another cashbox's; a refund is named by
    // its cashbox and cheque.
    variant_field(5, "Command", "Refund", "sold_at"),
    variant_field(5, "Event", "RefundRecorded", "refunded_at"),
    variant_field(5, "Event", "RefundRecorded", "refunded_in"),
    field(5, "Purchase", "refund_keys"),
    // Every answer about a purchase names it.
    field(5, "Reply", "purchase"),
    // The customer's debt, and late completion.
    field(5, "Account", "debt"),
    field(5, "BalanceInfo", "debt"),
    field(5, "Purchase", "registered"),
    field(5, "Purchase", "messages"),
    // Per-line attributes from the till.
    field(5, "Line", "promotional"),
    field(5, "Line", "min_price"),
    // Offers limited by the card's status.
    field(5, "Conditions", "card_statuses"),
    // What a customer without a card would earn with one.
    field(5, "Totals", "potential_accrual"),
    // Accrual kept, the cap of a refund without the receipt.
    field(5, "Account", "earned"),
    // PIN protection: failures and locks, the PIN kept by a replacement card, the old PIN a
    // till gives to change it.
    field(5, "Card", "pin_failures"),
    field(5, "Card", "pin_locked_until"),
    field(5, "Card", "pin_locks"),
    field(5, "Card", "pin_of"),
    variant_field(5, "Event", "CardReplaced", "pin_hash"),
    variant_field(5, "Event", "CardReplaced", "pin_of"),
    variant_field(5, "Command", "SetCardPin", "old_pin"),
    // Points with a life: lots on the account, the lots each credit made and each debit
    // took, and what the balance answer shows of them.
    field(6, "Account", "pending"),
    field(6, "Account", "lots"),
    field(6, "Account", "lots_made"),
    field(6, "Account", "due"),
    field(6, "Purchase", "taken"),
    field(6, "Purchase", "lots"),
    field(6, "Order", "taken"),
    variant_field(6, "Event", "PurchaseImported", "lots"),
    variant_field(6, "Event", "PurchaseConfirmed", "lots"),
    variant_field(6, "Event", "PurchaseConfirmed", "taken"),
    variant_field(6, "Event", "RefundRecorded", "returned"),
    variant_field(6, "Event", "RefundRecorded", "returned_lots"),
    variant_field(6, "Event", "RefundRecorded", "reversed_from"),
    variant_field(6, "Event", "PointsAdjusted", "lots"),
    variant_field(6, "Event", "PointsAdjusted", "taken"),
    variant_field(6, "Event", "DebtRecovered", "taken"),
    field(6, "BalanceInfo", "pending"),
    field(6, "BalanceInfo", "next_expiry"),
    field(6, "Totals", "pending_accrual"),
    // An offer's own lot terms, and the part of a line's accrual they govern.
    field(6, "Offer", "lots"),
    field(6, "PricedLine", "accrual_lots"),
    // Tills that speak the Loymax protocol log in by name.
    field(6, "Cashbox", "login"),
    variant_field(6, "Command", "RegisterCashbox", "login"),
    // Event bonuses: the account's final purchases counted, and the bonuses it was given.
    field(7, "Account", "purchases"),
    field(7, "Account", "bonuses"),
    // Birthday bonuses: the date of birth given at registration, the birthday the sweep
    // looks at next, and the rule's window.
    field(8, "Account", "birth_date"),
    field(8, "Account", "birthday"),
    field(8, "Account", "birthday_from"),
    field(8, "BonusRule", "days_before"),
    field(8, "BonusRule", "days_after"),
    variant_field(8, "Command", "RegisterCustomer", "birth_date"),
    variant_field(8, "Event", "CustomerRegistered", "birth_date"),
    // Status levels: the account's level, floor, spend by month and next review, and the
    // level answers show.
    field(9, "Account", "tier"),
    field(9, "Account", "tier_floor"),
    field(9, "Account", "spend"),
    field(9, "Account", "tier_review"),
    field(9, "Holder", "tier"),
    // Gifts offers give, in the answer.
    field(10, "Reply", "gifts"),
    // Offer budgets: an offer's limits, and what the limited offers gave a purchase.
    field(11, "Offer", "limits"),
    field(11, "Purchase", "budget"),
    // Stamps a purchase collected.
    field(12, "Purchase", "stamps"),
    // Gift certificates: a refund's money back onto them, and the certificate an answer
    // shows.
    variant_field(13, "Event", "RefundRecorded", "certificates"),
    field(13, "RefundSummary", "certificates_returned"),
    field(13, "Reply", "certificate"),
];

pub(crate) fn is_appended(format: u8, container: &str, variant: &str, name: &str) -> bool {
    APPENDED.iter().any(|a| {
        a.format > format && a.container == container && a.variant == variant && a.field == name
    })
}

/// The fields a struct had in `format`: those before its first field appended later.
pub(crate) fn fields_in(
    format: u8,
    container: &str,
    variant: &str,
    fields: &'static [&'static str],
) -> &'static [&'static str] {
    let end = fields
        .iter()
        .position(|f| is_appended(format, container, variant, f))
        .unwrap_or(fields.len());
    &fields[..end]
}

/// Decodes the body of a record written in `format` (older than [`RECORD_FORMAT`]).
pub fn decode_older<T: de::DeserializeOwned>(format: u8, body: &[u8]) -> postcard::Result<T> {
    let mut d = postcard::Deserializer::from_bytes(body);
    T::deserialize(Older { d: &mut d, format })
}

/// The canonical encoding of a request's content: postcard, without appended fields that
/// are at their default.
pub fn canonical<T: Serialize + ?Sized>(value: &T, out: Vec<u8>) -> Vec<u8> {
    let mut s = postcard::Serializer {
        output: postcard::ser_flavors::ExtendFlavor::new(out),
    };
    value
        .serialize(Canonical(&mut s))
        .expect("requests always encode");
    postcard::ser_flavors::Flavor::finalize(s.output).expect("a vector never fills")
}
