//! Cheques rung up while the till was offline, uploaded later: accrual only, by the offers
//! valid at the cheque's own local time.

use super::cheque::{
    check_lines, check_tenders, online, price_cheque, purchase_key, recorded, Times,
};
use super::identify::{identify_purchase, Identified};
use super::{reject, Decided};
use crate::amount::{Money, Points};
use crate::checkout::{PerksOut, Terms};
use crate::command::Cheque;
use crate::event::Event;
use crate::model::*;
use crate::outcome::Code;
use crate::state::StateView;

/// An offline cheque: refused whole if it claims points or discounts; otherwise recorded
/// as confirmed with the accrual of the offers valid at its local time.
pub(super) fn import(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cheque: &Cheque,
    points_paid: Points,
    local_discount: Money,
    now: UnixMillis,
) -> Decided {
    check_lines(program, cheque)?;
    super::certificate::refuse_offline(cheque)?;
    if points_paid.0 > 0 {
        return Err(reject(
            Code::OfflineRedemptionRefused,
            format!("{points_paid} points"),
        ));
    }
    if local_discount.0 > 0 {
        return Err(reject(
            Code::OfflineDiscountRefused,
            format!("discount {local_discount}"),
        ));
    }
    let key = purchase_key(cashbox, &cheque.cheque);
    if let Some(p) = view.purchase(&key) {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    let Identified {
        who, mut opened, ..
    } = identify_purchase(view, now, &key, cheque)?;
    if cheque.order.is_some() {
        return Err(reject(Code::OrderWrongState, "orders are picked up online"));
    }
    // Offline cheques get no discounts, use no coupons and earn none: the till could not
    // check them.
    let terms = Terms {
        discounts: false,
        coupons: false,
        ..online(cashbox, who.as_ref(), None)
    };
    let priced = price_cheque(view, program, cheque, Points::ZERO, &terms, None)?;
    check_tenders(cheque, &priced.t)?;
    // Nor messages or gifts: nobody reads the screen of an upload.
    let out = PerksOut {
        messages: Vec::new(),
        issued: Vec::new(),
        events: Vec::new(),
        gifts: Vec::new(),
    };
    let times = Times {
        expires_at: now,
        created_at: now,
    };
    let (purchase, reply) = recorded(
        key,
        who.as_ref(),
        PurchaseStatus::Confirmed,
        cheque,
        priced,
        out,
        times,
    );
    // The lots are dated by the cheque's time (never later than now).
    let rung = UnixMillis(
        cheque
            .local_time
            .and_utc()
            .timestamp_millis()
            .saturating_sub(program.utc_offset_secs.saturating_mul(1000)),
    )
    .min(now);
    let lots = who.as_ref().map_or_else(Vec::new, |(_, a)| {
        super::purchase::accrual_lots(a, program, &purchase, rung, now)
    });
    let mut purchase = purchase;
    purchase.lots = lots.iter().map(|l| l.id).collect();
    opened.push(Event::PurchaseImported { purchase, lots });
    Ok((opened, reply))
}
