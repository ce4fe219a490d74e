//! Customer service at the till through the real server: a card sold at the till, the
//! customer registered, points accrued, the card replaced, points redeemed with the new card,
//! the old card refused; and the account blocked by an administrator.

use crate::harness::*;
use loyalty_proto::pb;

const SOLD: &str = "2770000000505";
const SUCCESSOR: &str = "2770000000512";

#[tokio::test]
async fn registration_accrual_replacement_and_redemption_with_the_new_card() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    let ok_reply =
        |r: &pb::ChequeReply| assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);

    issue_sold(&mut till).await;
    let registered = till
        .client
        .register_customer(till.req(pb::RegisterCustomerRequest {
            operation_id: op(),
            card: SOLD.into(),
            name: "Olga".into(),
            phone: "+79990002233".into(),
            consent: true,
            birth_date: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok_reply(&registered);
    let holder = registered.holder.unwrap();
    assert_eq!(holder.name, "Olga");
    assert_eq!(holder.card_status, pb::CardStatus::Activated as i32);

    // Accrue: 5 % of 2000.00, with the cashier recorded.
    let mut c = cheque("A-1", SOLD, vec![line("bread", "1", "2000")]);
    c.cashier = "anna.k".into();
    buy_cheque(&mut till, c).await;

    // Replace the card: the balance moves with the account.
    let replaced = till
        .client
        .replace_card(till.req(pb::ReplaceCardRequest {
            operation_id: op(),
            old_card: SOLD.into(),
            new_card: SUCCESSOR.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok_reply(&replaced);
    assert_eq!(replaced.balance.unwrap().balance, "100.00");

    // Redeem with the new card.
    let paid = till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque("A-2", SUCCESSOR, vec![line("bread", "1", "300")])),
            points: "40".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok_reply(&paid);
    buy(&mut till, SUCCESSOR, "A-2", vec![line("bread", "1", "300")]).await;
    let balance = balance_of(&mut till, SUCCESSOR).await;
    // 100 − 40 paid + 5 % of the 260.00 paid in money.
    assert_eq!(balance.balance.unwrap().balance, "73.00");

    // A receipt slip for a 40-character printer, and the cheque's loyalty messages.
    let preview = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(cheque("A-3", SUCCESSOR, vec![line("milk", "2", "50")])),
            slip_width: 40,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        preview.slip.iter().all(|l| l.chars().count() == 40),
        "{:#?}",
        preview.slip
    );
    assert!(preview
        .slip
        .iter()
        .any(|l| l.starts_with("To pay") && l.ends_with("90.00")));
    assert_eq!(
        preview.cheque_messages,
        [
            "You saved 10.00",
            "Points for this purchase: 4.50",
            "Your points balance: 73.00"
        ]
    );
    let too_wide = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(cheque("A-3", SUCCESSOR, vec![line("milk", "2", "50")])),
            slip_width: 200,
        }))
        .await
        .unwrap_err();
    assert_eq!(too_wide.code(), tonic::Code::InvalidArgument);

    // The old card is refused, naming its successor.
    let old = balance_of(&mut till, SOLD).await;
    assert_eq!(old.outcome, pb::Outcome::CardReplaced as i32);
    assert!(old.message.contains("*********0512"), "{}", old.message);

    // The history of the account shows the till's customer service and the cashier's sale.
    let history = admin
        .history(admin_req(pb::HistoryRequest {
            card: SUCCESSOR.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let kinds: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds[..6],
        [
            "AccountOpened",
            "CardIssued",
            "CustomerRegistered",
            "CardActivated",
            "PurchaseRegistered",
            "PurchaseConfirmed"
        ]
    );
    assert!(history[4].detail.contains("anna.k"));
    assert!(kinds.contains(&"CardReplaced"));

    // An administrator blocks the account: every card of it is refused.
    let blocked = admin
        .set_account_blocked(admin_req(pb::SetAccountBlockedRequest {
            operation_id: op(),
            card: SUCCESSOR.into(),
            blocked: true,
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&blocked);
    let refused = balance_of(&mut till, SUCCESSOR).await;
    assert_eq!(refused.outcome, pb::Outcome::AccountBlocked as i32);
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal, "{:?}", v.differences);
    server.stop().await;
}

fn id(kind: pb::IdentifierKind, value: &str) -> pb::Identifier {
    pb::Identifier {
        kind: kind.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn magnetic_stripe_phone_and_auto_identify_the_customer() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    let registered = till
        .client
        .register_customer(till.req(pb::RegisterCustomerRequest {
            operation_id: op(),
            card: CARD.into(),
            name: "Olga".into(),
            phone: "8 (999) 000-22-33".into(),
            consent: true,
            birth_date: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    // The standard card is already activated: registration is refused, nothing changes.
    assert_eq!(registered.outcome, pb::Outcome::CardStatusInvalid as i32);
    issue_sold(&mut till).await;
    let r = till
        .client
        .register_customer(till.req(pb::RegisterCustomerRequest {
            operation_id: op(),
            card: SOLD.into(),
            name: "Olga".into(),
            phone: "8 (999) 000-22-33".into(),
            consent: true,
            birth_date: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
    buy(&mut till, CARD, "B-1", vec![line("bread", "1", "2000")]).await;
    buy(&mut till, SOLD, "B-2", vec![line("bread", "1", "2000")]).await;

    let calculate = |ids: Vec<pb::Identifier>| {
        let mut c = cheque("Q-1", "", vec![line("bread", "1", "100")]);
        c.identifiers = ids;
        pb::CalculateRequest {
            cheque: Some(c),
            slip_width: 0,
        }
    };
    use pb::IdentifierKind as K;
    // Phone (any common form) finds Olga; a phone may not redeem by default.
    for ids in [
        vec![id(K::Phone, "+7 999 000 22 33")],
        vec![id(K::Auto, "9990002233")],
    ] {
        let r = till
            .client
            .calculate(till.req(calculate(ids)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
        assert_eq!(r.holder.unwrap().name, "Olga");
        assert_eq!(r.totals.unwrap().redeem_max, "0.00");
    }
    // Track 2 of the magnetic stripe, raw or through Auto, finds the standard card and
    // may redeem; a card beats a phone.
    let track2 = format!(";{CARD}=27121010000?");
    for ids in [
        vec![id(K::Magstripe, &track2)],
        vec![id(K::Auto, &track2)],
        vec![id(K::Phone, "89990002233"), id(K::Magstripe, &track2)],
    ] {
        let r = till
            .client
            .calculate(till.req(calculate(ids)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.holder.unwrap().masked_card, "*********0017");
        assert_ne!(r.totals.unwrap().redeem_max, "0.00");
    }
    // Paying by phone is refused by the policy; malformed identifiers are INVALID_ARGUMENT.
    let mut c = cheque("Q-2", "", vec![line("bread", "1", "100")]);
    c.identifiers = vec![id(K::Phone, "+79990002233")];
    let paid = till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(c),
            points: "1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paid.outcome, pb::Outcome::RedeemNotAllowed as i32);
    for bad in [
        id(K::Phone, "12"),
        id(K::Magstripe, "no tracks"),
        id(K::Unspecified, "1"),
    ] {
        let s = till
            .client
            .calculate(till.req(calculate(vec![bad])))
            .await
            .unwrap_err();
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
        assert!(s.message().contains("identifiers[0]"), "{}", s.message());
    }
    // Balance by any identifier.
    let b = till
        .client
        .balance(till.req(pb::BalanceRequest {
            card: String::new(),
            identifiers: vec![id(K::Phone, "+79990002233")],
            as_of: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.holder.unwrap().name, "Olga");

    // The administrator lets phones redeem, and adds a range of stand cards.
    ok(&admin
        .set_identifier_policy(admin_req(pb::SetIdentifierPolicyRequest {
            operation_id: op(),
            redeem_via: vec![
                K::Barcode.into(),
                K::Magstripe.into(),
                K::Phone.into(),
                K::Qr.into(),
            ],
        }))
        .await
        .unwrap()
        .into_inner());
    let r = till
        .client
        .calculate(till.req(calculate(vec![id(K::Phone, "+79990002233")])))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(r.totals.unwrap().redeem_max, "0.00");
    ok(&admin
        .set_card_range(admin_req(pb::SetCardRangeRequest {
            operation_id: op(),
            prefix: "2770000001".into(),
            length: 13,
            check: pb::CheckDigit::Ean13.into(),
            card_type: "Stand".into(),
            remove: false,
        }))
        .await
        .unwrap()
        .into_inner());
    let stand = till
        .client
        .calculate(till.req(calculate(vec![id(K::Barcode, "2770000001007")])))
        .await
        .unwrap()
        .into_inner();
    let holder = stand.holder.unwrap();
    assert_eq!(holder.card_type, "Stand");
    assert_eq!(holder.card_status, pb::CardStatus::Prepared as i32);
    let bad_range = admin
        .set_card_range(admin_req(pb::SetCardRangeRequest {
            operation_id: op(),
            prefix: "27a".into(),
            length: 13,
            check: 0,
            card_type: "X".into(),
            remove: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_range.code(), tonic::Code::InvalidArgument);

    // A PIN set at the till guards paying with points.
    let set = till
        .client
        .set_card_pin(till.req(pb::SetCardPinRequest {
            operation_id: op(),
            card: CARD.into(),
            pin: "2468".into(),
            old_pin: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.outcome, pb::Outcome::Ok as i32, "{}", set.message);
    let pay = |pin: &str, cheque_id: &str| pb::PayWithBonusRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(pb::Cheque {
            pin: pin.into(),
            ..cheque(cheque_id, CARD, vec![line("bread", "1", "100")])
        }),
        points: "1".into(),
    };
    for (pin, outcome) in [
        ("", pb::Outcome::PinRequired),
        ("1357", pb::Outcome::PinInvalid),
        ("2468", pb::Outcome::Ok),
    ] {
        let r = till
            .client
            .pay_with_bonus(till.req(pay(pin, &format!("P-{pin}"))))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome, outcome as i32, "{pin}: {}", r.message);
    }

    // Dynamic QR: the back office issues the card's secret (shown once); the app's code
    // pays for one purchase, and another purchase with it is a replay.
    let issued = admin
        .issue_qr_secret(admin_req(pb::CardRequest {
            operation_id: op(),
            card: SOLD.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok(&issued);
    let secret: [u8; 32] = (0..32)
        .map(|i| u8::from_str_radix(&issued.qr_secret[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .try_into()
        .unwrap();
    let now = loyalty_core::model::UnixMillis(loyalty_api::signing::now_ms());
    let number = loyalty_core::ids::CardNo::new(SOLD).unwrap();
    let code = loyalty_core::qr::code(&secret, &number, loyalty_core::qr::window(now));
    let payload = format!("{SOLD}:{code:06}");
    let pay_qr = |cheque_id: &str| {
        let mut c = cheque(cheque_id, "", vec![line("bread", "1", "100")]);
        c.identifiers = vec![id(K::Qr, &payload)];
        pb::PayWithBonusRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(c),
            points: "1".into(),
        }
    };
    let first = till
        .client
        .pay_with_bonus(till.req(pay_qr("QR-1")))
        .await
        .unwrap()
        .into_inner();
    // The code may have been made just before a window ended; then it is still valid.
    assert_eq!(first.outcome, pb::Outcome::Ok as i32, "{}", first.message);
    let again = till
        .client
        .pay_with_bonus(till.req(pay_qr("QR-2")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.outcome,
        pb::Outcome::QrReplayed as i32,
        "{}",
        again.message
    );

    // Favourite goods chosen at the till, boosted by an offer on favourites.
    let chosen = till
        .client
        .choose_favourites(till.req(pb::ChooseFavouritesRequest {
            operation_id: op(),
            card: CARD.into(),
            products: vec!["bread".into()],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(chosen.holder.unwrap().favourites, ["bread"]);
    ok(&admin
        .upsert_offer(admin_req(pb::UpsertOfferRequest {
            operation_id: op(),
            offer: Some(pb::Offer {
                id: 9,
                name: "favourites".into(),
                effect: pb::OfferEffect::Accrual.into(),
                percent: "20".into(),
                group: String::new(),
                valid_from: "2020-01-01T00:00:00".into(),
                valid_to: "2030-01-01T00:00:00".into(),
                enabled: true,
                favourites: true,
                // Replaces the base 5% on favourites.
                priority: 10,
                exclusive: true,
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner());
    let boosted = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(cheque("F-1", CARD, vec![line("bread", "1", "100")])),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(boosted.totals.unwrap().accrual, "20.00");
    server.stop().await;
}

async fn issue_sold(till: &mut Till) {
    sell_card(till, SOLD).await;
}

/// A self-checkout kiosk: points plus two bank cards and a fast-payment QR, recorded with
/// the purchase; tenders that do not add up are refused; refunds are refused at kiosks.
#[tokio::test]
async fn mixed_tender_at_a_self_checkout_kiosk() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    buy(&mut till, CARD, "seed", vec![line("bread", "1", "2000")]).await;
    let ch = channel(&server.url()).await;
    let mut kiosk = register_till(&mut admin, ch, 7, pb::CashboxKind::SelfCheckout).await;
    let tender = |kind: pb::TenderKind, amount: &str| pb::Tender {
        certificate: String::new(),
        kind: kind.into(),
        amount: amount.into(),
    };
    let paid = kiosk
        .client
        .pay_with_bonus(kiosk.req(pb::PayWithBonusRequest {
            operation_id: op(),
            cheque: Some(cheque("K-1", CARD, vec![line("bread", "1", "100")])),
            points: "30".into(),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paid.outcome, pb::Outcome::Ok as i32, "{}", paid.message);
    let register = |tenders: Vec<pb::Tender>| pb::RegisterPurchaseRequest {
        operation_id: op(),
        cheque: Some(pb::Cheque {
            tenders,
            ..cheque("K-1", CARD, vec![line("bread", "1", "100")])
        }),
        slip_width: 0,
    };
    let short = kiosk
        .client
        .register_purchase(kiosk.req(register(vec![tender(pb::TenderKind::BankCard, "60")])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.outcome, pb::Outcome::AmountInvalid as i32);
    assert!(short.message.contains("70.00"), "{}", short.message);
    let ok_reply = kiosk
        .client
        .register_purchase(kiosk.req(register(vec![
            tender(pb::TenderKind::BankCard, "40"),
            tender(pb::TenderKind::BankCard, "20"),
            tender(pb::TenderKind::FastPayment, "10"),
        ])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ok_reply.outcome,
        pb::Outcome::Ok as i32,
        "{}",
        ok_reply.message
    );
    let refund = kiosk
        .client
        .refund(kiosk.req(pb::RefundRequest {
            operation_id: op(),
            refund_cheque_id: "KR-1".into(),
            purchase_cheque_id: "K-1".into(),
            lines: vec![pb::RefundLine {
                line_index: 0,
                quantity: "1".into(),
            }],
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refund.outcome, pb::Outcome::RefundAtKiosk as i32);
    server.stop().await;
}
