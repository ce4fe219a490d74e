//! The cash service: what the tills call. Each handler authenticates the call, converts
//! the request (every field, exhaustively), runs the command or the read-only query, and
//! converts the answer back; the receipt slip is added where one is asked for.

use super::auth::{Call, Signatures};
use super::{invalid, status, Rpc};
use crate::convert as cv;
use crate::limits::{CARD_TYPE_BYTES_MAX, CHEQUE_LINES_MAX, NAME_BYTES_MAX};
use crate::pb;
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::decide;
use loyalty_core::ids::CashboxId;
use loyalty_core::model::CardStatus;
use loyalty_core::Executed;
use loyalty_engine::Engine;
use std::sync::Arc;
use tonic::Status;

#[derive(Clone)]
pub struct CashApi {
    pub engine: Engine,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub limiter: Arc<crate::rate::RateLimiter>,
    pub signatures: Arc<Signatures>,
}

/// A state-changing operation ready for the engine, and the width of the receipt slip its
/// answer is to carry (0: none).
pub(super) struct Write {
    pub request: Request,
    pub slip: usize,
}

impl CashApi {
    fn lines_max(&self) -> usize {
        self.engine.program().lines_per_cheque_max
    }

    fn write(
        &self,
        cashbox: CashboxId,
        op: &str,
        command: Command,
        slip_width: u32,
    ) -> Result<Write, Status> {
        let slip = slip(slip_width)?;
        let op = cv::op_id(op).map_err(invalid)?;
        tracing::debug!(%op, cashbox = cashbox.0, command = command.name(), "request");
        Ok(Write {
            request: Request {
                op,
                actor: Actor::Cashbox(cashbox),
                command,
            },
            slip,
        })
    }

    /// Runs a write and answers once it is durable.
    async fn run(&self, call: &Call, write: Result<Write, Status>) -> Rpc<pb::ChequeReply> {
        let write = write?;
        let out = self.engine.execute(write.request).await.map_err(status)?;
        self.seal(call, self.answer(out, write.slip))
    }

    /// The answer to a write the engine executed.
    pub(super) fn answer(&self, out: Executed, slip: usize) -> pb::ChequeReply {
        self.metrics.outcome(out.reply.code);
        tracing::debug!(code = ?out.reply.code, replayed = out.replayed, "answered");
        with_slip(cv::reply(out.reply, out.replayed), slip)
    }

    pub(super) fn pay_with_bonus_op(
        &self,
        cashbox: CashboxId,
        msg: pb::PayWithBonusRequest,
    ) -> Result<Write, Status> {
        let cheque = cv::cheque(msg.cheque, CHEQUE_LINES_MAX).map_err(invalid)?;
        if cheque.order.is_some() {
            return Err(Status::invalid_argument(
                "cheque.order: an order is paid with the points reserved for it; register the cheque",
            ));
        }
        let command = Command::PayWithBonus {
            cheque,
            points: cv::points("points", &msg.points).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, msg.slip_width)
    }

    pub(super) fn register_purchase_op(
        &self,
        cashbox: CashboxId,
        msg: pb::RegisterPurchaseRequest,
    ) -> Result<Write, Status> {
        let command = Command::RegisterPurchase {
            cheque: cv::cheque(msg.cheque, CHEQUE_LINES_MAX).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, msg.slip_width)
    }

    pub(super) fn confirm_op(
        &self,
        cashbox: CashboxId,
        msg: pb::PurchaseRequest,
    ) -> Result<Write, Status> {
        let command = Command::Confirm {
            cheque: cv::cheque_id("cheque_id", &msg.cheque_id).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, msg.slip_width)
    }

    pub(super) fn cancel_op(
        &self,
        cashbox: CashboxId,
        msg: pb::PurchaseRequest,
    ) -> Result<Write, Status> {
        let command = Command::Cancel {
            cheque: cv::cheque_id("cheque_id", &msg.cheque_id).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, msg.slip_width)
    }

    pub(super) fn refund_op(
        &self,
        cashbox: CashboxId,
        msg: pb::RefundRequest,
    ) -> Result<Write, Status> {
        let op = msg.operation_id.clone();
        let command = cv::refund(msg, self.lines_max()).map_err(invalid)?;
        self.write(cashbox, &op, command, 0)
    }

    pub(super) fn issue_card_op(
        &self,
        cashbox: CashboxId,
        msg: pb::IssueCardAtTillRequest,
    ) -> Result<Write, Status> {
        let command = Command::IssueCard {
            number: cv::card("card", &msg.card).map_err(invalid)?,
            card_type: cv::profile_text("card_type", &msg.card_type, CARD_TYPE_BYTES_MAX)
                .map_err(invalid)?,
            status: CardStatus::Issued,
            account: None,
            holder_name: String::new(),
            holder_phone: String::new(),
        };
        self.write(cashbox, &msg.operation_id, command, 0)
    }

    pub(super) fn register_customer_op(
        &self,
        cashbox: CashboxId,
        msg: pb::RegisterCustomerRequest,
    ) -> Result<Write, Status> {
        let command = Command::RegisterCustomer {
            card: cv::card("card", &msg.card).map_err(invalid)?,
            name: cv::profile_text("name", &msg.name, NAME_BYTES_MAX).map_err(invalid)?,
            phone: cv::optional_phone("phone", &msg.phone).map_err(invalid)?,
            consent: msg.consent,
            birth_date: cv::birth_date(
                "birth_date",
                &msg.birth_date,
                chrono::Utc::now().date_naive(),
            )
            .map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, 0)
    }

    pub(super) fn replace_card_op(
        &self,
        cashbox: CashboxId,
        msg: pb::ReplaceCardRequest,
    ) -> Result<Write, Status> {
        let command = Command::ReplaceCard {
            old: cv::card("old_card", &msg.old_card).map_err(invalid)?,
            new: cv::card("new_card", &msg.new_card).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, 0)
    }

    pub(super) fn choose_favourites_op(
        &self,
        cashbox: CashboxId,
        msg: pb::ChooseFavouritesRequest,
    ) -> Result<Write, Status> {
        let command = Command::ChooseFavourites {
            card: cv::card("card", &msg.card).map_err(invalid)?,
            products: cv::favourites(msg.products).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, 0)
    }

    pub(super) fn set_card_pin_op(
        &self,
        cashbox: CashboxId,
        msg: pb::SetCardPinRequest,
    ) -> Result<Write, Status> {
        let command = Command::SetCardPin {
            card: cv::card("card", &msg.card).map_err(invalid)?,
            pin: cv::optional_pin("pin", &msg.pin).map_err(invalid)?,
            old_pin: cv::optional_pin("old_pin", &msg.old_pin).map_err(invalid)?,
        };
        self.write(cashbox, &msg.operation_id, command, 0)
    }

    pub(super) fn issue_certificate_op(
        &self,
        cashbox: CashboxId,
        msg: pb::IssueCertificateRequest,
    ) -> Result<Write, Status> {
        let command =
            cv::issue_certificate(&msg.code, &msg.amount, msg.valid_days).map_err(invalid)?;
        self.write(cashbox, &msg.operation_id, command, 0)
    }

    // Reads: answered from committed state at once.

    /// A certificate as it stands, asked by a till (`Some`) or an administrator.
    pub(super) fn certificate_now(
        &self,
        cashbox: Option<CashboxId>,
        msg: pb::CertificateStatusRequest,
    ) -> Result<pb::ChequeReply, Status> {
        let code = cv::certificate_code("code", &msg.code).map_err(invalid)?;
        let reply = self
            .engine
            .read(|v| decide::certificate_status(v, cashbox, &code))
            .map_err(status)?;
        Ok(cv::reply(reply, false))
    }

    pub(super) fn calculate_now(
        &self,
        cashbox: CashboxId,
        msg: pb::CalculateRequest,
    ) -> Result<pb::ChequeReply, Status> {
        let width = slip(msg.slip_width)?;
        let cheque = cv::cheque(msg.cheque, CHEQUE_LINES_MAX).map_err(invalid)?;
        let program = self.engine.program();
        let now = self.engine.now();
        let reply = self
            .engine
            .read(|v| decide::calculate(v, program, cashbox, &cheque, now))
            .map_err(status)?;
        Ok(with_slip(cv::reply(reply, false), width))
    }

    pub(super) fn available_now(
        &self,
        cashbox: CashboxId,
        msg: pb::CalculateRequest,
    ) -> Result<pb::AvailableAmountReply, Status> {
        let cheque = cv::cheque(msg.cheque, CHEQUE_LINES_MAX).map_err(invalid)?;
        let program = self.engine.program();
        let now = self.engine.now();
        let r = self
            .engine
            .read(|v| decide::calculate(v, program, cashbox, &cheque, now))
            .map_err(status)?;
        Ok(pb::AvailableAmountReply {
            outcome: cv::outcome(r.code).into(),
            available: r
                .totals
                .map(|t| t.redeem_max.to_string())
                .unwrap_or_default(),
            balance: r.balance.map(cv::balance),
            message: r.message,
        })
    }

    pub(super) fn fetch_order_now(
        &self,
        cashbox: CashboxId,
        msg: pb::FetchOrderRequest,
    ) -> Result<pb::ChequeReply, Status> {
        let number = cv::optional_order("order", &msg.order)
            .map_err(invalid)?
            .ok_or_else(|| Status::invalid_argument("order: empty"))?;
        let at = cv::local_time("local_time", &msg.local_time).map_err(invalid)?;
        let program = self.engine.program();
        let now = self.engine.now();
        let reply = self
            .engine
            .read(|v| decide::fetch_order(v, program, cashbox, &number, at, now))
            .map_err(status)?;
        Ok(cv::reply(reply, false))
    }

    pub(super) fn balance_now(
        &self,
        cashbox: CashboxId,
        msg: pb::BalanceRequest,
    ) -> Result<pb::ChequeReply, Status> {
        let card = cv::optional_card("card", &msg.card).map_err(invalid)?;
        let presented = cv::presented("identifiers", msg.identifiers).map_err(invalid)?;
        let as_of = cv::optional_time("as_of", &msg.as_of).map_err(invalid)?;
        let now = self.engine.now();
        let reply = self
            .engine
            .read(|v| decide::balance(v, cashbox, card.as_ref(), &presented, now, as_of))
            .map_err(status)?;
        Ok(cv::reply(reply, false))
    }

    pub(super) fn operation_now(
        &self,
        cashbox: CashboxId,
        msg: pb::GetOperationRequest,
    ) -> Result<pb::OperationReply, Status> {
        let op = cv::op_id(&msg.operation_id).map_err(invalid)?;
        let rec = self
            .engine
            .read(|v| decide::operation_status(v, Actor::Cashbox(cashbox), op))
            .map_err(status)?;
        Ok(match rec {
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
        })
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

#[tonic::async_trait]
impl pb::cash_service_server::CashService for CashApi {
    async fn calculate(&self, req: tonic::Request<pb::CalculateRequest>) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        let reply = self.calculate_now(call.cashbox, msg)?;
        self.seal(&call, reply)
    }

    async fn available_amount(
        &self,
        req: tonic::Request<pb::CalculateRequest>,
    ) -> Rpc<pb::AvailableAmountReply> {
        let (call, msg) = self.open(req)?;
        let reply = self.available_now(call.cashbox, msg)?;
        self.seal(&call, reply)
    }

    async fn pay_with_bonus(
        &self,
        req: tonic::Request<pb::PayWithBonusRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.pay_with_bonus_op(call.cashbox, msg))
            .await
    }

    async fn register_purchase(
        &self,
        req: tonic::Request<pb::RegisterPurchaseRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.register_purchase_op(call.cashbox, msg))
            .await
    }

    async fn confirm(&self, req: tonic::Request<pb::PurchaseRequest>) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.confirm_op(call.cashbox, msg)).await
    }

    async fn cancel(&self, req: tonic::Request<pb::PurchaseRequest>) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.cancel_op(call.cashbox, msg)).await
    }

    async fn refund(&self, req: tonic::Request<pb::RefundRequest>) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.refund_op(call.cashbox, msg)).await
    }

    async fn fetch_order(
        &self,
        req: tonic::Request<pb::FetchOrderRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        let reply = self.fetch_order_now(call.cashbox, msg)?;
        self.seal(&call, reply)
    }

    async fn balance(&self, req: tonic::Request<pb::BalanceRequest>) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        let reply = self.balance_now(call.cashbox, msg)?;
        self.seal(&call, reply)
    }

    async fn upload_offline(
        &self,
        req: tonic::Request<pb::OfflineBatch>,
    ) -> Rpc<pb::OfflineBatchReply> {
        let (call, msg) = self.open(req)?;
        let items = msg.items;
        if items.len() > crate::limits::OFFLINE_BATCH_ITEMS_MAX {
            return Err(Status::invalid_argument(format!(
                "items: {} in one call, at most {}; send the rest in further calls",
                items.len(),
                crate::limits::OFFLINE_BATCH_ITEMS_MAX
            )));
        }
        let requests = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                cv::offline_item(i, item, CHEQUE_LINES_MAX).map(|(op, command)| Request {
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
        let ops: Vec<_> = requests.iter().map(|r| r.op).collect();
        let outs = self.engine.execute_many(requests).await.map_err(status)?;
        let results = ops
            .into_iter()
            .zip(outs)
            .map(|(op, out)| pb::OfflineItemResult {
                operation_id: op.to_string(),
                reply: Some(cv::reply(out.reply, out.replayed)),
            })
            .collect();
        self.seal(&call, pb::OfflineBatchReply { results })
    }

    async fn issue_card(
        &self,
        req: tonic::Request<pb::IssueCardAtTillRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.issue_card_op(call.cashbox, msg)).await
    }

    async fn register_customer(
        &self,
        req: tonic::Request<pb::RegisterCustomerRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.register_customer_op(call.cashbox, msg))
            .await
    }

    async fn replace_card(
        &self,
        req: tonic::Request<pb::ReplaceCardRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.replace_card_op(call.cashbox, msg))
            .await
    }

    async fn choose_favourites(
        &self,
        req: tonic::Request<pb::ChooseFavouritesRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.choose_favourites_op(call.cashbox, msg))
            .await
    }

    async fn set_card_pin(
        &self,
        req: tonic::Request<pb::SetCardPinRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.set_card_pin_op(call.cashbox, msg))
            .await
    }

    async fn issue_certificate(
        &self,
        req: tonic::Request<pb::IssueCertificateRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        self.run(&call, self.issue_certificate_op(call.cashbox, msg))
            .await
    }

    async fn certificate_status(
        &self,
        req: tonic::Request<pb::CertificateStatusRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let (call, msg) = self.open(req)?;
        let reply = self.certificate_now(Some(call.cashbox), msg)?;
        self.seal(&call, reply)
    }

    async fn get_operation(
        &self,
        req: tonic::Request<pb::GetOperationRequest>,
    ) -> Rpc<pb::OperationReply> {
        let (call, msg) = self.open(req)?;
        let reply = self.operation_now(call.cashbox, msg)?;
        self.seal(&call, reply)
    }
}
