//! Coupons: shown with a cheque, used once, issued by offers, refused when wrong, and never
//! failing the cheque.

use crate::fixture::*;
use crate::offers::*;
use crate::properties::check_invariants;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::calculate;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;

fn coupon_offer(w: &mut World, series: u32) {
    w.admin_ok(Command::UpsertOffer {
        offer: when(discount(60, pct("10")), |c| {
            c.coupon = Some(CouponSeriesId(series))
        }),
    });
}

fn issue(w: &mut World, series: u32, code: &str, card_no: Option<&str>, until: u32) {
    w.admin_ok(Command::IssueCoupons {
        series: CouponSeriesId(series),
        codes: vec![CouponCode::new(code).unwrap()],
        card: card_no.map(card),
        expires: local(until),
    });
}

fn register(w: &mut World, card_no: Option<&str>, id: &str, coupons: &[&str]) -> Reply {
    let mut c = World::cheque(card_no, id, &[("bread", "1", "100")]);
    c.coupons = coupons.iter().map(|s| s.to_string()).collect();
    w.cash(POS, Command::RegisterPurchase { cheque: c })
}

fn notes(r: &Reply) -> Vec<String> {
    r.messages
        .iter()
        .filter(|m| m.to == MessageTo::Cashier)
        .map(|m| m.text.clone())
        .collect()
}

#[test]
fn coupons_are_used_once_and_never_fail_the_cheque() {
    let mut w = bare();
    coupon_offer(&mut w, 1);
    issue(&mut w, 1, "ONCE-1", None, 23);
    issue(&mut w, 1, "ANNAS-1", Some(EMPTY), 23);
    issue(&mut w, 1, "OLD-1", None, 10);
    // Used by the first purchase: discounted, recorded.
    let r = register(&mut w, Some(GOLD), "c1", &["ONCE-1"]);
    assert_eq!(r.totals.unwrap().discount, money("10"));
    assert_eq!(r.coupons_used, vec![CouponCode::new("ONCE-1").unwrap()]);
    // A second purchase: the coupon is used up, the cheque goes through at full price.
    let r = register(&mut w, Some(GOLD), "c2", &["ONCE-1"]);
    assert!(r.is_ok());
    assert_eq!(r.totals.unwrap().discount, Money::ZERO);
    assert_eq!(notes(&r), ["coupon ONCE-1: already used"]);
    // Cancelling the first purchase gives the use back.
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
    let r = register(&mut w, Some(GOLD), "c3", &["ONCE-1"]);
    assert_eq!(r.totals.unwrap().discount, money("10"));
    // Unknown, garbled, expired, another customer's, without a card: notes, no failure.
    for (card_no, shown, note) in [
        (Some(GOLD), "NOPE-1", "coupon NOPE-1: unknown coupon"),
        (
            Some(GOLD),
            "bad code!",
            "coupon bad code!: not a coupon code",
        ),
        (Some(GOLD), "OLD-1", "coupon OLD-1: expired"),
        (
            Some(GOLD),
            "ANNAS-1",
            "coupon ANNAS-1: belongs to another customer",
        ),
        (None, "ANNAS-1", "coupon ANNAS-1: needs the customer's card"),
    ] {
        let id = format!("n-{}-{}", shown.replace(' ', "_"), card_no.is_some());
        let r = register(&mut w, card_no, &id, &[shown]);
        assert!(r.is_ok(), "{shown}: {}", r.message);
        assert_eq!(notes(&r), [note]);
        assert_eq!(r.totals.unwrap().discount, Money::ZERO);
    }
    // The owner may use their own coupon.
    let r = register(&mut w, Some(EMPTY), "own", &["ANNAS-1"]);
    assert_eq!(r.totals.unwrap().discount, money("10"));
    check_invariants(&w);
}

#[test]
fn offline_cheques_ignore_coupons() {
    let mut w = bare();
    // An accrual that needs a coupon: an offline cheque showing one gets nothing from it
    // and uses nothing.
    w.admin_ok(Command::UpsertOffer {
        offer: when(accrual(62, pct("20")), |c| {
            c.coupon = Some(CouponSeriesId(2))
        }),
    });
    issue(&mut w, 2, "OFF-1", None, 23);
    let mut c = World::cheque(Some(GOLD), "off", &[("bread", "1", "100")]);
    c.coupons = vec!["OFF-1".into()];
    let r = w.cash(
        POS,
        Command::ImportOfflinePurchase {
            cheque: c,
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.totals.unwrap().accrual, Points::ZERO);
    assert!(r.coupons_used.is_empty() && r.messages.is_empty());
    assert_eq!(
        w.state
            .coupon(&CouponCode::new("OFF-1").unwrap())
            .unwrap()
            .used,
        0
    );
    check_invariants(&w);
}

#[test]
fn unlimited_coupons_and_coupons_no_offer_asks_for() {
    let mut w = bare();
    coupon_offer(&mut w, 2);
    issue(&mut w, 2, "123456", None, 23);
    issue(&mut w, 1, "IDLE-1", None, 23);
    for id in ["u1", "u2", "u3"] {
        // Read from a magnetic stripe (track 2).
        let r = register(&mut w, Some(GOLD), id, &[";123456=0000?"]);
        assert_eq!(r.totals.unwrap().discount, money("10"), "{id}");
    }
    let r = register(&mut w, Some(GOLD), "idle", &["IDLE-1"]);
    assert_eq!(notes(&r), ["coupon IDLE-1: no offer for this cheque"]);
    assert!(r.coupons_used.is_empty());
    assert_eq!(
        w.state
            .coupon(&CouponCode::new("IDLE-1").unwrap())
            .unwrap()
            .used,
        0
    );
    check_invariants(&w);
}

#[test]
fn offers_issue_coupons_that_a_later_purchase_can_use() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: when(
            all_day(70, OfferEffect::IssueCoupon(CouponSeriesId(1))),
            |c| c.min_total = money("100"),
        ),
    });
    coupon_offer(&mut w, 1);
    // The preview announces it; the registration issues it to the customer's account.
    let c = World::cheque(Some(GOLD), "i1", &[("bread", "1", "150")]);
    let preview = calculate(&w.state, &w.program, POS, &c, w.now);
    assert_eq!(notes(&preview), ["the purchase earns a coupon: series 1"]);
    let r = w.cash(POS, Command::RegisterPurchase { cheque: c.clone() });
    assert_eq!(r.coupons_issued.len(), 1);
    let issued = r.coupons_issued[0].clone();
    assert_eq!(issued.code.as_str().len(), 12);
    assert_eq!(issued.expires, local(12) + chrono::Duration::days(30));
    let coupon = w.state.coupon(&issued.code).unwrap();
    assert_eq!(coupon.account, Some(w.account(GOLD).id));
    // Only its owner may use it, once.
    let r = register(&mut w, Some(EMPTY), "i2", &[issued.code.as_str()]);
    assert_eq!(
        notes(&r),
        [format!(
            "coupon {}: belongs to another customer",
            issued.code
        )]
    );
    let r = register(&mut w, Some(GOLD), "i3", &[issued.code.as_str()]);
    assert_eq!(r.coupons_used, vec![issued.code.clone()]);
    // Cancelling the purchase that issued it withdraws it.
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("i3")
            }
        )
        .is_ok());
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("i1")
            }
        )
        .is_ok());
    let r = register(&mut w, Some(GOLD), "i4", &[issued.code.as_str()]);
    assert_eq!(notes(&r), [format!("coupon {}: withdrawn", issued.code)]);
    check_invariants(&w);
}

#[test]
fn coupon_administration_refuses_what_is_wrong() {
    let mut w = bare();
    let run = |w: &mut World, c: Command| w.run(operator(), c).reply.code;
    let issue = |series: u32, codes: &[&str]| Command::IssueCoupons {
        series: CouponSeriesId(series),
        codes: codes.iter().map(|c| CouponCode::new(c).unwrap()).collect(),
        card: None,
        expires: local(23),
    };
    assert_eq!(run(&mut w, issue(9, &["X-1"])), Code::CouponSeriesUnknown);
    assert_eq!(run(&mut w, issue(1, &["X-1", "X-1"])), Code::CouponExists);
    assert_eq!(run(&mut w, issue(1, &["X-1"])), Code::Ok);
    assert_eq!(run(&mut w, issue(1, &["X-2", "X-1"])), Code::CouponExists);
    // For one customer: a card the engine knows, not a number merely in a card range.
    w.admin_ok(Command::SetCardRange {
        range: CardRange {
            prefix: "2990".into(),
            length: 13,
            check: CheckDigit::None,
            card_type: "Stand".into(),
        },
        active: true,
    });
    let for_card = |n: &str| Command::IssueCoupons {
        series: CouponSeriesId(1),
        codes: vec![CouponCode::new("X-3").unwrap()],
        card: Some(card(n)),
        expires: local(23),
    };
    assert_eq!(run(&mut w, for_card("2990000000001")), Code::CardUnknown);
    assert_eq!(run(&mut w, for_card(GOLD)), Code::Ok);
    let bound = w.state.coupon(&CouponCode::new("X-3").unwrap()).unwrap();
    assert_eq!(bound.account, Some(w.account(GOLD).id));
    assert!(w.state.coupon(&CouponCode::new("X-2").unwrap()).is_none());
    // Offers naming series that do not exist, or malformed ones, are refused.
    let bad = [
        when(discount(80, pct("5")), |c| {
            c.coupon = Some(CouponSeriesId(9))
        }),
        all_day(81, OfferEffect::IssueCoupon(CouponSeriesId(9))),
    ];
    for o in bad {
        assert_eq!(
            run(&mut w, Command::UpsertOffer { offer: o }),
            Code::CouponSeriesUnknown
        );
    }
    let invalid = [
        discount(82, Rate::Total(0)),
        accrual(83, Rate::PerLine(-5)),
        when(discount(84, pct("5")), |c| {
            c.hours = Some((hm(9, 0), hm(9, 0)))
        }),
        when(discount(85, pct("5")), |c| c.weekdays = 0x80),
        Offer {
            scope: OfferScope::Groups(Vec::new()),
            ..discount(86, pct("5"))
        },
        all_day(
            87,
            OfferEffect::Message {
                to: MessageTo::Cashier,
                template: " ".into(),
            },
        ),
    ];
    for o in invalid {
        let id = o.id;
        assert_eq!(
            run(&mut w, Command::UpsertOffer { offer: o }),
            Code::OfferInvalid,
            "{id:?}"
        );
    }
}

/// The EAN-13 of a 12-digit code, computed here independently: weights 1, 3 from the left.
fn ean13(code: &str) -> String {
    let sum: u32 = code
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{code}{}", (10 - sum % 10) % 10)
}

/// A printed coupon comes back through whatever the scanner reads: the code, its EAN-13,
/// the UPC-A reading of that EAN-13 (no leading zero), the QR payload.
#[test]
fn a_printed_coupon_scans_back_in_every_printed_form() {
    let mut w = bare();
    coupon_offer(&mut w, 1);
    issue(&mut w, 1, "012723370635", Some(GOLD), 23);
    let ean = ean13("012723370635");
    assert_eq!(ean, "0127233706353");
    for (i, shown) in [
        "012723370635".to_owned(),
        ean.clone(),
        ean[1..].to_owned(),
        "coupon:012723370635".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let r = register(&mut w, Some(GOLD), &format!("s{i}"), &[shown.as_str()]);
        assert_eq!(
            r.coupons_used,
            vec![CouponCode::new("012723370635").unwrap()],
            "scanned as {shown}: {:?}",
            notes(&r)
        );
        assert!(w
            .cash(
                POS,
                Command::Cancel {
                    cheque: cheque_id(&format!("s{i}"))
                }
            )
            .is_ok());
    }
    // A wrong check digit is not the coupon.
    let r = register(&mut w, Some(GOLD), "bad", &["0127233706354"]);
    assert_eq!(notes(&r), ["coupon 0127233706354: unknown coupon"]);
}
