//! Status levels through the real server: an administrator sets them (bad ones refused
//! with the field named), a purchase lifts the customer's level at once and answers name
//! it, a floor of a level the programme lacks is refused, and the levels read back.

use crate::harness::*;
use loyalty_proto::pb;

fn level(name: &str, spend: &str) -> pb::TierLevel {
    pb::TierLevel {
        name: name.into(),
        spend: spend.into(),
    }
}

#[tokio::test]
async fn a_purchase_lifts_the_level_at_once_and_answers_name_it() {
    let (_server, mut admin, mut till) = world_with(test_config()).await;
    let set = |levels: Vec<pb::TierLevel>, months: u32| pb::SetTiersRequest {
        operation_id: op(),
        levels,
        months,
        rolling: false,
    };
    // Malformed: refused before the engine, naming the field.
    for (bad, field) in [
        (set(vec![level("Silver", "0")], 0), "months"),
        (set(vec![level("", "0")], 12), "levels[0].name"),
        (set(vec![level("Silver", "abc")], 12), "levels[0].spend"),
    ] {
        let e = admin.set_tiers(admin_req(bad)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    // Well-formed but not rising: the engine's refusal, nothing recorded.
    let falling = set(vec![level("Gold", "100"), level("Silver", "0")], 12);
    let r = admin
        .set_tiers(admin_req(falling))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.outcome,
        pb::Outcome::AmountInvalid as i32,
        "{}",
        r.message
    );
    let listed = admin
        .tiers(admin_req(pb::TiersRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.levels.is_empty());

    let levels = vec![level("Silver", "0"), level("Gold", "1000")];
    let r = admin
        .set_tiers(admin_req(set(levels, 12)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
    // A cheque of 2000.00 this year: Gold at its confirmation.
    let confirmed = buy(&mut till, CARD, "T-1", vec![line("bread", "1", "2000")]).await;
    assert_eq!(confirmed.holder.unwrap().tier, "Gold");
    assert_eq!(
        balance_of(&mut till, CARD).await.holder.unwrap().tier,
        "Gold"
    );
    // A floor the programme does not have.
    let r = admin
        .set_tier_floor(admin_req(pb::SetTierFloorRequest {
            operation_id: op(),
            card: CARD.into(),
            floor: "Diamond".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, pb::Outcome::TierUnknown as i32, "{}", r.message);
    let listed = admin
        .tiers(admin_req(pb::TiersRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            listed.levels[1].name.as_str(),
            listed.levels[1].spend.as_str(),
            listed.months
        ),
        ("Gold", "1000.00", 12)
    );
}
