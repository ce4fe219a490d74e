//! The core's tests: rule tables (given/when/then), property tests of the invariants, and
//! the check that the core stays pure.

mod encoding;
mod fixture;
mod offers;
mod properties;
mod purity;
mod rules;
