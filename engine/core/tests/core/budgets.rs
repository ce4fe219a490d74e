//! Offer budgets and limits, rule by rule: given a limited offer and the cheques before,
//! when a cheque is priced, registered, cancelled, expired or uploaded offline, then the
//! offer gives exactly this much — never more than its limits, whatever the order.

use crate::fixture::*;
use crate::offers::{accrual, bare, discount, money, pct};
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::calculate;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;

const OFFER: OfferId = OfferId(50);

fn limited(o: Offer, limits: OfferLimits) -> Offer {
    Offer {
        limits: Some(limits),
        ..o
    }
}

/// The bare fixture with 10 % off everything for two days, limited so.
fn world(limits: OfferLimits) -> World {
    let mut w = bare();
    let mut offer = limited(discount(50, pct("10")), limits);
    offer.valid_to += chrono::Duration::days(2);
    w.admin_ok(Command::UpsertOffer { offer });
    w
}

fn total(x: &str) -> OfferLimits {
    OfferLimits {
        total: Some(money(x).0),
        ..OfferLimits::default()
    }
}

fn bread(card: Option<&str>, id: &str) -> Cheque {
    World::cheque(card, id, &[("bread", "1", "100")])
}

/// Registers a cheque at `till`; its discount.
fn register(w: &mut World, till: CashboxId, cheque: Cheque) -> Money {
    let r = w.cash(till, Command::RegisterPurchase { cheque });
    assert!(r.is_ok(), "{}", r.message);
    r.totals.unwrap().discount
}

#[test]
fn a_total_budget_is_shared_out_in_the_writers_order_and_never_overspent() {
    // Given 15.00 in all; cheques of 100.00 each would get 10.00.
    let mut w = world(total("15"));
    // A preview promises what is left and takes nothing.
    let preview = calculate(&w.state, &w.program, POS, &bread(Some(GOLD), "p"), w.now);
    assert_eq!(preview.totals.unwrap().discount, money("10"));
    // Two tills in turn: the first gets 10.00, the second the last 5.00, a third nothing
    // (and the offer is not named on its lines).
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "a")), money("10"));
    assert_eq!(register(&mut w, POS2, bread(None, "b")), money("5"));
    let third = w.cash(
        KIOSK,
        Command::RegisterPurchase {
            cheque: bread(Some(EMPTY), "c"),
        },
    );
    assert_eq!(third.totals.unwrap().discount, Money::ZERO);
    assert!(third.lines[0].offers.is_empty());
    assert_eq!(w.state.offer_given(OFFER), money("15").0);
    // A cancelled cheque gives its share back.
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("a")
            }
        )
        .is_ok());
    assert_eq!(w.state.offer_given(OFFER), money("5").0);
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "d")), money("10"));
}

#[test]
fn a_hold_keeps_its_share_when_registered_and_gives_it_back_only_unregistered() {
    let mut w = world(total("10"));
    let pay = |w: &mut World, id: &str| {
        let r = w.cash(
            POS,
            Command::PayWithBonus {
                cheque: bread(Some(GOLD), id),
                points: pts("5"),
            },
        );
        assert!(r.is_ok(), "{}", r.message);
        r.totals.unwrap().discount
    };
    // The hold takes the whole budget; its registration counts its own share as room.
    assert_eq!(pay(&mut w, "h1"), money("10"));
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "h1")), money("10"));
    assert_eq!(w.state.offer_given(OFFER), money("10").0);
    // Registered, it keeps its share when its lifetime ends (it may be confirmed late).
    w.now = w.now.plus_secs(w.program.hold_lifetime_secs + 1);
    w.run(Actor::System, Command::ExpireHolds);
    assert_eq!(w.state.offer_given(OFFER), money("10").0);
    // A hold never registered gives it back at its expiry.
    let mut w = world(total("10"));
    pay(&mut w, "h2");
    w.now = w.now.plus_secs(w.program.hold_lifetime_secs + 1);
    w.run(Actor::System, Command::ExpireHolds);
    assert_eq!(w.state.offer_given(OFFER), 0);
}

#[test]
fn per_customer_limits_count_each_customer_apart() {
    // 8.00 a day per customer.
    let mut w = world(OfferLimits {
        per_customer_day: Some(money("8").0),
        ..OfferLimits::default()
    });
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "g1")), money("8"));
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "g2")), Money::ZERO);
    assert_eq!(register(&mut w, POS, bread(Some(EMPTY), "e1")), money("8"));
    // The next day (the cheque's local day), again.
    let mut tomorrow = bread(Some(GOLD), "g3");
    tomorrow.local_time += chrono::Duration::days(1);
    assert_eq!(register(&mut w, POS, tomorrow), money("8"));
    // Without a customer, a per-customer offer gives nothing.
    assert_eq!(register(&mut w, POS, bread(None, "n1")), Money::ZERO);
    // One cheque per customer.
    let mut w = world(OfferLimits {
        uses_per_customer: Some(1),
        ..OfferLimits::default()
    });
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "u1")), money("10"));
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "u2")), Money::ZERO);
    assert_eq!(register(&mut w, POS, bread(Some(EMPTY), "u3")), money("10"));
    // A cancelled use counts no more.
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("u1")
            }
        )
        .is_ok());
    assert_eq!(register(&mut w, POS, bread(Some(GOLD), "u4")), money("10"));
}

#[test]
fn an_accrual_budget_holds_online_and_offline() {
    // 5 % accrual, 7.00 points in all.
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: limited(accrual(50, pct("5")), total("7")),
    });
    let accrued = |r: &Reply| r.totals.unwrap().accrual;
    let big = |card, id| World::cheque(card, id, &[("bread", "1", "100")]);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: big(Some(GOLD), "a"),
        },
    );
    assert_eq!(accrued(&r), pts("5"));
    // Offline, the rest: 2.00 of the 5.00 it would earn; then nothing.
    let offline = |w: &mut World, id: &str| {
        let r = w.cash(
            POS,
            Command::ImportOfflinePurchase {
                cheque: bread(Some(EMPTY), id),
                points_paid: Points::ZERO,
                local_discount: Money::ZERO,
            },
        );
        assert!(r.is_ok(), "{}", r.message);
        accrued(&r)
    };
    assert_eq!(offline(&mut w, "o1"), pts("2"));
    assert_eq!(offline(&mut w, "o2"), Points::ZERO);
    assert_eq!(w.state.offer_given(OFFER), pts("7").0);
}

#[test]
fn only_discounts_and_accruals_have_limits_and_they_are_above_zero() {
    let message = all_day_message();
    let cases: Vec<(&str, Offer)> = vec![
        ("a message with a budget", limited(message, total("10"))),
        (
            "a budget of nothing",
            limited(discount(50, pct("10")), total("0")),
        ),
        (
            "no use at all",
            limited(
                discount(50, pct("10")),
                OfferLimits {
                    uses_per_customer: Some(0),
                    ..OfferLimits::default()
                },
            ),
        ),
    ];
    for (name, offer) in cases {
        let mut w = bare();
        let r = w.run(operator(), Command::UpsertOffer { offer });
        assert_eq!(r.reply.code, Code::OfferInvalid, "{name}");
    }
}

fn all_day_message() -> Offer {
    crate::offers::all_day(
        50,
        OfferEffect::Message {
            to: MessageTo::Cashier,
            template: "hello".into(),
        },
    )
}
