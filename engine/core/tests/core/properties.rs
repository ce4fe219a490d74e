//! Property tests over random command sequences: the invariants that must hold after any
//! history, checked after every step.

use crate::fixture::*;
use loyalty_core::amount::{prorate, Money, Points};
use loyalty_core::apply::apply;
use loyalty_core::command::*;
use loyalty_core::event::Event;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::state::*;
use proptest::prelude::*;

const CARDS: [&str; 4] = [GOLD, ISSUED, EMPTY, BLOCKED];

#[derive(Debug, Clone)]
enum Step {
    Pay {
        cashbox: u8,
        card: u8,
        cheque: u8,
        lines: Vec<(u8, u16, u32)>,
        points: u32,
        coupon: Option<u8>,
    },
    Register {
        cashbox: u8,
        card: Option<u8>,
        cheque: u8,
        lines: Vec<(u8, u16, u32)>,
        coupon: Option<u8>,
    },
    /// The online shop creates an order for a card, reserving points.
    Order {
        card: u8,
        order: u8,
        points: u32,
    },
    /// A till buys an order out, with or without showing the card.
    PickUp {
        cashbox: u8,
        cheque: u8,
        order: u8,
        show_card: bool,
    },
    CancelOrder {
        order: u8,
    },
    Confirm {
        cashbox: u8,
        cheque: u8,
    },
    Cancel {
        cashbox: u8,
        cheque: u8,
    },
    /// A refund at `cashbox` of a cheque sold at `sold_at` (any cashbox, kiosks included).
    Refund {
        cashbox: u8,
        cheque: u8,
        refund: u8,
        line: u8,
        qty: u16,
        sold_at: u8,
    },
    /// A card replaced by a new one (at a till).
    Replace {
        card: u8,
    },
    /// Goods returned without the receipt at `cashbox`, under refund number `number`.
    ReturnWithoutReceipt {
        cashbox: u8,
        number: u8,
        lines: Vec<(u8, u16, u32)>,
    },
    /// An administrator takes every spendable point of a card's account, so that later
    /// refunds and late confirms find the points gone (and record debt).
    Drain {
        card: u8,
    },
    /// A manual correction by an administrator (credits and debits).
    Adjust {
        card: u8,
        delta: i32,
    },
    /// An administrator sets an event bonus (welcome, first purchase or birthday with a
    /// window of `window` days each side), on or off.
    Bonus {
        kind: u8,
        points: u16,
        pending_mins: u16,
        enabled: bool,
        window: u16,
    },
    /// The customer of the issued card registers at a till, born on the 15th of January
    /// 1990 moved by `birth` days (the histories start on the 15th of January 2027).
    Enrol {
        birth: Option<i8>,
    },
    /// An administrator sets the status levels (Silver from 0, Gold from `gold` units).
    Tiers {
        gold: u16,
        months: u8,
        rolling: bool,
    },
    /// An administrator sets (or clears) a card's floor.
    Floor {
        card: u8,
        gold: Option<bool>,
    },
    /// Gift certificate GC`code` of `amount` minor units, valid `days`, issued by an
    /// administrator or sold at the till.
    Certificate {
        code: u8,
        amount: u32,
        days: u8,
        sold: bool,
    },
    /// A registration paid with certificate GC`code` for `amount` (at most what is due, as
    /// the preview prices it), the rest in cash.
    PayByCertificate {
        cashbox: u8,
        card: Option<u8>,
        cheque: u8,
        lines: Vec<(u8, u16, u32)>,
        code: u8,
        amount: u32,
    },
    Expire,
    Advance {
        secs: u32,
    },
    /// Resend an earlier request unchanged.
    Resend {
        index: usize,
    },
}

fn lines() -> impl Strategy<Value = Vec<(u8, u16, u32)>> {
    prop::collection::vec((0u8..4, 1u16..3000, 1u32..100_000), 1..5)
}

/// Steps of purchases and refunds among a few cheques at the two POS, with the points
/// drained now and then: the histories where refunds and late confirms find the points
/// gone.
fn money_step() -> impl Strategy<Value = Step> {
    let pos = prop_oneof![Just(0u8), Just(2u8)];
    prop_oneof![
        2 => (pos.clone(), 0u8..3, 1u32..4000).prop_map(|(cashbox, cheque, points)| Step::Pay {
            cashbox,
            card: 0,
            cheque,
            lines: vec![(1, 1000, 50_000)],
            points,
            coupon: None,
        }),
        3 => (pos.clone(), 0u8..3, lines()).prop_map(|(cashbox, cheque, lines)| Step::Register {
            cashbox,
            card: Some(0),
            cheque,
            lines,
            coupon: None,
        }),
        2 => (pos.clone(), 0u8..3, lines(), 0u8..3, 1u32..8000).prop_map(
            |(cashbox, cheque, lines, code, amount)| Step::PayByCertificate {
                cashbox,
                card: Some(0),
                cheque,
                lines,
                code,
                amount,
            }
        ),
        3 => (pos.clone(), 0u8..3).prop_map(|(cashbox, cheque)| Step::Confirm { cashbox, cheque }),
        1 => (pos.clone(), 0u8..3).prop_map(|(cashbox, cheque)| Step::Cancel { cashbox, cheque }),
        3 => (pos.clone(), 0u8..3, 0u8..4, 0u8..2, 1u16..1500, pos.clone()).prop_map(
            |(cashbox, cheque, refund, line, qty, sold_at)| Step::Refund {
                cashbox,
                cheque,
                refund,
                line,
                qty,
                sold_at,
            }
        ),
        2 => Just(Step::Drain { card: 0 }),
        1 => (pos, 0u8..3, lines()).prop_map(|(cashbox, number, lines)| {
            Step::ReturnWithoutReceipt { cashbox, number, lines }
        }),
        1 => (-5_000i32..5_000).prop_map(|delta| Step::Adjust { card: 0, delta }),
        1 => Just(Step::Expire),
        2 => (0u32..1200).prop_map(|secs| Step::Advance { secs }),
        1 => any::<usize>().prop_map(|index| Step::Resend { index }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0u8..3,
            0u8..4,
            0u8..6,
            lines(),
            1u32..6000,
            prop::option::of(0u8..COUPONS)
        )
            .prop_map(|(cashbox, card, cheque, lines, points, coupon)| Step::Pay {
                cashbox,
                card,
                cheque,
                lines,
                points,
                coupon,
            }),
        (
            0u8..3,
            prop::option::of(0u8..4),
            0u8..6,
            lines(),
            prop::option::of(0u8..COUPONS)
        )
            .prop_map(|(cashbox, card, cheque, lines, coupon)| Step::Register {
                cashbox,
                card,
                cheque,
                lines,
                coupon,
            }),
        (0u8..4, 0u8..3, 0u32..3000).prop_map(|(card, order, points)| Step::Order {
            card,
            order,
            points
        }),
        (0u8..3, 0u8..6, 0u8..3, any::<bool>()).prop_map(|(cashbox, cheque, order, show_card)| {
            Step::PickUp {
                cashbox,
                cheque,
                order,
                show_card,
            }
        }),
        (0u8..3).prop_map(|order| Step::CancelOrder { order }),
        (0u8..3, 0u8..6).prop_map(|(cashbox, cheque)| Step::Confirm { cashbox, cheque }),
        (0u8..3, 0u8..6).prop_map(|(cashbox, cheque)| Step::Cancel { cashbox, cheque }),
        (0u8..3, 0u8..6, 0u8..4, 0u8..5, 1u16..3000, 0u8..3).prop_map(
            |(cashbox, cheque, refund, line, qty, sold_at)| Step::Refund {
                cashbox,
                cheque,
                refund,
                line,
                qty,
                sold_at,
            }
        ),
        (0u8..4, -20_000i32..20_000).prop_map(|(card, delta)| Step::Adjust { card, delta }),
        (0u8..4).prop_map(|card| Step::Drain { card }),
        (0u8..4).prop_map(|card| Step::Replace { card }),
        (0u8..3, 1u16..5000, 0u16..30, any::<bool>(), 0u16..3).prop_map(
            |(kind, points, pending_mins, enabled, window)| Step::Bonus {
                kind,
                points,
                pending_mins,
                enabled,
                window,
            }
        ),
        prop::option::of(-3i8..=3).prop_map(|birth| Step::Enrol { birth }),
        (1u16..3000, 1u8..=12, any::<bool>()).prop_map(|(gold, months, rolling)| Step::Tiers {
            gold,
            months,
            rolling
        }),
        (0u8..4, prop::option::of(any::<bool>()))
            .prop_map(|(card, gold)| Step::Floor { card, gold }),
        (3u8..5, 1u32..20_000, 0u8..3, any::<bool>()).prop_map(|(code, amount, days, sold)| {
            Step::Certificate {
                code,
                amount,
                days,
                sold,
            }
        }),
        (
            0u8..3,
            prop::option::of(0u8..4),
            0u8..6,
            lines(),
            prop_oneof![4 => 0u8..3, 1 => 3u8..5],
            prop_oneof![1u32..6000, 1u32..20_000]
        )
            .prop_map(|(cashbox, card, cheque, lines, code, amount)| {
                Step::PayByCertificate {
                    cashbox,
                    card,
                    cheque,
                    lines,
                    code,
                    amount,
                }
            }),
        Just(Step::Expire),
        (0u32..1200).prop_map(|secs| Step::Advance { secs }),
        any::<usize>().prop_map(|index| Step::Resend { index }),
    ]
}

fn cashbox(i: u8) -> CashboxId {
    [POS, KIOSK, POS2][usize::from(i) % 3]
}

fn cheque(card_no: Option<u8>, id: u8, lines: &[(u8, u16, u32)]) -> Cheque {
    let products = ["milk", "bread", "wine", "promo"];
    Cheque {
        cheque: cheque_id(&format!("c{id}")),
        card: card_no.map(|c| card(CARDS[usize::from(c) % 4])),
        cashier: None,
        presented: Vec::new(),
        pin: None,
        tenders: Vec::new(),
        local_time: local(19),
        lines: lines
            .iter()
            .map(|&(p, q, price)| Line {
                product: ProductCode::new(products[usize::from(p) % 4]).unwrap(),
                qty: loyalty_core::amount::Qty(i64::from(q)),
                price: loyalty_core::amount::Money(i64::from(price)),
                local_discount: loyalty_core::amount::Money::ZERO,
                promotional: false,
                min_price: Money::ZERO,
            })
            .collect(),
        coupons: Vec::new(),
        order: None,
    }
}

/// Coupons of single-use series 1 (C0, C1) and unlimited series 2 (C2), for anyone; a 5 %
/// discount needs a coupon of either series.
const COUPONS: u8 = 3;

fn with_coupons(w: &mut World) {
    w.coupon_series();
    for (series, code) in [(1, "C0"), (1, "C1"), (2, "C2")] {
        w.admin_ok(Command::IssueCoupons {
            series: CouponSeriesId(series),
            codes: vec![CouponCode::new(code).unwrap()],
            card: None,
            expires: local(23),
        });
    }
    for (id, series) in [(60, 1), (61, 2)] {
        let mut offer = Offer::new(
            OfferId(id),
            OfferEffect::Discount(Rate::Percent(
                loyalty_core::amount::Percent::parse("5").unwrap(),
            )),
            OfferScope::Cheque,
            local(0),
            local(23),
        );
        offer.when.coupon = Some(CouponSeriesId(series));
        w.admin_ok(Command::UpsertOffer { offer });
    }
    // A limited offer: 7 % off and 3 % more accrual, each within its budget.
    for (id, effect) in [
        (62, OfferEffect::Discount as fn(Rate) -> OfferEffect),
        (63, OfferEffect::Accrual),
    ] {
        let mut offer = Offer::new(
            OfferId(id),
            effect(Rate::Percent(
                loyalty_core::amount::Percent::parse(if id == 62 { "7" } else { "3" }).unwrap(),
            )),
            OfferScope::Cheque,
            local(0),
            local(23),
        );
        offer.limits = Some(LIMITS);
        w.admin_ok(Command::UpsertOffer { offer });
    }
    // Stamps: every 3rd unit at half price.
    w.admin_ok(Command::UpsertOffer {
        offer: Offer::new(
            OfferId(64),
            OfferEffect::Stamps {
                every: 3,
                percent: loyalty_core::amount::Percent::parse("50").unwrap(),
            },
            OfferScope::Cheque,
            local(0),
            local(23),
        ),
    });
}

/// The limits of the histories' limited offers (62, 63).
const LIMITS: OfferLimits = OfferLimits {
    total: Some(60_00),
    per_customer_day: Some(25_00),
    uses_per_customer: Some(4),
};

/// What the limited offers gave is the sum of the shares of the purchases that keep theirs,
/// and never more than their limits; a customer's stamps are those their standing
/// purchases collected.
fn certificate_code(i: u8) -> CertificateCode {
    CertificateCode::new(&format!("GC{i}")).unwrap()
}

/// Certificates GC0 (50.00 for a day), GC1 (200.00 for a month) and GC2 (0.50, sold at a
/// till, for a day); the histories may issue GC3 and GC4.
fn with_certificates(w: &mut World) {
    for (code, amount, days, by) in [
        (0, 5000, 1, operator()),
        (1, 20000, 30, operator()),
        (2, 50, 1, Actor::Cashbox(POS)),
    ] {
        let out = w.run(
            by,
            Command::IssueCertificate {
                code: certificate_code(code),
                amount: Money(amount),
                valid_days: days,
            },
        );
        assert!(out.reply.is_ok(), "{}", out.reply.message);
    }
}

/// Every certificate's books: held = what pending purchases' tenders name of it; balance =
/// its amount less what confirmed purchases took, plus what refunds put back; and
/// 0 ≤ held ≤ balance ≤ amount.
fn check_certificates(w: &World) {
    let p = &w.state.projection;
    for c in p.certificates.values() {
        c.check();
        let named = |x: &Purchase| -> i64 {
            loyalty_core::certificate::uses(&x.tenders)
                .iter()
                .filter(|(code, _)| *code == c.code)
                .map(|(_, m)| m.0)
                .sum()
        };
        let held: i64 = p
            .purchases
            .values()
            .filter(|x| x.status.is_pending())
            .map(named)
            .sum();
        let taken: i64 = p
            .purchases
            .values()
            .filter(|x| x.status == PurchaseStatus::Confirmed)
            .map(named)
            .sum();
        let back: i64 = w
            .history
            .iter()
            .filter_map(|e| match e {
                Event::RefundRecorded { certificates, .. } => Some(certificates),
                _ => None,
            })
            .flatten()
            .filter(|(code, _)| *code == c.code)
            .map(|(_, m)| m.0)
            .sum();
        assert_eq!(c.held.0, held, "{}: held", c.code);
        assert_eq!(
            c.balance.0,
            c.amount.0 - taken + back,
            "{}: balance",
            c.code
        );
    }
}

fn check_budgets(w: &World) {
    let p = &w.state.projection;
    let keeps = |x: &Purchase| match x.status {
        PurchaseStatus::Cancelled | PurchaseStatus::ReturnedWithoutReceipt => false,
        PurchaseStatus::Expired => x.registered,
        _ => true,
    };
    for a in p.accounts.keys() {
        let collected: u32 = p
            .purchases
            .values()
            .filter(|x| x.account == Some(*a) && keeps(x))
            .flat_map(|x| &x.stamps)
            .filter(|(o, _)| *o == OfferId(64))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(w.state.stamps(OfferId(64), *a), collected, "{a:?}: stamps");
    }
    for id in [OfferId(62), OfferId(63)] {
        let standing: Vec<&Purchase> = p
            .purchases
            .values()
            .filter(|x| match x.status {
                PurchaseStatus::Cancelled | PurchaseStatus::ReturnedWithoutReceipt => false,
                PurchaseStatus::Expired => x.registered,
                _ => true,
            })
            .collect();
        let share = |x: &Purchase| -> i64 {
            x.budget
                .iter()
                .filter(|(o, _)| *o == id)
                .map(|(_, v)| v)
                .sum()
        };
        let given: i64 = standing.iter().map(|x| share(x)).sum();
        assert_eq!(w.state.offer_given(id), given, "{id:?}: given");
        assert!(given <= LIMITS.total.unwrap(), "{id:?} overspent: {given}");
        for ((o, a), u) in &p.offer_uses {
            if *o != id {
                continue;
            }
            let mine = standing
                .iter()
                .filter(|x| x.account == Some(*a) && share(x) > 0);
            let day: i64 = mine
                .clone()
                .filter(|x| x.local_time.date() == u.day)
                .map(|x| share(x))
                .sum();
            assert_eq!(u.uses as usize, mine.count(), "{id:?} {a:?}: uses");
            assert!(u.uses <= LIMITS.uses_per_customer.unwrap());
            assert!(
                day <= LIMITS.per_customer_day.unwrap(),
                "{id:?} {a:?}: {day} in a day"
            );
        }
    }
}

fn shown(mut c: Cheque, coupon: Option<u8>) -> Cheque {
    c.coupons = coupon.map(|i| format!("C{i}")).into_iter().collect();
    c
}

fn order_lines() -> Vec<OrderLine> {
    vec![
        OrderLine {
            product: ProductCode::new("bread").unwrap(),
            qty: loyalty_core::amount::Qty(1000),
            price: loyalty_core::amount::Money(10_000),
            discount: loyalty_core::amount::Money(1_000),
        },
        OrderLine {
            product: ProductCode::new("milk").unwrap(),
            qty: loyalty_core::amount::Qty(2000),
            price: loyalty_core::amount::Money(5_000),
            discount: loyalty_core::amount::Money::ZERO,
        },
    ]
}

fn order_no(i: u8) -> OrderNo {
    OrderNo::new(&format!("WEB-{i}")).unwrap()
}

fn request(w: &mut World, step: &Step, sent: &[Request]) -> Option<Request> {
    let (actor, command) = match step.clone() {
        Step::Pay {
            cashbox: c,
            card,
            cheque: id,
            lines,
            points,
            coupon,
        } => (
            Actor::Cashbox(cashbox(c)),
            Command::PayWithBonus {
                cheque: shown(cheque(Some(card), id, &lines), coupon),
                points: loyalty_core::amount::Points(i64::from(points)),
            },
        ),
        Step::Certificate {
            code,
            amount,
            days,
            sold,
        } => (
            if sold {
                Actor::Cashbox(POS)
            } else {
                operator()
            },
            Command::IssueCertificate {
                code: certificate_code(code),
                amount: Money(i64::from(amount)),
                valid_days: u32::from(days),
            },
        ),
        Step::PayByCertificate {
            cashbox: c,
            card,
            cheque: id,
            lines,
            code,
            amount,
        } => {
            let mut ch = cheque(card, id, &lines);
            let preview =
                loyalty_core::decide::calculate(&w.state, &w.program, cashbox(c), &ch, w.now);
            let due = preview.totals.map_or(0, |t| t.amount.minus(t.discount).0);
            let by_certificate = i64::from(amount).min(due);
            ch.tenders = [
                (
                    TenderKind::Certificate(certificate_code(code)),
                    by_certificate,
                ),
                (TenderKind::Cash, due - by_certificate),
            ]
            .into_iter()
            .filter(|(_, x)| *x > 0)
            .map(|(kind, x)| Tender {
                kind,
                amount: Money(x),
            })
            .collect();
            (
                Actor::Cashbox(cashbox(c)),
                Command::RegisterPurchase { cheque: ch },
            )
        }
        Step::Register {
            cashbox: c,
            card,
            cheque: id,
            lines,
            coupon,
        } => (
            Actor::Cashbox(cashbox(c)),
            Command::RegisterPurchase {
                cheque: shown(cheque(card, id, &lines), coupon),
            },
        ),
        Step::Order {
            card: c,
            order,
            points,
        } => (
            operator(),
            Command::CreateOrder {
                number: order_no(order),
                card: card(CARDS[usize::from(c) % CARDS.len()]),
                lines: order_lines(),
                points: loyalty_core::amount::Points(i64::from(points)),
            },
        ),
        Step::PickUp {
            cashbox: c,
            cheque: id,
            order,
            show_card,
        } => {
            let owner = w.state.order(&order_no(order)).map(|o| o.card);
            let mut pickup = cheque(None, id, &[]);
            pickup.card = owner.filter(|_| show_card);
            pickup.lines = order_lines()
                .into_iter()
                .map(|l| Line {
                    product: l.product,
                    qty: l.qty,
                    price: l.price,
                    local_discount: loyalty_core::amount::Money::ZERO,
                    promotional: false,
                    min_price: Money::ZERO,
                })
                .collect();
            pickup.order = Some(order_no(order));
            (
                Actor::Cashbox(cashbox(c)),
                Command::RegisterPurchase { cheque: pickup },
            )
        }
        Step::CancelOrder { order } => (
            operator(),
            Command::CancelOrder {
                number: order_no(order),
            },
        ),
        Step::Confirm {
            cashbox: c,
            cheque: id,
        } => (
            Actor::Cashbox(cashbox(c)),
            Command::Confirm {
                cheque: cheque_id(&format!("c{id}")),
            },
        ),
        Step::Cancel {
            cashbox: c,
            cheque: id,
        } => (
            Actor::Cashbox(cashbox(c)),
            Command::Cancel {
                cheque: cheque_id(&format!("c{id}")),
            },
        ),
        Step::Refund {
            cashbox: c,
            cheque: id,
            refund,
            line,
            qty,
            sold_at,
        } => (
            Actor::Cashbox(cashbox(c)),
            Command::Refund {
                refund: cheque_id(&format!("r{refund}")),
                purchase: cheque_id(&format!("c{id}")),
                lines: vec![RefundLine {
                    index: u32::from(line),
                    qty: loyalty_core::amount::Qty(i64::from(qty)),
                }],
                sold_at: (sold_at != c).then(|| cashbox(sold_at)),
            },
        ),
        Step::Adjust { card: c, delta } => (
            operator(),
            Command::AdjustPoints {
                card: card(CARDS[usize::from(c) % CARDS.len()]),
                delta: loyalty_core::amount::Points(i64::from(delta)),
                reason: "goodwill".into(),
            },
        ),
        Step::ReturnWithoutReceipt {
            cashbox: c,
            number,
            lines,
        } => (
            Actor::Cashbox(cashbox(c)),
            Command::RefundWithoutReceipt {
                cheque: cheque(Some(0), 100 + number, &lines),
            },
        ),
        Step::Drain { card: c } => {
            let number = card(CARDS[usize::from(c) % CARDS.len()]);
            let spendable = w
                .state
                .card(&number)
                .and_then(|c| w.state.account(c.account))
                .map_or(Points::ZERO, |a| a.spendable());
            (
                operator(),
                Command::AdjustPoints {
                    card: number,
                    delta: Points(-spendable.0),
                    reason: "drain".into(),
                },
            )
        }
        Step::Replace { card: c } => {
            let op = w.op();
            return Some(Request {
                op,
                actor: Actor::Cashbox(cashbox(0)),
                command: Command::ReplaceCard {
                    old: card(CARDS[usize::from(c) % CARDS.len()]),
                    new: card(&format!("88{}", op.0)),
                },
            });
        }
        Step::Bonus {
            kind,
            points,
            pending_mins,
            enabled,
            window,
        } => {
            let kind = BonusKind::ALL[usize::from(kind) % BonusKind::ALL.len()];
            let window = if kind == BonusKind::Birthday {
                window
            } else {
                0
            };
            (
                operator(),
                Command::SetBonusRule {
                    rule: BonusRule {
                        kind,
                        points: Points(i64::from(points)),
                        lots: LotTerms {
                            pending_secs: u64::from(pending_mins) * 60,
                            lifetime_secs: Some(3600),
                        },
                        enabled,
                        days_before: window,
                        days_after: window,
                    },
                },
            )
        }
        Step::Enrol { birth } => (
            Actor::Cashbox(cashbox(0)),
            Command::RegisterCustomer {
                card: card(ISSUED),
                name: "Anna".into(),
                phone: String::new(),
                consent: true,
                birth_date: birth.map(|d| {
                    chrono::NaiveDate::from_ymd_opt(1990, 1, 15).unwrap()
                        + chrono::Duration::days(i64::from(d))
                }),
            },
        ),
        Step::Tiers {
            gold,
            months,
            rolling,
        } => (
            operator(),
            Command::SetTiers {
                tiers: Tiers {
                    levels: vec![
                        TierLevel {
                            name: "Silver".into(),
                            spend: Money::ZERO,
                        },
                        TierLevel {
                            name: "Gold".into(),
                            spend: Money(i64::from(gold) * 100),
                        },
                    ],
                    months,
                    rolling,
                },
            },
        ),
        Step::Floor { card: c, gold } => (
            operator(),
            Command::SetTierFloor {
                card: card(CARDS[usize::from(c) % CARDS.len()]),
                floor: gold.map(|g| if g { "Gold" } else { "Silver" }.to_owned()),
            },
        ),
        Step::Expire => (Actor::System, Command::ExpireHolds),
        Step::Advance { secs } => {
            w.now = w.now.plus_secs(u64::from(secs));
            return None;
        }
        Step::Resend { index } => {
            return (!sent.is_empty()).then(|| sent[index % sent.len()].clone())
        }
    };
    Some(Request {
        op: w.op(),
        actor,
        command,
    })
}

/// What a confirmed purchase leaves the customer: the accrual of the goods kept, less the
/// points paid for them.
fn kept_of(x: &Purchase) -> i64 {
    let returned_accrual: i64 = x
        .lines
        .iter()
        .map(|l| prorate(l.accrual.0, l.refunded_qty.0, l.line.qty.0))
        .sum();
    x.accrual.0 - returned_accrual - (x.paid.0 - x.points_returned.0)
}

pub fn check_invariants(w: &World) {
    let p = &w.state.projection;
    // Σ balances (pending points included) equals the net of accrual, redemption, refunds
    // and expiry in the log.
    let total: i64 = p.accounts.values().map(|a| a.balance.0 + a.pending.0).sum();
    let from_log: i64 = w.history.iter().map(Event::balance_delta).sum();
    assert_eq!(total, from_log, "Σ balances vs event totals");
    for a in p.accounts.values() {
        // Also: the lots agree with the balance and pending, none is spent beyond what it
        // was credited, none is empty.
        a.check();
        // Debt is paid back before points can be spent: never both at once.
        assert!(
            a.debt.0 == 0 || a.spendable().0 == 0,
            "{:?} owes {} with {} spendable",
            a.id,
            a.debt,
            a.spendable()
        );
        // Holds are exactly the points of pending purchases and of open orders.
        let pending: i64 = p
            .purchases
            .values()
            .filter(|x| x.status.is_pending() && x.account == Some(a.id))
            .map(|x| x.paid.0)
            .sum::<i64>()
            + p.orders
                .values()
                .filter(|o| o.status == OrderStatus::Open && o.account == a.id)
                .map(|o| o.points.0)
                .sum::<i64>();
        assert_eq!(a.held.0, pending, "held vs pending purchases of {:?}", a.id);
    }
    // What a customer has (spendable, held, pending) and what burnt, less what they owe, is
    // exactly what they earned on the goods they kept, less the points they paid for those
    // goods, plus adjustments: a refund never leaves minted points, a debt never hides any,
    // and expiry takes only what it says.
    for a in p.accounts.values() {
        let kept: i64 = p
            .purchases
            .values()
            .filter(|x| x.account == Some(a.id))
            .map(|x| match x.status {
                // Taken back for goods returned without the receipt.
                PurchaseStatus::ReturnedWithoutReceipt => -x.accrual.0,
                PurchaseStatus::Confirmed => kept_of(x),
                _ => 0,
            })
            .sum();
        let adjusted: i64 = w
            .history
            .iter()
            .filter_map(|e| match e {
                Event::PointsAdjusted { account, delta, .. } if *account == a.id => Some(delta.0),
                _ => None,
            })
            .sum();
        let bonuses: Vec<(BonusKind, i64)> = w
            .history
            .iter()
            .filter_map(|e| match e {
                Event::BonusGranted {
                    account,
                    kind,
                    points,
                    ..
                } if *account == a.id => Some((*kind, points.0)),
                _ => None,
            })
            .collect();
        // Each event bonus at most once per account (a birthday's once a year: these
        // histories last less than one), and the first-purchase bonus only after a purchase
        // became final; a birthday bonus only for a birthday the sweep reached and left.
        for kind in BonusKind::ALL {
            let n = bonuses.iter().filter(|(k, _)| *k == kind).count();
            assert!(n <= 1, "{:?} got {kind:?} {n} times", a.id);
            if kind.once() {
                assert_eq!(a.bonuses.contains(&kind), n == 1, "{:?} {kind:?}", a.id);
            }
        }
        let reached: Vec<_> = w
            .history
            .iter()
            .filter_map(|e| match e {
                Event::BirthdayScheduled {
                    account,
                    reached: Some(day),
                    ..
                } if *account == a.id => Some(*day),
                _ => None,
            })
            .collect();
        let birthdays = bonuses
            .iter()
            .filter(|(k, _)| *k == BonusKind::Birthday)
            .count();
        assert!(
            birthdays <= reached.len(),
            "{:?}: a birthday bonus not reached",
            a.id
        );
        assert!(
            reached
                .iter()
                .all(|d| a.birthday.is_some_and(|next| next > *d)),
            "{:?}: a reached birthday is still the next one",
            a.id
        );
        if a.bonuses.contains(&BonusKind::FirstPurchase) {
            assert!(
                a.purchases >= 1,
                "{:?}: a first-purchase bonus without one",
                a.id
            );
        }
        let bonus: i64 = bonuses.iter().map(|(_, p)| p).sum();
        // Spend is the goods' value after discounts of the final purchases, less what came
        // back (with or without the receipt); the level is one the programme has, never
        // below the floor.
        let spend: i64 = p
            .purchases
            .values()
            .filter(|x| x.account == Some(a.id))
            .map(|x| match x.status {
                PurchaseStatus::Confirmed => {
                    x.lines.iter().map(|l| l.net().0).sum::<i64>() - x.refunded_money.0
                }
                PurchaseStatus::ReturnedWithoutReceipt => -x.refunded_money.0,
                _ => 0,
            })
            .sum();
        assert_eq!(
            a.spend.iter().map(|(_, v)| v.0).sum::<i64>(),
            spend,
            "{:?}: spend",
            a.id
        );
        if let Some(t) = &p.tiers {
            let rank = |n: &Option<String>| {
                n.as_ref().map(|n| {
                    t.levels
                        .iter()
                        .position(|l| &l.name == n)
                        .expect("a known level")
                })
            };
            assert!(
                rank(&a.tier) >= rank(&a.tier_floor),
                "{:?}: below its floor",
                a.id
            );
        }
        let burnt: i64 = w
            .history
            .iter()
            .filter_map(|e| match e {
                Event::PointsExpired {
                    account, points, ..
                } if *account == a.id => Some(points.0),
                _ => None,
            })
            .sum();
        assert_eq!(
            a.balance.0 + a.pending.0 + burnt - a.debt.0,
            kept + adjusted + bonus,
            "{:?}: balance less debt vs earned on kept goods",
            a.id
        );
    }
    // A coupon counts one use per purchase holding it (not cancelled or expired), and a
    // single-use coupon is never used twice.
    for c in p.coupons.values() {
        let holding = p
            .purchases
            .values()
            .filter(|x| {
                !matches!(
                    x.status,
                    PurchaseStatus::Cancelled | PurchaseStatus::Expired
                ) && x.coupons.contains(&c.code)
            })
            .count();
        assert_eq!(c.used as usize, holding, "uses of coupon {}", c.code);
        let series = &p.coupon_series[&c.series];
        assert!(
            series.uses == 0 || c.used <= series.uses,
            "coupon {} overused",
            c.code
        );
    }
    // An order is picked up by exactly one pending or confirmed purchase.
    for o in p.orders.values() {
        let by: Vec<_> = p
            .purchases
            .values()
            .filter(|x| {
                x.order.as_ref() == Some(&o.number)
                    && !matches!(
                        x.status,
                        PurchaseStatus::Cancelled | PurchaseStatus::Expired
                    )
            })
            .map(|x| x.key.clone())
            .collect();
        match o.status {
            OrderStatus::PickedUp => assert_eq!(by, o.purchase.iter().cloned().collect::<Vec<_>>()),
            _ => assert!(by.is_empty(), "order {} not picked up but bought", o.number),
        }
    }
    for x in p.purchases.values() {
        let net: i64 = x.lines.iter().map(|l| l.net().0).sum();
        // Goods returned without the receipt get back what the cashier entered.
        let gross: i64 = x.lines.iter().map(|l| l.amount.0).sum();
        let most = if x.status == PurchaseStatus::ReturnedWithoutReceipt {
            gross
        } else {
            net
        };
        assert!(x.refunded_money.0 <= most, "refunds exceed the purchase");
        assert!(x.points_returned <= x.paid && x.accrual_reversed <= x.accrual);
        assert!(x.paid.0 <= x.lines.iter().map(|l| l.redeem_cap.0).sum::<i64>());
        for l in &x.lines {
            assert!(l.paid <= l.redeem_cap && l.refunded_qty <= l.line.qty);
        }
    }
    // The live state equals the projection rebuilt from the log alone.
    let mut rebuilt = MemState::default();
    for e in &w.history {
        apply(&mut rebuilt, e);
    }
    assert_eq!(
        rebuilt.projection, *p,
        "rebuild from the log differs from live state"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_any_history(steps in prop::collection::vec(step(), 1..60)) {
        run_history(&steps)?;
    }

    #[test]
    fn debts_settle_exactly_after_refunds_and_late_confirms(
        steps in prop::collection::vec(money_step(), 1..80)
    ) {
        run_history(&steps)?;
    }

    /// Points pending for 10 minutes and living an hour: the histories' time jumps (up to
    /// 20 minutes a step) see lots mature, get spent, given back and burn.
    #[test]
    fn lots_keep_their_books_through_time(
        steps in prop::collection::vec(money_step(), 1..100)
    ) {
        run_history_with(&steps, LotTerms { pending_secs: 600, lifetime_secs: Some(3600) })?;
    }
}

/// Found by `debts_settle_exactly_after_refunds_and_late_confirms`: a return without the
/// receipt takes back accrual (a debt), then a late confirm credits a new lot.
#[test]
fn a_late_confirm_after_a_return_without_the_receipt_credits_its_lot_in_order() {
    let steps = [
        Step::Register {
            cashbox: 2,
            card: Some(0),
            cheque: 1,
            lines: vec![(0, 1, 10500)],
            coupon: None,
        },
        Step::Adjust {
            card: 0,
            delta: 1133,
        },
        Step::Pay {
            cashbox: 2,
            card: 0,
            cheque: 2,
            lines: vec![(1, 1000, 50000)],
            points: 1,
            coupon: None,
        },
        Step::Register {
            cashbox: 2,
            card: Some(0),
            cheque: 2,
            lines: vec![(0, 1, 11500)],
            coupon: None,
        },
        Step::Advance { secs: 900 },
        Step::Pay {
            cashbox: 0,
            card: 0,
            cheque: 0,
            lines: vec![(1, 1000, 50000)],
            points: 1132,
            coupon: None,
        },
        Step::Confirm {
            cashbox: 2,
            cheque: 1,
        },
        Step::Expire,
        Step::ReturnWithoutReceipt {
            cashbox: 0,
            number: 0,
            lines: vec![(0, 202, 50770), (2, 1009, 47268)],
        },
        Step::Confirm {
            cashbox: 2,
            cheque: 2,
        },
    ];
    run_history(&steps).unwrap();
}

/// Runs a history step by step, checking the invariants after each.
fn run_history(steps: &[Step]) -> Result<(), TestCaseError> {
    let terms = World::new().program.lots;
    run_history_with(steps, terms)
}

fn run_history_with(steps: &[Step], terms: LotTerms) -> Result<(), TestCaseError> {
    let mut w = World::new();
    w.program.lots = terms;
    w.program.receiptless_refunds = true;
    {
        with_coupons(&mut w);
        with_certificates(&mut w);
        // Orders live ten minutes here, so that histories see them expire.
        w.program.order_lifetime_secs = 600;
        let mut sent: Vec<Request> = Vec::new();
        for s in steps {
            let Some(req) = request(&mut w, s, &sent) else {
                continue;
            };
            let resend = sent.iter().any(|r| r.op == req.op);
            let first_reply = w.state.operation(req.op).map(|r| r.reply);
            let account_before = match &req.command {
                Command::ReplaceCard { old, .. } => {
                    w.state.card(old).and_then(|c| w.state.account(c.account))
                }
                _ => None,
            };
            let out = w.run_req(&req);
            if let (Command::ReplaceCard { old, new }, Some(before), false) =
                (&req.command, account_before, resend)
            {
                if out.reply.is_ok() {
                    // Replacement conserves points: the new card has the old card's account,
                    // with the same balance and holds.
                    let new_card = w.state.card(new).expect("new card");
                    prop_assert_eq!(new_card.account, before.id);
                    prop_assert_eq!(w.state.account(before.id), Some(before));
                    prop_assert_eq!(
                        w.state.card(old).map(|c| c.status),
                        Some(CardStatus::Replaced)
                    );
                }
            }
            if resend {
                // Submitting anything twice equals once.
                prop_assert!(out.replayed && out.events.is_empty());
                prop_assert_eq!(Some(out.reply.clone()), first_reply);
            } else {
                sent.push(req);
            }
            if matches!(s, Step::Expire) {
                // Sweeping again at the same time matures and burns nothing more — except
                // points the first sweep's released holds gave back to lots whose time was
                // up (they burn at the next sweep); a third sweep finds nothing at all.
                let lot_events = |events: &[Event]| {
                    events
                        .iter()
                        .filter(|e| {
                            matches!(
                                e,
                                Event::PointsActivated { .. } | Event::PointsExpired { .. }
                            )
                        })
                        .count()
                };
                let released = out
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::HoldExpired { .. } | Event::OrderExpired { .. }));
                let again = w.run(Actor::System, Command::ExpireHolds);
                if !released && !out.replayed {
                    prop_assert_eq!(lot_events(&again.events), 0);
                }
                let third = w.run(Actor::System, Command::ExpireHolds);
                prop_assert_eq!(lot_events(&third.events), 0);
            }
            check_invariants(&w);
            check_budgets(&w);
            check_certificates(&w);
        }
    }
    Ok(())
}

/// One item of an offline upload.
#[derive(Debug, Clone)]
enum Offline {
    Buy {
        card: Option<u8>,
        amount: u32,
        points: bool,
        discount: bool,
    },
    Refund {
        of: usize,
        qty: u16,
    },
}

fn offline_items() -> impl Strategy<Value = Vec<Offline>> {
    prop::collection::vec(
        prop_oneof![
            4 => (prop::option::of(0u8..2), 1u32..500_000, prop::bool::weighted(0.1), prop::bool::weighted(0.1)).prop_map(|(card, amount, points, discount)| Offline::Buy { card, amount, points, discount }),
            1 => (any::<usize>(), 1u16..1500).prop_map(|(of, qty)| Offline::Refund { of, qty }),
        ],
        1..25,
    )
}

fn offline_requests(items: &[Offline]) -> Vec<Request> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let command = match item {
                Offline::Buy {
                    card: c,
                    amount,
                    points,
                    discount,
                } => Command::ImportOfflinePurchase {
                    cheque: Cheque {
                        cheque: cheque_id(&format!("off{i}")),
                        card: c.map(|c| card([GOLD, EMPTY][usize::from(c)])),
                        cashier: None,
                        presented: Vec::new(),
                        pin: None,
                        tenders: Vec::new(),
                        local_time: local(10 + (i % 12) as u32),
                        lines: vec![Line {
                            product: ProductCode::new("bread").unwrap(),
                            qty: loyalty_core::amount::Qty(1000),
                            price: loyalty_core::amount::Money(i64::from(*amount)),
                            local_discount: loyalty_core::amount::Money::ZERO,
                            promotional: false,
                            min_price: Money::ZERO,
                        }],
                        coupons: Vec::new(),
                        order: None,
                    },
                    points_paid: loyalty_core::amount::Points(i64::from(*points) * 100),
                    local_discount: loyalty_core::amount::Money(i64::from(*discount)),
                },
                Offline::Refund { of, qty } => Command::Refund {
                    refund: cheque_id(&format!("roff{i}")),
                    purchase: cheque_id(&format!("off{}", of % (i + 1))),
                    lines: vec![RefundLine {
                        index: 0,
                        qty: loyalty_core::amount::Qty(i64::from(*qty)),
                    }],
                    sold_at: None,
                },
            };
            Request {
                op: OpId((0x0ff1 << 64) | i as u128),
                actor: Actor::Cashbox(POS2),
                command,
            }
        })
        .collect()
}

/// Live traffic of another cashbox on other accounts, meanwhile.
fn live_requests(n: usize) -> Vec<Request> {
    (0..n)
        .flat_map(|i| {
            let id = format!("live{i}");
            let cheque = World::cheque(Some(ISSUED), &id, &[("bread", "1", "77")]);
            [
                Request {
                    op: OpId((0x11fe << 64) | (2 * i) as u128),
                    actor: Actor::Cashbox(POS),
                    command: Command::RegisterPurchase { cheque },
                },
                Request {
                    op: OpId((0x11fe << 64) | (2 * i + 1) as u128),
                    actor: Actor::Cashbox(POS),
                    command: Command::Confirm {
                        cheque: cheque_id(&id),
                    },
                },
            ]
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any pattern of resends — prefixes, overlapping pieces, the whole batch again — mixed
    /// with live traffic ends exactly as one clean application, item by item.
    #[test]
    fn offline_resends_equal_one_clean_application(
        items in offline_items(),
        windows in prop::collection::vec((0usize..10, 0usize..10), 1..12),
        live in 0usize..6,
    ) {
        let batch = offline_requests(&items);
        let traffic = live_requests(live);
        let mut clean = World::new();
        let expected: Vec<_> = batch.iter().map(|r| clean.run_req(r).reply).collect();
        for r in &traffic {
            clean.run_req(r);
        }

        let mut w = World::new();
        let mut first: Vec<Option<loyalty_core::outcome::Reply>> = vec![None; batch.len()];
        let mut frontier = 0;
        let mut live_left = traffic.iter();
        let send = |w: &mut World, i: usize, first: &mut Vec<Option<loyalty_core::outcome::Reply>>| {
            let out = w.run_req(&batch[i]);
            match &first[i] {
                None => {
                    prop_assert!(!out.replayed);
                    prop_assert_eq!(out.reply.code, expected[i].code, "item {}", i);
                    first[i] = Some(out.reply);
                }
                Some(original) => {
                    prop_assert!(out.replayed && out.events.is_empty());
                    prop_assert_eq!(&out.reply, original);
                }
            }
            Ok(())
        };
        // The till never skips ahead: each piece starts at or before the first unsent item.
        for (back, len) in windows.iter().copied().chain(std::iter::once((0, usize::MAX / 2))) {
            let start = frontier - back.min(frontier);
            let end = (start + len + 1).min(batch.len());
            for i in start..end {
                send(&mut w, i, &mut first)?;
            }
            frontier = frontier.max(end);
            if let Some(r) = live_left.next() {
                w.run_req(r);
            }
        }
        for r in live_left {
            w.run_req(r);
        }
        // And the whole batch once more, from a second copy of the queue.
        for i in 0..batch.len() {
            send(&mut w, i, &mut first)?;
        }
        prop_assert_eq!(&w.state.projection, &clean.state.projection);
        check_invariants(&w);
    }
}
