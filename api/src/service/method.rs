//! Every call is named once, by its gRPC path: [`Named`] wraps a generated service and
//! puts the [`Method`] the path names into the request's extensions before the handler
//! runs. Handlers take the name from there for metrics, logs and request signatures, so no
//! handler spells its own name.

use std::task::{Context, Poll};
use tonic::server::NamedService;

pub use loyalty_proto::methods::Method;

/// A generated service whose requests carry their [`Method`].
#[derive(Debug, Clone)]
pub struct Named<S>(pub S);

impl<S: NamedService> NamedService for Named<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower_service::Service<http::Request<B>> for Named<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if let Some(m) = loyalty_proto::methods::by_path(req.uri().path()) {
            req.extensions_mut().insert(m);
        }
        self.0.call(req)
    }
}

/// The method a request was sent to. Every request reaching a handler came through
/// [`Named`]; one that did not is a wiring fault, answered as such.
pub fn of<T>(req: &tonic::Request<T>) -> Result<&'static Method, tonic::Status> {
    req.extensions()
        .get::<&'static Method>()
        .copied()
        .ok_or_else(|| tonic::Status::internal("the call's method is not named"))
}
