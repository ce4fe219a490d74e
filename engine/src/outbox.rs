//! The transactional outbox. The event log is the outbox: every committed event has its
//! sequence, and the relay's cursor — the last sequence the broker acknowledged, one key of
//! the `outbox` space — says where publishing goes on. [`Outbox`] is the only way the relay
//! (and the simulator, which runs the relay's steps) reach the log: they read the events
//! pending after the cursor and acknowledge a sequence; the key codec and the stored
//! encodings stay inside this crate.
//!
//! The cursor is written unsynced and never moves back: a cursor lost in a crash only
//! means that some events are published again, and consumers dedupe by event id.

use crate::keys;
use crate::store::{Batch, Space, Store, StoreError};
use crate::stored::{decode, encode, StoredState};
use loyalty_core::event::EventRecord;
use loyalty_core::model::UnixMillis;

/// The outbox of one store.
pub struct Outbox<'s> {
    store: &'s dyn Store,
}

/// Events committed but not yet acknowledged, and how old the oldest is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    pub events: u64,
    pub oldest_age_ms: i64,
}

impl<'s> Outbox<'s> {
    pub fn new(store: &'s dyn Store) -> Self {
        Outbox { store }
    }

    /// The sequence of the last event the broker acknowledged (0 before the first).
    pub fn cursor(&self) -> Result<u64, StoreError> {
        match self.store.get(Space::Outbox, keys::RELAY_CURSOR)? {
            Some(v) => decode(Space::Outbox, &v),
            None => Ok(0),
        }
    }

    /// The committed events after the cursor, at most `limit`, in commit order, each made
    /// into what the caller sends by `message`. `message` may read the state for facts
    /// that never change once recorded (a purchase's cheque, a cashbox's store).
    pub fn pending<M>(
        &self,
        limit: usize,
        mut message: impl FnMut(&EventRecord, &StoredState<'_>) -> M,
    ) -> Result<Vec<M>, StoreError> {
        let from = keys::log(self.cursor()? + 1);
        let rows = self.store.scan(Space::Log, &from, None, limit)?;
        let view = StoredState::new(self.store);
        let mut messages = Vec::with_capacity(rows.len());
        for (_, raw) in rows {
            let rec: EventRecord = decode(Space::Log, &raw)?;
            messages.push(message(&rec, &view));
        }
        if let Some(e) = view.take_failure() {
            return Err(e);
        }
        Ok(messages)
    }

    /// Moves the cursor to `seq`, the last of a run of events the broker acknowledged in
    /// order. A sequence at or before the cursor changes nothing.
    pub fn acknowledge(&self, seq: u64) -> Result<(), StoreError> {
        if seq <= self.cursor()? {
            return Ok(());
        }
        let mut batch = Batch::default();
        batch.put(Space::Outbox, keys::RELAY_CURSOR.to_vec(), encode(&seq));
        self.store.commit(&batch, false)
    }

    /// After a round of sends in commit order, `(sequence, acknowledged)` per message:
    /// moves the cursor past the run of acknowledged messages from the first, and returns
    /// its length. Stopping at the first failure leaves it and everything after it for the
    /// next round, so per-key order is kept (at the price of possible duplicates).
    pub fn acknowledge_prefix(
        &self,
        round: impl IntoIterator<Item = (u64, bool)>,
    ) -> Result<usize, StoreError> {
        let mut done = 0;
        let mut last = None;
        for (seq, acked) in round {
            if !acked {
                break;
            }
            done += 1;
            last = Some(seq);
        }
        if let Some(seq) = last {
            self.acknowledge(seq)?;
        }
        Ok(done)
    }

    /// How far publishing is behind the log at `now`.
    pub fn lag(&self, now: UnixMillis) -> Result<Lag, StoreError> {
        let done = self.cursor()?;
        let last_seq = crate::stored_seq(self.store)?;
        if last_seq <= done {
            return Ok(Lag::default());
        }
        let oldest_age_ms = match self.store.get(Space::Log, &keys::log(done + 1))? {
            Some(v) => {
                let rec: EventRecord = decode(Space::Log, &v)?;
                (now.0 - rec.at.0).max(0)
            }
            None => 0,
        };
        Ok(Lag {
            events: last_seq - done,
            oldest_age_ms,
        })
    }
}
