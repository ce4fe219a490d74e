//! Stamps ("every 3rd bread free"), rule by rule: given a customer's stamps, when a cheque
//! is priced, registered, held, cancelled or uploaded offline, then these units are free
//! and the customer holds this many stamps.

use crate::fixture::*;
use crate::offers::{all_day, bare, money};
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::calculate;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;

const OFFER: OfferId = OfferId(70);

/// Every 3rd bread free.
fn world() -> World {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: Offer {
            scope: OfferScope::Products(vec![ProductCode::new("bread").unwrap()]),
            ..all_day(
                70,
                OfferEffect::Stamps {
                    every: 3,
                    percent: Percent::parse("100").unwrap(),
                },
            )
        },
    });
    w
}

fn breads(card: Option<&str>, id: &str, n: &str) -> Cheque {
    World::cheque(card, id, &[("bread", n, "100")])
}

fn register(w: &mut World, cheque: Cheque) -> Money {
    let r = w.cash(POS, Command::RegisterPurchase { cheque });
    assert!(r.is_ok(), "{}", r.message);
    r.totals.unwrap().discount
}

fn stamps(w: &World, card_no: &str) -> u32 {
    w.state.stamps(OFFER, w.account(card_no).id)
}

#[test]
fn every_third_unit_a_customer_buys_is_free() {
    let mut w = world();
    // Two breads on two cheques: stamps, no discount.
    assert_eq!(register(&mut w, breads(Some(EMPTY), "a", "1")), Money::ZERO);
    assert_eq!(register(&mut w, breads(Some(EMPTY), "b", "1")), Money::ZERO);
    assert_eq!(stamps(&w, EMPTY), 2);
    // A preview of the third shows it free and collects nothing.
    let preview = calculate(
        &w.state,
        &w.program,
        POS,
        &breads(Some(EMPTY), "p", "1"),
        w.now,
    );
    assert_eq!(preview.totals.unwrap().discount, money("100"));
    assert_eq!(stamps(&w, EMPTY), 2);
    // The third is free; of four more, the sixth.
    assert_eq!(
        register(&mut w, breads(Some(EMPTY), "c", "1")),
        money("100")
    );
    assert_eq!(
        register(&mut w, breads(Some(EMPTY), "d", "4")),
        money("100")
    );
    assert_eq!(stamps(&w, EMPTY), 7);
    // Each customer collects their own.
    assert_eq!(register(&mut w, breads(Some(GOLD), "g", "2")), Money::ZERO);
    assert_eq!(stamps(&w, GOLD), 2);
    // Without a card: no stamps, nothing free.
    assert_eq!(register(&mut w, breads(None, "n", "3")), Money::ZERO);
}

#[test]
fn a_cancel_takes_the_stamps_back_and_a_hold_is_not_counted_twice() {
    let mut w = world();
    register(&mut w, breads(Some(GOLD), "a", "2"));
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("a")
            }
        )
        .is_ok());
    assert_eq!(stamps(&w, GOLD), 0);
    // A hold of three breads: the third free; registering it keeps the same.
    let hold = w.cash(
        POS,
        Command::PayWithBonus {
            cheque: breads(Some(GOLD), "h", "3"),
            points: pts("5"),
        },
    );
    assert!(hold.is_ok(), "{}", hold.message);
    assert_eq!(hold.totals.unwrap().discount, money("100"));
    assert_eq!(register(&mut w, breads(Some(GOLD), "h", "3")), money("100"));
    assert_eq!(stamps(&w, GOLD), 3);
}

#[test]
fn an_offline_cheque_collects_stamps_but_gets_nothing_free() {
    let mut w = world();
    let r = w.cash(
        POS,
        Command::ImportOfflinePurchase {
            cheque: breads(Some(EMPTY), "o", "3"),
            points_paid: Points::ZERO,
            local_discount: Money::ZERO,
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.totals.unwrap().discount, Money::ZERO);
    assert_eq!(stamps(&w, EMPTY), 3);
    // Then the next card starts.
    assert_eq!(register(&mut w, breads(Some(EMPTY), "a", "2")), Money::ZERO);
    assert_eq!(
        register(&mut w, breads(Some(EMPTY), "b", "1")),
        money("100")
    );
}

#[test]
fn a_stamp_card_is_two_units_or_more() {
    for every in [0, 1, 101] {
        let mut w = bare();
        let offer = all_day(
            71,
            OfferEffect::Stamps {
                every,
                percent: Percent::parse("100").unwrap(),
            },
        );
        let r = w.run(operator(), Command::UpsertOffer { offer });
        assert_eq!(r.reply.code, Code::OfferInvalid, "every {every}");
    }
}

/// The rules page's sample: 2 stamps held, 4 breads bought.
#[test]
fn the_rules_pages_sample_cheque() {
    let mut w = world();
    register(&mut w, breads(Some(GOLD), "a", "2"));
    assert_eq!(register(&mut w, breads(Some(GOLD), "b", "4")), money("200"));
    assert_eq!(stamps(&w, GOLD), 6);
}
