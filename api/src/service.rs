//! gRPC handlers: authenticate, convert, call the engine, convert back. No business rules.

use crate::convert::{self as cv, WireError};
use crate::pb;
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::decide;
use loyalty_core::ids::*;
use loyalty_core::model::{Cashbox, UnixMillis};
use loyalty_core::state::StateView;
use loyalty_engine::{Engine, EngineError};
use sha2::{Digest, Sha256};
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
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub limiter: std::sync::Arc<crate::limits::RateLimiter>,
}

impl CashApi {
    /// The calling cashbox, authenticated by its secret. A cashbox acts only as itself.
    fn cashbox(&self, md: &MetadataMap) -> Result<CashboxId, Status> {
        let id: u32 = header(md, CASHBOX_ID_HEADER)?
            .parse()
            .map_err(|_| Status::unauthenticated("x-cashbox-id must be a number"))?;
        let secret = header(md, CASHBOX_SECRET_HEADER)?;
        let found: Option<Cashbox> = self
            .engine
            .read(|v| v.cashbox(CashboxId(id)))
            .map_err(status)?;
        let id = match found {
            Some(c) if same(&c.secret_sha256, &secret_hash(secret)) => c.id,
            _ => return Err(Status::unauthenticated("unknown cashbox or wrong secret")),
        };
        self.limiter
            .take(id.0, std::time::Instant::now())
            .map_err(|retry_after_ms| {
                status(EngineError::Busy {
                    what: "cashbox requests per second",
                    retry_after_ms,
                })
            })?;
        Ok(id)
    }

    fn lines_max(&self) -> usize {
        self.engine.program().lines_per_cheque_max
    }

    async fn run(
        &self,
        cashbox: CashboxId,
        op: &str,
        command: Command,
    ) -> Result<Response<pb::ChequeReply>, Status> {
        let op = cv::op_id(op).map_err(invalid)?;
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
        Ok(Response::new(cv::reply(out.reply, out.replayed)))
    }
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
        Command::ImportProducts { .. } => "ImportProducts",
        Command::UpsertOffer { .. } => "UpsertOffer",
        Command::IssueCard { .. } => "IssueCard",
        Command::ActivateCard { .. } => "ActivateCard",
        Command::BlockCard { .. } => "BlockCard",
        Command::ExpireHolds => "ExpireHolds",
    }
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::cash_service_server::CashService for CashApi {
    async fn calculate(&self, req: tonic::Request<pb::CalculateRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Calculate");
        let cashbox = self.cashbox(req.metadata())?;
        let cheque = cv::cheque(req.into_inner().cheque, self.lines_max()).map_err(invalid)?;
        let program = self.engine.program();
        let reply = self
            .engine
            .read(|v| decide::calculate(v, program, cashbox, &cheque))
            .map_err(status)?;
        Ok(Response::new(cv::reply(reply, false)))
    }

    async fn available_amount(
        &self,
        req: tonic::Request<pb::CalculateRequest>,
    ) -> Rpc<pb::AvailableAmountReply> {
        let _timer = self.metrics.timer("AvailableAmount");
        let cashbox = self.cashbox(req.metadata())?;
        let cheque = cv::cheque(req.into_inner().cheque, self.lines_max()).map_err(invalid)?;
        let program = self.engine.program();
        let r = self
            .engine
            .read(|v| decide::calculate(v, program, cashbox, &cheque))
            .map_err(status)?;
        Ok(Response::new(pb::AvailableAmountReply {
            outcome: cv::outcome(r.code).into(),
            available: r
                .totals
                .map(|t| t.redeem_max.to_string())
                .unwrap_or_default(),
            balance: r.balance.map(cv::balance),
            message: r.message,
        }))
    }

    async fn pay_with_bonus(
        &self,
        req: tonic::Request<pb::PayWithBonusRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("PayWithBonus");
        let cashbox = self.cashbox(req.metadata())?;
        let pb::PayWithBonusRequest {
            operation_id,
            cheque,
            points,
        } = req.into_inner();
        let command = Command::PayWithBonus {
            cheque: cv::cheque(cheque, self.lines_max()).map_err(invalid)?,
            points: cv::points("points", &points).map_err(invalid)?,
        };
        self.run(cashbox, &operation_id, command).await
    }

    async fn register_purchase(
        &self,
        req: tonic::Request<pb::RegisterPurchaseRequest>,
    ) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("RegisterPurchase");
        let cashbox = self.cashbox(req.metadata())?;
        let pb::RegisterPurchaseRequest {
            operation_id,
            cheque,
        } = req.into_inner();
        let command = Command::RegisterPurchase {
            cheque: cv::cheque(cheque, self.lines_max()).map_err(invalid)?,
        };
        self.run(cashbox, &operation_id, command).await
    }

    async fn confirm(&self, req: tonic::Request<pb::PurchaseRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Confirm");
        let cashbox = self.cashbox(req.metadata())?;
        let pb::PurchaseRequest {
            operation_id,
            cheque_id,
        } = req.into_inner();
        let command = Command::Confirm {
            cheque: cv::cheque_id("cheque_id", &cheque_id).map_err(invalid)?,
        };
        self.run(cashbox, &operation_id, command).await
    }

    async fn cancel(&self, req: tonic::Request<pb::PurchaseRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Cancel");
        let cashbox = self.cashbox(req.metadata())?;
        let pb::PurchaseRequest {
            operation_id,
            cheque_id,
        } = req.into_inner();
        let command = Command::Cancel {
            cheque: cv::cheque_id("cheque_id", &cheque_id).map_err(invalid)?,
        };
        self.run(cashbox, &operation_id, command).await
    }

    async fn refund(&self, req: tonic::Request<pb::RefundRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Refund");
        let cashbox = self.cashbox(req.metadata())?;
        let pb::RefundRequest {
            operation_id,
            refund_cheque_id,
            purchase_cheque_id,
            lines,
        } = req.into_inner();
        let command = Command::Refund {
            refund: cv::cheque_id("refund_cheque_id", &refund_cheque_id).map_err(invalid)?,
            purchase: cv::cheque_id("purchase_cheque_id", &purchase_cheque_id).map_err(invalid)?,
            lines: cv::refund_lines(lines, self.lines_max()).map_err(invalid)?,
        };
        self.run(cashbox, &operation_id, command).await
    }

    async fn balance(&self, req: tonic::Request<pb::BalanceRequest>) -> Rpc<pb::ChequeReply> {
        let _timer = self.metrics.timer("Balance");
        let cashbox = self.cashbox(req.metadata())?;
        let card = cv::card("card", &req.into_inner().card).map_err(invalid)?;
        let reply = self
            .engine
            .read(|v| decide::balance(v, cashbox, &card))
            .map_err(status)?;
        Ok(Response::new(cv::reply(reply, false)))
    }

    async fn upload_offline(
        &self,
        req: tonic::Request<pb::OfflineBatch>,
    ) -> Rpc<pb::OfflineBatchReply> {
        let _timer = self.metrics.timer("UploadOffline");
        let cashbox = self.cashbox(req.metadata())?;
        let items = req.into_inner().items;
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
                    actor: Actor::Cashbox(cashbox),
                    command,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        tracing::debug!(
            cashbox = cashbox.0,
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
        Ok(Response::new(pb::OfflineBatchReply { results }))
    }

    async fn get_operation(
        &self,
        req: tonic::Request<pb::GetOperationRequest>,
    ) -> Rpc<pb::OperationReply> {
        let _timer = self.metrics.timer("GetOperation");
        let cashbox = self.cashbox(req.metadata())?;
        let op = cv::op_id(&req.into_inner().operation_id).map_err(invalid)?;
        let rec = self
            .engine
            .read(|v| decide::operation_status(v, Actor::Cashbox(cashbox), op))
            .map_err(status)?;
        Ok(Response::new(match rec {
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
        }))
    }
}

#[derive(Clone)]
pub struct AdminApi {
    pub engine: Engine,
    /// SHA-256 of the admin token.
    pub token_sha256: [u8; 32],
    pub relay: std::sync::Arc<crate::relay::RelayStats>,
}

impl AdminApi {
    fn authorize(&self, md: &MetadataMap) -> Result<(), Status> {
        let token = header(md, ADMIN_TOKEN_HEADER)?;
        if same(&secret_hash(token), &self.token_sha256) {
            Ok(())
        } else {
            Err(Status::unauthenticated("wrong admin token"))
        }
    }

    async fn run(&self, op: &str, command: Command) -> Result<pb::AdminReply, Status> {
        let op = cv::op_id(op).map_err(invalid)?;
        tracing::info!(%op, command = command_name(&command), "admin request");
        let out = self
            .engine
            .execute(Request {
                op,
                actor: Actor::Admin,
                command,
            })
            .await
            .map_err(status)?;
        Ok(pb::AdminReply {
            outcome: cv::outcome(out.reply.code).into(),
            message: out.reply.message,
            events: out.events.len() as u32,
            replayed: out.replayed,
            cashbox_secret: String::new(),
        })
    }
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    async fn register_cashbox(
        &self,
        req: tonic::Request<pb::RegisterCashboxRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
        let pb::RegisterCashboxRequest {
            operation_id,
            cashbox_id,
            store_id,
            kind,
        } = req.into_inner();
        // The secret is derived from the operation id and a server-side random part that is
        // never stored; a replay of the same operation cannot show it again.
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let command = Command::RegisterCashbox {
            id: CashboxId(cashbox_id),
            store: StoreId(store_id),
            kind: cv::cashbox_kind(kind).map_err(invalid)?,
            secret_sha256: secret_hash(&secret),
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
                cashbox_secret: String::new(),
            }));
        }
        let mut reply = self.run(&operation_id, command).await?;
        if reply.outcome == pb::Outcome::Ok as i32 && !reply.replayed {
            reply.cashbox_secret = secret;
        }
        Ok(Response::new(reply))
    }

    async fn set_cashbox_enabled(
        &self,
        req: tonic::Request<pb::SetCashboxEnabledRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
        let pb::SetCashboxEnabledRequest {
            operation_id,
            cashbox_id,
            enabled,
        } = req.into_inner();
        Ok(Response::new(
            self.run(
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
        self.authorize(req.metadata())?;
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
            self.run(&operation_id, Command::ImportProducts { products })
                .await?,
        ))
    }

    async fn upsert_offer(
        &self,
        req: tonic::Request<pb::UpsertOfferRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
        let pb::UpsertOfferRequest {
            operation_id,
            offer,
        } = req.into_inner();
        let offer = cv::offer(offer).map_err(invalid)?;
        Ok(Response::new(
            self.run(&operation_id, Command::UpsertOffer { offer })
                .await?,
        ))
    }

    async fn issue_card(&self, req: tonic::Request<pb::IssueCardRequest>) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
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
        Ok(Response::new(self.run(&operation_id, command).await?))
    }

    async fn activate_card(&self, req: tonic::Request<pb::CardRequest>) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
        let pb::CardRequest { operation_id, card } = req.into_inner();
        let number = cv::card("card", &card).map_err(invalid)?;
        Ok(Response::new(
            self.run(&operation_id, Command::ActivateCard { number })
                .await?,
        ))
    }

    async fn block_card(&self, req: tonic::Request<pb::CardRequest>) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
        let pb::CardRequest { operation_id, card } = req.into_inner();
        let number = cv::card("card", &card).map_err(invalid)?;
        Ok(Response::new(
            self.run(&operation_id, Command::BlockCard { number })
                .await?,
        ))
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
            commit_micros_total: s.commit_micros_total.load(Relaxed),
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
