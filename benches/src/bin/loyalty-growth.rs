//! Growth measurement: how durable purchase throughput, commit latency, balance reads and
//! restart time change as the number of accounts (and the event log) grows. Runs against
//! a RocksDB store at engine level (no gRPC), step by step:
//!
//! ```sh
//! cargo run --release -p loyalty-benches --bin loyalty-growth -- \
//!     --dir /tmp/growth --steps 10000,100000,1000000,10000000
//! ```
#![allow(clippy::float_arithmetic)]

use hdrhistogram::Histogram;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use loyalty_benches::{cheque_for, setup};
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::ids::*;
use loyalty_core::model::{CardStatus, Program, UnixMillis};
use loyalty_core::state::StateView;
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::Store;
use loyalty_engine::StoredState;
use loyalty_engine::{commit_batch, stored_seq, Engine, EngineConfig, SystemClock};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Parser)]
#[command(about = "Throughput, latency and restart time as accounts and the event log grow")]
struct Args {
    /// Data directory (created; reused across steps).
    #[arg(long, default_value = "growth-data")]
    dir: std::path::PathBuf,
    /// Account counts to grow to, in order.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    steps: Vec<u64>,
    /// Purchases (register + confirm) committed at each size.
    #[arg(long, default_value_t = 20_000)]
    purchases: u64,
    /// Requests per durable commit (a purchase is two: register and confirm).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(2..))]
    batch: u64,
}

fn card(i: u64) -> CardNo {
    CardNo::new(&(6_000_000_000u64 + i).to_string()).expect("digits")
}

fn now() -> UnixMillis {
    UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

fn operator() -> Actor {
    Actor::Admin(OperatorName::new("growth").expect("name"))
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// A tiny deterministic generator (xorshift), so runs are repeatable.
struct Rand(u64);
impl Rand {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    let db = a.dir.join("db");
    let program = Program::default();
    let mut store = Arc::new(RocksStore::open(&db).expect("open"));
    let mut seq = stored_seq(&*store).expect("seq");
    let mut op: u128 = 1 << 100;
    let mut next_op = || {
        op += 1;
        OpId(op)
    };
    if seq == 0 {
        let reqs = setup(4);
        let refs: Vec<&Request> = reqs.iter().collect();
        seq = commit_batch(&*store, &program, seq, &refs, now(), true)
            .expect("setup")
            .seq;
    }
    // Cards of this tool are numbered from 0; the setup's own cards come first.
    let mut accounts = StoredState::new(&*store)
        .accounts_opened()
        .saturating_sub(loyalty_benches::CARDS);
    let mut rng = Rand(0x9E37_79B9_7F4A_7C15);
    let mut purchase_no = 0u64;
    println!("| accounts | events in log | purchase ops/s | commit p50 µs | commit p99 µs | balance read p50 µs | balance read p99 µs | restart ms | data GB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &target in &a.steps {
        // Grow: issue cards (each opens an account) in large unsynced batches, then sync.
        while accounts < target {
            let n = (target - accounts).min(4096);
            let reqs: Vec<Request> = (accounts..accounts + n)
                .map(|i| Request {
                    op: next_op(),
                    actor: operator(),
                    command: Command::IssueCard {
                        number: card(i),
                        card_type: "Gold".into(),
                        status: CardStatus::Activated,
                        account: None,
                        holder_name: String::new(),
                        holder_phone: String::new(),
                    },
                })
                .collect();
            let refs: Vec<&Request> = reqs.iter().collect();
            let last = accounts + n >= target;
            seq = commit_batch(&*store, &program, seq, &refs, now(), last)
                .expect("grow")
                .seq;
            accounts += n;
        }
        // Durable purchases (register + confirm) on random accounts, `batch` per commit.
        let mut commit = Histogram::<u64>::new(3).expect("histogram");
        let started = Instant::now();
        let mut ops = 0u64;
        while ops < a.purchases * 2 {
            let reqs: Vec<Request> = (0..a.batch / 2)
                .flat_map(|_| {
                    purchase_no += 1;
                    let id = format!("g{purchase_no}");
                    let c = cheque_for(&id, card(rng.below(accounts)), 3);
                    let actor = Actor::Cashbox(CashboxId(1 + (purchase_no % 4) as u32));
                    [
                        Request {
                            op: next_op(),
                            actor,
                            command: Command::RegisterPurchase { cheque: c },
                        },
                        Request {
                            op: next_op(),
                            actor,
                            command: Command::Confirm {
                                cheque: ChequeId::new(&id).expect("id"),
                            },
                        },
                    ]
                })
                .collect();
            let refs: Vec<&Request> = reqs.iter().collect();
            let t = Instant::now();
            let done = commit_batch(&*store, &program, seq, &refs, now(), true).expect("commit");
            commit
                .record(t.elapsed().as_micros() as u64)
                .expect("record");
            assert!(done.outcomes.iter().all(|o| o.reply.is_ok()));
            seq = done.seq;
            ops += refs.len() as u64;
        }
        let throughput = ops as f64 / started.elapsed().as_secs_f64();
        // Balance reads of random accounts.
        let mut reads = Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..10_000 {
            let number = card(rng.below(accounts));
            let t = Instant::now();
            let view = StoredState::new(&*store);
            let found = view.card(&number).and_then(|c| view.account(c.account));
            reads.record(t.elapsed().as_nanos() as u64).expect("record");
            assert!(found.is_some());
        }
        // Restart: close, then open the store and start the engine as the server does.
        drop(store);
        let t = Instant::now();
        let reopened: Arc<dyn Store> = Arc::new(RocksStore::open(&db).expect("reopen"));
        let engine = Engine::start(
            reopened.clone(),
            EngineConfig::default(),
            Arc::new(SystemClock),
        )
        .expect("engine");
        let restart = t.elapsed();
        engine.shutdown();
        drop(engine);
        drop(reopened);
        store = Arc::new(RocksStore::open(&db).expect("open"));
        println!(
            "| {accounts} | {seq} | {throughput:.0} | {} | {} | {:.1} | {:.1} | {:.0} | {:.2} |",
            commit.value_at_quantile(0.5),
            commit.value_at_quantile(0.99),
            reads.value_at_quantile(0.5) as f64 / 1000.0,
            reads.value_at_quantile(0.99) as f64 / 1000.0,
            restart.as_secs_f64() * 1000.0,
            dir_bytes(&db) as f64 / 1e9,
        );
    }
}
