//! The offer engine: a given/when/then table for each condition and effect, priorities and
//! stacking, coupons and e-commerce orders through `execute`, and properties of pricing
//! (never negative, never below the minimal price, redemption within its cap, allocations
//! that add up exactly).

use crate::fixture::*;
use crate::properties::check_invariants;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::{calculate, fetch_order};
use loyalty_core::event::Event;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::pricing::{price, Grants};
use loyalty_core::state::*;
use proptest::prelude::*;

fn pct(s: &str) -> Rate {
    Rate::Percent(Percent::parse(s).unwrap())
}

fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn all_day(id: u32, effect: OfferEffect) -> Offer {
    Offer::new(
        OfferId(id),
        effect,
        OfferScope::Cheque,
        local(0),
        local(23) + chrono::Duration::hours(1),
    )
}

fn groups(g: &[&str]) -> OfferScope {
    OfferScope::Groups(g.iter().map(|g| GroupCode::new(g).unwrap()).collect())
}

/// The fixture without its standing offers, plus kefir in a subgroup of dairy and coupon
/// series 1 (single use) and 2 (unlimited).
fn bare() -> World {
    let mut w = World::new();
    for id in [1, 2, 3] {
        let mut o = w.state.projection.offers[&OfferId(id)].clone();
        o.enabled = false;
        w.admin_ok(Command::UpsertOffer { offer: o });
    }
    w.admin_ok(Command::ImportProducts {
        products: vec![Product {
            code: ProductCode::new("kefir").unwrap(),
            name: "kefir".into(),
            group: Some(GroupCode::new("dairy/kefir").unwrap()),
            barcodes: Vec::new(),
            min_price: Money::ZERO,
            promotional: false,
        }],
    });
    w.coupon_series();
    w
}

struct Case {
    name: &'static str,
    offers: Vec<Offer>,
    /// Card, hour of the cheque's local time, lines (product, qty, price).
    card: Option<&'static str>,
    hour: u32,
    lines: &'static [(&'static str, &'static str, &'static str)],
    coupons: &'static [&'static str],
    /// Per line: discount and accrual.
    then: &'static [(&'static str, &'static str)],
}

fn discount(id: u32, rate: Rate) -> Offer {
    all_day(id, OfferEffect::Discount(rate))
}

fn accrual(id: u32, rate: Rate) -> Offer {
    all_day(id, OfferEffect::Accrual(rate))
}

fn when(o: Offer, f: impl FnOnce(&mut Conditions)) -> Offer {
    let mut o = o;
    f(&mut o.when);
    o
}

fn hm(h: u32, m: u32) -> chrono::NaiveTime {
    chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

#[test]
fn each_condition_and_effect() {
    let ten = || discount(50, pct("10"));
    let cases = vec![
        // Conditions. 23 November 2026 is a Monday.
        Case {
            name: "weekend offer on a Monday",
            offers: vec![when(ten(), |c| c.weekdays = 0b110_0000)],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "Monday offer on a Monday",
            offers: vec![when(ten(), |c| c.weekdays = 0b000_0001)],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0")],
        },
        Case {
            name: "evening hours at noon",
            offers: vec![when(ten(), |c| c.hours = Some((hm(18, 0), hm(23, 0))))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "evening hours in the evening",
            offers: vec![when(ten(), |c| c.hours = Some((hm(18, 0), hm(23, 0))))],
            card: Some(GOLD),
            hour: 19,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0")],
        },
        Case {
            name: "night hours across midnight, at 3 a.m.",
            offers: vec![when(ten(), |c| c.hours = Some((hm(22, 0), hm(6, 0))))],
            card: Some(GOLD),
            hour: 3,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0")],
        },
        Case {
            name: "night hours across midnight, at noon",
            offers: vec![when(ten(), |c| c.hours = Some((hm(22, 0), hm(6, 0))))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "another store's offer",
            offers: vec![when(ten(), |c| c.stores = vec![StoreId(2)])],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "this store's offer",
            offers: vec![when(ten(), |c| c.stores = vec![StoreId(2), StoreId(1)])],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0")],
        },
        Case {
            name: "card type matches",
            offers: vec![when(ten(), |c| c.card_types = vec!["Gold".into()])],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0")],
        },
        Case {
            name: "card type differs",
            offers: vec![when(ten(), |c| c.card_types = vec!["Platinum".into()])],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "card type condition without a card",
            offers: vec![when(ten(), |c| c.card_types = vec!["Gold".into()])],
            card: None,
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "products: only the named product, also by its barcode",
            offers: vec![Offer {
                scope: OfferScope::Products(vec![ProductCode::new("bread").unwrap()]),
                ..ten()
            }],
            card: Some(GOLD),
            hour: 12,
            lines: &[("milk", "1", "100"), ("46bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0"), ("10", "0")],
        },
        Case {
            name: "a group covers the groups inside it",
            offers: vec![Offer {
                scope: groups(&["dairy"]),
                ..ten()
            }],
            card: Some(GOLD),
            hour: 12,
            lines: &[
                ("kefir", "1", "100"),
                ("milk", "1", "100"),
                ("bread", "1", "100"),
            ],
            coupons: &[],
            then: &[("10", "0"), ("10", "0"), ("0", "0")],
        },
        Case {
            name: "a subgroup does not cover its parent",
            offers: vec![Offer {
                scope: groups(&["dairy/kefir"]),
                ..ten()
            }],
            card: Some(GOLD),
            hour: 12,
            lines: &[("kefir", "1", "100"), ("milk", "1", "100")],
            coupons: &[],
            then: &[("10", "0"), ("0", "0")],
        },
        Case {
            name: "cheque total below the minimum",
            offers: vec![when(ten(), |c| c.min_total = money("500"))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "4", "100"), ("milk", "1", "99.99")],
            coupons: &[],
            then: &[("0", "0"), ("0", "0")],
        },
        Case {
            name: "cheque total at the minimum",
            offers: vec![when(ten(), |c| c.min_total = money("500"))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "4", "100"), ("milk", "1", "100")],
            coupons: &[],
            then: &[("40", "0"), ("10", "0")],
        },
        Case {
            name: "quantity of the target lines below the minimum",
            offers: vec![when(
                Offer {
                    scope: groups(&["dairy"]),
                    ..ten()
                },
                |c| c.min_qty = Qty(3000),
            )],
            card: Some(GOLD),
            hour: 12,
            lines: &[("milk", "2", "50"), ("bread", "5", "10")],
            coupons: &[],
            then: &[("0", "0"), ("0", "0")],
        },
        Case {
            name: "quantity of the target lines at the minimum",
            offers: vec![when(
                Offer {
                    scope: groups(&["dairy"]),
                    ..ten()
                },
                |c| c.min_qty = Qty(3000),
            )],
            card: Some(GOLD),
            hour: 12,
            lines: &[
                ("milk", "2", "50"),
                ("kefir", "1", "100"),
                ("bread", "5", "10"),
            ],
            coupons: &[],
            then: &[("10", "0"), ("10", "0"), ("0", "0")],
        },
        Case {
            name: "coupon needed and not shown",
            offers: vec![when(ten(), |c| c.coupon = Some(CouponSeriesId(1)))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "coupon needed and shown (QR payload, lower case)",
            offers: vec![when(ten(), |c| c.coupon = Some(CouponSeriesId(1)))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &["coupon:summer-1"],
            then: &[("10", "0")],
        },
        Case {
            name: "coupon of another series",
            offers: vec![when(ten(), |c| c.coupon = Some(CouponSeriesId(2)))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &["SUMMER-1"],
            then: &[("0", "0")],
        },
        // Effects.
        Case {
            name: "fixed discount per line, never below the minimal price",
            offers: vec![discount(50, Rate::PerLine(1500))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("wine", "1", "100"), ("bread", "2", "100")],
            coupons: &[],
            then: &[("10", "0"), ("15", "0")],
        },
        Case {
            name: "fixed discount for the target lines, split by their room",
            offers: vec![discount(50, Rate::Total(3000))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100"), ("wine", "1", "140")],
            coupons: &[],
            then: &[("20", "0"), ("10", "0")],
        },
        Case {
            name: "fixed discount larger than all the room",
            offers: vec![discount(50, Rate::Total(100_000))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100"), ("wine", "1", "140")],
            coupons: &[],
            then: &[("100", "0"), ("50", "0")],
        },
        Case {
            name: "promotional lines get no discount",
            offers: vec![ten()],
            card: Some(GOLD),
            hour: 12,
            lines: &[("promo", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "percent accrual on what is paid in money",
            offers: vec![accrual(50, pct("5"))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "5")],
        },
        Case {
            name: "fixed accrual per line",
            offers: vec![accrual(50, Rate::PerLine(700))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100"), ("milk", "1", "1")],
            coupons: &[],
            then: &[("0", "7"), ("0", "7")],
        },
        Case {
            name: "fixed accrual for the cheque, split by net amounts",
            offers: vec![accrual(50, Rate::Total(1000))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "300"), ("milk", "1", "100")],
            coupons: &[],
            then: &[("0", "7.5"), ("0", "2.5")],
        },
        Case {
            name: "no accrual without a card",
            offers: vec![accrual(50, pct("5"))],
            card: None,
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        // Priorities and combination.
        Case {
            name: "stackable discounts apply one on top of the other",
            offers: vec![discount(50, pct("10")), discount(51, pct("5"))],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("14.5", "0")],
        },
        Case {
            name: "an exclusive offer of higher priority stops the rest",
            offers: vec![
                Offer {
                    priority: 5,
                    exclusive: true,
                    ..discount(50, pct("20"))
                },
                discount(51, pct("10")),
            ],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("20", "0")],
        },
        Case {
            name: "an exclusive offer of lower priority skips lines already discounted",
            offers: vec![
                Offer {
                    priority: 5,
                    scope: groups(&["dairy"]),
                    ..discount(50, pct("10"))
                },
                Offer {
                    exclusive: true,
                    ..discount(51, pct("30"))
                },
            ],
            card: Some(GOLD),
            hour: 12,
            lines: &[("milk", "1", "100"), ("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0"), ("30", "0")],
        },
        Case {
            name: "discounts and accruals stack separately",
            offers: vec![
                Offer {
                    exclusive: true,
                    ..discount(50, pct("10"))
                },
                accrual(51, pct("10")),
            ],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "9")],
        },
    ];
    for case in cases {
        let mut w = bare();
        w.admin_ok(Command::IssueCoupons {
            series: CouponSeriesId(1),
            codes: vec![CouponCode::new("SUMMER-1").unwrap()],
            card: None,
            expires: local(23),
        });
        for o in &case.offers {
            w.admin_ok(Command::UpsertOffer { offer: o.clone() });
        }
        let mut c = World::cheque(case.card, "c", case.lines);
        c.local_time = local(case.hour);
        c.coupons = case.coupons.iter().map(|s| s.to_string()).collect();
        let r = calculate(&w.state, &w.program, POS, &c, w.now);
        assert!(r.is_ok(), "{}: {}", case.name, r.message);
        let got: Vec<(Money, Points)> = r.lines.iter().map(|l| (l.discount, l.accrual)).collect();
        let want: Vec<(Money, Points)> =
            case.then.iter().map(|(d, a)| (money(d), pts(a))).collect();
        assert_eq!(got, want, "{}", case.name);
    }
}

#[test]
fn the_tills_own_discount_counts_towards_the_minimal_price() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: discount(50, pct("10")),
    });
    // Wine: 100.00 with a minimal price of 90.00; the till took 5.00 off itself, so the
    // engine may give 5.00 more (10% of 95.00 would be 9.50).
    let mut c = World::cheque(Some(GOLD), "c", &[("wine", "1", "100")]);
    c.lines[0].local_discount = money("5");
    let r = calculate(&w.state, &w.program, POS, &c, w.now);
    assert_eq!(r.lines[0].discount, money("10"));
    assert_eq!(
        r.totals.unwrap().amount.minus(r.totals.unwrap().discount),
        money("90")
    );
    // A till discount above the line is refused.
    c.lines[0].local_discount = money("100.01");
    let r = w.cash(POS, Command::RegisterPurchase { cheque: c });
    assert_eq!(r.code, Code::AmountInvalid);
}

#[test]
fn messages_are_rendered_with_the_cheques_figures() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: discount(50, pct("10")),
    });
    w.admin_ok(Command::UpsertOffer {
        offer: accrual(51, pct("5")),
    });
    w.admin_ok(Command::UpsertOffer {
        offer: all_day(
            52,
            OfferEffect::Message {
                to: MessageTo::Cheque,
                template:
                    "Saved {discount}, earned {accrued}, balance {balance}, {to_pay} of {total}"
                        .into(),
            },
        ),
    });
    w.admin_ok(Command::UpsertOffer {
        offer: when(
            all_day(
                53,
                OfferEffect::Message {
                    to: MessageTo::Cashier,
                    template: "Offer the wine of the week".into(),
                },
            ),
            |c| c.min_total = money("1000"),
        ),
    });
    let c = World::cheque(Some(GOLD), "m1", &[("bread", "1", "200")]);
    let r = w.cash(POS, Command::RegisterPurchase { cheque: c });
    assert_eq!(
        r.messages,
        vec![Message {
            to: MessageTo::Cheque,
            text: "Saved 20.00, earned 9.00, balance 100.00, 180.00 of 200.00".into()
        }]
    );
    let c = World::cheque(None, "m2", &[("bread", "10", "200")]);
    let r = calculate(&w.state, &w.program, POS, &c, w.now);
    assert!(r
        .messages
        .iter()
        .any(|m| m.to == MessageTo::Cashier && m.text == "Offer the wine of the week"));
}

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

fn order_lines() -> Vec<OrderLine> {
    vec![
        OrderLine {
            product: ProductCode::new("bread").unwrap(),
            qty: Qty(2000),
            price: money("100"),
            discount: money("20"),
        },
        OrderLine {
            product: ProductCode::new("milk").unwrap(),
            qty: Qty(1000),
            price: money("50"),
            discount: Money::ZERO,
        },
    ]
}

fn order(w: &mut World, number: &str, points: &str) -> Code {
    w.run(
        operator(),
        Command::CreateOrder {
            number: OrderNo::new(number).unwrap(),
            card: card(GOLD),
            lines: order_lines(),
            points: pts(points),
        },
    )
    .reply
    .code
}

fn pickup_cheque(number: &str, id: &str, card_no: Option<&str>) -> Cheque {
    let mut c = World::cheque(card_no, id, &[("bread", "2", "100"), ("milk", "1", "50")]);
    c.order = Some(OrderNo::new(number).unwrap());
    c
}

#[test]
fn orders_are_picked_up_as_promised() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: accrual(51, pct("10")),
    });
    // A generous discount offer does not apply to an order: its promise does.
    w.admin_ok(Command::UpsertOffer {
        offer: discount(52, pct("50")),
    });
    assert_eq!(order(&mut w, "WEB-1", "231"), Code::RedeemLimitExceeded);
    assert_eq!(order(&mut w, "WEB-1", "150"), Code::InsufficientPoints);
    assert_eq!(order(&mut w, "WEB-1", "30"), Code::Ok);
    assert_eq!(order(&mut w, "WEB-1", "30"), Code::OrderExists);
    assert_eq!(w.account(GOLD).held, pts("30"));
    // The till fetches it: lines at the promised discount, the reserved points, accrual
    // on the money part.
    let number = OrderNo::new("WEB-1").unwrap();
    let f = fetch_order(&w.state, &w.program, POS, &number, local(12), w.now);
    assert!(f.is_ok(), "{}", f.message);
    assert_eq!(f.order_status, Some(OrderStatus::Open));
    let t = f.totals.unwrap();
    assert_eq!(
        (t.amount, t.discount, t.paid),
        (money("250"), money("20"), pts("30"))
    );
    assert_eq!(t.accrual, pts("20"));
    // Lines must be the order's; the card must be the order's customer's.
    let mut wrong = pickup_cheque("WEB-1", "p0", None);
    wrong.lines[1].price = money("40");
    assert_eq!(
        w.cash(POS, Command::RegisterPurchase { cheque: wrong })
            .code,
        Code::OrderMismatch
    );
    assert_eq!(
        w.cash(
            POS,
            Command::RegisterPurchase {
                cheque: pickup_cheque("WEB-1", "p0", Some(EMPTY))
            }
        )
        .code,
        Code::CardMismatch
    );
    // Bought out without showing the card: the order's card is the customer's.
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-1", "p1", None),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.totals.unwrap().paid, pts("30"));
    assert_eq!(w.account(GOLD).held, pts("30"));
    assert_eq!(
        w.cash(
            POS,
            Command::RegisterPurchase {
                cheque: pickup_cheque("WEB-1", "p2", None)
            }
        )
        .code,
        Code::OrderWrongState
    );
    check_invariants(&w);
    // Cancelling the pick-up gives the order (and its hold) back; picking up again and
    // confirming posts the points.
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("p1")
            }
        )
        .is_ok());
    assert_eq!(w.state.order(&number).unwrap().status, OrderStatus::Open);
    assert_eq!(w.account(GOLD).held, pts("30"));
    check_invariants(&w);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-1", "p3", Some(GOLD)),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("p3")
            }
        )
        .is_ok());
    let a = w.account(GOLD);
    assert_eq!((a.balance, a.held), (pts("90"), Points::ZERO));
    assert_eq!(
        w.state.order(&number).unwrap().status,
        OrderStatus::PickedUp
    );
    check_invariants(&w);
}

#[test]
fn an_order_follows_its_customer_to_a_replacement_card() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-4", "10"), Code::Ok);
    assert!(w
        .cash(
            POS,
            Command::ReplaceCard {
                old: card(GOLD),
                new: card("2770000000079"),
            },
        )
        .is_ok());
    // Without a card shown the order's customer is the one of the new card; the old card
    // shown is refused as replaced.
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-4", "p1", Some(GOLD)),
        },
    );
    assert_eq!(r.code, Code::CardReplaced);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-4", "p2", None),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.holder.unwrap().masked_card, "*********0079");
    check_invariants(&w);
}

#[test]
fn an_order_is_not_paid_with_a_hold() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-5", "10"), Code::Ok);
    // A hold naming an order (known or not) is refused and changes nothing.
    for number in ["WEB-5", "WEB-404"] {
        let before = w.state.projection.clone();
        let r = w.run(
            Actor::Cashbox(POS),
            Command::PayWithBonus {
                cheque: pickup_cheque(number, "h1", Some(GOLD)),
                points: pts("5"),
            },
        );
        assert_eq!(r.reply.code, Code::Forbidden);
        assert!(r.events.is_empty());
        assert_eq!(w.state.projection, before);
    }
    check_invariants(&w);
}

#[test]
fn cancelled_orders_release_their_points() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-2", "50"), Code::Ok);
    let cancel = |w: &mut World, n: &str| {
        w.run(
            operator(),
            Command::CancelOrder {
                number: OrderNo::new(n).unwrap(),
            },
        )
        .reply
        .code
    };
    assert_eq!(cancel(&mut w, "WEB-9"), Code::OrderUnknown);
    assert_eq!(cancel(&mut w, "WEB-2"), Code::Ok);
    assert_eq!(cancel(&mut w, "WEB-2"), Code::OrderWrongState);
    assert_eq!(w.account(GOLD).held, Points::ZERO);
    assert_eq!(
        w.cash(
            POS,
            Command::RegisterPurchase {
                cheque: pickup_cheque("WEB-2", "p1", None)
            }
        )
        .code,
        Code::OrderWrongState
    );
    assert!(w
        .history
        .iter()
        .any(|e| matches!(e, Event::OrderCancelled { .. })));
    check_invariants(&w);
}

#[test]
fn orders_not_picked_up_in_time_expire_and_release_their_points() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-3", "40"), Code::Ok);
    let number = OrderNo::new("WEB-3").unwrap();
    let lifetime = w.program.order_lifetime_secs;
    // One second before the end the till may still fetch it; the sweep leaves it alone.
    w.now = w.now.plus_secs(lifetime - 1);
    let f = fetch_order(&w.state, &w.program, POS, &number, local(12), w.now);
    assert!(f.is_ok(), "{}", f.message);
    assert!(w.run(Actor::System, Command::ExpireHolds).events.is_empty());
    // At the end it may not be picked up, even before the sweep ran.
    w.now = w.now.plus_secs(1);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-3", "e1", None),
        },
    );
    assert_eq!(r.code, Code::OrderWrongState);
    assert!(r.message.contains("expired"), "{}", r.message);
    // The sweep expires it and releases the points, once.
    let swept = w.run(Actor::System, Command::ExpireHolds);
    assert!(matches!(
        swept.events.as_slice(),
        [Event::OrderExpired { points_released, .. }] if *points_released == pts("40")
    ));
    assert_eq!(w.account(GOLD).held, Points::ZERO);
    assert_eq!(w.state.order(&number).unwrap().status, OrderStatus::Expired);
    assert!(w.run(Actor::System, Command::ExpireHolds).events.is_empty());
    let cancel = w.run(operator(), Command::CancelOrder { number });
    assert_eq!(cancel.reply.code, Code::OrderWrongState);
    check_invariants(&w);
}

// Properties of pricing over random catalogues, offers and cheques.

#[derive(Debug, Clone)]
struct RandomOffer {
    kind: u8,
    rate: u8,
    value: i64,
    scope: u8,
    priority: u32,
    exclusive: bool,
}

fn arb_offer() -> impl Strategy<Value = RandomOffer> {
    (0u8..2, 0u8..3, 1i64..20_000, 0u8..4, 0u32..3, any::<bool>()).prop_map(
        |(kind, rate, value, scope, priority, exclusive)| RandomOffer {
            kind,
            rate,
            value,
            scope,
            priority,
            exclusive,
        },
    )
}

fn to_offer(i: usize, r: &RandomOffer) -> Offer {
    let rate = match r.rate {
        0 => Rate::Percent(Percent::parse(&format!("{}", 1 + r.value % 99)).unwrap()),
        1 => Rate::PerLine(r.value),
        _ => Rate::Total(r.value * 3),
    };
    let scope = match r.scope {
        0 => OfferScope::Cheque,
        1 => groups(&["g0"]),
        2 => groups(&["g1"]),
        _ => OfferScope::Products(vec![ProductCode::new("p3").unwrap()]),
    };
    Offer {
        priority: r.priority,
        exclusive: r.exclusive,
        ..Offer::new(
            OfferId(i as u32 + 1),
            if r.kind == 0 {
                OfferEffect::Discount(rate)
            } else {
                OfferEffect::Accrual(rate)
            },
            scope,
            local(0),
            local(23),
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pricing_stays_within_its_bounds(
        offers in prop::collection::vec(arb_offer(), 0..8),
        // (product, qty in units, price, min price, till discount share in %, promotional)
        lines in prop::collection::vec((0usize..6, 1i64..5, 1i64..50_000, 0i64..30_000, 0i64..60, any::<bool>()), 1..12),
        paid_share in 0i64..=100,
        share in 1u32..=100,
    ) {
        let mut state = MemState::default();
        for (i, &(_, _, _, min, _, promo)) in lines.iter().enumerate() {
            state.put_product(Product {
                code: ProductCode::new(&format!("p{i}")).unwrap(),
                name: String::new(),
                group: Some(GroupCode::new(&format!("g{}/x", i % 2)).unwrap()),
                barcodes: Vec::new(),
                min_price: Money(min),
                promotional: promo,
            });
        }
        for (i, o) in offers.iter().enumerate() {
            state.put_offer(to_offer(i, o));
        }
        let program = Program {
            redeem_share: Percent::parse(&share.to_string()).unwrap(),
            ..Program::default()
        };
        let mut cheque = World::cheque(Some(GOLD), "p", &[]);
        cheque.lines = lines
            .iter()
            .enumerate()
            .map(|(i, &(_, q, price, _, local_pct, _))| {
                let amount = price * q;
                Line {
                    product: ProductCode::new(&format!("p{i}")).unwrap(),
                    qty: Qty(q * 1000),
                    price: Money(price),
                    local_discount: Money(amount * local_pct / 100),
                }
            })
            .collect();
        let grants = Grants {
            discounts: true,
            accrual: true,
            favourites: &[],
            occasion: Occasion { at: local(12), store: StoreId(1), card_type: Some("Gold"), coupons: &[] },
            promised: None,
        };
        let caps: i64 = price(&state, &program, &cheque, Points::ZERO, grants).lines.iter().map(|l| l.redeem_cap.0).sum();
        let paid = caps * paid_share / 100;
        let priced = price(&state, &program, &cheque, Points(paid), grants);
        // Points paid are allocated exactly.
        prop_assert_eq!(priced.lines.iter().map(|l| l.paid.0).sum::<i64>(), paid);
        for (l, &(_, q, price_, min, _, promo)) in priced.lines.iter().zip(&lines) {
            let floor = min * q;
            let local = l.line.local_discount.0;
            let ours = l.discount.0 - local;
            // Never negative; promotional lines get nothing from the engine.
            prop_assert!(ours >= 0 && l.net().0 >= 0 && l.accrual.0 >= 0);
            prop_assert!(!promo || ours == 0);
            prop_assert_eq!(l.amount.0, price_ * q);
            // The engine never takes a line below its minimal price.
            prop_assert!(ours == 0 || l.net().0 >= floor, "net {} floor {}", l.net().0, floor);
            // Redemption within the cap; the cap within the share and above the floor.
            prop_assert!(l.paid <= l.redeem_cap);
            prop_assert!(l.redeem_cap.0 <= percent_of(l.net().0, program.redeem_share));
            prop_assert!(l.paid.0 == 0 || l.net().0 - l.paid.0 >= floor);
        }
    }

    #[test]
    fn a_fixed_discount_is_split_exactly(
        x in 1i64..100_000,
        lines in prop::collection::vec((1i64..20_000, 0i64..20_000), 1..20),
    ) {
        let mut state = MemState::default();
        for (i, &(_, min)) in lines.iter().enumerate() {
            state.put_product(Product {
                code: ProductCode::new(&format!("p{i}")).unwrap(),
                name: String::new(),
                group: None,
                barcodes: Vec::new(),
                min_price: Money(min),
                promotional: false,
            });
        }
        state.put_offer(Offer::new(OfferId(1), OfferEffect::Discount(Rate::Total(x)), OfferScope::Cheque, local(0), local(23)));
        let mut cheque = World::cheque(None, "p", &[]);
        cheque.lines = lines
            .iter()
            .enumerate()
            .map(|(i, &(price, _))| Line {
                product: ProductCode::new(&format!("p{i}")).unwrap(),
                qty: Qty(1000),
                price: Money(price),
                local_discount: Money::ZERO,
            })
            .collect();
        let grants = Grants {
            discounts: true,
            accrual: false,
            favourites: &[],
            occasion: Occasion { at: local(12), store: StoreId(1), card_type: None, coupons: &[] },
            promised: None,
        };
        let priced = price(&state, &Program::default(), &cheque, Points::ZERO, grants);
        let room: i64 = lines.iter().map(|&(p, m)| (p - m).max(0)).sum();
        let given: i64 = priced.lines.iter().map(|l| l.discount.0).sum();
        prop_assert_eq!(given, x.min(room));
        for (l, &(p, m)) in priced.lines.iter().zip(&lines) {
            prop_assert!(l.discount.0 <= (p - m).max(0));
        }
    }
}

#[test]
fn a_line_beyond_the_largest_amount_is_refused_not_computed() {
    let mut w = bare();
    // Price and quantity are each within bounds, their product is not.
    let big = World::cheque(Some(GOLD), "big", &[("bread", "1000000", "100000000000")]);
    let r = calculate(&w.state, &w.program, POS, &big, w.now);
    assert_eq!(r.code, Code::AmountInvalid, "{}", r.message);
    let before = w.state.projection.clone();
    let r = w.cash(POS, Command::RegisterPurchase { cheque: big });
    assert_eq!(r.code, Code::AmountInvalid);
    assert_eq!(w.state.projection, before);
    // A minimal price whose total would overflow leaves the line no room, nothing more.
    w.admin_ok(Command::ImportProducts {
        products: vec![Product {
            code: ProductCode::new("gold-bar").unwrap(),
            name: "gold bar".into(),
            group: None,
            barcodes: Vec::new(),
            min_price: Money(loyalty_core::amount::AMOUNT_MINOR_MAX),
            promotional: false,
        }],
    });
    w.admin_ok(Command::UpsertOffer {
        offer: discount(50, pct("10")),
    });
    let c = World::cheque(Some(GOLD), "bar", &[("gold-bar", "1000000", "1")]);
    let r = calculate(&w.state, &w.program, POS, &c, w.now);
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.lines[0].discount, Money::ZERO);
    assert_eq!(r.lines[0].redeem_cap, Points::ZERO);
}
