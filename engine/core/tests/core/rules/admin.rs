//! Administration and the engine's own sweep: cashboxes, keys, manual adjustments, expiry.

use super::*;
use loyalty_core::event::Event;

/// Support confirms (or cancels) POS's cheque `id`.
fn resolve(id: &str, confirm: bool) -> (Actor, Command) {
    (
        operator(),
        Command::ResolvePurchase {
            purchase: PurchaseKey {
                cashbox: POS,
                cheque: cheque_id(id),
            },
            confirm,
            reason: "till crashed after the receipt was printed".into(),
        },
    )
}

const CASES: &[Case] = &[
    Case {
        name: "support confirms a registered purchase",
        given: registered,
        when: |_| resolve("c1", true),
        then: Code::Ok,
    },
    Case {
        name: "support cancels a hold",
        given: held,
        when: |_| resolve("c1", false),
        then: Code::Ok,
    },
    Case {
        name: "support cannot confirm a hold without its cheque",
        given: held,
        when: |_| resolve("c1", true),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "support resolves only a known purchase",
        given: nothing,
        when: |_| resolve("c1", false),
        then: Code::PurchaseUnknown,
    },
    Case {
        name: "support cannot resolve a confirmed purchase",
        given: confirmed,
        when: |_| resolve("c1", false),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "a cashbox may not resolve purchases",
        given: registered,
        when: |_| {
            let (_, c) = resolve("c1", true);
            cash(POS, c)
        },
        then: Code::Forbidden,
    },
    Case {
        name: "cashbox may not administer",
        given: nothing,
        when: |_| cash(POS, Command::BlockCard { number: card(GOLD) }),
        then: Code::Forbidden,
    },
    Case {
        name: "cashbox registered twice",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::RegisterCashbox {
                    id: POS,
                    store: StoreId(1),
                    kind: CashboxKind::Pos,
                    secret_sha256: [0; 32],
                    public_key: None,
                    login: None,
                },
            )
        },
        then: Code::CashboxExists,
    },
    Case {
        name: "a Loymax login is one cashbox's",
        given: |w| {
            w.admin_ok(Command::RegisterCashbox {
                id: CashboxId(40),
                store: StoreId(1),
                kind: CashboxKind::Pos,
                secret_sha256: [0; 32],
                public_key: None,
                login: Some("till-40".into()),
            })
        },
        when: |_| {
            (
                operator(),
                Command::RegisterCashbox {
                    id: CashboxId(41),
                    store: StoreId(1),
                    kind: CashboxKind::Pos,
                    secret_sha256: [0; 32],
                    public_key: None,
                    login: Some("till-40".into()),
                },
            )
        },
        then: Code::CashboxExists,
    },
    Case {
        name: "blocked card cannot be activated",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::ActivateCard {
                    number: card(BLOCKED),
                },
            )
        },
        then: Code::CardBlocked,
    },
    Case {
        name: "offer that ends before it starts",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::UpsertOffer {
                    offer: Offer::new(
                        OfferId(9),
                        OfferEffect::Discount(Rate::Percent(Percent::parse("1").unwrap())),
                        OfferScope::Cheque,
                        local(10),
                        local(10),
                    ),
                },
            )
        },
        then: Code::OfferInvalid,
    },
    Case {
        name: "manual credit",
        given: nothing,
        when: |_| adjust(GOLD, "25.50"),
        then: Code::Ok,
    },
    Case {
        name: "manual debit of everything spendable",
        given: nothing,
        when: |_| adjust(GOLD, "-100"),
        then: Code::Ok,
    },
    Case {
        name: "manual debit of held points",
        given: held,
        when: |_| adjust(GOLD, "-95"),
        then: Code::InsufficientPoints,
    },
    Case {
        name: "manual debit below zero",
        given: nothing,
        when: |_| adjust(EMPTY, "-0.01"),
        then: Code::InsufficientPoints,
    },
    Case {
        name: "manual adjustment of zero",
        given: nothing,
        when: |_| adjust(GOLD, "0"),
        then: Code::AmountInvalid,
    },
    Case {
        name: "manual adjustment beyond the largest balance",
        given: |w| w.admin_ok(adjust(GOLD, "99999999899.99").1),
        when: |_| adjust(GOLD, "1"),
        then: Code::AmountInvalid,
    },
    Case {
        name: "manual adjustment of an unknown card",
        given: nothing,
        when: |_| adjust("99", "1"),
        then: Code::CardUnknown,
    },
    Case {
        name: "a cashbox cannot adjust points",
        given: nothing,
        when: |_| cash(POS, adjust(GOLD, "1").1),
        then: Code::Forbidden,
    },
    Case {
        name: "signing key of an unknown cashbox",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::SetCashboxKey {
                    id: CashboxId(99),
                    public_key: Some([1; 32]),
                },
            )
        },
        then: Code::CashboxUnknown,
    },
    Case {
        name: "a cashbox cannot set signing keys",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::SetCashboxKey {
                    id: POS,
                    public_key: None,
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "a till cannot block accounts",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::SetAccountBlocked {
                    card: card(GOLD),
                    blocked: true,
                },
            )
        },
        then: Code::Forbidden,
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
fn expiry_releases_holds_and_lists_nothing_after() {
    let mut w = World::new();
    held(&mut w);
    assert_eq!(w.account(GOLD).held, pts("10"));
    w.now = w.now.plus_secs(w.program.hold_lifetime_secs - 1);
    assert!(w.run(Actor::System, Command::ExpireHolds).events.is_empty());
    w.now = w.now.plus_secs(1);
    assert_eq!(w.state.pending_due(w.now, 10).len(), 1);
    let out = w.run(Actor::System, Command::ExpireHolds);
    assert_eq!(out.events.len(), 1);
    assert_eq!(w.account(GOLD).held, Points::ZERO);
    assert!(w.state.pending_due(w.now, 10).is_empty());
    // Expired purchases stay listable.
    let expired = w.state.expired_between(T0, w.now, 10);
    assert_eq!(
        expired,
        vec![PurchaseKey {
            cashbox: POS,
            cheque: cheque_id("c1")
        }]
    );
    assert!(w
        .state
        .expired_between(UnixMillis(w.now.0 + 1), UnixMillis(i64::MAX), 10)
        .is_empty());
    assert_eq!(w.cash(POS, Command::ExpireHolds).code, Code::Forbidden);
}

#[test]
fn manual_adjustments_move_the_balance_and_name_the_operator() {
    let mut w = World::new();
    let r = w.run(operator(), adjust(GOLD, "-40").1);
    assert!(r.reply.is_ok(), "{}", r.reply.message);
    assert_eq!(w.balance(GOLD), Points::parse("60").unwrap());
    assert_eq!(
        r.reply.balance.unwrap().balance,
        Points::parse("60").unwrap()
    );
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].balance_delta(), -4000);
    assert_eq!(
        r.events[0].account(),
        w.state.card(&card(GOLD)).map(|c| c.account)
    );
    w.admin_ok(adjust(GOLD, "15").1);
    assert_eq!(w.balance(GOLD), Points::parse("75").unwrap());
}

#[test]
fn signing_keys_are_set_replaced_and_removed() {
    let mut w = World::new();
    let key = |w: &World| w.state.cashbox(POS).unwrap().public_key;
    assert_eq!(key(&w), None);
    let set = |k| Command::SetCashboxKey {
        id: POS,
        public_key: k,
    };
    w.admin_ok(set(Some([1; 32])));
    assert_eq!(key(&w), Some([1; 32]));
    w.admin_ok(set(Some([2; 32])));
    assert_eq!(key(&w), Some([2; 32]));
    let same = w.run(operator(), set(Some([2; 32])));
    assert!(same.reply.is_ok() && same.events.is_empty());
    w.admin_ok(set(None));
    assert_eq!(key(&w), None);
}

#[test]
fn support_resolves_a_stuck_purchase_as_its_till_would_have_and_records_why() {
    let mut w = World::new();
    registered(&mut w);
    let before = w.balance(GOLD);
    let (actor, command) = resolve("c1", true);
    let out = w.run(actor, command);
    assert!(out.reply.is_ok(), "{}", out.reply.message);
    // The record of who and why, then the confirmation itself: points paid and accrued
    // move exactly as a till's confirm moves them.
    assert!(matches!(
        &out.events[..],
        [
            Event::PurchaseResolved { confirmed: true, reason, .. },
            Event::PurchaseConfirmed { .. }
        ] if reason == "till crashed after the receipt was printed"
    ));
    let Event::PurchaseConfirmed {
        points_debited,
        points_credited,
        ..
    } = out.events[1]
    else {
        unreachable!()
    };
    assert_eq!(
        w.balance(GOLD),
        before.minus(points_debited).plus(points_credited)
    );
    // Resolved once: the till's own late confirm finds nothing pending.
    let late = w.cash(
        POS,
        Command::Confirm {
            cheque: cheque_id("c1"),
        },
    );
    assert_eq!(late.code, Code::PurchaseWrongState);
}
