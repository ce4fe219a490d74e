//! The offer engine: a given/when/then table for each condition and effect, priorities and
//! stacking, coupons and e-commerce orders through `execute`, and properties of pricing
//! (never negative, never below the minimal price, redemption within its cap, allocations
//! that add up exactly).

use crate::fixture::*;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::calculate;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::pricing::{price, Grants};
use loyalty_core::state::*;
use proptest::prelude::*;

pub(crate) fn pct(s: &str) -> Rate {
    Rate::Percent(Percent::parse(s).unwrap())
}

pub(crate) fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

pub(crate) fn all_day(id: u32, effect: OfferEffect) -> Offer {
    Offer::new(
        OfferId(id),
        effect,
        OfferScope::Cheque,
        local(0),
        local(23) + chrono::Duration::hours(1),
    )
}

pub(crate) fn groups(g: &[&str]) -> OfferScope {
    OfferScope::Groups(g.iter().map(|g| GroupCode::new(g).unwrap()).collect())
}

/// The fixture without its standing offers, plus kefir in a subgroup of dairy and coupon
/// series 1 (single use) and 2 (unlimited).
pub(crate) fn bare() -> World {
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

pub(crate) struct Case {
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

pub(crate) fn discount(id: u32, rate: Rate) -> Offer {
    all_day(id, OfferEffect::Discount(rate))
}

pub(crate) fn accrual(id: u32, rate: Rate) -> Offer {
    all_day(id, OfferEffect::Accrual(rate))
}

pub(crate) fn when(o: Offer, f: impl FnOnce(&mut Conditions)) -> Offer {
    let mut o = o;
    f(&mut o.when);
    o
}

pub(crate) fn hm(h: u32, m: u32) -> chrono::NaiveTime {
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
            name: "accrual only on activated cards: an activated card",
            offers: vec![when(accrual(50, pct("5")), |c| {
                c.card_statuses = vec![CardStatus::Activated]
            })],
            card: Some(GOLD),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "5")],
        },
        Case {
            name: "accrual only on activated cards: an issued card",
            offers: vec![when(accrual(50, pct("5")), |c| {
                c.card_statuses = vec![CardStatus::Activated]
            })],
            card: Some(ISSUED),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("0", "0")],
        },
        Case {
            name: "a discount for issued or prepared cards",
            offers: vec![when(ten(), |c| {
                c.card_statuses = vec![CardStatus::Prepared, CardStatus::Issued]
            })],
            card: Some(ISSUED),
            hour: 12,
            lines: &[("bread", "1", "100")],
            coupons: &[],
            then: &[("10", "0")],
        },
        Case {
            name: "card status condition without a card",
            offers: vec![when(ten(), |c| {
                c.card_statuses = vec![CardStatus::Activated]
            })],
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
    run_cases(cases);
}

/// Runs a table of cases: each on the bare fixture with its offers, calculated.
fn run_cases(cases: Vec<Case>) {
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

fn multibuy(id: u32, buy: u32, get: u32, percent: &str) -> Offer {
    all_day(
        id,
        OfferEffect::Multibuy {
            buy,
            get,
            percent: Percent::parse(percent).unwrap(),
        },
    )
}

fn bundle(id: u32, price: &str, products: &[&str]) -> Offer {
    Offer {
        scope: OfferScope::Products(
            products
                .iter()
                .map(|p| ProductCode::new(p).unwrap())
                .collect(),
        ),
        ..all_day(
            id,
            OfferEffect::Bundle {
                price: money(price),
            },
        )
    }
}

#[test]
fn multibuy_and_bundles() {
    let case = |name, offers, lines, then| Case {
        name,
        offers,
        card: Some(GOLD),
        hour: 12,
        lines,
        coupons: &[],
        then,
    };
    run_cases(vec![
        case(
            "2 + 1: the cheapest of three free",
            vec![multibuy(60, 2, 1, "100")],
            &[
                ("bread", "1", "100"),
                ("milk", "1", "50"),
                ("kefir", "1", "80"),
            ],
            &[("0", "0"), ("50", "0"), ("0", "0")],
        ),
        case(
            "2 + 1 on seven units: two free, the cheapest line's first",
            vec![multibuy(60, 2, 1, "100")],
            &[("bread", "4", "100"), ("milk", "3", "50")],
            &[("0", "0"), ("100", "0")],
        ),
        case(
            "2 + 1 on eight units of two lines: two free units, split by cheapness",
            vec![multibuy(60, 2, 1, "100")],
            &[
                ("bread", "6", "100"),
                ("milk", "1", "50"),
                ("kefir", "1", "80"),
            ],
            &[("0", "0"), ("50", "0"), ("80", "0")],
        ),
        case(
            "3 + 1 at half price: not enough units, nothing",
            vec![multibuy(60, 3, 1, "50")],
            &[("bread", "2", "100"), ("milk", "1", "50")],
            &[("0", "0"), ("0", "0")],
        ),
        case(
            "1 + 1 at half price",
            vec![multibuy(60, 1, 1, "50")],
            &[("bread", "1", "100"), ("kefir", "1", "80")],
            &[("0", "0"), ("40", "0")],
        ),
        case(
            "the minimal price holds: wine free only down to 90",
            vec![multibuy(60, 1, 1, "100")],
            &[("wine", "1", "100"), ("bread", "1", "200")],
            &[("10", "0"), ("0", "0")],
        ),
        case(
            "promotional lines neither count nor get anything",
            vec![multibuy(60, 1, 1, "100")],
            &[("promo", "1", "10"), ("bread", "1", "200")],
            &[("0", "0"), ("0", "0")],
        ),
        case(
            "goods by weight do not count",
            vec![multibuy(60, 1, 1, "100")],
            &[("bread", "1.5", "100"), ("milk", "1", "50")],
            &[("0", "0"), ("0", "0")],
        ),
        case(
            "after an earlier percent: the cheapest by what is left",
            vec![
                Offer {
                    priority: 5,
                    scope: OfferScope::Products(vec![ProductCode::new("bread").unwrap()]),
                    ..discount(50, pct("20"))
                },
                multibuy(60, 1, 1, "100"),
            ],
            &[("bread", "1", "100"), ("kefir", "1", "90")],
            &[("100", "0"), ("0", "0")],
        ),
        case(
            "a bundle of bread and milk for 120: 30 off split by value",
            vec![bundle(70, "120", &["bread", "milk"])],
            &[("bread", "1", "100"), ("milk", "1", "50")],
            &[("20", "0"), ("10", "0")],
        ),
        case(
            "two sets and a spare bread",
            vec![bundle(70, "120", &["bread", "milk"])],
            &[("bread", "3", "100"), ("milk", "2", "50")],
            &[("40", "0"), ("20", "0")],
        ),
        case(
            "no set without each product",
            vec![bundle(70, "120", &["bread", "milk"])],
            &[("bread", "2", "100"), ("kefir", "1", "50")],
            &[("0", "0"), ("0", "0")],
        ),
        case(
            "a bundle dearer than its goods gives nothing",
            vec![bundle(70, "200", &["bread", "milk"])],
            &[("bread", "1", "100"), ("milk", "1", "50")],
            &[("0", "0"), ("0", "0")],
        ),
        case(
            "an exclusive bundle keeps a later 2 + 1 off its lines",
            vec![
                Offer {
                    priority: 5,
                    exclusive: true,
                    ..bundle(70, "120", &["bread", "milk"])
                },
                multibuy(60, 1, 1, "100"),
            ],
            &[
                ("bread", "1", "100"),
                ("milk", "1", "50"),
                ("kefir", "2", "80"),
            ],
            &[("20", "0"), ("10", "0"), ("80", "0")],
        ),
    ]);
}

#[test]
fn multibuy_and_bundle_offers_must_make_sense() {
    let cases: Vec<(&str, Offer)> = vec![
        ("buy nothing", multibuy(60, 0, 1, "100")),
        ("get nothing", multibuy(60, 2, 0, "100")),
        ("sets over 100 units", multibuy(60, 90, 11, "100")),
        ("a bundle of one product", bundle(70, "10", &["bread"])),
        (
            "a bundle of the whole cheque",
            Offer {
                scope: OfferScope::Cheque,
                ..bundle(70, "10", &["bread", "milk"])
            },
        ),
        ("a bundle for nothing", bundle(70, "0", &["bread", "milk"])),
    ];
    for (name, offer) in cases {
        let mut w = bare();
        let r = w.run(operator(), Command::UpsertOffer { offer });
        assert_eq!(r.reply.code, Code::OfferInvalid, "{name}");
    }
}

/// The till passes what changed at the shelf since the catalogue was loaded: a minimal
/// price and a promotional flag per line. The stricter of the till and the catalogue wins.
#[test]
fn the_stricter_of_the_till_and_the_catalogue_applies_per_line() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: discount(50, pct("20")),
    });
    // (product, the till's minimal price, the till's promotional flag) → discount. Wine's
    // catalogue minimal price is 90.00; bread has none; promo is promotional.
    let table: &[(&str, &str, bool, &str)] = &[
        ("bread", "0", false, "20"),
        ("bread", "95", false, "5"),
        ("bread", "100", false, "0"),
        ("bread", "0", true, "0"),
        ("wine", "0", false, "10"),
        ("wine", "85", false, "10"),
        ("wine", "97.50", false, "2.50"),
        ("wine", "120", false, "0"),
        ("promo", "0", false, "0"),
    ];
    for &(product, min, promotional, then) in table {
        let mut c = World::cheque(Some(GOLD), "c", &[(product, "1", "100")]);
        c.lines[0].min_price = money(min);
        c.lines[0].promotional = promotional;
        let r = calculate(&w.state, &w.program, POS, &c, w.now);
        assert_eq!(
            r.lines[0].discount,
            money(then),
            "{product} with the till's minimal price {min}, promotional {promotional}"
        );
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
            text: "Saved 20.00, earned 9.00, balance 109.00, 180.00 of 200.00".into()
        }]
    );
    w.admin_ok(Command::UpsertOffer {
        offer: all_day(
            54,
            OfferEffect::Message {
                to: MessageTo::Cashier,
                template: "Register now and get {potential} points".into(),
            },
        ),
    });
    let c = World::cheque(None, "m2", &[("bread", "10", "200")]);
    let r = calculate(&w.state, &w.program, POS, &c, w.now);
    assert!(r
        .messages
        .iter()
        .any(|m| m.to == MessageTo::Cashier && m.text == "Offer the wine of the week"));
    // 5% of 1800.00 after the 10% discount.
    assert!(r
        .messages
        .iter()
        .any(|m| m.text == "Register now and get 90.00 points"));
}

#[derive(Debug, Clone)]
pub(crate) struct RandomOffer {
    kind: u8,
    rate: u8,
    value: i64,
    scope: u8,
    priority: u32,
    exclusive: bool,
}

pub(crate) fn arb_offer() -> impl Strategy<Value = RandomOffer> {
    (0u8..5, 0u8..3, 1i64..20_000, 0u8..4, 0u32..3, any::<bool>()).prop_map(
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

pub(crate) fn to_offer(i: usize, r: &RandomOffer) -> Offer {
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
    let (effect, scope) = match r.kind {
        0 => (OfferEffect::Discount(rate), scope),
        1 => (OfferEffect::Accrual(rate), scope),
        // "N + M" at some percent off, on the same scopes.
        2 => (
            OfferEffect::Multibuy {
                buy: 1 + (r.value % 3) as u32,
                get: 1 + (r.value % 2) as u32,
                percent: Percent::parse(&format!("{}", 1 + r.value % 100)).unwrap(),
            },
            scope,
        ),
        // Every 2nd to 4th unit a customer buys at some percent off.
        4 => (
            OfferEffect::Stamps {
                every: 2 + (r.value % 3) as u32,
                percent: Percent::parse(&format!("{}", 1 + r.value % 100)).unwrap(),
            },
            scope,
        ),
        // A bundle of the first two products.
        _ => (
            OfferEffect::Bundle {
                price: Money(r.value),
            },
            OfferScope::Products(vec![
                ProductCode::new("p0").unwrap(),
                ProductCode::new("p1").unwrap(),
            ]),
        ),
    };
    Offer {
        priority: r.priority,
        exclusive: r.exclusive,
        ..Offer::new(OfferId(i as u32 + 1), effect, scope, local(0), local(23))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pricing_stays_within_its_bounds(
        offers in prop::collection::vec(arb_offer(), 0..8),
        // (product, qty in units, price, min price, till discount share in %, promotional,
        // the till's min price, the till's promotional flag)
        lines in prop::collection::vec((0usize..6, 1i64..5, 1i64..50_000, 0i64..30_000, 0i64..60, any::<bool>(), 0i64..30_000, prop::bool::weighted(0.1)), 1..12),
        paid_share in 0i64..=100,
        share in 1u32..=100,
        // What each offer may still give, if it is limited.
        rooms in prop::collection::vec(prop::option::of(0i64..5_000), 8),
        // The customer's stamps with each offer before the cheque.
        had in prop::collection::vec(0u32..10, 8),
    ) {
        let stamps: Vec<(OfferId, u32)> = had
            .iter()
            .enumerate()
            .map(|(i, n)| (OfferId(i as u32 + 1), *n))
            .collect();
        let budgets: Vec<(OfferId, i64)> = rooms
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (OfferId(i as u32 + 1), r)))
            .collect();
        let mut state = MemState::default();
        for (i, &(_, _, _, min, _, promo, _, _)) in lines.iter().enumerate() {
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
            .map(|(i, &(_, q, price, _, local_pct, _, till_min, till_promo))| {
                let amount = price * q;
                Line {
                    product: ProductCode::new(&format!("p{i}")).unwrap(),
                    qty: Qty(q * 1000),
                    price: Money(price),
                    local_discount: Money(amount * local_pct / 100),
                    promotional: till_promo,
                    min_price: Money(till_min),
                }
            })
            .collect();
        let grants = Grants {
            discounts: true,
            accrual: true,
            favourites: &[],
            occasion: Occasion { at: local(12), store: StoreId(1), card_type: Some("Gold"), card_status: Some(CardStatus::Activated), coupons: &[] },
            promised: None,
            budgets: &budgets,
            stamps: &stamps,
        };
        let caps: i64 = price(&state, &program, &cheque, Points::ZERO, grants).lines.iter().map(|l| l.redeem_cap.0).sum();
        let paid = caps * paid_share / 100;
        let priced = price(&state, &program, &cheque, Points(paid), grants);
        // Points paid are allocated exactly.
        prop_assert_eq!(priced.lines.iter().map(|l| l.paid.0).sum::<i64>(), paid);
        // A limited offer never gives more than its room, and what it gives is recorded.
        for &(id, given) in &priced.budget {
            let room = budgets.iter().find(|(o, _)| *o == id).map(|(_, r)| *r);
            prop_assert!(room.is_some_and(|r| given > 0 && given <= r), "offer {id:?} gave {given} of {room:?}");
        }
        for (l, &(_, q, price_, min, _, promo, till_min, till_promo)) in priced.lines.iter().zip(&lines) {
            // The stricter of the catalogue and the till.
            let (floor, promo) = (min.max(till_min) * q, promo || till_promo);
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
                promotional: false,
                min_price: Money::ZERO,
            })
            .collect();
        let grants = Grants {
            discounts: true,
            accrual: false,
            favourites: &[],
            occasion: Occasion { at: local(12), store: StoreId(1), card_type: None, card_status: None, coupons: &[] },
            promised: None,
            budgets: &[],
            stamps: &[],
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

/// A message's `{balance}` is the balance after the purchase it is printed with — on the
/// hold, the registration and the confirmation alike, and the confirmation carries it.
#[test]
fn balance_in_a_message_is_the_balance_after_the_purchase() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: accrual(51, pct("5")),
    });
    w.admin_ok(Command::UpsertOffer {
        offer: all_day(
            52,
            OfferEffect::Message {
                to: MessageTo::Cheque,
                template: "Balance {balance}".into(),
            },
        ),
    });
    // GOLD has 100; pays 10 on bread of 100, earns 5% of 90.
    let c = World::cheque(Some(GOLD), "b1", &[("bread", "1", "100")]);
    let said = |r: &Reply| -> Vec<String> { r.messages.iter().map(|m| m.text.clone()).collect() };
    let held = w.cash(
        POS,
        Command::PayWithBonus {
            cheque: c.clone(),
            points: pts("10"),
        },
    );
    assert_eq!(said(&held), ["Balance 94.50"]);
    let reg = w.cash(POS, Command::RegisterPurchase { cheque: c });
    assert_eq!(said(&reg), ["Balance 94.50"]);
    let conf = w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id("b1"),
        },
    );
    assert_eq!(said(&conf), ["Balance 94.50"]);
    assert_eq!(conf.balance.unwrap().balance, pts("94.50"));
    // Without a card there is no balance to tell: the message is left out.
    let anon = World::cheque(None, "b2", &[("bread", "1", "100")]);
    let r = w.cash(POS, Command::RegisterPurchase { cheque: anon });
    assert!(said(&r).is_empty(), "{:?}", said(&r));
}

/// A template naming a figure the engine does not know is refused when the offer is set.
#[test]
fn an_unknown_placeholder_is_refused_by_name() {
    let mut w = bare();
    let r = w.run(
        operator(),
        Command::UpsertOffer {
            offer: all_day(
                53,
                OfferEffect::Message {
                    to: MessageTo::Cheque,
                    template: "You have {balance} and {bonus} points".into(),
                },
            ),
        },
    );
    assert_eq!(r.reply.code, Code::OfferInvalid);
    assert!(r.reply.message.contains("{bonus}"), "{}", r.reply.message);
}

/// The sample cheque of the rules page, as it says.
#[test]
fn the_rules_pages_sample_cheque() {
    let case = |name, offers, then| Case {
        name,
        offers,
        card: Some(GOLD),
        hour: 12,
        lines: &[("bread", "4", "100"), ("milk", "3", "50")],
        coupons: &[],
        then,
    };
    run_cases(vec![
        case(
            "2 + 1: two milks free",
            vec![multibuy(60, 2, 1, "100")],
            &[("0", "0"), ("100", "0")],
        ),
        case(
            "bread and milk for 120: three sets",
            vec![bundle(70, "120", &["bread", "milk"])],
            &[("60", "0"), ("30", "0")],
        ),
    ]);
}

#[test]
fn a_gift_is_named_in_the_answer_for_the_till_to_add() {
    // Given a kefir for every cheque of 300.00 or more,
    let mut w = bare();
    let gift = Offer {
        when: Conditions {
            min_total: money("300"),
            ..Conditions::default()
        },
        ..all_day(
            80,
            OfferEffect::Gift {
                product: ProductCode::new("kefir").unwrap(),
                qty: Qty::parse("1").unwrap(),
            },
        )
    };
    w.admin_ok(Command::UpsertOffer { offer: gift });
    let gifts = |r: &Reply| -> Vec<(String, Qty)> {
        r.gifts
            .iter()
            .map(|g| (g.product.to_string(), g.qty))
            .collect()
    };
    // a smaller cheque gets none;
    let small = World::cheque(Some(GOLD), "s", &[("bread", "1", "100")]);
    let r = calculate(&w.state, &w.program, POS, &small, w.now);
    assert!(r.gifts.is_empty());
    // a large one gets it in the preview and in the registration, with a note to the
    // cashier, and the offer among the ones applied;
    let large = World::cheque(Some(GOLD), "l", &[("bread", "3", "100")]);
    let r = calculate(&w.state, &w.program, POS, &large, w.now);
    assert_eq!(gifts(&r), [("kefir".to_owned(), Qty::parse("1").unwrap())]);
    assert_eq!(r.gifts[0].name, "kefir");
    assert!(r
        .messages
        .iter()
        .any(|m| m.to == MessageTo::Cashier && m.text.contains("gift: add 1 × kefir")));
    let registered = w.cash(POS, Command::RegisterPurchase { cheque: large });
    assert_eq!(
        gifts(&registered),
        [("kefir".to_owned(), Qty::parse("1").unwrap())]
    );
    // an offline upload, paid long ago, gets none.
    let offline = w.run(
        Actor::Cashbox(POS),
        Command::ImportOfflinePurchase {
            cheque: World::cheque(Some(GOLD), "o", &[("bread", "3", "100")]),
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    );
    assert!(offline.reply.is_ok() && offline.reply.gifts.is_empty());
    // A gift must be in the catalogue and at least a thousandth of a unit.
    for (name, product, qty) in [("unknown", "caviar", "1"), ("nothing", "kefir", "0.000")] {
        let offer = all_day(
            81,
            OfferEffect::Gift {
                product: ProductCode::new(product).unwrap(),
                qty: Qty(Qty::parse(qty).map_or(0, |q| q.0)),
            },
        );
        let r = w.run(operator(), Command::UpsertOffer { offer });
        assert_eq!(r.reply.code, Code::OfferInvalid, "{name}");
    }
}
