//! The operator's tools of the admin service: an account's history (secrets blanked) and
//! the purchases left pending or expired lately.

use super::admin::AdminApi;
use super::{invalid, status, Rpc};
use crate::convert as cv;
use crate::limits::{
    HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX, PENDING_LIST_DEFAULT, PENDING_LIST_MAX,
};
use crate::pb;
use loyalty_core::ids::AccountId;
use loyalty_core::model::UnixMillis;
use loyalty_core::state::StateView;
use loyalty_proto::events::actor_label;
use tonic::{Response, Status};

/// An event as shown in histories: secrets blanked.
fn redacted(mut event: loyalty_core::event::Event) -> loyalty_core::event::Event {
    if let loyalty_core::event::Event::CardQrSecretSet { secret, .. } = &mut event {
        *secret = [0; 32];
    }
    event
}

impl AdminApi {
    pub(super) fn history_call(
        &self,
        req: tonic::Request<pb::HistoryRequest>,
    ) -> Rpc<pb::HistoryReply> {
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
        let limit = if limit == 0 {
            HISTORY_PAGE_DEFAULT
        } else {
            limit.min(HISTORY_PAGE_MAX)
        } as usize;
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

    pub(super) fn list_pending_call(
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
        let limit = if limit == 0 {
            PENDING_LIST_DEFAULT
        } else {
            limit.min(PENDING_LIST_MAX)
        } as usize;
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
}
