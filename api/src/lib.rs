//! The loyalty engine's gRPC facade: generated protocol types ([`pb`]), wire ↔ domain
//! conversions ([`convert`]), the cash and admin services ([`service`]) and server wiring
//! ([`server`]), and the Kafka side: event envelopes ([`events`]) and the outbox relay
//! ([`relay`]). The binaries `loyalty-server`, `loyalty-admin` and `loyalty-analytics` are
//! thin wrappers.
//!
//! This crate must not hold business rules: handlers validate, convert and call the engine.

pub mod analytics;
pub mod convert;
pub mod events;
pub mod import;
pub mod limits;
pub mod metrics;
pub mod receipt;
pub mod relay;
pub mod server;
pub mod service;
pub mod signing;

/// Code generated from `schemas/loyalty/v1/*.proto` at build time.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("loyalty.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("loyalty_descriptor");
}
