//! The pure domain core of the loyalty engine.
//!
//! It decides what a command means (`decide`) and how an event changes state (`apply`),
//! over a narrow [`state::StateView`]/[`state::StateStore`] interface. Main types:
//! [`command::Request`], [`event::Event`], [`outcome::Reply`] with its [`outcome::Code`],
//! and the entities in [`model`]. Amounts are exact integer minor units ([`amount`]).
//!
//! This crate must not do IO, read a clock, use randomness or depend on tokio, RocksDB,
//! tonic or rdkafka: time and ids come in as arguments. A test checks its dependency list.

pub mod amount;
pub mod apply;
pub mod budget;
pub mod certificate;
pub mod checkout;
pub mod command;
pub mod decide;
pub mod event;
pub mod evolve;
pub mod ids;
pub mod local_time;
pub mod lots;
pub mod model;
pub mod offer;
pub mod outcome;
pub mod pricing;
pub mod programme;
pub mod qr;
pub mod state;

pub use decide::{execute, execute_fingerprinted, Executed};
