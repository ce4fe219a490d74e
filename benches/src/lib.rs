//! Shared workload for the benches: a program with a catalogue, offers, cashboxes and
//! cards, and generators of realistic requests.

use chrono::NaiveDate;
use loyalty_core::amount::{Money, Percent, Points, Qty};
use loyalty_core::command::{Actor, Cheque, Command, Request};
use loyalty_core::ids::*;
use loyalty_core::model::*;

pub const CARDS: u64 = 1000;
pub const PRODUCTS: usize = 200;

pub fn card(i: u64) -> CardNo {
    CardNo::new(&format!("{}", 5_000_000_000u64 + i % CARDS)).expect("digits")
}

fn local() -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("date")
}

/// The admin requests that set the program up.
pub fn setup(cashboxes: u32) -> Vec<Request> {
    let mut op = 0u128;
    let mut next = |command| {
        op += 1;
        Request {
            op: OpId(op),
            actor: Actor::Admin(
                loyalty_core::ids::OperatorName::new("ops").expect("operator name"),
            ),
            command,
        }
    };
    let mut out = Vec::new();
    for id in 1..=cashboxes {
        out.push(next(Command::RegisterCashbox {
            id: CashboxId(id),
            store: StoreId(1),
            kind: CashboxKind::Pos,
            secret_sha256: [0; 32],
            public_key: None,
            login: None,
        }));
    }
    let products = (0..PRODUCTS)
        .map(|i| Product {
            code: ProductCode::new(&format!("p{i}")).expect("code"),
            name: format!("product {i}"),
            group: Some(GroupCode::new(&format!("g{}", i % 10)).expect("group")),
            barcodes: vec![ProductCode::new(&format!("46{i:011}")).expect("barcode")],
            min_price: Money(100),
            promotional: i % 17 == 0,
        })
        .collect();
    out.push(next(Command::ImportProducts { products }));
    type Kind = fn(Rate) -> OfferEffect;
    for (id, effect, pct, group) in [
        (1, OfferEffect::Discount as Kind, "10", Some("g1")),
        (2, OfferEffect::Accrual as Kind, "5", None),
        (3, OfferEffect::Accrual as Kind, "7", Some("g2")),
        (4, OfferEffect::Discount as Kind, "3", None),
    ] {
        out.push(next(Command::UpsertOffer {
            offer: Offer::new(
                OfferId(id),
                effect(Rate::Percent(Percent::parse(pct).expect("pct"))),
                group.map_or(OfferScope::Cheque, |g| {
                    OfferScope::Groups(vec![GroupCode::new(g).expect("group")])
                }),
                local() - chrono::Duration::days(365),
                local() + chrono::Duration::days(365),
            ),
        }));
    }
    for i in 0..CARDS {
        out.push(next(Command::IssueCard {
            number: card(i),
            card_type: "Gold".into(),
            status: CardStatus::Activated,
            account: None,
            holder_name: String::new(),
            holder_phone: String::new(),
        }));
    }
    out
}

/// A marketing campaign of `n` offers of every kind, as a chain would run them: discounts
/// and accruals (percent, per line, per target) on groups, products and the whole
/// cheque, "N + M" offers and bundles, with weekday, hour, card-type and minimum-total
/// conditions, priorities and exclusivity, and messages. All open at the benches' local
/// time.
pub fn campaign(n: u32) -> Vec<Command> {
    use chrono::NaiveTime;
    (0..n)
        .map(|i| {
            let rate = match i % 3 {
                0 => Rate::Percent(Percent::parse(&format!("{}", 1 + i % 9)).expect("pct")),
                1 => Rate::PerLine(50 + i64::from(i)),
                _ => Rate::Total(500 + 10 * i64::from(i)),
            };
            let effect = match i % 10 {
                0..=3 => OfferEffect::Discount(rate),
                4 => OfferEffect::Multibuy {
                    buy: 1 + i % 3,
                    get: 1,
                    percent: Percent::parse("50").expect("pct"),
                },
                5..=8 => OfferEffect::Accrual(rate),
                _ if i % 20 == 9 => OfferEffect::Bundle {
                    price: loyalty_core::amount::Money(1000 + i64::from(i)),
                },
                _ => OfferEffect::Message {
                    to: MessageTo::Cheque,
                    template: format!("offer {i}: saved {{discount}}, earned {{accrued}}"),
                },
            };
            let product = |k: u32| ProductCode::new(&format!("p{k}")).expect("code");
            let bundle = matches!(effect, OfferEffect::Bundle { .. });
            let scope = if bundle {
                // Two goods the benches' cheques sell by the piece.
                let first = 10 + i % 40;
                OfferScope::Products(vec![product(first), product(first + 3)])
            } else {
                match i % 4 {
                    0 => OfferScope::Cheque,
                    1 => OfferScope::Groups(vec![
                        GroupCode::new(&format!("g{}", i % 10)).expect("group")
                    ]),
                    2 => OfferScope::Products(
                        (0..20)
                            .map(|k| {
                                ProductCode::new(&format!("p{}", (i as usize * 7 + k) % PRODUCTS))
                                    .expect("code")
                            })
                            .collect(),
                    ),
                    _ => OfferScope::Groups(vec![
                        GroupCode::new(&format!("g{}", i % 10)).expect("group"),
                        GroupCode::new(&format!("g{}", (i + 3) % 10)).expect("group"),
                    ]),
                }
            };
            let when = Conditions {
                weekdays: if i % 5 == 0 { 0b001_1111 } else { 0 },
                hours: (i % 6 == 0).then(|| {
                    (
                        NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
                        NaiveTime::from_hms_opt(22, 0, 0).expect("time"),
                    )
                }),
                stores: if i % 7 == 0 {
                    vec![StoreId(1), StoreId(2)]
                } else {
                    Vec::new()
                },
                card_types: if i % 8 == 0 {
                    vec!["Gold".into()]
                } else {
                    Vec::new()
                },
                min_total: Money(if i % 3 == 0 { 10_000 } else { 0 }),
                ..Conditions::default()
            };
            Command::UpsertOffer {
                offer: Offer {
                    when,
                    priority: i % 4,
                    exclusive: i % 11 == 0,
                    ..Offer::new(
                        OfferId(1000 + i),
                        effect,
                        scope,
                        local() - chrono::Duration::days(30),
                        local() + chrono::Duration::days(30),
                    )
                },
            }
        })
        .collect()
}

/// A cheque of `lines` lines for card `i`.
pub fn cheque(id: &str, i: u64, lines: usize) -> Cheque {
    cheque_for(id, card(i), lines)
}

/// A cheque of `lines` lines for any card.
pub fn cheque_for(id: &str, number: CardNo, lines: usize) -> Cheque {
    let i: u64 = number.as_str().parse().unwrap_or(0);
    Cheque {
        cheque: ChequeId::new(id).expect("id"),
        card: Some(number),
        cashier: None,
        presented: Vec::new(),
        pin: None,
        tenders: Vec::new(),
        local_time: local(),
        lines: (0..lines)
            .map(|l| Line {
                product: ProductCode::new(&format!("p{}", (i as usize + l) % PRODUCTS))
                    .expect("code"),
                qty: Qty(1000 + (l as i64 % 3) * 500),
                price: Money(1999 + l as i64 * 100),
                local_discount: Money::ZERO,
                promotional: false,
                min_price: Money::ZERO,
            })
            .collect(),
        coupons: Vec::new(),
        order: None,
    }
}

/// The two requests of a purchase without points: register, then confirm.
pub fn purchase(n: u64, cashbox: u32, lines: usize) -> [Request; 2] {
    let id = format!("b{n}");
    let actor = Actor::Cashbox(CashboxId(cashbox));
    [
        Request {
            op: OpId(u128::from(n) << 64 | 1),
            actor,
            command: Command::RegisterPurchase {
                cheque: cheque(&id, n, lines),
            },
        },
        Request {
            op: OpId(u128::from(n) << 64 | 2),
            actor,
            command: Command::Confirm {
                cheque: ChequeId::new(&id).expect("id"),
            },
        },
    ]
}

/// A hold of one point on a purchase.
pub fn hold(n: u64, cashbox: u32, lines: usize) -> Request {
    Request {
        op: OpId(u128::from(n) << 64 | 3),
        actor: Actor::Cashbox(CashboxId(cashbox)),
        command: Command::PayWithBonus {
            cheque: cheque(&format!("h{n}"), n, lines),
            points: Points(100),
        },
    }
}

/// Cancels the purchase a hold was placed on.
pub fn cancel(hold: &Request) -> Request {
    let Command::PayWithBonus { cheque, .. } = &hold.command else {
        panic!("not a hold")
    };
    Request {
        op: OpId(hold.op.0 + 1),
        actor: hold.actor,
        command: Command::Cancel {
            cheque: cheque.cheque.clone(),
        },
    }
}

/// An offline cheque of `lines` lines (accrual only; one event when applied).
pub fn offline(n: u64, cashbox: u32, lines: usize) -> Request {
    Request {
        op: OpId(u128::from(n) << 64 | 4),
        actor: Actor::Cashbox(CashboxId(cashbox)),
        command: Command::ImportOfflinePurchase {
            cheque: cheque(&format!("o{n}"), n, lines),
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    }
}
