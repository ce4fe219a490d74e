//! How records encode: local times as numbers in binary records (exact for every
//! representable time), as calendar text in readable ones.

use chrono::{DateTime, NaiveDateTime};
use loyalty_core::ids::{CouponCode, CouponSeriesId};
use loyalty_core::outcome::IssuedCoupon;
use proptest::prelude::*;

fn coupon(expires: NaiveDateTime) -> IssuedCoupon {
    IssuedCoupon {
        code: CouponCode::new("123456789012").expect("code"),
        series: CouponSeriesId(7),
        name: "ten off".into(),
        expires,
    }
}

proptest! {
    #[test]
    fn binary_records_keep_every_local_time_exactly(
        secs in -62_000_000_000i64..250_000_000_000,
        nanos in 0u32..1_000_000_000,
    ) {
        let t = DateTime::from_timestamp(secs, nanos).expect("in range").naive_utc();
        let bytes = postcard::to_stdvec(&coupon(t)).expect("encodes");
        let back: IssuedCoupon = postcard::from_bytes(&bytes).expect("decodes");
        prop_assert_eq!(back.expires, t);
    }
}

#[test]
fn binary_records_store_local_times_as_numbers() {
    let t =
        NaiveDateTime::parse_from_str("2026-11-23 12:00:00", "%Y-%m-%d %H:%M:%S").expect("time");
    let bytes = postcard::to_stdvec(&coupon(t)).expect("encodes");
    // Code, series, name, then seconds (zigzag varint, 5 bytes) and nanoseconds (1 byte).
    assert_eq!(bytes.len(), 1 + 12 + 1 + 1 + 7 + 5 + 1);
    assert!(!bytes.windows(4).any(|w| w == b"2026"));
}

#[test]
fn readable_records_show_local_times_as_text() {
    let t =
        NaiveDateTime::parse_from_str("2026-11-23 12:00:00", "%Y-%m-%d %H:%M:%S").expect("time");
    let json = serde_json::to_string(&coupon(t)).expect("encodes");
    assert!(
        json.contains(r#""expires":"2026-11-23T12:00:00""#),
        "{json}"
    );
    let back: IssuedCoupon = serde_json::from_str(&json).expect("decodes");
    assert_eq!(back.expires, t);
}

#[test]
fn a_binary_time_out_of_range_is_an_error() {
    let bytes = postcard::to_stdvec(&(
        CouponCode::new("123456789012").expect("code"),
        CouponSeriesId(7),
        "ten off",
        (i64::MAX, 0u32),
    ))
    .expect("encodes");
    assert!(postcard::from_bytes::<IssuedCoupon>(&bytes).is_err());
}
