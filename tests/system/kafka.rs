//! The event stream against a real Kafka-compatible broker (tansu, started by `.ci/test`;
//! its address comes in LOYALTY_KAFKA_BROKERS). In CI a missing broker fails these tests.

use crate::harness::*;
use loyalty_api::server::ServerConfig;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use prost::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The broker's address, or `None` outside CI when none is configured.
pub fn brokers() -> Option<String> {
    match std::env::var("LOYALTY_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must provide a Kafka broker in LOYALTY_KAFKA_BROKERS (.ci/test starts one)"
            );
            eprintln!(
                "no LOYALTY_KAFKA_BROKERS: Kafka test not run (bash .ci/test starts a broker)"
            );
            None
        }
    }
}

fn topic(name: &str) -> String {
    format!("test.{name}.{}", uuid::Uuid::new_v4().simple())
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub key: String,
    pub envelope: pb::EventEnvelope,
    pub header_id: String,
}

/// Reads the topic from the beginning until `done` says so or the deadline passes.
/// Waits (up to 90 s) until the server's relay has every committed event acknowledged.
pub async fn outbox_drained(admin: &mut AdminServiceClient<tonic::transport::Channel>) {
    let until = Instant::now() + Duration::from_secs(90);
    while admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner()
        .outbox_pending
        > 0
    {
        assert!(
            std::time::Instant::now() < until,
            "the outbox did not drain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn consume(
    brokers: &str,
    topic: &str,
    deadline: Duration,
    mut done: impl FnMut(&[Consumed]) -> bool,
) -> Vec<Consumed> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("g-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let until = Instant::now() + deadline;
    let mut out = Vec::new();
    // `done` looks at everything received: ask it when the stream pauses or every 1024
    // messages, so a long stream is not read in quadratic time.
    let mut checked = 0;
    while Instant::now() < until {
        let received = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await;
        if !matches!(received, Ok(Ok(_))) || out.len() + 1 - checked >= 1024 {
            if done(&out) {
                break;
            }
            checked = out.len();
        }
        if let Ok(Ok(m)) = received {
            let envelope = pb::EventEnvelope::decode(m.payload().unwrap()).unwrap();
            let header_id = m
                .headers()
                .and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "event-id")
                        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                })
                .unwrap_or_default();
            out.push(Consumed {
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                envelope,
                header_id,
            });
        }
    }
    out
}

/// Deduplicated by event id, keeping first occurrences in order.
pub fn dedupe(all: &[Consumed]) -> Vec<Consumed> {
    let mut seen = std::collections::HashSet::new();
    all.iter()
        .filter(|c| seen.insert(c.envelope.event_id))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_flow_produces_its_events_in_order_with_exact_amounts() {
    let Some(brokers) = brokers() else { return };
    let topic = topic("flow");
    let (server, mut admin, mut till) = world_with(ServerConfig {
        kafka_brokers: brokers.clone(),
        kafka_topic: topic.clone(),
        ..test_config()
    })
    .await;
    let run = |r: pb::ChequeReply| assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
    // The account's first purchase earns a bonus, streamed after the confirm that earned it.
    let bonus = admin
        .set_bonus_rule(admin_req(pb::SetBonusRuleRequest {
            operation_id: op(),
            rule: Some(pb::BonusRule {
                kind: pb::BonusKind::FirstPurchase.into(),
                points: "25".into(),
                terms: Some(pb::PointsTerms::default()),
                enabled: true,
                days_before: 0,
                days_after: 0,
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bonus.outcome, pb::Outcome::Ok as i32, "{}", bonus.message);
    buy(&mut till, CARD, "seed", vec![line("bread", "1", "2000")]).await;
    let c = cheque(
        "c1",
        CARD,
        vec![line("milk", "2", "50"), line("bread", "1", "20")],
    );
    run(till
        .client
        .pay_with_bonus(till.req(pb::PayWithBonusRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(c.clone()),
            points: "11".into(),
        }))
        .await
        .unwrap()
        .into_inner());
    run(till
        .client
        .register_purchase(till.req(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(c),
        }))
        .await
        .unwrap()
        .into_inner());
    run(till
        .client
        .confirm(till.req(pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: "c1".into(),
        }))
        .await
        .unwrap()
        .into_inner());
    run(till
        .client
        .refund(till.req(pb::RefundRequest {
            operation_id: op(),
            refund_cheque_id: "r1".into(),
            purchase_cheque_id: "c1".into(),
            lines: vec![pb::RefundLine {
                line_index: 0,
                quantity: "1".into(),
            }],
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner());

    let got = consume(&brokers, &topic, Duration::from_secs(60), |m| {
        dedupe(m).iter().filter(|c| c.key == "account-1").count() >= 9
    })
    .await;
    let account: Vec<_> = dedupe(&got)
        .into_iter()
        .filter(|c| c.key == "account-1")
        .collect();
    let kinds: Vec<&str> = account
        .iter()
        .map(|c| c.envelope.event_type.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "AccountOpened",
            "CardIssued",
            "PurchaseRegistered",
            "PurchaseConfirmed",
            "BonusGranted",
            "BonusHeld",
            "PurchaseRegistered",
            "PurchaseConfirmed",
            "RefundRecorded"
        ]
    );
    let e = |i: usize| &account[i].envelope;
    assert_eq!(
        (e(3).points_accrued.as_str(), e(3).amount.as_str()),
        ("100.00", "2000.00")
    );
    assert_eq!(
        (
            e(4).bonus.as_str(),
            e(4).points_bonus.as_str(),
            e(4).actor.as_str(),
            e(4).card.as_str()
        ),
        ("first_purchase", "25.00", "cashbox:1", "*********0017")
    );
    assert_eq!(e(4).lots_credited[0].source, "bonus");
    assert_eq!(
        (
            e(5).points_held.as_str(),
            e(5).cheque_id.as_str(),
            e(5).store_id,
            e(5).cashbox_id
        ),
        ("11.00", "c1", 1, 1)
    );
    assert_eq!(
        (
            e(7).points_redeemed.as_str(),
            e(7).points_accrued.as_str(),
            e(7).discount.as_str()
        ),
        ("11.00", "4.95", "10.00")
    );
    assert_eq!(
        (
            e(8).money_returned.as_str(),
            e(8).points_returned.as_str(),
            e(8).accrual_reversed.as_str()
        ),
        ("45.00", "4.50", "2.03")
    );
    assert_eq!(e(8).money_to_pay_out, "40.50");
    // Refunded at the selling till: the purchase id, and the refunding till and store.
    assert_eq!(
        (
            e(8).purchase_id.as_str(),
            e(8).refund_cashbox_id,
            e(8).refund_store_id
        ),
        ("1/c1", 1, 1)
    );
    assert_eq!(e(8).cashbox_local_time, "2026-11-23T12:00:00");
    assert_eq!(e(7).card, "*********0017");
    // Event ids increase along the key and are repeated in the header.
    assert!(account
        .windows(2)
        .all(|w| w[0].envelope.event_id < w[1].envelope.event_id));
    assert!(account
        .iter()
        .all(|c| c.header_id == c.envelope.event_id.to_string()
            && c.envelope.schema_version == u32::from(loyalty_core::event::EVENT_SCHEMA_VERSION)));
    // Each event names who caused it.
    assert_eq!(
        (e(0).actor.as_str(), e(2).actor.as_str()),
        ("admin:admin", "cashbox:1")
    );
    // Catalogue and offers go under the program key.
    assert!(got
        .iter()
        .any(|c| c.key == "program" && c.envelope.event_type == "OfferUpserted"));
    // Everything was published: the outbox is empty.
    let status = admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    let total = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!((status.outbox_pending, status.published), (0, total));
    server.stop().await;
}

/// A TCP proxy in front of a broker that the test can cut and restore.
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target_port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> =
            Default::default();
        let (u, c) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !u.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                c.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Proxy { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_never_fails_the_till_and_the_outbox_drains_afterwards() {
    let Some(_) = brokers() else { return };
    let tansu = std::env::var("LOYALTY_TANSU_BIN").expect("LOYALTY_TANSU_BIN (set by .ci/test)");
    // A broker of our own, advertised through the proxy so every client connection can be cut.
    let broker_port = free_port();
    let proxy = Proxy::start(broker_port).await;
    let advertised = format!("127.0.0.1:{}", proxy.port);
    let mut broker = std::process::Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{broker_port}"),
            "--advertised-listener-url",
            &format!("tcp://{advertised}"),
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let topic = topic("outage");
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        ServerConfig {
            kafka_brokers: advertised.clone(),
            kafka_topic: topic.clone(),
            ..test_config()
        },
    )
    .await;
    let ch = channel(&server.url()).await;
    let mut admin = AdminServiceClient::new(ch.clone());
    setup_program(&mut admin).await;
    let cards: Vec<String> = (0..5).map(|i| format!("30000000000{i}")).collect();
    for c in &cards {
        issue_card(&mut admin, c, pb::CardStatus::Activated).await;
    }
    let till = register_till(&mut admin, ch, 1, pb::CashboxKind::Pos).await;
    let buy = |n: usize| {
        let mut till = till.clone();
        let card = cards[n % cards.len()].clone();
        async move {
            let id = format!("c{n}");
            let r = till
                .client
                .register_purchase(till.req(pb::RegisterPurchaseRequest {
                    operation_id: op(),
                    slip_width: 0,
                    cheque: Some(cheque(&id, &card, vec![line("bread", "1", "100")])),
                }))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.outcome, pb::Outcome::Ok as i32);
            let r = till
                .client
                .confirm(till.req(pb::PurchaseRequest {
                    operation_id: op(),
                    slip_width: 0,
                    cheque_id: id,
                }))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.outcome, pb::Outcome::Ok as i32);
        }
    };
    for n in 0..20 {
        buy(n).await;
    }
    // The broker disappears: cash requests go on being answered; the outbox grows.
    proxy.cut();
    for n in 20..120 {
        buy(n).await;
    }
    let during = admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(
        during.outbox_pending > 0,
        "events wait in the outbox while the broker is away"
    );
    proxy.restore();
    for n in 120..140 {
        buy(n).await;
    }
    // The outbox drains.
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let s = admin
            .status(admin_req(pb::StatusRequest {}))
            .await
            .unwrap()
            .into_inner();
        if s.outbox_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "outbox did not drain: {} pending",
            s.outbox_pending
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let total = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner()
        .events;
    let got = consume(&advertised, &topic, Duration::from_secs(60), |m| {
        dedupe(m).len() as u64 >= total
    })
    .await;
    let unique = dedupe(&got);
    // Every committed event exactly once after dedupe, in order per key.
    let ids: std::collections::BTreeSet<u64> = unique.iter().map(|c| c.envelope.event_id).collect();
    assert_eq!(
        ids,
        (1..=total).collect(),
        "{} of {total} events arrived",
        ids.len()
    );
    let mut per_key: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &unique {
        let last = per_key.entry(c.key.as_str()).or_insert(0);
        assert!(c.envelope.event_id > *last, "key {} out of order", c.key);
        *last = c.envelope.event_id;
    }
    server.stop().await;
    let _ = broker.kill();
    let _ = broker.wait();
}
