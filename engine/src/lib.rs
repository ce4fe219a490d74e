//! The loyalty engine around the pure core: storage and the ledger writer.
//!
//! Main types: [`store::Store`] (the narrow storage trait) with [`store::MemStore`] and
//! [`rocks::RocksStore`]; [`stored::StoredState`], which lets the core's decisions read and
//! write through a store; [`engine::Engine`], the single ledger writer with lanes and group
//! commit. Key encoding lives in [`keys`]; [`disk`] measures how long the disk under a data
//! directory takes to make a write durable.
//!
//! This crate must not contain business rules (they are in `loyalty-core`) and must not
//! speak gRPC or Kafka; it never acknowledges a write before it is durable.

pub mod disk;
pub mod engine;
pub mod histogram;
pub mod keys;
pub mod prefetch;
pub mod rocks;
pub mod store;
pub mod stored;

pub use engine::{
    append_log, commit_batch, decide_batch, put_seq, stored_seq, verify_store, Clock, Committed,
    Engine, EngineConfig, EngineError, Fingerprinted, SystemClock, VerifyReport,
};
