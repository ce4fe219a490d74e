//! Status levels (tiers). A customer's level follows what they spent — goods' value after
//! discounts, less what they returned, by the cheques' local month (`Account::spend`) —
//! over the programme's period: a level is reached **at once** when a purchase becomes
//! final, and left only at the period's **review** (the sweep, when the account is due:
//! the start of the next calendar period, or of the next month for a rolling period), so a
//! refund can lower a level only then and never takes an accrual back. An administrator's
//! floor is the least level an account has. The level is what offers' card-type
//! conditions see (the card's own type stays on the card).

use super::{reject, Decided};
use crate::amount::Money;
use crate::event::Event;
use crate::ids::{AccountId, CardNo};
use crate::model::{Account, Program, TierCause, Tiers, UnixMillis};
use crate::outcome::{Code, Reply};
use crate::state::{StateStore, StateView};
use chrono::{Datelike, NaiveDate};

/// At most this many levels.
pub const LEVELS_MAX: usize = 10;
/// Spend is kept for the current month and the 12 before it.
const MONTHS_KEPT: u32 = 13;

/// A month as a number: `year × 12 + (month − 1)`.
pub fn month_of(date: NaiveDate) -> u32 {
    u32::try_from(date.year().max(0)).unwrap_or(0) * 12 + date.month0()
}

/// Adds `value` (negative: returned goods) to the account's spend of `month`, keeping the
/// last 13 months.
pub fn add_spend(a: &mut Account, month: u32, value: Money) {
    match a.spend.iter_mut().find(|(m, _)| *m == month) {
        Some((_, v)) => *v = Money(v.0 + value.0),
        None => {
            a.spend.push((month, value));
            a.spend.sort_unstable_by_key(|(m, _)| *m);
        }
    }
    if let Some(&(last, _)) = a.spend.last() {
        a.spend.retain(|(m, _)| m + MONTHS_KEPT > last);
    }
}

pub(super) fn set_tiers(tiers: &Tiers) -> Decided {
    let bad = |why: &str| Err(reject(Code::AmountInvalid, format!("levels: {why}")));
    if tiers.levels.is_empty() || tiers.levels.len() > LEVELS_MAX {
        return bad("one to ten");
    }
    if !(1..=12).contains(&tiers.months) || (!tiers.rolling && 12 % tiers.months != 0) {
        return bad("a period of 1 to 12 months; a calendar one divides the year");
    }
    let rising = tiers.levels.windows(2).all(|w| w[0].spend < w[1].spend);
    if !rising || tiers.levels[0].spend.0 < 0 {
        return bad("spend from zero up, each level above the one before");
    }
    let mut names: Vec<&str> = tiers.levels.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    if names.iter().any(|n| n.is_empty()) || names.windows(2).any(|w| w[0] == w[1]) {
        return bad("each named, no name twice");
    }
    Ok((
        vec![Event::TiersSet {
            tiers: tiers.clone(),
        }],
        Reply::ok(),
    ))
}

pub(super) fn set_floor(
    view: &impl StateView,
    program: &Program,
    card: &CardNo,
    floor: Option<&str>,
    now: UnixMillis,
) -> Decided {
    let tiers = view
        .tiers()
        .ok_or_else(|| reject(Code::TierUnknown, "the programme has no levels"))?;
    if let Some(f) = floor.filter(|f| rank(&tiers, Some(f)).is_none()) {
        return Err(reject(Code::TierUnknown, f));
    }
    let found = view
        .card(card)
        .ok_or_else(|| reject(Code::CardUnknown, card.masked()))?;
    let mut a = view
        .account(found.account)
        .unwrap_or_else(|| panic!("corrupt: card {} without account", card.masked()));
    let mut events = vec![Event::TierFloorSet {
        account: a.id,
        floor: floor.map(str::to_owned),
    }];
    a.tier_floor = floor.map(str::to_owned);
    // Up to the floor at once; down (a floor lowered or cleared) only at the review, which
    // a level no longer held up by the floor now needs.
    let now_level = rank(&tiers, a.tier.as_deref());
    let target = level(&tiers, &a, program, now).max(now_level);
    match change(&tiers, &a, target, TierCause::Floor, program, now) {
        Some(e) => events.push(e),
        None => {
            let review = review(&tiers, &a, now_level, program, now);
            if review != a.tier_review {
                events.push(Event::TierKept {
                    account: a.id,
                    review,
                });
            }
        }
    }
    Ok((events, Reply::ok()))
}

/// The index of a named level.
fn rank(tiers: &Tiers, name: Option<&str>) -> Option<usize> {
    name.and_then(|n| tiers.levels.iter().position(|l| l.name == n))
}

/// The highest level `spend` reaches.
fn reached(tiers: &Tiers, spend: i64) -> Option<usize> {
    tiers.levels.iter().rposition(|l| l.spend.0 <= spend)
}

/// The stores' current month at server time `t`.
fn local_month(program: &Program, t: UnixMillis) -> u32 {
    let local =
        t.0.saturating_add(program.utc_offset_secs.saturating_mul(1000));
    chrono::DateTime::from_timestamp_millis(local).map_or(0, |d| month_of(d.date_naive()))
}

/// The months of the period month `m` lies in (from, to exclusive).
fn period(tiers: &Tiers, m: u32) -> (u32, u32) {
    let n = u32::from(tiers.months);
    if tiers.rolling {
        ((m + 1).saturating_sub(n), m + 1)
    } else {
        (m - m % n, m - m % n + n)
    }
}

fn spent(a: &Account, (from, to): (u32, u32)) -> i64 {
    a.spend
        .iter()
        .filter(|(m, _)| (from..to).contains(m))
        .map(|(_, v)| v.0)
        .sum()
}

/// The server time the stores' month `m` starts at.
fn month_start(program: &Program, m: u32) -> UnixMillis {
    let date = i32::try_from(m / 12)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m % 12 + 1, 1))
        .unwrap_or(NaiveDate::MAX);
    let local = date
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis();
    UnixMillis(local.saturating_sub(program.utc_offset_secs.saturating_mul(1000)))
}

/// The level the account has earned now: its floor, or what it spent in the current period.
fn level(tiers: &Tiers, a: &Account, program: &Program, now: UnixMillis) -> Option<usize> {
    let m = local_month(program, now);
    let by_spend = reached(tiers, spent(a, period(tiers, m)));
    by_spend.max(rank(tiers, a.tier_floor.as_deref()))
}

/// When a level `to` has to be reviewed: at the end of the current period (of the month,
/// for a rolling one), unless nothing could lower it (the floor, or the lowest level
/// reached with no spend).
fn review(
    tiers: &Tiers,
    a: &Account,
    to: Option<usize>,
    program: &Program,
    now: UnixMillis,
) -> Option<UnixMillis> {
    let floor = rank(tiers, a.tier_floor.as_deref());
    let lowest = to == Some(0) && tiers.levels[0].spend.0 == 0;
    if to.is_none() || to <= floor || lowest {
        return None;
    }
    let m = local_month(program, now);
    let end = if tiers.rolling {
        m + 1
    } else {
        period(tiers, m).1
    };
    Some(month_start(program, end))
}

/// The event that moves the account to level `to` (nothing when it is there already).
fn change(
    tiers: &Tiers,
    a: &Account,
    to: Option<usize>,
    cause: TierCause,
    program: &Program,
    now: UnixMillis,
) -> Option<Event> {
    let from = rank(tiers, a.tier.as_deref());
    (to != from || (a.tier.is_some() && from.is_none())).then(|| Event::TierChanged {
        account: a.id,
        from: a.tier.clone(),
        to: to.map(|i| tiers.levels[i].name.clone()),
        cause,
        review: review(tiers, a, to, program, now),
    })
}

/// After a decision's events are applied: an account whose purchase became final and whose
/// spend now reaches a higher level moves up at once.
pub(super) fn follow(
    state: &mut impl StateStore,
    program: &Program,
    events: &mut Vec<Event>,
    now: UnixMillis,
) {
    let Some(tiers) = state.tiers() else {
        return;
    };
    let mut touched: Vec<AccountId> = events
        .iter()
        .filter_map(|e| match e {
            Event::PurchaseConfirmed { account, .. } => *account,
            Event::PurchaseImported { purchase, .. } => purchase.account,
            _ => None,
        })
        .collect();
    touched.dedup();
    for id in touched {
        let Some(a) = state.account(id) else { continue };
        let now_level = rank(&tiers, a.tier.as_deref());
        let earned = level(&tiers, &a, program, now);
        if earned > now_level {
            if let Some(e) = change(&tiers, &a, earned, TierCause::Spend, program, now) {
                crate::apply::apply(state, &e);
                events.push(e);
            }
        }
    }
}

/// The sweep's review of an account whose level is due: the level it earned in the period
/// that ended (or, if more, so far in this one), never below its floor.
pub(super) fn review_due(
    view: &impl StateView,
    a: &Account,
    program: &Program,
    now: UnixMillis,
) -> Option<Event> {
    let at = a.tier_review.filter(|t| *t <= now)?;
    let Some(tiers) = view.tiers() else {
        return Some(Event::TierKept {
            account: a.id,
            review: None,
        });
    };
    let ended = if tiers.rolling {
        None
    } else {
        // The period that ended when the review came due.
        let first = local_month(program, at);
        Some(reached(
            &tiers,
            spent(a, period(&tiers, first.saturating_sub(1))),
        ))
    };
    let earned = level(&tiers, a, program, now).max(ended.flatten());
    Some(
        change(&tiers, a, earned, TierCause::Review, program, now).unwrap_or(Event::TierKept {
            account: a.id,
            review: review(&tiers, a, earned, program, now),
        }),
    )
}
