//! gRPC handlers: authenticate, convert, call the engine, convert back. No business rules.

use crate::convert::{self as cv, WireError};
use crate::pb;
use crate::signing::{
    self, Presented, ServerKey, SignatureError, ERROR_HEADER, SIGNATURE_HEADER, SIGNED_AT_HEADER,
};
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::decide;
use loyalty_core::ids::*;
use loyalty_core::model::{CardStatus, Cashbox, UnixMillis};
use loyalty_core::state::StateView;
use loyalty_engine::{Engine, EngineError};
use prost::Message;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

pub const CASHBOX_ID_HEADER: &str = "x-cashbox-id";
pub const CASHBOX_SECRET_HEADER: &str = "x-cashbox-secret";
pub const ADMIN_TOKEN_HEADER: &str = "x-admin-token";

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
        EngineError::Storage(_) | EngineError::ShuttingDown => Status::unavailable(e.to_string()),
    }
}

fn invalid(e: WireError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn header<'m>(md: &'m MetadataMap, name: &str) -> Result<&'m str, Status> {
    md.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Status::unauthenticated(format!("missing {name}")))
}

/// Constant-time comparison of two digests.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[derive(Clone)]
pub struct CashApi {
    pub engine: Engine,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub limiter: Arc<crate::limits::RateLimiter>,
    pub signatures: Arc<Signatures>,
}

/// The signature policy of the cash service.
pub struct Signatures {
    /// Every cashbox must sign; otherwise only cashboxes with a registered key must.
    pub required: bool,
    pub window_secs: u64,
    /// Sign every answer; otherwise only those to cashboxes that sign their requests.
    pub sign_all_answers: bool,
    /// The engine's key, which signs answers.
    pub key: Arc<ServerKey>,
}

/// An authenticated call: who sent it, to which method, and the request's canonical bytes
/// (to bind the answer's signature to it).
struct Call {
    cashbox: CashboxId,
    method: &'static str,
    body: Vec<u8>,
    /// The answer is to be signed.
    seal: bool,
}

/// The gRPC path of a cash method, as signatures name it (built only when signing).
fn method_path(method: &str) -> String {
    format!("/loyalty.v1.CashService/{method}")
}

fn refused_signature(cashbox: CashboxId, e: SignatureError) -> Status {
    tracing::warn!(cashbox = cashbox.0, reason = e.token(), "signature refused");
    let mut s = Status::unauthenticated(e.to_string());
    s.metadata_mut()
        .insert(ERROR_HEADER, e.token().parse().expect("ascii token"));
    s
}

impl CashApi {
    /// The calling cashbox, authenticated by its secret. A cashbox acts only as itself.
    fn cashbox(&self, md: &MetadataMap) -> Result<Cashbox, Status> {
        let id: u32 = header(md, CASHBOX_ID_HEADER)?
            .parse()
            .map_err(|_| Status::unauthenticated("x-cashbox-id must be a number"))?;
        let secret = header(md, CASHBOX_SECRET_HEADER)?;
        let found: Option<Cashbox> = self
            .engine
            .read(|v| v.cashbox(CashboxId(id)))
            .map_err(status)?;
        let cashbox = match found {
            Some(c) if same(&c.secret_sha256, &secret_hash(secret)) => c,
            _ => return Err(Status::unauthenticated("unknown cashbox or wrong secret")),
        };
        self.limiter
            .take(id, std::time::Instant::now())
            .map_err(|retry_after_ms| {
                status(EngineError::Busy {
                    what: "cashbox requests per second",
                    retry_after_ms,
                })
            })?;
        Ok(cashbox)
    }

    /// Authenticates the caller, checks the request's signature where one is required or
    /// sent, and hands out the message.
    fn open<T: Message>(
        &self,
        req: tonic::Request<T>,
        method: &'static str,
    ) -> Result<(Call, T), Status> {
        let cashbox = self.cashbox(req.metadata())?;
        let (md, _, msg) = req.into_parts();
        let signs = md.contains_key(SIGNATURE_HEADER) || md.contains_key(SIGNED_AT_HEADER);
        let seal = self.signatures.sign_all_answers || cashbox.public_key.is_some();
        // The canonical bytes are needed only to check or to bind a signature.
        let body = if signs || seal {
            msg.encode_to_vec()
        } else {
            Vec::new()
        };
        let presented = match (md.get(SIGNATURE_HEADER), md.get(SIGNED_AT_HEADER)) {
            (None, None) => None,
            (Some(sig), Some(at)) => Some(Presented {
                signature: sig.to_str().unwrap_or(""),
                signed_at: at.to_str().unwrap_or(""),
            }),
            _ => {
                return Err(refused_signature(
                    cashbox.id,
                    SignatureError::Malformed("signature: x-signature and x-signed-at go together"),
                ))
            }
        };
        let policy = &self.signatures;
        match (presented, cashbox.public_key) {
            (None, None) if !policy.required => {}
            (None, _) => return Err(refused_signature(cashbox.id, SignatureError::Required)),
            (Some(_), None) => return Err(refused_signature(cashbox.id, SignatureError::NoKey)),
            (Some(p), Some(key)) => signing::verify_request(
                &key,
                &p,
                &method_path(method),
                cashbox.id.0,
                &body,
                self.engine.now().0,
                policy.window_secs,
            )
            .map_err(|e| refused_signature(cashbox.id, e))?,
        }
        Ok((
            Call {
                cashbox: cashbox.id,
                method,
                body,
                seal,
            },
            msg,
        ))
    }

    /// The answer, signed with the engine's key where the policy says so.
    fn seal<R: Message>(&self, call: &Call, reply: R) -> Rpc<R> {
        let mut response = Response::new(reply);
        if call.seal {
            let key = &self.signatures.key;
            let at = self.engine.now().0;
            let message = signing::answer_message(
                &method_path(call.method),
                call.cashbox.0,
                at,
                &call.body,
                &response.get_ref().encode_to_vec(),
            );
            let md = response.metadata_mut();
            md.insert(SIGNATURE_HEADER, key.sign(&message).parse().expect("hex"));
            md.insert(SIGNED_AT_HEADER, at.to_string().parse().expect("digits"));
        }
        Ok(response)
    }

    fn lines_max(&self) -> usize {
        self.engine.program().lines_per_cheque_max
    }

    async fn run(&self, call: &Call, op: &str, command: Command) -> Rpc<pb::ChequeReply> {
        self.run_with_slip(call, op, command, 0).await
    }

    /// Runs a command and answers, with the receipt slip when `slip_width` asks for one.
    async fn run_with_slip(
        &self,
        call: &Call,
        op: &str,
        command: Command,
        slip_width: u32,
    ) -> Rpc<pb::ChequeReply> {
        let width = slip(slip_width)?;
        let op = cv::op_id(op).map_err(invalid)?;
        let cashbox = call.cashbox;
        tracing::debug!(%op, cashbox = cashbox.0, command = command_name(&command), "request");
        let out = self
            .engine
            .execute(Request {
                op,
                actor: Actor::Cashbox(cashbox),
                command,
            })
            .await
            .map_err(status)?;
        self.metrics.outcome(out.reply.code);
        tracing::debug!(%op, code = ?out.reply.code, replayed = out.replayed, "answered");
        self.seal(call, with_slip(cv::reply(out.reply, out.replayed), width))
    }
}

/// The slip width asked for: 0 for none, else within the printer widths.
fn slip(width: u32) -> Result<usize, Status> {
    let w = width as usize;
    if w == 0 || (crate::receipt::SLIP_WIDTH_MIN..=crate::receipt::SLIP_WIDTH_MAX).contains(&w) {
        Ok(w)
    } else {
        Err(Status::invalid_argument(format!(
            "slip_width: {}..={} characters, or 0",
            crate::receipt::SLIP_WIDTH_MIN,
            crate::receipt::SLIP_WIDTH_MAX
        )))
    }
}

fn with_slip(mut reply: pb::ChequeReply, width: usize) -> pb::ChequeReply {
    if width > 0 {
        reply.slip = crate::receipt::slip(&reply, width);
        reply.cheque_messages = crate::receipt::with_summary(&reply);
    }
    reply
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::PayWithBonus { .. } => "PayWithBonus",
        Command::RegisterPurchase { .. } => "RegisterPurchase",
        Command::Confirm { .. } => "Confirm",
        Command::Cancel { .. } => "Cancel",
        Command::Refund { .. } => "Refund",
        Command::ImportOfflinePurchase { .. } => "ImportOfflinePurchase",
        Command::RegisterCashbox { .. } => "RegisterCashbox",
        Command::SetCashboxEnabled { .. } => "SetCashboxEnabled",
        Command::SetCashboxKey { .. } => "SetCashboxKey",
        Command::ImportProducts { .. } => "ImportProducts",
        Command::UpsertOffer { .. } => "UpsertOffer",
        Command::IssueCard { .. } => "IssueCard",
        Command::ActivateCard { .. } => "ActivateCard",
        Command::BlockCard { .. } => "BlockCard",
        Command::AdjustPoints { .. } => "AdjustPoints",
        Command::RegisterCustomer { .. } => "RegisterCustomer",
        Command::ReplaceCard { .. } => "ReplaceCard",
        Command::SetAccountBlocked { .. } => "SetAccountBlocked",
        Command::SetCardRange { .. } => "SetCardRange",
        Command::SetCardPin { .. } => "SetCardPin",
        Command::IssueQrSecret { .. } => "IssueQrSecret",
        Command::ChooseFavourites { .. } => "ChooseFavourites",
        Command::SetIdentifierPolicy { .. } => "SetIdentifierPolicy",
        Command::ExpireHolds => "ExpireHolds",
        Command::SetCouponSeries { .. } => "SetCouponSeries",
        Command::IssueCoupons { .. } => "IssueCoupons",
        Command::CreateOrder { .. } => "CreateOrder",
        Command::CancelOrder { .. } => "CancelOrder",
    }
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::cash_service_server::CashService for CashApi {
    async fn calculate(&self, req: tonic::Request<pb::CalculateRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Calculate");
        let (call, msg) = self.open(req, "Calculate")?;
        let width = slip(msg.slip_width)?;
        let cheque = cv::cheque(msg.cheque, self.lines_max()).map_err(invalid)?;
        let program = self.engine.program();
        let now = self.engine.now();
        let reply = self
            .engine
            .read(|v| decide::calculate(v, program, call.cashbox, &cheque, now))
            .map_err(status)?;
        self.seal(&call, with_slip(cv::reply(reply, false), width))
    }

    async fn available_amount(
        &self,
        req: tonic::Request<pb::CalculateRequest>,
    ) -> Rpc<pb::AvailableAmountReply> {
        let _timer = self.metrics.timer("AvailableAmount");
        let (call, msg) = self.open(req, "AvailableAmount")?;
        let cheque = cv::cheque(msg.cheque, self.lines_max()).map_err(invalid)?;
        let program = self.engine.program();
        let now = self.engine.now();
        let r = self
            .engine
            .read(|v| decide::calculate(v, program, call.cashbox, &cheque, now))
            .map_err(status)?;
        let reply = pb::AvailableAmountReply {
            outcome: cv::outcome(r.code).into(),
            available: r
                .totals
                .map(|t| t.redeem_max.to_string())
                .unwrap_or_default(),
            balance: r.balance.map(cv::balance),
            message: r.message,
        };
        self.seal(&call, reply)
    }

    async fn pay_with_bonus(
        &self,
        req: tonic::Request<pb::PayWithBonusRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("PayWithBonus");
        let (call, msg) = self.open(req, "PayWithBonus")?;
        let cheque = cv::cheque(msg.cheque, self.lines_max()).map_err(invalid)?;
        if cheque.order.is_some() {
            return Err(Status::invalid_argument(
                "cheque.order: an order is paid with the points reserved for it; register the cheque",
            ));
        }
        let command = Command::PayWithBonus {
            cheque,
            points: cv::points("points", &msg.points).map_err(invalid)?,
        };
        self.run_with_slip(&call, &msg.operation_id, command, msg.slip_width)
            .await
    }

    async fn register_purchase(
        &self,
        req: tonic::Request<pb::RegisterPurchaseRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("RegisterPurchase");
        let (call, msg) = self.open(req, "RegisterPurchase")?;
        let command = Command::RegisterPurchase {
            cheque: cv::cheque(msg.cheque, self.lines_max()).map_err(invalid)?,
        };
        self.run_with_slip(&call, &msg.operation_id, command, msg.slip_width)
            .await
    }

    async fn confirm(&self, req: tonic::Request<pb::PurchaseRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Confirm");
        let (call, msg) = self.open(req, "Confirm")?;
        let command = Command::Confirm {
            cheque: cv::cheque_id("cheque_id", &msg.cheque_id).map_err(invalid)?,
        };
        self.run_with_slip(&call, &msg.operation_id, command, msg.slip_width)
            .await
    }

    async fn cancel(&self, req: tonic::Request<pb::PurchaseRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Cancel");
        let (call, msg) = self.open(req, "Cancel")?;
        let command = Command::Cancel {
            cheque: cv::cheque_id("cheque_id", &msg.cheque_id).map_err(invalid)?,
        };
        self.run_with_slip(&call, &msg.operation_id, command, msg.slip_width)
            .await
    }

    async fn refund(&self, req: tonic::Request<pb::RefundRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Refund");
        let (call, msg) = self.open(req, "Refund")?;
        let pb::RefundRequest {
            operation_id,
            refund_cheque_id,
            purchase_cheque_id,
            lines,
        } = msg;
        let command = Command::Refund {
            refund: cv::cheque_id("refund_cheque_id", &refund_cheque_id).map_err(invalid)?,
            purchase: cv::cheque_id("purchase_cheque_id", &purchase_cheque_id).map_err(invalid)?,
            lines: cv::refund_lines(lines, self.lines_max()).map_err(invalid)?,
        };
        self.run(&call, &operation_id, command).await
    }

    async fn fetch_order(
        &self,
        req: tonic::Request<pb::FetchOrderRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("FetchOrder");
        let (call, msg) = self.open(req, "FetchOrder")?;
        let number = cv::optional_order("order", &msg.order)
            .map_err(invalid)?
            .ok_or_else(|| Status::invalid_argument("order: empty"))?;
        let at = cv::local_time("local_time", &msg.local_time).map_err(invalid)?;
        let program = self.engine.program();
        let now = self.engine.now();
        let reply = self
            .engine
            .read(|v| decide::fetch_order(v, program, call.cashbox, &number, at, now))
            .map_err(status)?;
        self.seal(&call, cv::reply(reply, false))
    }

    async fn balance(&self, req: tonic::Request<pb::BalanceRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Balance");
        let (call, msg) = self.open(req, "Balance")?;
        let card = cv::optional_card("card", &msg.card).map_err(invalid)?;
        let presented = cv::presented("identifiers", msg.identifiers).map_err(invalid)?;
        let now = self.engine.now();
        let reply = self
            .engine
            .read(|v| decide::balance(v, call.cashbox, card.as_ref(), &presented, now))
            .map_err(status)?;
        self.seal(&call, cv::reply(reply, false))
    }

    async fn upload_offline(
        &self,
        req: tonic::Request<pb::OfflineBatch>,
    ) -> Rpc<pb::OfflineBatchReply> {
        let _timer = self.metrics.timer("UploadOffline");
        let (call, msg) = self.open(req, "UploadOffline")?;
        let items = msg.items;
        if items.len() > crate::server::OFFLINE_BATCH_ITEMS_MAX {
            return Err(Status::invalid_argument(format!(
                "items: {} in one call, at most {}; send the rest in further calls",
                items.len(),
                crate::server::OFFLINE_BATCH_ITEMS_MAX
            )));
        }
        let lines_max = self.lines_max();
        let requests = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                cv::offline_item(i, item, lines_max).map(|(op, command)| Request {
                    op,
                    actor: Actor::Cashbox(call.cashbox),
                    command,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        tracing::debug!(
            cashbox = call.cashbox.0,
            items = requests.len(),
            "offline upload"
        );
        let outs = self
            .engine
            .execute_many(requests.clone())
            .await
            .map_err(status)?;
        let results = requests
            .into_iter()
            .zip(outs)
            .map(|(r, out)| pb::OfflineItemResult {
                operation_id: r.op.to_string(),
                reply: Some(cv::reply(out.reply, out.replayed)),
            })
            .collect();
        self.seal(&call, pb::OfflineBatchReply { results })
    }

    async fn issue_card(
        &self,
        req: tonic::Request<pb::IssueCardAtTillRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("IssueCard");
        let (call, msg) = self.open(req, "IssueCard")?;
        let command = Command::IssueCard {
            number: cv::card("card", &msg.card).map_err(invalid)?,
            card_type: cv::profile_text("card_type", &msg.card_type, 64).map_err(invalid)?,
            status: CardStatus::Issued,
            account: None,
            holder_name: String::new(),
            holder_phone: String::new(),
        };
        self.run(&call, &msg.operation_id, command).await
    }

    async fn register_customer(
        &self,
        req: tonic::Request<pb::RegisterCustomerRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("RegisterCustomer");
        let (call, msg) = self.open(req, "RegisterCustomer")?;
        let command = Command::RegisterCustomer {
            card: cv::card("card", &msg.card).map_err(invalid)?,
            name: cv::profile_text("name", &msg.name, 256).map_err(invalid)?,
            phone: cv::optional_phone("phone", &msg.phone).map_err(invalid)?,
            consent: msg.consent,
        };
        self.run(&call, &msg.operation_id, command).await
    }

    async fn replace_card(
        &self,
        req: tonic::Request<pb::ReplaceCardRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("ReplaceCard");
        let (call, msg) = self.open(req, "ReplaceCard")?;
        let command = Command::ReplaceCard {
            old: cv::card("old_card", &msg.old_card).map_err(invalid)?,
            new: cv::card("new_card", &msg.new_card).map_err(invalid)?,
        };
        self.run(&call, &msg.operation_id, command).await
    }

    async fn choose_favourites(
        &self,
        req: tonic::Request<pb::ChooseFavouritesRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("ChooseFavourites");
        let (call, msg) = self.open(req, "ChooseFavourites")?;
        let command = Command::ChooseFavourites {
            card: cv::card("card", &msg.card).map_err(invalid)?,
            products: cv::favourites(msg.products).map_err(invalid)?,
        };
        self.run(&call, &msg.operation_id, command).await
    }

    async fn set_card_pin(
        &self,
        req: tonic::Request<pb::SetCardPinRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("SetCardPin");
        let (call, msg) = self.open(req, "SetCardPin")?;
        let command = Command::SetCardPin {
            card: cv::card("card", &msg.card).map_err(invalid)?,
            pin: cv::optional_pin("pin", &msg.pin).map_err(invalid)?,
        };
        self.run(&call, &msg.operation_id, command).await
    }

    async fn get_operation(
        &self,
        req: tonic::Request<pb::GetOperationRequest>,
    ) -> Rpc<pb::OperationReply> {
        let _timer = self.metrics.timer("GetOperation");
        let (call, msg) = self.open(req, "GetOperation")?;
        let op = cv::op_id(&msg.operation_id).map_err(invalid)?;
        let rec = self
            .engine
            .read(|v| decide::operation_status(v, Actor::Cashbox(call.cashbox), op))
            .map_err(status)?;
        let reply = match rec {
            Some(r) => pb::OperationReply {
                found: true,
                recorded_at_unix_ms: r.at.0,
                reply: Some(cv::reply(r.reply, true)),
            },
            None => pb::OperationReply {
                found: false,
                reply: None,
                recorded_at_unix_ms: 0,
            },
        };
        self.seal(&call, reply)
    }
}

#[derive(Clone)]
pub struct AdminApi {
    pub engine: Engine,
    /// Named admin credentials (token hashes).
    pub operators: Arc<Vec<crate::server::Operator>>,
    pub relay: Arc<crate::relay::RelayStats>,
    pub server_key: Arc<ServerKey>,
}

/// An event as shown in histories: secrets blanked.
fn redacted(mut event: loyalty_core::event::Event) -> loyalty_core::event::Event {
    if let loyalty_core::event::Event::CardQrSecretSet { secret, .. } = &mut event {
        *secret = [0; 32];
    }
    event
}

/// How an actor is shown in histories and the event stream.
pub fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::Cashbox(c) => format!("cashbox:{}", c.0),
        Actor::Admin(name) => format!("admin:{name}"),
        Actor::System => "system".into(),
    }
}

impl AdminApi {
    /// The operator whose token this is. Every credential is compared, in constant time.
    fn authorize(&self, md: &MetadataMap) -> Result<OperatorName, Status> {
        let hash = secret_hash(header(md, ADMIN_TOKEN_HEADER)?);
        self.operators
            .iter()
            .fold(None, |found, o| {
                if same(&hash, &o.token_sha256) {
                    Some(o.name)
                } else {
                    found
                }
            })
            .ok_or_else(|| Status::unauthenticated("wrong admin token"))
    }

    async fn run(
        &self,
        operator: OperatorName,
        op: &str,
        command: Command,
    ) -> Result<pb::AdminReply, Status> {
        let op = cv::op_id(op).map_err(invalid)?;
        tracing::info!(%op, %operator, command = command_name(&command), "admin request");
        let out = self
            .engine
            .execute(Request {
                op,
                actor: Actor::Admin(operator),
                command,
            })
            .await
            .map_err(status)?;
        Ok(pb::AdminReply {
            outcome: cv::outcome(out.reply.code).into(),
            message: out.reply.message,
            events: out.events.len() as u32,
            replayed: out.replayed,
            balance: out.reply.balance.map(cv::balance),
            ..Default::default()
        })
    }
}

/// Coupon codes generated for an operation: twelve digits each, derived from the
/// operation id, so that a resent request issues the same codes (and gets the original
/// answer).
fn generated_codes(op: OpId, count: u32) -> Vec<CouponCode> {
    use sha2::{Digest, Sha256};
    (0..count)
        .map(|i| {
            let h = Sha256::new()
                .chain_update(b"loyalty issued coupon\n")
                .chain_update(op.0.to_be_bytes())
                .chain_update(i.to_be_bytes())
                .finalize();
            let v = u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % 1_000_000_000_000;
            CouponCode::new(&format!("{v:012}")).expect("digits make a coupon code")
        })
        .collect()
}

fn optional_key(field: &str, hex_key: &str) -> Result<Option<[u8; 32]>, Status> {
    if hex_key.is_empty() {
        return Ok(None);
    }
    signing::public_key(hex_key)
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    async fn register_cashbox(
        &self,
        req: tonic::Request<pb::RegisterCashboxRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::RegisterCashboxRequest {
            operation_id,
            cashbox_id,
            store_id,
            kind,
            public_key,
        } = req.into_inner();
        // The secret is derived from the operation id and a server-side random part that is
        // never stored; a replay of the same operation cannot show it again.
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let command = Command::RegisterCashbox {
            id: CashboxId(cashbox_id),
            store: StoreId(store_id),
            kind: cv::cashbox_kind(kind).map_err(invalid)?,
            secret_sha256: secret_hash(&secret),
            public_key: optional_key("public_key", &public_key)?,
        };
        // The fingerprint covers the secret's hash, so a resent registration must not be
        // treated as a conflict: look up the original first.
        let op = cv::op_id(&operation_id).map_err(invalid)?;
        if let Some(rec) = self.engine.read(|v| v.operation(op)).map_err(status)? {
            return Ok(Response::new(pb::AdminReply {
                outcome: cv::outcome(rec.reply.code).into(),
                message: rec.reply.message,
                events: 0,
                replayed: true,
                ..Default::default()
            }));
        }
        let mut reply = self.run(operator, &operation_id, command).await?;
        if reply.outcome == pb::Outcome::Ok as i32 && !reply.replayed {
            reply.cashbox_secret = secret;
        }
        Ok(Response::new(reply))
    }

    async fn set_cashbox_enabled(
        &self,
        req: tonic::Request<pb::SetCashboxEnabledRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetCashboxEnabledRequest {
            operation_id,
            cashbox_id,
            enabled,
        } = req.into_inner();
        Ok(Response::new(
            self.run(
                operator,
                &operation_id,
                Command::SetCashboxEnabled {
                    id: CashboxId(cashbox_id),
                    enabled,
                },
            )
            .await?,
        ))
    }

    async fn import_products(
        &self,
        req: tonic::Request<pb::ImportProductsRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::ImportProductsRequest {
            operation_id,
            products,
        } = req.into_inner();
        if products.len() > crate::server::IMPORT_PRODUCTS_MAX {
            return Err(Status::invalid_argument(format!(
                "products: at most {} per request",
                crate::server::IMPORT_PRODUCTS_MAX
            )));
        }
        let products = products
            .into_iter()
            .enumerate()
            .map(|(i, p)| cv::product(i, p))
            .collect::<Result<_, _>>()
            .map_err(invalid)?;
        Ok(Response::new(
            self.run(
                operator,
                &operation_id,
                Command::ImportProducts { products },
            )
            .await?,
        ))
    }

    async fn upsert_offer(
        &self,
        req: tonic::Request<pb::UpsertOfferRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::UpsertOfferRequest {
            operation_id,
            offer,
        } = req.into_inner();
        let offer = cv::offer(offer).map_err(invalid)?;
        Ok(Response::new(
            self.run(operator, &operation_id, Command::UpsertOffer { offer })
                .await?,
        ))
    }

    async fn issue_card(&self, req: tonic::Request<pb::IssueCardRequest>) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::IssueCardRequest {
            operation_id,
            card,
            card_type,
            status: st,
            account,
            holder_name,
            holder_phone,
        } = req.into_inner();
        if card_type.len() > 64 || holder_name.len() > 256 || holder_phone.len() > 32 {
            return Err(Status::invalid_argument(
                "card_type, holder_name or holder_phone too long",
            ));
        }
        let command = Command::IssueCard {
            number: cv::card("card", &card).map_err(invalid)?,
            card_type,
            status: cv::card_status("status", st).map_err(invalid)?,
            account: (account != 0).then_some(AccountId(account)),
            holder_name,
            holder_phone,
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    async fn activate_card(&self, req: tonic::Request<pb::CardRequest>) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::CardRequest { operation_id, card } = req.into_inner();
        let number = cv::card("card", &card).map_err(invalid)?;
        Ok(Response::new(
            self.run(operator, &operation_id, Command::ActivateCard { number })
                .await?,
        ))
    }

    async fn block_card(&self, req: tonic::Request<pb::CardRequest>) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::CardRequest { operation_id, card } = req.into_inner();
        let number = cv::card("card", &card).map_err(invalid)?;
        Ok(Response::new(
            self.run(operator, &operation_id, Command::BlockCard { number })
                .await?,
        ))
    }

    async fn set_cashbox_key(
        &self,
        req: tonic::Request<pb::SetCashboxKeyRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetCashboxKeyRequest {
            operation_id,
            cashbox_id,
            public_key,
        } = req.into_inner();
        let command = Command::SetCashboxKey {
            id: CashboxId(cashbox_id),
            public_key: optional_key("public_key", &public_key)?,
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    async fn adjust_points(
        &self,
        req: tonic::Request<pb::AdjustPointsRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::AdjustPointsRequest {
            operation_id,
            card,
            delta,
            reason,
        } = req.into_inner();
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 256 {
            return Err(Status::invalid_argument(
                "reason: required, at most 256 bytes",
            ));
        }
        let command = Command::AdjustPoints {
            card: cv::card("card", &card).map_err(invalid)?,
            delta: cv::signed_points("delta", &delta).map_err(invalid)?,
            reason: reason.to_owned(),
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    async fn replace_card(
        &self,
        req: tonic::Request<pb::ReplaceCardRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::ReplaceCardRequest {
            operation_id,
            old_card,
            new_card,
        } = req.into_inner();
        let command = Command::ReplaceCard {
            old: cv::card("old_card", &old_card).map_err(invalid)?,
            new: cv::card("new_card", &new_card).map_err(invalid)?,
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    async fn set_card_range(
        &self,
        req: tonic::Request<pb::SetCardRangeRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let msg = req.into_inner();
        let operation_id = msg.operation_id.clone();
        let (range, active) = cv::card_range(msg).map_err(invalid)?;
        Ok(Response::new(
            self.run(
                operator,
                &operation_id,
                Command::SetCardRange { range, active },
            )
            .await?,
        ))
    }

    async fn set_coupon_series(
        &self,
        req: tonic::Request<pb::SetCouponSeriesRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetCouponSeriesRequest {
            operation_id,
            series,
        } = req.into_inner();
        let series = cv::coupon_series(series).map_err(invalid)?;
        Ok(Response::new(
            self.run(operator, &operation_id, Command::SetCouponSeries { series })
                .await?,
        ))
    }

    async fn issue_coupons(
        &self,
        req: tonic::Request<pb::IssueCouponsRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::IssueCouponsRequest {
            operation_id,
            series,
            codes,
            count,
            card,
            expires,
        } = req.into_inner();
        let op = cv::op_id(&operation_id).map_err(invalid)?;
        let codes = match (codes.is_empty(), count) {
            (false, 0) => cv::coupon_codes(&codes).map_err(invalid)?,
            (true, 1..=10_000) => generated_codes(op, count),
            _ => {
                return Err(Status::invalid_argument(
                    "codes: give the codes, or none and a count of 1 to 10000",
                ))
            }
        };
        let command = Command::IssueCoupons {
            series: CouponSeriesId(series),
            codes: codes.clone(),
            card: cv::optional_card("card", &card).map_err(invalid)?,
            expires: cv::local_time("expires", &expires).map_err(invalid)?,
        };
        let mut reply = self.run(operator, &operation_id, command).await?;
        if reply.outcome == pb::Outcome::Ok as i32 {
            reply.coupons = codes.iter().map(ToString::to_string).collect();
        }
        Ok(Response::new(reply))
    }

    async fn create_order(
        &self,
        req: tonic::Request<pb::CreateOrderRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::CreateOrderRequest {
            operation_id,
            order,
            card,
            lines,
            points,
        } = req.into_inner();
        let command = Command::CreateOrder {
            number: cv::optional_order("order", &order)
                .map_err(invalid)?
                .ok_or_else(|| Status::invalid_argument("order: empty"))?,
            card: cv::card("card", &card).map_err(invalid)?,
            lines: cv::order_lines(lines, self.engine.program().lines_per_cheque_max)
                .map_err(invalid)?,
            points: if points.is_empty() {
                loyalty_core::amount::Points::ZERO
            } else {
                cv::points("points", &points).map_err(invalid)?
            },
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    async fn cancel_order(
        &self,
        req: tonic::Request<pb::CancelOrderRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::CancelOrderRequest {
            operation_id,
            order,
        } = req.into_inner();
        let number = cv::optional_order("order", &order)
            .map_err(invalid)?
            .ok_or_else(|| Status::invalid_argument("order: empty"))?;
        Ok(Response::new(
            self.run(operator, &operation_id, Command::CancelOrder { number })
                .await?,
        ))
    }

    async fn issue_qr_secret(&self, req: tonic::Request<pb::CardRequest>) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::CardRequest { operation_id, card } = req.into_inner();
        let secret: [u8; 32] = rand::random();
        let command = Command::IssueQrSecret {
            card: cv::card("card", &card).map_err(invalid)?,
            secret,
        };
        // A resent issue must not show (or replace) the secret again: answer the original.
        let op = cv::op_id(&operation_id).map_err(invalid)?;
        if let Some(rec) = self.engine.read(|v| v.operation(op)).map_err(status)? {
            return Ok(Response::new(pb::AdminReply {
                outcome: cv::outcome(rec.reply.code).into(),
                message: rec.reply.message,
                replayed: true,
                ..Default::default()
            }));
        }
        let mut reply = self.run(operator, &operation_id, command).await?;
        if reply.outcome == pb::Outcome::Ok as i32 && !reply.replayed {
            reply.qr_secret = hex::encode(secret);
        }
        Ok(Response::new(reply))
    }

    async fn set_identifier_policy(
        &self,
        req: tonic::Request<pb::SetIdentifierPolicyRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetIdentifierPolicyRequest {
            operation_id,
            redeem_via,
        } = req.into_inner();
        let policy = cv::identifier_policy(&redeem_via).map_err(invalid)?;
        Ok(Response::new(
            self.run(
                operator,
                &operation_id,
                Command::SetIdentifierPolicy { policy },
            )
            .await?,
        ))
    }

    async fn set_account_blocked(
        &self,
        req: tonic::Request<pb::SetAccountBlockedRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetAccountBlockedRequest {
            operation_id,
            card,
            blocked,
        } = req.into_inner();
        let command = Command::SetAccountBlocked {
            card: cv::card("card", &card).map_err(invalid)?,
            blocked,
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    async fn server_key(
        &self,
        req: tonic::Request<pb::ServerKeyRequest>,
    ) -> Rpc<pb::ServerKeyReply> {
        self.authorize(req.metadata())?;
        Ok(Response::new(pb::ServerKeyReply {
            algorithm: "ed25519".into(),
            public_key: self.server_key.public_hex(),
        }))
    }

    async fn history(&self, req: tonic::Request<pb::HistoryRequest>) -> Rpc<pb::HistoryReply> {
        self.authorize(req.metadata())?;
        let pb::HistoryRequest {
            card,
            account_id,
            after_seq,
            limit,
        } = req.into_inner();
        let account = match (card.is_empty(), account_id) {
            (true, 0) => None,
            (true, id) => Some(AccountId(id)),
            (false, 0) => {
                let number = cv::card("card", &card).map_err(invalid)?;
                let found = self.engine.read(|v| v.card(&number)).map_err(status)?;
                Some(
                    found
                        .ok_or_else(|| Status::not_found(format!("card {}", number.masked())))?
                        .account,
                )
            }
            (false, _) => {
                return Err(Status::invalid_argument(
                    "card and account_id: give one, not both",
                ))
            }
        };
        let limit = if limit == 0 { 100 } else { limit.min(10_000) } as usize;
        let entries = self
            .engine
            .history(account, after_seq, limit)
            .map_err(status)?
            .into_iter()
            .map(|r| pb::HistoryEntry {
                seq: r.seq,
                server_time_unix_ms: r.at.0,
                operation_id: r.op.to_string(),
                actor: actor_label(&r.actor),
                event_type: r.event.name().into(),
                account_id: r.event.account().map_or(0, |a| a.0),
                balance_delta: loyalty_core::amount::Points(r.event.balance_delta()).to_string(),
                detail: serde_json::to_string(&redacted(r.event)).unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::HistoryReply { entries }))
    }

    async fn list_pending(
        &self,
        req: tonic::Request<pb::ListPendingRequest>,
    ) -> Rpc<pb::ListPendingReply> {
        self.authorize(req.metadata())?;
        let pb::ListPendingRequest {
            within_secs,
            limit,
            expired_within_secs,
        } = req.into_inner();
        let now = self.engine.now();
        let horizon = now.plus_secs(within_secs);
        let limit = if limit == 0 { 1000 } else { limit.min(10_000) } as usize;
        let since = UnixMillis(
            now.0
                .saturating_sub((expired_within_secs as i64).saturating_mul(1000)),
        );
        let purchases = self
            .engine
            .read(|v| {
                let mut keys = v.pending_due(horizon, limit);
                if expired_within_secs > 0 {
                    keys.extend(v.expired_between(since, now, limit));
                }
                keys.into_iter()
                    .filter_map(|k| v.purchase(&k))
                    .map(|p| pb::PendingPurchase {
                        cashbox_id: p.key.cashbox.0,
                        cheque_id: p.key.cheque.to_string(),
                        status: cv::purchase_status(p.status).into(),
                        paid: p.paid.to_string(),
                        accrual: p.accrual.to_string(),
                        created_at_unix_ms: p.created_at.0,
                        expires_at_unix_ms: p.expires_at.0,
                        expired: p.expires_at <= now,
                    })
                    .collect()
            })
            .map_err(status)?;
        Ok(Response::new(pb::ListPendingReply { purchases }))
    }

    async fn verify(&self, req: tonic::Request<pb::VerifyRequest>) -> Rpc<pb::VerifyReply> {
        self.authorize(req.metadata())?;
        let r = self
            .engine
            .verify(req.into_inner().rewrite)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::VerifyReply {
            events: r.events,
            equal: r.equal,
            differences: r.differences,
            rewritten: r.rewritten,
            state_sha256: hex::encode(r.state_sha256),
            log_sha256: hex::encode(r.log_sha256),
        }))
    }

    async fn status(&self, req: tonic::Request<pb::StatusRequest>) -> Rpc<pb::StatusReply> {
        self.authorize(req.metadata())?;
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.engine.stats();
        let (outbox_pending, outbox_age_ms) =
            crate::relay::outbox_lag(&self.engine).map_err(|e| status(e.into()))?;
        Ok(Response::new(pb::StatusReply {
            outbox_pending,
            outbox_age_ms,
            published: self.relay.published.load(Relaxed),
            relay_failed_rounds: self.relay.failed_rounds.load(Relaxed),
            batches: s.batches.load(Relaxed),
            operations: s.ops.load(Relaxed),
            events: s.events.load(Relaxed),
            replays: s.replays.load(Relaxed),
            largest_batch: s.largest_batch.load(Relaxed),
            queued: s.queued.load(Relaxed),
            commit_micros_total: s.commit_latency.sum(),
        }))
    }
}

/// The expiry sweep: releases holds whose lifetime has passed, through the same path as
/// every other command.
pub async fn sweep_expired(engine: &Engine) -> Result<usize, EngineError> {
    let now: UnixMillis = engine.now();
    let due = engine.read(|v| !v.pending_due(now, 1).is_empty())?;
    if !due {
        return Ok(0);
    }
    let op = OpId(uuid::Uuid::new_v4().as_u128());
    Ok(engine.expire_holds(op).await?.events.len())
}
