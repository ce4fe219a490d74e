//! The engine's handle: what callers hold. It admits requests (a bounded number in flight
//! per cashbox — the cashbox's lane — and a bounded queue before the writer), sends them to
//! the one ledger writer and waits for their durable answers; it runs read-only queries
//! against committed state (sharing the offers a query last loaded), reads the log and the
//! account histories, and starts and stops the writer.
//!
//! It must not decide or write anything itself: every state change goes through the writer
//! (`writer`), and only the committer (`batch`) writes the store, apart from the outbox's
//! cursor (`outbox`).

use crate::batch::stored_seq;
use crate::histogram::Histogram;
use crate::keys;
use crate::store::{SharedReads, Space, Store, StoreError};
use crate::stored::{decode, StoredState};
use crate::verify::VerifyReport;
use crate::writer::{Writer, SHARED_READ_ENTRIES};
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::event::EventRecord;
use loyalty_core::ids::{AccountId, CashboxId, OpId};
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::Executed;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// What was full when a request was refused as busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The cashbox has `cashbox_queue_depth_max` requests in flight.
    CashboxLane,
    /// The writer's queue holds `queue_depth_max` requests.
    EngineQueue,
    /// The cashbox sent more requests this second than its rate allows.
    CashboxRate,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Busy::CashboxLane => "cashbox lane",
            Busy::EngineQueue => "engine queue",
            Busy::CashboxRate => "cashbox requests per second",
        })
    }
}

/// Why the engine could not process a request (as opposed to refusing it, which is a
/// [`loyalty_core::outcome::Code`] in the answer).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("too many requests in flight ({what}); retry in {retry_after_ms} ms")]
    Busy { what: Busy, retry_after_ms: u64 },
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

pub(crate) type Answer<T> = oneshot::Sender<Result<T, EngineError>>;

/// A request on its way to the writer, with its fingerprint (computed by the caller's
/// thread, not the writer's) and where its answer goes.
pub(crate) struct Queued {
    pub(crate) req: Request,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) answer: Answer<Executed>,
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

pub(crate) enum Job {
    Execute(Box<Queued>),
    /// Requests applied one after another, contiguously, in order (an offline upload).
    ExecuteMany(Vec<Queued>),
    Verify {
        rewrite: bool,
        answer: Answer<VerifyReport>,
    },
    Stop,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: EngineConfig,
    pub(crate) clock: Arc<dyn Clock>,
    lanes: Mutex<HashMap<CashboxId, u32>>,
    pub(crate) stats: Stats,
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
    pub(crate) fn offers_changed(&self) {
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
                what: Busy::CashboxLane,
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
        self.submit(Job::Execute(Box::new(Queued::new(req, answer, lane))), 1)?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Puts a job of `requests` requests into the writer's queue, or refuses it when the
    /// queue is full.
    fn submit(&self, job: Job, requests: u64) -> Result<(), EngineError> {
        match self.tx.try_send(job) {
            Ok(()) => {
                self.shared
                    .stats
                    .queued
                    .fetch_add(requests, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(EngineError::Busy {
                what: Busy::EngineQueue,
                retry_after_ms: 20,
            }),
            Err(TrySendError::Disconnected(_)) => Err(EngineError::ShuttingDown),
        }
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
        self.submit(Job::ExecuteMany(items), answers.len() as u64)?;
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
                    .map_err(|e| corrupt(Space::History, e))?
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
                .map_err(|e| corrupt(Space::Log, e))?,
        };
        seqs.into_iter()
            .map(|seq| match store.get(Space::Log, &keys::log(seq))? {
                Some(v) => Ok(decode(Space::Log, &v)?),
                None => Err(corrupt(Space::History, format!("names missing event {seq}")).into()),
            })
            .collect()
    }

    /// Finishes and syncs every request already queued, then stops the writer.
    pub fn shutdown(&self) {
        self.writer.stop();
    }
}

fn corrupt(space: Space, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        space,
        detail: e.to_string(),
    }
}
