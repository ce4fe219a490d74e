//! Engine-level load: purchase flows (register → confirm of 3-line cheques) submitted
//! concurrently to a running engine — lanes, the writer's queue, group commit, durable
//! answers — without gRPC. Reports operations and events per second and the latency of each
//! operation from submission to its durable answer. With `--offline N`, each flow uploads
//! offline cheques (1 line each) N at a time instead, as tills coming back online do; the
//! latency is then that of a whole upload.
//!
//! ```sh
//! cargo run --release -p loyalty-benches --bin loyalty-engine-load -- --flows 512 --seconds 10
//! cargo run --release -p loyalty-benches --bin loyalty-engine-load -- --flows 8 --offline 1024
//! ```
// Measurements report rates and milliseconds; amounts are never floats.
#![allow(clippy::float_arithmetic)]

use hdrhistogram::Histogram;
use loyalty_benches::{cheque, offline, setup, CARDS};
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::ids::{CashboxId, ChequeId, OpId};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::{Engine, EngineConfig, SystemClock};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CASHBOXES: u32 = 64;

#[derive(clap::Parser)]
#[command(about = "Purchase flows or offline uploads through the running engine, without gRPC")]
struct Args {
    /// Flows submitting concurrently.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    flows: u64,
    /// Seconds measured, after a warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Lines per cheque of a purchase flow.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    lines: usize,
    /// Offline cheques per upload; 0: purchase flows.
    #[arg(long, default_value_t = 0)]
    offline: usize,
}

/// What one flow did: operations and events.
#[derive(Default)]
struct Done {
    ops: u64,
    events: u64,
}

/// One latency histogram that every flow records into. The flows share one thread, so the
/// lock is never contended. A histogram per flow grew (reallocating and copying) in each of
/// thousands of flows and held most of the process's memory (482 against 222 MB peak at
/// 2,048 flows).
type Latency = Arc<Mutex<Histogram<u64>>>;

fn record(latency: &Latency, since: Instant) {
    latency
        .lock()
        .expect("latency lock")
        .record(since.elapsed().as_micros() as u64)
        .expect("record");
}

/// A till uploading offline cheques, `size` per upload, until `until`.
async fn uploads(
    engine: Engine,
    latency: Latency,
    f: u64,
    flows: u64,
    size: usize,
    until: Instant,
) -> Done {
    let mut done = Done::default();
    let cashbox = 1 + (f % u64::from(CASHBOXES)) as u32;
    let mut n = f;
    while Instant::now() < until {
        let upload: Vec<Request> = (0..size)
            .map(|_| {
                n += flows;
                offline(n, cashbox, 1)
            })
            .collect();
        let t = Instant::now();
        let outs = engine.execute_many(upload).await.expect("executed");
        record(&latency, t);
        for out in outs {
            assert!(out.reply.is_ok(), "{}", out.reply.message);
            done.ops += 1;
            done.events += out.events.len() as u64;
        }
    }
    done
}

async fn flow(
    engine: Engine,
    latency: Latency,
    f: u64,
    flows: u64,
    lines: usize,
    until: Instant,
) -> Done {
    let mut done = Done::default();
    let actor = Actor::Cashbox(CashboxId(1 + (f % u64::from(CASHBOXES)) as u32));
    let mut n = f;
    while Instant::now() < until {
        let id = format!("e{n}");
        let steps = [
            Command::RegisterPurchase {
                cheque: cheque(&id, n % CARDS, lines),
            },
            Command::Confirm {
                cheque: ChequeId::new(&id).expect("id"),
            },
        ];
        for (i, command) in steps.into_iter().enumerate() {
            let req = Request {
                op: OpId(1 << 100 | u128::from(n) << 8 | i as u128),
                actor,
                command,
            };
            let t = Instant::now();
            let out = engine.execute(req).await.expect("executed");
            record(&latency, t);
            assert!(out.reply.is_ok(), "{}", out.reply.message);
            done.ops += 1;
            done.events += out.events.len() as u64;
        }
        n += flows;
    }
    done
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(RocksStore::open(dir.path()).expect("open"));
    let engine =
        Engine::start(store, EngineConfig::default(), Arc::new(SystemClock)).expect("engine");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for req in setup(CASHBOXES) {
            assert!(engine.execute(req).await.expect("setup").reply.is_ok());
        }
        let latency: Latency = Arc::new(Mutex::new(Histogram::new(3).expect("histogram")));
        let start = |f: u64, until: Instant| {
            let latency = latency.clone();
            if a.offline > 0 {
                tokio::spawn(uploads(
                    engine.clone(),
                    latency,
                    f,
                    a.flows,
                    a.offline,
                    until,
                ))
            } else {
                tokio::spawn(flow(engine.clone(), latency, f, a.flows, a.lines, until))
            }
        };
        // Warm up: every card and product read once.
        let warm = Instant::now() + Duration::from_secs(2);
        let tasks: Vec<_> = (0..a.flows).map(|f| start(f + (1 << 40), warm)).collect();
        for t in tasks {
            t.await.expect("warm-up flow");
        }
        latency.lock().expect("latency lock").reset();
        let started = Instant::now();
        let until = started + Duration::from_secs(a.seconds);
        let tasks: Vec<_> = (0..a.flows).map(|f| start(f, until)).collect();
        let mut total = Done::default();
        for t in tasks {
            let d = t.await.expect("flow");
            total.ops += d.ops;
            total.events += d.events;
        }
        let latency = latency.lock().expect("latency lock");
        let secs = started.elapsed().as_secs_f64();
        let stats = engine.stats();
        let batches = stats
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
        let ops_total = stats.ops.load(std::sync::atomic::Ordering::Relaxed);
        let decide = stats
            .decide_micros_total
            .load(std::sync::atomic::Ordering::Relaxed);
        let write = stats.commit_latency.sum();
        let micros = |total: u64| total as f64 / batches as f64 / 1000.0;
        let per_op = |total: u64| total as f64 / ops_total.max(1) as f64;
        let what = if a.offline > 0 {
            format!(
                "{} tills uploading {} offline cheques at a time",
                a.flows, a.offline
            )
        } else {
            format!("{} flows, {}-line cheques", a.flows, a.lines)
        };
        println!(
            "{what}: {} operations in {secs:.1} s = {:.0} ops/s, {:.0} events/s; \
             latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {:.0} operations per commit, \
             {:.2} ms deciding and {:.2} ms writing a batch ({:.1} + {:.1} µs per operation)",
            total.ops,
            total.ops as f64 / secs,
            total.events as f64 / secs,
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            latency.value_at_quantile(0.999) as f64 / 1000.0,
            ops_total as f64 / batches as f64,
            micros(decide),
            micros(write),
            per_op(decide),
            per_op(write),
        );
    });
    engine.shutdown();
}
