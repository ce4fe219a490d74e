//! Client-side code the binaries share, apart from the server's modules: reading cheque and
//! catalogue files for imports (`import`) and the analytics consumer's aggregation of the
//! event stream (`analytics`). The server never calls it.

pub mod analytics;
pub mod import;
