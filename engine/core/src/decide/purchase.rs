//! The purchase life cycle at an online till: pay with bonus (a hold), register (the
//! cheque and its pending accrual), confirm (post both), cancel (release both).

use super::certificate::check_certificates;
use super::cheque::{
    check_lines, check_tenders, online, price_cheque, purchase_key, recorded,
    spendable_if_redeemable, Times,
};
use super::identify::{check_pin, holder, identify_purchase, Identified, PinCheck};
use super::{orders, reject, Decided, Rejection};
use crate::amount::Points;
use crate::checkout::perks;
use crate::command::Cheque;
use crate::event::{DebtCause, Event};
use crate::ids::*;
use crate::model::MessageTo;
use crate::model::*;
use crate::outcome::{Code, Message, Reply};
use crate::pricing::totals;
use crate::state::StateView;

/// Puts a hold on `points` to pay part of the cheque.
pub(super) fn pay_with_bonus(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cheque: &Cheque,
    points: Points,
    now: UnixMillis,
) -> Decided {
    check_lines(program, cheque)?;
    if points.0 <= 0 {
        return Err(reject(Code::AmountInvalid, "points"));
    }
    if cheque.order.is_some() {
        return Err(reject(
            Code::Forbidden,
            "an order is paid with the points reserved for it: register the cheque",
        ));
    }
    let key = purchase_key(cashbox, &cheque.cheque);
    let Identified {
        who,
        redeems,
        mut opened,
    } = identify_purchase(view, now, &key, cheque)?;
    let (card, account) = who.ok_or_else(|| reject(Code::CardRequired, ""))?;
    if !redeems {
        return Err(reject(Code::RedeemNotAllowed, card.number.masked()));
    }
    match check_pin(program, &card, account.id, cheque.pin.as_ref(), now) {
        PinCheck::Pass(events) => opened.extend(events),
        PinCheck::Refused(events, why) => return Ok((events, why.into())),
    }
    if !card.status.may_redeem() {
        return Err(reject(Code::CardNotActivated, card.number.masked()));
    }
    if let Some(p) = view.purchase(&key) {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    if points > account.spendable() {
        return Err(reject(
            Code::InsufficientPoints,
            format!("{} > {}", points, account.spendable()),
        ));
    }
    let who = (card, account);
    let terms = online(cashbox, Some(&who), None);
    let left = Some(who.1.spendable().minus(points));
    let priced = price_cheque(view, program, cheque, points, &terms, left)?;
    check_tenders(cheque, &priced.t)?;
    check_certificates(view, cheque, None, now)?;
    let out = perks(view, &priced.q.priced.perks, &priced.t, Some(&who.1), None);
    let times = Times {
        expires_at: now.plus_secs(program.hold_lifetime_secs),
        created_at: now,
    };
    let (mut purchase, reply) = recorded(
        key,
        Some(&who),
        PurchaseStatus::Held,
        cheque,
        priced,
        out,
        times,
    );
    purchase.taken = who.1.take(points);
    opened.push(Event::BonusHeld { purchase });
    Ok((opened, reply))
}

/// Records the cheque with its discounts and a pending accrual; goes on with a hold of the
/// same cheque, and buys out an order when the cheque names one.
pub(super) fn register(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cheque: &Cheque,
    now: UnixMillis,
) -> Decided {
    check_lines(program, cheque)?;
    let key = purchase_key(cashbox, &cheque.cheque);
    if let Some(number) = &cheque.order {
        return orders::pickup(view, program, cashbox, cheque, number, key, now);
    }
    let existing = view.purchase(&key);
    let (paid, times) = match &existing {
        None => (
            Points::ZERO,
            Times {
                expires_at: now.plus_secs(program.hold_lifetime_secs),
                created_at: now,
            },
        ),
        Some(p) if p.status == PurchaseStatus::Held => {
            if now >= p.expires_at {
                return Err(reject(Code::HoldExpired, cheque.cheque.as_str()));
            }
            (
                p.paid,
                Times {
                    expires_at: p.expires_at,
                    created_at: p.created_at,
                },
            )
        }
        Some(p) => return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status))),
    };
    let Identified {
        who,
        redeems,
        mut opened,
    } = identify_purchase(view, now, &key, cheque)?;
    // Any card of the account may go on with the purchase (a replaced card's successor,
    // too); another account may not.
    if existing
        .as_ref()
        .is_some_and(|p| p.account != who.as_ref().map(|(_, a)| a.id))
    {
        return Err(reject(
            Code::CardMismatch,
            "the purchase was begun with another customer's card",
        ));
    }
    let terms = online(cashbox, who.as_ref(), existing.as_ref());
    let spendable = who
        .as_ref()
        .filter(|_| redeems)
        .and_then(|(c, a)| spendable_if_redeemable(c, a));
    let priced = price_cheque(view, program, cheque, paid, &terms, spendable)?;
    check_tenders(cheque, &priced.t)?;
    check_certificates(view, cheque, existing.as_ref(), now)?;
    let issue = who.as_ref().map(|(_, a)| (&key, a.id, cheque.local_time));
    let customer = who.as_ref().map(|(_, a)| a);
    let mut out = perks(view, &priced.q.priced.perks, &priced.t, customer, issue);
    let issued = std::mem::take(&mut out.events);
    let (mut purchase, reply) = recorded(
        key,
        who.as_ref(),
        PurchaseStatus::Registered,
        cheque,
        priced,
        out,
        times,
    );
    // A hold goes on with the lots it took.
    if let Some(p) = existing {
        purchase.taken = p.taken;
    }
    opened.push(Event::PurchaseRegistered { purchase });
    opened.extend(issued);
    Ok((opened, reply))
}

/// Posts the hold and credits the accrual of a registered purchase. After the hold's
/// lifetime, within `late_confirm_secs`, the purchase is still confirmed: the points it
/// paid with are taken again once the sweep has released them, and what is no longer
/// there becomes the customer's debt, reported to the cashier.
pub(super) fn confirm(
    view: &impl StateView,
    program: &Program,
    key: &PurchaseKey,
    now: UnixMillis,
) -> Decided {
    let cheque = key.cheque.as_str();
    let p = view
        .purchase(key)
        .ok_or_else(|| reject(Code::PurchaseUnknown, cheque))?;
    let late_until = p.expires_at.plus_secs(program.late_confirm_secs);
    match p.status {
        PurchaseStatus::Registered if now < late_until => {}
        // Expired after registration. Not one that picked up an order (its hold went back
        // to the order), used coupons (given back at expiry, perhaps used up since) or
        // paid with a gift certificate (released at expiry, perhaps spent since).
        PurchaseStatus::Expired
            if p.registered
                && p.order.is_none()
                && p.coupons.is_empty()
                && !crate::certificate::pays_with_certificate(&p.tenders)
                && now < late_until => {}
        PurchaseStatus::Registered | PurchaseStatus::Expired => {
            return Err(reject(Code::HoldExpired, cheque))
        }
        PurchaseStatus::Held if now >= p.expires_at => {
            return Err(reject(Code::HoldExpired, cheque))
        }
        PurchaseStatus::Held => {
            return Err(reject(
                Code::PurchaseWrongState,
                "register the cheque before confirming",
            ))
        }
        status => return Err(reject(Code::PurchaseWrongState, format!("{status:?}"))),
    }
    // Points released by the sweep are taken again, as far as they are there.
    let account = p.account.and_then(|a| view.account(a));
    let debited = match (&account, p.status) {
        (Some(a), PurchaseStatus::Expired) => p.paid.min(a.spendable()),
        _ => p.paid,
    };
    let shortfall = p.paid.minus(debited);
    let late = p.status == PurchaseStatus::Expired;
    let (lots, taken) = match &account {
        Some(a) if late => {
            // The accrual is credited after the points are taken again: it joins the lots
            // as they are then (a lot the retake emptied is gone, so it makes a new one).
            let taken = a.take(debited);
            let mut after = a.clone();
            after.debit(&taken, debited);
            (accrual_lots(&after, program, &p, now, now), taken)
        }
        Some(a) => (accrual_lots(a, program, &p, now, now), Vec::new()),
        None => (Vec::new(), Vec::new()),
    };
    // What of the accrual is spendable at once (none while it is pending).
    let active = lots
        .iter()
        .filter(|l| !l.pending)
        .fold(Points::ZERO, |s, l| s.plus(l.points));
    let pending = lots
        .iter()
        .filter(|l| l.pending)
        .fold(Points::ZERO, |s, l| s.plus(l.points));
    let mut events = vec![Event::PurchaseConfirmed {
        purchase: p.key.clone(),
        account: p.account,
        points_debited: debited,
        points_credited: p.accrual,
        lots,
        taken,
    }];
    let mut reply = purchase_reply(view, &p, PurchaseStatus::Confirmed);
    // The offers' messages, with the balance after this confirmation (its accrual paying
    // back debt first).
    let after = account.as_ref().map(|a| {
        let spendable = a
            .spendable()
            .minus(if late { debited } else { Points::ZERO })
            .plus(active);
        let recovered = a.debt.plus(shortfall).min(spendable).max(Points::ZERO);
        crate::pricing::After {
            balance: a.balance.minus(debited).plus(active).minus(recovered),
            pending: a.pending.plus(pending),
        }
    });
    let t = crate::pricing::totals(&p.lines, None);
    reply.messages = crate::checkout::rendered(&p.messages, &t, after);
    if let (Some(a), true) = (&account, shortfall.0 > 0) {
        events.push(Event::DebtIncurred {
            account: a.id,
            purchase: p.key.clone(),
            points: shortfall,
            cause: DebtCause::LateConfirmShortfall,
        });
        reply.messages.push(Message {
            to: MessageTo::Cashier,
            text: format!(
                "Confirmed late: {shortfall} of the {} points paid were no longer there and are the customer's debt",
                p.paid
            ),
        });
    }
    Ok((events, reply))
}

/// The lots a purchase's accrual makes, credited at `at` (decided at `now`): what offers
/// with their own terms gave by those, the rest by the programme's.
pub(super) fn accrual_lots(
    a: &Account,
    program: &Program,
    p: &Purchase,
    at: UnixMillis,
    now: UnixMillis,
) -> Vec<Lot> {
    if p.accrual.0 <= 0 {
        return Vec::new();
    }
    let mut parts: Vec<(LotTerms, Points)> = Vec::new();
    for l in &p.lines {
        for &(t, x) in &l.accrual_lots {
            match parts.iter_mut().find(|(u, _)| *u == t) {
                Some((_, sum)) => *sum = sum.plus(x),
                None => parts.push((t, x)),
            }
        }
    }
    let own = parts.iter().fold(Points::ZERO, |s, (_, x)| s.plus(*x));
    let mut all = vec![(program.lots, p.accrual.minus(own))];
    all.extend(parts);
    all.retain(|(_, x)| x.0 > 0);
    if let [(terms, x)] = all.as_slice() {
        return vec![terms.credit(a, LotSource::Purchase, *x, at, now)];
    }
    // Several lots in one credit: each sees the ones before it.
    let mut scratch = a.clone();
    all.iter()
        .map(|(terms, x)| {
            let lot = terms.credit(&scratch, LotSource::Purchase, *x, at, now);
            scratch.credit(&[lot], lot.points);
            lot
        })
        .collect()
}

/// Releases the hold and drops the accrual of a pending purchase, expired or not.
pub(super) fn cancel(view: &impl StateView, key: &PurchaseKey) -> Decided {
    let p = pending(view, key)?;
    let event = Event::PurchaseCancelled {
        purchase: p.key.clone(),
        account: p.account,
        points_released: released(&p),
    };
    Ok((
        vec![event],
        purchase_reply(view, &p, PurchaseStatus::Cancelled),
    ))
}

/// Support confirms or cancels a stuck purchase of any cashbox, as its till would have,
/// recording the reason: a confirm follows the till's rules, late confirms included; a
/// cancel is always possible while the purchase is pending.
pub(super) fn resolve(
    view: &impl StateView,
    program: &Program,
    key: &PurchaseKey,
    confirm_it: bool,
    reason: &str,
    now: UnixMillis,
) -> Decided {
    let (mut events, reply) = if confirm_it {
        confirm(view, program, key, now)?
    } else {
        cancel(view, key)?
    };
    let account = view.purchase(key).and_then(|p| p.account);
    events.insert(
        0,
        Event::PurchaseResolved {
            purchase: key.clone(),
            account,
            confirmed: confirm_it,
            reason: reason.to_owned(),
        },
    );
    Ok((events, reply))
}

/// A pending purchase, expired or not.
fn pending(view: &impl StateView, key: &PurchaseKey) -> Result<Purchase, Rejection> {
    let p = view
        .purchase(key)
        .ok_or_else(|| reject(Code::PurchaseUnknown, key.cheque.as_str()))?;
    if !p.status.is_pending() {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    Ok(p)
}

/// The answer that shows a recorded purchase in its new status.
pub(super) fn purchase_reply(view: &impl StateView, p: &Purchase, status: PurchaseStatus) -> Reply {
    let card = p.card.as_ref().and_then(|c| view.card(c));
    let account = p.account.and_then(|a| view.account(a));
    Reply {
        holder: card.zip(account).map(|(c, a)| holder(&c, &a)),
        totals: Some(totals(&p.lines, None)),
        lines: p.lines.clone(),
        purchase_status: Some(status),
        purchase: Some(p.key.clone()),
        ..Reply::ok()
    }
}

/// The points a cancelled or expired purchase releases: its hold, unless the hold came
/// from an order, which gets it back.
pub(super) fn released(p: &Purchase) -> Points {
    if p.order.is_some() {
        Points::ZERO
    } else {
        p.paid
    }
}
