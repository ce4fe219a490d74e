//! Support's purchase lookup: by purchase id, by cashbox and cheque, or by card and a range
//! of the cheques' local time (through the account's history index).

use super::{invalid, status};
use crate::convert as cv;
use crate::limits::{FIND_EVENTS_SCANNED_MAX, FOUND_PURCHASES_DEFAULT, FOUND_PURCHASES_MAX};
use crate::pb;
use chrono::NaiveDateTime;
use loyalty_core::event::Event;
use loyalty_core::ids::*;
use loyalty_core::model::Purchase;
use loyalty_core::state::StateView;
use loyalty_engine::Engine;
use tonic::Status;

/// The purchases a request names, newest first when found by card.
pub(super) fn find_purchases(
    engine: &Engine,
    req: pb::FindPurchaseRequest,
) -> Result<Vec<pb::FoundPurchase>, Status> {
    let pb::FindPurchaseRequest {
        purchase_id,
        cashbox_id,
        cheque_id,
        card,
        from,
        to,
        limit,
    } = req;
    let by_key = |key: PurchaseKey| -> Result<Vec<pb::FoundPurchase>, Status> {
        let found = engine.read(|v| v.purchase(&key)).map_err(status)?;
        Ok(found.iter().map(found_purchase).collect())
    };
    let ranged = !(from.is_empty() && to.is_empty());
    match (
        purchase_id.is_empty(),
        cashbox_id,
        cheque_id.is_empty(),
        card.is_empty(),
    ) {
        (false, 0, true, true) if !ranged => {
            by_key(cv::purchase_id("purchase_id", &purchase_id).map_err(invalid)?)
        }
        (true, c, false, true) if c != 0 && !ranged => by_key(PurchaseKey {
            cashbox: CashboxId(c),
            cheque: cv::cheque_id("cheque_id", &cheque_id).map_err(invalid)?,
        }),
        (true, 0, true, false) => {
            let number = cv::card("card", &card).map_err(invalid)?;
            let bound = |field: &str, s: &str| -> Result<Option<NaiveDateTime>, Status> {
                if s.is_empty() {
                    return Ok(None);
                }
                cv::local_time(field, s).map(Some).map_err(invalid)
            };
            let (from, to) = (bound("from", &from)?, bound("to", &to)?);
            let limit = match limit {
                0 => FOUND_PURCHASES_DEFAULT,
                n => n.min(FOUND_PURCHASES_MAX),
            } as usize;
            by_card(engine, &number, from, to, limit)
        }
        _ => Err(Status::invalid_argument(
            "give purchase_id, or cashbox_id with cheque_id, or card (with from and to)",
        )),
    }
}

/// The account's purchases whose cheque time is in [from, to), newest first: the keys of
/// the purchases its history records, read back in pages.
fn by_card(
    engine: &Engine,
    number: &CardNo,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    limit: usize,
) -> Result<Vec<pb::FoundPurchase>, Status> {
    let account = engine
        .read(|v| v.card(number))
        .map_err(status)?
        .ok_or_else(|| Status::not_found(format!("card {}", number.masked())))?
        .account;
    let mut keys: Vec<PurchaseKey> = Vec::new();
    let (mut after, mut scanned) = (0u64, 0usize);
    while scanned < FIND_EVENTS_SCANNED_MAX {
        let page = engine
            .history(Some(account), after, 10_000)
            .map_err(status)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        scanned += page.len();
        keys.extend(page.into_iter().filter_map(|r| match r.event {
            Event::BonusHeld { purchase }
            | Event::PurchaseRegistered { purchase }
            | Event::PurchaseImported { purchase, .. }
            | Event::ReturnedWithoutReceipt { purchase } => Some(purchase.key),
            _ => None,
        }));
    }
    let mut seen = std::collections::HashSet::new();
    keys.reverse();
    keys.retain(|k| seen.insert(k.clone()));
    let in_range = |p: &Purchase| {
        from.is_none_or(|f| p.local_time >= f) && to.is_none_or(|t| p.local_time < t)
    };
    engine
        .read(|v| {
            keys.iter()
                .filter_map(|k| v.purchase(k))
                .filter(|p| in_range(p))
                .take(limit)
                .map(|p| found_purchase(&p))
                .collect()
        })
        .map_err(status)
}

fn found_purchase(p: &Purchase) -> pb::FoundPurchase {
    pb::FoundPurchase {
        purchase_id: p.key.to_string(),
        status: cv::purchase_status(p.status).into(),
        card: p.card.as_ref().map(CardNo::masked).unwrap_or_default(),
        account_id: p.account.map_or(0, |a| a.0),
        local_time: p.local_time.format("%Y-%m-%dT%H:%M:%S").to_string(),
        amount: p.amount().to_string(),
        discount: p.discount().to_string(),
        paid: p.paid.to_string(),
        accrual: p.accrual.to_string(),
        lines: p.lines.len() as u32,
        refunded_money: p.refunded_money.to_string(),
        points_returned: p.points_returned.to_string(),
        accrual_reversed: p.accrual_reversed.to_string(),
        refunds: p
            .refunds
            .iter()
            .map(|r| format!("{}/{r}", p.key.cashbox.0))
            .chain(p.refund_keys.iter().map(ToString::to_string))
            .collect(),
        created_at_unix_ms: p.created_at.0,
        expires_at_unix_ms: p.expires_at.0,
    }
}
