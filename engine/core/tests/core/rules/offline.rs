//! Offline cheques uploaded later: accrual only, at the offers of their own time.

use super::*;

const CASES: &[Case] = &[
    Case {
        name: "offline cheque accrues",
        given: nothing,
        when: |_| offline(Some(GOLD), "o1", "0", "0"),
        then: Code::Ok,
    },
    Case {
        name: "offline cheque without a card",
        given: nothing,
        when: |_| offline(None, "o1", "0", "0"),
        then: Code::Ok,
    },
    Case {
        name: "offline cheque paid with points",
        given: nothing,
        when: |_| offline(Some(GOLD), "o1", "1", "0"),
        then: Code::OfflineRedemptionRefused,
    },
    Case {
        name: "offline cheque with a discount granted offline",
        given: nothing,
        when: |_| offline(Some(GOLD), "o1", "0", "0.01"),
        then: Code::OfflineDiscountRefused,
    },
    Case {
        name: "offline cheque with a blocked card",
        given: nothing,
        when: |_| offline(Some(BLOCKED), "o1", "0", "0"),
        then: Code::CardBlocked,
    },
    Case {
        name: "offline cheque number already used",
        given: confirmed,
        when: |_| offline(Some(GOLD), "c1", "0", "0"),
        then: Code::PurchaseWrongState,
    },
    Case {
        name: "offline cheque from a kiosk",
        given: nothing,
        when: |_| {
            (
                Actor::Cashbox(KIOSK),
                Command::ImportOfflinePurchase {
                    cheque: milk(Some(GOLD), "o1"),
                    points_paid: Points::ZERO,
                    local_discount: Money::ZERO,
                },
            )
        },
        then: Code::Ok,
    },
    Case {
        name: "offline tenders that do not add up to the cheque",
        given: nothing,
        when: |_| {
            let mut c = World::cheque(Some(GOLD), "t2", &[("bread", "1", "100")]);
            c.tenders = vec![tender(TenderKind::Cash, "99.99")];
            cash(
                POS,
                Command::ImportOfflinePurchase {
                    cheque: c,
                    points_paid: Points::ZERO,
                    local_discount: Money::ZERO,
                },
            )
        },
        then: Code::AmountInvalid,
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
fn offline_cheques_use_the_offers_valid_when_they_were_bought() {
    let mut w = World::new();
    // An offer that ran only on 22 November and has ended since.
    let day = |d: u32, h: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 11, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    };
    w.admin_ok(Command::UpsertOffer {
        // Replaces the base rate while it runs.
        offer: Offer {
            priority: 10,
            exclusive: true,
            ..Offer::new(
                OfferId(50),
                OfferEffect::Accrual(Rate::Percent(Percent::parse("30").unwrap())),
                OfferScope::Cheque,
                day(22, 0),
                day(23, 0),
            )
        },
    });
    let import =
        |w: &mut World, id: &str, at: chrono::NaiveDateTime, lines: &[(&str, &str, &str)]| {
            let mut cheque = World::cheque(Some(EMPTY), id, lines);
            cheque.local_time = at;
            w.cash(
                POS,
                Command::ImportOfflinePurchase {
                    cheque,
                    points_paid: Points::ZERO,
                    local_discount: Money::ZERO,
                },
            )
        };
    // Bought yesterday while the offer ran: 30%, although it has ended by the upload.
    let r = import(&mut w, "o1", day(22, 15), &[("bread", "1", "100")]);
    assert_eq!(r.totals.unwrap().accrual, pts("30"));
    // Bought today: the ended offer does not apply, the all-day 5% does.
    let r = import(&mut w, "o2", day(23, 12), &[("bread", "1", "100")]);
    assert_eq!(r.totals.unwrap().accrual, pts("5"));
    // The evening wine offer applies to a cheque rung up in the evening, not at noon.
    assert_eq!(
        import(&mut w, "o3", day(23, 19), &[("wine", "1", "100")])
            .totals
            .unwrap()
            .accrual,
        pts("20")
    );
    // Offers that started after the purchase do not apply (nothing ran on 21 November).
    assert_eq!(
        import(&mut w, "o4", day(21, 12), &[("bread", "1", "100")])
            .totals
            .unwrap()
            .accrual,
        Points::ZERO
    );
    // No discount for offline cheques: the customer paid in full at the till.
    let r = import(&mut w, "o5", day(23, 12), &[("milk", "1", "100")]);
    assert_eq!(
        (r.totals.unwrap().discount, r.totals.unwrap().accrual),
        (Money::ZERO, pts("5"))
    );
    assert_eq!(w.balance(EMPTY), pts("60"));
    // Imported purchases are confirmed: they can be refunded like any other.
    let refund = w.cash(
        POS,
        Command::Refund {
            refund: cheque_id("ro1"),
            purchase: cheque_id("o1"),
            lines: vec![RefundLine {
                index: 0,
                qty: Qty(1000),
            }],
            sold_at: None,
        },
    );
    assert_eq!(refund.refund.unwrap().accrual_reversed, pts("30"));
    assert_eq!(w.balance(EMPTY), pts("30"));
}
