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

use crate::pb;
use crate::service::CashApi;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use loyalty_core::state::StateView;
use loyalty_proto::metadata::{CASHBOX_ID_HEADER, CASHBOX_SECRET_HEADER};
use pb::cash_service_server::CashService;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The largest document accepted.
pub const XML_BYTES_MAX: usize = 256 * 1024;
/// The deepest nesting accepted (a cheque line sits at depth 5).
pub const DEPTH_MAX: usize = 8;
/// The most elements in one document.
pub const ELEMENTS_MAX: usize = 20_000;
/// The most requests in one document.
pub const REQUESTS_MAX: usize = 100;

/// The document's `ErrorCode`: what went wrong with the document as a whole (its requests
/// were then not looked at). Provisional numbers (`docs/loymax.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentError {
    Malformed = 1,
    Unauthorized = 2,
    UnsupportedOperation = 3,
    TooLarge = 4,
    UnsupportedVersion = 5,
}

/// A request element's `ErrorCode` for an answer that was not a decision: the gRPC status
/// code the same call gets, plus 1000 (an outcome of a decision is its outcome code).
const STATUS_BASE: i32 = 1000;

/// One element of the document: its name, attributes and children (text is not used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Parses a document within the limits; the root element, or why not.
pub fn parse(xml: &[u8]) -> Result<Element, DocumentError> {
    if xml.len() > XML_BYTES_MAX {
        return Err(DocumentError::TooLarge);
    }
    let text = std::str::from_utf8(xml).map_err(|_| DocumentError::Malformed)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| DocumentError::Malformed)?;
        let open = |e: &BytesStart, elements: &mut usize| -> Result<Element, DocumentError> {
            *elements += 1;
            if *elements > ELEMENTS_MAX {
                return Err(DocumentError::TooLarge);
            }
            element(e)
        };
        match event {
            Event::Start(e) => {
                if root.is_some() || stack.len() >= DEPTH_MAX {
                    return Err(DocumentError::Malformed);
                }
                stack.push(open(&e, &mut elements)?);
            }
            Event::Empty(e) => {
                let el = open(&e, &mut elements)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(DocumentError::Malformed),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(DocumentError::Malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            // Element text (a `Version`) is kept as the pseudo-attribute `#text`; a reference
            // in it must be a character or one of XML's five predefined entities.
            Event::Text(t) => {
                let s = t.decode().map_err(|_| DocumentError::Malformed)?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.decode().map_err(|_| DocumentError::Malformed)?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(DocumentError::Malformed),
                    },
                    Err(_) => return Err(DocumentError::Malformed),
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]))?;
            }
            // No DTD, so no entity of the document's own is ever expanded.
            Event::DocType(_) | Event::CData(_) => return Err(DocumentError::Malformed),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(DocumentError::Malformed);
    }
    root.ok_or(DocumentError::Malformed)
}

/// Appends text to the open element's `#text`; text outside any element is malformed.
fn push_text(stack: &mut [Element], s: &str) -> Result<(), DocumentError> {
    let el = stack.last_mut().ok_or(DocumentError::Malformed)?;
    match el.attributes.iter_mut().find(|(k, _)| k == "#text") {
        Some((_, text)) => text.push_str(s),
        None => el.attributes.push(("#text".into(), s.to_owned())),
    }
    Ok(())
}

fn element(e: &BytesStart) -> Result<Element, DocumentError> {
    let name = std::str::from_utf8(e.name().as_ref())
        .map_err(|_| DocumentError::Malformed)?
        .to_owned();
    let mut attributes = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| DocumentError::Malformed)?;
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|_| DocumentError::Malformed)?
            .to_owned();
        let value = a
            .unescape_value()
            .map_err(|_| DocumentError::Malformed)?
            .into_owned();
        attributes.push((key, value));
        if attributes.len() > 32 {
            return Err(DocumentError::Malformed);
        }
    }
    Ok(Element {
        name,
        attributes,
        children: Vec::new(),
    })
}

/// The identifier kinds by the protocol's `Type` names (`Auto` is confirmed by public
/// samples; the others are provisional).
fn identifier(el: &Element) -> Result<pb::Identifier, String> {
    let kind = match el.attr("Type") {
        "Auto" => pb::IdentifierKind::Auto,
        "Card" | "CardNumber" | "Barcode" => pb::IdentifierKind::Barcode,
        "Phone" | "PhoneNumber" => pb::IdentifierKind::Phone,
        "MagStripe" | "Track" => pb::IdentifierKind::Magstripe,
        other => {
            return Err(format!(
                "Identifier Type {other:?}: Auto, Card, Phone or MagStripe"
            ))
        }
    };
    Ok(pb::Identifier {
        kind: kind.into(),
        value: el.attr("Value").to_owned(),
    })
}

/// What one request element answers: its response element.
struct Answer {
    code: i32,
    message: String,
    attributes: Vec<(&'static str, String)>,
    children: String,
}

impl Answer {
    fn failed(code: i32, message: impl Into<String>) -> Answer {
        Answer {
            code,
            message: message.into(),
            attributes: Vec::new(),
            children: String::new(),
        }
    }
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The holder data every answer about a customer carries, in the protocol's order.
fn identifier_data(h: &pb::Holder) -> String {
    format!(
        "<IdentifierData><Item Name=\"Holder\">{}</Item><Item Name=\"CardType\">{}</Item><Item Name=\"MaskedNumber\">{}</Item></IdentifierData>",
        escape(&h.name),
        escape(&h.card_type),
        escape(&h.masked_card)
    )
}

/// The till's credentials, found by the login of the URL.
struct Till {
    cashbox: u32,
    secret: String,
}

impl Till {
    /// The call a gRPC till would make to `method` of the cash service, with its
    /// credentials and the method named as the gRPC server names it.
    fn request<T>(&self, method: &str, body: T) -> Result<tonic::Request<T>, String> {
        let path = format!("/loyalty.v1.CashService/{method}");
        let named = loyalty_proto::methods::by_path(&path).ok_or("no such method")?;
        let mut r = tonic::Request::new(body);
        r.extensions_mut().insert(named);
        let m = r.metadata_mut();
        m.insert(
            CASHBOX_ID_HEADER,
            self.cashbox.to_string().parse().map_err(|_| "cashbox")?,
        );
        m.insert(
            CASHBOX_SECRET_HEADER,
            self.secret
                .parse()
                .map_err(|_| "the password is not a cashbox secret")?,
        );
        Ok(r)
    }
}

/// An answer for a failed wire check: the gRPC status the same call would get.
fn invalid(why: impl Into<String>) -> Answer {
    Answer::failed(STATUS_BASE + tonic::Code::InvalidArgument as i32, why)
}

/// The cheque of a `CalculateRequest`: `PurchaseID` as the cheque id, the identifier, the
/// local time of `ChequeDate` and the lines. A line's `Amount` below price × quantity is
/// a discount the till gave on its own; above it is refused.
fn cheque(el: &Element) -> Result<pb::Cheque, String> {
    use loyalty_core::amount::{line_amount, Money, Qty};
    let c = el.child("Cheque").ok_or("Cheque missing")?;
    let date = c.attr("ChequeDate");
    let local_time = date.get(..19).ok_or("ChequeDate: YYYY-MM-DDTHH:MM:SS…")?;
    let mut lines = Vec::new();
    for l in c.children.iter().filter(|l| l.name == "ChequeLine") {
        let pos = l.attr("PosID");
        let bad = |what: &str| format!("ChequeLine {pos}: {what}");
        let price = Money::parse(l.attr("Price")).map_err(|_| bad("Price"))?;
        let qty = Qty::parse(l.attr("Quantity")).map_err(|_| bad("Quantity"))?;
        let amount = Money::parse(l.attr("Amount")).map_err(|_| bad("Amount"))?;
        let full = line_amount(price.0, qty).ok_or_else(|| bad("Price × Quantity"))?;
        if amount.0 > full {
            return Err(bad("Amount above Price × Quantity"));
        }
        lines.push(pb::Line {
            product: l.attr("GoodsId").to_owned(),
            quantity: l.attr("Quantity").to_owned(),
            price: l.attr("Price").to_owned(),
            discount: Money(full - amount.0).to_string(),
            ..Default::default()
        });
    }
    let identifiers = match el.child("Identifier") {
        Some(i) => vec![identifier(i)?],
        None => Vec::new(),
    };
    Ok(pb::Cheque {
        cheque_id: el.attr("PurchaseID").to_owned(),
        local_time: local_time.to_owned(),
        lines,
        identifiers,
        ..Default::default()
    })
}

/// A request element as the gRPC call it becomes.
enum Call {
    Balance(pb::BalanceRequest),
    Calculate(pb::CalculateRequest),
    PayWithBonus(pb::PayWithBonusRequest),
    Register(pb::RegisterPurchaseRequest),
    Confirm(pb::PurchaseRequest),
    Cancel(pb::PurchaseRequest),
}

/// The call a request element of container `container` makes, or why it cannot.
fn call(container: &str, el: &Element) -> Result<Call, String> {
    let op = || el.attr("OperationID").to_owned();
    Ok(match container {
        "Balances" => Call::Balance(pb::BalanceRequest {
            card: String::new(),
            identifiers: vec![identifier(
                el.child("Identifier").ok_or("Identifier missing")?,
            )?],
            as_of: String::new(),
        }),
        "Calculates" => Call::Calculate(pb::CalculateRequest {
            cheque: Some(cheque(el)?),
            slip_width: 0,
        }),
        "Payments" => Call::PayWithBonus(pb::PayWithBonusRequest {
            operation_id: op(),
            cheque: Some(cheque(el)?),
            points: el.attr("Amount").to_owned(),
            slip_width: 0,
        }),
        "Discounts" => Call::Register(pb::RegisterPurchaseRequest {
            operation_id: op(),
            cheque: Some(cheque(el)?),
            slip_width: 0,
        }),
        "Confirms" | "Cancels" => {
            let req = pb::PurchaseRequest {
                operation_id: op(),
                cheque_id: el.attr("PurchaseID").to_owned(),
                slip_width: 0,
            };
            if container == "Confirms" {
                Call::Confirm(req)
            } else {
                Call::Cancel(req)
            }
        }
        other => return Err(format!("{other} is not served")),
    })
}

/// Makes the call as the till, through the cash service.
async fn make(cash: &CashApi, till: &Till, call: Call) -> Result<pb::ChequeReply, tonic::Status> {
    let auth = |why: String| tonic::Status::unauthenticated(why);
    let reply = match call {
        Call::Balance(b) => {
            cash.balance(till.request("Balance", b).map_err(auth)?)
                .await
        }
        Call::Calculate(b) => {
            cash.calculate(till.request("Calculate", b).map_err(auth)?)
                .await
        }
        Call::PayWithBonus(b) => {
            cash.pay_with_bonus(till.request("PayWithBonus", b).map_err(auth)?)
                .await
        }
        Call::Register(b) => {
            cash.register_purchase(till.request("RegisterPurchase", b).map_err(auth)?)
                .await
        }
        Call::Confirm(b) => {
            cash.confirm(till.request("Confirm", b).map_err(auth)?)
                .await
        }
        Call::Cancel(b) => cash.cancel(till.request("Cancel", b).map_err(auth)?).await,
    };
    reply.map(|r| r.into_inner())
}

/// One request element answered: its call made, the answer written as the protocol's
/// attributes (the totals of a priced cheque, the spendable points) and children (a
/// `ChequeLine` per line, by the request's `PosID`s; the holder's data).
async fn respond(cash: &CashApi, till: &Till, container: &str, el: &Element) -> Answer {
    let call = match call(container, el) {
        Ok(c) => c,
        Err(why) => return invalid(why),
    };
    let reply = match make(cash, till, call).await {
        Ok(r) => r,
        Err(s) => return Answer::failed(STATUS_BASE + s.code() as i32, s.message()),
    };
    if reply.outcome != pb::Outcome::Ok as i32 {
        return Answer::failed(reply.outcome, reply.message);
    }
    let mut attributes = Vec::new();
    if let Some(t) = reply.totals {
        attributes.extend([
            ("Amount", t.amount),
            ("Discount", t.discount),
            ("AmountToPay", t.to_pay),
            ("Accrual", t.accrual),
            ("MaxBonusPayment", t.redeem_max),
        ]);
    }
    if let Some(b) = reply.balance {
        attributes.extend([("BonusAmount", b.spendable), ("Currency", "RUB".into())]);
    }
    let pos: Vec<&str> = el
        .child("Cheque")
        .map(|c| c.children.iter().map(|l| l.attr("PosID")).collect())
        .unwrap_or_default();
    let mut children = String::new();
    for l in &reply.lines {
        let id = pos
            .get(l.index as usize)
            .map_or_else(|| (l.index + 1).to_string(), |p| (*p).to_owned());
        children.push_str(&format!(
            "<ChequeLine PosID=\"{}\" Discount=\"{}\" Accrual=\"{}\" MaxBonusPayment=\"{}\" BonusPayment=\"{}\"/>",
            escape(&id),
            l.discount,
            l.accrual,
            l.redeem_cap,
            l.paid
        ));
    }
    if let Some(h) = &reply.holder {
        children.push_str(&identifier_data(h));
    }
    Answer {
        code: 0,
        message: String::new(),
        attributes,
        children,
    }
}

/// The containers this endpoint answers, by request container: the request element and
/// the response element names (`Balances` confirmed by public samples, the rest
/// provisional: `docs/loymax.md`).
const OPERATIONS: &[(&str, &str, &str)] = &[
    ("Balances", "BalanceRequest", "BalanceResponse"),
    ("Calculates", "CalculateRequest", "CalculateResponse"),
    ("Payments", "PaymentRequest", "PaymentResponse"),
    ("Discounts", "DiscountRequest", "DiscountResponse"),
    ("Confirms", "ConfirmRequest", "ConfirmResponse"),
    ("Cancels", "CancelRequest", "CancelResponse"),
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
    State(cash): State<CashApi>,
    Path((_segment, login)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
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
        .with_state(cash);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BALANCE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID=\"0123456789abcdef0123456789abcdef\" ElementID=\"1\"><Identifier Type=\"Auto\" Value=\"2770000000017\"/></BalanceRequest></Balances></XMLRequest>";

    proptest! {
        /// Hostile documents: arbitrary bytes never panic the parser, and every truncation
        /// of a valid document is refused whole.
        #[test]
        fn arbitrary_and_truncated_documents_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            cut in 0usize..BALANCE.len(),
        ) {
            let _ = parse(&bytes);
            prop_assert!(parse(&BALANCE.as_bytes()[..cut]).is_err());
        }
    }

    #[test]
    fn documents_parse_within_the_limits_and_nothing_else_does() {
        let doc = parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID=\"a&amp;b\" ElementID=\"1\"><Identifier Type=\"Auto\" Value=\"2770000000017\"/></BalanceRequest></Balances></XMLRequest>"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(doc.name, "XMLRequest");
        assert_eq!(doc.child("Version").unwrap().attr("#text"), "3.2");
        let r = &doc.child("Balances").unwrap().children[0];
        assert_eq!(r.attr("OperationID"), "a&b");
        assert_eq!(
            r.child("Identifier").unwrap().attr("Value"),
            "2770000000017"
        );
        let refused = [
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><XMLRequest>&e;</XMLRequest>",
            "<XMLRequest><Version>3.2</Version>",
            "<XMLRequest></Other>",
            "<a/><b/>",
            "<XMLRequest>&unknown;</XMLRequest>",
            "",
        ];
        for text in refused {
            assert_eq!(
                parse(text.as_bytes()),
                Err(DocumentError::Malformed),
                "{text}"
            );
        }
        let deep = "<a>".repeat(DEPTH_MAX + 1) + &"</a>".repeat(DEPTH_MAX + 1);
        assert_eq!(parse(deep.as_bytes()), Err(DocumentError::Malformed));
        let wide = format!("<a>{}</a>", "<b/>".repeat(ELEMENTS_MAX + 1));
        assert_eq!(parse(wide.as_bytes()), Err(DocumentError::TooLarge));
        let big = vec![b' '; XML_BYTES_MAX + 1];
        assert_eq!(parse(&big), Err(DocumentError::TooLarge));
    }
}
