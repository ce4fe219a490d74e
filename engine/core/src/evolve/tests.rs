//! The record format's own tests: shapes cut where older formats ended them, defaults
//! filled in, fingerprints unchanged by appended fields at their default.

use super::*;
use serde::{Deserialize, Serialize};

#[test]
fn the_table_lists_fields_in_format_order_with_one_byte_defaults() {
    assert!(APPENDED.windows(2).all(|w| w[0].format <= w[1].format));
    assert!(APPENDED
        .iter()
        .all(|a| a.format > OLDEST_FORMAT && a.format <= RECORD_FORMAT));
}

#[test]
fn a_struct_ends_where_its_format_ended_it() {
    let cut = |format, container, variant, fields| fields_in(format, container, variant, fields);
    // The module's table: Purchase gained `refund_keys` in format 5.
    const F: &[&str] = &["key", "refunds", "refund_keys"];
    assert_eq!(cut(4, "Purchase", "", F), &F[..2]);
    assert_eq!(cut(5, "Purchase", "", F), F);
    // Same field name elsewhere is not cut.
    assert_eq!(cut(4, "Order", "", F), F);
    assert_eq!(
        cut(4, "Event", "RefundRecorded", &["refund", "refunded_at"]),
        &["refund"]
    );
    assert_eq!(
        cut(4, "Event", "PurchaseRegistered", &["refunded_at"]),
        &["refunded_at"]
    );
}

#[test]
fn an_older_record_decodes_with_defaults_for_appended_fields() {
    // Shapes checked through the real table: a Purchase-like struct named `Purchase`.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Purchase {
        key: u32,
        refunds: Vec<u32>,
        #[serde(default)]
        refund_keys: Vec<(u32, u32)>,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename = "Purchase")]
    struct PurchaseBefore {
        key: u32,
        refunds: Vec<u32>,
    }
    // Nested in a list, an option and a tuple, next to a field after it.
    let before = (
        vec![PurchaseBefore {
            key: 7,
            refunds: vec![1, 2],
        }],
        Some(PurchaseBefore {
            key: 8,
            refunds: vec![],
        }),
        99u8,
    );
    let bytes = postcard::to_allocvec(&before).unwrap();
    let now: (Vec<Purchase>, Option<Purchase>, u8) = decode_older(4, &bytes).unwrap();
    assert_eq!(
        now,
        (
            vec![Purchase {
                key: 7,
                refunds: vec![1, 2],
                refund_keys: vec![]
            }],
            Some(Purchase {
                key: 8,
                refunds: vec![],
                refund_keys: vec![]
            }),
            99
        )
    );
    // A record of the current format has the field.
    let full = Purchase {
        key: 1,
        refunds: vec![3],
        refund_keys: vec![(3, 4)],
    };
    let bytes = postcard::to_allocvec(&full).unwrap();
    assert_eq!(decode_older::<Purchase>(5, &bytes).unwrap(), full);
}

#[test]
fn struct_variants_are_cut_by_enum_and_variant() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Event {
        Other {
            refunded_at: u8,
        },
        RefundRecorded {
            refund: u32,
            #[serde(default)]
            refunded_at: Option<u32>,
        },
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename = "Event")]
    enum EventBefore {
        Other { refunded_at: u8 },
        RefundRecorded { refund: u32 },
    }
    let bytes = postcard::to_allocvec(&vec![
        EventBefore::RefundRecorded { refund: 5 },
        EventBefore::Other { refunded_at: 3 },
    ])
    .unwrap();
    let now: Vec<Event> = decode_older(4, &bytes).unwrap();
    assert_eq!(
        now,
        vec![
            Event::RefundRecorded {
                refund: 5,
                refunded_at: None
            },
            Event::Other { refunded_at: 3 }
        ]
    );
}

#[test]
fn shapes_without_appended_fields_decode_unchanged() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Newtype(String),
        Tuple(u8, i64),
        Struct {
            a: Option<u16>,
            b: Vec<(String, bool)>,
        },
    }
    let all = vec![
        Shape::Unit,
        Shape::Newtype("x".into()),
        Shape::Tuple(1, -2),
        Shape::Struct {
            a: Some(3),
            b: vec![("y".into(), true)],
        },
    ];
    let bytes = postcard::to_allocvec(&all).unwrap();
    assert_eq!(decode_older::<Vec<Shape>>(4, &bytes).unwrap(), all);
    assert_eq!(canonical(&all, Vec::new()), bytes);
}

#[test]
fn the_canonical_encoding_leaves_out_appended_fields_at_their_default() {
    #[derive(Serialize)]
    enum Command {
        Refund { refund: u32, sold_at: Option<u32> },
    }
    #[derive(Serialize)]
    #[serde(rename = "Command")]
    enum CommandBefore {
        Refund { refund: u32 },
    }
    let before = postcard::to_allocvec(&(1u8, CommandBefore::Refund { refund: 9 })).unwrap();
    let now = canonical(
        &(
            1u8,
            Command::Refund {
                refund: 9,
                sold_at: None,
            },
        ),
        Vec::new(),
    );
    assert_eq!(now, before);
    let other = canonical(
        &(
            1u8,
            Command::Refund {
                refund: 9,
                sold_at: Some(4),
            },
        ),
        Vec::new(),
    );
    assert_ne!(other, before);
    assert_eq!(
        other,
        postcard::to_allocvec(&(
            1u8,
            Command::Refund {
                refund: 9,
                sold_at: Some(4)
            }
        ))
        .unwrap()
    );
}
