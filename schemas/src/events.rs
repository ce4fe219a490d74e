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
mod tests {
    use super::*;
    use loyalty_core::event::DebtCause;
    use loyalty_core::ids::*;
    use loyalty_core::model::*;
    use loyalty_core::state::{MemState, StateStore};

    const TILL: CashboxId = CashboxId(1);
    const DESK: CashboxId = CashboxId(21);

    fn state() -> MemState {
        let mut s = MemState::default();
        for (id, store) in [(TILL, 1), (DESK, 2)] {
            s.put_cashbox(Cashbox {
                id,
                store: StoreId(store),
                kind: CashboxKind::Pos,
                enabled: true,
                secret_sha256: [0; 32],
                public_key: None,
                login: None,
            });
        }
        s.put_purchase(&purchase(TILL, "c1", PurchaseStatus::Confirmed), None);
        s
    }

    fn purchase(cashbox: CashboxId, cheque: &str, status: PurchaseStatus) -> Purchase {
        Purchase {
            key: PurchaseKey {
                cashbox,
                cheque: ChequeId::new(cheque).unwrap(),
            },
            cashier: None,
            tenders: Vec::new(),
            account: Some(AccountId(1)),
            card: Some(CardNo::new("2770000000017").unwrap()),
            status,
            local_time: chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap(),
            lines: Vec::new(),
            paid: Points::ZERO,
            accrual: Points(5000),
            expires_at: UnixMillis(0),
            created_at: UnixMillis(0),
            coupons: Vec::new(),
            issued: Vec::new(),
            order: None,
            refunds: Vec::new(),
            refunded_money: Money::ZERO,
            points_returned: Points::ZERO,
            accrual_reversed: Points::ZERO,
            refund_keys: Vec::new(),
            registered: true,
            messages: Vec::new(),
            taken: Vec::new(),
            lots: Vec::new(),
            budget: Vec::new(),
            stamps: Vec::new(),
        }
    }

    fn env(event: Event, actor: Actor) -> (String, pb::EventEnvelope) {
        let rec = EventRecord {
            version: EVENT_SCHEMA_VERSION,
            seq: 7,
            op: OpId(1),
            actor,
            at: UnixMillis(1_800_000_000_000),
            event,
        };
        envelope(&rec, &state())
    }

    #[test]
    fn an_event_bonus_names_its_kind_points_and_lot() {
        let lot = Lot {
            id: 3,
            source: LotSource::Bonus,
            points: Points(10000),
            left: Points(10000),
            activates_at: UnixMillis(1_800_000_000_000),
            expires_at: None,
            pending: false,
        };
        let (key, e) = env(
            Event::BonusGranted {
                account: AccountId(1),
                card: Some(CardNo::new("2770000000017").unwrap()),
                kind: BonusKind::FirstPurchase,
                points: Points(10000),
                lot,
            },
            Actor::Cashbox(TILL),
        );
        assert_eq!(key, "account-1");
        assert_eq!(
            (
                e.event_type.as_str(),
                e.bonus.as_str(),
                e.points_bonus.as_str()
            ),
            ("BonusGranted", "first_purchase", "100.00")
        );
        assert_eq!(e.card, CardNo::new("2770000000017").unwrap().masked());
        assert_eq!(e.lots_credited.len(), 1);
        assert_eq!(
            (e.lots_credited[0].id, e.lots_credited[0].source.as_str()),
            (3, "bonus")
        );
        // Nothing of a purchase or an adjustment.
        assert!(e.points_accrued.is_empty() && e.points_adjusted.is_empty());
        // A level's change names the level and why.
        let (_, e) = env(
            Event::TierChanged {
                account: AccountId(1),
                from: Some("Silver".into()),
                to: Some("Gold".into()),
                cause: TierCause::Spend,
                review: None,
            },
            Actor::Cashbox(TILL),
        );
        assert_eq!(
            (e.tier.as_str(), e.reason.as_str()),
            ("Gold", "Silver -> Gold (spend)")
        );
        // A birthday's schedule names the account and nothing else: no date leaves.
        let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 20).unwrap();
        let (key, e) = env(
            Event::BirthdayScheduled {
                account: AccountId(1),
                reached: Some(day),
                next: day,
                from: UnixMillis(0),
            },
            Actor::System,
        );
        assert_eq!(
            (key.as_str(), e.event_type.as_str(), e.account_id),
            ("account-1", "BirthdayScheduled", 1)
        );
        assert_eq!(
            pb::EventEnvelope {
                event_id: e.event_id,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                server_time_unix_ms: e.server_time_unix_ms,
                account_id: e.account_id,
                actor: e.actor.clone(),
                operation_id: e.operation_id.clone(),
                ..Default::default()
            },
            e
        );
    }

    /// The fields schema 5 added: lots credited, points maturing, burning and dated.
    #[test]
    fn lots_are_in_the_envelope() {
        let key = PurchaseKey {
            cashbox: TILL,
            cheque: ChequeId::new("c1").unwrap(),
        };
        let lot = Lot {
            id: 4,
            source: LotSource::Purchase,
            points: Points(5000),
            left: Points(5000),
            activates_at: UnixMillis(1_801_209_600_000),
            expires_at: None,
            pending: true,
        };
        let (_, e) = env(
            Event::PurchaseConfirmed {
                purchase: key,
                account: Some(AccountId(1)),
                points_debited: Points::ZERO,
                points_credited: Points(5000),
                lots: vec![lot],
                taken: Vec::new(),
            },
            Actor::Cashbox(TILL),
        );
        assert_eq!(
            e.lots_credited,
            [pb::Lot {
                id: 4,
                points: "50.00".into(),
                activates_at_unix_ms: 1_801_209_600_000,
                expires_at_unix_ms: 0,
                pending: true,
                source: "purchase".into(),
            }]
        );
        let system = Actor::System;
        let (k, e) = env(
            Event::PointsActivated {
                account: AccountId(1),
                lot: 4,
                points: Points(5000),
            },
            system,
        );
        assert_eq!(
            (k.as_str(), e.lot, e.points_activated.as_str()),
            ("account-1", 4, "50.00")
        );
        let (_, e) = env(
            Event::PointsExpired {
                account: AccountId(1),
                lot: 4,
                points: Points(1250),
            },
            Actor::System,
        );
        assert_eq!((e.lot, e.points_expired.as_str()), (4, "12.50"));
        let (_, e) = env(
            Event::LotDated {
                account: AccountId(1),
                lot: 0,
                expires_at: Some(UnixMillis(1_900_000_000_000)),
            },
            Actor::System,
        );
        assert_eq!((e.lot, e.lot_expires_at_unix_ms), (0, 1_900_000_000_000));
    }

    /// Schema 6: a certificate sold at a till names its code, amount, expiry and till.
    #[test]
    fn a_sold_certificate_is_in_the_envelope() {
        let certificate = loyalty_core::model::Certificate {
            code: loyalty_core::ids::CertificateCode::new("GC-7").unwrap(),
            amount: Money(5000),
            balance: Money(5000),
            held: Money::ZERO,
            issued_at: UnixMillis(1_800_000_000_000),
            expires_at: UnixMillis(1_831_536_000_000),
            sold_at: Some(TILL),
        };
        let (_, e) = env(
            Event::CertificateIssued { certificate },
            Actor::Cashbox(TILL),
        );
        assert_eq!(
            (
                e.event_type.as_str(),
                e.certificates[0].code.as_str(),
                e.certificates[0].amount.as_str(),
                e.certificate_expires_at_unix_ms,
                e.cashbox_id,
                e.store_id
            ),
            (
                "CertificateIssued",
                "GC-7",
                "50.00",
                1_831_536_000_000,
                1,
                1
            )
        );
    }

    /// The fields schema 4 added, each where its event puts it.
    #[test]
    fn debts_refunds_elsewhere_returns_and_pins_are_in_the_envelope() {
        let key = PurchaseKey {
            cashbox: TILL,
            cheque: ChequeId::new("c1").unwrap(),
        };
        let (k, e) = env(
            Event::DebtIncurred {
                account: AccountId(1),
                purchase: key.clone(),
                points: Points(700),
                cause: DebtCause::LateConfirmShortfall,
            },
            Actor::Cashbox(TILL),
        );
        assert_eq!(k, "account-1");
        assert_eq!(
            (
                e.debt_incurred.as_str(),
                e.purchase_id.as_str(),
                e.schema_version
            ),
            ("7.00", "1/c1", 6)
        );
        assert!(e.reason.starts_with("late confirm"));
        let (_, e) = env(
            Event::DebtRecovered {
                account: AccountId(1),
                points: Points(250),
                taken: vec![Take {
                    lot: 2,
                    points: Points(250),
                    expires_at: None,
                }],
            },
            Actor::Cashbox(TILL),
        );
        assert_eq!(e.debt_recovered, "2.50");
        assert_eq!(
            e.lots_taken,
            [pb::LotTake {
                lot: 2,
                points: "2.50".into()
            }]
        );
        let (_, e) = env(
            Event::RefundRecorded {
                purchase: key,
                refund: ChequeId::new("r1").unwrap(),
                account: Some(AccountId(1)),
                lines: Vec::new(),
                money_returned: Money(10000),
                points_returned: Points(1000),
                accrual_reversed: Points(500),
                accrual_unrecovered: Points::ZERO,
                refunded_at: Some(DESK),
                refunded_in: Some(StoreId(2)),
                returned: Vec::new(),
                returned_lots: Vec::new(),
                reversed_from: Vec::new(),
                certificates: vec![(
                    loyalty_core::ids::CertificateCode::new("GC-1").unwrap(),
                    Money(2000),
                )],
            },
            Actor::Cashbox(DESK),
        );
        assert_eq!(
            (
                e.cashbox_id,
                e.store_id,
                e.refund_cashbox_id,
                e.refund_store_id
            ),
            (1, 1, 21, 2)
        );
        // Of 100.00 returned, 10.00 come back as points and 20.00 onto the certificate.
        assert_eq!(e.money_to_pay_out, "70.00");
        assert_eq!(
            (
                e.certificates[0].code.as_str(),
                e.certificates[0].amount.as_str()
            ),
            ("GC-1", "20.00")
        );
        let mut returned = purchase(DESK, "rx", PurchaseStatus::ReturnedWithoutReceipt);
        returned.refunded_money = Money(100_000);
        returned.accrual_reversed = Points(1000);
        let (_, e) = env(
            Event::ReturnedWithoutReceipt { purchase: returned },
            Actor::Cashbox(DESK),
        );
        assert_eq!(
            (
                e.refund_cashbox_id,
                e.refund_store_id,
                e.purchase_id.as_str()
            ),
            (21, 2, "21/rx")
        );
        assert_eq!(
            (
                e.money_returned.as_str(),
                e.accrual_reversed.as_str(),
                e.accrual_unrecovered.as_str()
            ),
            ("1000.00", "10.00", "40.00")
        );
        let (_, e) = env(
            Event::PinFailed {
                card: CardNo::new("2770000000017").unwrap(),
                account: AccountId(1),
                failures: 0,
                locked_until: Some(UnixMillis(1_800_000_900_000)),
                locks: 1,
            },
            Actor::Cashbox(TILL),
        );
        assert_eq!(e.card, "*********0017");
        assert!(e.reason.starts_with("PIN locked"), "{}", e.reason);
    }
}
