//! System tests through the real gRPC server on 127.0.0.1: the purchase life cycle end to
//! end, bad input, authentication, health and reflection, kill -9 crash recovery of a real
//! server process, the Kafka event stream against a real broker, and a smoke run of the
//! deterministic simulator, and the documentation's command tours run as written.

mod backup;
mod bonuses;
mod certificates;
mod cluster;
mod contract;
mod crash;
mod customers;
mod grpc;
mod harness;
mod hostile;
mod kafka;
mod lots;
mod loymax;
mod offers;
mod operations;
mod security;
mod simulation;
mod stream;
mod tiers;
mod tour;
