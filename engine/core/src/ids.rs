//! Identifiers. Numeric ids have explicit widths; textual ids are validated once, at
//! construction, so the rest of the core can trust them.

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: String,
}

/// A registered cash register (POS till or self-checkout kiosk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CashboxId(pub u32);

/// A store of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoreId(pub u32);

/// A bonus account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(pub u64);

/// A marketing offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OfferId(pub u32);

/// A series of coupons (what they grant is up to the offers that ask for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CouponSeriesId(pub u32);

/// Virtual shards of the account space (DESIGN §6): fixed at program creation.
pub const SHARDS: u16 = 64;

impl AccountId {
    /// The virtual shard that owns this account: a fixed multiplicative hash, so that
    /// consecutive ids spread over shards.
    pub fn shard(self) -> u16 {
        (self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as u16 % SHARDS
    }
}

/// A client-generated operation id (a UUID), the key of idempotent replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId(pub u128);

impl OpId {
    /// Parses the canonical hyphenated or plain 32-hex-digit form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let err = |reason: &str| IdError {
            kind: "operation id",
            reason: reason.to_owned(),
        };
        if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err("expected a UUID (32 hex digits)"));
        }
        let v = u128::from_str_radix(&hex, 16).map_err(|_| err("not hex"))?;
        if v == 0 {
            return Err(err("the nil UUID is not an operation id"));
        }
        Ok(OpId(v))
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

fn check_text(
    kind: &'static str,
    s: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    let err = |reason: String| IdError { kind, reason };
    if s.is_empty() {
        return Err(err("empty".into()));
    }
    if s.len() > max {
        return Err(err(format!("longer than {max} bytes")));
    }
    if let Some(c) = s.chars().find(|c| !ok(*c)) {
        return Err(err(format!("character {c:?} not allowed")));
    }
    Ok(())
}

/// Textual ids are copied into every priced line, purchase and answer: held as small
/// strings (up to 23 bytes inline, longer ones shared), so copying one never allocates.
/// Stored and sent as plain text.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $ok:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(SmolStr);

        impl $name {
            pub const BYTES_MAX: usize = $max;
            pub fn new(s: &str) -> Result<Self, IdError> {
                check_text($kind, s, $max, $ok)?;
                Ok($name(SmolStr::new(s)))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A card number as printed in its barcode: digits only.
    CardNo, "card number", 32, |c: char| c.is_ascii_digit()
);
text_id!(
    /// A cheque number, unique per cashbox.
    ChequeId, "cheque id", 64, |c: char| c.is_ascii_graphic()
);
text_id!(
    /// The cashier at the till, as the cash software names them.
    CashierId, "cashier", 64, |c: char| c.is_ascii_graphic()
);
text_id!(
    /// A product code or barcode from the chain's ERP.
    ProductCode, "product code", 64, |c: char| c.is_ascii_graphic()
);
text_id!(
    /// A coupon's code as printed in its barcode: upper-case letters, digits and dashes.
    CouponCode, "coupon code", 32, |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'
);
text_id!(
    /// A gift certificate's code as printed on it: upper-case letters, digits and dashes.
    CertificateCode, "certificate code", 32, |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'
);
text_id!(
    /// An e-commerce order number.
    OrderNo, "order number", 32, |c: char| c.is_ascii_alphanumeric() || c == '-'
);
text_id!(
    /// A product group code. Groups form a hierarchy by path: `dairy/milk` is inside
    /// `dairy`.
    GroupCode, "group code", 64, |c: char| c.is_ascii_graphic()
);

impl GroupCode {
    /// Whether this group is `outer` or lies inside it (`dairy/milk` in `dairy`).
    pub fn within(&self, outer: &GroupCode) -> bool {
        self.0 == outer.0
            || (self.0.starts_with(outer.as_str()) && self.0[outer.0.len()..].starts_with('/'))
    }
}

impl CardNo {
    /// The number as shown on receipts: all but the last four digits masked.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let keep = n.min(4);
        format!("{}{}", "*".repeat(n - keep), &self.0[n - keep..])
    }
}

/// The name of an administrator or back-office system acting through the admin API; it is
/// recorded with every operation they perform. 1–32 characters of `a-z 0-9 . _ @ -`.
/// Fixed-size, so that an actor stays a plain value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OperatorName([u8; 32]);

impl OperatorName {
    pub const BYTES_MAX: usize = 32;

    pub fn new(s: &str) -> Result<Self, IdError> {
        check_text("operator name", s, Self::BYTES_MAX, |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@".contains(c)
        })?;
        let mut bytes = [0u8; 32];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(OperatorName(bytes))
    }

    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(32);
        std::str::from_utf8(&self.0[..len]).unwrap_or("?")
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperatorName({:?})", self.as_str())
    }
}

/// A card PIN as typed at the till: 4 to 8 digits. Never stored: cards keep a keyed hash.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pin(String);

impl Pin {
    pub fn new(s: &str) -> Result<Pin, IdError> {
        if (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Pin(s.to_owned()))
        } else {
            Err(IdError {
                kind: "PIN",
                reason: "4 to 8 digits".into(),
            })
        }
    }

    /// The keyed hash kept on the card: SHA-256 of the program's PIN key, the card number
    /// and the PIN, so the log and the state never reveal a PIN without the key.
    pub fn hash(&self, key: &[u8; 32], card: &CardNo) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(key);
        h.update(card.as_str().as_bytes());
        h.update([0]);
        h.update(self.0.as_bytes());
        h.finalize().into()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

/// A phone number in international form: `+` and 8–15 digits. Russian numbers written
/// as `8 (999) 000-11-22`, `79990001122` or `9990001122` normalise to `+79990001122`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Phone, IdError> {
        let err = |reason: &str| IdError {
            kind: "phone",
            reason: reason.to_owned(),
        };
        let trimmed = s.trim();
        let plus = trimmed.starts_with('+');
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        if body
            .chars()
            .any(|c| !(c.is_ascii_digit() || " -()".contains(c)))
        {
            return Err(err(
                "only digits, spaces, dashes and brackets after an optional +",
            ));
        }
        let digits: String = body.chars().filter(char::is_ascii_digit).collect();
        let international = match (plus, digits.len(), digits.chars().next()) {
            (true, 8..=15, _) => digits,
            (false, 11, Some('8')) => format!("7{}", &digits[1..]),
            (false, 11, Some('7')) => digits,
            (false, 10, Some('9')) => format!("7{digits}"),
            _ => return Err(err("not a phone number")),
        };
        Ok(Phone(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown on receipts: the last four digits only.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("+{}{}", "*".repeat(n - 5), &self.0[n - 4..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The card number carried by magnetic stripe data: track 1 (`%B<number>^NAME^…?`), track 2
/// (`;<number>=…?`) or track 3 (`;<number>=…?`), alone or several in a row; the first track
/// that carries a number wins.
pub fn card_from_magstripe(raw: &str) -> Result<CardNo, IdError> {
    let err = |reason: &str| IdError {
        kind: "magnetic stripe",
        reason: reason.to_owned(),
    };
    let mut rest = raw.trim();
    while let Some(start) = rest.find(['%', ';']) {
        let track = &rest[start..];
        let end = track.find('?').unwrap_or(track.len());
        let body = &track[1..end];
        let number = if track.starts_with('%') {
            // Track 1, format B: the number ends at the field separator.
            body.strip_prefix(['B', 'b'])
                .and_then(|b| b.split('^').next())
        } else {
            body.split('=').next()
        };
        if let Some(n) = number.and_then(|n| CardNo::new(n).ok()) {
            return Ok(n);
        }
        rest = &track[end.min(track.len() - 1) + 1..];
    }
    Err(err("no track carries a card number"))
}

/// A purchase is identified by the cashbox that rang it up and its cheque number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PurchaseKey {
    pub cashbox: CashboxId,
    pub cheque: ChequeId,
}

/// The purchase id printed on the slip and returned in every answer about a purchase:
/// `<cashbox>/<cheque>` (the cheque id may itself hold `/`; the cashbox is digits).
impl fmt::Display for PurchaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cashbox.0, self.cheque)
    }
}

impl PurchaseKey {
    pub fn parse(s: &str) -> Result<PurchaseKey, IdError> {
        let refused = |reason: &str| IdError {
            kind: "purchase id",
            reason: format!("{reason} (cashbox/cheque, e.g. 12/000345)"),
        };
        let (cashbox, cheque) = s.split_once('/').ok_or_else(|| refused("no '/'"))?;
        if cashbox.is_empty() || !cashbox.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused("the cashbox is not a number"));
        }
        let cashbox = cashbox
            .parse()
            .map_err(|_| refused("the cashbox is out of range"))?;
        Ok(PurchaseKey {
            cashbox: CashboxId(cashbox),
            cheque: ChequeId::new(cheque).map_err(|e| refused(&e.reason))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_id_round_trip() {
        let s = "0191f2a4-7c1e-7b3a-9d2e-3f4a5b6c7d8e";
        assert_eq!(OpId::parse(s).unwrap().to_string(), s);
        assert!(OpId::parse("not-a-uuid").is_err());
        assert!(OpId::parse("00000000-0000-0000-0000-000000000000").is_err());
    }

    #[test]
    fn text_ids_are_validated() {
        assert!(CardNo::new("2770000000017").is_ok());
        assert!(CardNo::new("27700A").is_err());
        assert!(CardNo::new("").is_err());
        assert!(CardNo::new(&"1".repeat(33)).is_err());
        assert!(ChequeId::new("A 1").is_err());
        let key = PurchaseKey::parse("12/A/7").unwrap();
        assert_eq!((key.cashbox, key.cheque.as_str()), (CashboxId(12), "A/7"));
        assert_eq!(key.to_string(), "12/A/7");
        for bad in ["", "12", "/7", "x/7", "12/", "99999999999/7", "12/a b"] {
            assert!(PurchaseKey::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            CardNo::new("2770000000017").unwrap().masked(),
            "*********0017"
        );
    }

    proptest::proptest! {
        /// Stored records and answers written before ids were held as small strings read
        /// the same: an id encodes as its text, short (inline) or long (shared).
        #[test]
        fn text_ids_encode_as_their_text(s in "[!-~]{1,64}") {
            let id = ProductCode::new(&s).unwrap();
            let bytes = postcard::to_allocvec(&id).unwrap();
            proptest::prop_assert_eq!(&bytes, &postcard::to_allocvec(&s).unwrap());
            let back: ProductCode = postcard::from_bytes(&bytes).unwrap();
            proptest::prop_assert_eq!(back.as_str(), s.as_str());
            proptest::prop_assert_eq!(serde_json::to_string(&id).unwrap(), serde_json::to_string(&s).unwrap());
            proptest::prop_assert_eq!(id.cmp(&ProductCode::new("M").unwrap()), s.as_str().cmp("M"));
        }
    }

    #[test]
    fn phones_normalise_to_international_form() {
        for (given, then) in [
            ("+7 999 000-11-22", Some("+79990001122")),
            ("8 (999) 000-11-22", Some("+79990001122")),
            ("79990001122", Some("+79990001122")),
            ("9990001122", Some("+79990001122")),
            ("+44 20 7946 0958", Some("+442079460958")),
            ("+1234567", None),
            ("12345", None),
            ("+7999abc", None),
            ("89990001122x", None),
            ("", None),
        ] {
            assert_eq!(
                Phone::parse(given).ok().map(|p| p.to_string()),
                then.map(str::to_owned),
                "{given}"
            );
        }
        assert_eq!(
            Phone::parse("+79990001122").unwrap().masked(),
            "+*******1122"
        );
    }

    #[test]
    fn any_track_of_a_magnetic_stripe_can_carry_the_card() {
        for (given, then) in [
            (
                "%B2770000000017^IVANOV/IVAN^2712101?",
                Some("2770000000017"),
            ),
            (";2770000000017=27121010000?", Some("2770000000017")),
            ("%B^NONAME^?;2770000000024=2712?", Some("2770000000024")),
            ("%Bxx^A^?;?;011234=99?", Some("011234")),
            ("garbage", None),
            ("%B^^?", None),
            (";=?", None),
            ("%", None),
            (";", None),
        ] {
            assert_eq!(
                card_from_magstripe(given).ok().map(|c| c.to_string()),
                then.map(str::to_owned),
                "{given}"
            );
        }
    }

    #[test]
    fn operator_names_are_validated() {
        assert_eq!(
            OperatorName::new("ops.alice@hq").unwrap().as_str(),
            "ops.alice@hq"
        );
        assert_eq!(
            OperatorName::new(&"a".repeat(32)).unwrap().as_str().len(),
            32
        );
        assert!(OperatorName::new(&"a".repeat(33)).is_err());
        assert!(OperatorName::new("Alice").is_err());
        assert!(OperatorName::new("").is_err());
        assert!(OperatorName::new("a\0b").is_err());
    }

    #[test]
    fn shards_spread_consecutive_accounts() {
        let used: std::collections::BTreeSet<u16> =
            (1..=1000).map(|i| AccountId(i).shard()).collect();
        assert_eq!(used.len(), usize::from(SHARDS));
    }
}
