//! Customer service at the till: card issue, registration, replacement and favourite goods.

use super::*;

const CASES: &[Case] = &[
    Case {
        name: "card issued twice",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::IssueCard {
                    number: card(GOLD),
                    card_type: "Gold".into(),
                    status: CardStatus::Issued,
                    account: None,
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )
        },
        then: Code::CardExists,
    },
    Case {
        name: "card issued to an unknown account",
        given: nothing,
        when: |_| {
            (
                operator(),
                Command::IssueCard {
                    number: card("99"),
                    card_type: "Gold".into(),
                    status: CardStatus::Issued,
                    account: Some(AccountId(999)),
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )
        },
        then: Code::AccountUnknown,
    },
    Case {
        name: "a replaced card cannot be replaced again",
        given: |w| w.admin_ok(replace(GOLD, NEW_CARD).1),
        when: |_| replace(GOLD, "2770000000901"),
        then: Code::CardReplaced,
    },
    Case {
        name: "replacing with a card that already exists",
        given: nothing,
        when: |_| cash(POS, replace(GOLD, EMPTY).1),
        then: Code::CardExists,
    },
    Case {
        name: "replacing an unknown card",
        given: nothing,
        when: |_| cash(POS, replace("99", NEW_CARD).1),
        then: Code::CardUnknown,
    },
    Case {
        name: "replacing at a disabled cashbox",
        given: nothing,
        when: |_| cash(DISABLED, replace(GOLD, NEW_CARD).1),
        then: Code::CashboxDisabled,
    },
    Case {
        name: "registering the customer of an activated card",
        given: nothing,
        when: |_| cash(POS, register_customer(GOLD)),
        then: Code::CardStatusInvalid,
    },
    Case {
        name: "registering the customer of a blocked card",
        given: nothing,
        when: |_| cash(POS, register_customer(BLOCKED)),
        then: Code::CardBlocked,
    },
    Case {
        name: "registering the customer of an unknown card",
        given: nothing,
        when: |_| cash(POS, register_customer("99")),
        then: Code::CardUnknown,
    },
    Case {
        name: "a till issues new cards only as Issued",
        given: nothing,
        when: |_| {
            cash(
                POS,
                Command::IssueCard {
                    number: card(NEW_CARD),
                    card_type: "Gold".into(),
                    status: CardStatus::Activated,
                    account: None,
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )
        },
        then: Code::Forbidden,
    },
    Case {
        name: "a phone registered to another customer",
        given: phone_registered,
        when: |_| cash(POS, register_customer(PREPARED)),
        then: Code::PhoneExists,
    },
    Case {
        name: "an unknown product chosen as a favourite",
        given: nothing,
        when: |_| cash(POS, favourites(GOLD, &["milk", "caviar"])),
        then: Code::ProductInvalid,
    },
    Case {
        name: "favourites of a blocked card",
        given: nothing,
        when: |_| cash(POS, favourites(BLOCKED, &["milk"])),
        then: Code::CardBlocked,
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
fn a_customer_at_the_till_from_new_card_to_replacement() {
    let mut w = World::new();
    // A card sold at the till: Issued, a new account; it accrues but may not redeem.
    let issued = w.cash(
        POS,
        Command::IssueCard {
            number: card(NEW_CARD),
            card_type: "Silver".into(),
            status: CardStatus::Issued,
            account: None,
            holder_name: String::new(),
            holder_phone: String::new(),
        },
    );
    assert!(issued.is_ok(), "{}", issued.message);
    w.buy(NEW_CARD, "first", &[("bread", "1", "1000")]);
    assert_eq!(w.balance(NEW_CARD), Points::parse("50").unwrap());
    let (a, c) = pay(POS, Some(NEW_CARD), "1");
    assert_eq!(w.run(a, c).reply.code, Code::CardNotActivated);
    // Registration activates it and records the profile.
    let r = w.cash(POS, register_customer(NEW_CARD));
    assert!(r.is_ok(), "{}", r.message);
    assert_eq!(r.holder.as_ref().unwrap().name, "Ivan");
    let account = w.state.card(&card(NEW_CARD)).unwrap().account;
    let a = w.state.account(account).unwrap();
    assert_eq!(
        (a.name.as_str(), a.phone.as_str(), a.consent),
        ("Ivan", "+79990001122", true)
    );
    // A hold started with the card is carried over when the card is replaced mid-purchase.
    let (a, c) = pay(POS, Some(NEW_CARD), "10");
    assert!(w.run(a, c).reply.is_ok());
    let before = w.state.account(account).unwrap();
    let replaced = w.cash(POS, replace(NEW_CARD, "2770000000917").1);
    assert!(replaced.is_ok(), "{}", replaced.message);
    assert_eq!(replaced.holder.unwrap().masked_card, "*********0917");
    let after = w.state.account(account).unwrap();
    assert_eq!((after.balance, after.held), (before.balance, before.held));
    let new = w.state.card(&card("2770000000917")).unwrap();
    assert_eq!((new.account, new.status), (account, CardStatus::Activated));
    // The held purchase registers with the new card (same account) and confirms.
    let reg = w.cash(
        POS,
        Command::RegisterPurchase {
            cheque: World::cheque(Some("2770000000917"), "c1", &[("milk", "1", "50")]),
        },
    );
    assert!(reg.is_ok(), "{}", reg.message);
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
    assert_eq!(w.state.account(account).unwrap().held, Points::ZERO);
    // The old card is refused everywhere, naming its successor.
    let old = balance(&w.state, POS, Some(&card(NEW_CARD)), &[], w.now, None);
    assert_eq!(old.code, Code::CardReplaced);
    assert!(old.message.contains("*********0917"), "{}", old.message);
}

#[test]
fn offers_on_favourite_goods_boost_only_the_customers_own_favourites() {
    let mut w = World::new();
    w.admin_ok(Command::UpsertOffer {
        offer: Offer {
            priority: 10,
            exclusive: true,
            ..Offer::new(
                OfferId(30),
                OfferEffect::Accrual(Rate::Percent(Percent::parse("10").unwrap())),
                OfferScope::Favourites,
                local(0),
                local(23),
            )
        },
    });
    // Chosen by barcode, kept as the product code; shown with the holder.
    let chosen = w.cash(POS, favourites(GOLD, &["46milk"]));
    assert!(chosen.is_ok(), "{}", chosen.message);
    let shown = chosen.holder.unwrap().favourites;
    assert_eq!(shown, vec![ProductCode::new("milk").unwrap()]);
    let accrual = |w: &World, card_no: &str, product: &str| {
        let c = World::cheque(Some(card_no), "f1", &[(product, "1", "100")]);
        calculate(&w.state, &w.program, POS, &c, w.now)
            .totals
            .unwrap()
            .accrual
    };
    // Milk is 10% off (dairy): 90.00 paid in money; 10% for GOLD, whose favourite it is,
    // 5% for a customer without favourites; bread is no favourite of GOLD: 5%.
    assert_eq!(accrual(&w, GOLD, "milk"), pts("9"));
    assert_eq!(accrual(&w, EMPTY, "milk"), pts("4.5"));
    assert_eq!(accrual(&w, GOLD, "bread"), pts("5"));
    // Choosing again replaces; the same choice again changes nothing.
    assert!(w.cash(POS, favourites(GOLD, &["bread"])).is_ok());
    assert_eq!(accrual(&w, GOLD, "milk"), pts("4.5"));
    let again = w.run(Actor::Cashbox(POS), favourites(GOLD, &["bread"]));
    assert!(again.reply.is_ok() && again.events.is_empty());
}
