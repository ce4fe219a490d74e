//! Rule tables: given a world, when a command runs, then this outcome code — and a
//! refused command changes nothing but its operation record. One file per command family,
//! as `decide` is split; the givens, the whens and `check` are shared from here.

mod admin;
mod bonus;
mod certificates;
mod customer;
mod identify;
mod lots;
mod offline;
mod purchase;
mod refund;
mod tiers;

use crate::fixture::*;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::{balance, calculate, operation_status};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;

type Given = fn(&mut World);
type When = fn(&World) -> (Actor, Command);

struct Case {
    name: &'static str,
    given: Given,
    when: When,
    then: Code,
}

fn nothing(_: &mut World) {}

/// Confirms cheque `id` at POS, which must succeed; the events it made.
fn confirm_events(w: &mut World, id: &str) -> Vec<loyalty_core::event::Event> {
    let out = w.run(
        Actor::Cashbox(POS),
        Command::Confirm {
            cheque: cheque_id(id),
        },
    );
    assert!(out.reply.is_ok(), "{}", out.reply.message);
    out.events
}

/// The stores' day `(y, m, d)` at 09:00 (the fixture's stores run on UTC).
fn morning(y: i32, m: u32, d: u32) -> UnixMillis {
    let t = chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    UnixMillis(t.and_utc().timestamp_millis())
}

fn milk(card_no: Option<&str>, id: &str) -> Cheque {
    World::cheque(card_no, id, &[("milk", "1", "100")])
}

fn pay(cashbox: CashboxId, card_no: Option<&str>, points: &str) -> (Actor, Command) {
    (
        Actor::Cashbox(cashbox),
        Command::PayWithBonus {
            cheque: milk(card_no, "c1"),
            points: pts(points),
        },
    )
}

fn cash(cashbox: CashboxId, command: Command) -> (Actor, Command) {
    (Actor::Cashbox(cashbox), command)
}

fn held(w: &mut World) {
    let (a, c) = pay(POS, Some(GOLD), "10");
    assert!(w.run(a, c).reply.is_ok());
}

fn registered(w: &mut World) {
    held(w);
    assert!(w
        .cash(
            POS,
            Command::RegisterPurchase {
                cheque: milk(Some(GOLD), "c1")
            }
        )
        .is_ok());
}

fn confirmed(w: &mut World) {
    registered(w);
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
}

/// A refund numbered `number` at `at` of the purchase "c1" sold at `sold_at`.
fn refund_at(at: CashboxId, sold_at: CashboxId, number: &str, qty: &str) -> (Actor, Command) {
    cash(
        at,
        Command::Refund {
            refund: cheque_id(number),
            purchase: cheque_id("c1"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty::parse(qty).unwrap(),
            }],
            sold_at: (at != sold_at).then_some(sold_at),
        },
    )
}

fn confirm_c1() -> (Actor, Command) {
    cash(
        POS,
        Command::Confirm {
            cheque: cheque_id("c1"),
        },
    )
}

/// A card-holder bought milk at the kiosk (cheque "c1").
fn kiosk_sale(w: &mut World) {
    for command in [
        Command::RegisterPurchase {
            cheque: milk(Some(GOLD), "c1"),
        },
        Command::Confirm {
            cheque: cheque_id("c1"),
        },
    ] {
        assert!(w.cash(KIOSK, command).is_ok());
    }
}

fn refund(cashbox: CashboxId, index: u32, qty: &str) -> (Actor, Command) {
    cash(
        cashbox,
        Command::Refund {
            refund: cheque_id("r1"),
            purchase: cheque_id("c1"),
            lines: vec![RefundLine {
                index,
                qty: Qty::parse(qty).unwrap(),
            }],
            sold_at: None,
        },
    )
}

fn offline(card_no: Option<&str>, id: &str, points: &str, discount: &str) -> (Actor, Command) {
    cash(
        POS,
        Command::ImportOfflinePurchase {
            cheque: milk(card_no, id),
            points_paid: pts(points),
            local_discount: Money::parse(discount).unwrap(),
        },
    )
}

fn tender(kind: TenderKind, amount: &str) -> Tender {
    Tender {
        kind,
        amount: Money::parse(amount).unwrap(),
    }
}

fn favourites(card_no: &str, products: &[&str]) -> Command {
    Command::ChooseFavourites {
        card: card(card_no),
        products: products
            .iter()
            .map(|p| ProductCode::new(p).unwrap())
            .collect(),
    }
}

const QR_SECRET: [u8; 32] = [3; 32];

fn gold_qr(w: &mut World) {
    w.admin_ok(Command::IssueQrSecret {
        card: card(GOLD),
        secret: QR_SECRET,
    });
}

/// The QR code the app shows for a card, `windows_ago` windows before now.
fn qr_of(w: &World, card_no: &str, windows_ago: i64) -> Presented {
    let number = card(card_no);
    let code = loyalty_core::qr::code(
        &QR_SECRET,
        &number,
        loyalty_core::qr::window(w.now) - windows_ago,
    );
    Presented::Qr { number, code }
}

fn gold_pin(w: &mut World) {
    let r = w.cash(
        POS,
        Command::SetCardPin {
            card: card(GOLD),
            pin: Some(Pin::new("4321").unwrap()),
            old_pin: None,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
}

/// A range of stand cards: 13 digits from 2770000001, EAN-13 check digit.
fn stand_range(w: &mut World) {
    w.admin_ok(Command::SetCardRange {
        range: CardRange {
            prefix: "2770000001".into(),
            length: 13,
            check: CheckDigit::Ean13,
            card_type: "Stand".into(),
        },
        active: true,
    });
}

const STAND_CARD: &str = "2770000001007";

const PHONE: &str = "8 (999) 000-11-22";

fn phone(p: &str) -> Presented {
    Presented::Phone(Phone::parse(p).unwrap())
}

fn stripe(card_no: &str) -> Presented {
    Presented::Card {
        number: card_from_magstripe(&format!("%B{card_no}^HOLDER/A^2712?")).unwrap(),
        via: IdKind::MagStripe,
    }
}

fn with_ids(ids: Vec<Presented>) -> Cheque {
    let mut c = milk(None, "c1");
    c.presented = ids;
    c
}

fn pay_with(ids: Vec<Presented>, points: &str) -> (Actor, Command) {
    cash(
        POS,
        Command::PayWithBonus {
            cheque: with_ids(ids),
            points: pts(points),
        },
    )
}

fn register_with(ids: Vec<Presented>) -> (Actor, Command) {
    cash(
        POS,
        Command::RegisterPurchase {
            cheque: with_ids(ids),
        },
    )
}

/// The customer of the issued card registers with the phone `PHONE`.
fn phone_registered(w: &mut World) {
    let r = w.cash(POS, register_customer(ISSUED));
    assert!(r.is_ok(), "{}", r.message);
}

const NEW_CARD: &str = "2770000000900";

fn replace(old: &str, new: &str) -> (Actor, Command) {
    (
        operator(),
        Command::ReplaceCard {
            old: card(old),
            new: card(new),
        },
    )
}

fn register_customer(card_no: &str) -> Command {
    Command::RegisterCustomer {
        card: card(card_no),
        name: "Ivan".into(),
        phone: Phone::parse(PHONE).unwrap().to_string(),
        consent: true,
        birth_date: None,
    }
}

/// A manual correction by the fixtures' operator.
fn adjust(card_no: &str, delta: &str) -> (Actor, Command) {
    let (negative, digits) = match delta.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, delta),
    };
    let p = Points::parse(digits).unwrap();
    (
        operator(),
        Command::AdjustPoints {
            card: card(card_no),
            delta: if negative { Points(-p.0) } else { p },
            reason: "goodwill".into(),
        },
    )
}

/// Runs one case on a fresh world; a refusal must leave the projection as it was — but for
/// a wrong PIN, which is recorded (`PinFailed`) so that guessing is counted.
fn check(case: &Case) {
    let mut w = World::new();
    (case.given)(&mut w);
    let mut before = MemState::default();
    before.projection = w.state.projection.clone();
    let (actor, command) = (case.when)(&w);
    let out = w.run(actor, command);
    assert_eq!(
        out.reply.code, case.then,
        "{}: {}",
        case.name, out.reply.message
    );
    if case.then != Code::Ok {
        for e in &out.events {
            assert!(
                matches!(e, loyalty_core::event::Event::PinFailed { .. }),
                "{}: a refusal produced {}",
                case.name,
                e.name()
            );
            loyalty_core::apply::apply(&mut before, e);
        }
        assert_eq!(
            w.state.projection, before.projection,
            "{}: a refusal changed state",
            case.name
        );
        assert!(
            !out.reply.message.is_empty(),
            "{}: refusal without message",
            case.name
        );
    }
}
