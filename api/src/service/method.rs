//! Every call is named once, by its gRPC path: [`Named`] wraps a generated service and
//! puts the [`Method`] the path names into the request's extensions before the handler
//! runs. Handlers take the name from there for metrics, logs and request signatures, so no
//! handler spells its own name.
//!
//! On the way back it holds the one answer the contract words differently from the gRPC
//! library: a request body that does not decode is the caller's error, `INVALID_ARGUMENT`,
//! where tonic's codec answers `INTERNAL` (which pages operators and makes clients retry).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::server::NamedService;

pub use loyalty_proto::methods::Method;

/// A generated service whose requests carry their [`Method`].
#[derive(Debug, Clone)]
pub struct Named<S>(pub S);

impl<S: NamedService> NamedService for Named<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> tower_service::Service<http::Request<B>> for Named<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Answered<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if let Some(m) = loyalty_proto::methods::by_path(req.uri().path()) {
            req.extensions_mut().insert(m);
        }
        Answered(self.0.call(req))
    }
}

/// A call's answer on its way back (tonic's generated services answer with a boxed, so
/// movable, future).
pub struct Answered<F>(F);

impl<F, R, E> Future for Answered<F>
where
    F: Future<Output = Result<http::Response<R>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_ok(|mut response| {
            undecodable_is_invalid(response.headers_mut());
            response
        })
    }
}

/// The status tonic's codec gives a body that does not decode, as the header carries it.
const DECODE_FAILED: (&str, &str) = ("13", "failed%20to%20decode%20Protobuf%20message");

/// Rewords a failed decode of the request (`INTERNAL`, "failed to decode Protobuf
/// message: …", answered before any handler ran) as `INVALID_ARGUMENT`.
fn undecodable_is_invalid(headers: &mut http::HeaderMap) {
    let failed = headers
        .get("grpc-status")
        .is_some_and(|v| v == DECODE_FAILED.0)
        && headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.starts_with(DECODE_FAILED.1));
    if failed {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
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
