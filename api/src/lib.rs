//! The loyalty engine's gRPC facade: generated protocol types ([`pb`]), wire ↔ domain
//! conversions ([`convert`]), the cash and admin services ([`service`]) and server wiring
//! ([`server`]), and the Kafka side: event envelopes ([`events`]) and the outbox relay
//! ([`relay`]). The binaries `loyalty-server`, `loyalty-admin` and `loyalty-analytics` are
//! thin wrappers.
//!
//! This crate must not hold business rules: handlers validate, convert and call the engine.

pub mod analytics;
pub mod convert;
pub mod import;
pub mod limits;
pub mod metrics;
pub mod rate;
pub mod receipt;
pub mod relay;
pub mod server;
pub mod service;
pub mod signing;
pub mod sweep;

pub use loyalty_proto::pb;
