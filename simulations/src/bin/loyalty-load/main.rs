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

mod cpu;
mod route;
mod setup;
mod stream;
mod xml;

use cpu::{cpu_secs, listener_pid, server_cpu_line};
use loyalty_proto::pb::store_reply::Answer;
use loyalty_proto::pb::store_request::Operation;
use route::{Conn, Route, FAILOVER_WAIT_MAX};
use setup::{leader, read_setup, setup, write_setup};
use stream::Streams;
use xml::{xml_login, XmlConn};

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
    /// Flows started per second (open loop). Each flow is 3-5 operations (`full`), 2
    /// (`purchase`) or 1 (`balance`).
    #[arg(long)]
    rate: Option<u64>,
    /// gRPC connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Generator threads. One thread drives every connection without cross-thread
    /// wake-ups, which leaves the most CPU to a server on the same machine.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// `unary`: each operation a call of the cash service, as a till makes it; `stream`: the
    /// tills' operations on store servers' streams (the server needs a store-servers file
    /// naming --store-server for every store the tills are in). The streams go to the
    /// leader found at the start and do not follow a failover.
    #[arg(long, default_value = "unary")]
    transport: String,
    /// With `--transport stream`: streams opened (store servers); a store's tills go on
    /// one of them.
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// With `--transport stream`: the store server's name and secret.
    #[arg(long, default_value = "load")]
    store_server: String,
    #[arg(
        long,
        env = "LOYALTY_STORE_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    store_secret: String,
    /// Cashboxes per store when setting them up (stores are numbered from 1).
    #[arg(long, default_value_t = 10)]
    tills_per_store: u32,
    /// The server's process id, to report its CPU time per operation (from /proc); by
    /// default the process listening on the server's port, when it runs on this machine.
    #[arg(long)]
    server_pid: Option<u32>,
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlowKind {
    Full,
    Purchase,
    Balance,
}

struct Ctx {
    kind: FlowKind,
    tills: Vec<(u32, String)>,
    tills_per_store: u32,
    route: Option<Route>,
    /// With `--transport stream`: the store servers' streams the operations go on.
    streams: Option<Streams>,
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

    /// One operation of `till` (index `t` in the set-up tills), on its store's stream or as
    /// a unary call.
    async fn exec(&self, n: u64, t: usize, op: Operation) -> anyhow::Result<pb::ChequeReply> {
        let till = &self.tills[t];
        let answer = match &self.streams {
            Some(s) => s.exec(till.0, self.store_of(t), op).await?,
            None => self.unary(n, till, op).await?,
        };
        match answer {
            Answer::Cheque(c) => Ok(c),
            Answer::Refused(s) => bail!("refused: {} {}", s.code, s.message),
            _ => bail!("an answer of another kind"),
        }
    }

    /// The store of the `t`-th set-up till: `--tills-per-store` tills per store.
    fn store_of(&self, t: usize) -> u32 {
        1 + t as u32 / self.tills_per_store
    }

    async fn unary(&self, n: u64, till: &(u32, String), op: Operation) -> anyhow::Result<Answer> {
        Ok(Answer::Cheque(match op {
            Operation::Calculate(b) => {
                self.call(n, |mut c| {
                    let r = req(till, b.clone());
                    async move { c.calculate(r).await }
                })
                .await?
            }
            Operation::PayWithBonus(b) => {
                self.call(n, |mut c| {
                    let r = req(till, b.clone());
                    async move { c.pay_with_bonus(r).await }
                })
                .await?
            }
            Operation::RegisterPurchase(b) => {
                self.call(n, |mut c| {
                    let r = req(till, b.clone());
                    async move { c.register_purchase(r).await }
                })
                .await?
            }
            Operation::Confirm(b) => {
                self.call(n, |mut c| {
                    let r = req(till, b.clone());
                    async move { c.confirm(r).await }
                })
                .await?
            }
            Operation::Cancel(b) => {
                self.call(n, |mut c| {
                    let r = req(till, b.clone());
                    async move { c.cancel(r).await }
                })
                .await?
            }
            Operation::Balance(b) => {
                self.call(n, |mut c| {
                    let r = req(till, b.clone());
                    async move { c.balance(r).await }
                })
                .await?
            }
            _ => bail!("an operation the flows do not send"),
        }))
    }

    /// calculate → (pay 1 point) → register → confirm or cancel, sometimes a balance check.
    /// In an open loop, `due` is when the flow was scheduled to start: its first operation's
    /// latency counts from then, so a late start (the generator or the machine busy) is not
    /// hidden from the figures.
    async fn flow(&self, n: u64, mut due: Option<Instant>) -> anyhow::Result<()> {
        let t = (n % self.tills.len() as u64) as usize;
        let card = self.card(n.wrapping_mul(2_654_435_761));
        if self.kind == FlowKind::Balance {
            let started = due.take().unwrap_or_else(Instant::now);
            return self.balance(n, t, card, started).await;
        }
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
        if self.kind == FlowKind::Full {
            let started = due.take().unwrap_or_else(Instant::now);
            let calc = Operation::Calculate(pb::CalculateRequest {
                cheque: Some(cheque.clone()),
                slip_width: 0,
            });
            let calc = self.exec(n, t, calc).await?;
            self.record("Calculate", started);
            let spendable = calc.balance.map(|b| b.spendable).unwrap_or_default();
            if n.is_multiple_of(2) && spendable != "0.00" && !spendable.is_empty() {
                let started = Instant::now();
                let pay = Operation::PayWithBonus(pb::PayWithBonusRequest {
                    operation_id: op(),
                    slip_width: 0,
                    cheque: Some(cheque.clone()),
                    points: "1".into(),
                });
                self.exec(n, t, pay).await?;
                self.record("PayWithBonus", started);
            }
        }
        let started = due.take().unwrap_or_else(Instant::now);
        let purchase_started = started;
        let cheque_id = cheque.cheque_id.clone();
        let register = Operation::RegisterPurchase(pb::RegisterPurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque: Some(cheque),
        });
        let reg = self.exec(n, t, register).await?;
        self.record("RegisterPurchase", started);
        if reg.outcome != pb::Outcome::Ok as i32 {
            bail!("register refused: {}", reg.message);
        }
        let started = Instant::now();
        let body = pb::PurchaseRequest {
            operation_id: op(),
            slip_width: 0,
            cheque_id,
        };
        if self.kind == FlowKind::Full && n % 10 == 9 {
            self.exec(n, t, Operation::Cancel(body)).await?;
            self.record("Cancel", started);
        } else {
            self.exec(n, t, Operation::Confirm(body)).await?;
            self.record("Confirm", started);
            self.latencies
                .lock()
                .expect("lock")
                .record_purchase(purchase_started, Instant::now());
        }
        if self.kind == FlowKind::Full && n.is_multiple_of(5) {
            self.balance(n, t, card, Instant::now()).await?;
        }
        Ok(())
    }

    /// One balance read of `card`, its latency counted from `started`.
    async fn balance(
        &self,
        n: u64,
        t: usize,
        card: String,
        started: Instant,
    ) -> anyhow::Result<()> {
        let body = pb::BalanceRequest {
            card,
            identifiers: Vec::new(),
            as_of: String::new(),
        };
        self.exec(n, t, Operation::Balance(body)).await?;
        self.record("Balance", started);
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
    let server_pid = args.server_pid.or_else(|| {
        let local = matches!(
            servers[leader].host(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        );
        servers[leader]
            .port_u16()
            .filter(|_| local)
            .and_then(listener_pid)
    });
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
    let streams = match args.transport.as_str() {
        "unary" => None,
        "stream" => {
            if args.store_secret.is_empty() {
                bail!("--transport stream needs --store-secret (or LOYALTY_STORE_SECRET)");
            }
            Some(
                Streams::open(
                    &route.servers[leader],
                    &args.store_server,
                    &args.store_secret,
                    args.streams,
                )
                .await?,
            )
        }
        other => bail!("--transport must be unary or stream, not {other}"),
    };
    let ctx = Arc::new(Ctx {
        kind,
        tills,
        tills_per_store: args.tills_per_store.max(1),
        streams,
        route: Some(route),
        run,
        cards: args.cards,
        latencies: Mutex::new(Latencies::new(
            Instant::now() + Duration::from_secs(args.warmup_secs),
        )),
    });
    let steady_from = ctx.latencies.lock().expect("lock").steady_from();
    let deadline = steady_from + Duration::from_secs(args.duration_secs);
    // CPU time of the server and of the generator over the steady state.
    let cpu_from = tokio::spawn(async move {
        tokio::time::sleep_until(steady_from.into()).await;
        (
            cpu_secs("self"),
            server_pid.and_then(|p| cpu_secs(&p.to_string())),
        )
    });
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
    let (own_from, server_from) = cpu_from.await?;
    let cpu = |from: Option<f64>, now: Option<f64>| from.zip(now).map(|(a, b)| b - a);
    let own_cpu = cpu(own_from, cpu_secs("self"));
    let server_cpu = cpu(
        server_from,
        server_pid.and_then(|p| cpu_secs(&p.to_string())),
    );
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
    if let Some(c) = server_cpu {
        println!(
            "{}",
            server_cpu_line(server_pid.unwrap_or(0), c, secs, total, flows as u64)
        );
    } else if server_pid.is_some() {
        println!("server CPU: /proc/<pid>/stat unreadable");
    }
    if let Some(c) = own_cpu {
        println!("generator CPU: {:.2} cores", c / secs);
    }
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
