//! Status levels, rule by rule: given the programme's levels and a customer's purchases,
//! when a purchase becomes final, the period is reviewed or an administrator sets a floor,
//! then exactly this level. The fixture's day is the 15th of January 2027 (stores on UTC);
//! EMPTY starts with no purchases; bread carries no discount.

use super::*;
use loyalty_core::event::Event;

/// Silver from nothing, Gold from 1000.00, Platinum from 5000.00, over `months`.
fn levels(months: u8, rolling: bool) -> Tiers {
    let level = |name: &str, spend: &str| TierLevel {
        name: name.into(),
        spend: Money::parse(spend).unwrap(),
    };
    Tiers {
        levels: vec![
            level("Silver", "0"),
            level("Gold", "1000"),
            level("Platinum", "5000"),
        ],
        months,
        rolling,
    }
}

/// EMPTY buys bread for `price` now, on a cheque of the stores' time now.
fn buy(w: &mut World, id: &str, price: &str) -> Vec<Event> {
    let mut cheque = World::cheque(Some(EMPTY), id, &[("bread", "1", price)]);
    cheque.local_time = chrono::DateTime::from_timestamp_millis(w.now.0)
        .unwrap()
        .naive_utc();
    assert!(w.cash(POS, Command::RegisterPurchase { cheque }).is_ok());
    confirm_events(w, id)
}

fn refund(w: &mut World, id: &str, of: &str) {
    let r = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id(id),
            purchase: cheque_id(of),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty::parse("1").unwrap(),
            }],
            sold_at: None,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
}

/// The level changes an execution made: (to, cause).
fn changes(events: &[Event]) -> Vec<(Option<String>, TierCause)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TierChanged { to, cause, .. } => Some((to.clone(), *cause)),
            _ => None,
        })
        .collect()
}

fn sweep(w: &mut World, now: UnixMillis) -> Vec<Event> {
    w.now = now;
    w.run(Actor::System, Command::ExpireHolds).events
}

fn tier(w: &World) -> Option<String> {
    w.account(EMPTY).tier
}

fn gold() -> Option<String> {
    Some("Gold".into())
}

fn silver() -> Option<String> {
    Some("Silver".into())
}

fn world(months: u8, rolling: bool) -> World {
    let mut w = World::new();
    w.admin_ok(Command::SetTiers {
        tiers: levels(months, rolling),
    });
    w.now = morning(2027, 1, 15);
    w
}

#[test]
fn levels_must_rise_from_zero_with_names_and_a_period_that_fits_the_year() {
    let good = levels(3, false);
    let with = |f: fn(&mut Tiers)| {
        let mut t = good.clone();
        f(&mut t);
        t
    };
    let cases: Vec<(&str, Tiers, Code)> = vec![
        ("quarters", good.clone(), Code::Ok),
        (
            "the last five months",
            with(|t| (t.months, t.rolling) = (5, true)),
            Code::Ok,
        ),
        (
            "calendar periods of five months",
            with(|t| t.months = 5),
            Code::AmountInvalid,
        ),
        ("no months", with(|t| t.months = 0), Code::AmountInvalid),
        (
            "thirteen months",
            with(|t| (t.months, t.rolling) = (13, true)),
            Code::AmountInvalid,
        ),
        ("no levels", with(|t| t.levels.clear()), Code::AmountInvalid),
        (
            "falling spend",
            with(|t| t.levels.swap(1, 2)),
            Code::AmountInvalid,
        ),
        (
            "equal spend",
            with(|t| t.levels[1].spend = t.levels[2].spend),
            Code::AmountInvalid,
        ),
        (
            "a name twice",
            with(|t| t.levels[2].name = "Gold".into()),
            Code::AmountInvalid,
        ),
        (
            "negative spend",
            with(|t| t.levels[0].spend = Money(-1)),
            Code::AmountInvalid,
        ),
    ];
    for (name, tiers, then) in cases {
        let mut w = World::new();
        let out = w.run(
            operator(),
            Command::SetTiers {
                tiers: tiers.clone(),
            },
        );
        assert_eq!(out.reply.code, then, "{name}: {}", out.reply.message);
        assert_eq!(
            w.state.tiers(),
            (then == Code::Ok).then_some(tiers),
            "{name}"
        );
    }
}

#[test]
fn spend_raises_the_level_at_once_and_the_quarter_end_reviews_it() {
    // Given quarters, EMPTY's first purchase (500) makes it Silver, no review needed (the
    // lowest level, reached with nothing);
    let mut w = world(3, false);
    assert_eq!(
        changes(&buy(&mut w, "a", "500")),
        [(silver(), TierCause::Spend)]
    );
    assert_eq!(w.account(EMPTY).tier_review, None);
    // 600 more in the quarter: Gold at once, reviewed when the quarter ends.
    assert_eq!(
        changes(&buy(&mut w, "b", "600")),
        [(gold(), TierCause::Spend)]
    );
    let april = UnixMillis(morning(2027, 4, 1).0 - 9 * 3600 * 1000);
    assert_eq!(w.account(EMPTY).tier_review, Some(april));
    // Nothing happens before the review; at it the quarter's 1100 keep Gold until July.
    assert!(changes(&sweep(&mut w, morning(2027, 3, 31))).is_empty());
    let kept = sweep(&mut w, morning(2027, 4, 1));
    assert!(
        kept.iter().any(|e| matches!(e, Event::TierKept { .. })),
        "{kept:?}"
    );
    assert_eq!(tier(&w), gold());
    // A quarter without purchases: Silver at its end.
    assert_eq!(
        changes(&sweep(&mut w, morning(2027, 7, 1))),
        [(silver(), TierCause::Review)]
    );
    assert_eq!(w.account(EMPTY).tier_review, None);
}

#[test]
fn a_refund_lowers_the_level_only_at_the_review() {
    // Given Gold by 1100 in January,
    let mut w = world(3, false);
    buy(&mut w, "a", "600");
    buy(&mut w, "b", "500");
    assert_eq!(tier(&w), gold());
    // when 500 come back in February, the level stays Gold (600 spent now);
    w.now = morning(2027, 2, 10);
    refund(&mut w, "r", "b");
    assert_eq!(tier(&w), gold());
    let spent: i64 = w.account(EMPTY).spend.iter().map(|(_, v)| v.0).sum();
    assert_eq!(Money(spent), Money::parse("600").unwrap());
    // at the quarter's review the 600 left make it Silver.
    assert_eq!(
        changes(&sweep(&mut w, morning(2027, 4, 1))),
        [(silver(), TierCause::Review)]
    );
}

#[test]
fn a_rolling_period_is_reviewed_every_month() {
    // Given the last two months, 1100 in January: Gold, reviewed on the 1st of February;
    let mut w = world(2, true);
    buy(&mut w, "a", "1100");
    assert_eq!(tier(&w), gold());
    // in February January still counts;
    let feb = sweep(&mut w, morning(2027, 2, 1));
    assert!(
        feb.iter().any(|e| matches!(e, Event::TierKept { .. })),
        "{feb:?}"
    );
    // in March it no longer does.
    assert_eq!(
        changes(&sweep(&mut w, morning(2027, 3, 1))),
        [(silver(), TierCause::Review)]
    );
}

#[test]
fn a_floor_holds_the_level_up_and_its_clearing_is_reviewed() {
    let mut w = world(3, false);
    // Refused: a level the programme does not have, and a floor without levels.
    let floor = |f: Option<&str>| Command::SetTierFloor {
        card: card(EMPTY),
        floor: f.map(str::to_owned),
    };
    assert_eq!(
        w.run(operator(), floor(Some("Diamond"))).reply.code,
        Code::TierUnknown
    );
    let mut none = World::new();
    assert_eq!(
        none.run(operator(), floor(Some("Gold"))).reply.code,
        Code::TierUnknown
    );
    // Gold as the floor: at once, and no review lowers it.
    let set = w.run(operator(), floor(Some("Gold")));
    assert_eq!(changes(&set.events), [(gold(), TierCause::Floor)]);
    assert_eq!(w.account(EMPTY).tier_review, None);
    // A till may not set one.
    assert_eq!(
        w.run(Actor::Cashbox(POS), floor(None)).reply.code,
        Code::Forbidden
    );
    // Cleared: still Gold until the quarter's review, then what it spent (nothing): Silver.
    let cleared = w.run(operator(), floor(None));
    assert!(changes(&cleared.events).is_empty());
    assert_eq!(tier(&w), gold());
    assert_eq!(
        changes(&sweep(&mut w, morning(2027, 4, 1))),
        [(silver(), TierCause::Review)]
    );
}

#[test]
fn offers_for_a_card_type_see_the_level() {
    // Given 10 % off for Platinum customers; every fixture card's type is Gold.
    let mut w = world(3, false);
    let mut offer = Offer::new(
        OfferId(40),
        OfferEffect::Discount(Rate::Percent(Percent::parse("10").unwrap())),
        OfferScope::Cheque,
        local(0),
        local(23),
    );
    offer.when.card_types = vec!["Platinum".into()];
    w.admin_ok(Command::UpsertOffer { offer });
    let discount = |w: &World| {
        let c = World::cheque(Some(EMPTY), "q", &[("bread", "1", "100")]);
        calculate(&w.state, &w.program, POS, &c, w.now)
            .totals
            .map(|t| t.discount)
    };
    assert_eq!(discount(&w), Some(Money::ZERO));
    w.admin_ok(Command::SetTierFloor {
        card: card(EMPTY),
        floor: Some("Platinum".into()),
    });
    assert_eq!(discount(&w), Some(Money::parse("10").unwrap()));
    // The balance answer names the level.
    let b = balance(&w.state, POS, Some(&card(EMPTY)), &[], w.now, None);
    assert_eq!(b.holder.and_then(|h| h.tier), Some("Platinum".into()));
}
