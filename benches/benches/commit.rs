//! Durable group commit on RocksDB (synced WAL): the cost per operation for batches of
//! 1, 64 and 1024 operations (registers and confirms of 3-line purchases, alternating)
//! through the engine's real commit path (deciding, logging and writing on one thread); offline
//! replay of 1-line cheques in large batches (one event per cheque); and the storage floor:
//! the records of such a batch written to RocksDB alone.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use loyalty_benches::{offline, purchase, setup};
use loyalty_core::command::Request;
use loyalty_core::model::{Program, UnixMillis};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::{Batch, CachedStore, Pairs, Space, Store, StoreError};
use loyalty_engine::Memo;
use loyalty_engine::{append_log, commit_batch, decide_batch, put_seq, stored_seq, Fingerprinted};

fn bench(c: &mut Criterion) {
    let program = Program::default();
    let dir = tempfile::tempdir().expect("tempdir");
    // As the engine's writer sees it: RocksDB with the writer's state cache in front.
    let rocks: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(RocksStore::open(dir.path()).expect("open"));
    let store = CachedStore::new(rocks.clone(), 1 << 18);
    let setup = setup(4);
    let refs: Vec<&Request> = setup.iter().collect();
    commit_batch(&store, &program, 0, &refs, UnixMillis(0), true).expect("setup");
    let mut seq = stored_seq(&store).expect("seq");
    // The writer's decoded records, kept across batches as the engine keeps them.
    let memo = Memo::new(1 << 18);
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
                    seq = commit(&store, &memo, &program, seq, &refs);
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
                    seq = commit(&store, &memo, &program, seq, &refs);
                },
                BatchSize::PerIteration,
            )
        });
    }
    // The storage floor: the very records a replay batch writes (captured from the engine's
    // commit path, not written there), committed to RocksDB as they are. The ratio of
    // `offline_replay` to this is what the engine adds on top of the synced write.
    for batch in [1024usize, 4096] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("storage_only_{batch}_cheques"), |b| {
            b.iter_batched(
                || {
                    let reqs: Vec<Request> = (0..batch)
                        .map(|_| {
                            m += 1;
                            offline(m, 1 + (m % 4) as u32, 1)
                        })
                        .collect();
                    let refs: Vec<&Request> = reqs.iter().collect();
                    let capture = Capture::new(rocks.clone());
                    let done = commit_batch(&capture, &program, seq, &refs, UnixMillis(0), true)
                        .expect("capture");
                    seq = done.seq;
                    capture.take()
                },
                |records| store.commit(&records, true).expect("commit"),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Decides a batch and writes it durably, as the engine's writer and committer do (here on
/// one thread); returns the log sequence after it.
fn commit(store: &CachedStore, memo: &Memo, program: &Program, seq: u64, refs: &[&Request]) -> u64 {
    let requests: Vec<Fingerprinted> = refs.iter().map(|r| Fingerprinted::new(r)).collect();
    let (mut batch, outcomes) =
        decide_batch(store, memo, program, &requests, UnixMillis(0)).expect("decide");
    let next = append_log(&mut batch, seq, refs, &outcomes, UnixMillis(0));
    put_seq(&mut batch, seq, next);
    store.commit(&batch, true).expect("commit");
    next
}

/// Reads through to the store, keeps the batch it is asked to commit instead of writing it.
struct Capture {
    inner: std::sync::Arc<dyn Store>,
    batch: std::sync::Mutex<Batch>,
}

impl Capture {
    fn new(inner: std::sync::Arc<dyn Store>) -> Self {
        Capture {
            inner,
            batch: Default::default(),
        }
    }
    fn take(&self) -> Batch {
        std::mem::take(&mut *self.batch.lock().expect("capture lock"))
    }
}

impl Store for Capture {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(space, key)
    }
    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        self.inner.scan(space, from, to, limit)
    }
    fn commit(&self, batch: &Batch, _durable: bool) -> Result<(), StoreError> {
        *self.batch.lock().expect("capture lock") = batch.clone();
        Ok(())
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
