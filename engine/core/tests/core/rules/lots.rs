//! Points with a life, rule by rule: given a programme's pending period and lifetime and a
//! customer's lots, when time passes or a command runs, then exactly these lots and
//! balances. EMPTY starts with no points; every figure is stated.

use super::*;
use loyalty_core::event::Event;

const DAY: u64 = 24 * 3600;

/// The fixture's world with points pending for `pending` days, then living `lifetime` days.
fn world(pending: u64, lifetime: Option<u64>) -> World {
    let mut w = World::new();
    w.program.lots = LotTerms {
        pending_secs: pending * DAY,
        lifetime_secs: lifetime.map(|d| d * DAY),
    };
    w
}

fn at(days: u64, secs: u64) -> UnixMillis {
    T0.plus_secs(days * DAY + secs)
}

/// The sweep, as the engine runs it; its events.
fn sweep(w: &mut World) -> Vec<Event> {
    w.run(Actor::System, Command::ExpireHolds).events
}

/// (id, left, pending) of each lot.
fn lots(w: &World, card_no: &str) -> Vec<(u32, Points, bool)> {
    w.account(card_no)
        .lots
        .iter()
        .map(|l| (l.id, l.left, l.pending))
        .collect()
}

fn pay(w: &mut World, card_no: &str, id: &str, lines: &[(&str, &str, &str)], points: &str) {
    let cheque = World::cheque(Some(card_no), id, lines);
    let hold = w.cash(
        POS,
        Command::PayWithBonus {
            cheque: cheque.clone(),
            points: pts(points),
        },
    );
    assert!(hold.is_ok(), "{}", hold.message);
    assert!(w.cash(POS, Command::RegisterPurchase { cheque }).is_ok());
}

fn confirm(w: &mut World, id: &str) -> Reply {
    let r = w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id(id),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    r
}

fn refund(w: &mut World, id: &str, purchase: &str, lines: &[(u32, &str)]) -> RefundSummary {
    let r = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id(id),
            purchase: cheque_id(purchase),
            lines: lines
                .iter()
                .map(|&(index, q)| RefundLine {
                    index,
                    qty: Qty::parse(q).unwrap(),
                })
                .collect(),
            sold_at: None,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    r.refund.unwrap()
}

#[test]
fn an_accrual_is_pending_then_spendable_at_its_activation() {
    // Given 14 days pending, a year to live, when EMPTY earns 50 points:
    let mut w = world(14, Some(365));
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
    let a = w.account(EMPTY);
    // then they are pending, not spendable, and a hold on them is refused.
    assert_eq!(
        (a.balance, a.pending, a.spendable()),
        (Points::ZERO, pts("50"), Points::ZERO)
    );
    let cheque = World::cheque(Some(EMPTY), "b", &[("bread", "1", "100")]);
    let hold = w.cash(
        POS,
        Command::PayWithBonus {
            cheque,
            points: pts("10"),
        },
    );
    assert_eq!(hold.code, Code::InsufficientPoints);
    // A day early, the sweep changes nothing;
    w.now = at(13, 0);
    assert!(sweep(&mut w).is_empty());
    assert_eq!(w.account(EMPTY).pending, pts("50"));
    // at 14 days they are activated, spendable, and expire a year after.
    w.now = at(14, 0);
    let events = sweep(&mut w);
    assert_eq!(
        events,
        [Event::PointsActivated {
            account: w.account(EMPTY).id,
            lot: 1,
            points: pts("50"),
        }]
    );
    let a = w.account(EMPTY);
    assert_eq!(
        (a.balance, a.pending, a.spendable()),
        (pts("50"), Points::ZERO, pts("50"))
    );
    assert_eq!(a.next_expiry(), Some((at(14 + 365, 0), pts("50"))));
    assert!(sweep(&mut w).is_empty(), "activated once");
}

#[test]
fn a_redemption_takes_the_earliest_expiry_first_across_lots() {
    // Given lot 1: 50 points expiring in 30 days; lot 2: 20 points credited later by hand
    // under a 5-day lifetime (expiring first); lot 3: 10 points expiring in 31 days.
    let mut w = world(0, Some(30));
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
    w.now = at(10, 0);
    w.program.lots.lifetime_secs = Some(5 * DAY);
    w.admin_ok(Command::AdjustPoints {
        card: card(EMPTY),
        delta: pts("20"),
        reason: "goodwill".into(),
    });
    w.program.lots.lifetime_secs = Some(30 * DAY);
    w.now = at(11, 0);
    w.buy(EMPTY, "c", &[("bread", "1", "200")]);
    assert_eq!(
        lots(&w, EMPTY),
        [
            (1, pts("50"), false),
            (2, pts("20"), false),
            (3, pts("10"), false)
        ]
    );
    // When the customer pays 60 points:
    pay(&mut w, EMPTY, "d", &[("bread", "1", "1000")], "60");
    // then lot 2 (earliest expiry) gives all 20, lot 1 the other 40; lot 3 is untouched.
    let key = PurchaseKey {
        cashbox: POS,
        cheque: cheque_id("d"),
    };
    let taken: Vec<(u32, Points)> = w
        .state
        .purchase(&key)
        .unwrap()
        .taken
        .iter()
        .map(|t| (t.lot, t.points))
        .collect();
    assert_eq!(taken, [(2, pts("20")), (1, pts("40"))]);
    assert_eq!(
        lots(&w, EMPTY),
        [(1, pts("10"), false), (3, pts("10"), false)]
    );
    // The hold holds them: balance 80 = 60 held + 20 spendable.
    let a = w.account(EMPTY);
    assert_eq!(
        (a.balance, a.held, a.spendable()),
        (pts("80"), pts("60"), pts("20"))
    );
}

#[test]
fn a_partial_refund_of_a_cheque_paid_partly_with_points_is_exact_pro_rata() {
    // Given GOLD's 100 points (lot 1) and, a day later (so that its accrual makes a lot
    // of its own), a 3-line cheque paid with 30 of them:
    let mut w = world(0, Some(365));
    w.now = at(1, 0);
    let lines = [
        ("milk", "1", "100"),
        ("bread", "3", "50"),
        ("wine", "1", "200"),
    ];
    pay(&mut w, GOLD, "p", &lines, "30");
    let confirmed = confirm(&mut w, "p");
    let bread = &confirmed.lines[1];
    let (paid, accrual) = (bread.paid, bread.accrual);
    assert_eq!(
        confirmed
            .lines
            .iter()
            .fold(Points::ZERO, |s, l| s.plus(l.paid)),
        pts("30")
    );
    let own = w.account(GOLD).lots_made;
    assert_eq!(own, 2);
    let left = |w: &World, lot: u32| {
        w.account(GOLD)
            .lots
            .iter()
            .find(|l| l.id == lot)
            .map_or(Points::ZERO, |l| l.left)
    };
    let (seed_before, own_before) = (left(&w, 1), left(&w, own));
    // When one of the three breads comes back, then a third of the bread line's points
    // paid come back to the lot they came from, and a third of its accrual leaves the
    // purchase's own lot — to the minor unit, by the one rounding rule.
    let r1 = refund(&mut w, "r1", "p", &[(1, "1")]);
    let third = |x: Points| Points(prorate(x.0, 1, 3));
    assert_eq!(r1.points_returned, third(paid));
    assert_eq!(r1.accrual_reversed, third(accrual));
    assert_eq!(r1.accrual_unrecovered, Points::ZERO);
    assert_eq!(left(&w, 1), seed_before.plus(r1.points_returned));
    assert_eq!(left(&w, own), own_before.minus(r1.accrual_reversed));
    // When the other two come back, the three refunds give back exactly the line's
    // points and take back exactly its accrual: nothing twice, nothing lost to rounding.
    let r2 = refund(&mut w, "r2", "p", &[(1, "2")]);
    assert_eq!(r1.points_returned.plus(r2.points_returned), paid);
    assert_eq!(r1.accrual_reversed.plus(r2.accrual_reversed), accrual);
    assert_eq!(left(&w, 1), seed_before.plus(paid));
    assert_eq!(left(&w, own), own_before.minus(accrual));
    // A third refund of the line is refused: the points come back once.
    let again = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("r3"),
            purchase: cheque_id("p"),
            lines: vec![RefundLine {
                index: 1,
                qty: Qty(1000),
            }],
            sold_at: None,
        },
    );
    assert_eq!(again.code, Code::RefundExceedsPurchase);
}

#[test]
fn a_refund_after_its_accrual_was_spent_is_owed_and_paid_by_the_next_accrual() {
    // Given 14 days pending: EMPTY's 50 points from cheque a become spendable and are
    // spent on cheque b, whose own 47.50 are still pending.
    let mut w = world(14, Some(365));
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
    w.now = at(14, 0);
    sweep(&mut w);
    pay(&mut w, EMPTY, "b", &[("bread", "1", "1000")], "50");
    confirm(&mut w, "b");
    assert_eq!(w.account(EMPTY).pending, pts("47.5"));
    // When cheque a comes back: its own lot is spent, so all 50 are owed (nothing
    // spendable to pay them), never a negative balance.
    let r = refund(&mut w, "ra", "a", &[(0, "1")]);
    assert_eq!(
        (r.accrual_reversed, r.accrual_unrecovered),
        (Points::ZERO, pts("50"))
    );
    let a = w.account(EMPTY);
    assert_eq!(
        (a.balance, a.debt, a.pending),
        (Points::ZERO, pts("50"), pts("47.5"))
    );
    // When b's points mature, they pay the debt before they can be spent.
    w.now = at(28, 0);
    let events = sweep(&mut w);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::PointsActivated { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::DebtRecovered { points, .. } if *points == pts("47.5"))));
    let a = w.account(EMPTY);
    assert_eq!(
        (a.balance, a.debt, a.pending),
        (Points::ZERO, pts("2.5"), Points::ZERO)
    );
}

#[test]
fn a_partly_spent_lot_burns_what_is_left_at_its_expiry_and_only_once() {
    // Given a 30-day lifetime: lot 1 of 50 points, 20 of them spent; then, five minutes
    // before it expires, 10 more held on an unconfirmed cheque.
    let mut w = world(0, Some(30));
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
    w.now = at(1, 0);
    pay(&mut w, EMPTY, "b", &[("bread", "1", "100")], "20");
    confirm(&mut w, "b");
    assert_eq!(
        lots(&w, EMPTY),
        [(1, pts("30"), false), (2, pts("4"), false)]
    );
    w.now = UnixMillis(at(30, 0).0 - 5 * 60 * 1000);
    pay(&mut w, EMPTY, "c", &[("bread", "1", "100")], "10");
    // When the sweep passes its expiry, then the 20 left burn; the 10 held do not.
    w.now = at(30, 0);
    let events = sweep(&mut w);
    let account = w.account(EMPTY).id;
    assert_eq!(
        events,
        [Event::PointsExpired {
            account,
            lot: 1,
            points: pts("20"),
        }]
    );
    let a = w.account(EMPTY);
    assert_eq!(
        (a.balance, a.held, a.spendable()),
        (pts("14"), pts("10"), pts("4"))
    );
    // Swept again at the same time: nothing more burns.
    assert!(sweep(&mut w).is_empty());
    assert_eq!(w.account(EMPTY).balance, pts("14"));
}

#[test]
fn points_a_cancel_gives_back_after_their_lot_expired_burn_at_the_next_sweep() {
    // Given lot 1 (50 points, expiring at 30 days) and, five minutes before, 20 of them
    // held on a cheque.
    let mut w = world(0, Some(30));
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
    w.now = UnixMillis(at(30, 0).0 - 5 * 60 * 1000);
    pay(&mut w, EMPTY, "b", &[("bread", "1", "100")], "20");
    // The lot expires: its 30 unheld points burn.
    w.now = at(30, 60);
    sweep(&mut w);
    assert_eq!(w.account(EMPTY).held, pts("20"));
    // When the cheque is cancelled, then the 20 go back to lot 1 with its expiry: they are
    // spendable until the next sweep, which burns them.
    w.now = at(30, 120);
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("b")
            }
        )
        .is_ok());
    let a = w.account(EMPTY);
    assert_eq!(
        (a.balance, a.held, a.spendable()),
        (pts("20"), Points::ZERO, pts("20"))
    );
    assert_eq!(a.next_expiry(), Some((at(30, 0), pts("20"))));
    let events = sweep(&mut w);
    assert_eq!(
        events,
        [Event::PointsExpired {
            account: a.id,
            lot: 1,
            points: pts("20"),
        }]
    );
    assert_eq!(w.account(EMPTY).balance, Points::ZERO);
}

#[test]
fn an_offline_accrual_is_dated_by_the_cheque_s_time() {
    // Given 14 days pending, a year to live, stores at UTC+3, and a cheque rung up offline
    // at 12:00 local on 2026-11-23, uploaded on 2027-01-15:
    let mut w = world(14, Some(365));
    w.program.utc_offset_secs = 3 * 3600;
    let cheque = World::cheque(Some(EMPTY), "o1", &[("bread", "1", "1000")]);
    let r = w.cash(
        POS,
        Command::ImportOfflinePurchase {
            cheque,
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    // then its lot was credited at 09:00 UTC that day: it matured on 2026-12-07 and is
    // spendable at once, expiring a year after it matured.
    let rung = local(9).and_utc().timestamp_millis();
    let lot = w.account(EMPTY).lots[0];
    assert_eq!(lot.activates_at, UnixMillis(rung).plus_secs(14 * DAY));
    assert_eq!(
        lot.expires_at,
        Some(UnixMillis(rung).plus_secs((14 + 365) * DAY))
    );
    assert!(!lot.pending);
    assert_eq!(w.account(EMPTY).spendable(), pts("50"));
    // A cheque rung up "later" than now (a till's clock ahead) is dated now: here 22:00
    // local (19:00 UTC) uploaded at 15:00 UTC.
    w.now = UnixMillis(local(15).and_utc().timestamp_millis());
    let mut ahead = World::cheque(Some(EMPTY), "o2", &[("bread", "1", "1000")]);
    ahead.local_time = local(22);
    let r = w.cash(
        POS,
        Command::ImportOfflinePurchase {
            cheque: ahead,
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    let lot = w.account(EMPTY).lots[1];
    assert_eq!(lot.activates_at, w.now.plus_secs(14 * DAY));
    assert!(lot.pending);
}

#[test]
fn the_balance_as_of_a_later_time_counts_what_matures_and_burns_by_then() {
    // Given 50 points pending for 14 days, then living 30:
    let mut w = world(14, Some(30));
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
    let at_time = |w: &World, t: UnixMillis| {
        let r = balance(&w.state, POS, Some(&card(EMPTY)), &[], w.now, Some(t));
        assert!(r.is_ok(), "{}", r.message);
        let b = r.balance.unwrap();
        (b.spendable, b.pending, b.next_expiry)
    };
    // then now they are pending; on day 14 spendable; on day 44 gone.
    assert_eq!(
        at_time(&w, w.now),
        (Points::ZERO, pts("50"), Some((at(44, 0), pts("50"))))
    );
    assert_eq!(
        at_time(&w, at(14, 0)),
        (pts("50"), Points::ZERO, Some((at(44, 0), pts("50"))))
    );
    assert_eq!(at_time(&w, at(44, 0)), (Points::ZERO, Points::ZERO, None));
    // A time before now is refused: the past is in the history.
    let past = balance(
        &w.state,
        POS,
        Some(&card(EMPTY)),
        &[],
        w.now,
        Some(UnixMillis(0)),
    );
    assert_eq!(past.code, Code::AmountInvalid);
    // Maturing points pay a debt first in the forecast too.
    let mut a = w.account(EMPTY);
    a.debt = pts("20");
    let b = BalanceInfo::forecast(&a, at(14, 0));
    assert_eq!((b.spendable, b.debt), (pts("30"), Points::ZERO));
}

#[test]
fn an_offer_s_own_terms_govern_what_it_accrues() {
    // Given the programme's 14 days pending, and a dairy offer accruing 10 % more that is
    // spendable at once for 7 days:
    let mut w = world(14, Some(365));
    let quick = LotTerms {
        pending_secs: 0,
        lifetime_secs: Some(7 * DAY),
    };
    w.admin_ok(Command::UpsertOffer {
        offer: Offer {
            lots: Some(quick),
            ..Offer::new(
                OfferId(9),
                OfferEffect::Accrual(Rate::Percent(Percent::parse("10").unwrap())),
                OfferScope::Groups(vec![GroupCode::new("dairy").unwrap()]),
                local(0),
                local(23),
            )
        },
    });
    // When EMPTY buys milk (100, 10 % off: 90) and bread (100):
    w.buy(EMPTY, "a", &[("milk", "1", "100"), ("bread", "1", "100")]);
    // then the programme's 5 % (4.50 + 5.00) is pending, the offer's 9.00 spendable now.
    let lot = |w: &World, id: u32| w.account(EMPTY).lots.iter().find(|l| l.id == id).copied();
    let (l1, l2) = (lot(&w, 1).unwrap(), lot(&w, 2).unwrap());
    assert_eq!(
        (l1.left, l1.pending, l1.expires_at),
        (pts("9.5"), true, Some(at(14 + 365, 0)))
    );
    assert_eq!(
        (l2.left, l2.pending, l2.expires_at),
        (pts("9"), false, Some(at(7, 0)))
    );
    let a = w.account(EMPTY);
    assert_eq!((a.balance, a.pending), (pts("9"), pts("9.5")));
    // When the milk comes back, its 13.50 of accrual leave the purchase's lots, the
    // pending one first.
    let r = refund(&mut w, "r", "a", &[(0, "1")]);
    assert_eq!(
        (r.accrual_reversed, r.accrual_unrecovered),
        (pts("13.5"), Points::ZERO)
    );
    assert_eq!(lot(&w, 1), None);
    assert_eq!(lot(&w, 2).unwrap().left, pts("5"));
}

#[test]
fn messages_tell_the_balance_and_the_pending_points_after_the_purchase() {
    // Given 14 days pending and a cheque message with both figures:
    let mut w = world(14, Some(365));
    w.admin_ok(Command::UpsertOffer {
        offer: Offer::new(
            OfferId(8),
            OfferEffect::Message {
                to: MessageTo::Cheque,
                template: "balance {balance}, pending {pending}".into(),
            },
            OfferScope::Cheque,
            local(0),
            local(23),
        ),
    });
    // When GOLD (100 spendable) registers and confirms a 1000.00 cheque:
    let cheque = World::cheque(Some(GOLD), "m", &[("bread", "1", "1000")]);
    let reg = w.cash(POS, Command::RegisterPurchase { cheque });
    let conf = confirm(&mut w, "m");
    // then both answers say the 50 points earned are pending, the balance unchanged.
    for r in [&reg, &conf] {
        let texts: Vec<&str> = r.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["balance 100.00, pending 50.00"], "{:?}", r.code);
    }
    assert_eq!(reg.totals.unwrap().pending_accrual, pts("50"));
}

#[test]
fn a_sweep_that_fell_behind_catches_up_in_bounded_steps() {
    // Given four customers' lots all matured and burnt while the server was down a year,
    // and sweeps of at most three events:
    let mut w = world(14, Some(30));
    w.program.expire_batch_max = 3;
    for (i, card_no) in [GOLD, ISSUED, PREPARED, EMPTY].iter().enumerate() {
        w.buy(card_no, &format!("a{i}"), &[("bread", "1", "1000")]);
    }
    w.now = at(365, 0);
    // When the server is back, each sweep decides at most three events and never splits
    // an account's (activation and expiry of a lot go together), until nothing is due.
    let mut sizes = Vec::new();
    loop {
        let n = sweep(&mut w).len();
        if n == 0 {
            break;
        }
        assert!(n <= 3, "a sweep of {n} events");
        sizes.push(n);
    }
    // GOLD's seed lot burns alone; each purchase lot matures and burns: 1 + 4 × 2 events.
    assert_eq!(sizes.iter().sum::<usize>(), 9);
    assert_eq!(sizes, [3, 2, 2, 2]);
    for card_no in [GOLD, ISSUED, PREPARED, EMPTY] {
        let a = w.account(card_no);
        assert_eq!(
            (a.balance, a.pending, a.lots.len()),
            (Points::ZERO, Points::ZERO, 0)
        );
    }
}
