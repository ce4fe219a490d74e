//! E-commerce orders: created with promised discounts and held points, picked up at a
//! till as promised, cancelled, or expired.

use crate::fixture::*;
use crate::offers::*;
use crate::properties::check_invariants;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::decide::fetch_order;
use loyalty_core::event::Event;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::*;
use loyalty_core::state::*;

fn order_lines() -> Vec<OrderLine> {
    vec![
        OrderLine {
            product: ProductCode::new("bread").unwrap(),
            qty: Qty(2000),
            price: money("100"),
            discount: money("20"),
        },
        OrderLine {
            product: ProductCode::new("milk").unwrap(),
            qty: Qty(1000),
            price: money("50"),
            discount: Money::ZERO,
        },
    ]
}

fn order(w: &mut World, number: &str, points: &str) -> Code {
    w.run(
        operator(),
        Command::CreateOrder {
            number: OrderNo::new(number).unwrap(),
            card: card(GOLD),
            lines: order_lines(),
            points: pts(points),
        },
    )
    .reply
    .code
}

fn pickup_cheque(number: &str, id: &str, card_no: Option<&str>) -> Cheque {
    let mut c = World::cheque(card_no, id, &[("bread", "2", "100"), ("milk", "1", "50")]);
    c.order = Some(OrderNo::new(number).unwrap());
    c
}

#[test]
fn orders_are_picked_up_as_promised() {
    let mut w = bare();
    w.admin_ok(Command::UpsertOffer {
        offer: accrual(51, pct("10")),
    });
    // A generous discount offer does not apply to an order: its promise does.
    w.admin_ok(Command::UpsertOffer {
        offer: discount(52, pct("50")),
    });
    // Lines of 180.00 and 50.00 after the promised discount: points may pay half of each,
    // 115 — the till's rule — and GOLD has 100.
    assert_eq!(order(&mut w, "WEB-1", "231"), Code::RedeemLimitExceeded);
    assert_eq!(order(&mut w, "WEB-1", "115.01"), Code::RedeemLimitExceeded);
    assert_eq!(order(&mut w, "WEB-1", "115"), Code::InsufficientPoints);
    assert_eq!(order(&mut w, "WEB-1", "30"), Code::Ok);
    assert_eq!(order(&mut w, "WEB-1", "30"), Code::OrderExists);
    assert_eq!(w.account(GOLD).held, pts("30"));
    // The till fetches it: lines at the promised discount, the reserved points, accrual
    // on the money part.
    let number = OrderNo::new("WEB-1").unwrap();
    let f = fetch_order(&w.state, &w.program, POS, &number, local(12), w.now);
    assert!(f.is_ok(), "{}", f.message);
    assert_eq!(f.order_status, Some(OrderStatus::Open));
    let t = f.totals.unwrap();
    assert_eq!(
        (t.amount, t.discount, t.paid),
        (money("250"), money("20"), pts("30"))
    );
    assert_eq!(t.accrual, pts("20"));
    // Lines must be the order's; the card must be the order's customer's.
    let mut wrong = pickup_cheque("WEB-1", "p0", None);
    wrong.lines[1].price = money("40");
    assert_eq!(
        w.cash(POS, Command::RegisterPurchase { cheque: wrong })
            .code,
        Code::OrderMismatch
    );
    assert_eq!(
        w.cash(
            POS,
            Command::RegisterPurchase {
                cheque: pickup_cheque("WEB-1", "p0", Some(EMPTY))
            }
        )
        .code,
        Code::CardMismatch
    );
    // Bought out without showing the card: the order's card is the customer's.
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-1", "p1", None),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.totals.unwrap().paid, pts("30"));
    assert_eq!(w.account(GOLD).held, pts("30"));
    assert_eq!(
        w.cash(
            POS,
            Command::RegisterPurchase {
                cheque: pickup_cheque("WEB-1", "p2", None)
            }
        )
        .code,
        Code::OrderWrongState
    );
    check_invariants(&w);
    // Cancelling the pick-up gives the order (and its hold) back; picking up again and
    // confirming posts the points.
    assert!(w
        .cash(
            POS,
            Command::Cancel {
                cheque: cheque_id("p1")
            }
        )
        .is_ok());
    assert_eq!(w.state.order(&number).unwrap().status, OrderStatus::Open);
    assert_eq!(w.account(GOLD).held, pts("30"));
    check_invariants(&w);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-1", "p3", Some(GOLD)),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("p3")
            }
        )
        .is_ok());
    let a = w.account(GOLD);
    assert_eq!((a.balance, a.held), (pts("90"), Points::ZERO));
    assert_eq!(
        w.state.order(&number).unwrap().status,
        OrderStatus::PickedUp
    );
    check_invariants(&w);
}

#[test]
fn an_order_follows_its_customer_to_a_replacement_card() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-4", "10"), Code::Ok);
    assert!(w
        .cash(
            POS,
            Command::ReplaceCard {
                old: card(GOLD),
                new: card("2770000000079"),
            },
        )
        .is_ok());
    // Without a card shown the order's customer is the one of the new card; the old card
    // shown is refused as replaced.
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-4", "p1", Some(GOLD)),
        },
    );
    assert_eq!(r.code, Code::CardReplaced);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-4", "p2", None),
        },
    );
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.holder.unwrap().masked_card, "*********0079");
    check_invariants(&w);
}

#[test]
fn an_order_is_not_paid_with_a_hold() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-5", "10"), Code::Ok);
    // A hold naming an order (known or not) is refused and changes nothing.
    for number in ["WEB-5", "WEB-404"] {
        let before = w.state.projection.clone();
        let r = w.run(
            Actor::Cashbox(POS),
            Command::PayWithBonus {
                cheque: pickup_cheque(number, "h1", Some(GOLD)),
                points: pts("5"),
            },
        );
        assert_eq!(r.reply.code, Code::Forbidden);
        assert!(r.events.is_empty());
        assert_eq!(w.state.projection, before);
    }
    check_invariants(&w);
}

#[test]
fn cancelled_orders_release_their_points() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-2", "50"), Code::Ok);
    let cancel = |w: &mut World, n: &str| {
        w.run(
            operator(),
            Command::CancelOrder {
                number: OrderNo::new(n).unwrap(),
            },
        )
        .reply
        .code
    };
    assert_eq!(cancel(&mut w, "WEB-9"), Code::OrderUnknown);
    assert_eq!(cancel(&mut w, "WEB-2"), Code::Ok);
    assert_eq!(cancel(&mut w, "WEB-2"), Code::OrderWrongState);
    assert_eq!(w.account(GOLD).held, Points::ZERO);
    assert_eq!(
        w.cash(
            POS,
            Command::RegisterPurchase {
                cheque: pickup_cheque("WEB-2", "p1", None)
            }
        )
        .code,
        Code::OrderWrongState
    );
    assert!(w
        .history
        .iter()
        .any(|e| matches!(e, Event::OrderCancelled { .. })));
    check_invariants(&w);
}

#[test]
fn orders_not_picked_up_in_time_expire_and_release_their_points() {
    let mut w = bare();
    assert_eq!(order(&mut w, "WEB-3", "40"), Code::Ok);
    let number = OrderNo::new("WEB-3").unwrap();
    let lifetime = w.program.order_lifetime_secs;
    // One second before the end the till may still fetch it; the sweep leaves it alone.
    w.now = w.now.plus_secs(lifetime - 1);
    let f = fetch_order(&w.state, &w.program, POS, &number, local(12), w.now);
    assert!(f.is_ok(), "{}", f.message);
    assert!(w.run(Actor::System, Command::ExpireHolds).events.is_empty());
    // At the end it may not be picked up, even before the sweep ran.
    w.now = w.now.plus_secs(1);
    let r = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: pickup_cheque("WEB-3", "e1", None),
        },
    );
    assert_eq!(r.code, Code::OrderWrongState);
    assert!(r.message.contains("expired"), "{}", r.message);
    // The sweep expires it and releases the points, once.
    let swept = w.run(Actor::System, Command::ExpireHolds);
    assert!(matches!(
        swept.events.as_slice(),
        [Event::OrderExpired { points_released, .. }] if *points_released == pts("40")
    ));
    assert_eq!(w.account(GOLD).held, Points::ZERO);
    assert_eq!(w.state.order(&number).unwrap().status, OrderStatus::Expired);
    assert!(w.run(Actor::System, Command::ExpireHolds).events.is_empty());
    let cancel = w.run(operator(), Command::CancelOrder { number });
    assert_eq!(cancel.reply.code, Code::OrderWrongState);
    check_invariants(&w);
}

// Properties of pricing over random catalogues, offers and cheques.
