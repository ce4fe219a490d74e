//! Refunds of confirmed purchases, by line.

use super::*;

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
];

#[test]
fn rule_table() {
    {
        for case in CASES {
            {
                check(case);
            }
        }
    }
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
        },
    );
    let s = r.refund.unwrap();
    assert_eq!(s.accrual_reversed.plus(s.accrual_unrecovered), pts("5"));
    assert_eq!(w.balance(EMPTY), start.minus(s.accrual_reversed));
    assert!(w.balance(EMPTY).0 >= 0);
}
