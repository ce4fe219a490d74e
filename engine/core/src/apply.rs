//! Applying events to state. Infallible: an event that cannot be applied means the log or
//! the state is corrupt, and the process stops loudly rather than guess.

use crate::amount::Points;
use crate::decide::{add_spend, month_of};
use crate::event::Event;
use crate::model::*;
use crate::state::StateStore;

/// A final purchase's spend: its goods' value after discounts.
fn spent(p: &Purchase) -> crate::amount::Money {
    crate::amount::Money(p.lines.iter().map(|l| l.net().0).sum())
}

fn account_of(state: &impl StateStore, id: crate::ids::AccountId, event: &Event) -> Account {
    state
        .account(id)
        .unwrap_or_else(|| panic!("corrupt: {} names unknown account {id:?}", event.name()))
}

fn purchase_of(state: &impl StateStore, key: &crate::ids::PurchaseKey, event: &Event) -> Purchase {
    state
        .purchase(key)
        .unwrap_or_else(|| panic!("corrupt: {} names unknown purchase {key:?}", event.name()))
}

fn card_of(state: &impl StateStore, number: &crate::ids::CardNo, event: &Event) -> Card {
    state
        .card(number)
        .unwrap_or_else(|| panic!("corrupt: {} names unknown card {number}", event.name()))
}

fn coupon_of(state: &impl StateStore, code: &crate::ids::CouponCode, event: &Event) -> Coupon {
    state
        .coupon(code)
        .unwrap_or_else(|| panic!("corrupt: {} names unknown coupon {code}", event.name()))
}

fn order_of(state: &impl StateStore, number: &crate::ids::OrderNo, event: &Event) -> Order {
    state
        .order(number)
        .unwrap_or_else(|| panic!("corrupt: {} names unknown order {number}", event.name()))
}

/// Counts the uses of the coupons a purchase took on (those it already had are counted).
fn use_coupons(
    state: &mut impl StateStore,
    before: Option<&Purchase>,
    purchase: &Purchase,
    event: &Event,
) {
    let had = before.map_or(&[][..], |p| p.coupons.as_slice());
    for code in purchase.coupons.iter().filter(|c| !had.contains(c)) {
        let mut c = coupon_of(state, code, event);
        c.used += 1;
        state.put_coupon(c);
    }
    for code in had.iter().filter(|c| !purchase.coupons.contains(c)) {
        let mut c = coupon_of(state, code, event);
        c.used -= 1;
        state.put_coupon(c);
    }
}

/// A hold: points taken out of lots into `held` (the balance keeps them).
fn hold(a: &mut Account, taken: &[Take], points: Points) {
    a.debit(taken, points);
    a.balance = a.balance.plus(points);
    a.held = a.held.plus(points);
}

/// A hold released: its points go back to the lots they were taken from (none for a
/// purchase that picked up an order: the order keeps its hold and its lots).
fn release(a: &mut Account, taken: &[Take], points: Points) {
    if points.0 == 0 {
        return;
    }
    a.held = a.held.minus(points);
    a.balance = a.balance.minus(points);
    a.give_back(taken, points);
}

/// What a purchase still has taken, after `returned` went back.
fn forget_taken(taken: &mut Vec<Take>, returned: &[Take]) {
    for r in returned {
        if let Some(t) = taken.iter_mut().find(|t| t.lot == r.lot) {
            t.points = t.points.minus(r.points);
        }
    }
    taken.retain(|t| t.points.0 > 0);
}

fn put_checked(state: &mut impl StateStore, account: Account) {
    account.check();
    state.put_account(account);
}

/// Applies one event. `apply` never decides: every amount comes from the event.
pub fn apply(state: &mut impl StateStore, event: &Event) {
    match event {
        // A record of who resolved a purchase and why; the change is the next event's.
        Event::PurchaseResolved { .. } => {}
        Event::CashboxRegistered { cashbox } => state.put_cashbox(cashbox.clone()),
        Event::CashboxEnabledChanged { cashbox, enabled } => {
            let mut c = state
                .cashbox(*cashbox)
                .unwrap_or_else(|| panic!("corrupt: unknown cashbox {cashbox:?}"));
            c.enabled = *enabled;
            state.put_cashbox(c);
        }
        Event::ProductUpserted { product } => state.put_product(product.clone()),
        Event::OfferUpserted { offer } => state.put_offer(offer.clone()),
        Event::AccountOpened {
            account,
            name,
            phone,
        } => {
            assert!(
                state.account(*account).is_none(),
                "corrupt: account reopened"
            );
            state.put_account(Account::opened(*account, name.clone(), phone.clone()));
            let opened = state.accounts_opened().max(account.0);
            state.set_accounts_opened(opened);
        }
        Event::CardIssued { card } => state.put_card(card.clone()),
        Event::CashboxKeySet {
            cashbox,
            public_key,
        } => {
            let mut c = state
                .cashbox(*cashbox)
                .unwrap_or_else(|| panic!("corrupt: unknown cashbox {cashbox:?}"));
            c.public_key = *public_key;
            state.put_cashbox(c);
        }
        Event::CustomerRegistered {
            account,
            name,
            phone,
            consent,
            birth_date,
            ..
        } => {
            let mut a = account_of(state, *account, event);
            a.name = name.clone();
            a.phone = phone.clone();
            a.consent = *consent;
            if birth_date.is_some() {
                // The sweep looks at it at once and schedules the birthday to come.
                a.birth_date = *birth_date;
                a.birthday = *birth_date;
                a.birthday_from = Some(UnixMillis(0));
            }
            state.put_account(a);
            if let (Ok(p), Event::CustomerRegistered { card, .. }) =
                (crate::ids::Phone::parse(phone), event)
            {
                state.put_phone(p, card.clone());
            }
        }
        Event::CardReplaced {
            account,
            old,
            new,
            status,
            card_type,
            pin_hash,
            pin_of,
        } => {
            let mut c = card_of(state, old, event);
            c.status = CardStatus::Replaced;
            c.replaced_by = Some(new.clone());
            state.put_card(c);
            // The phone identifies the account's current card.
            let phone = account_of(state, *account, event).phone;
            if let Ok(p) = crate::ids::Phone::parse(&phone) {
                if state.phone_card(&p).as_ref() == Some(old) {
                    state.put_phone(p, new.clone());
                }
            }
            state.put_card(Card {
                number: new.clone(),
                account: *account,
                status: *status,
                card_type: card_type.clone(),
                replaced_by: None,
                pin_hash: *pin_hash,
                qr_secret: None,
                qr_used: None,
                pin_failures: 0,
                pin_locked_until: None,
                pin_locks: 0,
                pin_of: pin_of.clone(),
            });
        }
        Event::CardPinSet { card, pin_hash, .. } => {
            let mut c = card_of(state, card, event);
            c.pin_hash = *pin_hash;
            c.pin_of = None;
            state.put_card(c);
        }
        Event::FavouritesChosen { account, products } => {
            let mut a = account_of(state, *account, event);
            a.favourites = products.clone();
            state.put_account(a);
        }
        Event::CardQrSecretSet { card, secret, .. } => {
            let mut c = card_of(state, card, event);
            c.qr_secret = Some(*secret);
            c.qr_used = None;
            state.put_card(c);
        }
        Event::QrCodeUsed {
            card,
            window,
            purchase,
            ..
        } => {
            let mut c = card_of(state, card, event);
            c.qr_used = Some((*window, purchase.clone()));
            state.put_card(c);
        }
        Event::CardRangeSet { range, active } => state.put_card_range(range.clone(), *active),
        Event::IdentifierPolicySet { policy } => state.put_identifier_policy(policy.clone()),
        Event::AccountBlockedChanged { account, blocked } => {
            let mut a = account_of(state, *account, event);
            a.status = if *blocked {
                AccountStatus::Blocked
            } else {
                AccountStatus::Active
            };
            state.put_account(a);
        }
        Event::PointsAdjusted {
            account,
            delta,
            lots,
            taken,
            ..
        } => {
            let mut a = account_of(state, *account, event);
            if delta.0 >= 0 {
                a.credit(lots, *delta);
            } else {
                a.debit(taken, Points(-delta.0));
            }
            put_checked(state, a);
        }
        Event::BonusRuleSet { rule } => state.put_bonus_rule(*rule),
        Event::CertificateIssued { certificate } => {
            assert!(
                state.certificate(&certificate.code).is_none(),
                "corrupt: certificate {} issued twice",
                certificate.code
            );
            state.put_certificate(certificate.clone());
        }
        Event::TiersSet { tiers } => state.put_tiers(tiers.clone()),
        Event::TierFloorSet { account, floor } => {
            let mut a = account_of(state, *account, event);
            a.tier_floor = floor.clone();
            put_checked(state, a);
        }
        Event::TierChanged {
            account,
            to,
            review,
            ..
        } => {
            let mut a = account_of(state, *account, event);
            a.tier = to.clone();
            a.tier_review = *review;
            put_checked(state, a);
        }
        Event::TierKept { account, review } => {
            let mut a = account_of(state, *account, event);
            a.tier_review = *review;
            put_checked(state, a);
        }
        Event::BonusGranted {
            account,
            kind,
            points,
            lot,
            ..
        } => {
            let mut a = account_of(state, *account, event);
            a.credit(std::slice::from_ref(lot), *points);
            if kind.once() {
                a.bonuses.push(*kind);
            }
            put_checked(state, a);
        }
        Event::BirthdayScheduled {
            account,
            next,
            from,
            ..
        } => {
            let mut a = account_of(state, *account, event);
            a.birthday = Some(*next);
            a.birthday_from = Some(*from);
            put_checked(state, a);
        }
        Event::PointsActivated {
            account,
            lot,
            points,
        } => {
            let mut a = account_of(state, *account, event);
            a.activate(*lot, *points);
            put_checked(state, a);
        }
        Event::PointsExpired {
            account,
            lot,
            points,
        } => {
            let mut a = account_of(state, *account, event);
            a.expire(*lot, *points);
            put_checked(state, a);
        }
        Event::LotDated {
            account,
            lot,
            expires_at,
        } => {
            let mut a = account_of(state, *account, event);
            a.date(*lot, *expires_at);
            put_checked(state, a);
        }
        Event::CardActivated { card, .. } | Event::CardBlocked { card, .. } => {
            let mut c = card_of(state, card, event);
            c.status = if matches!(event, Event::CardActivated { .. }) {
                CardStatus::Activated
            } else {
                CardStatus::Blocked
            };
            state.put_card(c);
        }
        Event::BonusHeld { purchase } => {
            if let Some(id) = purchase.account {
                let mut a = account_of(state, id, event);
                hold(&mut a, &purchase.taken, purchase.paid);
                put_checked(state, a);
            }
            use_coupons(state, None, purchase, event);
            crate::budget::count(state, purchase, 1);
            crate::certificate::hold(state, purchase, 1);
            state.put_purchase(purchase, None);
        }
        Event::PurchaseRegistered { purchase } => {
            // Only a purchase with points can have been held before (a hold needs points);
            // a fresh registration has nothing to look up.
            let before = (purchase.paid.0 > 0)
                .then(|| state.purchase(&purchase.key))
                .flatten();
            use_coupons(state, before.as_ref(), purchase, event);
            if let Some(held) = &before {
                crate::budget::count(state, held, -1);
                crate::certificate::hold(state, held, -1);
            }
            crate::budget::count(state, purchase, 1);
            crate::certificate::hold(state, purchase, 1);
            state.put_purchase(purchase, before.map(|p| p.status));
        }
        Event::PurchaseImported { purchase, lots } => {
            assert_eq!(
                purchase.status,
                PurchaseStatus::Confirmed,
                "corrupt: imported purchase not confirmed"
            );
            crate::budget::count(state, purchase, 1);
            if let Some(id) = purchase.account {
                let mut a = account_of(state, id, event);
                a.credit(lots, purchase.accrual);
                a.earned = a.earned.plus(purchase.accrual);
                a.purchases = a.purchases.saturating_add(1);
                add_spend(
                    &mut a,
                    month_of(purchase.local_time.date()),
                    spent(purchase),
                );
                put_checked(state, a);
            }
            state.put_purchase(purchase, None);
        }
        Event::ReturnedWithoutReceipt { purchase } => {
            assert!(
                state.purchase(&purchase.key).is_none(),
                "corrupt: a return without receipt under a used cheque number"
            );
            if let Some(id) = purchase.account {
                let mut a = account_of(state, id, event);
                a.debit(&purchase.taken, purchase.accrual_reversed);
                a.earned = a.earned.minus(purchase.accrual);
                let back = crate::amount::Money(-purchase.refunded_money.0);
                add_spend(&mut a, month_of(purchase.local_time.date()), back);
                put_checked(state, a);
            }
            state.put_purchase(purchase, None);
        }
        Event::PurchaseConfirmed {
            purchase,
            account,
            points_debited,
            points_credited,
            lots,
            taken,
        } => {
            let mut p = purchase_of(state, purchase, event);
            // A late confirm after the sweep: the hold was released and the coupons issued
            // with it revoked then; the points are taken from the balance and the coupons
            // are valid again (a purchase that used coupons is not confirmed late).
            let late = p.status == PurchaseStatus::Expired;
            if let Some(id) = account {
                let mut a = account_of(state, *id, event);
                if late {
                    a.debit(taken, *points_debited);
                    p.taken = taken.clone();
                } else {
                    a.held = a.held.minus(*points_debited);
                    a.balance = a.balance.minus(*points_debited);
                }
                a.credit(lots, *points_credited);
                a.earned = a.earned.plus(*points_credited);
                a.purchases = a.purchases.saturating_add(1);
                add_spend(&mut a, month_of(p.local_time.date()), spent(&p));
                put_checked(state, a);
            }
            p.lots = lots.iter().map(|l| l.id).collect();
            // A purchase paid with a certificate is not confirmed late: its hold is there.
            assert!(
                !late || !crate::certificate::pays_with_certificate(&p.tenders),
                "corrupt: a late confirm of a purchase paid with a gift certificate"
            );
            crate::certificate::post(state, &p);
            if late {
                for code in &p.issued {
                    let mut c = coupon_of(state, code, event);
                    c.revoked = false;
                    state.put_coupon(c);
                }
            }
            let was = p.status;
            p.status = PurchaseStatus::Confirmed;
            state.put_purchase(&p, Some(was));
        }
        Event::PurchaseCancelled {
            purchase,
            account,
            points_released,
        }
        | Event::HoldExpired {
            purchase,
            account,
            points_released,
        } => {
            let mut p = purchase_of(state, purchase, event);
            if let Some(id) = account {
                let mut a = account_of(state, *id, event);
                release(&mut a, &p.taken, *points_released);
                put_checked(state, a);
            }
            if points_released.0 > 0 {
                p.taken.clear();
            }
            // A cancel, or a hold that expired before it was registered, gives the offers'
            // budgets back; a registered purchase keeps its share (it may still be
            // confirmed late).
            if matches!(event, Event::PurchaseCancelled { .. }) || !p.registered {
                crate::budget::count(state, &p, -1);
            }
            crate::certificate::hold(state, &p, -1);
            let was = p.status;
            p.status = if matches!(event, Event::HoldExpired { .. }) {
                PurchaseStatus::Expired
            } else {
                PurchaseStatus::Cancelled
            };
            for code in &p.coupons {
                let mut c = coupon_of(state, code, event);
                c.used -= 1;
                state.put_coupon(c);
            }
            for code in &p.issued {
                let mut c = coupon_of(state, code, event);
                c.revoked = true;
                state.put_coupon(c);
            }
            // An order's hold goes back to the order, which can be picked up again.
            if let Some(number) = &p.order {
                let mut o = order_of(state, number, event);
                o.status = OrderStatus::Open;
                o.purchase = None;
                state.put_order(o);
            }
            state.put_purchase(&p, Some(was));
        }
        Event::DebtIncurred {
            account, points, ..
        } => {
            let mut a = account_of(state, *account, event);
            a.debt = a.debt.plus(*points);
            put_checked(state, a);
        }
        Event::DebtRecovered {
            account,
            points,
            taken,
        } => {
            let mut a = account_of(state, *account, event);
            assert!(
                *points <= a.recoverable(),
                "corrupt: recovered beyond what is owed or spendable"
            );
            a.debt = a.debt.minus(*points);
            a.debit(taken, *points);
            put_checked(state, a);
        }
        Event::PinFailed {
            card,
            failures,
            locked_until,
            locks,
            ..
        } => {
            let mut c = card_of(state, card, event);
            c.pin_failures = *failures;
            c.pin_locks = *locks;
            if locked_until.is_some() {
                c.pin_locked_until = *locked_until;
            }
            state.put_card(c);
        }
        Event::PinAccepted { card, .. } => {
            let mut c = card_of(state, card, event);
            c.pin_failures = 0;
            c.pin_locks = 0;
            c.pin_locked_until = None;
            state.put_card(c);
        }
        Event::CouponSeriesSet { series } => state.put_coupon_series(series.clone()),
        Event::CouponIssued { coupon } => {
            assert!(
                state.coupon(&coupon.code).is_none(),
                "corrupt: coupon {} issued twice",
                coupon.code
            );
            state.put_coupon(coupon.clone());
        }
        Event::OrderCreated { order } => {
            let mut a = account_of(state, order.account, event);
            hold(&mut a, &order.taken, order.points);
            put_checked(state, a);
            state.put_order(order.clone());
        }
        Event::OrderCancelled {
            order,
            account,
            points_released,
        }
        | Event::OrderExpired {
            order,
            account,
            points_released,
        } => {
            let mut o = order_of(state, order, event);
            let mut a = account_of(state, *account, event);
            release(&mut a, &o.taken, *points_released);
            put_checked(state, a);
            o.taken.clear();
            o.status = if matches!(event, Event::OrderExpired { .. }) {
                OrderStatus::Expired
            } else {
                OrderStatus::Cancelled
            };
            state.put_order(o);
        }
        Event::OrderPickedUp {
            order, purchase, ..
        } => {
            let mut o = order_of(state, order, event);
            assert_eq!(
                o.status,
                OrderStatus::Open,
                "corrupt: order picked up twice"
            );
            o.status = OrderStatus::PickedUp;
            o.purchase = Some(purchase.clone());
            state.put_order(o);
        }
        Event::RefundRecorded {
            purchase,
            refund,
            account,
            lines,
            money_returned,
            points_returned,
            accrual_reversed,
            accrual_unrecovered,
            refunded_at,
            returned,
            returned_lots,
            reversed_from,
            certificates,
            ..
        } => {
            crate::certificate::credit(state, certificates);
            let mut p = purchase_of(state, purchase, event);
            if let Some(id) = account {
                let mut a = account_of(state, *id, event);
                if returned.is_empty() && returned_lots.is_empty() {
                    // Recorded before lots: back to the carried lot.
                    a.give_back(&[], *points_returned);
                } else {
                    let back = returned.iter().fold(Points::ZERO, |s, t| s.plus(t.points));
                    let new = returned_lots
                        .iter()
                        .fold(Points::ZERO, |s, l| s.plus(l.points));
                    a.give_back(returned, back);
                    a.credit(returned_lots, new);
                }
                a.debit(reversed_from, *accrual_reversed);
                a.earned = a
                    .earned
                    .minus(*accrual_reversed)
                    .minus(*accrual_unrecovered);
                let back = crate::amount::Money(-money_returned.0);
                add_spend(&mut a, month_of(p.local_time.date()), back);
                put_checked(state, a);
            }
            forget_taken(&mut p.taken, returned);
            for l in lines {
                let line = &mut p.lines[l.index as usize];
                line.refunded_qty.0 += l.qty.0;
                assert!(line.refunded_qty <= line.line.qty, "corrupt: over-refund");
            }
            match refunded_at {
                Some(cashbox) => p.refund_keys.push(crate::ids::PurchaseKey {
                    cashbox: *cashbox,
                    cheque: refund.clone(),
                }),
                None => p.refunds.push(refund.clone()),
            }
            p.refunded_money = p.refunded_money.plus(*money_returned);
            p.points_returned = p.points_returned.plus(*points_returned);
            p.accrual_reversed = p.accrual_reversed.plus(*accrual_reversed);
            let was = p.status;
            state.put_purchase(&p, Some(was));
        }
    }
}
