//! Event bonuses: points the programme gives for a customer's events — registering, the
//! account's first purchase becoming final (each at most once per account) and the
//! customer's birthday (once a year) — as a lot of its own with the rule's pending period
//! and lifetime. Like debts, they follow from the events a decision made: one rule for
//! every way those events happen (a till, an administrator, a late confirm, an offline
//! upload, the sweep reaching a birthday).

use super::{one, reject, Decided};
use crate::amount::AMOUNT_MINOR_MAX;
use crate::apply::apply;
use crate::event::Event;
use crate::ids::{AccountId, CardNo};
use crate::model::{Account, AccountStatus, BonusKind, BonusRule, CardStatus, LotSource};
use crate::model::{Program, UnixMillis};
use crate::outcome::Code;
use crate::state::{StateStore, StateView};
use chrono::{Datelike, Days, NaiveDate};

/// The longest pending period or lifetime a bonus may have.
const TERMS_SECS_MAX: u64 = 100 * 366 * 24 * 3600;
/// A birthday window reaches at most this many days before and after the day.
pub const BIRTHDAY_WINDOW_DAYS_MAX: u16 = 31;

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
    let window = rule.days_before > 0 || rule.days_after > 0;
    if window && rule.kind != BonusKind::Birthday {
        return Err(reject(
            Code::AmountInvalid,
            "only a birthday bonus has a window",
        ));
    }
    if rule.days_before.max(rule.days_after) > BIRTHDAY_WINDOW_DAYS_MAX {
        return Err(reject(
            Code::AmountInvalid,
            format!("a birthday window of at most {BIRTHDAY_WINDOW_DAYS_MAX} days each side"),
        ));
    }
    one(Event::BonusRuleSet { rule: *rule })
}

/// `birth`'s birthday in `year` (the 28th of February for the 29th in a common year).
pub fn birthday_in(birth: NaiveDate, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
        .unwrap_or(birth)
}

/// The stores' calendar day at server time `t`.
fn local_day(program: &Program, t: UnixMillis) -> NaiveDate {
    let local =
        t.0.saturating_add(program.utc_offset_secs.saturating_mul(1000));
    chrono::DateTime::from_timestamp_millis(local).map_or(NaiveDate::MIN, |d| d.date_naive())
}

/// The server time the stores' day `d` starts at.
fn day_start(program: &Program, d: NaiveDate) -> UnixMillis {
    let local = d
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis();
    UnixMillis(local.saturating_sub(program.utc_offset_secs.saturating_mul(1000)))
}

/// The sweep's step for an account whose birthday is due at `now`: the event that moves it
/// on. The window is the rule's, from `days_before` the day to `days_after` it (no rule or
/// one switched off: the day alone), in the stores' calendar:
/// - before the window (it shrank since the birthday was scheduled): look again at its start;
/// - in it: the birthday is `reached` (its bonus follows, when the rule is on), and the next
///   year's is scheduled;
/// - after it (the sweep did not run, or the date of birth came in late): the first
///   birthday whose window has not ended is scheduled, and nothing is given for this one.
pub(super) fn birthday(
    view: &impl StateView,
    a: &Account,
    program: &Program,
    now: UnixMillis,
) -> Option<Event> {
    let (Some(birth), Some(day), Some(from)) = (a.birth_date, a.birthday, a.birthday_from) else {
        return None;
    };
    if from > now {
        return None;
    }
    let rule = view.bonus_rule(BonusKind::Birthday).filter(|r| r.enabled);
    let (before, after) = rule.map_or((0, 0), |r| (r.days_before, r.days_after));
    let start = |d: NaiveDate| d.checked_sub_days(Days::new(before.into())).unwrap_or(d);
    let end = |d: NaiveDate| d.checked_add_days(Days::new(after.into())).unwrap_or(d);
    let today = local_day(program, now);
    let scheduled = |reached, next| Event::BirthdayScheduled {
        account: a.id,
        reached,
        next,
        from: day_start(program, start(next)),
    };
    if today < start(day) {
        return Some(scheduled(None, day));
    }
    let reached = (rule.is_some() && today <= end(day)).then_some(day);
    let mut next = birthday_in(birth, day.year().max(today.year() - 1) + 1);
    while end(next) < today {
        next = birthday_in(birth, next.year() + 1);
    }
    Some(scheduled(reached, next))
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
        Event::BirthdayScheduled {
            account,
            reached: Some(_),
            ..
        } => {
            // The card the customer would show: the account's activated one.
            let card = state.account_cards(*account).into_iter().find(|c| {
                state
                    .card(c)
                    .is_some_and(|c| c.status == CardStatus::Activated)
            });
            Some((*account, card, BonusKind::Birthday))
        }
        _ => None,
    }
}

/// After a decision's events are applied: the bonuses they earn, applied and appended. A
/// registration earns the welcome bonus; a purchase that became an account's first final
/// one earns the first-purchase bonus; a birthday the sweep reached earns the birthday
/// bonus. Each needs its rule enabled now, an account that is not blocked (and has not had
/// that bonus, for the once-only ones), and room under the largest amount.
pub(super) fn grant(state: &mut impl StateStore, events: &mut Vec<Event>, now: UnixMillis) {
    let earns = |e: &Event| match e {
        Event::CustomerRegistered { .. } => Some(BonusKind::Welcome),
        Event::PurchaseConfirmed { .. } | Event::PurchaseImported { .. } => {
            Some(BonusKind::FirstPurchase)
        }
        Event::BirthdayScheduled {
            reached: Some(_), ..
        } => Some(BonusKind::Birthday),
        _ => None,
    };
    // Most events earn nothing, and most programmes have few rules: look the rule up first.
    let on = |kind: BonusKind| state.bonus_rule(kind).is_some_and(|r| r.enabled);
    if !events.iter().filter_map(earns).any(on) {
        return;
    }
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
        let had = kind.once() && a.bonuses.contains(&kind);
        if !first || !room || had || a.status == AccountStatus::Blocked {
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
