//! Identification: every identifier kind, the identifier policy, card ranges, PINs and dynamic QR codes.

use super::*;

/// A second, activated card for the account whose phone is registered.
const SECOND_CARD: &str = "2770000000993";

fn second_card(w: &mut World) {
    let account = w.account(ISSUED).id;
    w.admin_ok(Command::IssueCard {
        number: card(SECOND_CARD),
        card_type: "Silver".into(),
        status: CardStatus::Activated,
        account: Some(account),
        holder_name: String::new(),
        holder_phone: String::new(),
    });
}

fn block(w: &mut World, card_no: &str) {
    w.admin_ok(Command::BlockCard {
        number: card(card_no),
    });
}

const CASES: &[Case] = &[
    Case {
        name: "a phone whose card is blocked reaches the account's other card",
        given: |w| {
            phone_registered(w);
            second_card(w);
            block(w, ISSUED);
        },
        when: |_| register_with(vec![phone(PHONE)]),
        then: Code::Ok,
    },
    Case {
        name: "a phone whose only card is blocked",
        given: |w| {
            phone_registered(w);
            block(w, ISSUED);
        },
        when: |_| register_with(vec![phone(PHONE)]),
        then: Code::CardBlocked,
    },
    Case {
        name: "a phone of a blocked account, whichever card",
        given: |w| {
            phone_registered(w);
            second_card(w);
            block(w, ISSUED);
            w.admin_ok(Command::SetAccountBlocked {
                card: card(SECOND_CARD),
                blocked: true,
            });
        },
        when: |_| register_with(vec![phone(PHONE)]),
        then: Code::AccountBlocked,
    },
    Case {
        name: "the blocked card itself stays blocked",
        given: |w| {
            phone_registered(w);
            second_card(w);
            block(w, ISSUED);
        },
        when: |_| pay_with(vec![stripe(ISSUED)], "1"),
        then: Code::CardBlocked,
    },
    Case {
        name: "a phone may accrue but not redeem",
        given: phone_registered,
        when: |_| pay_with(vec![phone(PHONE)], "1"),
        then: Code::RedeemNotAllowed,
    },
    Case {
        name: "an unregistered phone",
        given: nothing,
        when: |_| register_with(vec![phone(PHONE)]),
        then: Code::PhoneUnknown,
    },
    Case {
        name: "a magnetic stripe of a blocked card",
        given: nothing,
        when: |_| pay_with(vec![stripe(BLOCKED)], "1"),
        then: Code::CardBlocked,
    },
    Case {
        name: "a magnetic stripe of a replaced card",
        given: |w| w.admin_ok(replace(GOLD, NEW_CARD).1),
        when: |_| pay_with(vec![stripe(GOLD)], "1"),
        then: Code::CardReplaced,
    },
    Case {
        name: "an auto value that is neither card, stripe nor phone",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("abc-1".into())]),
        then: Code::IdentifierInvalid,
    },
    Case {
        name: "auto stripe data without a card number",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("%B^NOBODY^?".into())]),
        then: Code::IdentifierInvalid,
    },
    Case {
        name: "an auto card number nobody has",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("2770000000999".into())]),
        then: Code::CardUnknown,
    },
    Case {
        name: "an auto phone nobody registered",
        given: nothing,
        when: |_| register_with(vec![Presented::Auto("+44 20 7946 0958".into())]),
        then: Code::PhoneUnknown,
    },
    Case {
        name: "a prepared card found by magnetic stripe may not redeem",
        given: nothing,
        when: |_| pay_with(vec![stripe(PREPARED)], "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "a number in a range but with a wrong check digit",
        given: stand_range,
        when: |_| register_with(vec![Presented::Auto("2770000001008".into())]),
        then: Code::CardUnknown,
    },
    Case {
        name: "a new card from a range may not redeem",
        given: stand_range,
        when: |_| pay(POS, Some(STAND_CARD), "1"),
        then: Code::CardNotActivated,
    },
    Case {
        name: "paying by a card with a PIN, without the PIN",
        given: gold_pin,
        when: |_| pay(POS, Some(GOLD), "1"),
        then: Code::PinRequired,
    },
    Case {
        name: "paying by a card with a PIN, with a wrong PIN",
        given: gold_pin,
        when: |_| {
            let (a, mut c) = pay(POS, Some(GOLD), "1");
            if let Command::PayWithBonus { cheque, .. } = &mut c {
                cheque.pin = Some(Pin::new("0000").unwrap());
            }
            (a, c)
        },
        then: Code::PinInvalid,
    },
    Case {
        name: "a QR code of a card without a QR secret",
        given: nothing,
        when: |w| pay_with(vec![qr_of(w, ISSUED, 0)], "1"),
        then: Code::QrInvalid,
    },
    Case {
        name: "a wrong QR code",
        given: gold_qr,
        when: |w| {
            let Presented::Qr { number, code } = qr_of(w, GOLD, 0) else {
                unreachable!()
            };
            pay_with(
                vec![Presented::Qr {
                    number,
                    code: (code + 1) % 1_000_000,
                }],
                "1",
            )
        },
        then: Code::QrInvalid,
    },
    Case {
        name: "an expired QR code",
        given: gold_qr,
        when: |w| pay_with(vec![qr_of(w, GOLD, 3)], "1"),
        then: Code::QrExpired,
    },
    Case {
        name: "the next window's QR code: the phone's clock a little ahead",
        given: gold_qr,
        when: |w| pay_with(vec![qr_of(w, GOLD, -1)], "1"),
        then: Code::Ok,
    },
    Case {
        name: "a QR code two windows ahead",
        given: gold_qr,
        when: |w| pay_with(vec![qr_of(w, GOLD, -2)], "1"),
        then: Code::QrInvalid,
    },
    Case {
        name: "a QR code half an hour old",
        given: gold_qr,
        when: |w| pay_with(vec![qr_of(w, GOLD, 60)], "1"),
        then: Code::QrExpired,
    },
    Case {
        name: "an unused older QR code after a newer one was used",
        given: |w| {
            gold_qr(w);
            let (a, c) = pay_with(vec![qr_of(w, GOLD, 0)], "1");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |w| {
            let mut c = with_ids(vec![qr_of(w, GOLD, 1)]);
            c.cheque = cheque_id("c9");
            cash(POS, Command::RegisterPurchase { cheque: c })
        },
        then: Code::QrExpired,
    },
    Case {
        name: "a QR code another purchase used",
        given: |w| {
            gold_qr(w);
            let (a, c) = pay_with(vec![qr_of(w, GOLD, 0)], "1");
            assert!(w.run(a, c).reply.is_ok());
        },
        when: |w| {
            let mut c = with_ids(vec![qr_of(w, GOLD, 0)]);
            c.cheque = cheque_id("c9");
            cash(POS, Command::RegisterPurchase { cheque: c })
        },
        then: Code::QrReplayed,
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
fn every_identifier_kind_finds_the_customer_and_the_policy_decides_who_may_redeem() {
    let mut w = World::new();
    phone_registered(&mut w);
    let issued_account = w.account(ISSUED).id;
    let holder_of = |w: &mut World, ids: Vec<Presented>| {
        let (_, c) = register_with(ids);
        let Command::RegisterPurchase { cheque } = c else {
            unreachable!()
        };
        calculate(&w.state, &w.program, POS, &cheque, w.now)
    };
    // A phone, in any common form, and `Auto` with it, find the registered customer's card.
    for ids in [
        vec![phone("+7 999 000 11 22")],
        vec![Presented::Auto("89990001122".into())],
    ] {
        let r = holder_of(&mut w, ids);
        assert!(r.is_ok(), "{}", r.message);
        assert_eq!(r.holder.unwrap().account, issued_account);
        // A phone may not redeem: nothing is payable with points.
        assert_eq!(r.totals.unwrap().redeem_max, Points::ZERO);
    }
    // A magnetic stripe (any track) and `Auto` with stripe data or a known number find GOLD,
    // and may redeem.
    let gold = w.account(GOLD).id;
    for ids in [
        vec![stripe(GOLD)],
        vec![Presented::Auto(format!(";{GOLD}=2712101?"))],
        vec![Presented::Auto(GOLD.into())],
    ] {
        let r = holder_of(&mut w, ids);
        assert_eq!(r.holder.as_ref().unwrap().account, gold, "{}", r.message);
        assert!(r.totals.unwrap().redeem_max > Points::ZERO);
    }
    // A card beats a phone, whatever the order.
    let r = holder_of(&mut w, vec![phone(PHONE), stripe(GOLD)]);
    assert_eq!(r.holder.unwrap().account, gold);
    // Accrual by phone lands on the registered account.
    let before = w.balance(ISSUED);
    let (a, c) = register_with(vec![phone(PHONE)]);
    assert!(w.run(a, c).reply.is_ok());
    assert!(w
        .cash(
            POS,
            Command::Confirm {
                cheque: cheque_id("c1")
            }
        )
        .is_ok());
    assert!(w.balance(ISSUED) > before);
    // Paying by magnetic stripe works where the policy allows it.
    let mut cheque = with_ids(vec![stripe(GOLD)]);
    cheque.cheque = cheque_id("c2");
    let paid = w.run(
        Actor::Cashbox(POS),
        Command::PayWithBonus {
            cheque,
            points: pts("5"),
        },
    );
    assert!(paid.reply.is_ok(), "{}", paid.reply.message);
    // After a replacement the phone identifies the new card.
    w.admin_ok(replace(ISSUED, NEW_CARD).1);
    let r = holder_of(&mut w, vec![phone(PHONE)]);
    assert_eq!(r.holder.unwrap().masked_card, "*********0900");
    // A program that lets phones redeem.
    w.admin_ok(Command::SetIdentifierPolicy {
        policy: IdentifierPolicy {
            redeem_via: vec![IdKind::Barcode, IdKind::MagStripe, IdKind::Phone],
        },
    });
    let r = holder_of(&mut w, vec![phone(PHONE)]);
    assert!(r.totals.unwrap().redeem_max > Points::ZERO);
}

#[test]
fn check_digits() {
    assert!(CheckDigit::Luhn.holds("79927398713"));
    assert!(!CheckDigit::Luhn.holds("79927398710"));
    assert!(CheckDigit::Ean13.holds("4006381333931"));
    assert!(CheckDigit::Ean13.holds(GOLD));
    assert!(!CheckDigit::Ean13.holds("4006381333932"));
    assert!(CheckDigit::None.holds("1"));
    assert!(!CheckDigit::Luhn.holds(""));
}

#[test]
fn a_card_from_a_range_is_created_by_its_first_purchase_and_registered_later() {
    let mut w = World::new();
    stand_range(&mut w);
    let opened_before = w.state.accounts_opened();
    // A preview shows a Prepared card of the range's type, with nothing payable, and
    // creates nothing.
    let preview = calculate(
        &w.state,
        &w.program,
        POS,
        &milk(Some(STAND_CARD), "s1"),
        w.now,
    );
    let holder = preview.holder.unwrap();
    assert_eq!(
        (holder.card_type.as_str(), holder.card_status),
        ("Stand", CardStatus::Prepared)
    );
    assert_eq!(preview.totals.unwrap().redeem_max, Points::ZERO);
    assert!(w.state.card(&card(STAND_CARD)).is_none());
    // The first purchase opens the account and the card, then accrues.
    w.buy(STAND_CARD, "s1", &[("bread", "1", "1000")]);
    let c = w.state.card(&card(STAND_CARD)).unwrap();
    assert_eq!(
        (c.status, c.card_type.as_str()),
        (CardStatus::Prepared, "Stand")
    );
    assert_eq!(w.state.accounts_opened(), opened_before + 1);
    assert_eq!(w.balance(STAND_CARD), Points::parse("50").unwrap());
    // Registration at the till activates it; another fresh card of the range can be
    // registered directly.
    assert!(w.cash(POS, register_customer(STAND_CARD)).is_ok());
    let fresh = "2770000001014";
    assert!(CheckDigit::Ean13.holds(fresh));
    let mut r = register_customer(fresh);
    if let Command::RegisterCustomer { phone, .. } = &mut r {
        *phone = String::new();
    }
    let registered = w.cash(POS, r);
    assert!(registered.is_ok(), "{}", registered.message);
    assert_eq!(
        w.state.card(&card(fresh)).unwrap().status,
        CardStatus::Activated
    );
    // Removing the range: unknown numbers of it are refused again; known cards stay.
    w.admin_ok(Command::SetCardRange {
        range: CardRange {
            prefix: "2770000001".into(),
            length: 13,
            check: CheckDigit::Ean13,
            card_type: String::new(),
        },
        active: false,
    });
    let (a, c) = register_with(vec![Presented::Auto("2770000001021".into())]);
    assert_eq!(w.run(a, c).reply.code, Code::CardUnknown);
    assert!(w.state.card(&card(STAND_CARD)).is_some());
}

#[test]
fn a_pin_guards_redemption_and_only_its_keyed_hash_is_kept() {
    let mut w = World::new();
    w.program.pin_key = [9; 32];
    gold_pin(&mut w);
    // Accrual needs no PIN; paying with points does.
    w.buy(GOLD, "a1", &[("bread", "1", "100")]);
    let (a, mut c) = pay(POS, Some(GOLD), "1");
    if let Command::PayWithBonus { cheque, .. } = &mut c {
        cheque.pin = Some(Pin::new("4321").unwrap());
    }
    let paid = w.run(a, c);
    assert!(paid.reply.is_ok(), "{}", paid.reply.message);
    // The log and the state hold the keyed hash, never the digits.
    let stored = w.state.card(&card(GOLD)).unwrap().pin_hash.unwrap();
    assert_eq!(
        stored,
        Pin::new("4321").unwrap().hash(&[9; 32], &card(GOLD))
    );
    assert_ne!(
        stored,
        Pin::new("4321").unwrap().hash(&[0; 32], &card(GOLD))
    );
    assert!(!format!("{:?}", w.history).contains("4321"));
    assert_eq!(format!("{:?}", Pin::new("4321").unwrap()), "Pin(****)");
    // Clearing the PIN lifts the requirement; a till clearing it gives the current one.
    let clear = |old: &str| Command::SetCardPin {
        card: card(GOLD),
        pin: None,
        old_pin: Some(Pin::new(old).unwrap()),
    };
    assert_eq!(w.cash(POS, clear("1111")).code, Code::PinInvalid);
    assert!(w.cash(POS, clear("4321")).is_ok());
    let (a, c) = pay(POS, Some(GOLD), "1");
    let mut c = c;
    if let Command::PayWithBonus { cheque, .. } = &mut c {
        cheque.cheque = cheque_id("c2");
    }
    assert!(w.run(a, c).reply.is_ok());
    assert!(
        Pin::new("123").is_err() && Pin::new("123456789").is_err() && Pin::new("12a4").is_err()
    );
}

#[test]
fn a_dynamic_qr_code_identifies_for_one_purchase_within_its_lifetime() {
    let mut w = World::new();
    gold_qr(&mut w);
    let code = qr_of(&w, GOLD, 0);
    // It redeems (the default policy allows QR), and the same purchase goes on with it.
    let (a, c) = pay_with(vec![code.clone()], "5");
    let held = w.run(a, c);
    assert!(held.reply.is_ok(), "{}", held.reply.message);
    assert!(held.events.iter().any(|e| e.name() == "QrCodeUsed"));
    let (a, c) = register_with(vec![code.clone()]);
    let registered = w.run(a, c);
    assert!(registered.reply.is_ok(), "{}", registered.reply.message);
    assert!(registered.events.iter().all(|e| e.name() != "QrCodeUsed"));
    // A preview may show it again; a new code of a later window works for a new purchase.
    let preview = calculate(
        &w.state,
        &w.program,
        POS,
        &with_ids(vec![code.clone()]),
        w.now,
    );
    assert!(preview.is_ok());
    w.now = w.now.plus_secs(30);
    let mut next = with_ids(vec![qr_of(&w, GOLD, 0)]);
    next.cheque = cheque_id("c2");
    assert!(w
        .cash(POS, Command::RegisterPurchase { cheque: next })
        .is_ok());
    // 30 s later the first code is still within its lifetime but was used; 60 s later it has
    // expired.
    w.now = w.now.plus_secs(30);
    let expired = calculate(&w.state, &w.program, POS, &with_ids(vec![code]), w.now);
    assert_eq!(expired.code, Code::QrExpired);
    // A new secret makes every earlier code invalid.
    w.admin_ok(Command::IssueQrSecret {
        card: card(GOLD),
        secret: [4; 32],
    });
    let stale = calculate(
        &w.state,
        &w.program,
        POS,
        &with_ids(vec![qr_of(&w, GOLD, 0)]),
        w.now,
    );
    assert_eq!(stale.code, Code::QrInvalid);
}

#[test]
fn after_its_card_is_blocked_the_phone_accrues_to_the_accounts_active_card() {
    let mut w = World::new();
    phone_registered(&mut w);
    second_card(&mut w);
    block(&mut w, ISSUED);
    let (a, c) = register_with(vec![phone(PHONE)]);
    let r = w.run(a, c).reply;
    assert!(r.is_ok(), "{}", r.message);
    let holder = r.holder.unwrap();
    assert_eq!(holder.masked_card, card(SECOND_CARD).masked());
    assert_eq!(holder.account, w.account(ISSUED).id);
    assert_eq!(
        w.state.account_cards(holder.account),
        vec![card(ISSUED), card(SECOND_CARD)]
    );
}

/// A wrong PIN, `n` times, then the right one: each attempt a new cheque at `till`.
fn pin_attempts(w: &mut World, till: CashboxId, wrong: usize) -> Vec<Code> {
    let mut codes = Vec::new();
    for i in 0..=wrong {
        let mut cheque = World::cheque(
            Some(GOLD),
            &format!("p{i}-{}", till.0),
            &[("bread", "1", "100")],
        );
        cheque.pin = Some(Pin::new(if i < wrong { "1111" } else { "4321" }).unwrap());
        let (a, c) = cash(
            till,
            Command::PayWithBonus {
                cheque,
                points: pts("1"),
            },
        );
        codes.push(w.run(a, c).reply.code);
    }
    codes
}

/// PIN guessing is stopped: after 5 wrong PINs redemption by PIN is locked for 15
/// minutes, whatever PIN comes next.
#[test]
fn six_wrong_pins_then_the_right_one_is_refused() {
    let mut w = World::new();
    gold_pin(&mut w);
    let codes = pin_attempts(&mut w, POS, 6);
    use Code::{PinInvalid as Wrong, PinLocked as Locked};
    assert_eq!(codes, [Wrong, Wrong, Wrong, Wrong, Locked, Locked, Locked]);
    // Every wrong PIN tried is in the history; the ones while locked were not tried.
    let failed = w.history.iter().filter(|e| e.name() == "PinFailed").count();
    assert_eq!(failed, 5);
    // 15 minutes later the right PIN works, and clears the count.
    w.now = w.now.plus_secs(15 * 60);
    assert_eq!(pin_attempts(&mut w, POS2, 0), [Code::Ok]);
    assert!(w
        .history
        .iter()
        .rev()
        .take(2)
        .any(|e| e.name() == "PinAccepted"));
    let c = w.state.card(&card(GOLD)).unwrap();
    assert_eq!((c.pin_failures, c.pin_locks), (0, 0));
}

/// Locks before a right PIN grow: 15, then 30 minutes.
#[test]
fn repeated_pin_locks_last_longer() {
    let mut w = World::new();
    gold_pin(&mut w);
    assert_eq!(pin_attempts(&mut w, POS, 5)[4], Code::PinLocked);
    w.now = w.now.plus_secs(15 * 60);
    let codes = pin_attempts(&mut w, POS2, 5);
    assert_eq!(codes[4], Code::PinLocked);
    w.now = w.now.plus_secs(15 * 60);
    assert_eq!(pin_attempts(&mut w, POS, 0), [Code::PinLocked]);
    w.now = w.now.plus_secs(15 * 60);
    assert_eq!(pin_attempts(&mut w, POS2, 0), [Code::Ok]);
}

/// A till changes a PIN only with the current one (a wrong one counts); an administrator
/// without it; a replacement card keeps the PIN.
#[test]
fn a_pin_is_changed_with_the_old_one_and_moves_with_a_replacement() {
    let mut w = World::new();
    gold_pin(&mut w);
    let set = |old: Option<&str>| Command::SetCardPin {
        card: card(GOLD),
        pin: Some(Pin::new("9999").unwrap()),
        old_pin: old.map(|p| Pin::new(p).unwrap()),
    };
    assert_eq!(w.cash(POS, set(None)).code, Code::PinRequired);
    let wrong = w.run(Actor::Cashbox(POS), set(Some("1111")));
    assert_eq!(wrong.reply.code, Code::PinInvalid);
    assert_eq!(w.state.card(&card(GOLD)).unwrap().pin_failures, 1);
    assert!(w.cash(POS, set(Some("4321"))).is_ok());
    w.admin_ok(Command::SetCardPin {
        card: card(GOLD),
        pin: Some(Pin::new("5555").unwrap()),
        old_pin: None,
    });
    // The replacement card redeems with the same PIN, and only with it.
    w.admin_ok(replace(GOLD, NEW_CARD).1);
    let pay_new = |pin: &str, id: &str| {
        let mut cheque = World::cheque(Some(NEW_CARD), id, &[("bread", "1", "100")]);
        cheque.pin = Some(Pin::new(pin).unwrap());
        Command::PayWithBonus {
            cheque,
            points: pts("1"),
        }
    };
    assert_eq!(w.cash(POS, pay_new("4321", "n1")).code, Code::PinInvalid);
    assert!(w.cash(POS, pay_new("5555", "n2")).is_ok());
}
