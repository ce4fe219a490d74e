//! Batches: deciding a batch of requests against a store view (`decide_batch`), adding
//! their events to the log with their history rows (`append_log`), the log sequence
//! (`put_seq`, `stored_seq`), and the committer's part — writing a decided batch durably
//! and only then answering its requests (`write`). `commit_batch` does all of it on one
//! thread, for the simulator and the benches.
//!
//! Nothing here decides a rule: `loyalty_core::execute` does, request by request.

use crate::keys::{self, Meta};
use crate::shared::{EngineError, Queued, Shared, Stats};
use crate::store::{Batch, CachedStore, Space, Store, StoreError};
use crate::stored::{decode, encode, Memo, StoredState};
use loyalty_core::command::Request;
use loyalty_core::event::EVENT_SCHEMA_VERSION;
use loyalty_core::model::{Program, UnixMillis};
use loyalty_core::{execute_fingerprinted, Executed};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A decided batch on its way to storage, with the answers it owes.
pub(crate) struct Decided {
    pub(crate) number: u64,
    pub(crate) epoch: u64,
    pub(crate) batch: Batch,
    pub(crate) jobs: Vec<Queued>,
    pub(crate) outcomes: Vec<Executed>,
    /// The log sequence before its events.
    pub(crate) seq: u64,
    /// The server time it was decided at.
    pub(crate) now: UnixMillis,
}

/// Answers every job with the storage failure that kept their batch from being written.
pub(crate) fn refuse(stats: &Stats, jobs: &mut Vec<Queued>, why: &StoreError) {
    tracing::error!(error = %why, ops = jobs.len(), "batch not committed");
    stats.queued.fetch_sub(jobs.len() as u64, Ordering::Relaxed);
    for job in jobs.drain(..) {
        let _ = job.answer.send(Err(EngineError::Storage(why.clone())));
    }
}

/// The committer's part: writes a decided batch durably, then answers its requests.
pub(crate) fn write(store: &CachedStore, shared: &Shared, mut d: Decided) {
    let stats = &shared.stats;
    let started = Instant::now();
    let requests: Vec<&Request> = d.jobs.iter().map(|j| &j.req).collect();
    let seq = append_log(&mut d.batch, d.seq, &requests, &d.outcomes, d.now);
    drop(requests);
    let result = store.commit_staged(d.number, &d.batch, d.epoch, shared.config.durable);
    stats.commit_latency.observe_duration(started.elapsed());
    if let Err(e) = result {
        return refuse(stats, &mut d.jobs, &e);
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
        batch.put(Space::State, keys::meta(Meta::LogSeq), encode(&after));
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
    match store.get(Space::State, &keys::meta(Meta::LogSeq))? {
        Some(v) => decode(Space::State, &v),
        None => Ok(0),
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use loyalty_core::command::Actor;
    use loyalty_core::event::EventRecord;

    #[test]
    fn a_borrowed_record_encodes_as_the_owned_one() {
        let event = loyalty_core::event::Event::PointsAdjusted {
            account: loyalty_core::ids::AccountId(7),
            card: loyalty_core::ids::CardNo::new("2770000000017").expect("card"),
            delta: loyalty_core::amount::Points(-250),
            reason: "goodwill".into(),
            lots: Vec::new(),
            taken: vec![loyalty_core::model::Take {
                lot: 3,
                points: loyalty_core::amount::Points(250),
                expires_at: Some(UnixMillis(1_900_000_000_000)),
            }],
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
            decode::<EventRecord>(Space::Log, &encode(&borrowed)).expect("decodes"),
            owned
        );
    }
}
