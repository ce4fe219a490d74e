//! The ledger writer: one thread that owns every state change.
//!
//! Requests enter through per-cashbox lanes (admission: a bounded number in flight per
//! cashbox, and a bounded global queue) into one FIFO. The writer drains up to
//! `batch_ops_max` requests, decides and applies them one after another against the
//! state (so a cashbox's requests are applied strictly in order, and every account has
//! exactly one owner — no locks around balances), then writes events, state, idempotency
//! records and the log sequence in one atomic batch with one WAL sync. Only then are the
//! answers sent: nothing is acknowledged before it is durable. While a batch syncs, new
//! requests queue up and form the next batch — group commit.
//!
//! Deciding and writing overlap: the writer hands a decided batch to the committer thread
//! and decides the next one meanwhile, reading the handed-over batch's writes from memory
//! (`CachedStore::stage`). Batches are written and answered in the order they were
//! decided; if a write fails, every batch decided on top of it is refused too, unwritten.

use crate::histogram::Histogram;
use crate::keys;
use crate::prefetch::{Ahead, Lookups, Prefetcher, PREFETCH_OPS_MIN};
use crate::store::{Batch, CachedStore, CommitError, SharedReads, Space, Store, StoreError};
use crate::stored::{decode, encode, Memo, StoredState};
use loyalty_core::apply::apply;
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::event::{EventRecord, EVENT_SCHEMA_VERSION};
use loyalty_core::ids::{AccountId, CashboxId, OpId};
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::state::MemState;
use loyalty_core::{execute_fingerprinted, Executed};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Why the engine could not process a request (as opposed to refusing it, which is a
/// [`loyalty_core::outcome::Code`] in the answer).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("too many requests in flight ({what}); retry in {retry_after_ms} ms")]
    Busy {
        what: &'static str,
        retry_after_ms: u64,
    },
    #[error(transparent)]
    Storage(#[from] StoreError),
    #[error("the engine is shutting down")]
    ShuttingDown,
}

/// The engine's limits and program.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub program: Program,
    /// Requests decided together and committed with one sync.
    pub batch_ops_max: usize,
    /// Requests waiting for the writer, over all cashboxes.
    pub queue_depth_max: usize,
    /// Requests in flight from one cashbox.
    pub cashbox_queue_depth_max: u32,
    /// Sync the WAL before answering. Only benchmarks of the non-durable path turn it off.
    pub durable: bool,
    /// How long the writer keeps polling for the next request before it sleeps, in µs
    /// (0: it sleeps at once). Waking a sleeping thread costs tens of µs on a virtual
    /// machine, and the first request after a pause would wait for it.
    pub writer_poll_micros: u32,
    /// How long the writer lets a small batch gather more requests while requests stream in,
    /// in µs from its first request (0, the default: a batch is what has arrived). Every
    /// batch costs a sync and a round of wake-ups on every thread it passes; gathering trades
    /// about a millisecond of latency for 8–20 % less server CPU at moderate load, which
    /// lowers the tail only on a machine whose cores are saturated. Requests stream in when
    /// the previous batch held more than one: a lone request is never kept waiting.
    pub gather_micros: u32,
    /// A batch of this many requests is decided without gathering.
    pub gather_ops: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            program: Program::default(),
            batch_ops_max: 2048,
            queue_depth_max: 16_384,
            cashbox_queue_depth_max: 64,
            durable: true,
            writer_poll_micros: 50,
            gather_micros: 0,
            gather_ops: 32,
        }
    }
}

/// Where server time comes from. The core never reads a clock; the engine asks this once
/// per batch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixMillis;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        UnixMillis(d.as_millis() as i64)
    }
}

/// Counters for the status call and metrics.
#[derive(Debug)]
pub struct Stats {
    /// Batches written (and answered).
    pub batches: AtomicU64,
    /// Batches decided and handed over for writing; those not in `batches` yet are in
    /// flight.
    pub decided: AtomicU64,
    pub ops: AtomicU64,
    pub events: AtomicU64,
    pub replays: AtomicU64,
    /// How long each batch took to be written durably (the committer thread), µs.
    pub commit_latency: Histogram,
    /// Operations per written batch.
    pub batch_sizes: Histogram,
    /// Time spent deciding batches (the writer thread).
    pub decide_micros_total: AtomicU64,
    pub largest_batch: AtomicU64,
    pub queued: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            batches: AtomicU64::new(0),
            decided: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            events: AtomicU64::new(0),
            replays: AtomicU64::new(0),
            commit_latency: Histogram::latency(),
            batch_sizes: Histogram::batch_sizes(),
            decide_micros_total: AtomicU64::new(0),
            largest_batch: AtomicU64::new(0),
            queued: AtomicU64::new(0),
        }
    }
}

/// The result of comparing the live state with a rebuild from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub equal: bool,
    /// What differs, by entity kind, when not equal.
    pub differences: Vec<String>,
    pub rewritten: bool,
    /// SHA-256 over every key and value of the live state (after any rewrite) and of the
    /// log: equal digests mean byte-for-byte equal data.
    pub state_sha256: [u8; 32],
    pub log_sha256: [u8; 32],
}

type Answer<T> = oneshot::Sender<Result<T, EngineError>>;

/// A request on its way to the writer, with its fingerprint (computed by the caller's
/// thread, not the writer's) and where its answer goes.
struct Queued {
    req: Request,
    fingerprint: [u8; 32],
    answer: Answer<Executed>,
    _lane: Option<LaneTicket>,
}

impl Queued {
    fn new(req: Request, answer: Answer<Executed>, lane: Option<LaneTicket>) -> Queued {
        Queued {
            fingerprint: req.fingerprint(),
            req,
            answer,
            _lane: lane,
        }
    }
}

enum Job {
    Execute(Box<Queued>),
    /// Requests applied one after another, contiguously, in order (an offline upload).
    ExecuteMany(Vec<Queued>),
    Verify {
        rewrite: bool,
        answer: Answer<VerifyReport>,
    },
    Stop,
}

struct Shared {
    store: Arc<dyn Store>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    lanes: Mutex<HashMap<CashboxId, u32>>,
    stats: Stats,
    offers: Mutex<OfferCache>,
}

/// The offers as read queries last loaded them, so that every `Calculate` does not scan
/// them again. The writer bumps the version (and drops the list) when a batch changed an
/// offer; a query stores what it loaded only if the version did not move meanwhile.
#[derive(Default)]
struct OfferCache {
    version: u64,
    offers: Option<Arc<[loyalty_core::model::Offer]>>,
}

impl Shared {
    fn offers_changed(&self) {
        let mut c = self.offers.lock().expect("offer cache lock");
        c.version += 1;
        c.offers = None;
    }
}

/// A place in a cashbox's lane; dropping it frees the place.
struct LaneTicket {
    shared: Arc<Shared>,
    cashbox: CashboxId,
}

impl Drop for LaneTicket {
    fn drop(&mut self) {
        let mut lanes = self.shared.lanes.lock().expect("lanes lock");
        if let Some(n) = lanes.get_mut(&self.cashbox) {
            *n -= 1;
            if *n == 0 {
                lanes.remove(&self.cashbox);
            }
        }
    }
}

/// A handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    tx: SyncSender<Job>,
    writer: Arc<WriterHandle>,
}

/// Owns the writer thread. When the last engine handle goes away, the writer finishes and
/// syncs what is queued and closes the store before anything else can exit (RocksDB must
/// not be torn down by process exit while its threads still run).
struct WriterHandle {
    tx: SyncSender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl WriterHandle {
    fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
        if let Some(h) = self.thread.lock().expect("writer lock").take() {
            if h.join().is_err() {
                tracing::error!("the ledger writer panicked");
            }
        }
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Engine {
    pub fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        let seq = stored_seq(&*store)?;
        let (tx, rx) = mpsc::sync_channel(config.queue_depth_max);
        let store: Arc<dyn Store> = Arc::new(SharedReads::new(store, SHARED_READ_ENTRIES));
        let shared = Arc::new(Shared {
            store,
            config,
            clock,
            lanes: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            offers: Mutex::new(OfferCache::default()),
        });
        let writer_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || Writer::new(writer_shared, seq).run(rx))
            .expect("spawn the writer thread");
        let writer = Arc::new(WriterHandle {
            tx: tx.clone(),
            thread: Mutex::new(Some(handle)),
        });
        Ok(Engine { shared, tx, writer })
    }

    pub fn program(&self) -> &Program {
        &self.shared.config.program
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The store, for the relay (which reads the log and moves its cursor over events it
    /// has published) and for read-only tools.
    pub fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    pub fn now(&self) -> UnixMillis {
        self.shared.clock.now()
    }

    fn admit(&self, actor: Actor) -> Result<Option<LaneTicket>, EngineError> {
        let Actor::Cashbox(cashbox) = actor else {
            return Ok(None);
        };
        let mut lanes = self.shared.lanes.lock().expect("lanes lock");
        let n = lanes.entry(cashbox).or_insert(0);
        if *n >= self.shared.config.cashbox_queue_depth_max {
            return Err(EngineError::Busy {
                what: "cashbox lane",
                retry_after_ms: 50,
            });
        }
        *n += 1;
        Ok(Some(LaneTicket {
            shared: self.shared.clone(),
            cashbox,
        }))
    }

    /// Executes a state-changing request; answers once it is durable.
    pub async fn execute(&self, req: Request) -> Result<Executed, EngineError> {
        let lane = self.admit(req.actor)?;
        let (answer, rx) = oneshot::channel();
        match self
            .tx
            .try_send(Job::Execute(Box::new(Queued::new(req, answer, lane))))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(EngineError::Busy {
                    what: "engine queue",
                    retry_after_ms: 20,
                })
            }
            Err(TrySendError::Disconnected(_)) => return Err(EngineError::ShuttingDown),
        }
        self.shared.stats.queued.fetch_add(1, Ordering::Relaxed);
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Executes many requests of one actor in order, as one queue entry: they share group
    /// commits and nothing of another request is interleaved between them. Answers once
    /// every one of them is durable.
    pub async fn execute_many(&self, reqs: Vec<Request>) -> Result<Vec<Executed>, EngineError> {
        let Some(actor) = reqs.first().map(|r| r.actor) else {
            return Ok(Vec::new());
        };
        let _lane = self.admit(actor)?;
        let mut answers = Vec::with_capacity(reqs.len());
        let items = reqs
            .into_iter()
            .map(|req| {
                let (answer, rx) = oneshot::channel();
                answers.push(rx);
                Queued::new(req, answer, None)
            })
            .collect();
        let n = answers.len() as u64;
        match self.tx.try_send(Job::ExecuteMany(items)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(EngineError::Busy {
                    what: "engine queue",
                    retry_after_ms: 20,
                })
            }
            Err(TrySendError::Disconnected(_)) => return Err(EngineError::ShuttingDown),
        }
        self.shared.stats.queued.fetch_add(n, Ordering::Relaxed);
        let mut out = Vec::with_capacity(answers.len());
        for rx in answers {
            out.push(rx.await.map_err(|_| EngineError::ShuttingDown)??);
        }
        Ok(out)
    }

    /// A system command (expiry sweep) under a fresh operation id.
    pub async fn expire_holds(&self, op: OpId) -> Result<Executed, EngineError> {
        self.execute(Request {
            op,
            actor: Actor::System,
            command: Command::ExpireHolds,
        })
        .await
    }

    /// Runs a read-only query against committed state.
    pub fn read<R>(&self, f: impl FnOnce(&StoredState<'_>) -> R) -> Result<R, EngineError> {
        let (version, cached) = {
            let c = self.shared.offers.lock().expect("offer cache lock");
            (c.version, c.offers.clone())
        };
        let fresh = cached.is_none();
        let view = StoredState::new(&*self.shared.store).with_offers(cached);
        let r = f(&view);
        if let Some(e) = view.take_failure() {
            return Err(e.into());
        }
        // Only a complete read is kept, and only if no offer changed since it began.
        if let (true, Some(loaded)) = (fresh, view.cached_offers()) {
            let mut c = self.shared.offers.lock().expect("offer cache lock");
            if c.version == version {
                c.offers = Some(loaded);
            }
        }
        Ok(r)
    }

    /// Rebuilds the projection from the log and compares it with the live state; with
    /// `rewrite`, replaces the live state by the rebuild. Runs on the writer, between batches.
    pub async fn verify(&self, rewrite: bool) -> Result<VerifyReport, EngineError> {
        let (answer, rx) = oneshot::channel();
        self.tx
            .send(Job::Verify { rewrite, answer })
            .map_err(|_| EngineError::ShuttingDown)?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Log records in sequence order after `after_seq`, at most `limit`: all of them, or
    /// one account's (through the history index).
    pub fn history(
        &self,
        account: Option<AccountId>,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, EngineError> {
        let store = &*self.shared.store;
        let seqs: Vec<u64> = match account {
            Some(a) => {
                let from = keys::history(a, after_seq.saturating_add(1));
                let to = keys::history(AccountId(a.0.saturating_add(1)), 0);
                let to = (a.0 < u64::MAX).then_some(&to[..]);
                store
                    .scan(Space::History, &from, to, limit)?
                    .iter()
                    .map(|(k, _)| keys::decode_history(k).map(|(_, seq)| seq))
                    .collect::<Result<_, _>>()
                    .map_err(|e| corrupt("history", e))?
            }
            None => store
                .scan(
                    Space::Log,
                    &keys::log(after_seq.saturating_add(1)),
                    None,
                    limit,
                )?
                .iter()
                .map(|(k, _)| keys::decode_log(k))
                .collect::<Result<_, _>>()
                .map_err(|e| corrupt("log", e))?,
        };
        seqs.into_iter()
            .map(|seq| match store.get(Space::Log, &keys::log(seq))? {
                Some(v) => Ok(decode("log", &v)?),
                None => Err(corrupt("history", format!("names missing event {seq}")).into()),
            })
            .collect()
    }

    /// Finishes and syncs every request already queued, then stops the writer.
    pub fn shutdown(&self) {
        self.writer.stop();
    }
}

struct Writer {
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

/// A decided batch on its way to storage, with the answers it owes.
struct Decided {
    number: u64,
    epoch: u64,
    batch: Batch,
    jobs: Vec<Queued>,
    outcomes: Vec<Executed>,
    /// The log sequence before its events.
    seq: u64,
    /// The server time it was decided at.
    now: UnixMillis,
}

/// State records the writer keeps decoded-ready in memory (about 300 bytes each).
const STATE_CACHE_ENTRIES: usize = 1 << 18;
/// Cashboxes, cards, products and barcodes kept for every thread's reads.
const SHARED_READ_ENTRIES: usize = 1 << 17;

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
    fn new(shared: Arc<Shared>, seq: u64) -> Writer {
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

    fn run(mut self, rx: Receiver<Job>) {
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
                Err(e) => return refuse(stats, jobs, &e.to_string()),
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
                return refuse(stats, jobs, &e.to_string());
            }
        };
        let events: u64 = outcomes.iter().map(|o| o.events.len() as u64).sum();
        let mut batch = batch;
        put_seq(&mut batch, self.seq, self.seq + events);
        let number = self.handed + 1;
        if !self.store.stage(number, &batch, self.epoch) {
            self.memo.clear();
            return refuse(stats, jobs, &crate::store::Aborted.to_string());
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

/// Answers every job with a storage failure.
fn refuse(stats: &Stats, jobs: &mut Vec<Queued>, why: &str) {
    tracing::error!(error = %why, ops = jobs.len(), "batch not committed");
    stats.queued.fetch_sub(jobs.len() as u64, Ordering::Relaxed);
    for job in jobs.drain(..) {
        let _ = job
            .answer
            .send(Err(EngineError::Storage(StoreError::Io(why.to_string()))));
    }
}

/// The committer's part: writes a decided batch durably, then answers its requests.
fn write(store: &CachedStore, shared: &Shared, mut d: Decided) {
    let stats = &shared.stats;
    let started = Instant::now();
    let requests: Vec<&Request> = d.jobs.iter().map(|j| &j.req).collect();
    let seq = append_log(&mut d.batch, d.seq, &requests, &d.outcomes, d.now);
    drop(requests);
    let result = store.commit_staged(d.number, &d.batch, d.epoch, shared.config.durable);
    stats.commit_latency.observe_duration(started.elapsed());
    if let Err(e) = result {
        let why = match e {
            CommitError::Store(e) => e.to_string(),
            CommitError::Aborted(a) => a.to_string(),
        };
        return refuse(stats, &mut d.jobs, &why);
    }
    let n = d.jobs.len() as u64;
    stats.queued.fetch_sub(n, Ordering::Relaxed);
    let offers_changed = d.outcomes.iter().any(|o| {
        o.events
            .iter()
            .any(|e| matches!(e, loyalty_core::event::Event::OfferUpserted { .. }))
    });
    if offers_changed {
        // Only now: a query must not load the old offers after this.
        shared.offers_changed();
    }
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.ops.fetch_add(n, Ordering::Relaxed);
    stats.events.fetch_add(seq - d.seq, Ordering::Relaxed);
    stats.largest_batch.fetch_max(n, Ordering::Relaxed);
    stats.batch_sizes.observe(n);
    for (job, out) in d.jobs.drain(..).zip(d.outcomes) {
        if out.replayed {
            stats.replays.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(op = %job.req.op, code = ?out.reply.code, events = out.events.len(), replayed = out.replayed, "committed");
        let _ = job.answer.send(Ok(out));
    }
}

/// An [`EventRecord`] borrowing its event, for encoding: serde writes a reference as the
/// value it points to, so the bytes are those of the owned record.
#[derive(serde::Serialize)]
struct EventRecordRef<'e> {
    version: u16,
    seq: u64,
    op: loyalty_core::ids::OpId,
    actor: loyalty_core::command::Actor,
    at: UnixMillis,
    event: &'e loyalty_core::event::Event,
}

/// What one committed batch produced.
pub struct Committed {
    pub outcomes: Vec<Executed>,
    /// The log sequence after the batch.
    pub seq: u64,
}

/// Decides and applies `requests` in order at time `now`, then writes events, state,
/// idempotency records and the log sequence in one atomic batch. Nothing is written if any
/// read fails. Used by the simulator and the benches; the writer decides (`decide_batch`)
/// on one thread and logs and writes (`append_log`) on another.
pub fn commit_batch(
    store: &dyn Store,
    program: &Program,
    seq: u64,
    requests: &[&Request],
    now: UnixMillis,
    durable: bool,
) -> Result<Committed, StoreError> {
    let fingerprinted: Vec<Fingerprinted> =
        requests.iter().map(|r| Fingerprinted::new(r)).collect();
    let (mut batch, outcomes) =
        decide_batch(store, &Memo::new(1 << 16), program, &fingerprinted, now)?;
    let next = append_log(&mut batch, seq, requests, &outcomes, now);
    put_seq(&mut batch, seq, next);
    if !batch.is_empty() {
        store.commit(&batch, durable)?;
    }
    Ok(Committed {
        outcomes,
        seq: next,
    })
}

/// A request with its fingerprint (`Request::fingerprint`), computed wherever a core is
/// free.
#[derive(Clone, Copy)]
pub struct Fingerprinted<'r> {
    pub req: &'r Request,
    pub fingerprint: [u8; 32],
}

impl<'r> Fingerprinted<'r> {
    pub fn new(req: &'r Request) -> Self {
        Fingerprinted {
            req,
            fingerprint: req.fingerprint(),
        }
    }
}

/// Decides and applies `requests` in order at time `now`; returns their outcomes and the
/// batch of state and idempotency records they wrote, without writing it. `memo` holds
/// decoded records from earlier batches and gets this batch's: if the batch is not written
/// after all, the caller clears it.
pub fn decide_batch(
    store: &dyn Store,
    memo: &Memo,
    program: &Program,
    requests: &[Fingerprinted<'_>],
    now: UnixMillis,
) -> Result<(Batch, Vec<Executed>), StoreError> {
    let mut state = StoredState::new(store).with_memo(memo);
    let mut outcomes = Vec::with_capacity(requests.len());
    for r in requests {
        let out = execute_fingerprinted(&mut state, program, r.req, r.fingerprint, now);
        if let Some(e) = state.take_failure() {
            return Err(e);
        }
        outcomes.push(out);
    }
    Ok((state.into_batch(), outcomes))
}

/// Records the log sequence after a batch's events (`stored_seq` reads it back), when the
/// batch moved it from `before` to `after`.
pub fn put_seq(batch: &mut Batch, before: u64, after: u64) {
    if after != before {
        batch.put(Space::State, keys::meta("log_seq"), encode(&after));
    }
}

/// Adds the decided events to `batch` as log records after `seq`, with their account
/// history rows; returns the log sequence after them. Decisions never read the log, so
/// this can run apart from deciding.
pub fn append_log(
    batch: &mut Batch,
    seq: u64,
    requests: &[&Request],
    outcomes: &[Executed],
    now: UnixMillis,
) -> u64 {
    // A log record per event and at most one history row: room for them all at once.
    let events: usize = outcomes.iter().map(|o| o.events.len()).sum();
    batch.writes.reserve(2 * events);
    let mut next = seq;
    for (req, out) in requests.iter().zip(outcomes) {
        for event in &out.events {
            next += 1;
            let record = EventRecordRef {
                version: EVENT_SCHEMA_VERSION,
                seq: next,
                op: req.op,
                actor: req.actor,
                at: now,
                event,
            };
            // The log is the transactional outbox: the relay publishes it in order from its
            // cursor.
            batch.put(Space::Log, keys::log(next).to_vec(), encode(&record));
            if let Some(account) = event.account() {
                batch.put(
                    Space::History,
                    keys::history(account, next).to_vec(),
                    Vec::new(),
                );
            }
        }
    }
    next
}

/// The log sequence recorded in the store (0 for a new store).
pub fn stored_seq(store: &dyn Store) -> Result<u64, StoreError> {
    match store.get(Space::State, &keys::meta("log_seq"))? {
        Some(v) => decode("state", &v),
        None => Ok(0),
    }
}

/// Rebuilds the projection from the log and compares it with the live state; with
/// `rewrite`, replaces a differing live state by the rebuild. Callers make sure no batch
/// commits meanwhile (the writer runs it between batches).
pub fn verify_store(store: &dyn Store, rewrite: bool) -> Result<VerifyReport, StoreError> {
    let mut rebuilt = MemState::default();
    let mut events = 0u64;
    let mut indexed = 0u64;
    let mut from = keys::log(1).to_vec();
    loop {
        let chunk = store.scan(Space::Log, &from, None, 10_000)?;
        let Some((last, _)) = chunk.last() else { break };
        from = keys::log(
            keys::decode_log(last).map_err(|e| StoreError::Corrupt {
                space: "log",
                detail: e.to_string(),
            })? + 1,
        )
        .to_vec();
        for (_, v) in &chunk {
            let rec: EventRecord = decode("log", v)?;
            apply(&mut rebuilt, &rec.event);
            events += 1;
            indexed += u64::from(rec.event.account().is_some());
        }
    }
    let live = StoredState::new(store).projection()?;
    let mut differences = Vec::new();
    let r = &rebuilt.projection;
    macro_rules! diff {
        ($($field:ident),*) => {$(
            if live.$field != r.$field {
                differences.push(format!("{}: live {} vs rebuilt {}", stringify!($field), live.$field.len(), r.$field.len()));
            }
        )*};
    }
    diff!(
        cashboxes,
        accounts,
        cards,
        phones,
        card_ranges,
        purchases,
        products,
        barcodes,
        offers,
        pending,
        expired
    );
    if live.identifier_policy != r.identifier_policy {
        differences.push("identifier_policy".into());
    }
    if live.accounts_opened != r.accounts_opened {
        differences.push("accounts_opened".into());
    }
    let history_rows = count(store, Space::History)?;
    if history_rows != indexed {
        differences.push(format!(
            "history index: {history_rows} rows for {indexed} account events"
        ));
    }
    let equal = live == *r && history_rows == indexed;
    let mut rewritten = false;
    if rewrite && !equal {
        let mut state = StoredState::new(store);
        let mut batch = crate::store::Batch::default();
        for (k, _) in store.scan(Space::State, &[], None, usize::MAX)? {
            if k != keys::meta("log_seq") {
                batch.delete(Space::State, k);
            }
        }
        write_projection(&mut state, r);
        batch.writes.extend(state.into_batch().writes);
        each_row(store, Space::History, |k, _| {
            batch.delete(Space::History, k.to_vec())
        })?;
        let mut failed = None;
        each_row(store, Space::Log, |_, v| {
            match decode::<EventRecord>("log", v) {
                Ok(rec) => {
                    if let Some(a) = rec.event.account() {
                        batch.put(
                            Space::History,
                            keys::history(a, rec.seq).to_vec(),
                            Vec::new(),
                        );
                    }
                }
                Err(e) => failed = Some(e),
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        store.commit(&batch, true)?;
        rewritten = true;
    }
    Ok(VerifyReport {
        events,
        equal,
        differences,
        rewritten,
        state_sha256: digest(store, Space::State)?,
        log_sha256: digest(store, Space::Log)?,
    })
}

fn corrupt(space: &'static str, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        space,
        detail: e.to_string(),
    }
}

/// Visits every row of a space in key order, in chunks.
fn each_row(
    store: &dyn Store,
    space: Space,
    mut f: impl FnMut(&[u8], &[u8]),
) -> Result<(), StoreError> {
    let mut from = Vec::new();
    loop {
        let chunk = store.scan(space, &from, None, 10_000)?;
        let Some((last, _)) = chunk.last() else {
            return Ok(());
        };
        from = last.clone();
        from.push(0);
        for (k, v) in &chunk {
            f(k, v);
        }
    }
}

fn count(store: &dyn Store, space: Space) -> Result<u64, StoreError> {
    let mut n = 0;
    each_row(store, space, |_, _| n += 1)?;
    Ok(n)
}

/// SHA-256 over a space's rows, each as length-prefixed key and value.
fn digest(store: &dyn Store, space: Space) -> Result<[u8; 32], StoreError> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    each_row(store, space, |k, v| {
        for part in [k, v] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    })?;
    Ok(h.finalize().into())
}

fn write_projection(state: &mut StoredState<'_>, p: &loyalty_core::state::Projection) {
    use loyalty_core::state::StateStore;
    for c in p.cashboxes.values() {
        state.put_cashbox(c.clone());
    }
    for a in p.accounts.values() {
        state.put_account(a.clone());
    }
    for c in p.cards.values() {
        state.put_card(c.clone());
    }
    for (phone, card) in &p.phones {
        state.put_phone(phone.clone(), card.clone());
    }
    for r in p.card_ranges.values() {
        state.put_card_range(r.clone(), true);
    }
    if let Some(policy) = &p.identifier_policy {
        state.put_identifier_policy(policy.clone());
    }
    for x in p.purchases.values() {
        state.put_purchase(x, false);
    }
    for x in p.products.values() {
        state.put_product(x.clone());
    }
    for o in p.offers.values() {
        state.put_offer(o.clone());
    }
    for s in p.coupon_series.values() {
        state.put_coupon_series(s.clone());
    }
    for c in p.coupons.values() {
        state.put_coupon(c.clone());
    }
    for o in p.orders.values() {
        state.put_order(o.clone());
    }
    state.set_accounts_opened(p.accounts_opened);
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn a_borrowed_record_encodes_as_the_owned_one() {
        let event = loyalty_core::event::Event::PointsAdjusted {
            account: loyalty_core::ids::AccountId(7),
            card: loyalty_core::ids::CardNo::new("2770000000017").expect("card"),
            delta: loyalty_core::amount::Points(-250),
            reason: "goodwill".into(),
        };
        let actor = Actor::Admin(loyalty_core::ids::OperatorName::new("ops").expect("name"));
        let owned = EventRecord {
            version: EVENT_SCHEMA_VERSION,
            seq: 42,
            op: loyalty_core::ids::OpId(9),
            actor,
            at: UnixMillis(1_800_000_000_000),
            event: event.clone(),
        };
        let borrowed = EventRecordRef {
            version: EVENT_SCHEMA_VERSION,
            seq: 42,
            op: loyalty_core::ids::OpId(9),
            actor,
            at: UnixMillis(1_800_000_000_000),
            event: &event,
        };
        assert_eq!(encode(&borrowed), encode(&owned));
        assert_eq!(
            decode::<EventRecord>("log", &encode(&borrowed)).expect("decodes"),
            owned
        );
    }
}
