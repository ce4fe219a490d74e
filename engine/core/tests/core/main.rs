//! The core's tests: rule tables (given/when/then), property tests of the invariants, and
//! the check that the core stays pure.

mod budgets;
mod coupons;
mod encoding;
mod fixture;
mod offers;
mod orders;
mod properties;
mod purity;
mod rules;
mod stamps;
