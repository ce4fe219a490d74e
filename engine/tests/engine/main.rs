//! The engine's tests: the storage contract against both stores, and the ledger writer
//! (ordering, one owner per account, group commit, restart, rebuild).

mod contract;
mod writer;
