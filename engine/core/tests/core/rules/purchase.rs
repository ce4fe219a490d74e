//! The purchase life cycle at an online till: calculate, pay with points, register, confirm, cancel, and replays of the same operation.

use super::*;

const CASES: &[Case] = &[
    Case {
        name: "hold on an activated card",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "10"),
        then: Code::Ok,
    },
    Case {
        name: "issued card may not redeem",
        given: nothing,
        when: |_| pay(POS, Some(ISSUED), "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "prepared card may not redeem",
        given: nothing,
        when: |_| pay(POS, Some(PREPARED), "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "blocked card",
        given: nothing,
        when: |_| pay(POS, Some(BLOCKED), "1"),
        then: Code::CardBlocked,
    },
    Case {
        name: "unknown card",
        given: nothing,
        when: |_| pay(POS, Some("1234567"), "1"),
        then: Code::CardUnknown,
    },
    Case {
        name: "points need a card",
        given: nothing,
        when: |_| pay(POS, None, "1"),
        then: Code::CardRequired,
    },
    Case {
        name: "more than spendable",
        given: nothing,
        when: |_| pay(POS, Some(EMPTY), "1"),
        then: Code::InsufficientPoints,
    },
    Case {
        name: "more than the cheque allows",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "45.01"),
        then: Code::RedeemLimitExceeded,
    },
    Case {
        name: "exactly the cheque's limit",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "45"),
        then: Code::Ok,
    },
    Case {
        name: "zero points",
        given: nothing,
        when: |_| pay(POS, Some(GOLD), "0"),
        then: Code::AmountInvalid,
    },
    Case {
        name: "disabled cashbox",
        given: nothing,
        when: |_| pay(DISABLED, Some(GOLD), "1"),
        then: Code::CashboxDisabled,
    },
    Case {
        name: "unregistered cashbox",
        given: nothing,
        when: |_| pay(CashboxId(99), Some(GOLD), "1"),
        then: Code::CashboxUnknown,
    },
    Case {
        name: "a second hold on one cheque",
        given: held,
        when: |_| pay(POS, Some(GOLD), "1"),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "admin may not ring up cheques",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "confirm before register",
        given: held,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "confirm unknown purchase",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "confirm registered",
        given: registered,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "double confirm",
        given: confirmed,
        when: |_| {
            cash(
                POS,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "confirm late, before the sweep",
        given: |w| {
            registered(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
        },
        when: |_| confirm_c1(),
        then: Code::Ok,
    },
    Case {
        name: "confirm after the late window",
        given: |w| {
            registered(w);
            w.now = w
                .now
                .plus_secs(w.program.hold_lifetime_secs + w.program.late_confirm_secs);
        },
        when: |_| confirm_c1(),
        then: Code::HoldExpired,
    },
    Case {
        name: "register after the hold expired",
        given: |w| {
            held(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
        },
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(GOLD), "c1"),
                },
            )
        },
        then: Code::HoldExpired,
    },
    Case {
        name: "confirm after the sweep expired it",
        given: |w| {
            registered(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
            assert_eq!(w.run(Actor::System, Command::ExpireHolds).events.len(), 1);
        },
        when: |_| confirm_c1(),
        then: Code::Ok,
    },
    Case {
        name: "confirm after the sweep, past the late window",
        given: |w| {
            registered(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
            assert_eq!(w.run(Actor::System, Command::ExpireHolds).events.len(), 1);
            w.now = w.now.plus_secs(w.program.late_confirm_secs);
        },
        when: |_| confirm_c1(),
        then: Code::HoldExpired,
    },
    Case {
        name: "confirm late a hold that was never registered",
        given: |w| {
            held(w);
            w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
            assert_eq!(w.run(Actor::System, Command::ExpireHolds).events.len(), 1);
        },
        when: |_| confirm_c1(),
        then: Code::HoldExpired,
    },
    Case {
        name: "cancel a hold",
        given: held,
        when: |_| {
            cash(
                POS,
                Command::Cancel {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "cancel confirmed",
        given: confirmed,
        when: |_| {
            cash(
                POS,
                Command::Cancel {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "another cashbox's purchase is invisible",
        given: registered,
        when: |_| {
            cash(
                POS2,
                Command::Confirm {
                    cheque: cheque_id("c1"),
                },
            )
        },
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "register with another card than the hold",
        given: held,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(EMPTY), "c1"),
                },
            )
        },
        then: Code::CardMismatch,
    },
    Case {
        name: "register a cheque without card",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(None, "c9"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "register with a blocked card",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(BLOCKED), "c9"),
                },
            )
        },
        then: Code::CardBlocked,
    },
    Case {
        name: "register with a prepared card accrues",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: milk(Some(PREPARED), "c9"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "empty cheque",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: World::cheque(Some(GOLD), "c9", &[]),
                },
            )
        },
        then: Code::EmptyCheque,
    },
    Case {
        name: "too many lines",
        given: nothing,
        when: |w| {
            cash(
                POS,
                Command::RegisterPurchase {
                    cheque: World::cheque(
                        Some(GOLD),
                        "c9",
                        &vec![("milk", "1", "1"); w.program.lines_per_cheque_max + 1],
                    ),
                },
            )
        },
        then: Code::TooManyLines,
    },
    Case {
        name: "a replaced card is refused",
        given: |w| w.admin_ok(replace(GOLD, NEW_CARD).1),
        when: |_| pay(POS, Some(GOLD), "1"),
        then: Code::CardReplaced,
    },
    Case {
        name: "a blocked account blocks all its cards",
        given: |w| {
            w.admin_ok(replace(GOLD, NEW_CARD).1);
            w.admin_ok(Command::SetAccountBlocked {
                card: card(NEW_CARD),
                blocked: true,
            });
        },
        when: |_| pay(POS, Some(NEW_CARD), "1"),
        then: Code::AccountBlocked,
    },
    Case {
        name: "tenders that do not add up to what is left to pay",
        given: nothing,
        when: |_| {
            let mut c = World::cheque(Some(GOLD), "t1", &[("bread", "1", "100")]);
            c.tenders = vec![
                tender(TenderKind::BankCard, "60"),
                tender(TenderKind::Cash, "30"),
            ];
            cash(KIOSK, Command::RegisterPurchase { cheque: c })
        },
        then: Code::AmountInvalid,
    },
    Case {
        name: "tenders that do not add up, paying with points",
        given: nothing,
        when: |_| {
            // 100.00 less 10 points leaves 90.00; the tenders say 100.00.
            let mut c = World::cheque(Some(GOLD), "t2", &[("bread", "1", "100")]);
            c.tenders = vec![tender(TenderKind::BankCard, "100")];
            cash(
                KIOSK,
                Command::PayWithBonus {
                    cheque: c,
                    points: pts("10"),
                },
            )
        },
        then: Code::AmountInvalid,
    },
    Case {
        name: "tenders that add up, paying with points",
        given: nothing,
        when: |_| {
            let mut c = World::cheque(Some(GOLD), "t3", &[("bread", "1", "100")]);
            c.tenders = vec![tender(TenderKind::BankCard, "90")];
            cash(
                KIOSK,
                Command::PayWithBonus {
                    cheque: c,
                    points: pts("10"),
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "a zero tender",
        given: nothing,
        when: |_| {
            let mut c = World::cheque(Some(GOLD), "t4", &[("bread", "1", "100")]);
            c.tenders = vec![
                tender(TenderKind::BankCard, "100"),
                tender(TenderKind::Cash, "0"),
            ];
            cash(KIOSK, Command::RegisterPurchase { cheque: c })
        },
        then: Code::AmountInvalid,
    },
];

#[test]
fn rule_table() {
    for case in CASES {
        check(case);
    }
}

#[test]
fn same_operation_id_with_other_content_conflicts_and_same_content_replays() {
    let mut w = World::new();
    let req = Request {
        op: OpId(1 << 102),
        actor: Actor::Cashbox(POS),
        command: Command::PayWithBonus {
            cheque: milk(Some(GOLD), "c1"),
            points: pts("10"),
        },
    };
    let first = w.run_req(&req);
    assert!(first.reply.is_ok());
    let again = w.run_req(&req);
    assert!(again.replayed && again.events.is_empty());
    assert_eq!(again.reply, first.reply);
    let other = Request {
        command: Command::PayWithBonus {
            cheque: milk(Some(GOLD), "c1"),
            points: pts("11"),
        },
        ..req.clone()
    };
    let before = w.state.projection.clone();
    let conflict = w.run_req(&other);
    assert_eq!(conflict.reply.code, Code::OperationConflict);
    assert!(!conflict.replayed, "a conflict is not the stored answer");
    assert_eq!(w.state.projection, before);
    // A refusal is recorded too: replaying it gives the same refusal even if the state changed.
    let refused = Request {
        op: OpId(1 << 103),
        actor: Actor::Cashbox(POS),
        command: Command::Confirm {
            cheque: cheque_id("c1"),
        },
    };
    assert_eq!(w.run_req(&refused).reply.code, Code::PurchaseWrongState);
    assert!(w
        .cash(
            POS,
            Command::RegisterPurchase {
                cheque: milk(Some(GOLD), "c1")
            }
        )
        .is_ok());
    assert_eq!(w.run_req(&refused).reply.code, Code::PurchaseWrongState);
}

#[test]
fn purchase_with_points_from_calculation_to_refund() {
    let mut w = World::new();
    // Given GOLD has 100 points and milk (dairy) is 10% off with 5% accrual.
    let cheque = World::cheque(
        Some(GOLD),
        "c1",
        &[("milk", "2", "50"), ("bread", "1", "20")],
    );
    let calc = calculate(&w.state, &w.program, POS, &cheque, w.now);
    assert!(calc.is_ok());
    let t = calc.totals.unwrap();
    assert_eq!((t.amount, t.discount), (Money(12000), Money(1000)));
    assert_eq!(t.redeem_max, pts("55")); // 50% of (90 + 20)
    assert_eq!(t.accrual, pts("5.5")); // 5% of 110
    assert_eq!(calc.balance.unwrap().balance, pts("100"));
    assert_eq!(calc.holder.as_ref().unwrap().masked_card, "*********0017");
    // When the customer pays 11 points, then they are held.
    let hold = w.cash(
        POS,
        Command::PayWithBonus {
            cheque: cheque.clone(),
            points: pts("11"),
        },
    );
    assert!(hold.is_ok(), "{}", hold.message);
    assert_eq!(
        hold.balance.unwrap(),
        BalanceInfo {
            balance: pts("100"),
            held: pts("11"),
            spendable: pts("89"),
            debt: Points::ZERO,
            pending: Points::ZERO,
            next_expiry: hold.balance.unwrap().next_expiry,
        }
    );
    // Paid points are split in proportion to the caps 45 : 10.
    assert_eq!(
        hold.lines.iter().map(|l| l.paid).collect::<Vec<_>>(),
        vec![pts("9"), pts("2")]
    );
    let reg = w.cash(POS, Command::RegisterPurchase { cheque });
    assert_eq!(reg.totals.unwrap().accrual, pts("4.95")); // 5% of (81 + 18) = 4.95
    let conf = w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id("c1"),
        },
    );
    assert_eq!(
        conf.balance.unwrap(),
        BalanceInfo {
            balance: pts("93.95"),
            held: Points::ZERO,
            spendable: pts("93.95"),
            debt: Points::ZERO,
            pending: Points::ZERO,
            next_expiry: conf.balance.unwrap().next_expiry,
        }
    );
    // Refund one of the two milks: half of that line's paid points back, half its accrual taken.
    let r = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("r1"),
            purchase: cheque_id("c1"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty(1000),
            }],
            sold_at: None,
        },
    );
    let s = r.refund.unwrap();
    assert_eq!(
        (s.money_returned, s.points_returned, s.accrual_reversed),
        (Money(4500), pts("4.5"), pts("2.03"))
    );
    // The till pays out what the customer paid in money for the milk: 45.00 less the 4.50
    // that come back as points.
    assert_eq!(s.money_to_pay_out(), Money(4050));
    assert_eq!(w.balance(GOLD), pts("96.42"));
    // The rest of the cheque: totals end exactly at the purchase.
    let r2 = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("r2"),
            purchase: cheque_id("c1"),
            lines: vec![
                RefundLine {
                    index: 0,
                    qty: Qty(1000),
                },
                RefundLine {
                    index: 1,
                    qty: Qty(1000),
                },
            ],
            sold_at: None,
        },
    );
    assert!(r2.is_ok());
    let p = w
        .state
        .purchase(&PurchaseKey {
            cashbox: POS,
            cheque: cheque_id("c1"),
        })
        .unwrap();
    assert_eq!(
        (p.refunded_money, p.points_returned, p.accrual_reversed),
        (Money(11000), pts("11"), pts("4.95"))
    );
    assert_eq!(w.balance(GOLD), pts("100"));
}

#[test]
fn offers_follow_the_cashbox_local_time_and_minimal_prices() {
    let w = World::new();
    let at = |h: u32, lines: &[(&str, &str, &str)]| {
        let mut c = World::cheque(Some(GOLD), "c", lines);
        c.local_time = local(h);
        calculate(&w.state, &w.program, POS, &c, w.now)
    };
    // Wine earns 20% in the evening, 5% at noon; its minimal price caps points at 10.
    assert_eq!(
        at(19, &[("wine", "1", "100")]).totals.unwrap().accrual,
        pts("20")
    );
    let noon = at(12, &[("wine", "1", "100")]).totals.unwrap();
    assert_eq!((noon.accrual, noon.redeem_max), (pts("5"), pts("10")));
    // After hours nothing applies; promotional lines get no discount.
    let late = at(23, &[("milk", "1", "100")]).totals.unwrap();
    assert_eq!((late.discount, late.accrual), (Money::ZERO, Points::ZERO));
    assert_eq!(
        at(12, &[("promo", "1", "100")]).totals.unwrap().discount,
        Money::ZERO
    );
    // Products are found by barcode too.
    assert_eq!(
        at(12, &[("46milk", "1", "100")]).totals.unwrap().discount,
        Money(1000)
    );
    // Without a card: discounts, no accrual, nothing redeemable, no balance.
    let mut anon = World::cheque(None, "c", &[("milk", "1", "100")]);
    anon.local_time = local(12);
    let r = calculate(&w.state, &w.program, POS, &anon, w.now);
    let t = r.totals.unwrap();
    assert_eq!(
        (t.discount, t.accrual, t.redeem_max),
        (Money(1000), Points::ZERO, Points::ZERO)
    );
    assert!(r.balance.is_none());
    // Blocked card: refused, nothing calculated.
    let blocked = calculate(
        &w.state,
        &w.program,
        POS,
        &World::cheque(Some(BLOCKED), "c", &[("milk", "1", "1")]),
        w.now,
    );
    assert_eq!(
        (blocked.code, blocked.message.as_str(), blocked.totals),
        (Code::CardBlocked, "card is blocked: *********0048", None)
    );
    // Issued card: accrues, may not redeem.
    let issued = calculate(
        &w.state,
        &w.program,
        POS,
        &World::cheque(Some(ISSUED), "c", &[("bread", "1", "100")]),
        w.now,
    );
    assert_eq!(issued.totals.unwrap().redeem_max, Points::ZERO);
}

#[test]
fn queries_answer_without_changing_anything() {
    let mut w = World::new();
    let req = Request {
        op: OpId(1 << 100),
        actor: Actor::Cashbox(POS),
        command: Command::RegisterPurchase {
            cheque: milk(Some(GOLD), "q"),
        },
    };
    let original = w.run_req(&req).reply;
    let before = w.state.projection.clone();
    assert_eq!(
        operation_status(&w.state, Actor::Cashbox(POS), OpId(1 << 100))
            .unwrap()
            .reply,
        original
    );
    assert!(operation_status(&w.state, Actor::Cashbox(POS2), OpId(1 << 100)).is_none());
    assert!(operation_status(&w.state, Actor::Cashbox(POS), OpId(1 << 101)).is_none());
    assert_eq!(
        balance(&w.state, POS, Some(&card(GOLD)), &[], w.now, None)
            .balance
            .unwrap()
            .balance,
        pts("100")
    );
    assert_eq!(
        balance(&w.state, POS, Some(&card(BLOCKED)), &[], w.now, None).code,
        Code::CardBlocked
    );
    assert_eq!(
        balance(&w.state, DISABLED, Some(&card(GOLD)), &[], w.now, None).code,
        Code::CashboxDisabled
    );
    assert_eq!(w.state.projection, before);
}

#[test]
fn mixed_tender_at_a_kiosk_is_recorded_with_the_purchase() {
    let mut w = World::new();
    // 100.00 of bread: 30 points held, the rest by two bank cards and a fast-payment QR.
    let mut c = World::cheque(Some(GOLD), "k1", &[("bread", "1", "100")]);
    let paid = w.run(
        Actor::Cashbox(KIOSK),
        Command::PayWithBonus {
            cheque: c.clone(),
            points: pts("30"),
        },
    );
    assert!(paid.reply.is_ok(), "{}", paid.reply.message);
    c.tenders = vec![
        tender(TenderKind::BankCard, "40"),
        tender(TenderKind::BankCard, "20"),
        tender(TenderKind::FastPayment, "10"),
    ];
    let registered = w.cash(KIOSK, Command::RegisterPurchase { cheque: c.clone() });
    assert!(registered.is_ok(), "{}", registered.message);
    let key = PurchaseKey {
        cashbox: KIOSK,
        cheque: cheque_id("k1"),
    };
    assert_eq!(w.state.purchase(&key).unwrap().tenders, c.tenders);
    assert!(w
        .cash(
            KIOSK,
            Command::Confirm {
                cheque: cheque_id("k1")
            }
        )
        .is_ok());
}

/// A till that could not confirm in time (crash, network, fiscal receipt already printed)
/// confirms late: the points are taken again when they are there; what is not becomes the
/// customer's debt, told to the cashier and paid back from the next points.
#[test]
fn a_late_confirm_takes_the_points_again_or_records_the_shortfall_as_debt() {
    for spent_meanwhile in [false, true] {
        let mut w = World::new();
        registered(&mut w); // GOLD: 10 of 100 points held on c1 (milk, 100.00)
        w.now = w.now.plus_secs(w.program.hold_lifetime_secs);
        assert_eq!(w.run(Actor::System, Command::ExpireHolds).events.len(), 1);
        assert_eq!(w.account(GOLD).held, Points::ZERO);
        if spent_meanwhile {
            w.admin_ok(Command::AdjustPoints {
                card: card(GOLD),
                delta: Points(-9700),
                reason: "spent elsewhere".into(),
            });
        }
        let out = w.run(Actor::Cashbox(POS), confirm_c1().1);
        assert!(out.reply.is_ok(), "{:?}", out.reply);
        let accrual = out.reply.totals.as_ref().unwrap().accrual;
        let a = w.account(GOLD);
        if spent_meanwhile {
            // 3 of the 10 points were there: 7 owed; the accrual of 4 pays 4 back.
            assert_eq!(accrual, pts("4"));
            assert_eq!((a.balance, a.debt), (Points::ZERO, pts("3")));
            assert_eq!(out.reply.balance.as_ref().unwrap().debt, pts("3"));
            assert!(out.reply.messages.iter().any(|m| m.text.contains("7.00")));
            let kinds: Vec<&str> = out.events.iter().map(|e| e.name()).collect();
            assert_eq!(
                kinds,
                ["PurchaseConfirmed", "DebtIncurred", "DebtRecovered"]
            );
            // The next purchase's accrual pays back the rest before it can be spent.
            w.buy(GOLD, "next", &[("bread", "1", "200")]);
            let a = w.account(GOLD);
            assert_eq!((a.balance, a.debt), (pts("7"), Points::ZERO));
        } else {
            assert_eq!((a.balance, a.debt), (pts("94"), Points::ZERO));
            assert_eq!(out.events.len(), 1);
        }
        // No longer pending or expired: neither index lists it.
        assert!(w.state.pending_due(w.now.plus_secs(86_400), 10).is_empty());
        assert!(w.state.expired_between(T0, w.now, 10).is_empty());
    }
}

/// "Register now and get 50 points": a cheque without a card says what a member would earn
/// on it, and nothing is credited anywhere.
#[test]
fn a_cheque_without_a_card_says_what_a_card_would_earn_and_credits_nothing() {
    let mut w = World::new();
    let anon = World::cheque(None, "anon", &[("bread", "1", "1000")]);
    let t = calculate(&w.state, &w.program, POS, &anon, w.now)
        .totals
        .unwrap();
    assert_eq!((t.accrual, t.potential_accrual), (Points::ZERO, pts("50")));
    let before = w.state.projection.accounts.clone();
    let reg = w.cash(POS, Command::RegisterPurchase { cheque: anon });
    assert_eq!(reg.totals.unwrap().potential_accrual, pts("50"));
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("anon")
            }
        )
        .is_ok());
    let sold = w
        .state
        .purchase(&PurchaseKey {
            cashbox: POS,
            cheque: cheque_id("anon"),
        })
        .unwrap();
    assert_eq!(sold.accrual, Points::ZERO);
    assert_eq!(w.state.projection.accounts, before);
    // With a card it is the accrual itself, and there is no prompt.
    let member = World::cheque(Some(EMPTY), "m", &[("bread", "1", "1000")]);
    let t = calculate(&w.state, &w.program, POS, &member, w.now)
        .totals
        .unwrap();
    assert_eq!((t.accrual, t.potential_accrual), (pts("50"), Points::ZERO));
}
