//! The store-server stream through the real server: many tills interleaved on one stream,
//! a stream broken mid-flight and resent, the same operation on unary and on the stream, a
//! client that does not read its answers, a cashbox of another store, and signatures.

use crate::harness::*;
use crate::security::{signed_till, SIGNED};
use loyalty_api::server::ServerConfig;
use loyalty_api::signing;
use loyalty_proto::metadata::{STORE_SECRET_HEADER, STORE_SERVER_HEADER};
use loyalty_proto::pb;
use loyalty_proto::pb::store_reply::Answer;
use loyalty_proto::pb::store_request::Operation;
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::Code;

const SECRET: &str = "the store server's secret";

/// A server whose store-servers file lets `shop-1` act for the cashboxes of store 1. The
/// file lives in the returned directory.
async fn store_world() -> (
    TestServer,
    pb::admin_service_client::AdminServiceClient<tonic::transport::Channel>,
    tempfile::TempDir,
) {
    store_world_with(test_config()).await
}

async fn store_world_with(
    config: ServerConfig,
) -> (
    TestServer,
    pb::admin_service_client::AdminServiceClient<tonic::transport::Channel>,
    tempfile::TempDir,
) {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("store-servers");
    let hash = hex::encode(loyalty_api::service::secret_hash(SECRET));
    std::fs::write(&path, format!("shop-1 {hash} 1\n")).unwrap();
    let (server, admin, _till) = world_with(ServerConfig {
        store_servers_file: Some(path),
        ..config
    })
    .await;
    (server, admin, files)
}

/// One store server's stream.
struct Link {
    tx: mpsc::Sender<pb::StoreRequest>,
    rx: tonic::Streaming<pb::StoreReply>,
}

async fn link_as(url: &str, name: &str, secret: &str) -> Result<Link, tonic::Status> {
    let (tx, rx) = mpsc::channel(16);
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut()
        .insert(STORE_SERVER_HEADER, name.parse().unwrap());
    req.metadata_mut()
        .insert(STORE_SECRET_HEADER, secret.parse().unwrap());
    let mut client = pb::store_service_client::StoreServiceClient::new(channel(url).await);
    let rx = client.exchange(req).await?.into_inner();
    Ok(Link { tx, rx })
}

async fn link(url: &str) -> Link {
    link_as(url, "shop-1", SECRET).await.unwrap()
}

impl Link {
    async fn send(&self, tag: u64, cashbox: u32, op: Operation) {
        self.tx
            .send(pb::StoreRequest {
                tag,
                cashbox_id: cashbox,
                operation: Some(op),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn next(&mut self) -> pb::StoreReply {
        tokio::time::timeout(Duration::from_secs(30), self.rx.message())
            .await
            .expect("an answer within 30 s")
            .unwrap()
            .expect("the stream goes on")
    }

    /// The next `n` answers, by tag; every tag answered once.
    async fn answers(&mut self, n: usize) -> HashMap<u64, pb::StoreReply> {
        let mut out = HashMap::new();
        for _ in 0..n {
            let r = self.next().await;
            assert!(out.insert(r.tag, r).is_none(), "a tag answered twice");
        }
        out
    }
}

fn register(op: &str, cheque_id: &str, card: &str) -> Operation {
    Operation::RegisterPurchase(pb::RegisterPurchaseRequest {
        operation_id: op.into(),
        cheque: Some(cheque(cheque_id, card, vec![line("bread", "1", "100")])),
        slip_width: 0,
    })
}

fn confirm(op: &str, cheque_id: &str) -> Operation {
    Operation::Confirm(pb::PurchaseRequest {
        operation_id: op.into(),
        cheque_id: cheque_id.into(),
        slip_width: 0,
    })
}

fn balance(card: &str) -> Operation {
    Operation::Balance(pb::BalanceRequest {
        card: card.into(),
        ..Default::default()
    })
}

fn cheque_reply(r: &pb::StoreReply) -> &pb::ChequeReply {
    match &r.answer {
        Some(Answer::Cheque(c)) => c,
        other => panic!("expected a cheque answer for tag {}, got {other:?}", r.tag),
    }
}

fn refusal(r: &pb::StoreReply) -> &pb::OperationStatus {
    match &r.answer {
        Some(Answer::Refused(s)) => s,
        other => panic!("expected a refusal for tag {}, got {other:?}", r.tag),
    }
}

fn card_of(till: u32) -> String {
    format!("77000000{till:05}")
}

/// Tills of store 1 (ids `first..first+n`), each with an activated card of its own.
async fn tills(
    server: &TestServer,
    admin: &mut pb::admin_service_client::AdminServiceClient<tonic::transport::Channel>,
    first: u32,
    n: u32,
) -> Vec<Till> {
    let ch = channel(&server.url()).await;
    let mut out = Vec::new();
    for id in first..first + n {
        out.push(register_till_in(admin, ch.clone(), id, 1, pb::CashboxKind::Pos).await);
        issue_card(admin, &card_of(id), pb::CardStatus::Activated).await;
    }
    out
}

#[tokio::test]
async fn many_tills_interleaved_on_one_stream_keep_each_tills_order() {
    let (server, mut admin, _files) = store_world().await;
    let tills = tills(&server, &mut admin, 10, 8).await;
    let mut link = link(&server.url()).await;
    // Every till buys 15 times, each purchase registered, confirmed, then its balance read,
    // all sent without waiting for an answer and interleaved across tills.
    let rounds = 15u32;
    let mut expect = HashMap::new();
    let mut tag = 0u64;
    for k in 1..=rounds {
        for t in &tills {
            let cheque_id = format!("{}-{k}", t.id);
            for (kind, op) in [
                ("register", register(&op(), &cheque_id, &card_of(t.id))),
                ("confirm", confirm(&op(), &cheque_id)),
                ("balance", balance(&card_of(t.id))),
            ] {
                tag += 1;
                expect.insert(tag, (t.id, k, kind));
                link.send(tag, t.id, op).await;
            }
        }
    }
    let answers = link.answers(expect.len()).await;
    for (tag, (till, k, kind)) in &expect {
        let r = &answers[tag];
        assert_eq!(r.cashbox_id, *till);
        let c = cheque_reply(r);
        assert_eq!(c.outcome, pb::Outcome::Ok as i32, "{kind}: {}", c.message);
        assert!(!c.replayed);
        if *kind == "balance" {
            // The read sees its till's purchases up to this one, and none after it.
            let points = 5 * k;
            assert_eq!(
                c.balance.as_ref().unwrap().balance,
                format!("{points}.00"),
                "till {till}, round {k}"
            );
        }
    }
    for t in tills {
        let (mut t, card) = (t.clone(), card_of(t.id));
        let b = balance_of(&mut t, card).await;
        assert_eq!(b.balance.unwrap().balance, format!("{}.00", 5 * rounds));
    }
    drop(link);
    server.stop().await;
}

#[tokio::test]
async fn a_broken_stream_is_resent_and_every_operation_is_done_once_with_its_original_answer() {
    let (server, mut admin, _files) = store_world().await;
    let tills = tills(&server, &mut admin, 20, 4).await;
    let purchases = 100u32;
    // (tag, cashbox, operation) for every purchase of every till, in order.
    let mut ops = Vec::new();
    for k in 0..purchases {
        for t in &tills {
            let cheque_id = format!("{}-{k}", t.id);
            ops.push((t.id, register(&op(), &cheque_id, &card_of(t.id))));
            ops.push((t.id, confirm(&op(), &cheque_id)));
        }
    }
    // The first stream takes everything and breaks after 25 answers.
    let mut first = link(&server.url()).await;
    for (tag, (cashbox, op)) in ops.iter().enumerate() {
        first.send(tag as u64, *cashbox, op.clone()).await;
    }
    let seen = first.answers(25).await;
    drop(first);
    // A new stream resends everything it has no answer for — and, to compare, the 25
    // answered too.
    let mut second = link(&server.url()).await;
    let sender = {
        let tx = second.tx.clone();
        let ops = ops.clone();
        tokio::spawn(async move {
            for (tag, (cashbox, op)) in ops.into_iter().enumerate() {
                let r = pb::StoreRequest {
                    tag: tag as u64,
                    cashbox_id: cashbox,
                    operation: Some(op),
                    ..Default::default()
                };
                tx.send(r).await.unwrap();
            }
        })
    };
    let again = second.answers(ops.len()).await;
    sender.await.unwrap();
    for (tag, r) in &seen {
        let mut original = cheque_reply(r).clone();
        let resent = cheque_reply(&again[tag]);
        assert!(resent.replayed, "answered before the break: replayed");
        original.replayed = true;
        assert_eq!(&original, resent, "the original answer, tag {tag}");
    }
    for r in again.values() {
        let c = cheque_reply(r);
        assert_eq!(c.outcome, pb::Outcome::Ok as i32, "{}", c.message);
    }
    // Exactly once: every card holds the accrual of its till's purchases, once each.
    for t in tills {
        let (mut t, card) = (t.clone(), card_of(t.id));
        let b = balance_of(&mut t, card).await;
        assert_eq!(b.balance.unwrap().balance, format!("{}.00", 5 * purchases));
    }
    server.stop().await;
}

#[tokio::test]
async fn one_operation_sent_on_unary_and_on_the_stream_is_done_once() {
    let (server, mut admin, _files) = store_world().await;
    let mut till = tills(&server, &mut admin, 30, 1).await.remove(0);
    let card = card_of(till.id);
    let mut link = link(&server.url()).await;

    // Unary first, then the stream.
    let id = op();
    let unary = till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: id.clone(),
            cheque: Some(cheque("U-1", &card, vec![line("bread", "1", "100")])),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unary.outcome, pb::Outcome::Ok as i32, "{}", unary.message);
    link.send(1, till.id, register(&id, "U-1", &card)).await;
    let streamed = link.next().await;
    let mut expected = unary.clone();
    expected.replayed = true;
    assert_eq!(cheque_reply(&streamed), &expected);

    // The stream first, then unary.
    let confirm_id = op();
    link.send(2, till.id, confirm(&confirm_id, "U-1")).await;
    let streamed = cheque_reply(&link.next().await).clone();
    assert_eq!(
        streamed.outcome,
        pb::Outcome::Ok as i32,
        "{}",
        streamed.message
    );
    let unary = till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: confirm_id,
            cheque_id: "U-1".into(),
            slip_width: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    let mut expected = streamed.clone();
    expected.replayed = true;
    assert_eq!(unary, expected);

    // The same id with other content is a conflict, on the stream as on unary.
    link.send(3, till.id, register(&id, "U-2", &card)).await;
    let conflict = link.next().await;
    assert_eq!(
        cheque_reply(&conflict).outcome,
        pb::Outcome::OperationConflict as i32
    );
    assert_eq!(
        balance_of(&mut till, &card).await.balance.unwrap().balance,
        "5.00"
    );
    drop(link);
    server.stop().await;
}

/// Sends `total` previews of a 20-line cheque (large requests, larger answers) on the
/// link, round robin over `cashboxes`, as fast as the stream takes them; counts those sent.
fn flood(
    link: &Link,
    cashboxes: Vec<u32>,
    total: u64,
) -> (
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let lines: Vec<pb::Line> = (0..20).map(|_| line("milk", "1", "80")).collect();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (tx, counter) = (link.tx.clone(), sent.clone());
    let task = tokio::spawn(async move {
        for tag in 0..total {
            let cashbox = cashboxes[(tag % cashboxes.len() as u64) as usize];
            let r = pb::StoreRequest {
                tag,
                cashbox_id: cashbox,
                operation: Some(Operation::Calculate(pb::CalculateRequest {
                    cheque: Some(cheque("C-1", &card_of(cashbox), lines.clone())),
                    slip_width: 0,
                })),
                ..Default::default()
            };
            if tx.send(r).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    (task, sent)
}

#[tokio::test]
async fn a_client_that_does_not_read_its_answers_is_held_by_flow_control() {
    let (server, mut admin, _files) = store_world().await;
    let tills = tills(&server, &mut admin, 40, 4).await;
    let link = link(&server.url()).await;
    let total = 20_000u64;
    let cashboxes: Vec<u32> = tills.iter().map(|t| t.id).collect();
    let (sender, sent) = flood(&link, cashboxes, total);
    // Nobody reads: the sender stalls well short of everything, and stays stalled.
    let mut stalled_at = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sent.load(std::sync::atomic::Ordering::Relaxed);
        if now == stalled_at {
            break;
        }
        stalled_at = now;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(later, stalled_at, "the sender is held");
    assert!(
        stalled_at < total / 2,
        "held after {stalled_at} of {total} operations"
    );
    // Reading again, every operation is answered.
    let mut link = link;
    let answers = link.answers(total as usize).await;
    assert!(answers
        .values()
        .all(|r| cheque_reply(r).outcome == pb::Outcome::Ok as i32));
    sender.await.unwrap();
    drop(link);
    server.stop().await;
}

#[tokio::test]
async fn a_server_stops_although_a_client_never_reads_its_answers() {
    let (server, mut admin, _files) = store_world().await;
    let tills = tills(&server, &mut admin, 70, 1).await;
    let link = link(&server.url()).await;
    let (sender, _sent) = flood(&link, vec![tills[0].id], 20_000);
    // Held by flow control, the client never reads; the server still stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("the server stops within 30 s");
    sender.abort();
    drop(link);
}

#[tokio::test]
async fn an_operation_over_its_cashboxs_rate_is_refused_with_a_retry_hint_and_the_stream_goes_on() {
    let (server, mut admin, _files) = store_world_with(ServerConfig {
        cashbox_requests_per_sec_max: 5,
        ..test_config()
    })
    .await;
    let till = tills(&server, &mut admin, 80, 1).await.remove(0);
    let mut link = link(&server.url()).await;
    for tag in 0..40 {
        link.send(tag, till.id, balance(&card_of(till.id))).await;
    }
    let answers = link.answers(40).await;
    let refused: Vec<&pb::OperationStatus> = answers
        .values()
        .filter_map(|r| match &r.answer {
            Some(Answer::Refused(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert!(
        !refused.is_empty() && refused.len() < 40,
        "{} refused",
        refused.len()
    );
    for s in &refused {
        assert_eq!(s.code, Code::ResourceExhausted as i32, "{}", s.message);
        assert!(s.retry_after_ms > 0);
    }
    // After the hint, the cashbox is served again on the same stream.
    let wait = refused.iter().map(|s| s.retry_after_ms).max().unwrap();
    tokio::time::sleep(Duration::from_millis(wait + 200)).await;
    link.send(99, till.id, balance(&card_of(till.id))).await;
    let r = link.next().await;
    assert_eq!(cheque_reply(&r).outcome, pb::Outcome::Ok as i32);
    drop(link);
    server.stop().await;
}

#[tokio::test]
async fn a_store_server_acts_only_for_its_own_stores_cashboxes() {
    let (server, mut admin, _files) = store_world().await;
    let ch = channel(&server.url()).await;
    let own = tills(&server, &mut admin, 50, 1).await.remove(0);
    let foreign = register_till_in(&mut admin, ch, 60, 2, pb::CashboxKind::Pos).await;
    issue_card(&mut admin, &card_of(60), pb::CardStatus::Activated).await;

    // A wrong secret or an unknown name opens no stream.
    for (name, secret) in [("shop-1", "wrong"), ("shop-9", SECRET)] {
        let e = link_as(&server.url(), name, secret).await.err().unwrap();
        assert_eq!(e.code(), Code::Unauthenticated, "{name}");
    }
    let mut link = link(&server.url()).await;
    let foreign_op = op();
    link.send(1, foreign.id, register(&foreign_op, "F-1", &card_of(60)))
        .await;
    link.send(2, 999, balance(&card_of(60))).await;
    link.send(3, own.id, register(&op(), "O-1", &card_of(own.id)))
        .await;
    let answers = link.answers(3).await;
    for tag in [1, 2] {
        let s = refusal(&answers[&tag]);
        assert_eq!(s.code, Code::PermissionDenied as i32, "{}", s.message);
    }
    assert_eq!(cheque_reply(&answers[&3]).outcome, pb::Outcome::Ok as i32);
    // Malformed operations are refused one by one, and the stream goes on.
    link.send(4, own.id, register("not-a-uuid", "O-2", &card_of(own.id)))
        .await;
    link.tx
        .send(pb::StoreRequest {
            tag: 5,
            cashbox_id: own.id,
            ..Default::default()
        })
        .await
        .unwrap();
    link.send(6, own.id, confirm(&op(), "O-1")).await;
    link.send(7, own.id, balance(&card_of(own.id))).await;
    let answers = link.answers(4).await;
    for tag in [4, 5] {
        assert_eq!(refusal(&answers[&tag]).code, Code::InvalidArgument as i32);
    }
    assert_eq!(
        cheque_reply(&answers[&7]).balance.as_ref().unwrap().balance,
        "5.00"
    );
    // Nothing of the foreign cashbox happened: its operation is unknown.
    let mut foreign = foreign;
    let found = foreign
        .client
        .get_operation(foreign.req(pb::GetOperationRequest {
            operation_id: foreign_op,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!found.found);
    drop(link);
    server.stop().await;
}

#[tokio::test]
async fn signed_operations_on_the_stream_are_checked_and_their_answers_signed() {
    let (server, mut admin, _files) = store_world().await;
    let ch = channel(&server.url()).await;
    let (_till, signer) = signed_till(&mut admin, ch, *b"streamed").await;
    let server_key = admin
        .server_key(admin_req(pb::ServerKeyRequest {}))
        .await
        .unwrap()
        .into_inner();
    let server_public = signing::public_key(&server_key.public_key).unwrap();
    let mut link = link(&server.url()).await;

    // Unsigned: refused, as on unary.
    link.send(1, SIGNED, register(&op(), "S-1", CARD)).await;
    let r = link.next().await;
    let s = refusal(&r);
    assert_eq!(s.code, Code::Unauthenticated as i32);
    assert_eq!(s.error, "SIGNATURE_REQUIRED");

    // Signed over the unary call's bytes: accepted, and the answer verifies.
    let body = pb::RegisterPurchaseRequest {
        operation_id: op(),
        cheque: Some(cheque("S-1", CARD, vec![line("bread", "1", "100")])),
        slip_width: 0,
    };
    let (at, sig) = signer.signature("RegisterPurchase", &body, signing::now_ms());
    link.tx
        .send(pb::StoreRequest {
            tag: 2,
            cashbox_id: SIGNED,
            signed_at: at,
            signature: sig,
            operation: Some(Operation::RegisterPurchase(body.clone())),
        })
        .await
        .unwrap();
    let r = link.next().await;
    let reply = cheque_reply(&r);
    assert_eq!(reply.outcome, pb::Outcome::Ok as i32, "{}", reply.message);
    let message = signing::answer_message(
        "/loyalty.v1.CashService/RegisterPurchase",
        SIGNED,
        r.signed_at.parse().unwrap(),
        &body.encode_to_vec(),
        &reply.encode_to_vec(),
    );
    assert!(signing::verify_answer(
        &server_public,
        &message,
        &r.signature
    ));

    // A signature over other content, or signed for another method, is refused.
    let mut tampered = body.clone();
    tampered.operation_id = op();
    let (at, sig) = signer.signature("RegisterPurchase", &body, signing::now_ms());
    let (at2, sig2) = signer.signature("Confirm", &tampered, signing::now_ms());
    for (tag, (at, sig)) in [(3, (at, sig)), (4, (at2, sig2))] {
        link.tx
            .send(pb::StoreRequest {
                tag,
                cashbox_id: SIGNED,
                signed_at: at,
                signature: sig,
                operation: Some(Operation::RegisterPurchase(tampered.clone())),
            })
            .await
            .unwrap();
        let r = link.next().await;
        assert_eq!(refusal(&r).code, Code::Unauthenticated as i32, "tag {tag}");
    }
    // A server shutting down ends the open stream: UNAVAILABLE, resend elsewhere or later.
    let stopping = tokio::spawn(server.stop());
    let end = tokio::time::timeout(Duration::from_secs(30), link.rx.message())
        .await
        .expect("the stream ends");
    assert_eq!(end.unwrap_err().code(), Code::Unavailable);
    stopping.await.unwrap();
}
