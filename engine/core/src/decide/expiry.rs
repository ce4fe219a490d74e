//! The sweep the engine runs on its own: unconfirmed purchases and open orders whose
//! lifetime ended release their points.

use super::purchase::released;
use super::Decided;
use crate::event::Event;
use crate::model::Program;
use crate::model::UnixMillis;
use crate::outcome::Reply;
use crate::state::StateView;

/// Purchases whose lifetime ended release their holds, then open orders whose lifetime
/// ended release their points; at most `expire_batch_max` of both together.
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
    Ok((events, Reply::ok()))
}
