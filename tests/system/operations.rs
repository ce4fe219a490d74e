//! Running the server: offline uploads, metrics, per-cashbox rates, TLS and catalogue
//! imports, through the real gRPC server.

use super::grpc::*;
use crate::harness::*;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use tonic::Code;

fn offline_purchase(id: &str, price: &str, points: &str) -> pb::OfflineItem {
    pb::OfflineItem {
        operation_id: op(),
        item: Some(pb::offline_item::Item::Purchase(pb::OfflinePurchase {
            cheque: Some(pb::Cheque {
                local_time: "2026-11-20T09:30:00".into(),
                cashier: String::new(),
                identifiers: Vec::new(),
                pin: String::new(),
                tenders: Vec::new(),
                ..cheque(id, CARD, vec![line("bread", "1", price)])
            }),
            points_paid: points.into(),
            discount: String::new(),
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_upload_answers_per_item_and_resends_change_nothing() {
    let (server, mut admin, mut till) = world().await;
    let refund = pb::OfflineItem {
        operation_id: op(),
        item: Some(pb::offline_item::Item::Refund(pb::RefundRequest {
            operation_id: String::new(),
            refund_cheque_id: "r1".into(),
            purchase_cheque_id: "o1".into(),
            lines: vec![pb::RefundLine {
                line_index: 0,
                quantity: "1".into(),
            }],
            ..Default::default()
        })),
    };
    let batch = pb::OfflineBatch {
        items: vec![
            offline_purchase("o1", "100", ""),
            offline_purchase("o2", "300", "0"),
            offline_purchase("o3", "50", "5"),
            refund,
        ],
    };
    let codes = |r: &pb::OfflineBatchReply| {
        r.results
            .iter()
            .map(|x| x.reply.as_ref().unwrap().outcome)
            .collect::<Vec<_>>()
    };
    let first = till
        .client
        .upload_offline(till.req(batch.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        codes(&first),
        [
            pb::Outcome::Ok as i32,
            pb::Outcome::Ok as i32,
            pb::Outcome::OfflineRedemptionRefused as i32,
            pb::Outcome::Ok as i32
        ]
    );
    assert_eq!(
        first.results[1]
            .reply
            .as_ref()
            .unwrap()
            .totals
            .as_ref()
            .unwrap()
            .accrual,
        "15.00"
    );
    let balance = |r: &pb::ChequeReply| r.balance.as_ref().unwrap().balance.clone();
    let watcher = till.clone();
    let bal = || {
        let mut t = watcher.clone();
        async move {
            balance(
                &t.client
                    .balance(t.req(pb::BalanceRequest {
                        card: CARD.into(),
                        identifiers: Vec::new(),
                        as_of: String::new(),
                    }))
                    .await
                    .unwrap()
                    .into_inner(),
            )
        }
    };
    assert_eq!(bal().await, "15.00");
    // The same batch again, a prefix, and the batch from two connections at once.
    let again = till
        .client
        .upload_offline(till.req(batch.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(again
        .results
        .iter()
        .all(|x| x.reply.as_ref().unwrap().replayed));
    assert_eq!(codes(&again), codes(&first));
    let prefix = pb::OfflineBatch {
        items: batch.items[..2].to_vec(),
    };
    assert_eq!(
        codes(
            &till
                .client
                .upload_offline(till.req(prefix))
                .await
                .unwrap()
                .into_inner()
        )[..],
        codes(&first)[..2]
    );
    let other = Till {
        client: pb::cash_service_client::CashServiceClient::new(channel(&server.url()).await),
        ..till.clone()
    };
    let (mut t1, mut t2) = (till.clone(), other.clone());
    let (r1, r2) = (till.req(batch.clone()), other.req(batch.clone()));
    let (a, b) = tokio::join!(t1.client.upload_offline(r1), t2.client.upload_offline(r2));
    assert_eq!(codes(&a.unwrap().into_inner()), codes(&first));
    assert_eq!(codes(&b.unwrap().into_inner()), codes(&first));
    assert_eq!(bal().await, "15.00");
    // Limits and malformed items: INVALID_ARGUMENT naming the item, nothing applied.
    let too_many = pb::OfflineBatch {
        items: (0..1001)
            .map(|i| offline_purchase(&format!("m{i}"), "1", ""))
            .collect(),
    };
    assert_eq!(
        till.client
            .upload_offline(till.req(too_many))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let mut bad = offline_purchase("o9", "1", "");
    bad.operation_id = "x".into();
    let err = till
        .client
        .upload_offline(till.req(pb::OfflineBatch {
            items: vec![offline_purchase("o8", "1", ""), bad],
        }))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("items[1].operation_id"),
        "{}",
        err.message()
    );
    assert_eq!(bal().await, "15.00");
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_requests_outcomes_and_commits() {
    let metrics = free_addr();
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        loyalty_api::server::ServerConfig {
            metrics_listen: Some(metrics),
            ..test_config()
        },
    )
    .await;
    let ch = channel(&server.url()).await;
    let mut admin = AdminServiceClient::new(ch.clone());
    setup_program(&mut admin).await;
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let mut till = register_till(&mut admin, ch, 1, pb::CashboxKind::Pos).await;
    buy(&mut till, CARD, "m1", vec![line("bread", "1", "100")]).await;
    let refused = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: "none".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refused.outcome, pb::Outcome::PurchaseUnknown as i32);
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut c = tokio::net::TcpStream::connect(metrics).await.unwrap();
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut body = String::new();
        c.read_to_string(&mut body).await.unwrap();
        body
    };
    let text = get("/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // A series' value, which must be a whole number (the exposition writes sums as
    // decimals: `8.0`).
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.strip_suffix(".0").unwrap_or(v).parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    assert_eq!(
        value("loyalty_request_duration_seconds_count{command=\"RegisterPurchase\"}"),
        1
    );
    assert_eq!(
        value("loyalty_request_duration_seconds_count{command=\"Confirm\"}"),
        2
    );
    assert_eq!(
        value("loyalty_request_duration_seconds_bucket{le=\"+Inf\",command=\"Confirm\"}"),
        2
    );
    assert_eq!(value("loyalty_outcomes_total{code=\"30\"}"), 1);
    assert_eq!(value("loyalty_engine_operations_total"), 8); // 5 admin, register, confirm, refused confirm
    let batches = value("loyalty_engine_batches_total");
    assert!(batches >= 1);
    assert_eq!(
        value("loyalty_engine_commit_duration_seconds_count"),
        batches
    );
    assert_eq!(
        value("loyalty_engine_commit_duration_seconds_bucket{le=\"+Inf\"}"),
        batches
    );
    assert_eq!(value("loyalty_engine_batch_operations_count"), batches);
    assert_eq!(value("loyalty_engine_batch_operations_sum"), 8);
    assert!(get("/other").await.starts_with("HTTP/1.1 404"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashbox_over_its_request_rate_is_told_when_to_retry() {
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        loyalty_api::server::ServerConfig {
            cashbox_requests_per_sec_max: 1,
            ..test_config()
        },
    )
    .await;
    let ch = channel(&server.url()).await;
    let mut admin = AdminServiceClient::new(ch.clone());
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let mut till = register_till(&mut admin, ch, 1, pb::CashboxKind::Pos).await;
    // One request per second: of ten sent back to back, at most a few get through.
    let mut refused = Vec::new();
    for _ in 0..10 {
        if let Err(e) = till
            .client
            .balance(till.req(pb::BalanceRequest {
                card: CARD.into(),
                identifiers: Vec::new(),
                as_of: String::new(),
            }))
            .await
        {
            refused.push(e);
        }
    }
    assert!(refused.len() >= 5, "{} refused", refused.len());
    for e in &refused {
        assert_eq!(e.code(), Code::ResourceExhausted);
        let hint: u64 = e
            .metadata()
            .get("retry-after-ms")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=1000).contains(&hint));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_end_to_end_and_plain_clients_are_refused() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let config = loyalty_api::server::ServerConfig {
        tls_cert_file: Some(cert),
        tls_key_file: Some(key),
        ..test_config()
    };
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), config).await;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            certified.cert.pem(),
        ))
        .domain_name("localhost");
    let url = format!("https://localhost:{}", server.addr.port());
    let ch = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut admin = AdminServiceClient::new(ch.clone());
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let mut till = register_till(&mut admin, ch, 1, pb::CashboxKind::Pos).await;
    let bal = balance_of(&mut till, CARD).await;
    assert_eq!(bal.balance.unwrap().balance, "0.00");
    // A client speaking plain HTTP/2 to the TLS listener gets no answer.
    let plain = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        let mut c = pb::cash_service_client::CashServiceClient::new(ch);
        assert!(c
            .balance(till.req(pb::BalanceRequest {
                card: CARD.into(),
                identifiers: Vec::new(),
                as_of: String::new()
            }))
            .await
            .is_err());
    }
    server.stop().await;
}

/// A catalogue file imported through the admin API, then re-imported with a change: the
/// product is updated in place and a cheque prices with it.
#[tokio::test]
async fn catalogue_file_import_and_reimport_update_in_place() {
    use loyalty_api::client::import::Catalogue;
    let (server, mut admin, mut till) = world_with(test_config()).await;
    let file = |min_price: &str| {
        format!(
            "code,name,group,barcodes,min_price,promotional\n\
             cheese,Cheese,dairy,4600000000028,{min_price},false\n\
             bad code,,,,,\n"
        )
    };
    for min_price in ["0", "95"] {
        let c = Catalogue::from_csv(&file(min_price));
        assert_eq!((c.products.len(), c.rejected.len()), (1, 1));
        ok(&admin
            .import_products(admin_req(pb::ImportProductsRequest {
                operation_id: op(),
                products: c.products,
            }))
            .await
            .unwrap()
            .into_inner());
    }
    // 10% dairy discount, but the re-imported minimal price (95.00) caps it at 5.00; the
    // barcode finds the product.
    let r = till
        .client
        .calculate(till.req(pb::CalculateRequest {
            cheque: Some(cheque("K-1", CARD, vec![line("4600000000028", "1", "100")])),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.totals.unwrap().discount, "5.00");
    server.stop().await;
}

/// A registration made online, then a queued upload.
async fn registered(till: &mut Till, id: &str) {
    let reg = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque(id, CARD, vec![line("bread", "2", "50")])),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reg.outcome, pb::Outcome::Ok as i32, "{}", reg.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_begun_online_is_confirmed_or_cancelled_from_an_offline_upload() {
    let (server, _admin, mut till) = world().await;
    let balance = |till: &mut Till| {
        let req = till.req(pb::BalanceRequest {
            card: CARD.into(),
            identifiers: Vec::new(),
            as_of: String::new(),
        });
        let mut client = till.client.clone();
        async move {
            let b = client.balance(req).await.unwrap().into_inner();
            b.balance.unwrap().balance
        }
    };
    let before = balance(&mut till).await;
    registered(&mut till, "q1").await;
    registered(&mut till, "q2").await;
    // The till went offline after registering: its queue holds a confirm and a cancel, and
    // a confirm of a cheque it never registered.
    let purchase = |cheque: &str| pb::PurchaseRequest {
        operation_id: String::new(),
        cheque_id: cheque.into(),
        slip_width: 0,
    };
    let items = vec![
        pb::OfflineItem {
            operation_id: op(),
            item: Some(pb::offline_item::Item::Confirm(purchase("q1"))),
        },
        pb::OfflineItem {
            operation_id: op(),
            item: Some(pb::offline_item::Item::Cancel(purchase("q2"))),
        },
        pb::OfflineItem {
            operation_id: op(),
            item: Some(pb::offline_item::Item::Confirm(purchase("never"))),
        },
    ];
    let upload = |till: &Till, items: Vec<pb::OfflineItem>| {
        let req = till.req(pb::OfflineBatch { items });
        let mut client = till.client.clone();
        async move { client.upload_offline(req).await.unwrap().into_inner() }
    };
    let first = upload(&till, items.clone()).await;
    let outcomes: Vec<i32> = first
        .results
        .iter()
        .map(|r| r.reply.as_ref().unwrap().outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            pb::Outcome::Ok as i32,
            pb::Outcome::Ok as i32,
            pb::Outcome::PurchaseUnknown as i32
        ]
    );
    assert_eq!(
        first.results[0].reply.as_ref().unwrap().purchase_status,
        pb::PurchaseStatus::Confirmed as i32
    );
    assert_eq!(
        first.results[1].reply.as_ref().unwrap().purchase_status,
        pb::PurchaseStatus::Cancelled as i32
    );
    // Only the confirmed cheque's accrual (5 % of 100.00) reached the balance.
    assert_eq!(before, "0.00");
    let after = balance(&mut till).await;
    assert_eq!(after, "5.00");
    // The same upload again changes nothing and answers each item as before.
    let again = upload(&till, items).await;
    for (a, b) in again.results.iter().zip(&first.results) {
        let (a, b) = (a.reply.as_ref().unwrap(), b.reply.as_ref().unwrap());
        assert!(a.replayed);
        assert_eq!(
            (a.outcome, a.purchase_status),
            (b.outcome, b.purchase_status)
        );
    }
    assert_eq!(balance(&mut till).await, after);
    server.stop().await;
}
