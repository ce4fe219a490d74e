//! Event bonuses, rule by rule: given the bonuses an administrator set and a customer's
//! history, when a customer registers or a purchase becomes final, then exactly these
//! bonuses — each once per account, as a lot with the rule's own terms.

use super::*;
use loyalty_core::event::Event;

const DAY: u64 = 24 * 3600;

fn rule(kind: BonusKind, points: &str, pending_days: u64, lifetime_days: Option<u64>) -> BonusRule {
    BonusRule {
        kind,
        points: pts(points),
        lots: LotTerms {
            pending_secs: pending_days * DAY,
            lifetime_secs: lifetime_days.map(|d| d * DAY),
        },
        enabled: true,
        days_before: 0,
        days_after: 0,
    }
}

fn set(w: &mut World, rule: BonusRule) {
    w.admin_ok(Command::SetBonusRule { rule });
}

/// A second card for an account that has one.
const SECOND: &str = "2770000000062";

/// Card [`SECOND`], issued on the account of `of`.
fn second_card(w: &mut World, of: &str) {
    let account = w.account(of).id;
    w.admin_ok(Command::IssueCard {
        number: card(SECOND),
        card_type: "Gold".into(),
        status: CardStatus::Issued,
        account: Some(account),
        holder_name: String::new(),
        holder_phone: String::new(),
    });
}

fn register(card_no: &str) -> Command {
    Command::RegisterCustomer {
        card: card(card_no),
        name: "Anna".into(),
        phone: String::new(),
        consent: true,
        birth_date: None,
    }
}

/// The bonuses an execution granted: (kind, points).
fn granted(events: &[Event]) -> Vec<(BonusKind, Points)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::BonusGranted { kind, points, .. } => Some((*kind, *points)),
            _ => None,
        })
        .collect()
}

fn register_purchase(w: &mut World, card_no: &str, id: &str) {
    let cheque = World::cheque(Some(card_no), id, &[("bread", "1", "100")]);
    let r = w.cash(POS, Command::RegisterPurchase { cheque });
    assert!(r.is_ok(), "{}", r.message);
}

#[test]
fn a_rule_needs_points_above_zero_and_sane_terms() {
    let cases: &[(&str, BonusRule, Code)] = &[
        (
            "welcome, 100 points for 90 days",
            rule(BonusKind::Welcome, "100", 0, Some(90)),
            Code::Ok,
        ),
        (
            "first purchase, pending a week, never expiring",
            rule(BonusKind::FirstPurchase, "50", 7, None),
            Code::Ok,
        ),
        (
            "switched off",
            BonusRule {
                enabled: false,
                ..rule(BonusKind::Welcome, "100", 0, None)
            },
            Code::Ok,
        ),
        (
            "no points",
            rule(BonusKind::Welcome, "0", 0, None),
            Code::AmountInvalid,
        ),
        (
            "negative points",
            BonusRule {
                points: Points(-100),
                ..rule(BonusKind::Welcome, "1", 0, None)
            },
            Code::AmountInvalid,
        ),
        (
            "a lifetime of nothing",
            BonusRule {
                lots: LotTerms {
                    pending_secs: 0,
                    lifetime_secs: Some(0),
                },
                ..rule(BonusKind::Welcome, "1", 0, None)
            },
            Code::AmountInvalid,
        ),
        (
            "pending for two centuries",
            rule(BonusKind::Welcome, "1", 200 * 366, None),
            Code::AmountInvalid,
        ),
    ];
    for (name, r, then) in cases {
        let mut w = World::new();
        let out = w.run(operator(), Command::SetBonusRule { rule: *r });
        assert_eq!(out.reply.code, *then, "{name}: {}", out.reply.message);
        let stored = w.state.bonus_rule(r.kind);
        assert_eq!(stored, (*then == Code::Ok).then_some(*r), "{name}");
        // A till may not set one.
        let till = w.run(Actor::Cashbox(POS), Command::SetBonusRule { rule: *r });
        assert_eq!(till.reply.code, Code::Forbidden, "{name}");
    }
}

#[test]
fn registration_earns_the_welcome_bonus_once_per_account() {
    // Given a welcome bonus of 100 points living 90 days,
    let mut w = World::new();
    set(&mut w, rule(BonusKind::Welcome, "100", 0, Some(90)));
    // when the customer of an issued card registers,
    let out = w.run(Actor::Cashbox(POS), register(ISSUED));
    // then the answer's balance has the bonus, a lot of its own with the rule's terms.
    assert!(out.reply.is_ok(), "{}", out.reply.message);
    assert_eq!(granted(&out.events), [(BonusKind::Welcome, pts("100"))]);
    assert_eq!(
        out.reply.balance.as_ref().map(|b| b.balance),
        Some(pts("100"))
    );
    let a = w.account(ISSUED);
    let lot = a
        .lots
        .iter()
        .find(|l| l.source == LotSource::Bonus)
        .expect("a bonus lot");
    assert_eq!((lot.left, lot.pending), (pts("100"), false));
    assert_eq!(lot.expires_at, Some(T0.plus_secs(90 * DAY)));
    assert_eq!(a.bonuses, [BonusKind::Welcome]);
    // A resend of the same registration is its original answer, nothing more.
    let req = Request {
        op: w.op(),
        actor: Actor::Cashbox(POS),
        command: register(PREPARED),
    };
    let first = w.run_req(&req);
    let again = w.run_req(&req);
    assert_eq!(granted(&first.events).len(), 1);
    assert!(again.replayed && again.events.is_empty());
    assert_eq!(w.balance(PREPARED), pts("100"));
    // A second card registered on the same account earns nothing more.
    second_card(&mut w, ISSUED);
    let second = w.run(Actor::Cashbox(POS), register(SECOND));
    assert!(second.reply.is_ok(), "{}", second.reply.message);
    assert!(granted(&second.events).is_empty());
    assert_eq!(w.balance(ISSUED), pts("100"));
}

#[test]
fn a_pending_bonus_waits_like_an_accrual() {
    let mut w = World::new();
    set(&mut w, rule(BonusKind::Welcome, "30", 3, None));
    assert!(w.cash(POS, register(ISSUED)).is_ok());
    let a = w.account(ISSUED);
    assert_eq!((a.balance, a.pending), (Points::ZERO, pts("30")));
    w.now = T0.plus_secs(3 * DAY + 60);
    let swept = w.run(Actor::System, Command::ExpireHolds).events;
    assert!(
        matches!(swept.as_slice(), [Event::PointsActivated { .. }]),
        "{swept:?}"
    );
    let a = w.account(ISSUED);
    assert_eq!((a.balance, a.pending), (pts("30"), Points::ZERO));
}

#[test]
fn no_bonus_without_an_enabled_rule_or_for_a_blocked_account() {
    type Setup = fn(&mut World);
    let cases: &[(&str, Setup, usize)] = &[
        ("no rule set", |_| {}, 0),
        (
            "the rule switched off",
            |w| {
                set(
                    w,
                    BonusRule {
                        enabled: false,
                        ..rule(BonusKind::Welcome, "100", 0, None)
                    },
                )
            },
            0,
        ),
        (
            "only the other kind set",
            |w| set(w, rule(BonusKind::FirstPurchase, "100", 0, None)),
            0,
        ),
        (
            "the rule on",
            |w| set(w, rule(BonusKind::Welcome, "100", 0, None)),
            1,
        ),
    ];
    for (name, given, bonuses) in cases {
        let mut w = World::new();
        given(&mut w);
        let out = w.run(Actor::Cashbox(POS), register(ISSUED));
        assert!(out.reply.is_ok(), "{name}: {}", out.reply.message);
        assert_eq!(granted(&out.events).len(), *bonuses, "{name}");
    }
    // A blocked account registers (an administrator may) but gets no bonus.
    let mut w = World::new();
    set(&mut w, rule(BonusKind::Welcome, "100", 0, None));
    w.admin_ok(Command::SetAccountBlocked {
        card: card(ISSUED),
        blocked: true,
    });
    let out = w.run(operator(), register(ISSUED));
    assert_eq!(out.reply.code, Code::AccountBlocked);
    assert!(granted(&out.events).is_empty());
}

#[test]
fn the_first_final_purchase_earns_the_first_purchase_bonus() {
    // Given a first-purchase bonus of 50, when EMPTY (no purchases yet) registers a cheque,
    let mut w = World::new();
    set(&mut w, rule(BonusKind::FirstPurchase, "50", 0, None));
    register_purchase(&mut w, EMPTY, "p1");
    // then nothing yet: it is not final;
    assert_eq!(w.balance(EMPTY), Points::ZERO);
    // cancelled, it never counts;
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("p1")
            }
        )
        .is_ok());
    assert_eq!(w.account(EMPTY).purchases, 0);
    // the first confirmed one earns the bonus next to its accrual (5 points);
    register_purchase(&mut w, EMPTY, "p2");
    let events = confirm_events(&mut w, "p2");
    assert_eq!(granted(&events), [(BonusKind::FirstPurchase, pts("50"))]);
    assert_eq!(w.balance(EMPTY), pts("55"));
    // the second earns only its accrual.
    register_purchase(&mut w, EMPTY, "p3");
    assert!(granted(&confirm_events(&mut w, "p3")).is_empty());
    assert_eq!(
        (w.balance(EMPTY), w.account(EMPTY).purchases),
        (pts("60"), 2)
    );
}

#[test]
fn a_customer_who_bought_before_the_rule_gets_no_first_purchase_bonus() {
    // GOLD's seed purchase was confirmed before any rule; a rule set now does not make
    // its next purchase the first.
    let mut w = World::new();
    set(&mut w, rule(BonusKind::FirstPurchase, "50", 0, None));
    register_purchase(&mut w, GOLD, "g1");
    assert!(granted(&confirm_events(&mut w, "g1")).is_empty());
    // Nor does a rule switched on after EMPTY's first purchase.
    let mut w = World::new();
    set(
        &mut w,
        BonusRule {
            enabled: false,
            ..rule(BonusKind::FirstPurchase, "50", 0, None)
        },
    );
    w.buy(EMPTY, "e1", &[("bread", "1", "100")]);
    set(&mut w, rule(BonusKind::FirstPurchase, "50", 0, None));
    register_purchase(&mut w, EMPTY, "e2");
    assert!(granted(&confirm_events(&mut w, "e2")).is_empty());
    assert!(w.account(EMPTY).bonuses.is_empty());
}

#[test]
fn an_offline_upload_and_a_late_confirm_count_as_the_first_purchase() {
    let mut w = World::new();
    set(&mut w, rule(BonusKind::FirstPurchase, "50", 0, None));
    let out = w.run(
        Actor::Cashbox(POS),
        Command::ImportOfflinePurchase {
            cheque: World::cheque(Some(EMPTY), "o1", &[("bread", "1", "100")]),
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    );
    assert!(out.reply.is_ok(), "{}", out.reply.message);
    assert_eq!(
        granted(&out.events),
        [(BonusKind::FirstPurchase, pts("50"))]
    );
    // A purchase whose hold expired, confirmed late, is final then.
    let mut w = World::new();
    set(&mut w, rule(BonusKind::FirstPurchase, "50", 0, None));
    register_purchase(&mut w, EMPTY, "late");
    w.now = T0.plus_secs(w.program.hold_lifetime_secs + 1);
    w.run(Actor::System, Command::ExpireHolds);
    assert_eq!(w.balance(EMPTY), Points::ZERO);
    assert_eq!(
        granted(&confirm_events(&mut w, "late")),
        [(BonusKind::FirstPurchase, pts("50"))]
    );
}

#[test]
fn a_bonus_pays_back_debt_first() {
    // Given EMPTY owes 5 points (its only purchase's accrual, refunded after it was
    // spent — here: adjusted away), a welcome-style credit settles the debt first.
    let mut w = World::new();
    w.buy(EMPTY, "e1", &[("bread", "1", "100")]);
    w.admin_ok(Command::AdjustPoints {
        card: card(EMPTY),
        delta: Points(-500),
        reason: "spent".into(),
    });
    let refund = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("r1"),
            purchase: cheque_id("e1"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty::parse("1").unwrap(),
            }],
            sold_at: None,
        },
    );
    assert!(refund.is_ok(), "{}", refund.message);
    assert_eq!(w.account(EMPTY).debt, pts("5"));
    set(&mut w, rule(BonusKind::FirstPurchase, "50", 0, None));
    // EMPTY's purchase already counted: register a new customer's card instead.
    set(&mut w, rule(BonusKind::Welcome, "50", 0, None));
    second_card(&mut w, EMPTY);
    let out = w.run(Actor::Cashbox(POS), register(SECOND));
    assert_eq!(granted(&out.events), [(BonusKind::Welcome, pts("50"))]);
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::DebtRecovered { points, .. } if *points == pts("5"))));
    let a = w.account(EMPTY);
    assert_eq!((a.balance, a.debt), (pts("45"), Points::ZERO));
}

fn date(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn birthday_rule(days_before: u16, days_after: u16) -> BonusRule {
    BonusRule {
        days_before,
        days_after,
        ..rule(BonusKind::Birthday, "200", 0, Some(30))
    }
}

/// ISSUED's customer registers at `now`, born on `born`.
fn born(w: &mut World, born: chrono::NaiveDate) {
    let out = w.run(
        Actor::Cashbox(POS),
        Command::RegisterCustomer {
            card: card(ISSUED),
            name: "Anna".into(),
            phone: String::new(),
            consent: true,
            birth_date: Some(born),
        },
    );
    assert!(out.reply.is_ok(), "{}", out.reply.message);
}

/// The sweep at `at`: the birthday bonuses it granted.
fn sweep_at(w: &mut World, at: UnixMillis) -> Vec<(BonusKind, Points)> {
    w.now = at;
    let events = w.run(Actor::System, Command::ExpireHolds).events;
    granted(&events)
}

#[test]
fn a_birthday_bonus_comes_once_a_year_when_its_window_opens() {
    // Given a birthday bonus of 200 from 3 days before to 3 after, a customer born on the
    // 20th of January registers on the 15th (the fixture's day);
    let mut w = World::new();
    set(&mut w, birthday_rule(3, 3));
    born(&mut w, date(1990, 1, 20));
    let birthday = |w: &World| w.account(ISSUED).birthday;
    // the sweep that day schedules this year's birthday, the window opens on the 17th:
    assert!(sweep_at(&mut w, morning(2027, 1, 15)).is_empty());
    assert_eq!(birthday(&w), Some(date(2027, 1, 20)));
    assert!(sweep_at(&mut w, morning(2027, 1, 16)).is_empty());
    // the first sweep in the window grants it, and the next year's is scheduled;
    assert_eq!(
        sweep_at(&mut w, morning(2027, 1, 17)),
        [(BonusKind::Birthday, pts("200"))]
    );
    assert_eq!(birthday(&w), Some(date(2028, 1, 20)));
    assert_eq!(w.balance(ISSUED), pts("200"));
    // no second one in the same window;
    assert!(sweep_at(&mut w, morning(2027, 1, 20)).is_empty());
    assert!(sweep_at(&mut w, morning(2027, 1, 23)).is_empty());
    // a year later, again.
    assert!(sweep_at(&mut w, morning(2028, 1, 16)).is_empty());
    assert_eq!(
        sweep_at(&mut w, morning(2028, 1, 17)),
        [(BonusKind::Birthday, pts("200"))]
    );
    // The account's welcome bonus list is for once-only bonuses.
    assert!(w.account(ISSUED).bonuses.is_empty());
}

/// A row of the birthday windows' table.
struct Window {
    case: &'static str,
    /// Days before and after the day.
    window: (u16, u16),
    born: Day,
    registered: Day,
    sweeps: &'static [Day],
    /// The sweeps (by day) that grant the bonus.
    grants: &'static [Day],
}

type Day = (i32, u32, u32);

#[test]
fn birthday_windows_table() {
    let cases = [
        Window {
            case: "registered inside the window: granted at the next sweep",
            window: (3, 3),
            born: (1990, 1, 14),
            registered: (2027, 1, 15),
            sweeps: &[(2027, 1, 15), (2027, 1, 15), (2027, 1, 16)],
            grants: &[(2027, 1, 15)],
        },
        Window {
            case: "the day alone, swept on the day",
            window: (0, 0),
            born: (1985, 1, 18),
            registered: (2027, 1, 15),
            sweeps: &[(2027, 1, 15), (2027, 1, 17), (2027, 1, 18), (2027, 1, 19)],
            grants: &[(2027, 1, 18)],
        },
        Window {
            case: "the window missed (no sweep in it): nothing, next year's scheduled",
            window: (0, 1),
            born: (1985, 1, 18),
            registered: (2027, 1, 15),
            sweeps: &[(2027, 1, 15), (2027, 1, 21), (2028, 1, 18)],
            grants: &[(2028, 1, 18)],
        },
        Window {
            case: "born on the 29th of February: the 28th in a common year",
            window: (0, 0),
            born: (1988, 2, 29),
            registered: (2027, 1, 15),
            sweeps: &[(2027, 1, 15), (2027, 2, 27), (2027, 2, 28), (2027, 3, 1)],
            grants: &[(2027, 2, 28)],
        },
        Window {
            case: "over the new year: the window opens in December for the 1st of January",
            window: (3, 0),
            born: (1979, 1, 1),
            registered: (2027, 1, 15),
            sweeps: &[(2027, 1, 15), (2027, 12, 28), (2027, 12, 29), (2028, 1, 1)],
            grants: &[(2027, 12, 29)],
        },
    ];
    for c in cases {
        let mut w = World::new();
        set(&mut w, birthday_rule(c.window.0, c.window.1));
        let (r, b) = (c.registered, c.born);
        w.now = morning(r.0, r.1, r.2);
        born(&mut w, date(b.0, b.1, b.2));
        let mut got = Vec::new();
        for s in c.sweeps {
            for g in sweep_at(&mut w, morning(s.0, s.1, s.2)) {
                assert_eq!(g, (BonusKind::Birthday, pts("200")), "{}", c.case);
                got.push(*s);
            }
        }
        assert_eq!(got, c.grants, "{}", c.case);
    }
}

#[test]
fn no_birthday_bonus_without_a_date_an_enabled_rule_or_an_unblocked_account() {
    // Without a date of birth the sweep has nothing to schedule.
    let mut w = World::new();
    set(&mut w, birthday_rule(3, 3));
    assert!(w.cash(POS, register(ISSUED)).is_ok());
    w.now = morning(2027, 1, 15);
    let events = w.run(Actor::System, Command::ExpireHolds).events;
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::BirthdayScheduled { .. })));
    assert_eq!(w.account(ISSUED).birthday, None);
    // Switched off on the day: the birthday passes without a bonus, next year's is
    // scheduled all the same (and granted if the rule is on then).
    let mut w = World::new();
    born(&mut w, date(1990, 1, 15));
    set(
        &mut w,
        BonusRule {
            enabled: false,
            ..birthday_rule(0, 0)
        },
    );
    for _ in 0..2 {
        assert!(sweep_at(&mut w, morning(2027, 1, 15)).is_empty());
    }
    assert_eq!(w.account(ISSUED).birthday, Some(date(2028, 1, 15)));
    set(&mut w, birthday_rule(0, 0));
    assert_eq!(sweep_at(&mut w, morning(2028, 1, 15)).len(), 1);
    // A blocked account's birthday passes without one.
    let mut w = World::new();
    set(&mut w, birthday_rule(0, 0));
    born(&mut w, date(1990, 1, 15));
    w.admin_ok(Command::SetAccountBlocked {
        card: card(ISSUED),
        blocked: true,
    });
    for _ in 0..2 {
        assert!(sweep_at(&mut w, morning(2027, 1, 15)).is_empty());
    }
    assert_eq!(w.account(ISSUED).birthday, Some(date(2028, 1, 15)));
}

#[test]
fn only_a_birthday_bonus_has_a_window_of_at_most_a_month() {
    let cases: &[(&str, BonusRule, Code)] = &[
        (
            "a birthday, a week each side",
            birthday_rule(7, 7),
            Code::Ok,
        ),
        ("a birthday, 31 days before", birthday_rule(31, 0), Code::Ok),
        (
            "a birthday, 32 days after",
            birthday_rule(0, 32),
            Code::AmountInvalid,
        ),
        (
            "a welcome bonus with a window",
            BonusRule {
                days_before: 1,
                ..rule(BonusKind::Welcome, "100", 0, None)
            },
            Code::AmountInvalid,
        ),
    ];
    for (name, r, then) in cases {
        let mut w = World::new();
        let out = w.run(operator(), Command::SetBonusRule { rule: *r });
        assert_eq!(out.reply.code, *then, "{name}: {}", out.reply.message);
    }
}
