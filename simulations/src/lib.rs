//! Simulations of the loyalty engine.
//!
//! [`sim::Simulation`] is a seeded, deterministic run of many tills against the engine's
//! real commit path, with crashes, lost answers and duplicates, checked after every batch
//! against [`model::Model`] — an auditor that computes expected answers and balances
//! without the engine's code. Any failure prints its seed and replays exactly from it.
//! [`cluster::SimCluster`] runs the same against three replicas with consensus and a
//! faulty network between them.
//!
//! This crate must not be used by the engine; it only drives it.

mod checks;
pub mod cluster;
pub mod latency;
pub mod model;
pub mod plot;
pub mod sim;
mod workload;

pub use sim::{SimConfig, SimReport, Simulation};

/// Runs one seed.
pub fn run(cfg: SimConfig) -> Result<SimReport, sim::Divergence> {
    Simulation::new(cfg).run()
}
