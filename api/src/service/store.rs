//! The store-server channel (`schemas/loyalty/v1/store.proto`): one long-lived stream
//! carrying the operations of many tills. The stream is authenticated once by a store
//! server's credential; each operation is then admitted as its cashbox's unary call would
//! be (the cashbox must belong to one of the store server's stores; its rate; its
//! signature), converted by the same functions as the unary handlers, and answered on its
//! own, tagged.
//!
//! One task drives a stream: it takes every operation already received as one burst, hands
//! the burst's writes to the engine together (`Engine::submit_many`: one queue entry, so a
//! burst shares a group commit) and answers reads at once, keeping each cashbox's order
//! (`order`). At most `STREAM_OPS_IN_FLIGHT_MAX` operations are unanswered; beyond that the
//! task reads no more and HTTP/2 flow control holds the sender. Answers go out through a
//! small bounded buffer: a client that does not read them stops its own stream, never grows
//! the server's memory.

use super::auth::{refused_signature, Call};
use super::cash::{CashApi, Write};
use super::order::{Kind, Order};
use crate::cluster::Gate;
use crate::limits::{
    STREAM_ANSWERS_BUFFERED, STREAM_BURST_MAX, STREAM_CASHBOX_WRITES_MAX, STREAM_OPS_IN_FLIGHT_MAX,
};
use crate::pb;
use crate::pb::store_reply::Answer;
use crate::pb::store_request::Operation;
use crate::signing::{Presented, SignatureError};
use loyalty_core::ids::{CashboxId, StoreId};
use loyalty_core::model::Cashbox;
use loyalty_core::state::StateView;
use loyalty_core::Executed;
use loyalty_engine::{EngineError, Pending};
use loyalty_proto::metadata::{
    ERROR_HEADER, LEADER_HEADER, STORE_SECRET_HEADER, STORE_SERVER_HEADER,
};
use prost::Message;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

/// A store server's credential: its name, the SHA-256 of its secret and the stores whose
/// cashboxes it may act for.
#[derive(Debug, Clone)]
pub struct StoreServer {
    pub name: String,
    pub secret_sha256: [u8; 32],
    pub stores: Vec<StoreId>,
}

/// Parses a store-servers file: `<name> <sha256 hex of the secret> <store id>[,<store
/// id>…]` per line, `#` comments, blank lines.
pub fn parse_store_servers(text: &str) -> Result<Vec<StoreServer>, String> {
    let mut out: Vec<StoreServer> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |e: &str| format!("line {}: {e}", i + 1);
        let mut parts = line.split_whitespace();
        let (Some(name), Some(hash), Some(stores), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(at(
                "expected `<store server name> <sha256 hex of its secret> <store id>[,<store id>…]`",
            ));
        };
        if name.len() > 64 || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(at("a name is 1-64 printable ASCII characters"));
        }
        let secret_sha256: [u8; 32] = hex::decode(hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| at("the secret's hash must be 64 hex digits"))?;
        let stores = stores
            .split(',')
            .map(|s| s.parse::<u32>().map(StoreId))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| at("stores: store ids (numbers) separated by commas"))?;
        if out.iter().any(|s| s.name == name) {
            return Err(at(&format!("store server {name} named twice")));
        }
        out.push(StoreServer {
            name: name.to_owned(),
            secret_sha256,
            stores,
        });
    }
    Ok(out)
}

/// The store-server service.
#[derive(Clone)]
pub struct StoreApi {
    pub cash: CashApi,
    pub servers: Arc<[StoreServer]>,
    pub gate: Gate,
    /// On shutdown a stream takes no more operations, answers those in the engine's hands
    /// and ends UNAVAILABLE.
    pub shutdown: CancellationToken,
}

impl StoreApi {
    fn server(&self, md: &tonic::metadata::MetadataMap) -> Result<Arc<StoreServer>, Status> {
        let get = |name: &str| {
            md.get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Status::unauthenticated(format!("missing {name}")))
        };
        let (name, secret) = (get(STORE_SERVER_HEADER)?, get(STORE_SECRET_HEADER)?);
        let hash = super::secret_hash(secret);
        // Every credential is compared, in constant time.
        self.servers
            .iter()
            .fold(None, |found, s| {
                if super::same(&hash, &s.secret_sha256) && s.name == name {
                    Some(s)
                } else {
                    found
                }
            })
            .map(|s| Arc::new(s.clone()))
            .ok_or_else(|| Status::unauthenticated("unknown store server or wrong secret"))
    }
}

#[tonic::async_trait]
impl pb::store_service_server::StoreService for StoreApi {
    type ExchangeStream = ReceiverStream<Result<pb::StoreReply, Status>>;

    async fn exchange(
        &self,
        req: tonic::Request<Streaming<pb::StoreRequest>>,
    ) -> Result<tonic::Response<Self::ExchangeStream>, Status> {
        let server = self.server(req.metadata())?;
        tracing::debug!(server = %server.name, "store server stream opened");
        let (tx, rx) = mpsc::channel(STREAM_ANSWERS_BUFFERED);
        let driver = Driver {
            api: self.clone(),
            server,
            order: Order::new(
                self.cash
                    .engine
                    .cashbox_lane_max()
                    .min(STREAM_CASHBOX_WRITES_MAX),
            ),
            tx,
        };
        tokio::spawn(driver.run(req.into_inner()));
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

/// An operation admitted on a stream: its tag and call, and what it does.
struct Item {
    head: Head,
    work: Work,
}

struct Head {
    tag: u64,
    call: Call,
}

enum Work {
    Write(Write),
    Read(Operation),
}

/// A write in the engine's hands.
struct Running {
    head: Option<Head>,
    slip: usize,
    pending: Pending,
}

impl Future for Running {
    type Output = (Head, usize, Result<Executed, EngineError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.pending).poll(cx).map(|r| {
            let head = this.head.take().expect("polled after it finished");
            (head, this.slip, r)
        })
    }
}

struct Driver {
    api: StoreApi,
    server: Arc<StoreServer>,
    order: Order<CashboxId, Item>,
    tx: mpsc::Sender<Result<pb::StoreReply, Status>>,
}

impl Driver {
    async fn run(mut self, mut inbound: Streaming<pb::StoreRequest>) {
        let mut running = futures_util::stream::FuturesUnordered::new();
        let mut open = true;
        loop {
            let room = self.order.unanswered() < STREAM_OPS_IN_FLIGHT_MAX;
            let replies = tokio::select! {
                biased;
                Some((head, slip, result)) = futures_util::StreamExt::next(&mut running) => {
                    self.written(head, slip, result, &mut running)
                }
                () = self.api.shutdown.cancelled(), if open => {
                    open = false;
                    Vec::new()
                }
                next = inbound.message(), if open && room => match next {
                    Ok(Some(first)) => {
                        let mut burst = vec![first];
                        while burst.len() < STREAM_BURST_MAX {
                            match futures_util::FutureExt::now_or_never(inbound.message()) {
                                Some(Ok(Some(m))) => burst.push(m),
                                Some(Ok(None)) => {
                                    open = false;
                                    break;
                                }
                                Some(Err(_)) | None => break,
                            }
                        }
                        self.arrived(burst, &mut running)
                    }
                    Ok(None) => {
                        open = false;
                        Vec::new()
                    }
                    Err(e) => {
                        // A broken stream: what is in the engine's hands still commits;
                        // the client resends what it has no answer for.
                        tracing::debug!(server = %self.server.name, error = %e, "store server stream broken");
                        return;
                    }
                },
                else => break,
            };
            for r in replies {
                // A client that reads nothing must not hold the server's shutdown: once it
                // begins, an answer that cannot leave ends the stream.
                tokio::select! {
                    sent = self.tx.send(Ok(r)) => if sent.is_err() {
                        return;
                    },
                    () = self.api.shutdown.cancelled() => return,
                }
            }
            if !open && running.is_empty() {
                break;
            }
        }
        if self.api.shutdown.is_cancelled() {
            let _ = self
                .tx
                .send(Err(Status::unavailable(
                    "the server is shutting down: send the operations without an answer again",
                )))
                .await;
        }
    }

    /// Admits a burst, answers what is refused or read at once, and hands its writes to the
    /// engine together.
    fn arrived(
        &mut self,
        burst: Vec<pb::StoreRequest>,
        running: &mut futures_util::stream::FuturesUnordered<Running>,
    ) -> Vec<pb::StoreReply> {
        let mut replies = Vec::new();
        let mut start = Vec::new();
        for msg in burst {
            let (tag, cashbox) = (msg.tag, msg.cashbox_id);
            match self.admit(msg) {
                Ok(item) => {
                    let kind = match item.work {
                        Work::Write(_) => Kind::Write,
                        Work::Read(_) => Kind::Read,
                    };
                    start.extend(self.order.arrive(item.head.call.cashbox, kind, item));
                }
                Err(status) => replies.push(refused(tag, cashbox, &status)),
            }
        }
        self.start(start, running, &mut replies);
        replies
    }

    /// A write was answered by the engine: its answer, then whatever of its cashbox waited
    /// for it.
    fn written(
        &mut self,
        head: Head,
        slip: usize,
        result: Result<Executed, EngineError>,
        running: &mut futures_util::stream::FuturesUnordered<Running>,
    ) -> Vec<pb::StoreReply> {
        let cashbox = head.call.cashbox;
        let cash = &self.api.cash;
        let mut replies = vec![match result {
            Ok(out) => self.reply(&head, Answer::Cheque(cash.answer(out, slip))),
            Err(e) => refused(head.tag, cashbox.0, &super::status(e)),
        }];
        let next = self.order.finished(cashbox);
        self.start(
            next.into_iter().map(|(_, i)| i).collect(),
            running,
            &mut replies,
        );
        replies
    }

    /// Starts operations in order: reads are answered now, writes go to the engine as one
    /// submission; a write the engine refuses at once releases what waited behind it.
    fn start(
        &mut self,
        mut items: Vec<Item>,
        running: &mut futures_util::stream::FuturesUnordered<Running>,
        replies: &mut Vec<pb::StoreReply>,
    ) {
        while !items.is_empty() {
            let mut writes = Vec::new();
            let mut requests = Vec::new();
            for Item { head, work } in items.drain(..) {
                match work {
                    Work::Read(op) => replies.push(self.read(head, op)),
                    Work::Write(w) => {
                        requests.push(w.request);
                        writes.push((head, w.slip));
                    }
                }
            }
            if requests.is_empty() {
                break;
            }
            let submitted = self.api.cash.engine.submit_many(requests);
            for ((head, slip), pending) in writes.into_iter().zip(submitted) {
                match pending {
                    Ok(pending) => running.push(Running {
                        head: Some(head),
                        slip,
                        pending,
                    }),
                    Err(e) => {
                        let cashbox = head.call.cashbox;
                        replies.push(refused(head.tag, cashbox.0, &super::status(e)));
                        items.extend(self.order.finished(cashbox).into_iter().map(|(_, i)| i));
                    }
                }
            }
        }
    }

    /// Answers a read from committed state.
    fn read(&self, head: Head, op: Operation) -> pb::StoreReply {
        let cash = &self.api.cash;
        let cashbox = head.call.cashbox;
        let answer = self.api.gate.check().and_then(|()| {
            Ok(match op {
                Operation::Calculate(m) => Answer::Cheque(cash.calculate_now(cashbox, m)?),
                Operation::AvailableAmount(m) => {
                    Answer::AvailableAmount(cash.available_now(cashbox, m)?)
                }
                Operation::Balance(m) => Answer::Cheque(cash.balance_now(cashbox, m)?),
                Operation::GetOperation(m) => Answer::Operation(cash.operation_now(cashbox, m)?),
                Operation::FetchOrder(m) => Answer::Cheque(cash.fetch_order_now(cashbox, m)?),
                Operation::CertificateStatus(m) => {
                    Answer::Cheque(cash.certificate_now(Some(cashbox), m)?)
                }
                _ => return Err(Status::internal("a write taken for a read")),
            })
        });
        match answer {
            Ok(a) => self.reply(&head, a),
            Err(status) => refused(head.tag, cashbox.0, &status),
        }
    }

    /// Admits one operation: its cashbox is one of the store server's, within its rate, its
    /// signature checked; a write is converted for the engine.
    fn admit(&self, msg: pb::StoreRequest) -> Result<Item, Status> {
        self.api.gate.check()?;
        let op = msg
            .operation
            .ok_or_else(|| Status::invalid_argument("operation: none given"))?;
        let method = loyalty_proto::methods::by_path(path(&op))
            .ok_or_else(|| Status::internal("the operation's method is not named"))?;
        let cash = &self.api.cash;
        let timer = cash.metrics.timer(method.name);
        let id = CashboxId(msg.cashbox_id);
        let found: Option<Cashbox> = cash.engine.read(|v| v.cashbox(id)).map_err(super::status)?;
        let cashbox = found
            .filter(|c| self.server.stores.contains(&c.store))
            .ok_or_else(|| {
                Status::permission_denied(format!(
                    "cashbox {}: not a cashbox of store server {}'s stores",
                    id.0, self.server.name
                ))
            })?;
        let presented = match (msg.signature.is_empty(), msg.signed_at.is_empty()) {
            (true, true) => None,
            (false, false) => Some(Presented {
                signature: &msg.signature,
                signed_at: &msg.signed_at,
            }),
            _ => {
                return Err(refused_signature(
                    id,
                    SignatureError::Malformed("signature: signature and signed_at go together"),
                ))
            }
        };
        let call = cash.admit(&cashbox, method, timer, presented, || body(&op))?;
        let work = match op {
            Operation::PayWithBonus(m) => Work::Write(cash.pay_with_bonus_op(id, m)?),
            Operation::RegisterPurchase(m) => Work::Write(cash.register_purchase_op(id, m)?),
            Operation::Confirm(m) => Work::Write(cash.confirm_op(id, m)?),
            Operation::Cancel(m) => Work::Write(cash.cancel_op(id, m)?),
            Operation::Refund(m) => Work::Write(cash.refund_op(id, m)?),
            Operation::IssueCard(m) => Work::Write(cash.issue_card_op(id, m)?),
            Operation::RegisterCustomer(m) => Work::Write(cash.register_customer_op(id, m)?),
            Operation::ReplaceCard(m) => Work::Write(cash.replace_card_op(id, m)?),
            Operation::SetCardPin(m) => Work::Write(cash.set_card_pin_op(id, m)?),
            Operation::ChooseFavourites(m) => Work::Write(cash.choose_favourites_op(id, m)?),
            Operation::IssueCertificate(m) => Work::Write(cash.issue_certificate_op(id, m)?),
            read => Work::Read(read),
        };
        Ok(Item {
            head: Head { tag: msg.tag, call },
            work,
        })
    }

    /// The answer to an operation, signed where the policy says so (over the inner answer,
    /// as the unary call's).
    fn reply(&self, head: &Head, answer: Answer) -> pb::StoreReply {
        let cash = &self.api.cash;
        let signature = match &answer {
            Answer::Cheque(r) => cash.signature(&head.call, r),
            Answer::AvailableAmount(r) => cash.signature(&head.call, r),
            Answer::Operation(r) => cash.signature(&head.call, r),
            Answer::Refused(_) => None,
        };
        let (signature, signed_at) = signature
            .map(|(s, at)| (s, at.to_string()))
            .unwrap_or_default();
        pb::StoreReply {
            tag: head.tag,
            cashbox_id: head.call.cashbox.0,
            signed_at,
            signature,
            answer: Some(answer),
        }
    }
}

/// The unary method an operation is the stream's form of: its path names it in metrics,
/// logs and signatures.
fn path(op: &Operation) -> &'static str {
    match op {
        Operation::Calculate(_) => "/loyalty.v1.CashService/Calculate",
        Operation::AvailableAmount(_) => "/loyalty.v1.CashService/AvailableAmount",
        Operation::PayWithBonus(_) => "/loyalty.v1.CashService/PayWithBonus",
        Operation::RegisterPurchase(_) => "/loyalty.v1.CashService/RegisterPurchase",
        Operation::Confirm(_) => "/loyalty.v1.CashService/Confirm",
        Operation::Cancel(_) => "/loyalty.v1.CashService/Cancel",
        Operation::Refund(_) => "/loyalty.v1.CashService/Refund",
        Operation::Balance(_) => "/loyalty.v1.CashService/Balance",
        Operation::GetOperation(_) => "/loyalty.v1.CashService/GetOperation",
        Operation::FetchOrder(_) => "/loyalty.v1.CashService/FetchOrder",
        Operation::IssueCard(_) => "/loyalty.v1.CashService/IssueCard",
        Operation::RegisterCustomer(_) => "/loyalty.v1.CashService/RegisterCustomer",
        Operation::ReplaceCard(_) => "/loyalty.v1.CashService/ReplaceCard",
        Operation::SetCardPin(_) => "/loyalty.v1.CashService/SetCardPin",
        Operation::ChooseFavourites(_) => "/loyalty.v1.CashService/ChooseFavourites",
        Operation::IssueCertificate(_) => "/loyalty.v1.CashService/IssueCertificate",
        Operation::CertificateStatus(_) => "/loyalty.v1.CashService/CertificateStatus",
    }
}

/// The inner request's bytes: what the unary call's signature covers.
fn body(op: &Operation) -> Vec<u8> {
    match op {
        Operation::Calculate(m) | Operation::AvailableAmount(m) => m.encode_to_vec(),
        Operation::PayWithBonus(m) => m.encode_to_vec(),
        Operation::RegisterPurchase(m) => m.encode_to_vec(),
        Operation::Confirm(m) | Operation::Cancel(m) => m.encode_to_vec(),
        Operation::Refund(m) => m.encode_to_vec(),
        Operation::Balance(m) => m.encode_to_vec(),
        Operation::GetOperation(m) => m.encode_to_vec(),
        Operation::FetchOrder(m) => m.encode_to_vec(),
        Operation::IssueCard(m) => m.encode_to_vec(),
        Operation::RegisterCustomer(m) => m.encode_to_vec(),
        Operation::ReplaceCard(m) => m.encode_to_vec(),
        Operation::SetCardPin(m) => m.encode_to_vec(),
        Operation::ChooseFavourites(m) => m.encode_to_vec(),
        Operation::IssueCertificate(m) => m.encode_to_vec(),
        Operation::CertificateStatus(m) => m.encode_to_vec(),
    }
}

/// An operation not processed, with the status its unary call would have ended with.
fn refused(tag: u64, cashbox: u32, status: &Status) -> pb::StoreReply {
    let md = status.metadata();
    let text = |name: &str| {
        md.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    pb::StoreReply {
        tag,
        cashbox_id: cashbox,
        answer: Some(Answer::Refused(pb::OperationStatus {
            code: status.code() as i32,
            message: status.message().to_owned(),
            retry_after_ms: text("retry-after-ms").parse().unwrap_or(0),
            error: text(ERROR_HEADER),
            leader: text(LEADER_HEADER),
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_servers_file() {
        let h = hex::encode(super::super::secret_hash("s3cret"));
        let got = parse_store_servers(&format!(
            "# store servers\nshop-12 {h} 12\n\ncloud {h} 1,2,3 # three stores\n"
        ))
        .expect("parses");
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].name.as_str(), &got[0].stores[..]),
            ("shop-12", &[StoreId(12)][..])
        );
        assert_eq!(got[1].stores, vec![StoreId(1), StoreId(2), StoreId(3)]);
        for bad in [
            format!("shop {h}"),
            format!("shop {h} 1 extra"),
            "shop abcd 1".to_owned(),
            format!("shop {h} 1,x"),
            format!("shop {h} 1\nshop {h} 2"),
        ] {
            assert!(parse_store_servers(&bad).is_err(), "{bad:?}");
        }
    }
}
