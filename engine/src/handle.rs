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
use crate::keys;
use crate::shared::{
    Busy, Clock, EngineConfig, EngineError, Job, LaneTicket, OfferCache, Queued, Shared, Stats,
};
use crate::store::{SharedReads, Space, Store, StoreError};
use crate::stored::{decode, StoredState};
use crate::verify::VerifyReport;
use crate::writer::{Writer, SHARED_READ_ENTRIES};
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::event::EventRecord;
use loyalty_core::ids::{AccountId, OpId};
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::Executed;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

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
        if crate::verify::upgrade_state(&*store)? {
            tracing::info!("derived state rebuilt from the log for the new layout");
        }
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

    /// Requests one cashbox may have in flight.
    pub fn cashbox_lane_max(&self) -> u32 {
        self.shared.config.cashbox_queue_depth_max
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

    /// Requests of any cashboxes as they arrived on one channel (a store server's stream):
    /// each is admitted to its cashbox's lane, and the admitted ones enter the writer's queue
    /// together, as one entry, so that a burst shares a group commit. Returns at once, for
    /// each request in order, its answer to come or why it was refused.
    pub fn submit_many(&self, reqs: Vec<Request>) -> Vec<Result<Pending, EngineError>> {
        let mut out = Vec::with_capacity(reqs.len());
        let mut items = Vec::with_capacity(reqs.len());
        for req in reqs {
            match self.admit(req.actor) {
                Ok(lane) => {
                    let (answer, rx) = oneshot::channel();
                    items.push(Queued::new(req, answer, lane));
                    out.push(Ok(Pending(rx)));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        if items.is_empty() {
            return out;
        }
        let n = items.len() as u64;
        if let Err(e) = self.submit(Job::ExecuteMany(items), n) {
            for r in &mut out {
                if r.is_ok() {
                    *r = Err(match &e {
                        EngineError::Busy {
                            what,
                            retry_after_ms,
                        } => EngineError::Busy {
                            what: *what,
                            retry_after_ms: *retry_after_ms,
                        },
                        _ => EngineError::ShuttingDown,
                    });
                }
            }
        }
        out
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

    /// Once every batch in hand is written, drops what the engine keeps in memory of the
    /// store and reads the log sequence from it again; returns the sequence. For a replica
    /// about to lead: what it applied as a follower went past the engine.
    pub async fn resync(&self) -> Result<u64, EngineError> {
        let (answer, rx) = oneshot::channel();
        self.tx
            .send(Job::Resync { answer })
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

/// The answer to a request in the writer's queue, once it is durable.
pub struct Pending(oneshot::Receiver<Result<Executed, EngineError>>);

impl std::future::Future for Pending {
    type Output = Result<Executed, EngineError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(EngineError::ShuttingDown)))
    }
}

fn corrupt(space: Space, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        space,
        detail: e.to_string(),
    }
}
