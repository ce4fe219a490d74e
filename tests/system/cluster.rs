//! A replicated ledger of three real server processes on loopback: the leader killed with
//! kill -9 again and again under load, the leader cut off from the others by proxies the
//! test controls, and a follower whose data directory is lost. Every acknowledged
//! operation answers `GetOperation` with its original answer afterwards, nothing is
//! applied twice, and every replica ends with the same state and log digests.

use crate::harness::*;
use loyalty_proto::metadata::LEADER_HEADER;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use loyalty_proto::pb::cash_service_client::CashServiceClient;
use loyalty_proto::pb::cluster_service_client::ClusterServiceClient;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CARD: &str = "4000000000002";

/// 32 random bytes, for a signing key seed.
fn rand_seed() -> [u8; 32] {
    rand::random()
}
const TOKEN: &str = "cluster-test-token-0123456789";

/// One replica: its process (while running), address and data directory.
struct Replica {
    id: u64,
    addr: SocketAddr,
    data: PathBuf,
    dial: String,
    child: Option<Child>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Replica {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM: the server finishes what it holds and stops.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

struct TestCluster {
    replicas: Vec<Replica>,
    peers: String,
    /// Brokers and topic for the event relay, when a broker is at hand.
    kafka: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestCluster {
    /// Three replicas; `dial(i, j)` is where replica `i` reaches replica `j` (a proxy), or
    /// `None` for its own address.
    fn start(dial: impl Fn(u64, u64) -> Option<SocketAddr>) -> TestCluster {
        Self::start_at(&Self::addrs(), dial, None)
    }

    /// Three free loopback addresses for the replicas.
    fn addrs() -> Vec<SocketAddr> {
        (0..3).map(|_| free_addr()).collect()
    }

    fn start_at(
        addrs: &[SocketAddr],
        dial: impl Fn(u64, u64) -> Option<SocketAddr>,
        kafka: Option<(String, String)>,
    ) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        // One signing key for all: it signs answers and keys PIN hashes on every replica.
        std::fs::write(dir.path().join("server.ed25519"), hex::encode(rand_seed())).unwrap();
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut replicas = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let id = i as u64 + 1;
            let dial = (1..=3)
                .filter(|j| *j != id)
                .filter_map(|j| dial(id, j).map(|a| format!("{j}={a}")))
                .collect::<Vec<_>>()
                .join(",");
            replicas.push(Replica {
                id,
                addr: *addr,
                data: dir.path().join(format!("replica-{id}")),
                dial,
                child: None,
            });
        }
        let mut c = TestCluster {
            replicas,
            peers,
            kafka,
            _dir: dir,
        };
        for i in 0..3 {
            c.spawn(i, i == 0);
        }
        c
    }

    fn spawn(&mut self, i: usize, init: bool) {
        let peers = self.peers.clone();
        let kafka = self.kafka.clone();
        let r = &mut self.replicas[i];
        std::fs::create_dir_all(&r.data).unwrap();
        let config = r.data.with_extension("toml");
        // Snapshots every few hundred entries, so that a replica far behind gets one.
        std::fs::write(
            &config,
            format!(
                "hold_lifetime_secs = 172800\npoints_pending_secs = 0\nsnapshot_every_entries = 200\n\
                 peer_dial = \"{}\"\nsigning_key_file = \"{}\"\n",
                r.dial,
                r.data.with_file_name("server.ed25519").display()
            ),
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_loyalty-test-server"));
        command.args([
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            r.data.to_str().unwrap(),
            "--listen",
            &r.addr.to_string(),
            "--admin-token",
            ADMIN_TOKEN,
            "--metrics-listen",
            "off",
            "--cashbox-rps-max",
            "0",
            "--node-id",
            &r.id.to_string(),
            "--peers",
            &peers,
            "--cluster-token",
            TOKEN,
        ]);
        command.arg(if init { "--cluster-init" } else { "--join" });
        if let Some((brokers, topic)) = &kafka {
            command.args(["--kafka-brokers", brokers, "--kafka-topic", topic]);
        }
        let child = command
            .env("LOYALTY_LOG", "warn,loyalty_api::cluster=info")
            .env("NO_COLOR", "1")
            .stdout(match std::env::var_os("LOYALTY_CLUSTER_LOGS") {
                // A directory to keep each replica's log in, for a failure's post-mortem.
                Some(dir) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(PathBuf::from(dir).join(format!("replica-{}.log", r.id)))
                        .unwrap(),
                ),
                None => Stdio::null(),
            })
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server binary");
        r.child = Some(child);
    }

    /// The replica that leads and takes calls.
    async fn leader(&self, within: Duration) -> usize {
        let until = Instant::now() + within;
        loop {
            for (i, r) in self.replicas.iter().enumerate() {
                if r.child.is_none() {
                    continue;
                }
                let Ok(ch) = tonic::transport::Endpoint::from_shared(r.url())
                    .unwrap()
                    .connect()
                    .await
                else {
                    continue;
                };
                let mut admin = AdminServiceClient::new(ch);
                if admin.status(admin_req(pb::StatusRequest {})).await.is_ok() {
                    return i;
                }
            }
            assert!(
                Instant::now() < until,
                "no leader took calls within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn status(&self, i: usize) -> Option<pb::ClusterStatusReply> {
        let ch = tonic::transport::Endpoint::from_shared(self.replicas[i].url())
            .unwrap()
            .connect()
            .await
            .ok()?;
        ClusterServiceClient::new(ch)
            .cluster_status(admin_req(pb::ClusterStatusRequest {}))
            .await
            .ok()
            .map(|r| r.into_inner())
    }

    /// Waits until every running replica has applied the leader's whole log.
    async fn caught_up(&self, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let leader = self.leader(within).await;
            let last = self.status(leader).await.map(|s| s.last_log_index);
            let mut all = true;
            for i in 0..self.replicas.len() {
                if self.replicas[i].child.is_some() {
                    let applied = self.status(i).await.map(|s| s.applied_index);
                    all &= applied.is_some() && applied == last;
                }
            }
            if all {
                return;
            }
            if Instant::now() > until {
                let mut seen = Vec::new();
                for i in 0..self.replicas.len() {
                    seen.push(self.status(i).await);
                }
                panic!("the replicas did not catch up: {seen:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every replica and returns each one's `verify-data` digests, checking that
    /// each state is the rebuild of its log.
    fn digests(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in &mut self.replicas {
            r.stop();
            let v = Command::new(env!("CARGO_BIN_EXE_loyalty-test-admin"))
                .args(["--data-dir", r.data.to_str().unwrap(), "verify-data"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&v.stdout).into_owned();
            assert!(
                v.status.success() && text.contains("equal=true"),
                "replica {}: {text}{}",
                r.id,
                String::from_utf8_lossy(&v.stderr)
            );
            let line = |p: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(p))
                    .unwrap()
                    .to_owned()
            };
            out.push((line("state sha256 "), line("log sha256 ")));
        }
        out
    }
}

/// Tills that follow the leader: every operation is sent until it is answered, to whichever
/// replica leads, with the same operation id.
#[derive(Clone)]
struct Follower {
    urls: Vec<String>,
    current: Arc<Mutex<String>>,
    secrets: Arc<Vec<(u32, String)>>,
}

/// An answer a till got: which operation, what it said, when.
#[derive(Clone)]
struct Ack {
    till: u32,
    /// A confirmation (its accrual is credited), not a registration.
    confirm: bool,
    op: String,
    reply: pb::ChequeReply,
    at: Instant,
}

impl Follower {
    async fn till(&self, url: &str, id: u32) -> Option<Till> {
        let ch = tonic::transport::Endpoint::from_shared(url.to_owned())
            .unwrap()
            .connect_timeout(Duration::from_millis(300))
            .timeout(Duration::from_secs(3))
            .connect()
            .await
            .ok()?;
        let secret = self.secrets.iter().find(|(i, _)| *i == id)?.1.clone();
        Some(Till {
            client: CashServiceClient::new(ch),
            id,
            secret,
        })
    }

    /// Sends `call` until a replica answers it.
    async fn until_answered<F, Fut>(&self, id: u32, call: F) -> pb::ChequeReply
    where
        F: Fn(Till) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<pb::ChequeReply>, tonic::Status>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(tries < 2_000, "no replica answered for a minute and more");
            let url = self.current.lock().unwrap().clone();
            let sent = match self.till(&url, id).await {
                Some(till) => Some(call(till).await),
                None => None,
            };
            match sent {
                Some(Ok(r)) => return r.into_inner(),
                Some(Err(s)) => {
                    if let Some(l) = s
                        .metadata()
                        .get(LEADER_HEADER)
                        .and_then(|v| v.to_str().ok())
                    {
                        *self.current.lock().unwrap() = format!("http://{l}");
                        continue;
                    }
                }
                None => {}
            }
            // Down, or no leader known yet: try the next replica shortly.
            let next = {
                let i = self.urls.iter().position(|u| *u == url).unwrap_or(0);
                self.urls[(i + 1) % self.urls.len()].clone()
            };
            *self.current.lock().unwrap() = next;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Purchases of 100.00 (register, then confirm) from till `id` until `stop`; each
    /// purchase begun is finished.
    async fn buy(
        self,
        id: u32,
        round: u32,
        stop: Arc<AtomicBool>,
        acks: Arc<Mutex<Vec<Ack>>>,
    ) -> u64 {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let cheque_id = format!("t{id}-{round}-{n}");
            let register = pb::RegisterPurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque: Some(cheque(&cheque_id, CARD, vec![line("bread", "1", "100")])),
            };
            let confirm = pb::PurchaseRequest {
                operation_id: op(),
                slip_width: 0,
                cheque_id,
            };
            let registered = self
                .until_answered(id, |mut t| {
                    let body = register.clone();
                    async move { t.client.register_purchase(t.req(body)).await }
                })
                .await;
            record(&acks, id, false, &register.operation_id, registered);
            let confirmed = self
                .until_answered(id, |mut t| {
                    let body = confirm.clone();
                    async move { t.client.confirm(t.req(body)).await }
                })
                .await;
            record(&acks, id, true, &confirm.operation_id, confirmed);
            n += 1;
        }
        n
    }
}

/// A purchase step answered: it succeeded, and when.
fn record(acks: &Mutex<Vec<Ack>>, till: u32, confirm: bool, op: &str, reply: pb::ChequeReply) {
    assert_eq!(reply.outcome, pb::Outcome::Ok as i32, "{}", reply.message);
    acks.lock().unwrap().push(Ack {
        till,
        confirm,
        op: op.to_owned(),
        reply,
        at: Instant::now(),
    });
}

/// The programme, the card and `tills` tills, through the leader.
async fn setup(c: &TestCluster, tills: u32) -> Follower {
    let leader = c.leader(Duration::from_secs(30)).await;
    let ch = channel(&c.replicas[leader].url()).await;
    let mut admin = AdminServiceClient::new(ch.clone());
    setup_program(&mut admin).await;
    issue_card(&mut admin, CARD, pb::CardStatus::Activated).await;
    let mut secrets = Vec::new();
    for id in 1..=tills {
        let t = register_till(&mut admin, ch.clone(), id, pb::CashboxKind::Pos).await;
        secrets.push((id, t.secret));
    }
    Follower {
        urls: c.replicas.iter().map(Replica::url).collect(),
        current: Arc::new(Mutex::new(c.replicas[leader].url())),
        secrets: Arc::new(secrets),
    }
}

/// Every acknowledged operation answers `GetOperation` with its original answer on the
/// leader, and the card's balance is the sum of the accruals its confirmations reported:
/// each purchase earned exactly once.
async fn check_acknowledged(c: &TestCluster, f: &Follower, acks: &[Ack]) {
    let leader = c.leader(Duration::from_secs(30)).await;
    let url = c.replicas[leader].url();
    let mut tills = std::collections::BTreeMap::new();
    for a in acks {
        if let std::collections::btree_map::Entry::Vacant(v) = tills.entry(a.till) {
            v.insert(f.till(&url, a.till).await.unwrap());
        }
        let till = tills.get_mut(&a.till).unwrap();
        let s = till
            .client
            .get_operation(till.req(pb::GetOperationRequest {
                operation_id: a.op.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(s.found, "acknowledged operation {} is missing", a.op);
        let mut stored = s.reply.unwrap();
        let mut original = a.reply.clone();
        stored.replayed = false;
        original.replayed = false;
        assert_eq!(stored, original, "operation {} answers differently", a.op);
    }
    let mut till = f.till(&url, 1).await.unwrap();
    let bal = balance_of(&mut till, CARD).await;
    let points = |s: &str| loyalty_core::amount::Points::parse(s).unwrap().minor();
    let earned: i64 = acks
        .iter()
        .filter(|a| a.confirm)
        .map(|a| points(&a.reply.totals.as_ref().unwrap().accrual))
        .sum();
    assert!(earned > 0);
    assert_eq!(
        points(&bal.balance.unwrap().balance),
        earned,
        "each purchase earns once"
    );
}

fn assert_equal_digests(d: &[(String, String)]) {
    assert!(d.windows(2).all(|w| w[0] == w[1]), "replicas differ: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_under_load_loses_no_acknowledged_operation() {
    // With a broker, the relay moves with the leader: no event may be missing downstream.
    let kafka = crate::kafka::brokers()
        .map(|b| (b, format!("test.cluster.{}", uuid::Uuid::new_v4().simple())));
    let mut c = TestCluster::start_at(&TestCluster::addrs(), |_, _| None, kafka.clone());
    let follower = setup(&c, 4).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let load: Vec<_> = (1..=4)
        .map(|id| tokio::spawn(follower.clone().buy(id, 0, stop.clone(), acks.clone())))
        .collect();
    // Three kills in CI; LOYALTY_CLUSTER_KILLS=200 for the long run (see docs/testing.md).
    let kills: u32 = std::env::var("LOYALTY_CLUSTER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // The load generator's flows too, from tills of its own, following the leader.
    let servers: Vec<String> = c.replicas.iter().map(Replica::url).collect();
    let generator = Command::new(env!("CARGO_BIN_EXE_loyalty-test-load"))
        .args([
            "--server",
            &servers.join(","),
            "--token",
            ADMIN_TOKEN,
            "--tills",
            "10",
            "--cards",
            "100",
            "--concurrency",
            "8",
            "--connections",
            "2",
            "--warmup-secs",
            "0",
            "--duration-secs",
            &(4 * u64::from(kills) + 3).to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the load generator starts");
    // Its setup (cashboxes, cards) goes to the leader before the first kill.
    let mut generator = generator;
    let lines = std::io::BufRead::lines(std::io::BufReader::new(generator.stderr.take().unwrap()));
    let (ready, is_ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.starts_with("set up;") {
                let _ = ready.send(());
            }
            eprintln!("load generator: {line}");
        }
    });
    tokio::task::spawn_blocking(move || is_ready.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the load generator set up");
    let mut failovers = Vec::new();
    for round in 0..kills {
        tokio::time::sleep(Duration::from_millis(
            700 + u64::from(round.wrapping_mul(7919) % 600),
        ))
        .await;
        let leader = c.leader(Duration::from_secs(30)).await;
        c.replicas[leader].kill();
        let killed_at = Instant::now();
        // Failover: from the old leader's last answer to the first answer after the kill.
        let until = Instant::now() + Duration::from_secs(30);
        let failover = loop {
            let (before, after) = {
                let a = acks.lock().unwrap();
                (
                    a.iter().filter(|x| x.at <= killed_at).map(|x| x.at).max(),
                    a.iter().filter(|x| x.at > killed_at).map(|x| x.at).min(),
                )
            };
            if let (Some(b), Some(a)) = (before, after) {
                break a - b;
            }
            assert!(Instant::now() < until, "no answer after killing the leader");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        failovers.push(failover);
        c.spawn(leader, false);
    }
    stop.store(true, Ordering::Relaxed);
    let mut purchases = 0;
    for l in load {
        purchases += l.await.unwrap();
    }
    let generated = tokio::task::spawn_blocking(move || generator.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let report = String::from_utf8_lossy(&generated.stdout).into_owned();
    assert!(generated.status.success(), "{report}");
    // Every flow of the generator finished: each operation answered by some leader.
    assert!(report.contains(" 0 failed flows"), "{report}");
    assert!(report.contains("leader changes followed"), "{report}");
    eprintln!("load generator during the kills:\n{report}");
    failovers.sort();
    eprintln!(
        "{kills} leader kills under load: {purchases} purchases; failover (last answer of the old \
         leader to the first of the new): min {:?}, median {:?}, max {:?}",
        failovers[0],
        failovers[failovers.len() / 2],
        failovers[failovers.len() - 1]
    );
    let acks = acks.lock().unwrap().clone();
    assert!(purchases > 20, "the load made progress: {purchases}");
    c.caught_up(Duration::from_secs(60)).await;
    check_acknowledged(&c, &follower, &acks).await;
    if let Some((brokers, topic)) = &kafka {
        every_event_published(&c, brokers, topic).await;
    }
    assert_equal_digests(&c.digests());
}

/// The leader's relay drains the outbox, and the topic holds every event of the log at
/// least once — whichever replica published it, from the replicated cursor.
async fn every_event_published(c: &TestCluster, brokers: &str, topic: &str) {
    let leader = c.leader(Duration::from_secs(30)).await;
    let mut admin = AdminServiceClient::new(channel(&c.replicas[leader].url()).await);
    crate::kafka::outbox_drained(&mut admin).await;
    let events = admin
        .verify(admin_req(pb::VerifyRequest { rewrite: false }))
        .await
        .unwrap()
        .into_inner()
        .events;
    let mut seen = std::collections::HashSet::new();
    let mut counted = 0;
    let got = crate::kafka::consume(brokers, topic, Duration::from_secs(90), |m| {
        seen.extend(m[counted..].iter().map(|c| c.envelope.event_id));
        counted = m.len();
        seen.len() as u64 >= events
    })
    .await;
    let ids: std::collections::BTreeSet<u64> = got.iter().map(|c| c.envelope.event_id).collect();
    let missing: Vec<u64> = (1..=events).filter(|i| !ids.contains(i)).collect();
    assert!(
        missing.is_empty() && ids.len() as u64 == events,
        "{} of {events} events missing downstream after failovers (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!(
        "{events} events, {} messages ({} duplicates)",
        got.len(),
        got.len() as u64 - events
    );
}

/// A TCP proxy the test can cut: refuses new connections and drops open ones while cut.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn to(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (o, cs) = (open.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                cs.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { addr, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_acknowledges_nothing_and_rejoins_as_a_follower() {
    // Replica i reaches replica j through proxy (i, j), so the test can cut any link.
    let addrs = TestCluster::addrs();
    let mut proxies = std::collections::BTreeMap::new();
    for i in 1..=3u64 {
        for j in (1..=3u64).filter(|j| *j != i) {
            proxies.insert((i, j), Proxy::to(addrs[(j - 1) as usize]).await);
        }
    }
    let dial: std::collections::BTreeMap<(u64, u64), SocketAddr> =
        proxies.iter().map(|(k, p)| (*k, p.addr)).collect();
    let mut c = TestCluster::start_at(&addrs, move |i, j| dial.get(&(i, j)).copied(), None);
    let follower = setup(&c, 1).await;
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // A few purchases before the cut.
    let before = {
        let (s, a, f) = (stop.clone(), acks.clone(), follower.clone());
        let task = tokio::spawn(f.buy(1, 0, s, a));
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        task.await.unwrap()
    };
    let old = c.leader(Duration::from_secs(30)).await;
    let old_id = old as u64 + 1;
    let old_term = c.status(old).await.unwrap().term;
    for ((i, j), p) in &proxies {
        if *i == old_id || *j == old_id {
            p.cut();
        }
    }
    // The cut-off leader takes the purchase but cannot acknowledge it.
    let mut till = follower.till(&c.replicas[old].url(), 1).await.unwrap();
    let stranded = pb::RegisterPurchaseRequest {
        operation_id: op(),
        slip_width: 0,
        cheque: Some(cheque("cut-off", CARD, vec![line("bread", "1", "100")])),
    };
    let answered = tokio::time::timeout(
        Duration::from_secs(3),
        till.client.register_purchase(till.req(stranded.clone())),
    )
    .await;
    assert!(
        !matches!(answered, Ok(Ok(_))),
        "the cut-off leader acknowledged: {answered:?}"
    );
    // The majority elects a leader of a later term and goes on.
    let until = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let mut found = None;
        for i in (0..3).filter(|i| *i != old) {
            if let Some(s) = c.status(i).await {
                if s.role == "Leader" && s.term > old_term {
                    found = Some(i);
                }
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(Instant::now() < until, "the majority elected no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    *follower.current.lock().unwrap() = c.replicas[new].url();
    stop.store(false, Ordering::Relaxed);
    let after = {
        let (s, a, f) = (stop.clone(), acks.clone(), follower.clone());
        let task = tokio::spawn(f.buy(1, 1, s, a));
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        task.await.unwrap()
    };
    assert!(
        before > 0 && after > 0,
        "purchases before the cut, and the majority went on"
    );
    // Healed: the old leader follows the new one and converges.
    for p in proxies.values() {
        p.heal();
    }
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let s = c.status(old).await;
        if s.as_ref()
            .is_some_and(|s| s.role == "Follower" && s.leader_id == new as u64 + 1)
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "the old leader did not follow: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The stranded purchase, sent again with its operation id, is done exactly once.
    let r = follower
        .until_answered(1, |mut t| {
            let body = stranded.clone();
            async move { t.client.register_purchase(t.req(body)).await }
        })
        .await;
    assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
    c.caught_up(Duration::from_secs(60)).await;
    let acks = acks.lock().unwrap().clone();
    check_acknowledged(&c, &follower, &acks).await;
    assert_equal_digests(&c.digests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_lost_its_disk_rejoins_from_a_snapshot() {
    let mut c = TestCluster::start(|_, _| None);
    let follower = setup(&c, 2).await;
    let leader = c.leader(Duration::from_secs(30)).await;
    // A follower does nothing and names the leader.
    let other = (leader + 2) % 3;
    let mut till = follower.till(&c.replicas[other].url(), 1).await.unwrap();
    let refused = till
        .client
        .balance(till.req(pb::BalanceRequest {
            card: CARD.into(),
            identifiers: Vec::new(),
            as_of: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused
            .metadata()
            .get(LEADER_HEADER)
            .unwrap()
            .to_str()
            .unwrap(),
        c.replicas[leader].addr.to_string()
    );
    // Health checks find the leader: the cash service serves there only.
    for (i, serving) in [(other, false), (leader, true)] {
        let mut health =
            tonic_health::pb::health_client::HealthClient::new(channel(&c.replicas[i].url()).await);
        let h = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "loyalty.v1.CashService".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let expected = if serving {
            tonic_health::pb::health_check_response::ServingStatus::Serving
        } else {
            tonic_health::pb::health_check_response::ServingStatus::NotServing
        };
        assert_eq!(h.status, expected as i32, "replica {}", i + 1);
    }
    let lost = (leader + 1) % 3;
    c.replicas[lost].kill();
    std::fs::remove_dir_all(&c.replicas[lost].data).unwrap();
    // The operator's procedure: the lost replica leaves the voters before it comes back
    // empty, so that it never votes as if it had no data to lose.
    let mut cluster = ClusterServiceClient::new(channel(&c.replicas[leader].url()).await);
    let s = cluster
        .remove_replica(admin_req(pb::RemoveReplicaRequest {
            id: lost as u64 + 1,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(s.replicas.iter().all(|r| r.id != lost as u64 + 1), "{s:?}");
    // Far more entries than the snapshot interval, so the leader's log no longer starts at
    // the beginning.
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let load: Vec<_> = (1..=2)
        .map(|id| tokio::spawn(follower.clone().buy(id, 0, stop.clone(), acks.clone())))
        .collect();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let s = c.status(leader).await.unwrap();
        if s.last_log_index > 600 {
            break;
        }
        assert!(Instant::now() < until, "the load did not reach 600 entries");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The leader's log no longer starts at the beginning: only a snapshot can bring the
    // lost replica back.
    let until = Instant::now() + Duration::from_secs(30);
    while c.status(leader).await.unwrap().purged_index == 0 {
        assert!(Instant::now() < until, "the leader kept its whole log");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.spawn(lost, false);
    let s = cluster
        .add_replica(admin_req(pb::AddReplicaRequest {
            id: lost as u64 + 1,
            address: c.replicas[lost].addr.to_string(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        s.replicas
            .iter()
            .any(|r| r.id == lost as u64 + 1 && r.voter),
        "{s:?}"
    );
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    c.caught_up(Duration::from_secs(60)).await;
    let rejoined = c.status(lost).await.unwrap();
    assert!(rejoined.snapshot_index > 0, "{rejoined:?}");
    let acks = acks.lock().unwrap().clone();
    check_acknowledged(&c, &follower, &acks).await;
    assert_equal_digests(&c.digests());
}

/// Starts the server binary with `args` and returns what it said when it refused to start.
fn refused_start(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty-test-server"))
        .args(args)
        .env("LOYALTY_LOG", "off")
        .output()
        .expect("the server binary runs");
    assert!(!out.status.success(), "it started: {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_replica_without_the_shared_key_or_empty_without_join_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("server.ed25519");
    let listen = free_addr().to_string();
    let peers = format!("1={listen}");
    let common = [
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &listen,
        "--metrics-listen",
        "off",
        "--node-id",
        "1",
        "--peers",
        &peers,
        "--cluster-token",
        TOKEN,
        "--signing-key-file",
        key.to_str().unwrap(),
    ];
    // A replica never makes a signing key of its own: the others would refuse it.
    let said = refused_start(&common);
    assert!(
        said.contains("signing_key_file") && said.contains("missing"),
        "{said}"
    );
    assert!(!key.exists());
    // With the key, an empty data directory needs --join (or --cluster-init): a replica that
    // lost its data must not vote as if it had none.
    std::fs::write(&key, hex::encode(rand_seed())).unwrap();
    let said = refused_start(&common);
    assert!(
        said.contains("--join") && said.contains("remove-replica"),
        "{said}"
    );
}
