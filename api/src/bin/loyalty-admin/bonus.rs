//! Event bonuses: setting one, and listing them.

use crate::admin::{op, show, Admin};
use crate::args::Bonus;
use anyhow::Context;
use loyalty_proto::pb;

const DAY_SECS: u64 = 24 * 3600;

/// What `set-bonus` was given.
pub struct BonusArgs {
    pub kind: Bonus,
    pub points: Option<String>,
    pub pending_days: u64,
    pub lifetime_days: u64,
    /// Birthday: the window around the day.
    pub days_before: u32,
    pub days_after: u32,
    pub off: bool,
}

async fn rules(a: &mut Admin) -> anyhow::Result<Vec<pb::BonusRule>> {
    let r = a.req(pb::BonusRulesRequest {})?;
    Ok(a.client.bonus_rules(r).await?.into_inner().rules)
}

/// Sets a bonus; `--off` without `--points` switches the one set off as it is.
pub async fn set_bonus(a: &mut Admin, args: BonusArgs) -> anyhow::Result<()> {
    let kind = match args.kind {
        Bonus::Welcome => pb::BonusKind::Welcome,
        Bonus::FirstPurchase => pb::BonusKind::FirstPurchase,
        Bonus::Birthday => pb::BonusKind::Birthday,
    };
    let rule = match args.points {
        Some(points) => pb::BonusRule {
            kind: kind.into(),
            points,
            terms: Some(pb::PointsTerms {
                pending_secs: args.pending_days.saturating_mul(DAY_SECS),
                lifetime_secs: args.lifetime_days.saturating_mul(DAY_SECS),
            }),
            enabled: !args.off,
            days_before: args.days_before,
            days_after: args.days_after,
        },
        None if args.off => pb::BonusRule {
            enabled: false,
            ..rules(a)
                .await?
                .into_iter()
                .find(|r| r.kind == kind as i32)
                .context("no such bonus is set: nothing to switch off")?
        },
        None => anyhow::bail!("--points is required (or --off to switch the bonus off)"),
    };
    let r = a.req(pb::SetBonusRuleRequest {
        operation_id: op(),
        rule: Some(rule),
    })?;
    show(a.client.set_bonus_rule(r).await?.into_inner())
}

/// One line per bonus set.
pub async fn list_bonuses(a: &mut Admin) -> anyhow::Result<()> {
    for r in rules(a).await? {
        // As `set-bonus --kind` spells it.
        let kind = match pb::BonusKind::try_from(r.kind) {
            Ok(pb::BonusKind::Welcome) => "welcome",
            Ok(pb::BonusKind::FirstPurchase) => "first-purchase",
            Ok(pb::BonusKind::Birthday) => "birthday",
            _ => "unknown",
        };
        let t = r.terms.unwrap_or_default();
        let lifetime = match t.lifetime_secs {
            0 => "never expires".to_owned(),
            s => format!("lives {}", span(s)),
        };
        let window = match (r.days_before, r.days_after) {
            (0, 0) => String::new(),
            (before, after) => format!(", from {before} days before to {after} days after"),
        };
        println!(
            "{kind} points={} pending {}, {lifetime}{window}, {}",
            r.points,
            span(t.pending_secs),
            if r.enabled { "on" } else { "off" }
        );
    }
    Ok(())
}

/// Whole days as days, anything else in seconds.
fn span(secs: u64) -> String {
    if secs.is_multiple_of(DAY_SECS) {
        format!("{} days", secs / DAY_SECS)
    } else {
        format!("{secs} s")
    }
}
