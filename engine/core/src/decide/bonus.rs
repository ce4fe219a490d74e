//! Event bonuses: points the programme gives for a customer's events — registering, and
//! the account's first purchase becoming final — each at most once per account, as a lot
//! of its own with the rule's pending period and lifetime. Like debts, they follow from
//! the events a decision made: one rule for every way those events happen (a till, an
//! administrator, a late confirm, an offline upload).

use super::{one, reject, Decided};
use crate::amount::AMOUNT_MINOR_MAX;
use crate::apply::apply;
use crate::event::Event;
use crate::ids::{AccountId, CardNo};
use crate::model::{AccountStatus, BonusKind, BonusRule, LotSource, UnixMillis};
use crate::outcome::Code;
use crate::state::StateStore;

/// The longest pending period or lifetime a bonus may have.
const TERMS_SECS_MAX: u64 = 100 * 366 * 24 * 3600;

pub(super) fn set_rule(rule: &BonusRule) -> Decided {
    if rule.points.0 <= 0 || rule.points.0 > AMOUNT_MINOR_MAX {
        return Err(reject(Code::AmountInvalid, "bonus points"));
    }
    if rule.lots.pending_secs > TERMS_SECS_MAX
        || rule
            .lots
            .lifetime_secs
            .is_some_and(|s| s == 0 || s > TERMS_SECS_MAX)
    {
        return Err(reject(
            Code::AmountInvalid,
            "bonus terms: pending and lifetime at most a hundred years, a lifetime above zero",
        ));
    }
    one(Event::BonusRuleSet { rule: *rule })
}

/// What an event earns: the account, the card it names, and the kind of bonus.
fn occasion(state: &impl StateStore, e: &Event) -> Option<(AccountId, Option<CardNo>, BonusKind)> {
    match e {
        Event::CustomerRegistered { account, card, .. } => {
            Some((*account, Some(card.clone()), BonusKind::Welcome))
        }
        Event::PurchaseConfirmed {
            purchase,
            account: Some(account),
            ..
        } => {
            let card = state.purchase(purchase).and_then(|p| p.card);
            Some((*account, card, BonusKind::FirstPurchase))
        }
        Event::PurchaseImported { purchase, .. } => purchase
            .account
            .map(|a| (a, purchase.card.clone(), BonusKind::FirstPurchase)),
        _ => None,
    }
}

/// After a decision's events are applied: the bonuses they earn, applied and appended. A
/// registration earns the welcome bonus; a purchase that became an account's first final
/// one earns the first-purchase bonus. Each needs its rule enabled now, an account that is
/// not blocked and has not had that bonus, and room under the largest amount.
pub(super) fn grant(state: &mut impl StateStore, events: &mut Vec<Event>, now: UnixMillis) {
    let occasions: Vec<_> = events.iter().filter_map(|e| occasion(state, e)).collect();
    for (account, card, kind) in occasions {
        let Some(rule) = state.bonus_rule(kind).filter(|r| r.enabled) else {
            continue;
        };
        let Some(a) = state.account(account) else {
            continue;
        };
        let first = kind != BonusKind::FirstPurchase || a.purchases == 1;
        let room = a.balance.0 + a.pending.0 + rule.points.0 <= AMOUNT_MINOR_MAX;
        if !first || !room || a.status == AccountStatus::Blocked || a.bonuses.contains(&kind) {
            continue;
        }
        let lot = rule
            .lots
            .credit(&a, LotSource::Bonus, rule.points, now, now);
        let e = Event::BonusGranted {
            account,
            card,
            kind,
            points: rule.points,
            lot,
        };
        apply(state, &e);
        events.push(e);
    }
}
