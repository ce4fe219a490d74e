//! The administrator's commands: one function per subcommand, each building its request,
//! calling the admin service with the operator's token and printing the answer.

use crate::args::{Check, Effect, Kind, OfferArgs, Per, Status, Via};
use anyhow::{bail, Context};
use loyalty_proto::metadata::ADMIN_TOKEN_HEADER;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use std::path::PathBuf;
use tonic::transport::Channel;

pub struct Admin {
    pub client: AdminServiceClient<Channel>,
    pub cluster: loyalty_proto::pb::cluster_service_client::ClusterServiceClient<Channel>,
    pub token: String,
}

impl Admin {
    pub fn req<T>(&self, body: T) -> anyhow::Result<tonic::Request<T>> {
        let mut r = tonic::Request::new(body);
        r.metadata_mut()
            .insert(ADMIN_TOKEN_HEADER, self.token.parse()?);
        Ok(r)
    }
}

pub fn op() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn show(r: pb::AdminReply) -> anyhow::Result<()> {
    let outcome = pb::Outcome::try_from(r.outcome)
        .map(|o| o.as_str_name())
        .unwrap_or("UNKNOWN");
    println!("{outcome} events={} {}", r.events, r.message);
    if !r.cashbox_secret.is_empty() {
        println!("cashbox secret (shown once): {}", r.cashbox_secret);
    }
    if r.outcome != pb::Outcome::Ok as i32 {
        bail!("refused: {}", r.message);
    }
    Ok(())
}

pub async fn set_account_blocked(a: &mut Admin, card: String, blocked: bool) -> anyhow::Result<()> {
    let r = a.req(pb::SetAccountBlockedRequest {
        operation_id: op(),
        card,
        blocked,
    })?;
    show(a.client.set_account_blocked(r).await?.into_inner())
}

/// A cashbox to register, as the command line gives it.
pub struct NewTill {
    pub id: u32,
    pub store: u32,
    pub kind: Kind,
    pub public_key: String,
    pub loymax_login: String,
}

pub async fn register_cashbox(
    a: &mut Admin,
    till: NewTill,
    secret_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let NewTill {
        id,
        store,
        kind,
        public_key,
        loymax_login,
    } = till;
    let kind = match kind {
        Kind::Pos => pb::CashboxKind::Pos,
        Kind::Kiosk => pb::CashboxKind::SelfCheckout,
    };
    let r = a.req(pb::RegisterCashboxRequest {
        operation_id: op(),
        cashbox_id: id,
        store_id: store,
        kind: kind.into(),
        public_key,
        loymax_login,
    })?;
    let mut reply = a.client.register_cashbox(r).await?.into_inner();
    if let (Some(file), false) = (&secret_file, reply.cashbox_secret.is_empty()) {
        loyalty_api::signing::write_private_file(file, &reply.cashbox_secret)
            .with_context(|| file.display().to_string())?;
        println!("cashbox secret written to {}", file.display());
        reply.cashbox_secret.clear();
    }
    show(reply)
}

pub async fn set_cashbox_key(a: &mut Admin, id: u32, public_key: String) -> anyhow::Result<()> {
    let r = a.req(pb::SetCashboxKeyRequest {
        operation_id: op(),
        cashbox_id: id,
        public_key,
    })?;
    show(a.client.set_cashbox_key(r).await?.into_inner())
}

pub async fn adjust_points(
    a: &mut Admin,
    card: String,
    delta: String,
    reason: String,
) -> anyhow::Result<()> {
    let r = a.req(pb::AdjustPointsRequest {
        operation_id: op(),
        card,
        delta,
        reason,
    })?;
    let reply = a.client.adjust_points(r).await?.into_inner();
    if let Some(b) = &reply.balance {
        println!("balance {} held {}", b.balance, b.held);
    }
    show(reply)
}

pub async fn server_key(a: &mut Admin) -> anyhow::Result<()> {
    let r = a.req(pb::ServerKeyRequest {})?;
    let k = a.client.server_key(r).await?.into_inner();
    println!("{} {}", k.algorithm, k.public_key);
    Ok(())
}

pub async fn history(
    a: &mut Admin,
    card: String,
    account: u64,
    after_seq: u64,
    limit: u32,
) -> anyhow::Result<()> {
    let r = a.req(pb::HistoryRequest {
        card,
        account_id: account,
        after_seq,
        limit,
    })?;
    for e in a.client.history(r).await?.into_inner().entries {
        println!(
            "{:>10} {:<23} {:<20} {:<22} {:>12} {}",
            e.seq,
            utc(e.server_time_unix_ms),
            e.actor,
            e.event_type,
            e.balance_delta,
            e.detail
        );
    }
    Ok(())
}

pub async fn set_cashbox_enabled(a: &mut Admin, id: u32, enabled: bool) -> anyhow::Result<()> {
    let r = a.req(pb::SetCashboxEnabledRequest {
        operation_id: op(),
        cashbox_id: id,
        enabled,
    })?;
    show(a.client.set_cashbox_enabled(r).await?.into_inner())
}

pub async fn issue_card(
    a: &mut Admin,
    card: String,
    card_type: String,
    status: Status,
    account: u64,
    name: String,
    phone: String,
) -> anyhow::Result<()> {
    let status = card_status(status);
    let r = a.req(pb::IssueCardRequest {
        operation_id: op(),
        card,
        card_type,
        status: status.into(),
        account,
        holder_name: name,
        holder_phone: phone,
    })?;
    show(a.client.issue_card(r).await?.into_inner())
}

pub async fn activate_card(a: &mut Admin, card: String) -> anyhow::Result<()> {
    let r = a.req(pb::CardRequest {
        operation_id: op(),
        card,
    })?;
    show(a.client.activate_card(r).await?.into_inner())
}

pub async fn replace_card(a: &mut Admin, old: String, new: String) -> anyhow::Result<()> {
    let r = a.req(pb::ReplaceCardRequest {
        operation_id: op(),
        old_card: old,
        new_card: new,
    })?;
    show(a.client.replace_card(r).await?.into_inner())
}

pub async fn set_card_range(
    a: &mut Admin,
    prefix: String,
    length: u32,
    check: Check,
    card_type: String,
    remove: bool,
) -> anyhow::Result<()> {
    let check = match check {
        Check::None => pb::CheckDigit::None,
        Check::Luhn => pb::CheckDigit::Luhn,
        Check::Ean13 => pb::CheckDigit::Ean13,
    };
    let r = a.req(pb::SetCardRangeRequest {
        operation_id: op(),
        prefix,
        length,
        check: check.into(),
        card_type,
        remove,
    })?;
    show(a.client.set_card_range(r).await?.into_inner())
}

pub async fn set_identifier_policy(a: &mut Admin, redeem_via: Vec<Via>) -> anyhow::Result<()> {
    let redeem_via = redeem_via
        .into_iter()
        .map(|v| match v {
            Via::Barcode => pb::IdentifierKind::Barcode,
            Via::Magstripe => pb::IdentifierKind::Magstripe,
            Via::Phone => pb::IdentifierKind::Phone,
            Via::Qr => pb::IdentifierKind::Qr,
        })
        .map(i32::from)
        .collect();
    let r = a.req(pb::SetIdentifierPolicyRequest {
        operation_id: op(),
        redeem_via,
    })?;
    show(a.client.set_identifier_policy(r).await?.into_inner())
}

pub async fn issue_qr_secret(a: &mut Admin, card: String) -> anyhow::Result<()> {
    let r = a.req(pb::CardRequest {
        operation_id: op(),
        card,
    })?;
    let reply = a.client.issue_qr_secret(r).await?.into_inner();
    if !reply.qr_secret.is_empty() {
        println!("QR secret (shown once): {}", reply.qr_secret);
    }
    show(reply)
}

pub async fn block_account(a: &mut Admin, card: String) -> anyhow::Result<()> {
    set_account_blocked(a, card, true).await
}

pub async fn unblock_account(a: &mut Admin, card: String) -> anyhow::Result<()> {
    set_account_blocked(a, card, false).await
}

pub async fn block_card(a: &mut Admin, card: String) -> anyhow::Result<()> {
    let r = a.req(pb::CardRequest {
        operation_id: op(),
        card,
    })?;
    show(a.client.block_card(r).await?.into_inner())
}

pub async fn import_products(a: &mut Admin, file: PathBuf) -> anyhow::Result<()> {
    use loyalty_api::client::import::Catalogue;
    let text = std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
    let csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let catalogue = if csv {
        Catalogue::from_csv(&text)
    } else {
        Catalogue::from_jsonl(&text)
    };
    let total = catalogue.products.len();
    let progress = crate::progress(total);
    for chunk in catalogue.products.chunks(1000) {
        let r = a.req(pb::ImportProductsRequest {
            operation_id: op(),
            products: chunk.to_vec(),
        })?;
        show(a.client.import_products(r).await?.into_inner())?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    println!(
        "imported {total} products, refused {} rows",
        catalogue.rejected.len()
    );
    for (line, reason) in &catalogue.rejected {
        println!("  {}:{line}: {reason}", file.display());
    }
    if !catalogue.rejected.is_empty() {
        bail!("{} rows refused", catalogue.rejected.len());
    }
    Ok(())
}

fn card_status(s: Status) -> pb::CardStatus {
    match s {
        Status::Prepared => pb::CardStatus::Prepared,
        Status::Issued => pb::CardStatus::Issued,
        Status::Activated => pb::CardStatus::Activated,
    }
}

pub async fn upsert_offer(a: &mut Admin, o: Box<OfferArgs>) -> anyhow::Result<()> {
    let OfferArgs {
        id,
        name,
        effect,
        percent,
        fixed,
        per,
        groups,
        products,
        from,
        to,
        disabled,
        favourites,
        weekdays,
        hours,
        stores,
        card_types,
        card_statuses,
        min_total,
        min_quantity,
        coupon_series,
        priority,
        exclusive,
        issue_coupon_series,
        message,
        points_pending_secs,
        points_lifetime_secs,
        buy,
        get,
        bundle_price,
        gift_product,
        gift_quantity,
        budget_total,
        budget_per_customer_day,
        uses_per_customer,
        stamps_every,
    } = *o;
    let effect = match effect {
        Effect::Discount => pb::OfferEffect::Discount,
        Effect::Accrual => pb::OfferEffect::Accrual,
        Effect::IssueCoupon => pb::OfferEffect::IssueCoupon,
        Effect::MessageCashier => pb::OfferEffect::MessageCashier,
        Effect::MessageCheque => pb::OfferEffect::MessageCheque,
        Effect::Multibuy => pb::OfferEffect::Multibuy,
        Effect::Bundle => pb::OfferEffect::Bundle,
        Effect::Gift => pb::OfferEffect::Gift,
        Effect::Stamps => pb::OfferEffect::Stamps,
    };
    let (daily_from, daily_to) = match hours.as_deref().map(|h| h.split_once('-')) {
        None => (String::new(), String::new()),
        Some(Some((a, b))) => (a.to_owned(), b.to_owned()),
        Some(None) => bail!("--hours: HH:MM-HH:MM"),
    };
    let offer = pb::Offer {
        id,
        name,
        effect: effect.into(),
        percent,
        fixed,
        fixed_per: match per {
            None => pb::FixedPer::Unspecified,
            Some(Per::Line) => pb::FixedPer::Line,
            Some(Per::Target) => pb::FixedPer::Target,
        }
        .into(),
        group: String::new(),
        groups,
        products,
        valid_from: from,
        valid_to: to,
        enabled: !disabled,
        favourites,
        weekdays,
        daily_from,
        daily_to,
        stores,
        card_types,
        min_total,
        min_quantity,
        coupon_series,
        priority,
        exclusive,
        issue_coupon_series,
        message,
        card_statuses: card_statuses
            .into_iter()
            .map(|s| i32::from(card_status(s)))
            .collect(),
        points_terms: points_pending_secs.zip(points_lifetime_secs).map(
            |(pending_secs, lifetime_secs)| pb::PointsTerms {
                pending_secs,
                lifetime_secs,
            },
        ),
        buy,
        get,
        bundle_price,
        gift_product,
        gift_quantity,
        budget_total,
        budget_per_customer_day,
        uses_per_customer,
        stamps_every,
    };
    let r = a.req(pb::UpsertOfferRequest {
        operation_id: op(),
        offer: Some(offer),
    })?;
    show(a.client.upsert_offer(r).await?.into_inner())
}

pub async fn set_coupon_series(
    a: &mut Admin,
    id: u32,
    name: String,
    uses: u32,
    valid_days: u32,
) -> anyhow::Result<()> {
    let r = a.req(pb::SetCouponSeriesRequest {
        operation_id: op(),
        series: Some(pb::CouponSeries {
            id,
            name,
            uses,
            valid_days,
        }),
    })?;
    show(a.client.set_coupon_series(r).await?.into_inner())
}

pub async fn issue_coupons(
    a: &mut Admin,
    series: u32,
    codes: Vec<String>,
    count: u32,
    card: String,
    expires: String,
) -> anyhow::Result<()> {
    let r = a.req(pb::IssueCouponsRequest {
        operation_id: op(),
        series,
        codes,
        count,
        card,
        expires,
    })?;
    let reply = a.client.issue_coupons(r).await?.into_inner();
    for c in &reply.coupons {
        println!("{c}");
    }
    show(reply)
}

pub async fn create_order(
    a: &mut Admin,
    order: String,
    card: String,
    points: String,
    lines: Vec<String>,
) -> anyhow::Result<()> {
    let lines = lines
        .iter()
        .map(|l| match l.split(':').collect::<Vec<_>>()[..] {
            [p, q, price] => Ok((p, q, price, "")),
            [p, q, price, d] => Ok((p, q, price, d)),
            _ => Err(anyhow::anyhow!(
                "line {l:?}: product:quantity:price[:discount]"
            )),
        })
        .map(|r| {
            r.map(|(p, q, price, d)| pb::OrderLine {
                product: p.into(),
                quantity: q.into(),
                price: price.into(),
                discount: d.into(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let r = a.req(pb::CreateOrderRequest {
        operation_id: op(),
        order,
        card,
        lines,
        points,
    })?;
    show(a.client.create_order(r).await?.into_inner())
}

pub async fn cancel_order(a: &mut Admin, order: String) -> anyhow::Result<()> {
    let r = a.req(pb::CancelOrderRequest {
        operation_id: op(),
        order,
    })?;
    show(a.client.cancel_order(r).await?.into_inner())
}

pub async fn resolve_purchase(
    a: &mut Admin,
    cashbox: u32,
    cheque: String,
    confirm: bool,
    reason: String,
) -> anyhow::Result<()> {
    let resolution = if confirm {
        pb::Resolution::Confirm
    } else {
        pb::Resolution::Cancel
    };
    let r = a.req(pb::ResolvePurchaseRequest {
        operation_id: op(),
        cashbox_id: cashbox,
        cheque_id: cheque,
        resolution: resolution.into(),
        reason,
    })?;
    show(a.client.resolve_purchase(r).await?.into_inner())
}

pub async fn list_pending(
    a: &mut Admin,
    within_secs: u64,
    expired_within_secs: u64,
) -> anyhow::Result<()> {
    let r = a.req(pb::ListPendingRequest {
        within_secs,
        expired_within_secs,
        limit: 0,
    })?;
    let list = a.client.list_pending(r).await?.into_inner();
    println!(
        "{:>8} {:<24} {:<12} {:>10} {:>10} {:<23} {:<23} expired",
        "cashbox", "cheque", "status", "paid", "accrual", "created (UTC)", "expires (UTC)"
    );
    for p in list.purchases {
        let status = pb::PurchaseStatus::try_from(p.status)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        println!(
            "{:>8} {:<24} {:<12} {:>10} {:>10} {:<23} {:<23} {}",
            p.cashbox_id,
            p.cheque_id,
            status.trim_start_matches("PURCHASE_STATUS_"),
            p.paid,
            p.accrual,
            utc(p.created_at_unix_ms),
            utc(p.expires_at_unix_ms),
            if p.expired { "yes" } else { "no" }
        );
    }
    Ok(())
}

pub async fn find_purchase(a: &mut Admin, req: pb::FindPurchaseRequest) -> anyhow::Result<()> {
    let r = a.req(req)?;
    let found = a.client.find_purchase(r).await?.into_inner().purchases;
    if found.is_empty() {
        bail!("no such purchase");
    }
    println!(
        "{:<28} {:<10} {:<19} {:<14} {:>10} {:>9} {:>9} {:>9} {:>10} refunds",
        "purchase",
        "status",
        "local time",
        "card",
        "amount",
        "discount",
        "paid",
        "accrual",
        "refunded"
    );
    for p in found {
        let status = pb::PurchaseStatus::try_from(p.status)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        println!(
            "{:<28} {:<10} {:<19} {:<14} {:>10} {:>9} {:>9} {:>9} {:>10} {}",
            p.purchase_id,
            status.trim_start_matches("PURCHASE_STATUS_"),
            p.local_time,
            p.card,
            p.amount,
            p.discount,
            p.paid,
            p.accrual,
            p.refunded_money,
            p.refunds.join(",")
        );
    }
    Ok(())
}

/// A server time for people: `2026-12-06 12:00:00.000`, in UTC.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

pub async fn verify(a: &mut Admin, rewrite: bool) -> anyhow::Result<()> {
    let r = a.req(pb::VerifyRequest { rewrite })?;
    let v = a.client.verify(r).await?.into_inner();
    println!(
        "events={} equal={} rewritten={}\nstate sha256 {}\nlog sha256 {}",
        v.events, v.equal, v.rewritten, v.state_sha256, v.log_sha256
    );
    for d in &v.differences {
        println!("  differs: {d}");
    }
    if !v.equal && !v.rewritten {
        bail!("live state differs from the rebuild");
    }
    Ok(())
}

pub async fn backup(a: &mut Admin, to: String, keep: u32) -> anyhow::Result<()> {
    let r = a.req(pb::BackupRequest { to, keep })?;
    let b = a.client.backup(r).await?.into_inner();
    println!(
        "backup {} at sequence {}: {} files, {} bytes, {} ms\nstate sha256 {}\nlog sha256 {}",
        b.backup_id, b.seq, b.files, b.bytes, b.took_ms, b.state_sha256, b.log_sha256
    );
    Ok(())
}

fn show_cluster(s: &pb::ClusterStatusReply) {
    println!(
        "replica {}: {} in term {}, log {}, applied {}; leader {} at {}",
        s.node_id, s.role, s.term, s.last_log_index, s.applied_index, s.leader_id, s.leader_address
    );
    for r in &s.replicas {
        let kind = if r.voter { "voter" } else { "learner" };
        println!(
            "  replica {} at {} {kind}: matched {} lag {}",
            r.id, r.address, r.matched_index, r.lag
        );
    }
}

pub async fn cluster_status(a: &mut Admin) -> anyhow::Result<()> {
    let r = a.req(pb::ClusterStatusRequest {})?;
    show_cluster(&a.cluster.cluster_status(r).await?.into_inner());
    Ok(())
}

pub async fn add_replica(a: &mut Admin, id: u64, address: String) -> anyhow::Result<()> {
    let r = a.req(pb::AddReplicaRequest { id, address })?;
    show_cluster(&a.cluster.add_replica(r).await?.into_inner());
    Ok(())
}

pub async fn remove_replica(a: &mut Admin, id: u64) -> anyhow::Result<()> {
    let r = a.req(pb::RemoveReplicaRequest { id })?;
    show_cluster(&a.cluster.remove_replica(r).await?.into_inner());
    Ok(())
}

pub async fn status(a: &mut Admin) -> anyhow::Result<()> {
    let r = a.req(pb::StatusRequest {})?;
    let s = a.client.status(r).await?.into_inner();
    let avg = s.operations.checked_div(s.batches).unwrap_or(0);
    println!(
        "operations={} events={} batches={} avg_batch={avg} largest_batch={} replays={} queued={}",
        s.operations, s.events, s.batches, s.largest_batch, s.replays, s.queued
    );
    println!(
        "outbox: {} events not yet published (oldest {} ms), {} published, {} failed relay rounds",
        s.outbox_pending, s.outbox_age_ms, s.published, s.relay_failed_rounds
    );
    match s.backup_unix_ms {
        0 => println!("backup: none yet, {} failed", s.backup_failures),
        at => println!(
            "backup: newest at sequence {} taken {} UTC, {} failed since start",
            s.backup_seq,
            utc(at),
            s.backup_failures
        ),
    }
    Ok(())
}
