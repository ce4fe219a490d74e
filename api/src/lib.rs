//! The loyalty engine's gRPC facade: generated protocol types ([`pb`]), wire ↔ domain
//! conversions ([`convert`]), the cash and admin services ([`service`]) and server wiring
//! ([`server`]). The binaries `loyalty-server` and `loyalty-admin` are thin wrappers.
//!
//! This crate must not hold business rules: handlers validate, convert and call the engine.

pub mod convert;
pub mod server;
pub mod service;

/// Code generated from `schemas/loyalty/v1/*.proto` at build time.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("loyalty.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("loyalty_descriptor");
}
