//! End to end through the real gRPC server on 127.0.0.1.

use crate::harness::*;
use loyalty_api::server::ServerConfig;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use tonic::Code;

pub(crate) async fn world() -> (
    TestServer,
    AdminServiceClient<tonic::transport::Channel>,
    Till,
) {
    world_with(test_config()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_life_cycle_from_calculation_to_refund() {
    let (server, mut admin, mut till) = world().await;
    // Given 100 points from an earlier purchase of 2000.00 at 5%.
    let first = buy(&mut till, CARD, "seed", vec![line("bread", "1", "2000")]).await;
    assert_eq!(first.balance.unwrap().balance, "100.00");

    // Calculate: 10% off the milk (found by barcode), 5% accrual, half the cheque payable.
    let c = cheque(
        "c1",
        CARD,
        vec![line("4600000000011", "2", "50"), line("bread", "1", "20")],
    );
    let calc = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(c.clone()),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calc.outcome, pb::Outcome::Ok as i32, "{}", calc.message);
    let t = calc.totals.unwrap();
    assert_eq!(
        (
            t.amount.as_str(),
            t.discount.as_str(),
            t.redeem_max.as_str(),
            t.accrual.as_str()
        ),
        ("120.00", "10.00", "55.00", "5.50")
    );
    assert_eq!(calc.holder.unwrap().masked_card, "*********0017");
    let avail = till
        .client
        .available_amount(till.req(pb::CalculateRequest {
            cheque: Some(c.clone()),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(avail.available, "55.00");

    // Pay 11 points: held. Sending the same operation again returns the original answer.
    let pay = pb::PayWithBonusRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(c.clone()),
        points: "11".into(),
    };
    let held = till
        .client
        .pay_with_bonus(till.req(pay.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.outcome, pb::Outcome::Ok as i32, "{}", held.message);
    assert_eq!(held.balance.as_ref().unwrap().spendable, "89.00");
    let again = till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            points: "11.00".into(),
            ..pay.clone()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(
        pb::ChequeReply {
            replayed: false,
            ..again
        },
        held
    );
    let conflict = till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            points: "12".into(),
            ..pay.clone()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(conflict.outcome, pb::Outcome::OperationConflict as i32);

    // Register, then confirm: 100 - 11 + 4.95.
    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(c),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reg.totals.unwrap().to_pay, "99.00");
    let confirm_op = op();
    let conf = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: confirm_op.clone(),
            slip_width: 0,
            cheque_id: "c1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let b = conf.balance.unwrap();
    assert!(!b.next_expiry.is_empty(), "points expire in a year");
    assert_eq!(
        b,
        pb::Balance {
            balance: "93.95".into(),
            held: "0.00".into(),
            spendable: "93.95".into(),
            debt: "0.00".into(),
            pending: "0.00".into(),
            next_expiry: b.next_expiry.clone(),
            next_expiry_points: b.next_expiry_points.clone(),
        }
    );
    // A till that lost the answer asks for the operation's status.
    let status = till
        .client
        .get_operation(till.req(pb::GetOperationRequest {
            operation_id: confirm_op,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(status.found);
    assert_eq!(
        status.reply.unwrap().purchase_status,
        pb::PurchaseStatus::Confirmed as i32
    );
    let unknown = till
        .client
        .get_operation(till.req(pb::GetOperationRequest { operation_id: op() }))
        .await
        .unwrap()
        .into_inner();
    assert!(!unknown.found);

    // Refund one milk.
    let refund = till
        .client
        .refund(till.req(refund("r1", "c1", "1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refund.outcome, pb::Outcome::Ok as i32, "{}", refund.message);
    let s = refund.refund.unwrap();
    assert_eq!(
        (
            s.money_returned.as_str(),
            s.points_returned.as_str(),
            s.accrual_reversed.as_str()
        ),
        ("45.00", "4.50", "2.03")
    );
    assert_eq!(s.money_to_pay_out, "40.50");
    let bal = balance_of(&mut till, CARD).await;
    assert_eq!(bal.balance.unwrap().balance, "96.42");

    // The live state equals the rebuild from the event log.
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal, "{:?}", v.differences);
    assert!(v.events >= 10);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors_and_changes_nothing() {
    let (server, mut admin, mut till) = world().await;
    buy(&mut till, CARD, "seed", vec![line("bread", "1", "200")]).await;
    let before = admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner()
        .events;
    let good = cheque("c1", CARD, vec![line("milk", "1", "10")]);

    // Malformed fields: INVALID_ARGUMENT naming the field.
    let cases: Vec<(pb::PayWithBonusRequest, &str)> = vec![
        (
            pb::PayWithBonusRequest {
                operation_id: "nope".into(),
                slip_width: 0,
                cheque: Some(good.clone()),
                points: "1".into(),
            },
            "operation_id",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(good.clone()),
                points: "-1".into(),
            },
            "points",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(good.clone()),
                points: "1.001".into(),
            },
            "points",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(good.clone()),
                points: "1e9".into(),
            },
            "points",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(good.clone()),
                points: "99999999999999999".into(),
            },
            "points",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: None,
                points: "1".into(),
            },
            "cheque",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(cheque("c1", "12ab", vec![line("milk", "1", "10")])),
                points: "1".into(),
            },
            "cheque.card",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(cheque("", CARD, vec![line("milk", "1", "10")])),
                points: "1".into(),
            },
            "cheque.cheque_id",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(cheque("c1", CARD, vec![line("milk", "0", "10")])),
                points: "1".into(),
            },
            "cheque.lines[0].quantity",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(cheque("c1", CARD, vec![line("milk", "1", "ten")])),
                points: "1".into(),
            },
            "cheque.lines[0].price",
        ),
        (
            pb::PayWithBonusRequest {
                operation_id: op(),
                slip_width: 0,
                // Over the wire's limit; over the programme's alone is the outcome
                // TOO_MANY_LINES (contract.rs).
                cheque: Some(cheque("c1", CARD, vec![line("milk", "1", "10"); 10_001])),
                points: "1".into(),
            },
            "cheque.lines",
        ),
    ];
    for (req, field) in cases {
        let err = till.client.pay_with_bonus(till.req(req)).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{field}: {}",
            err.message()
        );
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    // Refusals by rule: an answer with an outcome code.
    let too_much = till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(good.clone()),
            points: "9".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(too_much.outcome, pb::Outcome::RedeemLimitExceeded as i32);
    let unknown = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: "nothing".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unknown.outcome, pb::Outcome::PurchaseUnknown as i32);
    // Oversized messages are refused by the transport limit.
    let huge = pb::PayWithBonusRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(cheque(&"x".repeat(2 << 20), CARD, vec![])),
        points: "1".into(),
    };
    assert!(till.client.pay_with_bonus(till.req(huge)).await.is_err());
    // Authentication: wrong secret, unknown cashbox, no credentials.
    let forged = Till {
        secret: "guess".into(),
        ..till.clone()
    };
    let err = forged
        .clone()
        .client
        .balance(forged.req(pb::BalanceRequest {
            card: CARD.into(),
            identifiers: Vec::new(),
            as_of: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let stranger = Till {
        id: 99,
        ..till.clone()
    };
    assert_eq!(
        stranger
            .clone()
            .client
            .balance(stranger.req(pb::BalanceRequest {
                card: CARD.into(),
                identifiers: Vec::new(),
                as_of: String::new(),
            }))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        till.client
            .balance(tonic::Request::new(pb::BalanceRequest {
                card: CARD.into(),
                identifiers: Vec::new(),
                as_of: String::new(),
            }))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut wrong_admin = tonic::Request::new(pb::StatusRequest {});
    wrong_admin
        .metadata_mut()
        .insert("x-admin-token", "wrong".parse().unwrap());
    assert_eq!(
        admin.status(wrong_admin).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Nothing above produced an event.
    let after = admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(after, before);
    let bal = balance_of(&mut till, CARD).await;
    let b = bal.balance.unwrap();
    assert_eq!(
        b,
        pb::Balance {
            balance: "10.00".into(),
            held: "0.00".into(),
            spendable: "10.00".into(),
            debt: "0.00".into(),
            pending: "0.00".into(),
            next_expiry: b.next_expiry.clone(),
            next_expiry_points: "10.00".into(),
        }
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashbox_acts_only_as_itself_and_kiosks_cannot_refund() {
    let (server, mut admin, mut till) = world().await;
    let ch = channel(&server.url()).await;
    let mut kiosk = register_till(&mut admin, ch.clone(), 2, pb::CashboxKind::SelfCheckout).await;
    buy(&mut till, CARD, "c1", vec![line("bread", "1", "100")]).await;
    // Another cashbox cannot see or touch the purchase, nor read its operations.
    let other = kiosk
        .client
        .cancel(kiosk.req(pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: "c1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.outcome, pb::Outcome::PurchaseUnknown as i32);
    let refund = kiosk
        .client
        .refund(kiosk.req(pb::RefundRequest {
            operation_id: op(),
            refund_cheque_id: "r".into(),
            purchase_cheque_id: "c1".into(),
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
    // A disabled cashbox gets nothing.
    ok(&admin
        .set_cashbox_enabled(admin_req(pb::SetCashboxEnabledRequest {
            operation_id: op(),
            cashbox_id: 1,
            enabled: false,
        }))
        .await
        .unwrap()
        .into_inner());
    let calc = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(cheque("c2", CARD, vec![line("bread", "1", "1")])),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calc.outcome, pb::Outcome::CashboxDisabled as i32);
    // A blocked card: "card is blocked", nothing calculated.
    ok(&admin
        .block_card(admin_req(pb::CardRequest {
            operation_id: op(),
            card: CARD.into(),
        }))
        .await
        .unwrap()
        .into_inner());
    let blocked = kiosk
        .client
        .calculate(kiosk.req(pb::CalculateRequest {
            cheque: Some(cheque("c3", CARD, vec![line("bread", "1", "1")])),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(blocked.outcome, pb::Outcome::CardBlocked as i32);
    assert!(blocked.message.starts_with("card is blocked"));
    assert!(blocked.totals.is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_pending_listing() {
    let (server, mut admin, mut till) = world().await;
    let ch = channel(&server.url()).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "loyalty.v1.CashService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // Reflection lists both services for a stock client.
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let mut refl = ServerReflectionClient::new(ch);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("no list")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"loyalty.v1.CashService") && names.contains(&"loyalty.v1.AdminService"),
        "{names:?}"
    );
    // An unconfirmed purchase is listed as pending (not yet expired).
    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque("p1", CARD, vec![line("bread", "1", "5")])),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reg.outcome, pb::Outcome::Ok as i32);
    let pending = admin
        .list_pending(admin_req(pb::ListPendingRequest {
            within_secs: 3600,
            limit: 10,
            expired_within_secs: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.purchases.len(), 1);
    assert_eq!(
        (
            pending.purchases[0].cheque_id.as_str(),
            pending.purchases[0].expired
        ),
        ("p1", false)
    );
    let expired = admin
        .list_pending(admin_req(pb::ListPendingRequest {
            within_secs: 0,
            limit: 10,
            expired_within_secs: 3600,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(expired.purchases.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_in_one_store_is_returned_in_another_by_the_slips_purchase_id() {
    let (server, mut admin, mut till) = world().await;
    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque("s1", CARD, vec![line("bread", "2", "100")])),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reg.purchase_id, "1/s1");
    let sold = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 32,
            cheque_id: "s1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sold.outcome, pb::Outcome::Ok as i32, "{}", sold.message);
    // The slip prints the purchase id.
    let printed = sold
        .slip
        .iter()
        .find_map(|row| row.strip_prefix("Purchase"))
        .expect("a purchase row")
        .trim()
        .to_owned();
    assert_eq!(printed, "1/s1");

    // The customer brings the slip to the service desk of store 2.
    let ch = channel(&server.url()).await;
    let mut desk = register_till_in(&mut admin, ch, 21, 2, pb::CashboxKind::Pos).await;
    let at_desk = pb::RefundRequest {
        purchase_id: printed.clone(),
        ..refund("r1", "", "1")
    };
    let back = desk
        .client
        .refund(desk.req(at_desk.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.outcome, pb::Outcome::Ok as i32, "{}", back.message);
    assert_eq!(back.purchase_id, "1/s1");
    assert_eq!(back.refund.unwrap().money_to_pay_out, "100.00");
    let again = desk
        .client
        .refund(desk.req(at_desk))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    // The selling till refunds the other bread by its own cheque number, and the same
    // refund number: a refund is known by its till and number.
    let rest = till
        .client
        .refund(till.req(refund("r1", "s1", "1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.outcome, pb::Outcome::Ok as i32, "{}", rest.message);
    // Nothing is left to return, at any till.
    let over = desk
        .client
        .refund(desk.req(pb::RefundRequest {
            sale_cashbox_id: 1,
            ..refund("r2", "s1", "0.001")
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(over.outcome, pb::Outcome::RefundExceedsPurchase as i32);
    // Naming the purchase twice, or by a malformed id, is a bad request.
    for bad in [
        pb::RefundRequest {
            purchase_id: "1/s1".into(),
            purchase_cheque_id: "s1".into(),
            ..Default::default()
        },
        pb::RefundRequest {
            purchase_id: "s1".into(),
            ..Default::default()
        },
    ] {
        let err = desk
            .client
            .refund(desk.req(pb::RefundRequest {
                lines: refund("r3", "", "1").lines,
                refund_cheque_id: "r3".into(),
                operation_id: op(),
                ..bad
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    }
    // Support finds the purchase by its id, by cashbox and cheque, and among the card's.
    let find = |r: pb::FindPurchaseRequest| {
        let mut admin = admin.clone();
        async move { admin.find_purchase(admin_req(r)).await }
    };
    for by in [
        pb::FindPurchaseRequest {
            purchase_id: "1/s1".into(),
            ..Default::default()
        },
        pb::FindPurchaseRequest {
            cashbox_id: 1,
            cheque_id: "s1".into(),
            ..Default::default()
        },
        pb::FindPurchaseRequest {
            card: CARD.into(),
            from: "2026-11-23T00:00:00".into(),
            to: "2026-11-24T00:00:00".into(),
            ..Default::default()
        },
    ] {
        let found = find(by).await.unwrap().into_inner().purchases;
        assert_eq!(found.len(), 1, "{found:?}");
        let p = &found[0];
        assert_eq!(
            (p.purchase_id.as_str(), p.status, p.amount.as_str()),
            ("1/s1", pb::PurchaseStatus::Confirmed as i32, "200.00")
        );
        assert_eq!(p.refunded_money, "200.00");
        assert_eq!(p.refunds, ["21/r1", "1/r1"]);
    }
    let none = pb::FindPurchaseRequest {
        card: CARD.into(),
        from: "2026-11-24T00:00:00".into(),
        ..Default::default()
    };
    assert!(find(none).await.unwrap().into_inner().purchases.is_empty());
    let err = find(pb::FindPurchaseRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_come_back_without_the_receipt_only_where_the_programme_allows_it() {
    let returned = |till: &Till| {
        till.req(pb::RefundRequest {
            operation_id: op(),
            refund_cheque_id: "rx".into(),
            without_receipt: Some(cheque("", CARD, vec![line("bread", "1", "1000")])),
            ..Default::default()
        })
    };
    let (_server, _admin, mut till) = world().await;
    let refused = till
        .client
        .refund(returned(&till))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refused.outcome, pb::Outcome::Forbidden as i32);

    let (_server, mut admin, mut till) = world_with(ServerConfig {
        receiptless_refunds: true,
        ..test_config()
    })
    .await;
    // 100 points earned on 2000.00 of bread; bread worth 1000.00 comes back without its
    // receipt: 50 points of accrual are taken back.
    buy(&mut till, CARD, "seed", vec![line("bread", "1", "2000")]).await;
    let back = till
        .client
        .refund(returned(&till))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.outcome, pb::Outcome::Ok as i32, "{}", back.message);
    assert_eq!(
        back.purchase_status,
        pb::PurchaseStatus::ReturnedWithoutReceipt as i32
    );
    assert_eq!(back.purchase_id, "1/rx");
    let s = back.refund.unwrap();
    assert_eq!(
        (s.money_to_pay_out.as_str(), s.accrual_reversed.as_str()),
        ("1000.00", "50.00")
    );
    assert_eq!(back.balance.unwrap().balance, "50.00");
    // Support finds it among the card's purchases.
    let found = admin
        .find_purchase(admin_req(pb::FindPurchaseRequest {
            card: CARD.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .purchases;
    let ids: Vec<(&str, i32)> = found
        .iter()
        .map(|p| (p.purchase_id.as_str(), p.status))
        .collect();
    assert_eq!(
        ids,
        [
            ("1/rx", pb::PurchaseStatus::ReturnedWithoutReceipt as i32),
            ("1/seed", pb::PurchaseStatus::Confirmed as i32)
        ]
    );
    // Goods and a named purchase together are a bad request.
    let err = till
        .client
        .refund(till.req(pb::RefundRequest {
            purchase_cheque_id: "seed".into(),
            ..returned(&till).into_inner()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}
