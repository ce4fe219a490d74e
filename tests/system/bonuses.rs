//! Event bonuses through the real server: an administrator sets the welcome and the
//! first-purchase bonus (bad rules refused with the field named, nothing recorded), lists
//! them, and a customer registered at the till gets each once.

use crate::harness::*;
use chrono::Datelike;
use loyalty_api::server::ServerConfig;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use tonic::transport::Channel;

const SOLD: &str = "2770000000703";

fn rule(kind: pb::BonusKind, points: &str, lifetime_days: u64) -> pb::BonusRule {
    pb::BonusRule {
        kind: kind.into(),
        points: points.into(),
        terms: Some(pb::PointsTerms {
            pending_secs: 0,
            lifetime_secs: lifetime_days * 24 * 3600,
        }),
        enabled: true,
        ..Default::default()
    }
}

async fn set(
    admin: &mut AdminServiceClient<Channel>,
    rule: pb::BonusRule,
) -> Result<pb::AdminReply, tonic::Status> {
    admin
        .set_bonus_rule(admin_req(pb::SetBonusRuleRequest {
            operation_id: op(),
            rule: Some(rule),
        }))
        .await
        .map(|r| r.into_inner())
}

/// A registration the till sees accepted.
async fn register(till: &mut Till, r: pb::RegisterCustomerRequest) -> pb::ChequeReply {
    let reply = till
        .client
        .register_customer(till.req(r))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.outcome, pb::Outcome::Ok as i32, "{}", reply.message);
    reply
}

async fn rules(admin: &mut AdminServiceClient<Channel>) -> Vec<pb::BonusRule> {
    admin
        .bonus_rules(admin_req(pb::BonusRulesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .rules
}

#[tokio::test]
async fn a_registered_customer_gets_the_welcome_and_the_first_purchase_bonus_once() {
    let (_server, mut admin, mut till) = world_with(test_config()).await;
    // Bad rules are refused, naming the field, and record nothing.
    let refused = [
        (rule(pb::BonusKind::Welcome, "0", 90), "rule.points"),
        (rule(pb::BonusKind::Unspecified, "100", 90), "rule.kind"),
        (
            pb::BonusRule {
                terms: None,
                ..rule(pb::BonusKind::Welcome, "100", 90)
            },
            "rule.terms",
        ),
    ];
    for (bad, field) in refused {
        let e = set(&mut admin, bad).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    assert!(rules(&mut admin).await.is_empty());
    let welcome = rule(pb::BonusKind::Welcome, "100", 90);
    let first = rule(pb::BonusKind::FirstPurchase, "50", 0);
    for r in [welcome.clone(), first.clone()] {
        let reply = set(&mut admin, r).await.unwrap();
        assert_eq!(reply.outcome, pb::Outcome::Ok as i32, "{}", reply.message);
    }
    let listed = rules(&mut admin).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].points, "100.00");
    assert_eq!(listed[1].terms.unwrap().lifetime_secs, 0);

    // A card sold at the till, its customer registered: the welcome bonus.
    sell_card(&mut till, SOLD).await;
    let registration = pb::RegisterCustomerRequest {
        operation_id: op(),
        card: SOLD.into(),
        name: "Olga".into(),
        phone: String::new(),
        consent: true,
        birth_date: String::new(),
    };
    let registered = register(&mut till, registration.clone()).await;
    assert_eq!(registered.balance.unwrap().balance, "100.00");
    // The registration resent: its original answer, no second bonus.
    let again = till
        .client
        .register_customer(till.req(registration))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(
        balance_of(&mut till, SOLD).await.balance.unwrap().balance,
        "100.00"
    );

    // The first purchase: its accrual (5 % of 2000.00) and the bonus; the second: only its
    // accrual.
    buy(&mut till, SOLD, "B-1", vec![line("bread", "1", "2000")]).await;
    assert_eq!(
        balance_of(&mut till, SOLD).await.balance.unwrap().balance,
        "250.00"
    );
    buy(&mut till, SOLD, "B-2", vec![line("bread", "1", "2000")]).await;
    assert_eq!(
        balance_of(&mut till, SOLD).await.balance.unwrap().balance,
        "350.00"
    );

    // Switched off, the rule is listed as off.
    let off = pb::BonusRule {
        enabled: false,
        days_before: 0,
        days_after: 0,
        ..welcome
    };
    assert_eq!(
        set(&mut admin, off).await.unwrap().outcome,
        pb::Outcome::Ok as i32
    );
    assert!(!rules(&mut admin).await[0].enabled);
}

/// A customer whose birthday is today gets the birthday bonus from the server's own sweep
/// (the window opens at the first sweep after registration schedules this year's
/// birthday); a date of birth in the future or malformed is refused, recording nothing.
#[tokio::test]
async fn a_birthday_bonus_arrives_from_the_sweep() {
    let config = ServerConfig {
        expiry_sweep_secs: 1,
        ..test_config()
    };
    let (_server, mut admin, mut till) = world_with(config).await;
    let birthday = pb::BonusRule {
        days_before: 1,
        days_after: 1,
        ..rule(pb::BonusKind::Birthday, "200", 30)
    };
    assert_eq!(
        set(&mut admin, birthday).await.unwrap().outcome,
        pb::Outcome::Ok as i32
    );
    sell_card(&mut till, SOLD).await;
    let today = chrono::Utc::now().date_naive();
    let registration = |birth_date: String| pb::RegisterCustomerRequest {
        operation_id: op(),
        card: SOLD.into(),
        name: "Olga".into(),
        phone: String::new(),
        consent: true,
        birth_date,
    };
    let tomorrow_but_one = today + chrono::Days::new(2);
    for bad in [
        "1990-13-01".to_owned(),
        "1899-12-31".to_owned(),
        tomorrow_but_one.to_string(),
    ] {
        let e = till
            .client
            .register_customer(till.req(registration(bad.clone())))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
        assert!(e.message().contains("birth_date"), "{bad}: {}", e.message());
    }
    let born = today
        .with_year(1990)
        .unwrap_or(today - chrono::Days::new(365 * 30));
    register(&mut till, registration(born.to_string())).await;
    // Two sweeps a second apart: the first schedules, the second grants.
    let mut balance = String::new();
    for _ in 0..100 {
        balance = balance_of(&mut till, SOLD).await.balance.unwrap().balance;
        if balance != "0.00" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(balance, "200.00");
}
