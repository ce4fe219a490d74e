//! Status levels: setting them, an account's floor, and listing them.

use crate::admin::{op, show, Admin};
use anyhow::Context;
use loyalty_proto::pb;

/// `name:spend` pairs, lowest first, e.g. `Silver:0 Gold:30000`.
pub async fn set_tiers(
    a: &mut Admin,
    levels: Vec<String>,
    months: u32,
    rolling: bool,
) -> anyhow::Result<()> {
    let levels = levels
        .iter()
        .map(|l| {
            let (name, spend) = l
                .rsplit_once(':')
                .with_context(|| format!("{l}: write a level as name:spend"))?;
            Ok(pb::TierLevel {
                name: name.to_owned(),
                spend: spend.to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let r = a.req(pb::SetTiersRequest {
        operation_id: op(),
        levels,
        months,
        rolling,
    })?;
    show(a.client.set_tiers(r).await?.into_inner())
}

/// The least level of a card's account; `None` clears it.
pub async fn set_tier_floor(
    a: &mut Admin,
    card: String,
    floor: Option<String>,
) -> anyhow::Result<()> {
    let r = a.req(pb::SetTierFloorRequest {
        operation_id: op(),
        card,
        floor: floor.unwrap_or_default(),
    })?;
    show(a.client.set_tier_floor(r).await?.into_inner())
}

/// The period, then a line per level.
pub async fn list_tiers(a: &mut Admin) -> anyhow::Result<()> {
    let r = a.req(pb::TiersRequest {})?;
    let t = a.client.tiers(r).await?.into_inner();
    if t.levels.is_empty() {
        println!("no status levels");
        return Ok(());
    }
    let kind = if t.rolling { "rolling" } else { "calendar" };
    println!("spend over a {kind} period of {} months", t.months);
    for l in t.levels {
        println!("{} from {}", l.name, l.spend);
    }
    Ok(())
}
