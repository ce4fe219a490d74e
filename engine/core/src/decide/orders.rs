//! E-commerce orders: created by the online shop with promised discounts and points held
//! for them, cancelled, or bought out at a till (the pick-up).

use super::cheque::{check_tenders, recorded, PricedCheque, Times};
use super::identify::{current_card, identify, identify_cheque, ForPurchase, Identified};
use super::{one, reject, Decided, Rejection};
use crate::amount::Points;
use crate::checkout::{perks, pickup_price, Quote};
use crate::command::Cheque;
use crate::event::Event;
use crate::ids::*;
use crate::model::*;
use crate::outcome::{Code, Reply};
use crate::pricing::totals;
use crate::state::StateView;

/// An order that may still be picked up or cancelled.
fn open_order(view: &impl StateView, number: &OrderNo) -> Result<Order, Rejection> {
    let order = view
        .order(number)
        .ok_or_else(|| reject(Code::OrderUnknown, number.as_str()))?;
    if order.status != OrderStatus::Open {
        return Err(reject(
            Code::OrderWrongState,
            format!("{number}: {:?}", order.status),
        ));
    }
    Ok(order)
}

/// An order, its customer, and the events that open the customer's card when new.
pub(super) type OrderFor = (Order, (Card, Account), Vec<Event>);

/// The open order a cheque buys out and its customer: the cheque's identifiers, if any,
/// must name the order's account; without them the order's card is the customer's.
pub(super) fn order_for(
    view: &impl StateView,
    now: UnixMillis,
    key: ForPurchase<'_>,
    cheque: &Cheque,
    number: &OrderNo,
) -> Result<OrderFor, Rejection> {
    let order = open_order(view, number)?;
    if now >= order.expires_at {
        return Err(reject(Code::OrderWrongState, format!("{number}: expired")));
    }
    let Identified { who, opened, .. } =
        identify_cheque(view, now, key, cheque.card.as_ref(), &cheque.presented)?;
    let who = match who {
        Some(w) if w.1.id != order.account => {
            return Err(reject(
                Code::CardMismatch,
                format!("the order {} was placed with another card", order.number),
            ))
        }
        Some(w) => w,
        None => identify_cheque(view, now, key, Some(&current_card(view, &order.card)), &[])?
            .who
            .ok_or_else(|| reject(Code::CardUnknown, order.card.masked()))?,
    };
    let same = cheque.lines.len() == order.lines.len()
        && cheque
            .lines
            .iter()
            .zip(&order.lines)
            .all(|(c, o)| c.product == o.product && c.qty == o.qty && c.price == o.price);
    if !same {
        return Err(reject(
            Code::OrderMismatch,
            "the cheque must carry the order's lines, in order, at its prices",
        ));
    }
    Ok((order, who, opened))
}

/// A till buys out an order: the purchase is registered with the order's promised
/// discounts and its held points, and accrues by the offers open now.
pub(super) fn pickup(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cheque: &Cheque,
    number: &OrderNo,
    key: PurchaseKey,
    now: UnixMillis,
) -> Decided {
    if let Some(p) = view.purchase(&key) {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    let (order, who, mut events) = order_for(view, now, Some(&key), cheque, number)?;
    let priced = pickup_price(view, program, cheque, &order, cashbox, &who);
    let t = totals(&priced.lines, None);
    check_tenders(cheque, &t)?;
    super::certificate::check_certificates(view, cheque, None, now)?;
    let mut out = perks(
        view,
        &priced.perks,
        &t,
        Some(&who.1),
        Some((&key, who.1.id, cheque.local_time)),
    );
    let issued = std::mem::take(&mut out.events);
    let q = Quote {
        priced,
        used: Vec::new(),
        notes: Vec::new(),
    };
    let times = Times {
        expires_at: now.plus_secs(program.hold_lifetime_secs),
        created_at: now,
    };
    let (mut purchase, reply) = recorded(
        key.clone(),
        Some(&who),
        PurchaseStatus::Registered,
        cheque,
        PricedCheque { q, t },
        out,
        times,
    );
    // The order's hold becomes the purchase's, from the same lots.
    purchase.taken = order.taken.clone();
    events.push(Event::OrderPickedUp {
        order: number.clone(),
        account: who.1.id,
        purchase: key,
    });
    events.push(Event::PurchaseRegistered { purchase });
    events.extend(issued);
    Ok((events, reply))
}

/// The online shop's order: lines with the discounts promised, and points held for it.
pub(super) fn create(
    view: &impl StateView,
    program: &Program,
    number: &OrderNo,
    card: &CardNo,
    lines: &[OrderLine],
    points: Points,
    now: UnixMillis,
) -> Decided {
    if view.order(number).is_some() {
        return Err(reject(Code::OrderExists, number.as_str()));
    }
    if lines.is_empty() || lines.len() > program.lines_per_cheque_max {
        return Err(reject(Code::EmptyCheque, "an order needs 1 to 500 lines"));
    }
    // Points may pay the share of each line a till would let them pay (`redeem_cap`).
    let mut cap = 0i64;
    for (i, l) in lines.iter().enumerate() {
        let amount = crate::amount::line_amount(l.price.0, l.qty).ok_or_else(|| {
            reject(
                Code::AmountInvalid,
                format!("line {i}: price × quantity above the largest amount"),
            )
        })?;
        if l.discount.0 < 0 || l.discount.0 > amount {
            return Err(reject(
                Code::AmountInvalid,
                format!("line {i}: discount exceeds the line"),
            ));
        }
        let floor = view.product(&l.product).map_or(0, |p| {
            crate::amount::line_amount(p.min_price.0, l.qty).map_or(amount, |f| f.min(amount))
        });
        cap += crate::pricing::redeem_cap(program, amount - l.discount.0, floor);
    }
    if points.0 < 0 || points.0 > cap {
        return Err(reject(
            Code::RedeemLimitExceeded,
            format!(
                "{points} points; the order's lines may take {} (the programme's share of each)",
                Points(cap)
            ),
        ));
    }
    let found = identify(view, card)?;
    if points.0 > 0 && !found.card.status.may_redeem() {
        return Err(reject(Code::CardNotActivated, card.masked()));
    }
    if points > found.account.spendable() {
        return Err(reject(
            Code::InsufficientPoints,
            format!("{} > {}", points, found.account.spendable()),
        ));
    }
    let mut events = found.opened;
    events.push(Event::OrderCreated {
        order: Order {
            number: number.clone(),
            account: found.account.id,
            card: card.clone(),
            lines: lines.to_vec(),
            points,
            status: OrderStatus::Open,
            purchase: None,
            expires_at: now.plus_secs(program.order_lifetime_secs),
            taken: found.account.take(points),
        },
    });
    Ok((events, Reply::ok()))
}

/// Cancels an open order, releasing its points.
pub(super) fn cancel(view: &impl StateView, number: &OrderNo) -> Decided {
    let order = open_order(view, number)?;
    one(Event::OrderCancelled {
        order: number.clone(),
        account: order.account,
        points_released: order.points,
    })
}
