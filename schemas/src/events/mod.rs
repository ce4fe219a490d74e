//! Committed events → the analytics envelope (`schemas/loyalty/v1/events.proto`) and its
//! Kafka message key. Pure: reads the state only for facts that never change after they
//! are recorded (a purchase's cheque, a cashbox's store).

use crate::pb;
use loyalty_core::amount::{Money, Points};
use loyalty_core::command::Actor;
use loyalty_core::event::{Event, EventRecord, EVENT_SCHEMA_VERSION};
use loyalty_core::ids::{AccountId, CardNo, CashboxId, CertificateCode, PurchaseKey};
use loyalty_core::model::{Lot, LotSource, Purchase, Take, TierCause};
use loyalty_core::state::StateView;

fn amount(m: Money) -> String {
    m.to_string()
}

fn points(p: Points) -> String {
    p.to_string()
}

fn lot(l: &Lot) -> pb::Lot {
    pb::Lot {
        id: l.id,
        points: points(l.points),
        activates_at_unix_ms: l.activates_at.0,
        expires_at_unix_ms: l.expires_at.map_or(0, |t| t.0),
        pending: l.pending,
        source: lot_source(&l.source),
    }
}

/// How a lot's source is shown in histories and the event stream.
pub fn lot_source(s: &LotSource) -> String {
    match s {
        LotSource::Carried => "carried".into(),
        LotSource::Migrated => "migrated".into(),
        LotSource::Purchase => "purchase".into(),
        LotSource::Adjustment => "adjustment".into(),
        LotSource::Returned => "returned".into(),
        LotSource::Bonus => "bonus".into(),
    }
}

fn takes(t: &[Take]) -> Vec<pb::LotTake> {
    t.iter()
        .map(|t| pb::LotTake {
            lot: t.lot,
            points: points(t.points),
        })
        .collect()
}

/// How an actor is shown in histories and the event stream.
pub fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::Cashbox(c) => format!("cashbox:{}", c.0),
        Actor::Admin(name) => format!("admin:{name}"),
        Actor::System => "system".into(),
    }
}

/// The Kafka key: all events of one account (or one card-less cashbox) share a partition.
pub fn message_key(account: Option<AccountId>, cashbox: Option<CashboxId>) -> String {
    match (account, cashbox) {
        (Some(a), _) => format!("account-{}", a.0),
        (None, Some(c)) => format!("cashbox-{}", c.0),
        (None, None) => "program".to_owned(),
    }
}

fn fill_purchase(env: &mut pb::EventEnvelope, p: &Purchase) {
    env.cheque_id = p.key.cheque.to_string();
    env.purchase_id = p.key.to_string();
    env.cashbox_id = p.key.cashbox.0;
    env.cashbox_local_time = p.local_time.format("%Y-%m-%dT%H:%M:%S").to_string();
    env.card = p.card.as_ref().map(|c| c.masked()).unwrap_or_default();
    env.amount = amount(p.amount());
    env.discount = amount(p.discount());
    env.lines = p.lines.len() as u32;
    env.coupon = p
        .coupons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    env.order = p.order.as_ref().map(|o| o.to_string()).unwrap_or_default();
    env.budget = p
        .budget
        .iter()
        .map(|(o, x)| pb::BudgetShare {
            offer: o.0,
            amount: amount(Money(*x)),
        })
        .collect();
    env.cashier = p
        .cashier
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default();
    env.certificates = certificate_amounts(&loyalty_core::certificate::uses(&p.tenders));
}

fn certificate_amounts(parts: &[(CertificateCode, Money)]) -> Vec<pb::CertificateAmount> {
    parts
        .iter()
        .map(|(code, x)| pb::CertificateAmount {
            code: code.to_string(),
            amount: amount(*x),
        })
        .collect()
}

/// The envelope and key of one committed event.
pub fn envelope(rec: &EventRecord, view: &impl StateView) -> (String, pb::EventEnvelope) {
    let mut env = pb::EventEnvelope {
        event_id: rec.seq,
        event_type: rec.event.name().to_owned(),
        schema_version: u32::from(EVENT_SCHEMA_VERSION),
        server_time_unix_ms: rec.at.0,
        operation_id: rec.op.to_string(),
        account_id: rec.event.account().map_or(0, |a| a.0),
        actor: actor_label(&rec.actor),
        ..Default::default()
    };
    if let Actor::Cashbox(c) = rec.actor {
        env.cashbox_id = c.0;
    }
    let purchase = |key: &PurchaseKey| view.purchase(key);
    match &rec.event {
        Event::BonusHeld { purchase: p } => {
            fill_purchase(&mut env, p);
            env.points_held = points(p.paid);
            env.lots_taken = takes(&p.taken);
        }
        Event::PurchaseRegistered { purchase: p } => {
            fill_purchase(&mut env, p);
            env.points_held = points(p.paid);
        }
        Event::PurchaseImported { purchase: p, lots } => {
            fill_purchase(&mut env, p);
            env.points_accrued = points(p.accrual);
            env.lots_credited = lots.iter().map(lot).collect();
        }
        Event::PurchaseConfirmed {
            purchase: key,
            points_debited,
            points_credited,
            lots,
            taken,
            ..
        } => {
            if let Some(p) = purchase(key) {
                fill_purchase(&mut env, &p);
            }
            env.points_redeemed = points(*points_debited);
            env.points_accrued = points(*points_credited);
            env.lots_credited = lots.iter().map(lot).collect();
            env.lots_taken = takes(taken);
        }
        Event::PurchaseCancelled {
            purchase: key,
            points_released,
            ..
        }
        | Event::HoldExpired {
            purchase: key,
            points_released,
            ..
        } => {
            if let Some(p) = purchase(key) {
                fill_purchase(&mut env, &p);
                if points_released.0 > 0 {
                    env.lots_returned = takes(&p.taken);
                }
            }
            env.points_released = points(*points_released);
        }
        Event::RefundRecorded {
            purchase: key,
            refund,
            money_returned,
            points_returned,
            accrual_reversed,
            accrual_unrecovered,
            refunded_at,
            refunded_in,
            returned,
            returned_lots,
            reversed_from,
            certificates,
            ..
        } => {
            env.lots_returned = takes(returned);
            env.lots_credited = returned_lots.iter().map(lot).collect();
            env.lots_taken = takes(reversed_from);
            if let Some(p) = purchase(key) {
                fill_purchase(&mut env, &p);
                env.amount.clear();
                env.discount.clear();
            }
            env.refund_cheque_id = refund.to_string();
            env.money_returned = amount(*money_returned);
            env.certificates = certificate_amounts(certificates);
            env.money_to_pay_out = amount(loyalty_core::outcome::money_to_pay_out(
                *money_returned,
                *points_returned,
                loyalty_core::certificate::total(certificates),
            ));
            env.points_returned = points(*points_returned);
            env.accrual_reversed = points(*accrual_reversed);
            env.accrual_unrecovered = points(*accrual_unrecovered);
            env.refund_cashbox_id = refunded_at.map_or(0, |c| c.0);
            env.refund_store_id = refunded_in.map_or(0, |s| s.0);
        }
        Event::CashboxRegistered { cashbox } => env.cashbox_id = cashbox.id.0,
        Event::CashboxEnabledChanged { cashbox, .. } => env.cashbox_id = cashbox.0,
        Event::CardIssued { card } => env.card = card.number.masked(),
        Event::CardActivated { card, .. } | Event::CardBlocked { card, .. } => {
            env.card = card.masked()
        }
        Event::CashboxKeySet { cashbox, .. } => env.cashbox_id = cashbox.0,
        Event::CustomerRegistered { card, .. } => env.card = card.masked(),
        Event::CardReplaced { old, new, .. } => {
            env.card = new.masked();
            env.reason = format!("replaces {}", old.masked());
        }
        Event::AccountBlockedChanged { blocked, .. } => {
            env.reason = if *blocked { "blocked" } else { "unblocked" }.into()
        }
        Event::PointsAdjusted {
            card,
            delta,
            reason,
            lots,
            taken,
            ..
        } => {
            env.lots_credited = lots.iter().map(lot).collect();
            env.lots_taken = takes(taken);
            env.card = card.masked();
            env.points_adjusted = points(*delta);
            env.reason = reason.clone();
        }
        Event::PinFailed {
            card,
            failures,
            locked_until,
            ..
        } => {
            env.card = card.masked();
            env.reason = match locked_until {
                Some(until) => format!("PIN locked until {} (server time, ms)", until.0),
                None => format!("wrong PIN, {failures} in a row"),
            };
        }
        Event::PinAccepted { card, .. } => {
            env.card = card.masked();
            env.reason = "right PIN: failures cleared".into();
        }
        Event::CardPinSet { card, pin_hash, .. } => {
            env.card = card.masked();
            env.reason = if pin_hash.is_some() {
                "PIN set"
            } else {
                "PIN cleared"
            }
            .into();
        }
        Event::FavouritesChosen { products, .. } => {
            env.reason = format!("favourites: {}", products.len());
        }
        Event::CardQrSecretSet { card, .. } => {
            env.card = card.masked();
            env.reason = "QR secret issued".into();
        }
        Event::QrCodeUsed { card, purchase, .. } => {
            env.card = card.masked();
            env.cheque_id = purchase.cheque.to_string();
            env.cashbox_id = purchase.cashbox.0;
        }
        Event::CouponIssued { coupon } => {
            env.coupon = coupon.code.to_string();
            env.reason = format!("series {}", coupon.series.0);
            if let Some(key) = &coupon.issued_by {
                env.cheque_id = key.cheque.to_string();
                env.cashbox_id = key.cashbox.0;
            }
        }
        Event::OrderCreated { order } => {
            env.lots_taken = takes(&order.taken);
            env.order = order.number.to_string();
            env.card = order.card.masked();
            env.points_held = points(order.points);
            env.lines = order.lines.len() as u32;
        }
        Event::OrderCancelled {
            order,
            points_released,
            ..
        }
        | Event::OrderExpired {
            order,
            points_released,
            ..
        } => {
            if let (Some(o), true) = (view.order(order), points_released.0 > 0) {
                env.lots_returned = takes(&o.taken);
            }
            env.order = order.to_string();
            env.points_released = points(*points_released);
        }
        Event::PurchaseResolved {
            purchase: key,
            confirmed,
            reason,
            ..
        } => {
            if let Some(p) = purchase(key) {
                fill_purchase(&mut env, &p);
            }
            let how = if *confirmed { "confirmed" } else { "cancelled" };
            env.reason = format!("{how}: {reason}");
        }
        Event::DebtIncurred {
            purchase: key,
            points: owed,
            cause,
            ..
        } => {
            if let Some(p) = purchase(key) {
                fill_purchase(&mut env, &p);
                env.amount.clear();
                env.discount.clear();
            }
            env.debt_incurred = points(*owed);
            env.reason = cause.name().to_owned();
        }
        Event::DebtRecovered {
            points: p, taken, ..
        } => {
            env.debt_recovered = points(*p);
            env.lots_taken = takes(taken);
        }
        Event::PointsActivated { lot, points: p, .. } => {
            env.lot = *lot;
            env.points_activated = points(*p);
        }
        Event::PointsExpired { lot, points: p, .. } => {
            env.lot = *lot;
            env.points_expired = points(*p);
        }
        Event::LotDated {
            lot, expires_at, ..
        } => {
            env.lot = *lot;
            env.lot_expires_at_unix_ms = expires_at.map_or(0, |t| t.0);
        }
        Event::ReturnedWithoutReceipt { purchase: p } => {
            env.lots_taken = takes(&p.taken);
            fill_purchase(&mut env, p);
            env.discount.clear();
            env.refund_cheque_id = p.key.cheque.to_string();
            env.refund_cashbox_id = p.key.cashbox.0;
            env.money_returned = amount(p.refunded_money);
            env.money_to_pay_out = amount(p.refunded_money);
            env.accrual_reversed = points(p.accrual_reversed);
            env.accrual_unrecovered = points(p.accrual.minus(p.accrual_reversed));
        }
        Event::OrderPickedUp {
            order, purchase, ..
        } => {
            env.order = order.to_string();
            env.cheque_id = purchase.cheque.to_string();
            env.cashbox_id = purchase.cashbox.0;
        }
        Event::BonusGranted {
            card,
            kind,
            points: p,
            lot: l,
            ..
        } => {
            env.card = card.as_ref().map_or_else(String::new, CardNo::masked);
            env.bonus = kind.name().into();
            env.points_bonus = points(*p);
            env.lots_credited = vec![lot(l)];
        }
        Event::BonusRuleSet { rule } => env.bonus = rule.kind.name().into(),
        Event::CertificateIssued { certificate: c } => {
            env.certificates = certificate_amounts(&[(c.code.clone(), c.amount)]);
            env.certificate_expires_at_unix_ms = c.expires_at.0;
            env.cashbox_id = c.sold_at.map_or(0, |s| s.0);
        }
        Event::TierChanged {
            from, to, cause, ..
        } => {
            env.tier = to.clone().unwrap_or_default();
            let name = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".into());
            let cause = match cause {
                TierCause::Spend => "spend",
                TierCause::Review => "review",
                TierCause::Floor => "floor",
            };
            env.reason = format!("{} -> {} ({cause})", name(from), name(to));
        }
        Event::TierFloorSet { floor, .. } => {
            env.reason = match floor {
                Some(f) => format!("floor {f}"),
                None => "floor cleared".into(),
            }
        }
        // The account's schedule only (its key names the account; no dates of birth leave).
        Event::BirthdayScheduled { .. }
        | Event::TierKept { .. }
        | Event::TiersSet { .. }
        | Event::CouponSeriesSet { .. }
        | Event::CardRangeSet { .. }
        | Event::IdentifierPolicySet { .. }
        | Event::ProductUpserted { .. }
        | Event::OfferUpserted { .. }
        | Event::AccountOpened { .. } => {}
    }
    if env.cashbox_id != 0 {
        env.store_id = view
            .cashbox(CashboxId(env.cashbox_id))
            .map_or(0, |c| c.store.0);
    }
    if env.refund_cashbox_id != 0 && env.refund_store_id == 0 {
        env.refund_store_id = view
            .cashbox(CashboxId(env.refund_cashbox_id))
            .map_or(0, |c| c.store.0);
    }
    let cashbox = (env.cashbox_id != 0 && env.cheque_id.len() + env.card.len() > 0)
        .then_some(CashboxId(env.cashbox_id));
    let key = message_key(rec.event.account(), cashbox);
    (key, env)
}

#[cfg(test)]
mod tests;
