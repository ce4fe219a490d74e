//! The auditor's own rules, checked by hand-worked cases.

use super::*;

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(five_percent(10), 1); // 0.5 kopeck -> 1
    assert_eq!(five_percent(9), 0);
    assert_eq!(five_percent(2000), 100);
    assert_eq!(half(3), 2);
    assert_eq!(half(4), 2);
}

#[test]
fn a_hold_then_confirm_moves_points() {
    let mut m = Model::new(1, vec![], 1000);
    m.accounts[0].grant(1000);
    let pay = Op::Pay {
        cashbox: 1,
        cheque: "c".into(),
        card: 0,
        amount: 1000,
        points: 500,
        coupon: None,
    };
    assert_eq!(m.apply(&pay, 0), Expect::Ok);
    assert_eq!(m.accounts[0].held, 500);
    assert_eq!(
        m.apply(
            &Op::Register {
                cashbox: 1,
                cheque: "c".into(),
                card: Some(0),
                amount: 1000,
                coupon: None,
            },
            1
        ),
        Expect::Ok
    );
    assert_eq!(
        m.apply(
            &Op::Confirm {
                cashbox: 1,
                cheque: "c".into()
            },
            1000
        ),
        Expect::HoldExpired
    );
    assert_eq!(
        m.apply(
            &Op::Confirm {
                cashbox: 1,
                cheque: "c".into()
            },
            999
        ),
        Expect::Ok
    );
    let a = &m.accounts[0];
    assert_eq!((a.balance(), a.held, a.debt, a.earned), (525, 0, 0, 25));
}

#[test]
fn an_order_holds_its_points_until_picked_up_cancelled_or_expired() {
    let mut m = Model::new(1, vec![], 1000).with_order_lifetime(5000);
    m.accounts[0].grant(1000);
    let order = |number: &str, points| Op::Order {
        number: number.into(),
        card: 0,
        amount: 1000,
        discount: 100,
        points,
    };
    assert_eq!(m.apply(&order("o1", 901), 0), Expect::RedeemLimitExceeded);
    assert_eq!(m.apply(&order("o1", 451), 0), Expect::RedeemLimitExceeded);
    assert_eq!(m.apply(&order("o1", 300), 0), Expect::Ok);
    assert_eq!(m.apply(&order("o1", 300), 0), Expect::OrderExists);
    assert_eq!(m.accounts[0].held, 300);
    let pick = |cheque: &str| Op::PickUp {
        cashbox: 1,
        cheque: cheque.into(),
        number: "o1".into(),
    };
    assert_eq!(m.apply(&pick("c1"), 10), Expect::Ok);
    assert_eq!(m.apply(&pick("c2"), 10), Expect::OrderWrongState);
    // Cancelling the pick-up gives the order its hold back.
    let cancel = Op::Cancel {
        cashbox: 1,
        cheque: "c1".into(),
    };
    assert_eq!(m.apply(&cancel, 20), Expect::Ok);
    assert_eq!(m.accounts[0].held, 300);
    // The sweep expires the open order once its lifetime ends.
    assert_eq!(m.apply(&Op::Expire, 4999), Expect::Ok);
    assert_eq!(m.accounts[0].held, 300);
    assert_eq!(m.apply(&Op::Expire, 5000), Expect::Ok);
    let a = &m.accounts[0];
    assert_eq!((a.balance(), a.held, a.debt, a.earned), (1000, 0, 0, 0));
    assert_eq!(m.apply(&pick("c3"), 5001), Expect::OrderWrongState);
    // Picked up and confirmed: points paid, 5 % of the money part (600) accrued.
    assert_eq!(m.apply(&order("o2", 300), 6000), Expect::Ok);
    let pick2 = Op::PickUp {
        cashbox: 1,
        cheque: "c4".into(),
        number: "o2".into(),
    };
    assert_eq!(m.apply(&pick2, 6000), Expect::Ok);
    let confirm = Op::Confirm {
        cashbox: 1,
        cheque: "c4".into(),
    };
    assert_eq!(m.apply(&confirm, 6001), Expect::Ok);
    let a = &m.accounts[0];
    assert_eq!((a.balance(), a.held, a.debt, a.earned), (730, 0, 0, 30));
}

#[test]
fn a_replaced_card_is_refused_and_its_successor_has_the_account() {
    let mut m = Model::new(2, vec![], 1000);
    m.accounts[1].grant(700);
    assert_eq!(m.apply(&Op::Replace { card: 1 }, 0), Expect::Ok);
    assert_eq!(m.current_card(1), 3);
    assert_eq!(m.apply(&Op::Replace { card: 1 }, 0), Expect::CardReplaced);
    let pay = |card| Op::Pay {
        cashbox: 1,
        cheque: format!("c{card}"),
        card,
        amount: 1000,
        points: 100,
        coupon: None,
    };
    assert_eq!(m.apply(&pay(1), 0), Expect::CardReplaced);
    assert_eq!(m.apply(&pay(3), 0), Expect::Ok);
    assert_eq!(m.accounts[1].held, 100);
}

#[test]
fn a_return_without_the_receipt_takes_back_no_more_than_was_earned() {
    let mut m = Model::new(1, vec![9], 1000);
    m.accounts[0].grant(1000);
    // Earned 25 on a cheque of 500.
    let register = Op::Register {
        cashbox: 1,
        cheque: "c".into(),
        card: Some(0),
        amount: 500,
        coupon: None,
    };
    assert_eq!(m.apply(&register, 0), Expect::Ok);
    let confirm = Op::Confirm {
        cashbox: 1,
        cheque: "c".into(),
    };
    assert_eq!(m.apply(&confirm, 1), Expect::Ok);
    let back = |at: u32, number: &str, amount| Op::ReturnWithoutReceipt {
        at,
        number: number.into(),
        card: 0,
        amount,
    };
    assert_eq!(m.apply(&back(9, "x1", 2000), 2), Expect::RefundAtKiosk);
    // Goods of 2000 would take 100 back; 25 were earned.
    assert_eq!(m.apply(&back(1, "x1", 2000), 2), Expect::Ok);
    assert_eq!((m.accounts[0].balance(), m.accounts[0].earned), (1000, 0));
    assert_eq!(m.apply(&back(1, "x1", 2000), 3), Expect::RefundExists);
    assert_eq!(m.apply(&back(1, "c", 2000), 3), Expect::RefundExists);
}
