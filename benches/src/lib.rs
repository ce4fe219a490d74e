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
