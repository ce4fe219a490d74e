//! Refunds of confirmed purchases, by line, at any POS of the programme.

use super::*;
use loyalty_core::event::Event;

/// A refund without the receipt at `at` of a bread of 1000.00 for EMPTY's card.
fn returned_without_receipt(at: CashboxId, number: &str) -> (Actor, Command) {
    cash(
        at,
        Command::RefundWithoutReceipt {
            cheque: World::cheque(Some(EMPTY), number, &[("bread", "1", "1000")]),
        },
    )
}

const CASES: &[Case] = &[
    Case {
        name: "refund part of a line",
        given: confirmed,
        when: |_| refund(POS, 0, "0.5"),
        then: Code::Ok,
    },
    Case {
        name: "refund at a kiosk",
        given: confirmed,
        when: |_| refund(KIOSK, 0, "1"),
        then: Code::RefundAtKiosk,
    },
    Case {
        name: "refund before confirm",
        given: registered,
        when: |_| refund(POS, 0, "1"),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "refund more than bought",
        given: confirmed,
        when: |_| refund(POS, 0, "1.001"),
        then: Code::RefundExceedsPurchase,
    },
    Case {
        name: "refund an unknown line",
        given: confirmed,
        when: |_| refund(POS, 1, "1"),
        then: Code::RefundLineUnknown,
    },
    Case {
        name: "refund an unknown purchase",
        given: nothing,
        when: |_| refund(POS, 0, "1"),
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "refund cheque reused",
        given: |w| {
            confirmed(w);
            let (a, c) = refund(POS, 0, "0.5");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |_| refund(POS, 0, "0.5"),
        then: Code::RefundExists,
    },
    Case {
        name: "refund at another till of the store",
        given: confirmed,
        when: |_| refund_at(POS2, POS, "r1", "1"),
        then: Code::Ok,
    },
    Case {
        name: "refund in another store",
        given: confirmed,
        when: |_| refund_at(ELSEWHERE, POS, "r1", "1"),
        then: Code::Ok,
    },
    Case {
        name: "another till's sale, the seller not named",
        given: confirmed,
        when: |_| refund(POS2, 0, "1"),
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "a kiosk's sale refunded at a POS",
        given: kiosk_sale,
        when: |_| refund_at(POS, KIOSK, "r1", "1"),
        then: Code::Ok,
    },
    Case {
        name: "a POS's sale refunded at a kiosk",
        given: confirmed,
        when: |_| refund_at(KIOSK, POS, "r1", "1"),
        then: Code::RefundAtKiosk,
    },
    Case {
        name: "the same refund number at two tills is two refunds",
        given: |w| {
            confirmed(w);
            let (a, c) = refund_at(POS, POS, "r1", "0.5");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |_| refund_at(POS2, POS, "r1", "0.5"),
        then: Code::Ok,
    },
    Case {
        name: "a refund number reused at the other till",
        given: |w| {
            confirmed(w);
            let (a, c) = refund_at(ELSEWHERE, POS, "r1", "0.5");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |_| refund_at(ELSEWHERE, POS, "r1", "0.5"),
        then: Code::RefundExists,
    },
    Case {
        name: "refunds at several tills add up to the purchase and no more",
        given: |w| {
            confirmed(w);
            for (at, number) in [(POS2, "r1"), (ELSEWHERE, "r1")] {
                let (a, c) = refund_at(at, POS, number, "0.5");
                assert!(w.run(a, c).reply.is_ok());
            }
        },
        when: |_| refund_at(POS, POS, "r2", "0.001"),
        then: Code::RefundExceedsPurchase,
    },
    Case {
        name: "without the receipt, where the programme does not allow it",
        given: confirmed,
        when: |_| returned_without_receipt(POS2, "rx"),
        then: Code::Forbidden,
    },
    Case {
        name: "without the receipt, where the programme allows it",
        given: |w| {
            confirmed(w);
            w.program.receiptless_refunds = true;
        },
        when: |_| returned_without_receipt(POS2, "rx"),
        then: Code::Ok,
    },
    Case {
        name: "without the receipt at a kiosk",
        given: |w| w.program.receiptless_refunds = true,
        when: |_| returned_without_receipt(KIOSK, "rx"),
        then: Code::RefundAtKiosk,
    },
    Case {
        name: "without the receipt, under a cheque number in use",
        given: |w| {
            confirmed(w);
            w.program.receiptless_refunds = true;
        },
        when: |_| returned_without_receipt(POS, "c1"),
        then: Code::RefundExists,
    },
    Case {
        name: "an unknown selling cashbox",
        given: confirmed,
        when: |_| refund_at(POS2, CashboxId(77), "r1", "1"),
        then: Code::PurchaseUnknown,
    },
];

#[test]
fn rule_table() {
    for case in CASES {
        check(case);
    }
}

#[test]
fn a_refund_elsewhere_names_the_refunding_till_and_store_and_splits_exactly() {
    let mut w = World::new();
    confirmed(&mut w);
    let sale = w
        .state
        .purchase(&PurchaseKey {
            cashbox: POS,
            cheque: cheque_id("c1"),
        })
        .unwrap();
    let mut money = Money::ZERO;
    let mut points = Points::ZERO;
    for (at, qty) in [(ELSEWHERE, "0.333"), (POS2, "0.333"), (POS, "0.334")] {
        let (a, c) = refund_at(at, POS, "r1", qty);
        let out = w.run(a, c);
        assert!(out.reply.is_ok(), "{:?}", out.reply);
        assert_eq!(
            out.reply.purchase,
            Some(sale.key.clone()),
            "the answer names the sale"
        );
        let s = out.reply.refund.unwrap();
        money = money.plus(s.money_returned);
        points = points.plus(s.points_returned);
        let Some(Event::RefundRecorded {
            refunded_at,
            refunded_in,
            purchase,
            ..
        }) = out.events.last()
        else {
            panic!("a refund event")
        };
        assert_eq!(purchase, &sale.key);
        assert_eq!(*refunded_at, Some(at));
        assert_eq!(
            *refunded_in,
            Some(StoreId(if at == ELSEWHERE { 2 } else { 1 }))
        );
    }
    // Three tills' refunds of one line sum to the line exactly.
    assert_eq!(money, sale.lines[0].net());
    assert_eq!(points, sale.lines[0].paid);
    let after = w.state.purchase(&sale.key).unwrap();
    assert_eq!(after.refund_keys.len(), 3);
    assert!(after.has_refund(&PurchaseKey {
        cashbox: ELSEWHERE,
        cheque: cheque_id("r1")
    }));
}

#[test]
fn refund_never_pushes_the_balance_below_zero() {
    let mut w = World::new();
    // EMPTY earns 5 points, spends them all on another cheque, then returns the first.
    w.buy(EMPTY, "a", &[("bread", "1", "100")]);
    assert_eq!(w.balance(EMPTY), pts("5"));
    let spend = World::cheque(Some(EMPTY), "b", &[("bread", "1", "100")]);
    assert!(w
        .cash(
            POS,
            Command::PayWithBonus {
                cheque: spend.clone(),
                points: pts("5")
            }
        )
        .is_ok());
    assert!(w
        .cash(POS, Command::RegisterPurchase { cheque: spend })
        .is_ok());
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("b")
            }
        )
        .is_ok());
    let start = w.balance(EMPTY);
    let r = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("ra"),
            purchase: cheque_id("a"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty(1000),
            }],
            sold_at: None,
        },
    );
    let s = r.refund.unwrap();
    assert_eq!(s.accrual_reversed.plus(s.accrual_unrecovered), pts("5"));
    // The first cheque's own lot was spent: all 5 are owed, and the 4.75 the second
    // cheque earned pay back what they can.
    assert_eq!(start, pts("4.75"));
    assert_eq!(s.accrual_unrecovered, pts("5"));
    assert_eq!(w.balance(EMPTY), Points::ZERO);
    assert_eq!(w.account(EMPTY).debt, pts("0.25"));
}

/// Defect: a refund took back accrual only from the spendable balance and wrote off what
/// was held, so cancelling the hold afterwards let the customer keep the points of goods
/// they returned.
#[test]
fn a_refund_while_its_accrual_is_held_leaves_no_points_to_keep() {
    for confirm_the_hold in [false, true] {
        let mut w = World::new();
        // EMPTY earns 50 points, then holds all 50 on a second cheque.
        w.buy(EMPTY, "a", &[("bread", "1", "1000")]);
        assert_eq!(w.balance(EMPTY), pts("50"));
        let spend = World::cheque(Some(EMPTY), "b", &[("bread", "1", "1000")]);
        let pay = Command::PayWithBonus {
            cheque: spend.clone(),
            points: pts("50"),
        };
        assert!(w.cash(POS, pay).is_ok());
        // The first cheque comes back.
        let (a, c) = (
            Actor::Cashbox(POS),
            Command::Refund {
                refund: cheque_id("ra"),
                purchase: cheque_id("a"),
                lines: vec![RefundLine {
                    index: 0,
                    qty: Qty(1000),
                }],
                sold_at: None,
            },
        );
        assert!(w.run(a, c).reply.is_ok());
        if confirm_the_hold {
            assert!(w
                .cash(POS, Command::RegisterPurchase { cheque: spend })
                .is_ok());
            let done = w.cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("b"),
                },
            );
            assert_eq!(done.totals.unwrap().accrual, pts("47.50"));
        } else {
            assert!(w
                .cash(
                    POS,
                    Command::Cancel {
                        cheque: cheque_id("b")
                    }
                )
                .is_ok());
        }
        // Nothing of the returned goods' 50 points is left to spend: a cancelled hold pays
        // the debt back at once; a confirmed one spent the points on its goods, and its
        // accrual of 47.50 pays back all of the debt it can.
        let account = w.account(EMPTY);
        let owed = if confirm_the_hold {
            pts("2.50")
        } else {
            Points::ZERO
        };
        assert_eq!(
            (account.balance, account.held, account.debt),
            (Points::ZERO, Points::ZERO, owed),
            "confirmed: {confirm_the_hold}"
        );
    }
}

/// Without the receipt, the accrual the goods earn today is taken back — from what is
/// spendable, the rest owed — and never more than the customer has earned and kept.
#[test]
fn a_refund_without_the_receipt_takes_back_no_more_than_was_earned() {
    let mut w = World::new();
    w.program.receiptless_refunds = true;
    w.buy(EMPTY, "a", &[("bread", "1", "1000")]); // earns 50
    w.admin_ok(Command::AdjustPoints {
        card: card(EMPTY),
        delta: Points(-4000),
        reason: "spent elsewhere".into(),
    });
    let (a, c) = returned_without_receipt(POS2, "rx1");
    let out = w.run(a, c);
    assert!(out.reply.is_ok(), "{:?}", out.reply);
    let s = out.reply.refund.unwrap();
    assert_eq!(s.money_returned, Money::parse("1000").unwrap());
    assert_eq!(
        (s.points_returned, s.accrual_reversed, s.accrual_unrecovered),
        (Points::ZERO, pts("10"), pts("40"))
    );
    assert_eq!(
        out.reply.purchase_status,
        Some(PurchaseStatus::ReturnedWithoutReceipt)
    );
    let account = w.account(EMPTY);
    assert_eq!(
        (account.balance, account.debt, account.earned),
        (Points::ZERO, pts("40"), Points::ZERO)
    );
    // Nothing earned is left: a second return takes nothing back.
    let (a, c) = returned_without_receipt(POS2, "rx2");
    let s = w.run(a, c).reply.refund.unwrap();
    assert_eq!(
        (s.accrual_reversed, s.accrual_unrecovered),
        (Points::ZERO, Points::ZERO)
    );
    // The next accrual pays the debt back first.
    w.buy(EMPTY, "b", &[("bread", "1", "1000")]);
    let account = w.account(EMPTY);
    assert_eq!((account.balance, account.debt), (pts("10"), Points::ZERO));
}
