//! The admin service: cashboxes, catalogue, offers, coupons, cards and accounts, orders,
//! and the operator's tools (verify, backup, status; histories and pending purchases are
//! in `operator`, the programme's mechanics in `programme`).

use super::auth::secret_hash;
use super::{invalid, status, Rpc};
use crate::convert as cv;
use crate::limits::{
    BACKUPS_KEPT_MAX, CARD_TYPE_BYTES_MAX, ISSUE_COUPONS_MAX, NAME_BYTES_MAX, PATH_BYTES_MAX,
    PHONE_BYTES_MAX, REASON_BYTES_MAX,
};
use crate::pb;
use crate::signing::{self, ServerKey};
use loyalty_core::checkout::generated_codes;
use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::ids::*;
use loyalty_core::state::StateView;
use loyalty_engine::Engine;
use std::sync::Arc;
use tonic::{Response, Status};

#[derive(Clone)]
pub struct AdminApi {
    pub engine: Engine,
    /// Named admin credentials (token hashes).
    pub operators: Arc<Vec<super::Operator>>,
    pub relay: Arc<crate::relay::RelayStats>,
    pub server_key: Arc<ServerKey>,
    pub backups: Arc<crate::backup::Backups>,
    /// Backups kept in a directory when the request does not say.
    pub backup_keep: usize,
}

impl AdminApi {
    pub(super) async fn run(
        &self,
        operator: OperatorName,
        op: &str,
        command: Command,
    ) -> Result<pb::AdminReply, Status> {
        let op = cv::op_id(op).map_err(invalid)?;
        tracing::info!(%op, %operator, command = command.name(), "admin request");
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
            certificate: out.reply.certificate.map(cv::certificate),
            ..Default::default()
        })
    }
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
            loymax_login,
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
            login: cv::optional_login("loymax_login", &loymax_login).map_err(invalid)?,
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
        if products.len() > crate::limits::IMPORT_PRODUCTS_MAX {
            return Err(Status::invalid_argument(format!(
                "products: at most {} per request",
                crate::limits::IMPORT_PRODUCTS_MAX
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
        if card_type.len() > CARD_TYPE_BYTES_MAX
            || holder_name.len() > NAME_BYTES_MAX
            || holder_phone.len() > PHONE_BYTES_MAX
        {
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

    async fn set_card_pin(
        &self,
        req: tonic::Request<pb::SetCardPinRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetCardPinRequest {
            operation_id,
            card,
            pin,
            old_pin: _,
        } = req.into_inner();
        let command = Command::SetCardPin {
            card: cv::card("card", &card).map_err(invalid)?,
            pin: cv::optional_pin("pin", &pin).map_err(invalid)?,
            old_pin: None,
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
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
        if reason.is_empty() || reason.len() > REASON_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "reason: required, at most {REASON_BYTES_MAX} bytes"
            )));
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
            (true, n) if (1..=ISSUE_COUPONS_MAX).contains(&(n as usize)) => {
                generated_codes(op, count)
            }
            _ => {
                return Err(Status::invalid_argument(format!(
                    "codes: give the codes, or none and a count of 1 to {ISSUE_COUPONS_MAX}"
                )))
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

    async fn resolve_purchase(
        &self,
        req: tonic::Request<pb::ResolvePurchaseRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::ResolvePurchaseRequest {
            operation_id,
            cashbox_id,
            cheque_id,
            resolution,
            reason,
        } = req.into_inner();
        let confirm = match pb::Resolution::try_from(resolution) {
            Ok(pb::Resolution::Confirm) => true,
            Ok(pb::Resolution::Cancel) => false,
            _ => {
                return Err(Status::invalid_argument(
                    "resolution: RESOLUTION_CONFIRM or RESOLUTION_CANCEL",
                ))
            }
        };
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > REASON_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "reason: required, at most {REASON_BYTES_MAX} bytes"
            )));
        }
        let command = Command::ResolvePurchase {
            purchase: PurchaseKey {
                cashbox: CashboxId(cashbox_id),
                cheque: cv::cheque_id("cheque_id", &cheque_id).map_err(invalid)?,
            },
            confirm,
            reason: reason.to_owned(),
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
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
        self.history_call(req)
    }

    async fn list_pending(
        &self,
        req: tonic::Request<pb::ListPendingRequest>,
    ) -> Rpc<pb::ListPendingReply> {
        self.list_pending_call(req)
    }

    async fn find_purchase(
        &self,
        req: tonic::Request<pb::FindPurchaseRequest>,
    ) -> Rpc<pb::FindPurchaseReply> {
        self.authorize(req.metadata())?;
        let purchases = super::find::find_purchases(&self.engine, req.into_inner())?;
        Ok(Response::new(pb::FindPurchaseReply { purchases }))
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

    async fn backup(&self, req: tonic::Request<pb::BackupRequest>) -> Rpc<pb::BackupReply> {
        let operator = self.authorize(req.metadata())?;
        let r = req.into_inner();
        if r.to.is_empty() || r.to.len() > PATH_BYTES_MAX || r.to.contains('\0') {
            return Err(Status::invalid_argument(format!(
                "to: a directory on the server's machine, 1 to {PATH_BYTES_MAX} bytes"
            )));
        }
        if r.keep > BACKUPS_KEPT_MAX {
            return Err(Status::invalid_argument(format!(
                "keep: at most {BACKUPS_KEPT_MAX}"
            )));
        }
        let keep = match r.keep {
            0 => self.backup_keep,
            n => n as usize,
        };
        tracing::info!(%operator, to = %r.to, keep, "backup requested");
        let (b, took) = self
            .backups
            .take(r.to.into(), keep)
            .await
            .map_err(|e| match e {
                crate::backup::TakeError::Running => Status::aborted(e.to_string()),
                crate::backup::TakeError::Failed(e) => Status::failed_precondition(e.to_string()),
            })?;
        Ok(Response::new(pb::BackupReply {
            backup_id: b.id,
            seq: b.digests.seq,
            state_sha256: hex::encode(b.digests.state_sha256),
            log_sha256: hex::encode(b.digests.log_sha256),
            bytes: b.bytes,
            files: b.files,
            took_ms: u32::try_from(took.as_millis()).unwrap_or(u32::MAX),
        }))
    }

    async fn status(&self, req: tonic::Request<pb::StatusRequest>) -> Rpc<pb::StatusReply> {
        self.authorize(req.metadata())?;
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.engine.stats();
        let newest = self.backups.newest();
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
            backup_unix_ms: newest.as_ref().map_or(0, |b| b.created_unix_ms),
            backup_seq: newest.map_or(0, |b| b.digests.seq),
            backup_failures: self.backups.failures.load(Relaxed),
        }))
    }

    async fn set_bonus_rule(
        &self,
        req: tonic::Request<pb::SetBonusRuleRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.set_bonus_rule_call(req).await
    }

    async fn bonus_rules(
        &self,
        req: tonic::Request<pb::BonusRulesRequest>,
    ) -> Rpc<pb::BonusRulesReply> {
        self.bonus_rules_call(req).await
    }

    async fn set_tiers(&self, req: tonic::Request<pb::SetTiersRequest>) -> Rpc<pb::AdminReply> {
        self.set_tiers_call(req).await
    }

    async fn set_tier_floor(
        &self,
        req: tonic::Request<pb::SetTierFloorRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.set_tier_floor_call(req).await
    }

    async fn tiers(&self, req: tonic::Request<pb::TiersRequest>) -> Rpc<pb::TiersReply> {
        self.tiers_call(req).await
    }

    async fn offer_budgets(
        &self,
        req: tonic::Request<pb::OfferBudgetsRequest>,
    ) -> Rpc<pb::OfferBudgetsReply> {
        self.offer_budgets_call(req).await
    }

    async fn issue_certificate(
        &self,
        req: tonic::Request<pb::IssueCertificateRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.issue_certificate_call(req).await
    }

    async fn certificate(
        &self,
        req: tonic::Request<pb::CertificateStatusRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.certificate_call(req).await
    }
}
