//! The loyalty engine's gRPC server and its tools: wire ↔ domain conversions
//! ([`convert`]), the cash and admin services ([`service`]) and server wiring ([`server`]),
//! the expiry sweep ([`sweep`]), backups ([`backup`]), named input limits ([`limits`]) and per-cashbox rates
//! ([`rate`]), request signatures ([`signing`]), receipts ([`receipt`]), metrics
//! ([`metrics`]) and the Kafka relay ([`relay`]), which publishes the engine's outbox.
//! Client-side, apart from the server: file imports and the analytics consumer's
//! aggregation ([`client`]). The binaries `loyalty-server`, `loyalty-admin` and `loyalty-analytics`
//! are thin wrappers. The protocol types come from `loyalty-proto` ([`pb`]).
//!
//! This crate must not hold business rules: handlers validate, convert and call the engine.

pub mod backup;
pub mod client;
pub mod cluster;
pub mod convert;
pub mod limits;
pub mod loymax;
pub mod metrics;
pub mod rate;
pub mod receipt;
pub mod relay;
pub mod server;
pub mod service;
pub mod signing;
pub mod sweep;

pub use loyalty_proto::pb;
