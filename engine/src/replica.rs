//! A replica of the ledger in a cluster. Consensus is openraft's (Raft); this module gives
//! it storage on the replica's RocksDB and gives the engine a store whose commits go
//! through consensus:
//!
//! - A log entry is what one group-committed batch decided: its writes (events, state,
//!   idempotency records, the log sequence), exactly the bytes a single node would write.
//!   The leader's engine decides; every replica applies the entry by writing those bytes, so
//!   replicas hold byte-for-byte the same data (`verify` digests equal).
//! - [`ReplicatedStore::commit`] proposes a batch and returns once a majority has the entry
//!   durably (every replica syncs its log before it answers) and the leader has applied it;
//!   a replica that is not the leader, or stops being it before the entry commits, fails the
//!   commit with [`StoreError::NotLeader`] — a deposed leader can never acknowledge.
//! - Log entries, the vote and what was applied live in the `raft` column family. Applying an
//!   entry writes its bytes and the applied log id in one write; a restart re-applies the
//!   committed entries after it.
//! - A snapshot is a RocksDB checkpoint of the replica (taken between two applies), read row
//!   by row into one image; installing one replaces every space but `raft` in one write.

// openraft's errors are large by design and are what its traits return.
#![allow(clippy::result_large_err)]

use crate::rocks::RocksStore;
use crate::store::{Batch, Pairs, Space, Store, StoreError};
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

openraft::declare_raft_types!(
    /// The ledger's consensus types: an entry's data is a [`Proposal`].
    pub Ledger:
        D = Proposal,
        R = (),
        AsyncRuntime = LedgerRuntime,
);

/// openraft's runtime: tokio's, except that election timeouts are drawn from a generator
/// per thread that the simulator seeds ([`seed_elections`]), so that a seed replays a run of
/// replicas exactly. Unseeded, it draws from the operating system's generator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LedgerRuntime;

thread_local! {
    static ELECTIONS: std::cell::RefCell<Option<rand08::rngs::StdRng>> =
        const { std::cell::RefCell::new(None) };
}

/// Seeds this thread's election timeouts (the simulator's single thread).
pub fn seed_elections(seed: u64) {
    use rand08::SeedableRng;
    ELECTIONS.with(|r| *r.borrow_mut() = Some(rand08::rngs::StdRng::seed_from_u64(seed)));
}

/// The election-timeout generator of the calling thread.
pub struct ElectionRng;

impl ElectionRng {
    fn with<T>(f: impl FnOnce(&mut dyn rand08::RngCore) -> T) -> T {
        ELECTIONS.with(|r| match r.borrow_mut().as_mut() {
            Some(seeded) => f(seeded),
            None => f(&mut rand08::thread_rng()),
        })
    }
}

impl rand08::RngCore for ElectionRng {
    fn next_u32(&mut self) -> u32 {
        Self::with(|r| r.next_u32())
    }
    fn next_u64(&mut self) -> u64 {
        Self::with(|r| r.next_u64())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        Self::with(|r| r.fill_bytes(dest))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand08::Error> {
        Self::with(|r| r.try_fill_bytes(dest))
    }
}

type Tokio = openraft::TokioRuntime;

impl openraft::AsyncRuntime for LedgerRuntime {
    type JoinError = <Tokio as openraft::AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <Tokio as openraft::AsyncRuntime>::JoinHandle<T>;
    type Sleep = <Tokio as openraft::AsyncRuntime>::Sleep;
    type Instant = <Tokio as openraft::AsyncRuntime>::Instant;
    type TimeoutError = <Tokio as openraft::AsyncRuntime>::TimeoutError;
    type Timeout<R, T: std::future::Future<Output = R> + OptionalSend> =
        <Tokio as openraft::AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = ElectionRng;
    type OneshotSender<T: OptionalSend> = <Tokio as openraft::AsyncRuntime>::OneshotSender<T>;
    type OneshotReceiverError = <Tokio as openraft::AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <Tokio as openraft::AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: std::future::Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        Tokio::spawn(future)
    }

    fn sleep(duration: std::time::Duration) -> Self::Sleep {
        Tokio::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        Tokio::sleep_until(deadline)
    }

    fn timeout<R, F: std::future::Future<Output = R> + OptionalSend>(
        duration: std::time::Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Tokio::timeout(duration, future)
    }

    fn timeout_at<R, F: std::future::Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Tokio::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        Tokio::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        ElectionRng
    }

    fn oneshot<T: OptionalSend>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>) {
        Tokio::oneshot()
    }
}

pub type NodeId = u64;
pub type Node = openraft::BasicNode;
pub type Raft = openraft::Raft<Ledger>;

/// What one batch writes: `(space, key, value)`, `None` deleting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub writes: Vec<(u8, Vec<u8>, Option<Vec<u8>>)>,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} writes", self.writes.len())
    }
}

fn space_of(n: u8) -> Result<Space, StoreError> {
    Space::ALL
        .get(usize::from(n))
        .copied()
        .filter(|s| *s != Space::Raft)
        .ok_or_else(|| StoreError::Corrupt {
            space: Space::Raft,
            detail: format!("an entry writes to space {n}"),
        })
}

// Keys of the `raft` space.
const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"purged";
const APPLIED: &[u8] = b"applied";
const MEMBERSHIP: &[u8] = b"membership";
const SNAPSHOT: &[u8] = b"snapshot";
const ENTRY: u8 = b'e';

fn entry_key(index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(ENTRY);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Past every entry key.
const ENTRIES_END: &[u8] = &[ENTRY + 1];

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write(&e).into()
}

fn get<T: serde::de::DeserializeOwned>(
    rocks: &RocksStore,
    key: &[u8],
) -> Result<Option<T>, StorageError<NodeId>> {
    match rocks.get(Space::Raft, key).map_err(read_err)? {
        Some(v) => postcard::from_bytes(&v).map(Some).map_err(read_err),
        None => Ok(None),
    }
}

fn put<T: Serialize>(batch: &mut Batch, key: &[u8], value: &T) {
    batch.put(
        Space::Raft,
        key.to_vec(),
        postcard::to_stdvec(value).expect("consensus records encode"),
    );
}

/// The log half: entries, vote, committed and purged log ids.
#[derive(Clone)]
pub struct LogStore {
    rocks: Arc<RocksStore>,
    /// Sync each append and vote (always, but in the simulator, whose crashes are of the
    /// process and not of the machine).
    sync: bool,
}

impl RaftLogReader<Ledger> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<Ledger>>, StorageError<NodeId>> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => entry_key(i.saturating_add(1)),
            Bound::Excluded(i) => entry_key(*i),
            Bound::Unbounded => ENTRIES_END.to_vec(),
        };
        let rows = self
            .rocks
            .scan(Space::Raft, &entry_key(from), Some(&to), usize::MAX)
            .map_err(read_err)?;
        rows.iter()
            .map(|(_, v)| postcard::from_bytes(v).map_err(read_err))
            .collect()
    }
}

impl RaftLogStorage<Ledger> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<Ledger>, StorageError<NodeId>> {
        let purged: Option<LogId<NodeId>> = get(&self.rocks, PURGED)?;
        let last = match self
            .rocks
            .last_below(Space::Raft, &[ENTRY], ENTRIES_END)
            .map_err(read_err)?
        {
            Some((_, v)) => Some(
                postcard::from_bytes::<Entry<Ledger>>(&v)
                    .map_err(read_err)?
                    .log_id,
            ),
            None => purged,
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut b = Batch::default();
        put(&mut b, VOTE, vote);
        self.rocks.commit(&b, self.sync).map_err(write_err)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        get(&self.rocks, VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        // Unsynced: a committed id lost in a crash is learnt again from the leader.
        let mut b = Batch::default();
        put(&mut b, COMMITTED, &committed);
        self.rocks.commit(&b, false).map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(get::<Option<LogId<NodeId>>>(&self.rocks, COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<Ledger>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<Ledger>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut b = Batch::default();
        for e in entries {
            put(&mut b, &entry_key(e.log_id.index), &e);
        }
        // Synced: the entry counts towards a majority only once it is on this disk.
        let written = self.rocks.commit(&b, self.sync);
        callback.log_io_completed(
            written
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        written.map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut b = Batch::default();
        for (k, _) in self
            .rocks
            .scan(
                Space::Raft,
                &entry_key(log_id.index),
                Some(ENTRIES_END),
                usize::MAX,
            )
            .map_err(read_err)?
        {
            b.delete(Space::Raft, k);
        }
        self.rocks.commit(&b, true).map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut b = Batch::default();
        put(&mut b, PURGED, &log_id);
        for (k, _) in self
            .rocks
            .scan(
                Space::Raft,
                &[ENTRY],
                Some(&entry_key(log_id.index.saturating_add(1))),
                usize::MAX,
            )
            .map_err(read_err)?
        {
            b.delete(Space::Raft, k);
        }
        self.rocks.commit(&b, false).map_err(write_err)
    }
}

/// What a snapshot holds: every row of the replicated spaces, and where the log was.
#[derive(Serialize, Deserialize)]
struct Image {
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, Node>,
    rows: Vec<(u8, Vec<u8>, Vec<u8>)>,
}

/// The stored current snapshot: its meta and bytes.
#[derive(Serialize, Deserialize)]
struct Kept {
    meta: SnapshotMeta<NodeId, Node>,
    bytes: Vec<u8>,
}

/// The spaces a snapshot carries and an install replaces: all but `raft`.
fn replicated_spaces() -> impl Iterator<Item = Space> {
    Space::ALL.into_iter().filter(|s| *s != Space::Raft)
}

/// The state-machine half: applies entries to the replica's store.
pub struct Machine {
    rocks: Arc<RocksStore>,
    /// Where checkpoints for snapshots are made (on the store's file system).
    scratch: PathBuf,
    built: Arc<AtomicU64>,
}

impl RaftStateMachine<Ledger> for Machine {
    type SnapshotBuilder = Builder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Node>), StorageError<NodeId>> {
        Ok((
            get::<Option<LogId<NodeId>>>(&self.rocks, APPLIED)?.flatten(),
            get(&self.rocks, MEMBERSHIP)?.unwrap_or_default(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<Ledger>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut b = Batch::default();
        let mut last = None;
        let mut n = 0;
        for e in entries {
            match e.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(p) => {
                    for (space, key, value) in p.writes {
                        let space = space_of(space).map_err(write_err)?;
                        b.writes.push((space, key, value));
                    }
                }
                EntryPayload::Membership(m) => {
                    put(
                        &mut b,
                        MEMBERSHIP,
                        &StoredMembership::new(Some(e.log_id), m),
                    );
                }
            }
            last = Some(e.log_id);
            n += 1;
        }
        put(&mut b, APPLIED, &last);
        // Unsynced: the entries are durable in the log, and a restart applies again what
        // a crash lost here.
        self.rocks.commit(&b, false).map_err(write_err)?;
        Ok(vec![(); n])
    }

    async fn get_snapshot_builder(&mut self) -> Builder {
        let n = self.built.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .scratch
            .join(format!("snapshot-{}-{n}", std::process::id()));
        // Between two applies: the checkpoint holds exactly what was applied.
        let made = std::fs::remove_dir_all(&dir)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .and_then(|()| std::fs::create_dir_all(&self.scratch))
            .map_err(|e| StoreError::Io(e.to_string()))
            .and_then(|()| self.rocks.checkpoint(&dir));
        Builder {
            rocks: self.rocks.clone(),
            checkpoint: made.map(|()| dir),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let image: Image = postcard::from_bytes(&bytes).map_err(read_err)?;
        let mut b = Batch::default();
        for (space, key, value) in image.rows {
            b.put(space_of(space).map_err(write_err)?, key, value);
        }
        put(&mut b, APPLIED, &meta.last_log_id);
        put(&mut b, MEMBERSHIP, &meta.last_membership);
        put(
            &mut b,
            SNAPSHOT,
            &Kept {
                meta: meta.clone(),
                bytes,
            },
        );
        let spaces: Vec<Space> = replicated_spaces().collect();
        self.rocks.replace(&spaces, &b).map_err(write_err)
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<Ledger>>, StorageError<NodeId>> {
        Ok(get::<Kept>(&self.rocks, SNAPSHOT)?.map(|k| Snapshot {
            meta: k.meta,
            snapshot: Box::new(Cursor::new(k.bytes)),
        }))
    }
}

/// Builds a snapshot from a checkpoint made when it was asked for.
pub struct Builder {
    rocks: Arc<RocksStore>,
    checkpoint: Result<PathBuf, StoreError>,
}

impl Builder {
    fn image(dir: &std::path::Path) -> Result<(Image, usize), StoreError> {
        let copy = RocksStore::open(dir)?;
        let raft =
            |key: &[u8]| -> Result<Option<Vec<u8>>, StoreError> { copy.get(Space::Raft, key) };
        let decode_err = |e: postcard::Error| StoreError::Corrupt {
            space: Space::Raft,
            detail: e.to_string(),
        };
        let applied = match raft(APPLIED)? {
            Some(v) => postcard::from_bytes::<Option<LogId<NodeId>>>(&v).map_err(decode_err)?,
            None => None,
        };
        let membership = match raft(MEMBERSHIP)? {
            Some(v) => postcard::from_bytes(&v).map_err(decode_err)?,
            None => StoredMembership::default(),
        };
        let mut rows = Vec::new();
        let mut bytes = 0;
        for space in replicated_spaces() {
            let mut from = Vec::new();
            loop {
                let chunk: Pairs = copy.scan(space, &from, None, 10_000)?;
                let Some((last, _)) = chunk.last() else { break };
                from = last.clone();
                from.push(0);
                for (k, v) in chunk {
                    bytes += k.len() + v.len();
                    rows.push((space as u8, k, v));
                }
            }
        }
        Ok((
            Image {
                applied,
                membership,
                rows,
            },
            bytes,
        ))
    }
}

impl RaftSnapshotBuilder<Ledger> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<Ledger>, StorageError<NodeId>> {
        let dir = match &self.checkpoint {
            Ok(dir) => dir.clone(),
            Err(e) => return Err(write_err(e.clone())),
        };
        let imaged = Self::image(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let (image, bytes) = imaged.map_err(read_err)?;
        let meta = SnapshotMeta {
            last_log_id: image.applied,
            last_membership: image.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                image.applied.map_or(0, |l| l.leader_id.term),
                image.applied.map_or(0, |l| l.index)
            ),
        };
        let encoded = postcard::to_stdvec(&image).map_err(write_err)?;
        tracing::info!(snapshot = %meta.snapshot_id, rows = image.rows.len(), bytes, "snapshot built");
        let mut b = Batch::default();
        put(
            &mut b,
            SNAPSHOT,
            &Kept {
                meta: meta.clone(),
                bytes: encoded.clone(),
            },
        );
        self.rocks.commit(&b, true).map_err(write_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(encoded)),
        })
    }
}

/// Whether the store holds no consensus state at all: a replica never started, or one
/// whose data was lost.
pub fn is_blank(rocks: &RocksStore) -> Result<bool, StoreError> {
    Ok(rocks.get(Space::Raft, VOTE)?.is_none()
        && rocks.get(Space::Raft, APPLIED)?.is_none()
        && rocks
            .last_below(Space::Raft, &[ENTRY], ENTRIES_END)?
            .is_none())
}

/// The two halves of a replica's consensus storage over its store; `scratch` is a
/// directory on the store's file system for the checkpoints snapshots are read from.
pub fn storage(rocks: Arc<RocksStore>, scratch: PathBuf) -> (LogStore, Machine) {
    storage_with(rocks, scratch, true)
}

/// [`storage`], syncing the log or not (`false` only where a crash is of the process, never
/// of the machine: the simulator).
pub fn storage_with(rocks: Arc<RocksStore>, scratch: PathBuf, sync: bool) -> (LogStore, Machine) {
    (
        LogStore {
            rocks: rocks.clone(),
            sync,
        },
        Machine {
            rocks,
            scratch,
            built: Arc::new(AtomicU64::new(0)),
        },
    )
}

/// How long a commit waits for a majority before the batch is failed (its outcome then is
/// unknown until a leader answers its operation ids).
pub const PROPOSAL_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// The engine's store on a replica: reads are the replica's own; a commit is proposed to
/// the cluster and returns once a majority has it durably and this replica applied it.
pub struct ReplicatedStore {
    rocks: Arc<RocksStore>,
    raft: Raft,
    runtime: tokio::runtime::Handle,
}

impl ReplicatedStore {
    pub fn new(rocks: Arc<RocksStore>, raft: Raft, runtime: tokio::runtime::Handle) -> Self {
        ReplicatedStore {
            rocks,
            raft,
            runtime,
        }
    }
}

impl Store for ReplicatedStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.rocks.get(space, key)
    }

    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        self.rocks.scan(space, from, to, limit)
    }

    fn commit(&self, batch: &Batch, _durable: bool) -> Result<(), StoreError> {
        if batch.writes.is_empty() {
            // Nothing to agree on (a sweep that found nothing due).
            return Ok(());
        }
        let proposal = Proposal {
            writes: batch
                .writes
                .iter()
                .map(|(s, k, v)| (*s as u8, k.clone(), v.clone()))
                .collect(),
        };
        let raft = self.raft.clone();
        // Bounded: a leader that cannot reach a majority fails the batch (its tills resend
        // with the same operation ids) instead of holding the writer for ever.
        let written = async move {
            tokio::time::timeout(PROPOSAL_WAIT_MAX, raft.client_write(proposal)).await
        };
        // The committer is a thread of its own; the relay moves its cursor from a task.
        let result = match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(written)),
            Err(_) => self.runtime.block_on(written),
        };
        let Ok(result) = result else {
            return Err(StoreError::Io(format!(
                "not replicated to a majority within {} s",
                PROPOSAL_WAIT_MAX.as_secs()
            )));
        };
        match result {
            Ok(_) => Ok(()),
            Err(openraft::error::RaftError::APIError(
                openraft::error::ClientWriteError::ForwardToLeader(f),
            )) => Err(StoreError::NotLeader {
                leader: f.leader_node.map(|n| n.addr),
            }),
            Err(e) => Err(StoreError::Io(format!("not replicated: {e}"))),
        }
    }
}
