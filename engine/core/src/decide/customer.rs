//! Customer service, at a till or by an administrator: cards issued, customers registered,
//! cards replaced, activated and blocked, accounts blocked, PINs and QR secrets set,
//! favourite goods chosen, and manual points adjustments.

use super::identify::{
    check_pin, find_card, find_usable_card, holder, identify, usable, Found, PinCheck,
};
use super::{one, reject, Decided};
use crate::amount::Points;
use crate::event::Event;
use crate::ids::*;
use crate::model::*;
use crate::outcome::{BalanceInfo, Code, Reply};
use crate::state::StateView;

/// A manual correction of a card's account balance, with its reason. A debit may not take
/// points that are held or do not exist.
pub(super) fn adjust_points(
    view: &impl StateView,
    program: &Program,
    card: &CardNo,
    delta: Points,
    reason: &str,
    now: UnixMillis,
) -> Decided {
    if delta.0 == 0 {
        return Err(reject(Code::AmountInvalid, "delta"));
    }
    let found = view
        .card(card)
        .ok_or_else(|| reject(Code::CardUnknown, card.masked()))?;
    let account = view
        .account(found.account)
        .unwrap_or_else(|| panic!("corrupt: card {} without account", card.masked()));
    if delta.0 < 0 && Points(-delta.0) > account.spendable() {
        return Err(reject(
            Code::InsufficientPoints,
            format!("{} > {}", Points(-delta.0), account.spendable()),
        ));
    }
    account
        .balance
        .plus(account.pending)
        .checked_add(delta)
        .filter(|b| b.0 <= crate::amount::AMOUNT_MINOR_MAX)
        .ok_or_else(|| reject(Code::AmountInvalid, "balance would exceed the maximum"))?;
    // A credit is a lot of its own, active at once with the programme's lifetime; a debit
    // takes lots earliest expiry first.
    let (lots, taken) = if delta.0 > 0 {
        let terms = LotTerms {
            pending_secs: 0,
            ..program.lots
        };
        let lot = terms.credit(&account, LotSource::Adjustment, delta, now, now);
        (vec![lot], Vec::new())
    } else {
        (Vec::new(), account.take(Points(-delta.0)))
    };
    let mut after = account.clone();
    if delta.0 > 0 {
        after.credit(&lots, delta);
    } else {
        after.debit(&taken, Points(-delta.0));
    }
    let event = Event::PointsAdjusted {
        account: account.id,
        card: card.clone(),
        delta,
        reason: reason.to_owned(),
        lots,
        taken,
    };
    Ok((
        vec![event],
        Reply {
            holder: Some(holder(&found, &account)),
            balance: Some(BalanceInfo::from(&after)),
            ..Reply::ok()
        },
    ))
}

/// A new card, on a new account (with the holder's name and phone) unless one is given.
pub(super) fn issue_card(
    view: &impl StateView,
    number: &CardNo,
    card_type: &str,
    status: CardStatus,
    account: Option<AccountId>,
    (holder_name, holder_phone): (&str, &str),
) -> Decided {
    if view.card(number).is_some() {
        return Err(reject(Code::CardExists, number.masked()));
    }
    if status == CardStatus::Blocked {
        return Err(reject(Code::CardStatusInvalid, ""));
    }
    let mut events = Vec::new();
    let account = match account {
        Some(a) => {
            view.account(a)
                .ok_or_else(|| reject(Code::AccountUnknown, format!("account {}", a.0)))?;
            a
        }
        None => {
            let id = AccountId(view.accounts_opened() + 1);
            events.push(Event::AccountOpened {
                account: id,
                name: holder_name.to_owned(),
                phone: holder_phone.to_owned(),
            });
            id
        }
    };
    events.push(Event::CardIssued {
        card: Card {
            number: number.clone(),
            account,
            status,
            card_type: card_type.to_owned(),
            replaced_by: None,
            pin_hash: None,
            qr_secret: None,
            qr_used: None,
            pin_failures: 0,
            pin_locked_until: None,
            pin_locks: 0,
            pin_of: None,
        },
    });
    Ok((events, Reply::ok()))
}

/// The customer of an issued or prepared card registers; the card becomes Activated.
pub(super) fn register(
    view: &impl StateView,
    card: &CardNo,
    (name, phone): (&str, &str),
    consent: bool,
    birth_date: Option<chrono::NaiveDate>,
) -> Decided {
    let Found {
        card: found,
        account,
        mut opened,
    } = find_usable_card(view, card)?;
    if account.status == AccountStatus::Blocked {
        return Err(reject(Code::AccountBlocked, card.masked()));
    }
    if !matches!(found.status, CardStatus::Prepared | CardStatus::Issued) {
        return Err(reject(
            Code::CardStatusInvalid,
            format!("{} is already registered", card.masked()),
        ));
    }
    if let Ok(p) = Phone::parse(phone) {
        let holder_of = view.phone_card(&p).and_then(|c| view.card(&c));
        if holder_of.is_some_and(|c| c.account != account.id) {
            return Err(reject(Code::PhoneExists, p.masked()));
        }
    }
    let mut after = account.clone();
    after.name = name.to_owned();
    let mut activated = found.clone();
    activated.status = CardStatus::Activated;
    opened.extend([
        Event::CustomerRegistered {
            account: account.id,
            card: card.clone(),
            name: name.to_owned(),
            phone: phone.to_owned(),
            consent,
            birth_date,
        },
        Event::CardActivated {
            card: card.clone(),
            account: account.id,
        },
    ]);
    Ok((
        opened,
        Reply {
            holder: Some(holder(&activated, &after)),
            balance: Some(BalanceInfo::from(&after)),
            ..Reply::ok()
        },
    ))
}

/// A new card takes over the old card's account; the old card becomes Replaced.
pub(super) fn replace_card(view: &impl StateView, old: &CardNo, new: &CardNo) -> Decided {
    let Found {
        card: found,
        account,
        mut opened,
    } = find_card(view, old)?;
    if found.status == CardStatus::Replaced {
        usable(&found)?;
    }
    if view.card(new).is_some() {
        return Err(reject(Code::CardExists, new.masked()));
    }
    // A lost card is usually blocked first; its successor is active again.
    let status = match found.status {
        CardStatus::Blocked => CardStatus::Activated,
        s => s,
    };
    let successor = Card {
        number: new.clone(),
        account: account.id,
        status,
        card_type: found.card_type.clone(),
        replaced_by: None,
        pin_hash: found.pin_hash,
        qr_secret: None,
        qr_used: None,
        pin_failures: 0,
        pin_locked_until: None,
        pin_locks: 0,
        pin_of: found
            .pin_hash
            .map(|_| found.pin_of.clone().unwrap_or_else(|| found.number.clone())),
    };
    opened.push(Event::CardReplaced {
        account: account.id,
        old: old.clone(),
        new: new.clone(),
        status,
        card_type: found.card_type.clone(),
        pin_hash: successor.pin_hash,
        pin_of: successor.pin_of.clone(),
    });
    Ok((
        opened,
        Reply {
            holder: Some(holder(&successor, &account)),
            balance: Some(BalanceInfo::from(&account)),
            ..Reply::ok()
        },
    ))
}

/// Blocks or unblocks the account behind a card (all its cards with it).
pub(super) fn set_account_blocked(view: &impl StateView, card: &CardNo, blocked: bool) -> Decided {
    let Found {
        account,
        mut opened,
        ..
    } = find_card(view, card)?;
    if (account.status == AccountStatus::Blocked) != blocked {
        opened.push(Event::AccountBlockedChanged {
            account: account.id,
            blocked,
        });
    }
    Ok((opened, Reply::ok()))
}

/// The customer's favourite goods, replacing the earlier choice.
pub(super) fn choose_favourites(
    view: &impl StateView,
    card: &CardNo,
    products: &[ProductCode],
) -> Decided {
    let mut found = identify(view, card)?;
    if let Some(unknown) = products.iter().find(|p| view.product(p).is_none()) {
        return Err(reject(Code::ProductInvalid, unknown.as_str()));
    }
    // Barcodes are stored as the products' codes.
    let mut chosen: Vec<ProductCode> = Vec::new();
    for p in products.iter().filter_map(|p| view.product(p)) {
        if !chosen.contains(&p.code) {
            chosen.push(p.code);
        }
    }
    if found.account.favourites != chosen {
        found.opened.push(Event::FavouritesChosen {
            account: found.account.id,
            products: chosen.clone(),
        });
    }
    found.account.favourites = chosen;
    Ok((
        found.opened,
        Reply {
            holder: Some(holder(&found.card, &found.account)),
            balance: Some(BalanceInfo::from(&found.account)),
            ..Reply::ok()
        },
    ))
}

/// A (new) secret for a card's dynamic QR codes.
pub(super) fn issue_qr_secret(view: &impl StateView, card: &CardNo, secret: [u8; 32]) -> Decided {
    let Found {
        account,
        mut opened,
        ..
    } = find_usable_card(view, card)?;
    opened.push(Event::CardQrSecretSet {
        card: card.clone(),
        account: account.id,
        secret,
    });
    Ok((opened, Reply::ok()))
}

/// Sets or (with `None`) clears a card's PIN.
/// Sets, changes or clears a card's PIN. A till changing or clearing an existing PIN gives
/// the current one (`old`: `Some` for a till), checked as any PIN is — a wrong one counts
/// towards the lock; an administrator need not.
pub(super) fn set_card_pin(
    view: &impl StateView,
    program: &Program,
    card: &CardNo,
    pin: Option<&Pin>,
    old: Option<Option<&Pin>>,
    now: UnixMillis,
) -> Decided {
    let pin_hash = pin.map(|p| p.hash(&program.pin_key, card));
    let Found {
        card: found,
        account,
        mut opened,
    } = find_usable_card(view, card)?;
    if let Some(old) = old {
        match check_pin(program, &found, account.id, old, now) {
            PinCheck::Pass(events) => opened.extend(events),
            PinCheck::Refused(events, why) => return Ok((events, why.into())),
        }
    }
    if found.pin_hash != pin_hash || found.pin_of.is_some() {
        opened.push(Event::CardPinSet {
            card: card.clone(),
            account: account.id,
            pin_hash,
        });
    }
    Ok((opened, Reply::ok()))
}

/// Activates or blocks a card (`target` is Activated or Blocked). A blocked card is not
/// activated again: it is replaced.
pub(super) fn set_card_status(
    view: &impl StateView,
    number: &CardNo,
    target: CardStatus,
) -> Decided {
    let card = view
        .card(number)
        .ok_or_else(|| reject(Code::CardUnknown, number.masked()))?;
    let activate = target == CardStatus::Activated;
    if card.status == CardStatus::Replaced {
        usable(&card)?;
    }
    if activate && card.status == CardStatus::Blocked {
        return Err(reject(Code::CardBlocked, number.masked()));
    }
    if card.status == target {
        return Ok((Vec::new(), Reply::ok()));
    }
    let (card, account) = (number.clone(), card.account);
    let event = if activate {
        Event::CardActivated { card, account }
    } else {
        Event::CardBlocked { card, account }
    };
    one(event)
}
