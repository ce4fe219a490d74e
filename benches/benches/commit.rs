//! Durable group commit on RocksDB (synced WAL): the cost per operation for batches of
//! 1, 64 and 1024 operations (registers and confirms of 3-line purchases, alternating)
//! through the engine's real commit path; and offline replay of 1-line cheques in large
//! batches (one event per cheque).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use loyalty_benches::{offline, purchase, setup};
use loyalty_core::command::Request;
use loyalty_core::model::{Program, UnixMillis};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::{CachedStore, Store};
use loyalty_engine::{commit_batch, stored_seq};

fn bench(c: &mut Criterion) {
    let program = Program::default();
    let dir = tempfile::tempdir().expect("tempdir");
    // As the engine's writer sees it: RocksDB with the writer's state cache in front.
    let rocks: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(RocksStore::open(dir.path()).expect("open"));
    let store = CachedStore::new(rocks, 1 << 18);
    let setup = setup(4);
    let refs: Vec<&Request> = setup.iter().collect();
    commit_batch(&store, &program, 0, &refs, UnixMillis(0), true).expect("setup");
    let mut seq = stored_seq(&store).expect("seq");
    // An endless stream of operations: register purchase n, confirm purchase n, ...
    let mut n = 0u64;
    let mut queued: std::collections::VecDeque<Request> = Default::default();
    let mut next = move || {
        if queued.is_empty() {
            n += 1;
            queued.extend(purchase(n, 1 + (n % 4) as u32, 3));
        }
        queued.pop_front().expect("refilled")
    };
    let mut g = c.benchmark_group("durable_commit");
    g.sample_size(20);
    for batch in [1usize, 64, 1024] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("batch_{batch}_ops"), |b| {
            b.iter_batched(
                || (0..batch).map(|_| next()).collect::<Vec<Request>>(),
                |reqs| {
                    let refs: Vec<&Request> = reqs.iter().collect();
                    let done = commit_batch(&store, &program, seq, &refs, UnixMillis(0), true)
                        .expect("commit");
                    seq = done.seq;
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    // Offline replay: uploads of 1-line cheques applied in large group-committed batches.
    let mut g = c.benchmark_group("offline_replay");
    g.sample_size(20);
    let mut m = 0u64;
    for batch in [1024usize, 4096] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("batch_{batch}_cheques"), |b| {
            b.iter_batched(
                || {
                    (0..batch)
                        .map(|_| {
                            m += 1;
                            offline(m, 1 + (m % 4) as u32, 1)
                        })
                        .collect::<Vec<Request>>()
                },
                |reqs| {
                    let refs: Vec<&Request> = reqs.iter().collect();
                    let done = commit_batch(&store, &program, seq, &refs, UnixMillis(0), true)
                        .expect("commit");
                    seq = done.seq;
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
