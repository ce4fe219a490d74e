//! The loyalty engine around the pure core: storage, the ledger writer and the outbox.
//!
//! Main types: [`store::Store`] (the narrow storage trait) with [`store::MemStore`] and
//! [`rocks::RocksStore`]; [`StoredState`], which lets the core's decisions read and write
//! through a store; [`Engine`], the handle callers hold (admission lanes, read-only
//! queries), in front of the one ledger writer (`writer`) and the committer that writes each
//! group-committed batch (`batch`); [`verify_store`], the rebuild from the log; and
//! [`outbox::Outbox`], the relay's only way to the log. Key encoding lives in [`keys`];
//! [`disk`] measures how long the disk under a data directory takes to make a write durable.
//!
//! This crate must not contain business rules (they are in `loyalty-core`) and must not
//! speak gRPC or Kafka; it never acknowledges a write before it is durable.

pub mod backup;
mod batch;
mod bounded;
pub mod disk;
mod handle;
pub mod histogram;
pub mod keys;
pub mod outbox;
pub mod prefetch;
pub mod replica;
pub mod rocks;
mod shared;
pub mod store;
mod stored;
mod verify;
mod writer;

pub use batch::{
    append_log, commit_batch, decide_batch, put_seq, stored_seq, Committed, Fingerprinted,
};
pub use handle::{Engine, Pending};
pub use shared::{Busy, Clock, EngineConfig, EngineError, Stats, SystemClock};
pub use stored::{Memo, StoredState};
pub use verify::{
    digests, log_digest_through, upgrade_state, verify_store, Digests, VerifyReport, STATE_LAYOUT,
};
