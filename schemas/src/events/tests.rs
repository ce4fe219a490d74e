//! The envelope of each kind of event, field by field.

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
