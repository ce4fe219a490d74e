//! Wire ↔ domain conversions. Wire → domain validates every field and names the one that
//! is wrong; domain → wire destructures exhaustively, so a new field is a compile error
//! until it is mapped. Scalar fields here; what tills send in `till`, what administrators
//! send in `admin`, answers in `reply`.

mod admin;
mod reply;
mod till;

pub use admin::*;
pub use reply::*;
pub use till::*;

use crate::pb;
use chrono::NaiveDateTime;
use loyalty_core::amount::{Money, Points, Qty};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use std::fmt::Display;

/// A malformed field: the request is refused with INVALID_ARGUMENT and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    pub field: String,
    pub reason: String,
}

pub type Wire<T> = Result<T, WireError>;

fn bad(field: impl Display, reason: impl ToString) -> WireError {
    WireError {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

pub fn op_id(s: &str) -> Wire<OpId> {
    OpId::parse(s).map_err(|e| bad("operation_id", e))
}

pub fn card(field: impl Display, s: &str) -> Wire<CardNo> {
    CardNo::new(s).map_err(|e| bad(&field, e))
}

pub fn optional_card(field: impl Display, s: &str) -> Wire<Option<CardNo>> {
    if s.is_empty() {
        Ok(None)
    } else {
        card(field, s).map(Some)
    }
}

pub fn cheque_id(field: impl Display, s: &str) -> Wire<ChequeId> {
    ChequeId::new(s).map_err(|e| bad(&field, e))
}

/// A purchase id as printed on the slip: `<cashbox>/<cheque>`.
pub fn purchase_id(field: impl Display, s: &str) -> Wire<PurchaseKey> {
    PurchaseKey::parse(s).map_err(|e| bad(&field, e))
}

pub fn points(field: impl Display, s: &str) -> Wire<Points> {
    Points::parse(s).map_err(|e| bad(&field, e))
}

/// A signed amount of points: "150.00" or "-20.50".
pub fn signed_points(field: impl Display, s: &str) -> Wire<Points> {
    let s = s.trim();
    match s.strip_prefix('-') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            points(field, rest).map(|p| Points(-p.0))
        }
        _ => points(field, s),
    }
}

/// Customer profile text (names, phones, card types): bounded, no control characters.
pub fn profile_text(field: impl Display, s: &str, max: usize) -> Wire<String> {
    if s.len() > max {
        return Err(bad(&field, format!("longer than {max} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(&field, "control characters are not allowed"));
    }
    Ok(s.trim().to_owned())
}

pub fn certificate_code(field: impl Display, s: &str) -> Wire<CertificateCode> {
    CertificateCode::new(s).map_err(|e| bad(&field, e))
}

/// A gift certificate to issue, as a till sells it or an administrator issues it: its code,
/// an amount up to [`crate::limits::CERTIFICATE_AMOUNT_MAX`] and its validity in days.
pub fn issue_certificate(
    code: &str,
    amount: &str,
    valid_days: u32,
) -> Wire<loyalty_core::command::Command> {
    let amount = money("amount", amount)?;
    if amount.0 <= 0 || amount.0 > crate::limits::CERTIFICATE_AMOUNT_MAX {
        return Err(bad(
            "amount",
            format!(
                "more than 0, at most {}",
                Money(crate::limits::CERTIFICATE_AMOUNT_MAX)
            ),
        ));
    }
    Ok(loyalty_core::command::Command::IssueCertificate {
        code: certificate_code("code", code)?,
        amount,
        valid_days,
    })
}

pub fn money(field: impl Display, s: &str) -> Wire<Money> {
    Money::parse(s).map_err(|e| bad(&field, e))
}

pub fn positive_qty(field: impl Display, s: &str) -> Wire<Qty> {
    let q = Qty::parse(s).map_err(|e| bad(&field, e))?;
    if q.0 == 0 {
        return Err(bad(&field, "must be positive"));
    }
    Ok(q)
}

/// A cashbox's local time, within the years a till's clock can sensibly show (so that
/// lifetimes added to it stay far from the calendar's limits).
pub fn local_time(field: impl Display, s: &str) -> Wire<NaiveDateTime> {
    use chrono::Datelike;
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map_err(|e| bad(&field, format!("expected YYYY-MM-DDTHH:MM:SS ({e})")))?;
    if !(2000..=2200).contains(&t.year()) {
        return Err(bad(&field, "the year must be within 2000-2200"));
    }
    Ok(t)
}

/// A server time as RFC 3339 with its offset (within the years 2000-2200), or empty.
pub fn optional_time(
    field: impl Display,
    s: &str,
) -> Wire<Option<loyalty_core::model::UnixMillis>> {
    use chrono::Datelike;
    if s.is_empty() {
        return Ok(None);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| {
        bad(
            &field,
            format!("expected RFC 3339, e.g. 2027-01-15T12:00:00+03:00 ({e})"),
        )
    })?;
    if !(2000..=2200).contains(&t.year()) {
        return Err(bad(&field, "the year must be within 2000-2200"));
    }
    Ok(Some(loyalty_core::model::UnixMillis(t.timestamp_millis())))
}

/// A Loymax login: 1 to 64 of `A-Z a-z 0-9 . _ -`, or empty.
pub fn optional_login(field: impl Display, s: &str) -> Wire<Option<String>> {
    if s.is_empty() {
        return Ok(None);
    }
    let fits = s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !fits {
        return Err(bad(&field, "1 to 64 of A-Z a-z 0-9 . _ -"));
    }
    Ok(Some(s.to_owned()))
}

pub fn optional_order(field: impl Display, s: &str) -> Wire<Option<OrderNo>> {
    if s.is_empty() {
        Ok(None)
    } else {
        OrderNo::new(s).map(Some).map_err(|e| bad(&field, e))
    }
}

pub fn optional_pin(field: impl Display, s: &str) -> Wire<Option<Pin>> {
    if s.is_empty() {
        return Ok(None);
    }
    Pin::new(s).map(Some).map_err(|e| bad(&field, e))
}

/// A phone in its normalised form, or empty.
pub fn optional_phone(field: impl Display, s: &str) -> Wire<String> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    Phone::parse(s)
        .map(|p| p.to_string())
        .map_err(|e| bad(&field, e))
}

/// A date of birth, `YYYY-MM-DD`, or empty: from 1900 on and not after `today` (with a
/// day's grace for the time zones).
pub fn birth_date(
    field: impl Display,
    s: &str,
    today: chrono::NaiveDate,
) -> Wire<Option<chrono::NaiveDate>> {
    use chrono::Datelike;
    if s.trim().is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| bad(&field, format!("YYYY-MM-DD: {e}")))?;
    let latest = today.succ_opt().unwrap_or(today);
    if d.year() < 1900 || d > latest {
        return Err(bad(&field, "from 1900 on, not in the future"));
    }
    Ok(Some(d))
}

fn zero_or(field: impl Display, s: &str) -> Wire<i64> {
    if s.is_empty() {
        return Ok(0);
    }
    Money::parse(s).map(|m| m.0).map_err(|e| bad(&field, e))
}

pub fn card_status(field: impl Display, s: i32) -> Wire<CardStatus> {
    match pb::CardStatus::try_from(s) {
        Ok(pb::CardStatus::Prepared) => Ok(CardStatus::Prepared),
        Ok(pb::CardStatus::Issued) => Ok(CardStatus::Issued),
        Ok(pb::CardStatus::Activated) => Ok(CardStatus::Activated),
        Ok(pb::CardStatus::Blocked) => Ok(CardStatus::Blocked),
        _ => Err(bad(&field, "unknown card status")),
    }
}

pub fn cashbox_kind(k: i32) -> Wire<CashboxKind> {
    match pb::CashboxKind::try_from(k) {
        Ok(pb::CashboxKind::Pos) => Ok(CashboxKind::Pos),
        Ok(pb::CashboxKind::SelfCheckout) => Ok(CashboxKind::SelfCheckout),
        _ => Err(bad("kind", "must be POS or SELF_CHECKOUT")),
    }
}

/// A server time as RFC 3339 in UTC, to the second.
pub fn rfc3339(at: loyalty_core::model::UnixMillis) -> String {
    chrono::DateTime::from_timestamp_millis(at.0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_core::command::Presented;
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        /// Hostile input: arbitrary bytes through protobuf decoding and conversion never
        /// panic; whatever converts is within the documented limits.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(m) = pb::PayWithBonusRequest::decode(bytes.as_slice()) {
                let _ = op_id(&m.operation_id);
                let _ = points("points", &m.points);
                if let Ok(c) = cheque(m.cheque, 500) {
                    prop_assert!(c.lines.len() <= 500 && !c.cheque.as_str().is_empty());
                }
            }
            if let Ok(m) = pb::OfflineBatch::decode(bytes.as_slice()) {
                for (i, item) in m.items.into_iter().enumerate() {
                    let _ = offline_item(i, item, 500);
                }
            }
            if let Ok(m) = pb::RefundRequest::decode(bytes.as_slice()) {
                let _ = refund_lines(m.lines, 500);
            }
            if let Ok(m) = pb::CreateOrderRequest::decode(bytes.as_slice()) {
                let _ = order_lines(m.lines, 500);
                let _ = optional_order("order", &m.order);
            }
            if let Ok(m) = pb::SetCouponSeriesRequest::decode(bytes.as_slice()) {
                let _ = coupon_series(m.series);
            }
            if let Ok(m) = pb::IssueCouponsRequest::decode(bytes.as_slice()) {
                let _ = coupon_codes(&m.codes);
            }
            if let Ok(m) = pb::UpsertOfferRequest::decode(bytes.as_slice()) {
                let _ = offer(m.offer);
            }
            if let Ok(m) = pb::ImportProductsRequest::decode(bytes.as_slice()) {
                for (i, p) in m.products.into_iter().enumerate() {
                    let _ = product(i, p);
                }
            }
            if let Ok(m) = pb::BalanceRequest::decode(bytes.as_slice()) {
                let _ = presented("identifiers", m.identifiers);
            }
            if let Ok(m) = pb::RegisterCustomerRequest::decode(bytes.as_slice()) {
                let _ = optional_phone("phone", &m.phone);
                let _ = profile_text("name", &m.name, 256);
            }
        }

        /// Arbitrary identifiers of every kind: refused naming the field, or parsed into
        /// something well-formed.
        #[test]
        fn arbitrary_identifiers_are_refused_or_well_formed(kind in 0i32..6, value in ".{0,300}") {
            match presented("ids", vec![pb::Identifier { kind, value }]) {
                Ok(ids) => {
                    prop_assert_eq!(ids.len(), 1);
                    match &ids[0] {
                        Presented::Card { number, .. } => prop_assert!(number.as_str().bytes().all(|b| b.is_ascii_digit())),
                        Presented::Phone(p) => prop_assert!(p.as_str().starts_with('+') && p.as_str().len() <= 16),
                        Presented::Qr { code, .. } => prop_assert!(*code < 1_000_000),
                        Presented::Auto(v) => prop_assert!(!v.is_empty() && v.len() <= 256),
                    }
                }
                Err(e) => prop_assert!(e.field.starts_with("ids[0].")),
            }
        }

        /// Arbitrary field values: every conversion either refuses with a named field or
        /// yields amounts within bounds.
        #[test]
        fn arbitrary_field_values_are_refused_or_bounded(
            id in ".{0,80}", card in ".{0,40}", at in ".{0,30}", qty in ".{0,20}", price in ".{0,20}", pts in ".{0,20}", cashier in ".{0,70}", min in ".{0,20}",
        ) {
            let c = pb::Cheque { cheque_id: id, card, local_time: at, lines: vec![pb::Line { product: "p".into(), quantity: qty, price, discount: String::new(), promotional: true, min_price: min }], cashier, identifiers: Vec::new(), pin: String::new(), tenders: Vec::new(), coupons: Vec::new(), order: String::new() };
            match cheque(Some(c), 500) {
                Ok(c) => {
                    let l = &c.lines[0];
                    prop_assert!(l.qty.0 > 0 && l.qty.0 <= loyalty_core::amount::QTY_MILLI_MAX);
                    prop_assert!(l.price.0 >= 0 && l.price.0 <= loyalty_core::amount::AMOUNT_MINOR_MAX);
                    prop_assert!(l.min_price.0 >= 0 && l.min_price.0 <= loyalty_core::amount::AMOUNT_MINOR_MAX);
                    prop_assert!(l.promotional);
                }
                Err(e) => prop_assert!(e.field.starts_with("cheque")),
            }
            if let Ok(p) = points("points", &pts) {
                prop_assert!(p.0 >= 0 && p.0 <= loyalty_core::amount::AMOUNT_MINOR_MAX);
            }
        }
    }

    #[test]
    fn local_times_stay_within_a_tills_years() {
        assert!(local_time("t", "2026-11-23T12:00:00").is_ok());
        for bad in [
            "1999-12-31T23:59:59",
            "2201-01-01T00:00:00",
            "+262143-12-31T00:00:00",
        ] {
            assert_eq!(local_time("t", bad).unwrap_err().field, "t", "{bad}");
        }
    }

    /// A value that cannot be an identifier of its kind is the same error for every kind,
    /// `AUTO` included: the field named, whatever the till meant.
    #[test]
    fn a_bad_identifier_is_refused_alike_for_every_kind() {
        use pb::IdentifierKind as K;
        for kind in [K::Barcode, K::Magstripe, K::Phone, K::Qr, K::Auto] {
            for value in ["abc-1", "%B^NOBODY^?"] {
                let ids = vec![pb::Identifier {
                    kind: kind.into(),
                    value: value.into(),
                }];
                let e = presented("identifiers", ids).unwrap_err();
                assert_eq!(e.field, "identifiers[0].value", "{kind:?} {value}");
            }
        }
        // What AUTO can tell by form still goes through.
        for value in [
            "2770000000017",
            "+7 999 000-11-22",
            "%B2770000000017^A/B^2712?",
            "2770000000017:123456",
        ] {
            let ids = vec![pb::Identifier {
                kind: K::Auto.into(),
                value: value.into(),
            }];
            assert!(presented("identifiers", ids).is_ok(), "{value}");
        }
    }

    /// A refund names the sale by its purchase id, whatever the selling cashbox's number —
    /// 0 included — or by its cheque at `sale_cashbox_id` (0: this cashbox).
    #[test]
    fn a_refund_names_the_selling_cashbox_as_asked() {
        let sold_at = |r: pb::RefundRequest| match refund(r, 10).unwrap() {
            loyalty_core::command::Command::Refund { sold_at, .. } => sold_at,
            other => panic!("{other:?}"),
        };
        let base = pb::RefundRequest {
            refund_cheque_id: "r1".into(),
            lines: vec![pb::RefundLine {
                line_index: 0,
                quantity: "1".into(),
            }],
            ..Default::default()
        };
        let by_id = |id: &str| pb::RefundRequest {
            purchase_id: id.into(),
            ..base.clone()
        };
        assert_eq!(sold_at(by_id("0/c1")), Some(CashboxId(0)));
        assert_eq!(sold_at(by_id("12/c1")), Some(CashboxId(12)));
        let by_cheque = |cashbox: u32| pb::RefundRequest {
            purchase_cheque_id: "c1".into(),
            sale_cashbox_id: cashbox,
            ..base.clone()
        };
        assert_eq!(sold_at(by_cheque(0)), None);
        assert_eq!(sold_at(by_cheque(12)), Some(CashboxId(12)));
    }

    /// Settings that would silently mean something else are refused, naming the field.
    #[test]
    fn no_setting_means_something_silently() {
        let range = |prefix: &str, check: pb::CheckDigit, remove: bool| pb::SetCardRangeRequest {
            operation_id: String::new(),
            prefix: prefix.into(),
            length: 13,
            check: check.into(),
            card_type: "Standard".into(),
            remove,
        };
        use pb::CheckDigit as C;
        assert_eq!(
            card_range(range("277", C::Unspecified, false))
                .unwrap_err()
                .field,
            "check"
        );
        assert_eq!(
            card_range(range("", C::Ean13, false)).unwrap_err().field,
            "prefix"
        );
        assert!(card_range(range("277", C::None, false)).is_ok());
        // Removing a range names it by prefix and length only.
        assert!(card_range(range("277", C::Unspecified, true)).is_ok());
        assert_eq!(identifier_policy(&[]).unwrap_err().field, "redeem_via");
        assert!(identifier_policy(&[pb::IdentifierKind::Barcode.into()]).is_ok());
    }

    #[test]
    fn malformed_fields_are_named() {
        let c = pb::Cheque {
            cheque_id: "c1".into(),
            card: "".into(),
            local_time: "2026-11-23T12:00:00".into(),
            identifiers: Vec::new(),
            pin: String::new(),
            tenders: Vec::new(),
            cashier: String::new(),
            lines: vec![pb::Line {
                product: "p".into(),
                quantity: "1".into(),
                price: "-1".into(),
                ..Default::default()
            }],
            coupons: Vec::new(),
            order: String::new(),
        };
        assert_eq!(
            cheque(Some(c.clone()), 10).unwrap_err().field,
            "cheque.lines[0].price"
        );
        let mut c2 = c.clone();
        c2.lines[0].price = "1".into();
        c2.lines[0].quantity = "0".into();
        assert_eq!(
            cheque(Some(c2), 10).unwrap_err().field,
            "cheque.lines[0].quantity"
        );
        let mut c3 = c.clone();
        c3.lines[0].price = "1".into();
        c3.local_time = "23.11.2026".into();
        assert_eq!(
            cheque(Some(c3.clone()), 10).unwrap_err().field,
            "cheque.local_time"
        );
        c3.local_time = "2026-11-23T12:00:00".into();
        assert!(cheque(Some(c3), 10).is_ok());
        assert_eq!(cheque(Some(c), 0).unwrap_err().field, "cheque.lines");
        assert_eq!(cheque(None, 10).unwrap_err().field, "cheque");
        assert!(op_id("x").is_err());
    }

    #[test]
    fn an_offer_s_own_points_terms_are_for_accrual_and_bounded() {
        let offer = |effect: pb::OfferEffect, terms: pb::PointsTerms| pb::Offer {
            id: 9,
            effect: effect.into(),
            percent: "10".into(),
            valid_from: "2026-01-01T00:00:00".into(),
            valid_to: "2027-01-01T00:00:00".into(),
            enabled: true,
            points_terms: Some(terms),
            ..Default::default()
        };
        let week = pb::PointsTerms {
            pending_secs: 0,
            lifetime_secs: 7 * 24 * 3600,
        };
        let o = admin::offer(Some(offer(pb::OfferEffect::Accrual, week))).unwrap();
        assert_eq!(
            o.lots,
            Some(LotTerms {
                pending_secs: 0,
                lifetime_secs: Some(7 * 24 * 3600)
            })
        );
        let never = pb::PointsTerms {
            pending_secs: 60,
            lifetime_secs: 0,
        };
        let o = admin::offer(Some(offer(pb::OfferEffect::Accrual, never))).unwrap();
        assert_eq!(o.lots.unwrap().lifetime_secs, None, "0: never expire");
        let e = admin::offer(Some(offer(pb::OfferEffect::Discount, week))).unwrap_err();
        assert_eq!(e.field, "offer.points_terms");
        let forever = pb::PointsTerms {
            pending_secs: u64::MAX,
            lifetime_secs: 0,
        };
        let e = admin::offer(Some(offer(pb::OfferEffect::Accrual, forever))).unwrap_err();
        assert!(e.reason.contains("hundred years"), "{}", e.reason);
    }

    /// The mechanics and limits as the wire gives them: defaults filled in, bad values
    /// named.
    #[test]
    fn mechanics_and_limits_from_the_wire() {
        let offer = |effect: pb::OfferEffect, f: fn(&mut pb::Offer)| {
            let mut o = pb::Offer {
                id: 9,
                effect: effect.into(),
                valid_from: "2026-01-01T00:00:00".into(),
                valid_to: "2027-01-01T00:00:00".into(),
                enabled: true,
                ..Default::default()
            };
            f(&mut o);
            admin::offer(Some(o))
        };
        let all = loyalty_core::amount::Percent::parse("100").unwrap();
        let o = offer(pb::OfferEffect::Stamps, |o| o.stamps_every = 6).unwrap();
        assert_eq!(
            o.effect,
            OfferEffect::Stamps {
                every: 6,
                percent: all
            }
        );
        let o = offer(pb::OfferEffect::Multibuy, |o| (o.buy, o.get) = (2, 1)).unwrap();
        assert_eq!(
            o.effect,
            OfferEffect::Multibuy {
                buy: 2,
                get: 1,
                percent: all
            }
        );
        let o = offer(pb::OfferEffect::Bundle, |o| o.bundle_price = "120".into()).unwrap();
        assert_eq!(
            o.effect,
            OfferEffect::Bundle {
                price: Money(12000)
            }
        );
        let o = offer(pb::OfferEffect::Gift, |o| o.gift_product = "kefir".into()).unwrap();
        assert_eq!(
            o.effect,
            OfferEffect::Gift {
                product: ProductCode::new("kefir").unwrap(),
                qty: Qty(1000)
            }
        );
        let o = offer(pb::OfferEffect::Discount, |o| {
            o.percent = "10".into();
            o.budget_total = "500".into();
            o.uses_per_customer = 2;
        })
        .unwrap();
        assert_eq!(
            o.limits,
            Some(OfferLimits {
                total: Some(50000),
                per_customer_day: None,
                uses_per_customer: Some(2)
            })
        );
        let e = offer(pb::OfferEffect::Bundle, |o| o.bundle_price = "x".into()).unwrap_err();
        assert_eq!(e.field, "offer.bundle_price");
        let e = offer(pb::OfferEffect::Gift, |o| {
            o.gift_product = "kefir".into();
            o.gift_quantity = "0".into();
        })
        .unwrap_err();
        assert_eq!(e.field, "offer.gift_quantity");
        let e = offer(pb::OfferEffect::Discount, |o| {
            o.percent = "10".into();
            o.budget_per_customer_day = "-1".into();
        })
        .unwrap_err();
        assert_eq!(e.field, "offer.budget_per_customer_day");
    }
}
