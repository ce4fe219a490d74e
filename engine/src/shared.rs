//! What the handle, the writer and the committer share: the engine's configuration, its
//! errors and counters, the clock, and a request on its way to the writer (`Queued`, in a
//! `Job`) with the place it holds in its cashbox's lane.
//!
//! Nothing here decides, writes or answers.

use crate::histogram::Histogram;
use crate::store::{Store, StoreError};
use crate::verify::VerifyReport;
use loyalty_core::command::Request;
use loyalty_core::ids::CashboxId;
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::Executed;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
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
    pub(crate) fn new(req: Request, answer: Answer<Executed>, lane: Option<LaneTicket>) -> Queued {
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
    /// Forget everything kept in memory and read the log sequence again: the store was
    /// written past the engine (a replica that followed a leader and now leads).
    Resync {
        answer: Answer<u64>,
    },
    Stop,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: EngineConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) lanes: Mutex<HashMap<CashboxId, u32>>,
    pub(crate) stats: Stats,
    pub(crate) offers: Mutex<OfferCache>,
}

/// The offers as read queries last loaded them, so that every `Calculate` does not scan
/// them again. The writer bumps the version (and drops the list) when a batch changed an
/// offer; a query stores what it loaded only if the version did not move meanwhile.
#[derive(Default)]
pub(crate) struct OfferCache {
    pub(crate) version: u64,
    pub(crate) offers: Option<Arc<[loyalty_core::model::Offer]>>,
}

impl Shared {
    pub(crate) fn offers_changed(&self) {
        let mut c = self.offers.lock().expect("offer cache lock");
        c.version += 1;
        c.offers = None;
    }
}

/// A place in a cashbox's lane; dropping it frees the place.
pub(crate) struct LaneTicket {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cashbox: CashboxId,
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
