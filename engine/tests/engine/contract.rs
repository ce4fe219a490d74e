//! One contract, two stores: what the engine relies on from storage.

use loyalty_engine::keys::{TAG_ACCOUNT, TAG_CARD, TAG_CASHBOX, TAG_PURCHASE};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::{Batch, CachedStore, MemStore, SharedReads, Space, Store};
use std::sync::{mpsc, Arc, Mutex};

fn contract(store: &dyn Store) {
    // Empty reads.
    assert_eq!(store.get(Space::State, b"a").unwrap(), None);
    assert!(store.scan(Space::Log, b"", None, 10).unwrap().is_empty());
    // A batch lands whole, across spaces.
    let mut b = Batch::default();
    for k in [b"b".as_slice(), b"a", b"c", b"ab"] {
        b.put(Space::State, k.to_vec(), k.to_vec());
    }
    b.put(Space::Log, vec![0, 1], b"e1".to_vec());
    b.put(Space::Ops, vec![9], b"op".to_vec());
    store.commit(&b, true).unwrap();
    assert_eq!(
        store.get(Space::State, b"ab").unwrap(),
        Some(b"ab".to_vec())
    );
    assert_eq!(store.get(Space::Ops, &[9]).unwrap(), Some(b"op".to_vec()));
    // Spaces are separate.
    assert_eq!(store.get(Space::Ops, b"ab").unwrap(), None);
    // Scans are ordered, bounded and limited.
    let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(store.scan(Space::State, b"", None, 10).unwrap()),
        vec![b"a".to_vec(), b"ab".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(
        keys(store.scan(Space::State, b"ab", Some(b"c"), 10).unwrap()),
        vec![b"ab".to_vec(), b"b".to_vec()]
    );
    assert_eq!(
        keys(store.scan(Space::State, b"a", None, 2).unwrap()),
        vec![b"a".to_vec(), b"ab".to_vec()]
    );
    // Deletes and overwrites in one batch, applied in order.
    let mut b = Batch::default();
    b.delete(Space::State, b"a".to_vec());
    b.put(Space::State, b"b".to_vec(), b"new".to_vec());
    b.put(Space::State, b"c".to_vec(), b"1".to_vec());
    b.put(Space::Log, vec![0, 0], b"e0".to_vec());
    b.put(Space::State, b"c".to_vec(), b"2".to_vec());
    b.put(Space::State, b"d".to_vec(), b"gone".to_vec());
    b.delete(Space::State, b"ab".to_vec());
    b.delete(Space::State, b"d".to_vec());
    b.put(Space::State, b"ab".to_vec(), b"again".to_vec());
    store.commit(&b, false).unwrap();
    // Many writes of few keys: the last write of each key is what stays.
    let mut b = Batch::default();
    for i in 0..200u8 {
        let key = vec![b'k', i % 7];
        match i % 5 {
            0 => b.delete(Space::State, key),
            _ => b.put(Space::State, key, vec![i]),
        }
    }
    store.commit(&b, true).unwrap();
    for k in 0..7u8 {
        let last = (0..200u8).rev().find(|i| i % 7 == k).unwrap();
        let want = (last % 5 != 0).then(|| vec![last]);
        assert_eq!(
            store.get(Space::State, &[b'k', k]).unwrap(),
            want,
            "key {k}"
        );
    }
    assert_eq!(store.get(Space::State, b"d").unwrap(), None);
    assert_eq!(
        store.get(Space::State, b"ab").unwrap(),
        Some(b"again".to_vec())
    );
    assert_eq!(store.get(Space::State, b"a").unwrap(), None);
    assert_eq!(
        store.get(Space::State, b"b").unwrap(),
        Some(b"new".to_vec())
    );
    assert_eq!(store.get(Space::State, b"c").unwrap(), Some(b"2".to_vec()));
    // Binary keys sort bytewise (big-endian numbers sort numerically).
    let mut b = Batch::default();
    for n in [256u64, 1, 65_536, 2] {
        b.put(Space::Log, n.to_be_bytes().to_vec(), vec![]);
    }
    store.commit(&b, true).unwrap();
    let got: Vec<u64> = store
        .scan(Space::Log, &1u64.to_be_bytes(), None, 10)
        .unwrap()
        .into_iter()
        .filter_map(|(k, _)| k.try_into().ok().map(u64::from_be_bytes))
        .collect();
    assert_eq!(got, vec![1, 2, 256, 65_536]);
}

#[test]
fn memory_store_meets_the_contract() {
    contract(&MemStore::default());
}

#[test]
fn rocksdb_store_meets_the_contract_and_keeps_data_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(dir.path()).unwrap();
        contract(&store);
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(
        store.get(Space::State, b"b").unwrap(),
        Some(b"new".to_vec())
    );
    assert_eq!(store.scan(Space::Log, b"", None, 100).unwrap().len(), 6);
}

#[test]
fn the_writers_cached_store_meets_the_contract_even_when_tiny() {
    // A cache of two entries starts afresh all the time: answers must not change.
    for capacity in [2, 1 << 10] {
        let inner = std::sync::Arc::new(MemStore::default());
        contract(&CachedStore::new(inner, capacity));
    }
}

#[test]
fn shared_reads_meet_the_contract_even_when_tiny() {
    for capacity in [1, 1 << 10] {
        contract(&SharedReads::new(Arc::new(MemStore::default()), capacity));
    }
}

proptest::proptest! {
    /// Any sequence of commits and reads through the shared reads answers exactly as the
    /// store behind it, for kept kinds (cashboxes, cards, accounts) and others (purchases) alike.
    #[test]
    fn shared_reads_equal_the_stores(
        steps in proptest::collection::vec((0u8..3, 0u8..4, 0u8..4, proptest::option::of(0u8..3)), 1..80),
        capacity in 1usize..8,
    ) {
        let inner = Arc::new(MemStore::default());
        let shared = SharedReads::new(inner.clone(), capacity);
        let tags = [TAG_CASHBOX, TAG_CARD, TAG_ACCOUNT, TAG_PURCHASE];
        for (what, tag, key, value) in steps {
            let key = vec![tags[tag as usize], key];
            if what < 2 {
                let mut b = Batch::default();
                match value {
                    Some(v) => b.put(Space::State, key.clone(), vec![v]),
                    None => b.delete(Space::State, key.clone()),
                }
                shared.commit(&b, false).unwrap();
            }
            for t in tags {
                for k in 0u8..4 {
                    proptest::prop_assert_eq!(
                        shared.get(Space::State, &[t, k]).unwrap(),
                        inner.get(Space::State, &[t, k]).unwrap()
                    );
                }
            }
        }
    }
}

/// A store whose reads, once armed, stop after reading until they are let go.
struct HeldReads {
    inner: MemStore,
    hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Store for HeldReads {
    fn get(
        &self,
        space: Space,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, loyalty_engine::store::StoreError> {
        let read = self.inner.get(space, key);
        if let Some((reached, go)) = self.hold.lock().unwrap().take() {
            reached.send(()).unwrap();
            go.recv().unwrap();
        }
        read
    }
    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<loyalty_engine::store::Pairs, loyalty_engine::store::StoreError> {
        self.inner.scan(space, from, to, limit)
    }
    fn commit(
        &self,
        batch: &Batch,
        durable: bool,
    ) -> Result<(), loyalty_engine::store::StoreError> {
        self.inner.commit(batch, durable)
    }
}

#[test]
fn a_read_that_began_before_a_write_landed_does_not_keep_the_older_value() {
    let key = vec![TAG_CASHBOX, 7];
    let put = |v: &[u8]| {
        let mut b = Batch::default();
        b.put(Space::State, key.clone(), v.to_vec());
        b
    };
    let inner = Arc::new(HeldReads {
        inner: MemStore::default(),
        hold: Mutex::new(None),
    });
    let shared = Arc::new(SharedReads::new(inner.clone(), 16));
    shared.commit(&put(b"old"), true).unwrap();
    // Given a read that has loaded the old record and not yet kept it,
    let (reached_tx, reached) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    *inner.hold.lock().unwrap() = Some((reached_tx, go_rx));
    let reader = {
        let (shared, key) = (shared.clone(), key.clone());
        std::thread::spawn(move || shared.get(Space::State, &key).unwrap())
    };
    reached.recv().unwrap();
    // when a newer record lands meanwhile,
    shared.commit(&put(b"new"), true).unwrap();
    go.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), Some(b"old".to_vec()));
    // then later reads see the newer one.
    assert_eq!(
        shared.get(Space::State, &key).unwrap(),
        Some(b"new".to_vec())
    );
}

proptest::proptest! {
    /// Any sequence of commits and reads through the cache answers exactly as the store
    /// behind it, including after a clear and with a cache smaller than the data.
    #[test]
    fn cached_reads_equal_the_stores(
        steps in proptest::collection::vec((0u8..4, 0u8..6, proptest::option::of(0u8..3)), 1..80),
        capacity in 1usize..8,
    ) {
        let inner = std::sync::Arc::new(MemStore::default());
        let cached = CachedStore::new(inner.clone(), capacity);
        for (what, key, value) in steps {
            let key = vec![key];
            match what {
                0 | 1 => {
                    let mut b = Batch::default();
                    match value {
                        Some(v) => b.put(Space::State, key.clone(), vec![v]),
                        None => b.delete(Space::State, key.clone()),
                    }
                    cached.commit(&b, false).unwrap();
                }
                2 => cached.clear(),
                _ => {}
            }
            for k in 0u8..6 {
                proptest::prop_assert_eq!(
                    cached.get(Space::State, &[k]).unwrap(),
                    inner.get(Space::State, &[k]).unwrap()
                );
            }
        }
    }
}

proptest::proptest! {
    /// With batches staged ahead of their writes (the writer deciding while the committer
    /// writes), every read sees the store with the staged batches laid over it in order;
    /// once written, a batch reads the same from the store; clearing drops staged batches
    /// and a batch staged in an ended epoch is neither staged nor written.
    #[test]
    fn staged_batches_read_as_if_written(
        steps in proptest::collection::vec((0u8..5, 0u8..6, proptest::option::of(0u8..3)), 1..80),
        capacity in 1usize..8,
    ) {
        let inner = std::sync::Arc::new(MemStore::default());
        let cached = CachedStore::new(inner.clone(), capacity);
        let mut staged: std::collections::VecDeque<(u64, Batch, u64)> = Default::default();
        let mut number = 0;
        for (what, key, value) in steps {
            let space = if key % 2 == 0 { Space::State } else { Space::Ops };
            let mut b = Batch::default();
            match value {
                Some(v) => b.put(space, vec![key], vec![v]),
                None => b.delete(space, vec![key]),
            }
            match what {
                0 | 1 => {
                    number += 1;
                    let epoch = cached.epoch();
                    proptest::prop_assert!(cached.stage(number, &b, epoch));
                    staged.push_back((number, b, epoch));
                }
                2 => {
                    if let Some((n, b, epoch)) = staged.pop_front() {
                        cached.commit_staged(n, &b, epoch, false).unwrap();
                    }
                }
                3 => {
                    let stale = cached.epoch();
                    cached.clear();
                    // Decided before the clear: refused, and nothing of it is written.
                    proptest::prop_assert!(!cached.stage(number + 1, &b, stale));
                    proptest::prop_assert!(cached.commit_staged(number + 1, &b, stale, false).is_err());
                    staged.clear();
                }
                _ => {}
            }
            for space in [Space::State, Space::Ops] {
                let mut expected: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
                    inner.scan(space, &[], None, usize::MAX).unwrap().into_iter().collect();
                for (_, b, _) in &staged {
                    for (s, k, v) in &b.writes {
                        if *s == space {
                            match v {
                                Some(v) => expected.insert(k.clone(), v.clone()),
                                None => expected.remove(k),
                            };
                        }
                    }
                }
                for k in 0u8..6 {
                    proptest::prop_assert_eq!(
                        cached.get(space, &[k]).unwrap(),
                        expected.get(&vec![k]).cloned()
                    );
                }
                let scanned = cached.scan(space, &[1], Some(&[5]), 3).unwrap();
                let wanted: Vec<_> = expected
                    .range(vec![1]..vec![5])
                    .take(3)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                proptest::prop_assert_eq!(scanned, wanted);
            }
        }
    }
}

/// Keys looked up ahead answer exactly as the writer's store would — committed, staged,
/// staged as deleted, absent, in either space — and reading them ahead keeps nothing in the
/// writer's memory (a read ahead may end after the writer has staged a newer value).
#[test]
fn lookups_found_ahead_answer_as_the_store_and_leave_nothing_behind() {
    use loyalty_engine::prefetch::{Ahead, Lookups};
    let inner = Arc::new(MemStore::default());
    let cached = Arc::new(CachedStore::new(inner.clone(), 16));
    let state = |n: u8| (Space::State, vec![TAG_PURCHASE, n]);
    let ops = |n: u8| (Space::Ops, vec![n; 16]);
    // Given committed records,
    let mut committed = Batch::default();
    for (space, key) in [state(1), state(2), ops(1)] {
        committed.put(space, key, b"committed".to_vec());
    }
    cached.commit(&committed, false).unwrap();
    // one written past the writer's memory,
    let mut past = Batch::default();
    past.put(state(4).0, state(4).1, b"old".to_vec());
    inner.commit(&past, false).unwrap();
    // and a staged batch that rewrites one, deletes another and adds a third,
    let mut staged = Batch::default();
    staged.put(state(2).0, state(2).1, b"staged".to_vec());
    staged.delete(state(1).0, state(1).1);
    staged.put(ops(2).0, ops(2).1, b"staged".to_vec());
    assert!(cached.stage(1, &staged, cached.epoch()));
    let keys = [
        state(1),
        state(2),
        state(3),
        state(4),
        ops(1),
        ops(2),
        ops(3),
    ];
    // when they are all looked up ahead,
    let lookups = Arc::new(Lookups::of_keys(keys.clone()));
    assert_eq!(lookups.len(), keys.len());
    lookups.run(&cached);
    let ahead = Ahead {
        store: cached.clone(),
        lookups,
    };
    // then each answers as the store does,
    for (space, key) in &keys {
        assert_eq!(
            ahead.get(*space, key).unwrap(),
            cached.get(*space, key).unwrap(),
            "{space:?} {key:?}"
        );
    }
    assert_eq!(
        ahead.get(state(2).0, &state(2).1).unwrap(),
        Some(b"staged".to_vec())
    );
    assert_eq!(ahead.get(state(1).0, &state(1).1).unwrap(), None);
    // A batch's view for deciding refuses to write, and writes nothing.
    let mut write = Batch::default();
    write.put(state(3).0, state(3).1, b"written".to_vec());
    assert!(ahead.commit(&write, false).is_err());
    assert_eq!(cached.get(state(3).0, &state(3).1).unwrap(), None);
    // and what was read ahead was not kept: a change behind the writer's memory is seen.
    let fresh = CachedStore::new(inner.clone(), 16);
    Lookups::of_keys([state(4)]).run(&fresh);
    let mut newer = Batch::default();
    newer.put(state(4).0, state(4).1, b"new".to_vec());
    inner.commit(&newer, false).unwrap();
    assert_eq!(
        fresh.get(state(4).0, &state(4).1).unwrap(),
        Some(b"new".to_vec())
    );
}
