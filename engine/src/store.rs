//! The narrow storage trait the engine writes through, with an in-memory implementation.
//! [`crate::rocks::RocksStore`] implements the same trait over RocksDB; one contract test
//! suite runs against both.

use crate::bounded::Bounded;
use crate::keys;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// Key spaces (column families in RocksDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// The projection: entities and their indexes.
    State,
    /// Idempotency: operation id → fingerprint and original answer.
    Ops,
    /// The event log: sequence → event record.
    Log,
    /// Events committed but not yet published to Kafka: sequence → empty.
    Outbox,
    /// Account history index: (account, sequence) → empty, for each event of an account.
    History,
    /// A replica's consensus records: its vote, log entries, what it applied (`replica`).
    /// Never written by the engine.
    Raft,
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Space {
    pub const ALL: [Space; 6] = [
        Space::State,
        Space::Ops,
        Space::Log,
        Space::Outbox,
        Space::History,
        Space::Raft,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Space::State => "state",
            Space::Ops => "ops",
            Space::Log => "log",
            Space::Outbox => "outbox",
            Space::History => "history",
            Space::Raft => "raft",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Io(String),
    #[error("corrupt record in {space}: {detail}")]
    Corrupt { space: Space, detail: String },
    /// A staged batch belongs to an epoch that has ended: an earlier write failed.
    #[error("an earlier batch failed to write; this one was decided on top of it")]
    Aborted,
    /// A replica that is not the cluster's leader (any more) was asked to write.
    #[error("this replica is not the leader{}", leader.as_ref().map(|l| format!("; the leader is at {l}")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
}

/// One atomic write: all of it lands or none of it does.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub writes: Vec<(Space, Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn put(&mut self, space: Space, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push((space, key, Some(value)));
    }
    pub fn delete(&mut self, space: Space, key: Vec<u8>) {
        self.writes.push((space, key, None));
    }
    pub fn len(&self) -> usize {
        self.writes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A key and its value.
pub type Row = (Vec<u8>, Vec<u8>);
pub type Pairs = Vec<Row>;

/// What the engine needs from storage, and nothing more.
pub trait Store: Send + Sync + 'static {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys in `[from, to)` (to the end when `to` is `None`), in order, at most `limit`.
    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError>;
    /// Writes the batch atomically; with `durable`, returns only once it is on stable storage.
    fn commit(&self, batch: &Batch, durable: bool) -> Result<(), StoreError>;
    /// Drops whatever is kept in memory of the stored records: what is below was written
    /// past this store (a replica applying its leader's entries).
    fn forget(&self) {}
}

/// In-memory store for tests and simulations. Not durable, by definition.
type Tree = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Default)]
pub struct MemStore {
    spaces: RwLock<BTreeMap<Space, Tree>>,
}

impl Store for MemStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let spaces = self.spaces.read().expect("lock");
        Ok(spaces.get(&space).and_then(|m| m.get(key).cloned()))
    }

    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        let spaces = self.spaces.read().expect("lock");
        let Some(m) = spaces.get(&space) else {
            return Ok(Vec::new());
        };
        Ok(m.range(from.to_vec()..)
            .take_while(|(k, _)| to.is_none_or(|t| k.as_slice() < t))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, batch: &Batch, _durable: bool) -> Result<(), StoreError> {
        let mut spaces = self.spaces.write().expect("lock");
        for (space, key, value) in &batch.writes {
            let m = spaces.entry(*space).or_default();
            match value {
                Some(v) => m.insert(key.clone(), v.clone()),
                None => m.remove(key),
            };
        }
        Ok(())
    }
}

/// Committed records that requests read — cashboxes (each request's authentication), cards,
/// accounts (every identification), products, barcodes and settings — kept in memory for
/// all threads, over the store that holds them. Writes pass through; once one has landed, the
/// kept copies of the keys it wrote are replaced before the writer answers, so a read
/// after an acknowledged change sees it. A read that misses loads from the store and
/// keeps what it loaded only if no write of a kept kind landed meanwhile (a version
/// count), so an older value can never replace a newer one. Bounded (`Bounded`: what is in
/// use stays).
pub struct SharedReads {
    inner: std::sync::Arc<dyn Store>,
    kept: std::sync::Mutex<Kept>,
}

struct Kept {
    /// Bumped by every landed write of a kept kind.
    version: u64,
    /// `state` records by key (`None`: known absent).
    records: Bounded<Option<Vec<u8>>>,
}

/// Record kinds kept by [`SharedReads`], by their key's tag.
fn kept_kind(space: Space, key: &[u8]) -> bool {
    space == Space::State
        && matches!(
            key.first(),
            Some(
                &(keys::TAG_CASHBOX
                    | keys::TAG_CARD
                    | keys::TAG_ACCOUNT
                    | keys::TAG_PRODUCT
                    | keys::TAG_BARCODE
                    | keys::TAG_META)
            )
        )
}

impl SharedReads {
    pub fn new(inner: std::sync::Arc<dyn Store>, capacity: usize) -> SharedReads {
        SharedReads {
            inner,
            kept: std::sync::Mutex::new(Kept {
                version: 0,
                records: Bounded::new(capacity),
            }),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().expect("shared reads lock")
    }
}

impl Store for SharedReads {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !kept_kind(space, key) {
            return self.inner.get(space, key);
        }
        let version = {
            let mut kept = self.kept();
            if let Some(found) = kept.records.get(key) {
                return Ok(found.clone());
            }
            kept.version
        };
        let loaded = self.inner.get(space, key)?;
        let mut kept = self.kept();
        if kept.version == version {
            kept.records.insert(key.to_vec(), loaded.clone());
        }
        Ok(loaded)
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

    fn commit(&self, batch: &Batch, durable: bool) -> Result<(), StoreError> {
        let written = self.inner.commit(batch, durable);
        let mut kept = self.kept();
        if written.is_err() {
            // What landed is unknown: keep nothing.
            kept.records.clear();
            kept.version += 1;
            return written;
        }
        let mut touched = false;
        for (space, key, value) in &batch.writes {
            if kept_kind(*space, key) {
                touched = true;
                if let Some(slot) = kept.records.get_mut(key) {
                    slot.clone_from(value);
                }
            }
        }
        if touched {
            kept.version += 1;
        }
        Ok(())
    }

    fn forget(&self) {
        {
            let mut kept = self.kept();
            kept.records.clear();
            kept.version += 1;
        }
        self.inner.forget();
    }
}

/// The writer's view of the store. Point reads of `state` records it has read or written
/// are answered from memory; so are reads of anything written by a batch that has been
/// decided and handed over for writing but is not durable yet (*staged*), so that the next
/// batch can be decided while the previous one is written. Everything else goes to the
/// store.
///
/// Only the writer writes, so what it caches is what the store holds. A failed write, and
/// anything that writes past the cache (`clear`), drops the cache and every staged batch and
/// starts a new *epoch*: a batch decided in an earlier epoch may have seen writes that never
/// landed, so it is refused instead of written. Bounded: the committed records it keeps
/// are a `Bounded` memory (staged writes stay until they land).
pub struct CachedStore {
    inner: std::sync::Arc<dyn Store>,
    memory: std::sync::Mutex<Memory>,
}

/// One staged batch's writes, per space: key → value (`None`: deleted).
type StagedWrites = [HashMap<Vec<u8>, Option<Vec<u8>>>; Space::ALL.len()];

struct Memory {
    /// Committed `state` records by key (`None`: known absent after a delete).
    committed: Bounded<Option<Vec<u8>>>,
    /// Staged batches, oldest first: their number and writes.
    staged: std::collections::VecDeque<(u64, StagedWrites)>,
    epoch: u64,
}

/// Keys are short and come from the engine itself, not from an adversary choosing hash
/// collisions at will: a fast hasher (still randomly seeded) instead of SipHash.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A map with room for `capacity` entries from the start: growing a map rehashes every
/// key at once, which at a hundred thousand keys stalls the thread that holds it (and the
/// lock around it) for tens of milliseconds, and at a batch's size still costs copies.
pub fn bounded_map<V>(capacity: usize) -> HashMap<Vec<u8>, V> {
    HashMap::with_capacity_and_hasher(capacity, Default::default())
}

/// One map per space, each with room for the keys `spaces` names in it.
pub fn space_maps<V>(
    spaces: impl IntoIterator<Item = Space>,
) -> [HashMap<Vec<u8>, V>; Space::ALL.len()] {
    let mut counts = [0usize; Space::ALL.len()];
    for space in spaces {
        counts[space as usize] += 1;
    }
    counts.map(bounded_map)
}

impl Memory {
    /// The newest staged write of `key`, if a staged batch writes it.
    fn staged(&self, space: Space, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.staged
            .iter()
            .rev()
            .find_map(|(_, writes)| writes[space as usize].get(key))
    }
}

impl CachedStore {
    pub fn new(inner: std::sync::Arc<dyn Store>, capacity: usize) -> CachedStore {
        CachedStore {
            inner,
            memory: std::sync::Mutex::new(Memory {
                committed: Bounded::new(capacity),
                staged: Default::default(),
                epoch: 0,
            }),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().expect("cache lock")
    }

    /// Forgets everything and ends the epoch (staged batches will not be written).
    pub fn clear(&self) {
        let mut m = self.memory();
        m.committed.clear();
        m.staged.clear();
        m.epoch += 1;
    }

    pub fn epoch(&self) -> u64 {
        self.memory().epoch
    }

    /// Makes batch `number`'s writes visible to reads before they are durable. Refused
    /// (`false`) when the epoch is no longer `epoch`.
    pub fn stage(&self, number: u64, batch: &Batch, epoch: u64) -> bool {
        // Copied before taking the lock, which reads share with the committer.
        let mut writes: StagedWrites = space_maps(batch.writes.iter().map(|(s, _, _)| *s));
        for (space, key, value) in &batch.writes {
            writes[*space as usize].insert(key.clone(), value.clone());
        }
        let mut m = self.memory();
        if m.epoch != epoch {
            return false;
        }
        m.staged.push_back((number, writes));
        true
    }

    /// Writes staged batch `number` (the oldest staged) unless its epoch has ended; once
    /// durable, its `state` writes move from staged to the cache. A failed write ends the
    /// epoch. `batch` may hold more than was staged (records nothing reads through this
    /// store, like the log), never other `state` writes.
    pub fn commit_staged(
        &self,
        number: u64,
        batch: &Batch,
        epoch: u64,
        durable: bool,
    ) -> Result<(), StoreError> {
        if self.epoch() != epoch {
            return Err(StoreError::Aborted);
        }
        if let Err(e) = self.inner.commit(batch, durable) {
            self.clear();
            return Err(e);
        }
        let mut m = self.memory();
        let staged = match m.staged.front() {
            Some((n, _)) if *n == number => m.staged.pop_front().map(|(_, w)| w),
            _ => None,
        };
        let [state, ..] = staged.unwrap_or_default();
        for (key, value) in state {
            m.committed.insert(key, value);
        }
        Ok(())
    }
}

impl CachedStore {
    /// What a read finds, without keeping it in memory: for reads from another thread than
    /// the writer's, which may end after the writer has staged a newer value.
    pub fn peek(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.remembered(space, key) {
            return Ok(v);
        }
        self.inner.get(space, key)
    }

    fn remembered(&self, space: Space, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let mut m = self.memory();
        if let Some(v) = m.staged(space, key) {
            return Some(v.clone());
        }
        if space == Space::State {
            return m.committed.get(key).cloned();
        }
        None
    }
}

impl Store for CachedStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.remembered(space, key) {
            return Ok(v);
        }
        // Not staged now, so no batch in flight writes it: the store has the truth.
        let v = self.inner.get(space, key)?;
        // Absent keys are mostly new ones (a purchase about to be written): not kept —
        // except the programme's settings, which every cheque looks up whether or not an
        // administrator ever set them (levels, bonus rules).
        let setting = matches!(
            key.first(),
            Some(&crate::keys::TAG_META | &crate::keys::TAG_BONUS_RULE)
        );
        if space == Space::State && (v.is_some() || setting) {
            self.memory().committed.insert(key.to_vec(), v.clone());
        }
        Ok(v)
    }

    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        // Staged writes first: one that lands meanwhile is then seen twice, never missed.
        // Oldest first, so that a newer batch's write of a key wins in the overlay.
        let staged: Vec<(Vec<u8>, Option<Vec<u8>>)> = self
            .memory()
            .staged
            .iter()
            .flat_map(|(_, writes)| writes[space as usize].iter())
            .filter(|(k, _)| k.as_slice() >= from && to.is_none_or(|t| k.as_slice() < t))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if staged.is_empty() {
            return self.inner.scan(space, from, to, limit);
        }
        let stored = self
            .inner
            .scan(space, from, to, limit.saturating_add(staged.len()))?;
        Ok(overlay(stored, staged, limit))
    }

    fn commit(&self, batch: &Batch, durable: bool) -> Result<(), StoreError> {
        let epoch = self.epoch();
        self.stage(0, batch, epoch);
        self.commit_staged(0, batch, epoch, durable)
    }

    fn forget(&self) {
        self.clear();
        self.inner.forget();
    }
}

/// `stored` pairs with `writes` laid over them (a `None` deletes), in key order, at most
/// `limit`.
pub fn overlay(
    stored: Pairs,
    writes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    limit: usize,
) -> Pairs {
    let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored.into_iter().collect();
    for (k, v) in writes {
        match v {
            Some(v) => merged.insert(k, v),
            None => merged.remove(&k),
        };
    }
    merged.into_iter().take(limit).collect()
}
