//! kill -9 of a real server process under load, restarted on the same data directory:
//! every acknowledged operation is present, and nothing is applied twice.

use crate::harness::*;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CARD: &str = "4000000000001";
const TILLS: u32 = 8;

struct ChildServer {
    child: Child,
    url: String,
}

/// A failing test must not leave its server running.
impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real server binary on 127.0.0.1:0 and reads its address from its log.
fn spawn_server(data: &Path, kafka: &Option<(String, String)>) -> (ChildServer, Duration) {
    // Holds outlive the longest run (1,000 kills take about 15 minutes): this test is about
    // durability, and the final resend must find every unconfirmed purchase still pending.
    let config = data.join("server.toml");
    // Points spendable at once: the load pays with what it earned.
    std::fs::write(
        &config,
        "hold_lifetime_secs = 172800\npoints_pending_secs = 0\n",
    )
    .unwrap();
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_loyalty-test-server"));
    command.args([
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN_TOKEN,
        "--metrics-listen",
        "off",
        "--cashbox-rps-max",
        "0",
    ]);
    if let Some((brokers, topic)) = kafka {
        command.args(["--kafka-brokers", brokers, "--kafka-topic", topic]);
    }
    let mut child = command
        .env("LOYALTY_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        ChildServer {
            child,
            url: format!("http://{addr}"),
        },
        started.elapsed(),
    )
}

/// One purchase = register then confirm; both requests are kept so they can be resent.
#[derive(Clone)]
struct Purchase {
    register: pb::RegisterPurchaseRequest,
    confirm: pb::PurchaseRequest,
}

fn purchase(till: u32, n: u32) -> Purchase {
    let id = format!("t{till}-{n}");
    Purchase {
        register: pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque(&id, CARD, vec![line("bread", "1", "100")])),
        },
        confirm: pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: id,
        },
    }
}

#[derive(Default)]
struct Ledger {
    /// Every purchase attempted, by till, in order.
    attempted: BTreeMap<u32, Vec<Purchase>>,
    /// Operation ids whose answer the till received.
    acknowledged: Vec<String>,
}

/// Tills run purchases until the server dies under them.
async fn load(tills: Vec<Till>, ledger: Arc<Mutex<Ledger>>, start_at: u32) {
    let mut tasks = Vec::new();
    for mut till in tills {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            for n in start_at.. {
                let p = purchase(till.id, n);
                ledger
                    .lock()
                    .unwrap()
                    .attempted
                    .entry(till.id)
                    .or_default()
                    .push(p.clone());
                let Ok(r) = till
                    .client
                    .register_purchase(till.req(p.register.clone()))
                    .await
                else {
                    return;
                };
                assert_eq!(
                    r.get_ref().outcome,
                    pb::Outcome::Ok as i32,
                    "{}",
                    r.get_ref().message
                );
                ledger
                    .lock()
                    .unwrap()
                    .acknowledged
                    .push(p.register.operation_id.clone());
                let Ok(r) = till.client.confirm(till.req(p.confirm.clone())).await else {
                    return;
                };
                assert_eq!(
                    r.get_ref().outcome,
                    pb::Outcome::Ok as i32,
                    "{}",
                    r.get_ref().message
                );
                ledger
                    .lock()
                    .unwrap()
                    .acknowledged
                    .push(p.confirm.operation_id.clone());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn tills(url: &str, secrets: &[(u32, String)]) -> Vec<Till> {
    let ch = channel(url).await;
    secrets
        .iter()
        .map(|(id, s)| Till {
            client: pb::cash_service_client::CashServiceClient::new(ch.clone()),
            id: *id,
            secret: s.clone(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_operation_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    // With a broker, the relay is killed mid-flight too: no event may be missing downstream.
    let kafka = crate::kafka::brokers()
        .map(|b| (b, format!("test.crash.{}", uuid::Uuid::new_v4().simple())));
    let (mut server, _) = spawn_server(dir.path(), &kafka);
    let mut admin = AdminServiceClient::new(channel(&server.url).await);
    setup_program(&mut admin).await;
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let mut secrets = Vec::new();
    for id in 1..=TILLS {
        let t = register_till(
            &mut admin,
            channel(&server.url).await,
            id,
            pb::CashboxKind::Pos,
        )
        .await;
        secrets.push((id, t.secret));
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    // Three rounds in CI; LOYALTY_CRASH_ROUNDS=1000 for the long run (see README).
    let rounds: u32 = std::env::var("LOYALTY_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut restarts = Vec::new();
    for round in 0..rounds {
        let load = tokio::spawn(load(
            tills(&server.url, &secrets).await,
            ledger.clone(),
            round * 1_000_000,
        ));
        // Let the load run for a varying while, then kill -9 mid-flight.
        tokio::time::sleep(Duration::from_millis(
            200 + u64::from(round.wrapping_mul(7919) % 500),
        ))
        .await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        load.await.unwrap();
        let (restarted, took) = spawn_server(dir.path(), &kafka);
        restarts.push(took);
        server = restarted;
    }
    restarts.sort();
    eprintln!(
        "{rounds} kills; restart until listening: min {:?}, median {:?}, max {:?}",
        restarts[0],
        restarts[restarts.len() / 2],
        restarts[restarts.len() - 1]
    );
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    assert!(
        ledger.acknowledged.len() > 50,
        "the load made progress: {}",
        ledger.acknowledged.len()
    );

    // Resend everything every till attempted, in its order. Acknowledged operations must
    // come back as stored originals; the rest may be new. Every one must succeed.
    let ts = tills(&server.url, &secrets).await;
    let acknowledged: std::collections::HashSet<_> = ledger.acknowledged.iter().cloned().collect();
    let mut purchases = 0u64;
    for mut till in ts {
        for p in ledger.attempted.get(&till.id).cloned().unwrap_or_default() {
            for (op_id, reply) in [
                (
                    p.register.operation_id.clone(),
                    till.client
                        .register_purchase(till.req(p.register.clone()))
                        .await
                        .unwrap()
                        .into_inner(),
                ),
                (
                    p.confirm.operation_id.clone(),
                    till.client
                        .confirm(till.req(p.confirm.clone()))
                        .await
                        .unwrap()
                        .into_inner(),
                ),
            ] {
                assert_eq!(
                    reply.outcome,
                    pb::Outcome::Ok as i32,
                    "{op_id}: {}",
                    reply.message
                );
                if acknowledged.contains(&op_id) {
                    assert!(reply.replayed, "acknowledged operation {op_id} was lost");
                }
            }
            purchases += 1;
        }
    }
    // Each purchase of 100.00 earns 5.00 exactly once.
    let mut till = tills(&server.url, &secrets).await.remove(0);
    let bal = balance_of(&mut till, CARD).await;
    assert_eq!(
        bal.balance.unwrap().balance,
        format!("{}.00", purchases * 5)
    );
    let mut admin = AdminServiceClient::new(channel(&server.url).await);
    let v = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(v.equal, "{:?}", v.differences);
    if let Some((brokers, topic)) = &kafka {
        crate::kafka::outbox_drained(&mut admin).await;
        // Long runs publish hundreds of thousands of events: the consumer gets time in
        // proportion.
        let window = Duration::from_secs(90 + v.events / 2_000);
        // Counted incrementally: deduplicating everything received at every check is
        // quadratic in a stream of hundreds of thousands of messages.
        let mut seen = std::collections::HashSet::new();
        let mut counted = 0;
        let got = crate::kafka::consume(brokers, topic, window, |m| {
            seen.extend(m[counted..].iter().map(|c| c.envelope.event_id));
            counted = m.len();
            seen.len() as u64 >= v.events
        })
        .await;
        let ids: std::collections::BTreeSet<u64> =
            got.iter().map(|c| c.envelope.event_id).collect();
        let missing: Vec<u64> = (1..=v.events).filter(|i| !ids.contains(i)).collect();
        assert!(
            missing.is_empty() && ids.len() as u64 == v.events,
            "{} of {} events missing downstream after kill -9 (first: {:?}); {} ids outside the log",
            missing.len(),
            v.events,
            &missing[..missing.len().min(10)],
            ids.iter().filter(|i| **i > v.events || **i == 0).count()
        );
        eprintln!(
            "{} events, {} messages ({} duplicates)",
            v.events,
            got.len(),
            got.len() as u64 - v.events
        );
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_offline_upload_then_resend_equals_one_clean_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _) = spawn_server(dir.path(), &None);
    let mut admin = AdminServiceClient::new(channel(&server.url).await);
    setup_program(&mut admin).await;
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let till = register_till(
        &mut admin,
        channel(&server.url).await,
        1,
        pb::CashboxKind::Pos,
    )
    .await;
    let secret = till.secret.clone();
    // 10 pieces of 400 offline cheques of 100.00 each: 5.00 points apiece.
    let pieces: Vec<pb::OfflineBatch> = (0..10)
        .map(|p| pb::OfflineBatch {
            items: (0..400)
                .map(|i| pb::OfflineItem {
                    operation_id: op(),
                    item: Some(pb::offline_item::Item::Purchase(pb::OfflinePurchase {
                        cheque: Some(cheque(
                            &format!("off-{p}-{i}"),
                            CARD,
                            vec![line("bread", "1", "100")],
                        )),
                        points_paid: String::new(),
                        discount: String::new(),
                    })),
                })
                .collect(),
        })
        .collect();
    let upload = {
        let pieces = pieces.clone();
        let mut till = tills(&server.url, &[(1, secret.clone())]).await.remove(0);
        tokio::spawn(async move {
            for p in pieces {
                if till.client.upload_offline(till.req(p)).await.is_err() {
                    return;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    upload.await.unwrap();
    let (restarted, _) = spawn_server(dir.path(), &None);
    server = restarted;
    let mut till = tills(&server.url, &[(1, secret)]).await.remove(0);
    let mut replayed = 0;
    for p in pieces {
        let r = till
            .client
            .upload_offline(till.req(p))
            .await
            .unwrap()
            .into_inner();
        for x in r.results {
            let reply = x.reply.unwrap();
            assert_eq!(reply.outcome, pb::Outcome::Ok as i32, "{}", reply.message);
            replayed += usize::from(reply.replayed);
        }
    }
    eprintln!("{replayed} of 4000 items were already applied before the kill");
    let bal = balance_of(&mut till, CARD).await;
    assert_eq!(bal.balance.unwrap().balance, "20000.00");
    let mut admin = AdminServiceClient::new(channel(&server.url).await);
    assert!(
        admin
            .verify(admin_req(pb::VerifyRequest { rewrite: false }))
            .await
            .unwrap()
            .into_inner()
            .equal
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
