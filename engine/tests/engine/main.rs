//! The engine's tests: the storage contract against both stores, and the ledger writer
//! (ordering, one owner per account, group commit, restart, rebuild), and the disk check.

mod backup;
mod contract;
mod disk;
mod formats;
mod writer;
