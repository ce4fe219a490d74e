//! The narrow storage trait the engine writes through, with an in-memory implementation.
//! [`crate::rocks::RocksStore`] implements the same trait over RocksDB; one contract test
//! suite runs against both.

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
}

impl Space {
    pub const ALL: [Space; 5] = [
        Space::State,
        Space::Ops,
        Space::Log,
        Space::Outbox,
        Space::History,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Space::State => "state",
            Space::Ops => "ops",
            Space::Log => "log",
            Space::Outbox => "outbox",
            Space::History => "history",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Io(String),
    #[error("corrupt record in {space}: {detail}")]
    Corrupt { space: &'static str, detail: String },
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

pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

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
    fn commit(&self, batch: Batch, durable: bool) -> Result<(), StoreError>;
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

    fn commit(&self, batch: Batch, _durable: bool) -> Result<(), StoreError> {
        let mut spaces = self.spaces.write().expect("lock");
        for (space, key, value) in batch.writes {
            let m = spaces.entry(space).or_default();
            match value {
                Some(v) => m.insert(key, v),
                None => m.remove(&key),
            };
        }
        Ok(())
    }
}

/// The writer's view of the store: point reads of `state` records it has read or written
/// are answered from memory, everything else goes to the store. Only the writer writes, so
/// what it caches is what the store holds; a failed commit clears the cache, and so does
/// anything that writes past it (`clear`). Bounded: when full, it starts afresh.
pub struct CachedStore {
    inner: std::sync::Arc<dyn Store>,
    cache: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>>,
    capacity: usize,
}

impl CachedStore {
    pub fn new(inner: std::sync::Arc<dyn Store>, capacity: usize) -> CachedStore {
        CachedStore {
            inner,
            cache: Default::default(),
            capacity,
        }
    }

    pub fn clear(&self) {
        self.cache.lock().expect("cache lock").clear();
    }

    fn remember(
        &self,
        cache: &mut std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) {
        if cache.len() >= self.capacity && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, value);
    }
}

impl Store for CachedStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if space != Space::State {
            return self.inner.get(space, key);
        }
        if let Some(v) = self.cache.lock().expect("cache lock").get(key) {
            return Ok(v.clone());
        }
        let v = self.inner.get(space, key)?;
        // Absent keys are mostly new ones (a purchase about to be written): not kept.
        if let Some(found) = &v {
            let mut cache = self.cache.lock().expect("cache lock");
            self.remember(&mut cache, key.to_vec(), Some(found.clone()));
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
        self.inner.scan(space, from, to, limit)
    }

    fn commit(&self, batch: Batch, durable: bool) -> Result<(), StoreError> {
        {
            let mut cache = self.cache.lock().expect("cache lock");
            for (space, key, value) in &batch.writes {
                if *space == Space::State {
                    self.remember(&mut cache, key.clone(), value.clone());
                }
            }
        }
        let done = self.inner.commit(batch, durable);
        if done.is_err() {
            self.clear();
        }
        done
    }
}
