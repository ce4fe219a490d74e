//! The loyalty engine's wire contract, for the server, its clients, the tests and the
//! simulator: the types generated from `schemas/loyalty/v1/*.proto` ([`pb`]), the names
//! of the metadata a call carries ([`metadata`]), the services' methods by their gRPC path
//! ([`methods`]), and the analytics envelope and Kafka key of a committed event
//! ([`events`]).
//!
//! This crate must not depend on the engine, the server or Kafka: it is what a client
//! links to speak to the engine, and what the relay and the simulator share.

pub mod events;
pub mod methods;

/// The generated protocol types, clients and services.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("loyalty.v1");
    /// The encoded file descriptors, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("loyalty_descriptor");
}

/// The names of the gRPC metadata the engine reads and writes.
pub mod metadata {
    /// The calling cashbox's id.
    pub const CASHBOX_ID_HEADER: &str = "x-cashbox-id";
    /// The calling cashbox's secret.
    pub const CASHBOX_SECRET_HEADER: &str = "x-cashbox-secret";
    /// A store server's name and secret, once per store-server stream.
    pub const STORE_SERVER_HEADER: &str = "x-store-server";
    pub const STORE_SECRET_HEADER: &str = "x-store-secret";
    /// An administrator's token.
    pub const ADMIN_TOKEN_HEADER: &str = "x-admin-token";
    /// A request's or an answer's Ed25519 signature (`schemas/SIGNATURES.md`).
    pub const SIGNATURE_HEADER: &str = "x-signature";
    /// When a request or an answer was signed, in Unix milliseconds.
    pub const SIGNED_AT_HEADER: &str = "x-signed-at";
    /// The reason a signature was refused (a stable token).
    pub const ERROR_HEADER: &str = "x-loyalty-error";
    /// On a replica that is not the leader: the leader's address, `host:port`.
    pub const LEADER_HEADER: &str = "x-loyalty-leader";
    /// The secret replicas of one cluster share, on every call between them.
    pub const CLUSTER_TOKEN_HEADER: &str = "x-cluster-token";
    /// The public key of the engine's signing key on the calling replica: every replica of
    /// a cluster signs answers and keys PIN hashes with the same key.
    pub const CLUSTER_KEY_HEADER: &str = "x-cluster-key";
}
