//! One contract, two stores: what the engine relies on from storage.

use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::{Batch, CachedStore, MemStore, Space, Store};

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
    b.put(Space::State, b"c".to_vec(), b"2".to_vec());
    store.commit(&b, false).unwrap();
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
    assert_eq!(store.scan(Space::Log, b"", None, 100).unwrap().len(), 5);
}

#[test]
fn the_writers_cached_store_meets_the_contract_even_when_tiny() {
    // A cache of two entries starts afresh all the time: answers must not change.
    for capacity in [2, 1 << 10] {
        let inner = std::sync::Arc::new(MemStore::default());
        contract(&CachedStore::new(inner, capacity));
    }
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
