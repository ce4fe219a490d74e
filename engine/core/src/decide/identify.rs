//! Who a command is for: the cashbox that sends it, the card and account its identifiers
//! name (a card of any kind beats a phone; `Auto` works the kind out; a QR code is checked
//! and, for a purchase, recorded), and whether the way they were presented may redeem.

use super::{reject, Rejection};
use crate::command::{Cheque, Presented};
use crate::event::Event;
use crate::ids::*;
use crate::model::*;
use crate::outcome::{Code, Holder};
use crate::state::StateView;

pub(super) fn active_cashbox(view: &impl StateView, id: CashboxId) -> Result<Cashbox, Rejection> {
    let c = view
        .cashbox(id)
        .ok_or_else(|| reject(Code::CashboxUnknown, format!("cashbox {}", id.0)))?;
    if !c.enabled {
        return Err(reject(Code::CashboxDisabled, format!("cashbox {}", id.0)));
    }
    Ok(c)
}

/// Blocked and replaced cards identify nobody.
pub(super) fn usable(card: &Card) -> Result<(), Rejection> {
    match card.status {
        CardStatus::Blocked => Err(reject(Code::CardBlocked, card.number.masked())),
        CardStatus::Replaced => Err(reject(
            Code::CardReplaced,
            format!(
                "{} by {}",
                card.number.masked(),
                card.replaced_by
                    .as_ref()
                    .map(CardNo::masked)
                    .unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// A card, its account, and the events that open them when the card is new to the engine
/// but in a configured range: then it is a Prepared card of the range's type on a new
/// account, created by the command that first uses it.
pub(super) struct Found {
    pub card: Card,
    pub account: Account,
    pub opened: Vec<Event>,
}

pub(super) fn find_card(view: &impl StateView, number: &CardNo) -> Result<Found, Rejection> {
    if let Some(card) = view.card(number) {
        let account = view
            .account(card.account)
            .unwrap_or_else(|| panic!("corrupt: card {} without account", number.masked()));
        return Ok(Found {
            card,
            account,
            opened: Vec::new(),
        });
    }
    let range = view
        .card_ranges()
        .into_iter()
        .find(|r| r.matches(number))
        .ok_or_else(|| reject(Code::CardUnknown, number.masked()))?;
    let id = AccountId(view.accounts_opened() + 1);
    let card = Card {
        number: number.clone(),
        account: id,
        status: CardStatus::Prepared,
        card_type: range.card_type,
        replaced_by: None,
        pin_hash: None,
        qr_secret: None,
        qr_used: None,
        pin_failures: 0,
        pin_locked_until: None,
        pin_locks: 0,
        pin_of: None,
    };
    let account = Account::opened(id, String::new(), String::new());
    Ok(Found {
        opened: vec![
            Event::AccountOpened {
                account: id,
                name: String::new(),
                phone: String::new(),
            },
            Event::CardIssued { card: card.clone() },
        ],
        card,
        account,
    })
}

/// A card and its account, refused when the card is blocked or replaced.
pub(super) fn find_usable_card(view: &impl StateView, number: &CardNo) -> Result<Found, Rejection> {
    let found = find_card(view, number)?;
    usable(&found.card)?;
    Ok(found)
}

/// Resolves a card for a purchase. Blocked and replaced cards and blocked accounts are
/// refused outright.
pub(super) fn identify(view: &impl StateView, number: &CardNo) -> Result<Found, Rejection> {
    let found = find_usable_card(view, number)?;
    if found.account.status == AccountStatus::Blocked {
        return Err(reject(Code::AccountBlocked, number.masked()));
    }
    Ok(found)
}

/// What the answer says of the customer.
pub(super) fn holder(card: &Card, account: &Account) -> Holder {
    Holder {
        account: account.id,
        name: account.name.clone(),
        card_type: card.card_type.clone(),
        masked_card: card.number.masked(),
        card_status: card.status,
        favourites: account.favourites.clone(),
        tier: account.tier.clone(),
    }
}

/// A card with a PIN pays with points only with the right PIN (compared in constant time).
/// Guessing is stopped: after `pin_attempts_max` wrong PINs in a row the card's PIN is
/// locked for `pin_lock_secs`, each further lock before a right PIN twice as long (at most
/// a day); while locked no PIN is tried. Every wrong PIN is an event (`PinFailed`), so it
/// counts even though the command is refused; a right PIN after failures clears them.
pub(super) fn check_pin(
    program: &Program,
    card: &Card,
    account: AccountId,
    presented: Option<&Pin>,
    now: UnixMillis,
) -> PinCheck {
    let masked = card.number.masked();
    let Some(want) = &card.pin_hash else {
        return PinCheck::Pass(Vec::new());
    };
    if let Some(until) = card.pin_locked_until.filter(|&u| now < u) {
        let minutes = (until.0 - now.0 + 59_999) / 60_000;
        return PinCheck::Refused(
            Vec::new(),
            reject(
                Code::PinLocked,
                format!("{masked}: try again in {minutes} min"),
            ),
        );
    }
    let Some(pin) = presented else {
        return PinCheck::Refused(Vec::new(), reject(Code::PinRequired, masked));
    };
    let keyed_to = card.pin_of.as_ref().unwrap_or(&card.number);
    let got = pin.hash(&program.pin_key, keyed_to);
    let diff = want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff == 0 {
        let clear = card.pin_failures > 0 || card.pin_locks > 0;
        return PinCheck::Pass(if clear {
            vec![Event::PinAccepted {
                card: card.number.clone(),
                account,
            }]
        } else {
            Vec::new()
        });
    }
    let failures = card.pin_failures + 1;
    let (event, refusal) = if failures >= program.pin_attempts_max.max(1) {
        let locks = card.pin_locks + 1;
        let secs = program
            .pin_lock_secs
            .saturating_mul(1 << (locks - 1).min(16))
            .min(PIN_LOCK_SECS_MAX);
        let until = now.plus_secs(secs);
        let event = Event::PinFailed {
            card: card.number.clone(),
            account,
            failures: 0,
            locked_until: Some(until),
            locks,
        };
        let why = format!(
            "{masked}: {failures} wrong PINs; locked for {} min",
            secs / 60
        );
        (event, reject(Code::PinLocked, why))
    } else {
        let event = Event::PinFailed {
            card: card.number.clone(),
            account,
            failures,
            locked_until: None,
            locks: card.pin_locks,
        };
        let left = program.pin_attempts_max - failures;
        let why = format!("{masked}: {left} tries left before the PIN is locked");
        (event, reject(Code::PinInvalid, why))
    };
    PinCheck::Refused(vec![event], refusal)
}

/// The longest PIN lock: a day.
const PIN_LOCK_SECS_MAX: u64 = 24 * 3600;

/// What checking a PIN leaves: the events to record (a failure, or the clearing of earlier
/// ones) and, when refused, why — the refusal is then the answer, committed with its
/// events.
pub(super) enum PinCheck {
    Pass(Vec<Event>),
    Refused(Vec<Event>, Rejection),
}

/// Who the cheque's identifiers name; whether the way they were presented may redeem points
/// under the identifier policy; and the events that open a card first seen in a range.
pub(super) struct Identified {
    pub who: Option<(Card, Account)>,
    pub redeems: bool,
    pub opened: Vec<Event>,
}

/// The purchase a state-changing command is for: a QR code it uses is recorded against it.
pub(super) type ForPurchase<'a> = Option<&'a PurchaseKey>;

/// Resolves the identifiers of a cheque: a card of any kind beats a phone; then the card as
/// [`identify`] does, and a QR code is checked (and, for a purchase, recorded).
pub(super) fn identify_cheque(
    view: &impl StateView,
    now: UnixMillis,
    purchase: ForPurchase<'_>,
    card: Option<&CardNo>,
    presented: &[Presented],
) -> Result<Identified, Rejection> {
    let Some((number, via, qr_code)) = resolve(view, card, presented)? else {
        return Ok(Identified {
            who: None,
            redeems: false,
            opened: Vec::new(),
        });
    };
    let mut found = identify(view, &number)?;
    if let Some(code) = qr_code {
        if let Some(used) = check_qr(&found, code, now, purchase)? {
            found.opened.push(used);
        }
    }
    Ok(Identified {
        who: Some((found.card, found.account)),
        redeems: view.identifier_policy().redeem_via.contains(&via),
        opened: found.opened,
    })
}

/// The identifiers of the cheque a state-changing command records under `key`, resolved
/// as [`identify_cheque`] does.
pub(super) fn identify_purchase(
    view: &impl StateView,
    now: UnixMillis,
    key: &PurchaseKey,
    cheque: &Cheque,
) -> Result<Identified, Rejection> {
    identify_cheque(
        view,
        now,
        Some(key),
        cheque.card.as_ref(),
        &cheque.presented,
    )
}

/// A QR code must be the card's code of this window or the one before; a purchase may use
/// it, and no other purchase after that. Returns the event that records a first use.
fn check_qr(
    found: &Found,
    code: u32,
    now: UnixMillis,
    purchase: ForPurchase<'_>,
) -> Result<Option<Event>, Rejection> {
    let card = &found.card;
    let masked = card.number.masked();
    let secret = card
        .qr_secret
        .ok_or_else(|| reject(Code::QrInvalid, masked.clone()))?;
    let Some(window) = crate::qr::verify(&secret, &card.number, code, now) else {
        return Err(if crate::qr::expired(&secret, &card.number, code, now) {
            reject(
                Code::QrExpired,
                format!("{masked}: the code has expired; show the current one"),
            )
        } else {
            reject(Code::QrInvalid, masked)
        });
    };
    let Some(purchase) = purchase else {
        return Ok(None);
    };
    match &card.qr_used {
        Some((w, p)) if *w >= window && p == purchase => Ok(None),
        // A newer code was used: this one can no longer be (no code is taken twice, and
        // none older than the last one taken).
        Some((w, _)) if *w > window => Err(reject(
            Code::QrExpired,
            format!("{masked}: a newer code of this card is already used; show the current one"),
        )),
        Some((w, _)) if *w == window => Err(reject(Code::QrReplayed, masked)),
        _ => Ok(Some(Event::QrCodeUsed {
            card: card.number.clone(),
            account: found.account.id,
            window,
            purchase: purchase.clone(),
        })),
    }
}

/// The card the identifiers name, how it was presented, and a QR code to check.
fn resolve(
    view: &impl StateView,
    card: Option<&CardNo>,
    presented: &[Presented],
) -> Result<Option<(CardNo, IdKind, Option<u32>)>, Rejection> {
    if let Some(n) = card {
        return Ok(Some((n.clone(), IdKind::Barcode, None)));
    }
    let mut phone = None;
    for p in presented {
        let found = match p {
            Presented::Auto(value) => auto(view, value)?,
            other => other.clone(),
        };
        match found {
            Presented::Card { number, via } => return Ok(Some((number, via, None))),
            Presented::Qr { number, code } => return Ok(Some((number, IdKind::Qr, Some(code)))),
            Presented::Phone(ph) => {
                phone.get_or_insert(ph);
            }
            Presented::Auto(_) => unreachable!("auto resolves to a card or a phone"),
        }
    }
    match phone {
        None => Ok(None),
        Some(ph) => view
            .phone_card(&ph)
            .map(|n| Some((account_card_for_phone(view, n), IdKind::Phone, None)))
            .ok_or_else(|| reject(Code::PhoneUnknown, ph.masked())),
    }
}

/// A phone identifies the account: when the card it was registered with is blocked, the
/// account's activated card answers for it (any other card of the account otherwise); with
/// none, the blocked card, which is then refused as blocked. A blocked account stays
/// blocked whichever card is used.
fn account_card_for_phone(view: &impl StateView, registered: CardNo) -> CardNo {
    let Some(card) = view.card(&registered) else {
        return registered;
    };
    if card.status != CardStatus::Blocked {
        return registered;
    }
    let usable: Vec<Card> = view
        .account_cards(card.account)
        .iter()
        .filter_map(|n| view.card(n))
        .filter(|c| !matches!(c.status, CardStatus::Blocked | CardStatus::Replaced))
        .collect();
    usable
        .iter()
        .find(|c| c.status == CardStatus::Activated)
        .or(usable.first())
        .map_or(registered, |c| c.number.clone())
}

/// What an `Auto` value is: magnetic stripe data, a QR payload, a known card, a registered
/// phone, or else a card number or a phone by form.
fn auto(view: &impl StateView, value: &str) -> Result<Presented, Rejection> {
    if let Some((number, code)) = crate::qr::parse(value) {
        return Ok(Presented::Qr { number, code });
    }
    if value.contains(['%', ';', '^', '=']) {
        return card_from_magstripe(value)
            .map(|number| Presented::Card {
                number,
                via: IdKind::MagStripe,
            })
            .map_err(|e| reject(Code::IdentifierInvalid, e.to_string()));
    }
    let as_card = CardNo::new(value).ok();
    let as_phone = Phone::parse(value).ok();
    let card = |number: CardNo| Presented::Card {
        number,
        via: IdKind::Barcode,
    };
    if let Some(n) = as_card.clone().filter(|n| view.card(n).is_some()) {
        return Ok(card(n));
    }
    if let Some(p) = as_phone.clone().filter(|p| view.phone_card(p).is_some()) {
        return Ok(Presented::Phone(p));
    }
    match (as_card, as_phone) {
        (Some(n), _) => Ok(card(n)),
        (None, Some(p)) => Ok(Presented::Phone(p)),
        (None, None) => Err(reject(Code::IdentifierInvalid, "")),
    }
}

/// The card that now stands for the account of `number`: the card itself, or the last of
/// the cards that replaced it.
pub(super) fn current_card(view: &impl StateView, number: &CardNo) -> CardNo {
    let mut current = number.clone();
    while let Some(next) = view.card(&current).and_then(|c| c.replaced_by) {
        current = next;
    }
    current
}
