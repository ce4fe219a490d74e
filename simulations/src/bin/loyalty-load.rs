// Latency and rate reporting uses floats; no money flows through this binary.
#![allow(clippy::float_arithmetic)]

//! Load generator: realistic purchase flows from many simulated cashboxes against a running
//! server over gRPC. Closed loop (`--concurrency` flows in flight) or open loop (`--rate`
//! flows started per second whatever the latency). Reports throughput and latency
//! percentiles per command.

use anyhow::{bail, Context};
use clap::Parser;
use loyalty_proto::metadata::{
    ADMIN_TOKEN_HEADER, CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER, LEADER_HEADER,
};
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use loyalty_proto::pb::cash_service_client::CashServiceClient;
use loyalty_sim::latency::Latencies;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tonic::codegen::http;

#[derive(Parser, Clone)]
#[command(about = "Drive purchase flows against a loyalty server and report latencies")]
struct Args {
    /// The server (`http://host:port`), or every replica of a cluster, comma-separated: the
    /// generator talks to the leader and, when an answer says it is not (or it goes away),
    /// follows the leader and resends the operation with the same id.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The admin token, for setting up the cashboxes, cards, products and offers the flows
    /// use; by default read from DATA_DIR/admin.token.
    #[arg(long, env = "LOYALTY_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The server's data directory (on this machine), read only for its admin token when
    /// --token is not given.
    #[arg(long, default_value = "data")]
    data_dir: std::path::PathBuf,
    /// Keep the set-up cashboxes and cards in this file and use them again on the next run
    /// against the same server (setting up 1,000 tills and 100,000 cards takes a minute).
    #[arg(long)]
    reuse: Option<std::path::PathBuf>,
    /// Simulated cashboxes.
    #[arg(long, default_value_t = 1000)]
    tills: u32,
    /// Cards in use.
    #[arg(long, default_value_t = 10_000)]
    cards: u64,
    /// Steady-state seconds measured, after the warm-up.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Seconds of load before the measured part. Operations that start in them are reported
    /// on a line of their own, apart from the per-command table (0: none).
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Flows in flight (closed loop); ignored with --rate.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Flows started per second (open loop). Each flow is 3-5 operations (`full`) or 2
    /// (`purchase`).
    #[arg(long)]
    rate: Option<u64>,
    /// gRPC connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Generator threads. One thread drives every connection without cross-thread
    /// wake-ups, which leaves the most CPU to a server on the same machine.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// `full`: calculate → (pay) → register → confirm/cancel (+ balance); `purchase`:
    /// register → confirm only (two durable operations, the peer comparison's purchase);
    /// `balance`: one balance read per flow (reads only).
    #[arg(long, default_value = "full")]
    flow: String,
    /// Also write the steady state second by second (operations, p50, p99, max) as CSV.
    #[arg(long)]
    timeline: Option<std::path::PathBuf>,
    /// Also write the latency percentiles per command as an SVG plot.
    #[arg(long)]
    svg: Option<std::path::PathBuf>,
    /// Drive the purchase flow (registration, confirmation) through the Loymax-compatible
    /// XML endpoint at this address (`http://host:port`) instead of gRPC: one HTTP/1.1
    /// connection per flow in flight, closed loop.
    #[arg(long)]
    xml: Option<String>,
}

// The generator shares the machine's cores with the server: the allocator the server uses.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One HTTP/2 connection driven by hyper directly: a request goes from the flow's task to
/// the connection's task, with no buffer task in between, which keeps the generator's own
/// CPU use down on the cores it shares with the server.
#[derive(Clone)]
struct Conn(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

type Answer = http::Response<hyper::body::Incoming>;

impl Conn {
    async fn open(server: &http::Uri) -> anyhow::Result<Conn> {
        if server.scheme_str() != Some("http") {
            bail!("--server {server}: the generator speaks plain HTTP/2 (http://host:port)");
        }
        let addr = server.authority().context("--server needs host:port")?;
        let tcp = tokio::net::TcpStream::connect(addr.as_str())
            .await
            .with_context(|| addr.to_string())?;
        // Small request/answer exchanges must not wait for Nagle's algorithm.
        tcp.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake(hyper_util::rt::TokioIo::new(tcp))
                .await?;
        tokio::spawn(conn);
        Ok(Conn(send))
    }
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Conn {
    type Response = Answer;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// Where the flows' calls go: the server, or the leader among a cluster's replicas.
struct Route {
    servers: Vec<http::Uri>,
    connections: usize,
    current: tokio::sync::RwLock<Current>,
    /// Calls sent again after a failover, and leader changes followed (a call answered by
    /// another replica than the last answer came from).
    resent: std::sync::atomic::AtomicU64,
    followed: std::sync::atomic::AtomicU64,
    answered_by: std::sync::atomic::AtomicUsize,
}

struct Current {
    leader: usize,
    /// Counts the switches, so that of many calls failing at once one switches.
    generation: u64,
    channels: Vec<Conn>,
}

/// How long a flow keeps resending an operation while a cluster elects a leader.
const FAILOVER_WAIT_MAX: Duration = Duration::from_secs(30);

impl Route {
    async fn open(
        servers: Vec<http::Uri>,
        leader: usize,
        connections: usize,
    ) -> anyhow::Result<Route> {
        let mut channels = Vec::new();
        for _ in 0..connections.max(1) {
            channels.push(Conn::open(&servers[leader]).await?);
        }
        Ok(Route {
            servers,
            connections: connections.max(1),
            current: tokio::sync::RwLock::new(Current {
                leader,
                generation: 0,
                channels,
            }),
            resent: std::sync::atomic::AtomicU64::new(0),
            followed: std::sync::atomic::AtomicU64::new(0),
            answered_by: std::sync::atomic::AtomicUsize::new(leader),
        })
    }

    async fn client(&self, n: u64) -> (CashServiceClient<Conn>, u64, usize) {
        let c = self.current.read().await;
        let conn = c.channels[(n % c.channels.len() as u64) as usize].clone();
        (
            CashServiceClient::with_origin(conn, self.servers[c.leader].clone()),
            c.generation,
            c.leader,
        )
    }

    fn answered(&self, by: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.answered_by.swap(by, Relaxed) != by {
            self.followed.fetch_add(1, Relaxed);
        }
    }

    /// After a call on `generation` failed: connects to the leader the answer named, else
    /// to the next replica (once per generation, however many calls failed).
    async fn fail_over(&self, generation: u64, named: Option<&str>) {
        let mut c = self.current.write().await;
        if c.generation != generation {
            return;
        }
        let next = named
            .and_then(|n| {
                self.servers
                    .iter()
                    .position(|u| u.authority().is_some_and(|a| a.as_str() == n))
            })
            .unwrap_or((c.leader + 1) % self.servers.len());
        if named.is_none() {
            // No leader known yet: an election is under way.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut channels = Vec::new();
        for _ in 0..self.connections {
            match Conn::open(&self.servers[next]).await {
                Ok(conn) => channels.push(conn),
                Err(_) => break,
            }
        }
        if channels.len() == self.connections {
            c.channels = channels;
        }
        c.leader = next;
        c.generation += 1;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlowKind {
    Full,
    Purchase,
    Balance,
}

struct Ctx {
    kind: FlowKind,
    tills: Vec<(u32, String)>,
    route: Option<Route>,
    run: u64,
    cards: u64,
    latencies: Mutex<Latencies>,
}

fn req<T>(till: &(u32, String), body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut().insert(
        CASHBOX_ID_HEADER,
        till.0.to_string().parse().expect("digits"),
    );
    r.metadata_mut()
        .insert(CASHBOX_SECRET_HEADER, till.1.parse().expect("ascii"));
    r
}

fn op() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Ctx {
    /// One call of a flow, resent with the same body to the leader while a cluster fails
    /// over (a single server's failure is the flow's).
    async fn call<T, F, Fut>(&self, n: u64, call: F) -> anyhow::Result<T>
    where
        F: Fn(CashServiceClient<Conn>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let route = self.route.as_ref().context("no server")?;
        let until = Instant::now() + FAILOVER_WAIT_MAX;
        let mut again = false;
        loop {
            let (client, generation, by) = route.client(n).await;
            if again {
                route
                    .resent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            again = true;
            match call(client).await {
                Ok(r) => {
                    route.answered(by);
                    return Ok(r.into_inner());
                }
                Err(s)
                    if route.servers.len() > 1
                        && Instant::now() < until
                        && matches!(
                            s.code(),
                            tonic::Code::Unavailable
                                | tonic::Code::Unknown
                                | tonic::Code::Cancelled
                        ) =>
                {
                    let named = s
                        .metadata()
                        .get(LEADER_HEADER)
                        .and_then(|v| v.to_str().ok());
                    route.fail_over(generation, named).await;
                    // A replica that is down or not yet sure of its term is asked again a
                    // little later, not in a tight loop.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(s) => return Err(s.into()),
            }
        }
    }

    fn card(&self, n: u64) -> String {
        format!("9{:05}{:09}", self.run % 100_000, n % self.cards)
    }

    fn record(&self, name: &'static str, started: Instant) {
        let answered = Instant::now();
        self.latencies
            .lock()
            .expect("lock")
            .record(name, started, answered);
    }

    /// calculate → (pay 1 point) → register → confirm or cancel, sometimes a balance check.
    /// In an open loop, `due` is when the flow was scheduled to start: its first operation's
    /// latency counts from then, so a late start (the generator or the machine busy) is not
    /// hidden from the figures.
    async fn flow(&self, n: u64, mut due: Option<Instant>) -> anyhow::Result<()> {
        let till = &self.tills[(n % self.tills.len() as u64) as usize];
        let card = self.card(n.wrapping_mul(2_654_435_761));
        let cheque = pb::Cheque {
            cheque_id: format!("L{}-{n}", self.run),
            card: card.clone(),
            local_time: "2026-11-23T12:00:00".into(),
            cashier: format!("cashier-{}", n % 7),
            identifiers: Vec::new(),
            pin: String::new(),
            tenders: Vec::new(),
            lines: (0..3)
                .map(|l| pb::Line {
                    product: format!("p{}", (n + l) % 50),
                    quantity: "1".into(),
                    price: format!("{}.99", 50 + (n + l) % 200),
                    ..Default::default()
                })
                .collect(),
            coupons: Vec::new(),
            order: String::new(),
        };
        // The purchase-only flow (peer comparison) skips the preview and the payment.
        if self.kind == FlowKind::Balance {
            let t = due.take().unwrap_or_else(Instant::now);
            let body = pb::BalanceRequest {
                card,
                identifiers: Vec::new(),
                as_of: String::new(),
            };
            self.call(n, |mut c| {
                let r = req(till, body.clone());
                async move { c.balance(r).await }
            })
            .await?;
            self.record("Balance", t);
            return Ok(());
        }
        if self.kind == FlowKind::Full {
            let t = due.take().unwrap_or_else(Instant::now);
            let body = pb::CalculateRequest {
                cheque: Some(cheque.clone()),
                slip_width: 0,
            };
            let calc = self
                .call(n, |mut c| {
                    let r = req(till, body.clone());
                    async move { c.calculate(r).await }
                })
                .await?;
            self.record("Calculate", t);
            let spendable = calc.balance.map(|b| b.spendable).unwrap_or_default();
            if n.is_multiple_of(2) && spendable != "0.00" && !spendable.is_empty() {
                let t = Instant::now();
                let body = pb::PayWithBonusRequest {
                    operation_id: op(),
                    slip_width: 0,
                    cheque: Some(cheque.clone()),
                    points: "1".into(),
                };
                self.call(n, |mut c| {
                    let r = req(till, body.clone());
                    async move { c.pay_with_bonus(r).await }
                })
                .await?;
                self.record("PayWithBonus", t);
            }
        }
        let t = due.take().unwrap_or_else(Instant::now);
        let purchase_started = t;
        let body = pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque.clone()),
        };
        let reg = self
            .call(n, |mut c| {
                let r = req(till, body.clone());
                async move { c.register_purchase(r).await }
            })
            .await?;
        self.record("RegisterPurchase", t);
        if reg.outcome != pb::Outcome::Ok as i32 {
            bail!("register refused: {}", reg.message);
        }
        let t = Instant::now();
        let body = pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id: cheque.cheque_id,
        };
        if self.kind == FlowKind::Full && n % 10 == 9 {
            self.call(n, |mut c| {
                let r = req(till, body.clone());
                async move { c.cancel(r).await }
            })
            .await?;
            self.record("Cancel", t);
        } else {
            self.call(n, |mut c| {
                let r = req(till, body.clone());
                async move { c.confirm(r).await }
            })
            .await?;
            self.record("Confirm", t);
            self.latencies
                .lock()
                .expect("lock")
                .record_purchase(purchase_started, Instant::now());
        }
        if self.kind == FlowKind::Full && n.is_multiple_of(5) {
            let t = Instant::now();
            let body = pb::BalanceRequest {
                card,
                identifiers: Vec::new(),
                as_of: String::new(),
            };
            self.call(n, |mut c| {
                let r = req(till, body.clone());
                async move { c.balance(r).await }
            })
            .await?;
            self.record("Balance", t);
        }
        Ok(())
    }
}

/// The Loymax login of a generated cashbox.
fn xml_login(run: u64, cashbox: u32) -> String {
    format!("load-{run}-{cashbox}")
}

/// One HTTP/1.1 connection to the XML endpoint, one exchange at a time.
struct XmlConn {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    authority: String,
}

impl XmlConn {
    async fn open(server: &str) -> anyhow::Result<XmlConn> {
        let uri: http::Uri = server.parse().context("--xml")?;
        let authority = uri
            .authority()
            .context("--xml needs host:port")?
            .to_string();
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .with_context(|| authority.clone())?;
        tcp.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(XmlConn { send, authority })
    }

    /// POSTs one document as the till; fails unless the document and its request answer
    /// `ErrorCode` 0.
    async fn post(&mut self, till: &(u32, String), login: &str, doc: String) -> anyhow::Result<()> {
        use base64::Engine as _;
        use http_body_util::BodyExt;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{login}:{}", till.1));
        let req = http::Request::post(format!("/XmlExchange/SET/{login}/"))
            .header(http::header::HOST, &self.authority)
            .header(http::header::AUTHORIZATION, format!("Basic {credentials}"))
            .header(http::header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(http_body_util::Full::new(bytes::Bytes::from(doc)))?;
        self.send.ready().await?;
        let answer = self.send.send_request(req).await?;
        let status = answer.status();
        let body = answer.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&body);
        if !status.is_success()
            || !text.contains("<ErrorCode>0</ErrorCode>")
            || !text.contains("ErrorCode=\"0\"")
        {
            bail!("XML answer {status}: {text}");
        }
        Ok(())
    }
}

impl Ctx {
    /// The purchase flow through the XML endpoint: the cheque registered (`Discounts`),
    /// then confirmed (`Confirms`), each one document.
    async fn flow_xml(&self, conn: &mut XmlConn, n: u64) -> anyhow::Result<()> {
        let till = &self.tills[(n % self.tills.len() as u64) as usize];
        let login = xml_login(self.run, till.0);
        let card = self.card(n.wrapping_mul(2_654_435_761));
        let purchase = format!("X{}-{n}", self.run);
        let xml_op = || uuid::Uuid::new_v4().simple().to_string();
        let envelope = |inner: String| {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version>{inner}</XMLRequest>")
        };
        let lines: String = (0..3)
            .map(|l| {
                let price = format!("{}.99", 50 + (n + l) % 200);
                format!(
                    "<ChequeLine PosID=\"{}\" Amount=\"{price}\" Name=\"Товар\" GoodsId=\"p{}\" Price=\"{price}\" Quantity=\"1.000\"/>",
                    l + 1,
                    (n + l) % 50
                )
            })
            .collect();
        let register = envelope(format!(
            "<Discounts><DiscountRequest OperationID=\"{}\" OperationDate=\"2026-11-23T12:00:00.000+03:00\" ElementID=\"1\" PurchaseID=\"{purchase}\"><Identifier Type=\"Auto\" Value=\"{card}\"/><Cheque ChequeDate=\"2026-11-23T12:00:00.000+03:00\">{lines}</Cheque></DiscountRequest></Discounts>",
            xml_op()
        ));
        let t = Instant::now();
        conn.post(till, &login, register).await?;
        self.record("RegisterPurchase", t);
        let confirm = envelope(format!(
            "<Confirms><ConfirmRequest OperationID=\"{}\" OperationDate=\"2026-11-23T12:00:00.000+03:00\" ElementID=\"1\" PurchaseID=\"{purchase}\"/></Confirms>",
            xml_op()
        ));
        let t = Instant::now();
        conn.post(till, &login, confirm).await?;
        self.record("Confirm", t);
        Ok(())
    }
}

fn admin_req<T>(token: &str, body: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut().insert(ADMIN_TOKEN_HEADER, token.parse()?);
    Ok(r)
}

/// The server that takes admin calls: the one, or the leader among replicas.
async fn leader(servers: &[http::Uri], token: &str) -> anyhow::Result<usize> {
    for _ in 0..600 {
        for (i, s) in servers.iter().enumerate() {
            let Ok(mut admin) = AdminServiceClient::connect(s.clone()).await else {
                continue;
            };
            if admin
                .status(admin_req(token, pb::StatusRequest {})?)
                .await
                .is_ok()
            {
                return Ok(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("--server: none of {servers:?} takes admin calls")
}

/// A set-up cashbox: its id and secret.
type Cashbox = (u32, String);

/// A setup kept by `--reuse`: the run's number (it names the cards) and the tills, if the
/// file is there; refused when it was made for other counts.
fn read_setup(file: &std::path::Path, args: &Args) -> anyhow::Result<Option<(u64, Vec<Cashbox>)>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context(file.display().to_string()),
    };
    let mut lines = text.lines();
    let head: Vec<u64> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|w| {
            w.parse()
                .context("--reuse: the first line is `run tills cards`")
        })
        .collect::<anyhow::Result<_>>()?;
    let [run, tills, cards] = head[..] else {
        bail!(
            "--reuse {}: the first line is `run tills cards`",
            file.display()
        );
    };
    if tills != u64::from(args.tills) || cards != args.cards {
        bail!(
            "--reuse {}: set up for {tills} tills and {cards} cards, not {} and {}",
            file.display(),
            args.tills,
            args.cards
        );
    }
    let kept = lines
        .map(|l| {
            let (id, secret) = l
                .split_once(' ')
                .context("--reuse: `cashbox secret` lines")?;
            Ok((id.parse()?, secret.to_owned()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some((run, kept)))
}

fn write_setup(
    file: &std::path::Path,
    args: &Args,
    run: u64,
    tills: &[(u32, String)],
) -> anyhow::Result<()> {
    let mut text = format!("{run} {} {}\n", args.tills, args.cards);
    for (id, secret) in tills {
        text.push_str(&format!("{id} {secret}\n"));
    }
    std::fs::write(file, text).with_context(|| file.display().to_string())
}

/// Prints how far a long setup step is, every tenth of it.
fn progress(what: &str, done: u64, all: u64) {
    if all >= 1_000 && done.is_multiple_of(all / 10) {
        eprintln!("  {what}: {done} of {all}");
    }
}

async fn setup(
    args: &Args,
    server: &http::Uri,
    token: &str,
    run: u64,
) -> anyhow::Result<Vec<(u32, String)>> {
    let mut admin = AdminServiceClient::connect(server.clone())
        .await
        .with_context(|| server.to_string())?;
    let products = (0..50)
        .map(|i| pb::Product {
            code: format!("p{i}"),
            name: format!("product {i}"),
            group: format!("g{}", i % 5),
            barcodes: vec![],
            min_price: "1".into(),
            promotional: false,
        })
        .collect();
    admin
        .import_products(admin_req(
            token,
            pb::ImportProductsRequest {
                operation_id: op(),
                products,
            },
        )?)
        .await?;
    for (id, effect, pct, group) in [
        (9001, pb::OfferEffect::Accrual, "5", ""),
        (9002, pb::OfferEffect::Discount, "10", "g1"),
    ] {
        let offer = pb::Offer {
            id,
            name: "load".into(),
            effect: effect.into(),
            percent: pct.into(),
            group: group.into(),
            valid_from: "2020-01-01T00:00:00".into(),
            valid_to: "2030-01-01T00:00:00".into(),
            enabled: true,
            ..Default::default()
        };
        admin
            .upsert_offer(admin_req(
                token,
                pb::UpsertOfferRequest {
                    operation_id: op(),
                    offer: Some(offer),
                },
            )?)
            .await?;
    }
    let base = (run % 1000) as u32 * 100_000 + 1_000_000;
    let mut tills = Vec::new();
    for i in 0..args.tills {
        let r = admin
            .register_cashbox(admin_req(
                token,
                pb::RegisterCashboxRequest {
                    operation_id: op(),
                    cashbox_id: base + i,
                    store_id: 1 + i / 10,
                    kind: pb::CashboxKind::Pos.into(),
                    public_key: String::new(),
                    loymax_login: xml_login(run, base + i),
                },
            )?)
            .await?
            .into_inner();
        if r.outcome != pb::Outcome::Ok as i32 {
            bail!("register cashbox: {}", r.message);
        }
        tills.push((base + i, r.cashbox_secret));
        progress("cashboxes", u64::from(i) + 1, u64::from(args.tills));
    }
    let ctx = Ctx {
        kind: FlowKind::Full,
        tills: vec![],
        route: None,
        run,
        cards: args.cards,
        latencies: Mutex::new(Latencies::new(Instant::now())),
    };
    for n in 0..args.cards {
        admin
            .issue_card(admin_req(
                token,
                pb::IssueCardRequest {
                    operation_id: op(),
                    card: ctx.card(n),
                    card_type: "Load".into(),
                    status: pb::CardStatus::Activated.into(),
                    account: 0,
                    holder_name: String::new(),
                    holder_phone: String::new(),
                },
            )?)
            .await?;
        progress("cards", n + 1, args.cards);
    }
    Ok(tills)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let token = match &args.token {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(args.data_dir.join("admin.token"))
            .context("admin token")?
            .trim()
            .to_owned(),
    };
    let servers = args
        .server
        .split(',')
        .map(|s| s.trim().parse::<http::Uri>().context("--server"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let leader = leader(&servers, &token).await?;
    let (run, tills) = match args.reuse.as_deref().map(|f| (f, read_setup(f, &args))) {
        Some((file, Ok(Some(kept)))) => {
            eprintln!(
                "using the cashboxes and cards set up before ({})",
                file.display()
            );
            kept
        }
        Some((_, Err(e))) => return Err(e),
        _ => {
            let run = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            eprintln!(
                "setting up {} cashboxes and {} cards ...",
                args.tills, args.cards
            );
            let tills = setup(&args, &servers[leader], &token, run).await?;
            if let Some(file) = &args.reuse {
                write_setup(file, &args, run, &tills)?;
            }
            (run, tills)
        }
    };
    let route = Route::open(servers, leader, args.connections).await?;
    eprintln!(
        "set up; running {} s of warm-up and {} s measured ...",
        args.warmup_secs, args.duration_secs
    );
    if args.xml.is_some() && args.rate.is_some() {
        bail!("--xml drives a closed loop: leave out --rate");
    }
    let kind = match args.flow.as_str() {
        "full" => FlowKind::Full,
        "purchase" => FlowKind::Purchase,
        "balance" => FlowKind::Balance,
        other => bail!("--flow must be full, purchase or balance, not {other}"),
    };
    let ctx = Arc::new(Ctx {
        kind,
        tills,
        route: Some(route),
        run,
        cards: args.cards,
        latencies: Mutex::new(Latencies::new(
            Instant::now() + Duration::from_secs(args.warmup_secs),
        )),
    });
    let steady_from = ctx.latencies.lock().expect("lock").steady_from();
    let deadline = steady_from + Duration::from_secs(args.duration_secs);
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    match args.rate {
        Some(rate) => {
            let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
            let mut n = 0u64;
            while Instant::now() < deadline {
                let due = tick.tick().await.into_std();
                n += 1;
                let (ctx, errors) = (ctx.clone(), errors.clone());
                tasks.spawn(async move {
                    if ctx.flow(n, Some(due)).await.is_err() {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
                // A finished flow's task is released at once: an open-loop run starts
                // hundreds of thousands of them.
                while let Some(done) = tasks.try_join_next() {
                    done?;
                }
            }
        }
        None => {
            for w in 0..args.concurrency as u64 {
                let (ctx, errors) = (ctx.clone(), errors.clone());
                let stride = args.concurrency as u64;
                let mut xml = match &args.xml {
                    Some(server) => Some(XmlConn::open(server).await?),
                    None => None,
                };
                tasks.spawn(async move {
                    let mut n = w;
                    while Instant::now() < deadline {
                        let done = match xml.as_mut() {
                            Some(conn) => ctx.flow_xml(conn, n).await,
                            None => ctx.flow(n, None).await,
                        };
                        if let Err(e) = done {
                            if errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                                eprintln!("first failed flow: {e:#}");
                            }
                        }
                        n += stride;
                    }
                });
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    // Flows still in flight at the deadline finish their operations: the steady state
    // lasts until the last answer.
    let secs = steady_from.elapsed().as_secs_f64();
    let latencies = ctx.latencies.lock().expect("lock");
    let hists = latencies.steady();
    let total: u64 = hists.values().map(|h| h.len()).sum();
    let mode = args.rate.map_or(
        format!("closed loop, {} flows in flight", args.concurrency),
        |r| format!("open loop, {r} flows/s"),
    );
    let flows = hists.get("RegisterPurchase").map_or(0, |h| h.len());
    println!(
        "{mode}: {total} operations in {secs:.1} s = {:.0} ops/s, {:.0} purchases/s, {} failed flows",
        total as f64 / secs,
        flows as f64 / secs,
        errors.load(std::sync::atomic::Ordering::Relaxed)
    );
    if let Some(r) = ctx.route.as_ref().filter(|r| r.servers.len() > 1) {
        use std::sync::atomic::Ordering::Relaxed;
        println!(
            "{} leader changes followed, {} calls sent again with their operation ids",
            r.followed.load(Relaxed),
            r.resent.load(Relaxed)
        );
    }
    println!("| command | count | ops/s | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (name, h) in hists.iter() {
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            h.len(),
            h.len() as f64 / secs,
            ms(h, 0.5),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
    // A p99 over the whole run does not say whether every second was a little slow (a
    // queue) or a few seconds very slow (a stall): the seconds' own p99s do.
    const P99_TARGET_US: u64 = 10_000;
    let full = usize::try_from(args.duration_secs).unwrap_or(usize::MAX);
    if let Some(s) = latencies.seconds_p99(full, P99_TARGET_US) {
        println!(
            "per second, all commands: p99 median {:.2} ms, worst {:.2} ms (second {}); {} of {} seconds with p99 above {} ms",
            s.median_us as f64 / 1000.0,
            s.worst_us as f64 / 1000.0,
            s.worst_second,
            s.above,
            s.seconds,
            P99_TARGET_US / 1000
        );
    }
    if let Some(path) = &args.timeline {
        std::fs::write(path, latencies.timeline_csv())
            .with_context(|| path.display().to_string())?;
    }
    let purchases = latencies.purchases();
    if !purchases.is_empty() {
        println!(
            "purchases (registration sent to confirmation answered): {}, p50 {:.2} / p99 {:.2} / max {:.2} ms",
            purchases.len(),
            ms(purchases, 0.5),
            ms(purchases, 0.99),
            purchases.max() as f64 / 1000.0
        );
    }
    let warm = latencies.warmup();
    if !warm.is_empty() {
        println!(
            "warm-up ({} s, not in the table): {} operations, all commands p50 {:.2} / p99 {:.2} / p99.9 {:.2} / max {:.2} ms",
            args.warmup_secs,
            warm.len(),
            ms(warm, 0.5),
            ms(warm, 0.99),
            ms(warm, 0.999),
            warm.max() as f64 / 1000.0
        );
    }
    if let Some(path) = &args.svg {
        let title = format!(
            "{mode}: {:.0} ops/s, latency by percentile",
            total as f64 / secs
        );
        let svg =
            loyalty_sim::plot::percentile_svg(&title, hists.iter().map(|(name, h)| (*name, h)));
        std::fs::write(path, svg)?;
    }
    Ok(())
}
