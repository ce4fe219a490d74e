//! The Loymax cash protocol facade: XML over HTTP, as the Loymax module of existing cash
//! software (Set Retail 10 and others) speaks it, so that a chain switches processing by
//! changing the module's server URL and credentials. One more thin edge: every request
//! element becomes the same call a gRPC till makes (`CashApi`, the same conversion, the
//! same authentication by the cashbox's secret), and its answer is written back as XML.
//!
//! The till posts to `/XmlExchange/<segment>/<login>/` with HTTP Basic credentials: the
//! login a cashbox was registered with and its secret. The document is `XMLRequest` with a
//! `Version` and containers of requests (`Balances` of `BalanceRequest`s); the answer is
//! `XMLResponse` with a document `ErrorCode` and the matching containers of responses, one
//! per request, in order. `docs/loymax.md` lists every element and attribute, which are
//! confirmed by public samples, and the error codes.
//!
//! Parsing is a pull parser with limits: no DTD (a document declaring one is refused, so no
//! entity is ever expanded), at most [`DEPTH_MAX`] levels, [`ELEMENTS_MAX`] elements and
//! [`XML_BYTES_MAX`] bytes. A document that breaks any rule is answered with a non-zero
//! `ErrorCode` and changes nothing.

mod ops;
mod xml;

pub use xml::{parse, DocumentError, Element, DEPTH_MAX, ELEMENTS_MAX, XML_BYTES_MAX};

use crate::service::CashApi;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use loyalty_core::state::StateView;
use ops::{escape, respond, Till};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The most requests in one document.
pub const REQUESTS_MAX: usize = 100;

/// The containers this endpoint answers, by request container: the request element and
/// the response element names (`Balances` confirmed by public samples, the rest
/// provisional: `docs/loymax.md`).
const OPERATIONS: &[(&str, &str, &str)] = &[
    ("Balances", "BalanceRequest", "BalanceResponse"),
    ("Calculates", "CalculateRequest", "CalculateResponse"),
    (
        "AvailableAmounts",
        "AvailableAmountRequest",
        "AvailableAmountResponse",
    ),
    ("Payments", "PaymentRequest", "PaymentResponse"),
    ("Discounts", "DiscountRequest", "DiscountResponse"),
    ("Confirms", "ConfirmRequest", "ConfirmResponse"),
    ("Cancels", "CancelRequest", "CancelResponse"),
    ("Refunds", "RefundRequest", "RefundResponse"),
    (
        "CardReplacements",
        "ReplaceCardRequest",
        "ReplaceCardResponse",
    ),
    (
        "OfflineCheques",
        "OfflineChequeRequest",
        "OfflineChequeResponse",
    ),
];

/// Answers a parsed document for a till: the `XMLResponse` text.
async fn answer(cash: &CashApi, till: &Till, doc: &Element) -> Result<String, DocumentError> {
    if doc.name != "XMLRequest" {
        return Err(DocumentError::Malformed);
    }
    let version = doc.child("Version").map(|v| v.attr("#text"));
    if version != Some("3.2") {
        return Err(DocumentError::UnsupportedVersion);
    }
    let containers: Vec<&Element> = doc
        .children
        .iter()
        .filter(|c| c.name != "Version")
        .collect();
    let mut requests = 0;
    for c in &containers {
        let Some((_, item, _)) = OPERATIONS.iter().find(|(name, ..)| *name == c.name) else {
            return Err(DocumentError::UnsupportedOperation);
        };
        if c.children.iter().any(|r| r.name != *item) {
            return Err(DocumentError::UnsupportedOperation);
        }
        requests += c.children.len();
    }
    if requests > REQUESTS_MAX {
        return Err(DocumentError::TooLarge);
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLResponse><ErrorCode>0</ErrorCode>",
    );
    for c in containers {
        let (_, _, response) = OPERATIONS
            .iter()
            .find(|(name, ..)| *name == c.name)
            .expect("checked above");
        out.push_str(&format!("<{}>", c.name));
        for r in &c.children {
            let a = respond(cash, till, &c.name, r).await;
            out.push_str(&format!("<{response}"));
            for (k, v) in &a.attributes {
                out.push_str(&format!(" {k}=\"{}\"", escape(v)));
            }
            out.push_str(&format!(
                " OperationID=\"{}\" ElementID=\"{}\" ErrorCode=\"{}\"",
                escape(r.attr("OperationID")),
                escape(r.attr("ElementID")),
                a.code
            ));
            if !a.message.is_empty() {
                out.push_str(&format!(" ErrorMessage=\"{}\"", escape(&a.message)));
            }
            out.push('>');
            out.push_str(&a.children);
            out.push_str(&format!("</{response}>"));
        }
        out.push_str(&format!("</{}>", c.name));
    }
    out.push_str("</XMLResponse>");
    Ok(out)
}

fn document_error(status: StatusCode, e: DocumentError) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLResponse><ErrorCode>{}</ErrorCode></XMLResponse>",
        e as i32
    );
    xml(status, body)
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// HTTP Basic credentials: the user and the password.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

async fn exchange(
    State((cash, gate)): State<(CashApi, crate::cluster::Gate)>,
    Path((_segment, login)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // On a replica that is not serving: nothing is done, the till is sent to the leader.
    if !gate.is_open() {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            "this replica is not the leader",
        )
            .into_response();
        if let Some(v) = gate.leader().and_then(|l| l.parse().ok()) {
            r.headers_mut()
                .insert(loyalty_proto::metadata::LEADER_HEADER, v);
        }
        return r;
    }
    let unauthorized = || {
        let mut r = document_error(StatusCode::UNAUTHORIZED, DocumentError::Unauthorized);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"loyalty\""),
        );
        r
    };
    // The login in the URL must be the one the credentials name, a cashbox's, and the
    // password that cashbox's secret (the same check the gRPC calls make again).
    let Some((user, secret)) = basic(&headers).filter(|(user, _)| *user == login) else {
        return unauthorized();
    };
    let found = cash.engine.read(|v| {
        v.cashbox_by_login(&user)
            .and_then(|id| v.cashbox(id))
            .filter(|c| {
                crate::service::same(&c.secret_sha256, &crate::service::secret_hash(&secret))
            })
    });
    let cashbox = match found {
        Ok(Some(c)) => c.id,
        Ok(None) => return unauthorized(),
        Err(e) => {
            tracing::warn!(error = %e, "loymax: state read failed");
            return document_error(StatusCode::SERVICE_UNAVAILABLE, DocumentError::Malformed);
        }
    };
    let doc = match parse(&body) {
        Ok(d) => d,
        Err(e) => return document_error(StatusCode::OK, e),
    };
    let till = Till {
        cashbox: cashbox.0,
        secret,
    };
    match answer(&cash, &till, &doc).await {
        Ok(text) => xml(StatusCode::OK, text),
        Err(e) => document_error(StatusCode::OK, e),
    }
}

/// Serves the XML endpoint on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    cash: CashApi,
    gate: crate::cluster::Gate,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route(
            "/XmlExchange/{segment}/{login}/",
            axum::routing::post(exchange),
        )
        // One byte over the limit still reaches the parser, which answers `TooLarge` as a
        // document; far larger bodies are refused by HTTP (413) unread.
        .layer(DefaultBodyLimit::max(XML_BYTES_MAX + 1))
        .with_state((cash, gate));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
