//! The ledger writer: one thread that owns every state change.
//!
//! Requests enter through per-cashbox lanes (admission, in `handle`) into one FIFO. The
//! writer drains up to `batch_ops_max` requests, decides and applies them one after
//! another against the state (so a cashbox's requests are applied strictly in order, and
//! every account has exactly one owner — no locks around balances), and hands the decided
//! batch to the committer (`batch`), which writes events, state, idempotency records and
//! the log sequence in one atomic batch with one WAL sync and only then answers. While a
//! batch syncs, new requests queue up and form the next batch — group commit.
//!
//! Deciding and writing overlap: the writer decides the next batch while the committer
//! writes the last, reading the handed-over batch's writes from memory
//! (`CachedStore::stage`). Batches are written and answered in the order they were
//! decided; if a write fails, every batch decided on top of it is refused too, unwritten.
//!
//! The writer must not write the store or answer a request itself, except to refuse a
//! batch it could not decide.

use crate::batch::{decide_batch, put_seq, refuse, stored_seq, write, Decided, Fingerprinted};
use crate::prefetch::{Ahead, Lookups, Prefetcher, PREFETCH_OPS_MIN};
use crate::shared::{EngineError, Job, Queued, Shared};
use crate::store::{CachedStore, Store, StoreError};
use crate::stored::Memo;
use crate::verify::{verify_store, VerifyReport};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// The log sequence after the last batch decided.
    seq: u64,
    /// The epoch of the store's memory `seq` was decided in.
    epoch: u64,
    /// The store with the writer's memory (cache and staged batches) in front.
    store: Arc<CachedStore>,
    /// Decoded records of the batches decided so far.
    memo: Memo,
    /// Decided batches to the committer, one at a time.
    handoff: Option<SyncSender<Decided>>,
    /// A token per batch the committer has finished with.
    settled: Receiver<()>,
    handed: u64,
    finished: u64,
    committer: Option<JoinHandle<()>>,
    /// Looks up a large batch's new keys while the writer decides it.
    prefetcher: Option<Prefetcher>,
}

/// State records the writer keeps decoded-ready in memory (about 300 bytes each).
const STATE_CACHE_ENTRIES: usize = 1 << 18;
/// Cashboxes, cards, products and barcodes kept for every thread's reads.
pub(crate) const SHARED_READ_ENTRIES: usize = 1 << 17;

/// The next message, polled for up to `poll` before sleeping until one comes.
fn recv_polling<T>(rx: &Receiver<T>, poll: Duration) -> Result<T, mpsc::RecvError> {
    let started = Instant::now();
    while started.elapsed() < poll {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
    rx.recv()
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, seq: u64) -> Writer {
        let store = Arc::new(CachedStore::new(shared.store.clone(), STATE_CACHE_ENTRIES));
        let (handoff, decided) = mpsc::sync_channel(0);
        let (done, settled) = mpsc::channel();
        let committer = {
            let (store, shared) = (store.clone(), shared.clone());
            std::thread::Builder::new()
                .name("ledger-committer".into())
                .spawn(move || {
                    for batch in decided {
                        write(&store, &shared, batch);
                        if done.send(()).is_err() {
                            return;
                        }
                    }
                })
                .expect("spawn the committer thread")
        };
        Writer {
            epoch: store.epoch(),
            prefetcher: Some(Prefetcher::start(store.clone())),
            shared,
            seq,
            store,
            memo: Memo::new(STATE_CACHE_ENTRIES),
            handoff: Some(handoff),
            settled,
            handed: 0,
            finished: 0,
            committer: Some(committer),
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<Job>) {
        let max = self.shared.config.batch_ops_max.max(1);
        let poll = Duration::from_micros(u64::from(self.shared.config.writer_poll_micros));
        let gather = Duration::from_micros(u64::from(self.shared.config.gather_micros));
        let gather_ops = self.shared.config.gather_ops;
        let mut batch = Vec::with_capacity(max);
        let mut streaming = false;
        while let Ok(first) = recv_polling(&rx, poll) {
            // While requests stream in, a small batch may wait until then for more.
            let mut gather_until =
                (streaming && !gather.is_zero()).then(|| Instant::now() + gather);
            let mut next = Some(first);
            loop {
                match next.take() {
                    Some(Job::Execute(job)) => {
                        batch.push(*job);
                        if batch.len() >= max {
                            self.commit(&mut batch);
                        }
                    }
                    Some(Job::ExecuteMany(items)) => {
                        for job in items {
                            batch.push(job);
                            if batch.len() >= max {
                                self.commit(&mut batch);
                            }
                        }
                    }
                    Some(Job::Verify { rewrite, answer }) => {
                        self.commit(&mut batch);
                        self.drain();
                        let _ = answer.send(self.verify(rewrite));
                    }
                    Some(Job::Resync { answer }) => {
                        self.commit(&mut batch);
                        self.drain();
                        let _ = answer.send(self.resync());
                    }
                    Some(Job::Stop) => {
                        self.commit(&mut batch);
                        self.stop();
                        return;
                    }
                    None => match gather_until.take() {
                        // One sleep, not a wake-up per arriving request: the senders find
                        // no one waiting and wake no one.
                        Some(until) if !batch.is_empty() && batch.len() < gather_ops => {
                            std::thread::sleep(until.saturating_duration_since(Instant::now()))
                        }
                        _ => break,
                    },
                }
                next = rx.try_recv().ok();
            }
            streaming = batch.len() > 1;
            self.commit(&mut batch);
        }
        self.stop();
    }

    /// Waits until every batch handed over is written and answered.
    fn drain(&mut self) {
        while self.finished < self.handed {
            if self.settled.recv().is_err() {
                break;
            }
            self.finished += 1;
        }
    }

    fn stop(&mut self) {
        self.drain();
        self.prefetcher = None;
        self.handoff = None;
        if let Some(h) = self.committer.take() {
            if h.join().is_err() {
                tracing::error!("the ledger committer panicked");
            }
        }
    }

    /// Decides `jobs` as one batch and hands it to the committer.
    fn commit(&mut self, jobs: &mut Vec<Queued>) {
        if jobs.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let stats = &shared.stats;
        while self.settled.try_recv().is_ok() {
            self.finished += 1;
        }
        if self.store.epoch() != self.epoch {
            // A write failed: what was decided after it is refused; start again from what
            // the store holds.
            self.drain();
            self.epoch = self.store.epoch();
            self.memo.clear();
            match stored_seq(&*self.store) {
                Ok(seq) => self.seq = seq,
                Err(e) => return refuse(stats, jobs, &e),
            }
        }
        let started = Instant::now();
        let requests: Vec<Fingerprinted> = jobs
            .iter()
            .map(|j| Fingerprinted {
                req: &j.req,
                fingerprint: j.fingerprint,
            })
            .collect();
        let now = shared.clock.now();
        let lookups = (jobs.len() >= PREFETCH_OPS_MIN)
            .then(|| Arc::new(Lookups::of(jobs.iter().map(|j| &j.req))))
            .filter(|l| self.prefetcher.as_ref().is_some_and(|p| p.hand(l.clone())));
        let ahead = lookups.clone().map(|lookups| Ahead {
            store: self.store.clone(),
            lookups,
        });
        let store: &dyn Store = match &ahead {
            Some(a) => a,
            None => &*self.store,
        };
        let decided = decide_batch(store, &self.memo, &shared.config.program, &requests, now);
        if let Some(l) = &lookups {
            l.finish();
        }
        drop(requests);
        stats
            .decide_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let (batch, outcomes) = match decided {
            Ok(d) => d,
            Err(e) => {
                self.memo.clear();
                return refuse(stats, jobs, &e);
            }
        };
        let events: u64 = outcomes.iter().map(|o| o.events.len() as u64).sum();
        let mut batch = batch;
        put_seq(&mut batch, self.seq, self.seq + events);
        let number = self.handed + 1;
        if !self.store.stage(number, &batch, self.epoch) {
            self.memo.clear();
            return refuse(stats, jobs, &StoreError::Aborted);
        }
        let decided = Decided {
            number,
            epoch: self.epoch,
            batch,
            jobs: std::mem::take(jobs),
            outcomes,
            seq: self.seq,
            now,
        };
        self.seq += events;
        stats.decided.fetch_add(1, Ordering::Relaxed);
        match self.handoff.as_ref().map(|h| h.send(decided)) {
            Some(Ok(())) => self.handed = number,
            _ => tracing::error!("the ledger committer is gone"),
        }
    }

    fn resync(&mut self) -> Result<u64, EngineError> {
        self.shared.store.forget();
        self.store.clear();
        self.memo.clear();
        self.epoch = self.store.epoch();
        self.shared.offers_changed();
        self.seq = stored_seq(&*self.store)?;
        Ok(self.seq)
    }

    fn verify(&mut self, rewrite: bool) -> Result<VerifyReport, EngineError> {
        // A rewrite goes past the cache.
        let report = verify_store(&*self.shared.store, rewrite);
        self.store.clear();
        self.memo.clear();
        self.epoch = self.store.epoch();
        self.shared.offers_changed();
        Ok(report?)
    }
}
