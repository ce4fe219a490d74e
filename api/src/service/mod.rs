//! gRPC handlers: authenticate, convert, call the engine, convert back. No business rules.
//!
//! - `auth`: who calls (a cashbox by its secret, an administrator by a token), the
//!   signature policy of the cash service, and signed answers;
//! - `cash`: the cash service the tills call;
//! - `admin`: the admin service; `find`: its purchase lookup for support; `operator`: its
//!   histories and lists of pending purchases; `programme`: its programme mechanics;
//! - `store`: the store-server channel (many tills on one stream), with `order`, each
//!   cashbox's order on it;
//! - `method`: names every call by its gRPC path, once, for metrics, logs and signatures.
//!
//! Engine failures map to a gRPC status in one place ([`status`]); wire errors in another
//! (`invalid`).

mod admin;
mod auth;
mod cash;
mod find;
mod method;
mod operator;
mod order;
mod programme;
mod store;

pub use admin::AdminApi;
pub(crate) use auth::same;
pub use auth::{authorize_operator, parse_operators, secret_hash, Operator, Signatures};
pub use cash::CashApi;
pub use method::Named;
pub use store::{parse_store_servers, StoreApi, StoreServer};

use crate::convert::WireError;
use loyalty_engine::EngineError;
use tonic::{Response, Status};

type Rpc<T> = Result<Response<T>, Status>;

/// The one mapping from engine failures to gRPC status.
pub fn status(e: EngineError) -> Status {
    match e {
        EngineError::Busy { retry_after_ms, .. } => {
            let mut s = Status::resource_exhausted(e.to_string());
            s.metadata_mut().insert(
                "retry-after-ms",
                retry_after_ms.to_string().parse().expect("digits"),
            );
            s
        }
        EngineError::Storage(loyalty_engine::store::StoreError::NotLeader { leader }) => {
            crate::cluster::not_leader(leader)
        }
        EngineError::Storage(_) | EngineError::ShuttingDown => Status::unavailable(e.to_string()),
    }
}

pub(crate) fn invalid(e: WireError) -> Status {
    Status::invalid_argument(e.to_string())
}
