//! The till's side of pricing: which coupons shown with a cheque are good, the quote the
//! offers give for it, and what the offers' perks become (coupons issued with the purchase,
//! rendered messages). Pure: reads the state view, decides nothing about balances.

use crate::amount::Points;
use crate::command::{Cheque, Totals};
use crate::event::Event;
use crate::ids::*;
use crate::model::*;
use crate::outcome::{GiftItem, IssuedCoupon, Message};
use crate::pricing::{price, render, After, Grants, Perk, Priced};
use crate::state::StateView;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The coupon codes a scanned text may stand for, for every form a coupon is printed in: a
/// QR payload `coupon:<code>`; magnetic stripe data (the number on its first track that has
/// one); otherwise the text itself (the code, its Code 128 reading; letters are taken in
/// upper case), then — for 13 digits with a right EAN-13 check digit — the 12-digit code it
/// encodes, and — for 12 digits — the code whose EAN-13 a scanner in UPC-A mode read without
/// its leading zero. The first that names a coupon is the one.
pub fn coupon_codes(raw: &str) -> Vec<CouponCode> {
    let raw = raw.trim();
    let code = |s: &str| CouponCode::new(&s.to_ascii_uppercase()).ok();
    if let Some(payload) = raw.strip_prefix("coupon:") {
        return code(payload).into_iter().collect();
    }
    if raw.contains(['%', ';', '^', '=', '?']) {
        return card_from_magstripe(raw)
            .ok()
            .and_then(|n| code(n.as_str()))
            .into_iter()
            .collect();
    }
    let digits = raw.bytes().all(|b| b.is_ascii_digit());
    let ean13 = |s: &str| s.len() == 13 && CheckDigit::Ean13.holds(s);
    let mut found: Vec<CouponCode> = code(raw).into_iter().collect();
    if digits && ean13(raw) {
        found.extend(code(&raw[..12]));
    }
    if digits && raw.len() == 12 && ean13(&format!("0{raw}")) {
        found.extend(code(&format!("0{}", &raw[..11])));
    }
    found
}

fn note(text: String) -> Message {
    Message {
        to: MessageTo::Cashier,
        text,
    }
}

/// The coupons shown with a cheque that may be used (at most one per series), and a note
/// for the cashier on each of the others. `existing` is the purchase being continued: the
/// uses it already counts are its own.
pub(crate) fn coupons_shown(
    view: &impl StateView,
    cheque: &Cheque,
    who: Option<&(Card, Account)>,
    existing: Option<&Purchase>,
) -> (Vec<Coupon>, Vec<Message>) {
    let mut good: Vec<Coupon> = Vec::new();
    let mut notes = Vec::new();
    for raw in &cheque.coupons {
        let shown: String = raw.chars().take(CouponCode::BYTES_MAX).collect();
        let why = (|| {
            let codes = coupon_codes(raw);
            if codes.is_empty() {
                return Err("not a coupon code");
            }
            let c = codes
                .iter()
                .find_map(|code| view.coupon(code))
                .ok_or("unknown coupon")?;
            let code = c.code.clone();
            let series = view
                .coupon_series(c.series)
                .unwrap_or_else(|| panic!("corrupt: coupon {code} of unknown series"));
            let own_use = u32::from(existing.is_some_and(|p| p.coupons.contains(&code)));
            match who {
                _ if c.revoked => Err("withdrawn"),
                None => Err("needs the customer's card"),
                Some((_, a)) if c.account.is_some_and(|owner| owner != a.id) => {
                    Err("belongs to another customer")
                }
                _ if cheque.local_time >= c.expires => Err("expired"),
                _ if series.uses > 0 && c.used - own_use >= series.uses => Err("already used"),
                _ if good.iter().any(|g| g.code == c.code) => Err("shown twice"),
                _ if good.iter().any(|g| g.series == c.series) => {
                    Err("one coupon of a series per cheque")
                }
                _ => Ok(c),
            }
        })();
        match why {
            Ok(c) => good.push(c),
            Err(why) => notes.push(note(format!("coupon {shown}: {why}"))),
        }
    }
    (good, notes)
}

/// A cheque priced for the till: the lines and perks, the coupons it uses (those an
/// applied offer asked for), and notes for the cashier.
pub(crate) struct Quote {
    pub(crate) priced: Priced,
    pub(crate) used: Vec<CouponCode>,
    pub(crate) notes: Vec<Message>,
}

/// What a cheque is priced with.
pub(crate) struct Terms<'a> {
    pub(crate) cashbox: &'a Cashbox,
    pub(crate) who: Option<&'a (Card, Account)>,
    /// The purchase this cheque continues (a hold being registered).
    pub(crate) existing: Option<&'a Purchase>,
    /// Direct discounts allowed (not offline).
    pub(crate) discounts: bool,
    /// Coupons considered (not offline: the till could not check them).
    pub(crate) coupons: bool,
}

pub(crate) fn quote(
    view: &impl StateView,
    program: &Program,
    cheque: &Cheque,
    paid: Points,
    terms: &Terms<'_>,
) -> Quote {
    let (good, mut notes) = if terms.coupons {
        coupons_shown(view, cheque, terms.who, terms.existing)
    } else {
        (Vec::new(), Vec::new())
    };
    let series: Vec<CouponSeriesId> = good.iter().map(|c| c.series).collect();
    let budgets = crate::budget::room(
        view,
        &view.offers(),
        terms.who.map(|(_, a)| a.id),
        cheque.local_time.date(),
        terms.existing,
    );
    let stamps = crate::budget::stamps(
        view,
        &view.offers(),
        terms.who.map(|(_, a)| a.id),
        terms.existing,
    );
    let grants = Grants {
        discounts: terms.discounts,
        accrual: terms.who.is_some(),
        favourites: terms.who.map_or(&[], |(_, a)| a.favourites.as_slice()),
        occasion: Occasion {
            at: cheque.local_time,
            store: terms.cashbox.store,
            card_type: terms
                .who
                .map(|(c, a)| a.tier.as_deref().unwrap_or(&c.card_type)),
            card_status: terms.who.map(|(c, _)| c.status),
            coupons: &series,
        },
        promised: None,
        budgets: &budgets,
        stamps: &stamps,
    };
    let priced = price(view, program, cheque, paid, grants);
    let used = if good.is_empty() {
        Vec::new()
    } else {
        let applied: BTreeSet<OfferId> = priced
            .lines
            .iter()
            .flat_map(|l| l.offers.iter().copied())
            .chain(priced.perks.iter().map(|p| match p {
                Perk::Coupon { offer, .. }
                | Perk::Message { offer, .. }
                | Perk::Gift { offer, .. } => *offer,
            }))
            .collect();
        let wanted: Vec<CouponSeriesId> = view
            .offers()
            .iter()
            .filter(|o| applied.contains(&o.id))
            .filter_map(|o| o.when.coupon)
            .collect();
        let (used, idle): (Vec<Coupon>, Vec<Coupon>) =
            good.into_iter().partition(|c| wanted.contains(&c.series));
        notes.extend(
            idle.iter()
                .map(|c| note(format!("coupon {}: no offer for this cheque", c.code))),
        );
        used.into_iter().map(|c| c.code).collect()
    };
    Quote {
        priced,
        used,
        notes,
    }
}

/// What a customer without a card would earn on this cheque as a new member: the accrual
/// of the offers open to an activated card of no particular type (no favourites, no
/// coupons). Computed for the enrolment prompt; credited nowhere.
pub(crate) fn potential_accrual(
    view: &impl StateView,
    program: &Program,
    cheque: &Cheque,
    cashbox: &Cashbox,
) -> Points {
    let grants = Grants {
        discounts: true,
        accrual: true,
        favourites: &[],
        occasion: Occasion {
            at: cheque.local_time,
            store: cashbox.store,
            card_type: None,
            card_status: Some(CardStatus::Activated),
            coupons: &[],
        },
        promised: None,
        // A prompt, not a promise: the offers as if unlimited, and no stamps.
        budgets: &[],
        stamps: &[],
    };
    price(view, program, cheque, Points::ZERO, grants)
        .lines
        .iter()
        .fold(Points::ZERO, |s, l| s.plus(l.accrual))
}

/// Twelve digits from a hash: the form of every coupon code the engine makes up.
fn twelve_digits(h: Sha256) -> CouponCode {
    let h = h.finalize();
    let v = u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % 1_000_000_000_000;
    CouponCode::new(&format!("{v:012}")).expect("digits make a coupon code")
}

/// The codes of coupons an administrator has the engine make up for an operation: derived
/// from the operation id, so that a resent request issues the same codes (and gets the
/// original answer).
pub fn generated_codes(op: OpId, count: u32) -> Vec<CouponCode> {
    (0..count)
        .map(|i| {
            twelve_digits(
                Sha256::new()
                    .chain_update(b"loyalty issued coupon\n")
                    .chain_update(op.0.to_be_bytes())
                    .chain_update(i.to_be_bytes()),
            )
        })
        .collect()
}

/// The code of the coupon an offer issues with a purchase: twelve digits derived from the
/// purchase and the offer (so a resend derives the same), skipping codes already taken.
fn issued_code(
    view: &impl StateView,
    key: &PurchaseKey,
    offer: OfferId,
    taken: &[CouponCode],
) -> CouponCode {
    (0u32..)
        .map(|n| {
            twelve_digits(
                Sha256::new()
                    .chain_update(b"loyalty coupon\n")
                    .chain_update(key.cashbox.0.to_be_bytes())
                    .chain_update(key.cheque.as_str())
                    .chain_update(offer.0.to_be_bytes())
                    .chain_update(n.to_be_bytes()),
            )
        })
        .find(|c| view.coupon(c).is_none() && !taken.contains(c))
        .expect("some code is free")
}

/// What the perks of a priced cheque become: rendered messages, and — when `issue`, for a
/// registered purchase of a customer — the coupons issued with it and their events.
#[derive(Default)]
pub(crate) struct PerksOut {
    pub(crate) messages: Vec<Message>,
    pub(crate) issued: Vec<IssuedCoupon>,
    pub(crate) events: Vec<Event>,
    pub(crate) gifts: Vec<GiftItem>,
}

/// The customer's points once the purchase these totals describe is confirmed: its points
/// paid off, the spendable part of its accrual on — less what of it pays back debt first —
/// and the pending part pending.
pub(crate) fn balance_after(a: &Account, t: &Totals) -> After {
    let active = t.accrual.minus(t.pending_accrual);
    let recovered = a.debt.min(active);
    After {
        balance: a.balance.minus(t.paid).plus(active).minus(recovered),
        pending: a.pending.plus(t.pending_accrual),
    }
}

/// Renders offer messages (`{balance}`, `{pending}`: the customer's points after the
/// purchase); a message that tells them is left out without a customer.
pub(crate) fn rendered(messages: &[Message], t: &Totals, after: Option<After>) -> Vec<Message> {
    messages
        .iter()
        .filter(|m| {
            after.is_some() || !(m.text.contains("{balance}") || m.text.contains("{pending}"))
        })
        .map(|m| Message {
            to: m.to,
            text: render(&m.text, t, after),
        })
        .collect()
}

/// The offers' message templates among the perks.
pub(crate) fn message_templates(perks: &[Perk]) -> Vec<Message> {
    perks
        .iter()
        .filter_map(|p| match p {
            Perk::Message { to, template, .. } => Some(Message {
                to: *to,
                text: template.clone(),
            }),
            Perk::Coupon { .. } | Perk::Gift { .. } => None,
        })
        .collect()
}

/// What the perks of a priced cheque become; `customer` is whom it is for (their balance
/// after it fills `{balance}`).
pub(crate) fn perks(
    view: &impl StateView,
    perks: &[Perk],
    t: &Totals,
    customer: Option<&Account>,
    issue: Option<(&PurchaseKey, AccountId, chrono::NaiveDateTime)>,
) -> PerksOut {
    let mut out = PerksOut {
        messages: rendered(
            &message_templates(perks),
            t,
            customer.map(|a| balance_after(a, t)),
        ),
        issued: Vec::new(),
        events: Vec::new(),
        gifts: Vec::new(),
    };
    for p in perks {
        match p {
            Perk::Message { .. } => {}
            Perk::Gift {
                offer,
                product,
                qty,
            } => {
                let name = view.product(product).map_or_else(String::new, |p| p.name);
                // Whole units as a count, goods by weight as weighed.
                let n = match qty.0 % 1000 {
                    0 => (qty.0 / 1000).to_string(),
                    _ => qty.to_string(),
                };
                out.messages.push(Message {
                    to: MessageTo::Cashier,
                    text: format!("gift: add {n} × {} at no charge", name_or(&name, product)),
                });
                out.gifts.push(GiftItem {
                    offer: *offer,
                    product: product.clone(),
                    name,
                    qty: *qty,
                });
            }
            Perk::Coupon { offer, series } => {
                let Some(series) = view.coupon_series(*series) else {
                    continue;
                };
                let Some((key, account, at)) = issue else {
                    out.messages.push(note(format!(
                        "the purchase earns a coupon: {}",
                        series.name
                    )));
                    continue;
                };
                let taken: Vec<CouponCode> = out.issued.iter().map(|c| c.code.clone()).collect();
                let code = issued_code(view, key, *offer, &taken);
                let expires = at
                    .checked_add_signed(chrono::Duration::days(i64::from(series.valid_days)))
                    .unwrap_or(chrono::NaiveDateTime::MAX);
                out.issued.push(IssuedCoupon {
                    code: code.clone(),
                    series: series.id,
                    name: series.name.clone(),
                    expires,
                });
                out.events.push(Event::CouponIssued {
                    coupon: Coupon {
                        code,
                        series: series.id,
                        account: Some(account),
                        expires,
                        used: 0,
                        issued_by: Some(key.clone()),
                        revoked: false,
                    },
                });
            }
        }
    }
    out
}

/// An order being bought out: the order, and the cheque priced as it promised (its
/// discounts, its points, accrual by the offers open now).
pub(crate) fn pickup_price(
    view: &impl StateView,
    program: &Program,
    cheque: &Cheque,
    order: &Order,
    cashbox: &Cashbox,
    who: &(Card, Account),
) -> Priced {
    let promised: Vec<crate::amount::Money> = order.lines.iter().map(|l| l.discount).collect();
    let budgets = crate::budget::room(
        view,
        &view.offers(),
        Some(who.1.id),
        cheque.local_time.date(),
        None,
    );
    let grants = Grants {
        discounts: false,
        accrual: true,
        favourites: &who.1.favourites,
        occasion: Occasion {
            at: cheque.local_time,
            store: cashbox.store,
            card_type: Some(who.1.tier.as_deref().unwrap_or(&who.0.card_type)),
            card_status: Some(who.0.status),
            coupons: &[],
        },
        promised: Some(&promised),
        budgets: &budgets,
        stamps: &[],
    };
    price(view, program, cheque, order.points, grants)
}

/// A product's name, or its code when the catalogue has none.
fn name_or<'a>(name: &'a str, code: &'a ProductCode) -> &'a str {
    if name.is_empty() {
        code.as_str()
    } else {
        name
    }
}
