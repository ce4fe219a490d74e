//! RocksDB behind the [`Store`] trait: one column family per [`Space`], one `WriteBatch`
//! per commit, and a synced WAL for durable commits.

use crate::store::{Batch, Pairs, Row, Space, Store, StoreError};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, Direction, IteratorMode, Options,
    ReadOptions, WriteBatch, WriteOptions, DB,
};
use std::path::Path;

/// Block cache shared by all column families.
pub const BLOCK_CACHE_BYTES: usize = 256 << 20;

pub struct RocksStore {
    db: DB,
}

fn io(e: rocksdb::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl RocksStore {
    /// Opens (or creates) the data directory.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.increase_parallelism(2);
        // One thread issues every write, so RocksDB's pipelined writes (a WAL queue apart from
        // the memtable queue, so that concurrent writers overlap) would have nothing to
        // overlap: the default single queue.
        // Restart replays the WAL into memtables; capping it (RocksDB then flushes the
        // column families holding the oldest entries) bounds restart time whatever the
        // memtable sizes.
        opts.set_max_total_wal_size(64 << 20);
        // Reusing WAL files overwrites blocks that already belong to the file, so a sync
        // flushes data only, not the file's growing size through the file system journal.
        opts.set_recycle_log_file_num(4);
        // Flushes and compactions write back as they go instead of leaving a burst of dirty
        // pages for the kernel to push out while the WAL waits for its sync.
        opts.set_bytes_per_sync(1 << 20);
        // One block cache for all column families, and Bloom filters: most point reads are
        // of keys that do not exist (a new operation id, a new purchase) and then touch no
        // data block at all.
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        let cfs = Space::ALL.map(|s| {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            // Fresh data is hot and rewritten soon: no compression for the first two levels,
            // and larger memtables so fewer flushes compete with the writer for the 2 cores.
            o.set_compression_per_level(&[
                rocksdb::DBCompressionType::None,
                rocksdb::DBCompressionType::None,
                rocksdb::DBCompressionType::Lz4,
            ]);
            o.set_write_buffer_size(128 << 20);
            // A Bloom filter over the memtables' keys too, where keys are looked up that are
            // not there (every new operation id, every new purchase): answered without a
            // walk down each memtable's skip list. Not for the spaces only ever read in
            // ranges or by keys that exist (the log, the history, the relay's cursor, the
            // replicas' consensus state): there each insert's cache miss on the filter
            // bought nothing.
            if matches!(s, Space::State | Space::Ops) {
                o.set_memtable_prefix_bloom_ratio(0.05);
                o.set_memtable_whole_key_filtering(true);
            }
            ColumnFamilyDescriptor::new(s.name(), o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(io)?;
        Ok(RocksStore { db })
    }

    /// Makes a consistent copy of the store in `dir` (which must not exist): hard links to
    /// its table files where `dir` is on the same file system, copies elsewhere, and the
    /// write-ahead log up to a committed batch. Writes go on meanwhile.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir))
            .map_err(io)
    }

    /// The last row of `space` in `[from, to)`.
    pub fn last_below(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
    ) -> Result<Option<Row>, StoreError> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(from.to_vec());
        opts.set_iterate_upper_bound(to.to_vec());
        let mut iter = self
            .db
            .iterator_cf_opt(self.cf(space), opts, IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (k, v) = item.map_err(io)?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    /// Empties `spaces` and writes `batch`, in one synced write.
    pub fn replace(&self, spaces: &[Space], batch: &Batch) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        for space in spaces {
            // Every key sorts below 64 bytes of 0xff.
            wb.delete_range_cf(self.cf(*space), [].as_slice(), [0xffu8; 64].as_slice());
        }
        for (space, key, value) in &batch.writes {
            match value {
                Some(v) => wb.put_cf(self.cf(*space), key, v),
                None => wb.delete_cf(self.cf(*space), key),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(wb, &wo).map_err(io)
    }

    /// The RocksDB handle, for the backup engine.
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    fn cf(&self, space: Space) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(space.name())
            .expect("column families are created at open")
    }
}

impl Store for RocksStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(space), key).map_err(io)
    }

    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        let mut out = Vec::new();
        // The upper bound lets RocksDB stop at `to` instead of skipping the deletions that
        // lie beyond it (the pending index is mostly tombstones).
        let mut opts = ReadOptions::default();
        if let Some(t) = to {
            opts.set_iterate_upper_bound(t.to_vec());
        }
        let iter = self.db.iterator_cf_opt(
            self.cf(space),
            opts,
            IteratorMode::From(from, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(io)?;
            if to.is_some_and(|t| k.as_ref() >= t) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn commit(&self, batch: &Batch, durable: bool) -> Result<(), StoreError> {
        // In key order per space: the memtable inserts each key next to the one before it
        // instead of searching from the top. Stable, so a key written twice keeps its last
        // value.
        let mut writes: Vec<_> = batch.writes.iter().collect();
        writes.sort_by(|(s1, k1, _), (s2, k2, _)| (*s1 as usize, k1).cmp(&(*s2 as usize, k2)));
        let mut wb = WriteBatch::default();
        for (space, key, value) in writes {
            match value {
                Some(v) => wb.put_cf(self.cf(*space), key, v),
                None => wb.delete_cf(self.cf(*space), key),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(durable);
        self.db.write_opt(wb, &wo).map_err(io)
    }
}
