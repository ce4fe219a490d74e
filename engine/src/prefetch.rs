//! Lookups done ahead of the writer, on a thread of their own.
//!
//! Most of what the writer reads from RocksDB for a batch of purchases is keys that do not
//! exist yet: the operation id of every request and the purchase key of every new cheque.
//! Those lookups cost the writer about a quarter of its time, and the writer is the one
//! thread every write passes through. A prefetcher looks them up in the batch's order while
//! the writer decides it; the writer takes a result that is ready and looks up itself
//! whatever is not.
//!
//! Why a result found ahead is the writer's answer: the prefetcher reads through the
//! writer's own store view (staged batches, then committed memory, then RocksDB), and only
//! while the writer decides the batch. In that window nothing is staged — only the writer
//! stages, after deciding — and the committer landing an earlier batch moves its writes
//! from staged to stored without changing what a read finds. So every read of a key in
//! the window finds the same value, whichever thread makes it. The prefetcher reads without
//! keeping what it found in the writer's memory, so a read that outlives the window leaves
//! nothing behind; its result is dropped with the batch's lookups.

use crate::keys;
use crate::store::{space_maps, CachedStore, HashMap, Pairs, Space, Store, StoreError};
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::ids::PurchaseKey;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// Below this many requests a batch is decided without a prefetcher: handing the lookups
/// over and waking the thread costs more than the few lookups it would take off the writer.
pub const PREFETCH_OPS_MIN: usize = 64;

/// The lookups of one batch, in the order the writer will need them.
pub struct Lookups {
    order: Vec<(Space, Vec<u8>)>,
    /// Position in `order` of each key, per space.
    index: [HashMap<Vec<u8>, usize>; Space::ALL.len()],
    found: Vec<OnceLock<Option<Vec<u8>>>>,
    /// Set when the writer has decided the batch: results are no longer wanted.
    over: AtomicBool,
}

impl Lookups {
    /// The keys the writer looks up first for `requests`: each one's operation id, and the
    /// purchase key of each new cheque a cashbox sends.
    pub fn of<'r>(requests: impl Iterator<Item = &'r Request>) -> Lookups {
        Lookups::of_keys(requests.flat_map(|req| {
            let cheque = match &req.command {
                Command::RegisterPurchase { cheque }
                | Command::PayWithBonus { cheque, .. }
                | Command::ImportOfflinePurchase { cheque, .. } => Some(&cheque.cheque),
                _ => None,
            };
            let purchase = match (req.actor, cheque) {
                (Actor::Cashbox(cashbox), Some(cheque)) => Some(keys::purchase(&PurchaseKey {
                    cashbox,
                    cheque: cheque.clone(),
                })),
                _ => None,
            };
            std::iter::once((Space::Ops, keys::operation(req.op).to_vec()))
                .chain(purchase.map(|k| (Space::State, k)))
        }))
    }

    /// Lookups of `keys`, in their order (a key given twice is looked up once).
    pub fn of_keys(keys: impl IntoIterator<Item = (Space, Vec<u8>)>) -> Lookups {
        let keys: Vec<(Space, Vec<u8>)> = keys.into_iter().collect();
        let mut order = Vec::with_capacity(keys.len());
        let mut index: [HashMap<Vec<u8>, usize>; Space::ALL.len()] =
            space_maps(keys.iter().map(|(s, _)| *s));
        for (space, key) in keys {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                index[space as usize].entry(key.clone())
            {
                slot.insert(order.len());
                order.push((space, key));
            }
        }
        Lookups {
            found: (0..order.len()).map(|_| OnceLock::new()).collect(),
            order,
            index,
            over: AtomicBool::new(false),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The value found ahead for `key`, if it is one of these lookups and already done.
    fn ready(&self, space: Space, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        let at = *self.index[space as usize].get(key)?;
        self.found[at].get()
    }

    /// Looks every key up through `store`, in order, until the writer no longer wants them.
    /// A lookup that fails is left to the writer, which then sees the failure itself.
    pub fn run(&self, store: &CachedStore) {
        for ((space, key), slot) in self.order.iter().zip(&self.found) {
            if self.over.load(Ordering::Relaxed) {
                return;
            }
            if let Ok(v) = store.peek(*space, key) {
                let _ = slot.set(v);
            }
        }
    }

    /// The writer has decided the batch.
    pub fn finish(&self) {
        self.over.store(true, Ordering::Relaxed);
    }
}

/// The writer's store view for one batch: lookups found ahead answered from them, every
/// other read (and every lookup not ready yet) from the store.
pub struct Ahead {
    pub store: Arc<CachedStore>,
    pub lookups: Arc<Lookups>,
}

impl Store for Ahead {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.lookups.ready(space, key) {
            Some(found) => Ok(found.clone()),
            None => self.store.get(space, key),
        }
    }

    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        self.store.scan(space, from, to, limit)
    }

    /// Deciding never writes; the committer writes through the writer's store itself.
    fn commit(&self, _batch: &crate::store::Batch, _durable: bool) -> Result<(), StoreError> {
        Err(StoreError::Io(
            "a batch's view for deciding does not write".into(),
        ))
    }
}

/// The prefetcher thread: takes one batch's lookups at a time.
pub struct Prefetcher {
    to: Option<Sender<Arc<Lookups>>>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetcher {
    pub fn start(store: Arc<CachedStore>) -> Prefetcher {
        let (to, from) = mpsc::channel::<Arc<Lookups>>();
        let thread = std::thread::Builder::new()
            .name("ledger-prefetch".into())
            .spawn(move || {
                for lookups in from {
                    lookups.run(&store);
                }
            })
            .expect("spawn the prefetch thread");
        Prefetcher {
            to: Some(to),
            thread: Some(thread),
        }
    }

    /// Hands `lookups` over; false if the thread is gone (the writer then looks up alone).
    pub fn hand(&self, lookups: Arc<Lookups>) -> bool {
        self.to.as_ref().is_some_and(|t| t.send(lookups).is_ok())
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.to = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the ledger prefetch thread panicked");
            }
        }
    }
}
