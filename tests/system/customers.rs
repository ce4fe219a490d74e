//! Customer service at the till through the real server: a card sold at the till, the
//! customer registered, points accrued, the card replaced, points redeemed with the new card,
//! the old card refused; and the account blocked by an administrator.

use crate::harness::*;
use loyalty_api::pb;

const SOLD: &str = "2770000000505";
const SUCCESSOR: &str = "2770000000512";

#[tokio::test]
async fn registration_accrual_replacement_and_redemption_with_the_new_card() {
    let (server, mut admin, mut till) = world_with(test_config()).await;
    let ok_reply =
        |r: &pb::ChequeReply| assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);

    let issued = till
        .client
        .issue_card(till.req(pb::IssueCardAtTillRequest {
            operation_id: op(),
            card: SOLD.into(),
            card_type: "Silver".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok_reply(&issued);
    let registered = till
        .client
        .register_customer(till.req(pb::RegisterCustomerRequest {
            operation_id: op(),
            card: SOLD.into(),
            name: "Olga".into(),
            phone: "+79990002233".into(),
            consent: true,
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
            cheque: Some(cheque("A-2", SUCCESSOR, vec![line("bread", "1", "300")])),
            points: "40".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    ok_reply(&paid);
    buy(&mut till, SUCCESSOR, "A-2", vec![line("bread", "1", "300")]).await;
    let balance = till
        .client
        .balance(till.req(pb::BalanceRequest {
            card: SUCCESSOR.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    // 100 − 40 paid + 5 % of the 260.00 paid in money.
    assert_eq!(balance.balance.unwrap().balance, "73.00");

    // The old card is refused, naming its successor.
    let old = till
        .client
        .balance(till.req(pb::BalanceRequest { card: SOLD.into() }))
        .await
        .unwrap()
        .into_inner();
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
    let refused = till
        .client
        .balance(till.req(pb::BalanceRequest {
            card: SUCCESSOR.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refused.outcome, pb::Outcome::AccountBlocked as i32);
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal, "{:?}", v.differences);
    server.stop().await;
}
