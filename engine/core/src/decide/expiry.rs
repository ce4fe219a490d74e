//! The sweep the engine runs on its own: unconfirmed purchases and open orders whose
//! lifetime ended release their points, then lots mature and burn and birthdays come. Each sweep decides at
//! most `expire_batch_max` events, so a sweep that fell behind (a server down for a week)
//! catches up in bounded steps between the tills' requests.

use super::purchase::released;
use super::Decided;
use crate::event::Event;
use crate::model::{Account, LotSource, Program, UnixMillis};
use crate::outcome::Reply;
use crate::state::StateView;

/// Purchases whose lifetime ended release their holds, then open orders whose lifetime
/// ended release their points, then accounts' lots due are dated, activated or burnt,
/// their birthdays due looked at (`bonus::birthday`) and their levels due reviewed
/// (`tiers::review_due`); at most `expire_batch_max`
/// events in all (an account's are never split across sweeps).
pub(super) fn expire_holds(view: &impl StateView, program: &Program, now: UnixMillis) -> Decided {
    let mut events: Vec<Event> = view
        .pending_due(now, program.expire_batch_max)
        .into_iter()
        .map(|key| {
            let p = view
                .purchase(&key)
                .unwrap_or_else(|| panic!("corrupt: pending index names unknown {key:?}"));
            Event::HoldExpired {
                purchase: key,
                account: p.account,
                points_released: released(&p),
            }
        })
        .collect();
    let room = program.expire_batch_max.saturating_sub(events.len());
    events.extend(view.orders_due(now, room).into_iter().map(|number| {
        let o = view
            .order(&number)
            .unwrap_or_else(|| panic!("corrupt: order index names unknown {number}"));
        Event::OrderExpired {
            order: number,
            account: o.account,
            points_released: o.points,
        }
    }));
    for account in view.accounts_due(now, program.expire_batch_max) {
        let a = view
            .account(account)
            .unwrap_or_else(|| panic!("corrupt: lot index names unknown {account:?}"));
        let mut due = lots_due(&a, program, now);
        due.extend(super::bonus::birthday(view, &a, program, now));
        due.extend(super::tiers::review_due(view, &a, program, now));
        if !events.is_empty() && events.len() + due.len() > program.expire_batch_max {
            break;
        }
        events.extend(due);
    }
    Ok((events, Reply::ok()))
}

/// The events of an account's lots due at `now`: the carried lot dated; pending lots
/// activated; lots whose time is up burnt (after activation, when both are due).
pub(crate) fn lots_due(a: &Account, program: &Program, now: UnixMillis) -> Vec<Event> {
    let mut events = Vec::new();
    for l in &a.lots {
        if l.source == LotSource::Carried {
            events.push(Event::LotDated {
                account: a.id,
                lot: l.id,
                expires_at: program.lots.lifetime_secs.map(|s| now.plus_secs(s)),
            });
            continue;
        }
        if l.pending && l.activates_at <= now {
            events.push(Event::PointsActivated {
                account: a.id,
                lot: l.id,
                points: l.left,
            });
        }
        if l.expires_at.is_some_and(|e| e <= now) && (!l.pending || l.activates_at <= now) {
            events.push(Event::PointsExpired {
                account: a.id,
                lot: l.id,
                points: l.left,
            });
        }
    }
    events
}
