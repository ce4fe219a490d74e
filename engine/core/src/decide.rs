//! Decisions. `execute` is the one entry point for commands that change state:
//! idempotency first, then `decide` (reads only), then `apply` of each event, then the
//! operation record. Read-only queries (`calculate`, `balance`, `operation_status`) decide
//! against the same view and change nothing.

use crate::amount::{prorate, Money, Points};
use crate::apply::apply;
use crate::checkout::{perks, pickup_price, quote, PerksOut, Quote, Terms};
use crate::command::*;
use crate::event::Event;
use crate::ids::*;
use crate::model::*;
use crate::outcome::*;
use crate::pricing::{cap_sum, totals};
use crate::state::{StateStore, StateView};

/// What `execute` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub reply: Reply,
    pub events: Vec<Event>,
    /// The answer is the stored original (same operation id and content seen before).
    pub replayed: bool,
}

type Decided = Result<(Vec<Event>, Reply), Rejection>;

/// A refusal on its way to becoming an answer: small, so that `?` stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: Code,
    pub detail: String,
}

impl From<Rejection> for Reply {
    fn from(r: Rejection) -> Reply {
        Reply::rejected(r.code, r.detail)
    }
}

pub(crate) fn reject(code: Code, detail: impl Into<String>) -> Rejection {
    Rejection {
        code,
        detail: detail.into(),
    }
}

/// Executes a state-changing command: the whole path of one operation.
pub fn execute(
    state: &mut impl StateStore,
    program: &Program,
    req: &Request,
    now: UnixMillis,
) -> Executed {
    execute_fingerprinted(state, program, req, req.fingerprint(), now)
}

/// [`execute`] with the request's fingerprint (`Request::fingerprint`) computed beforehand,
/// so that the one thread that decides does not spend its time hashing.
pub fn execute_fingerprinted(
    state: &mut impl StateStore,
    program: &Program,
    req: &Request,
    fingerprint: [u8; 32],
    now: UnixMillis,
) -> Executed {
    if let Some(rec) = state.operation(req.op) {
        let reply = if rec.fingerprint == fingerprint {
            rec.reply
        } else {
            Reply::rejected(
                Code::OperationConflict,
                format!("operation {} was recorded with other content", req.op),
            )
        };
        return Executed {
            reply,
            events: Vec::new(),
            replayed: true,
        };
    }
    let (events, mut reply) = match decide(state, program, req, now) {
        Ok(d) => d,
        Err(r) => (Vec::new(), r.into()),
    };
    for e in &events {
        apply(state, e);
    }
    reply.events = events.len() as u32;
    if let Some(h) = &reply.holder {
        reply.balance = state.account(h.account).as_ref().map(BalanceInfo::from);
    }
    let record = OperationRecord {
        op: req.op,
        actor: req.actor,
        fingerprint,
        at: now,
        reply,
    };
    state.put_operation(&record);
    Executed {
        reply: record.reply,
        events,
        replayed: false,
    }
}

/// The pure decision: the events a command produces and its answer, or a rejection.
pub fn decide(view: &impl StateView, program: &Program, req: &Request, now: UnixMillis) -> Decided {
    match (&req.actor, &req.command) {
        (Actor::Cashbox(id), cmd) if is_cash_command(cmd) => {
            let cashbox = active_cashbox(view, *id)?;
            decide_cash(view, program, &cashbox, cmd, now)
        }
        (Actor::Cashbox(id), cmd) if is_till_customer_command(cmd) => {
            active_cashbox(view, *id)?;
            if let Command::IssueCard {
                status, account, ..
            } = cmd
            {
                if *status != CardStatus::Issued || account.is_some() {
                    return Err(reject(
                        Code::Forbidden,
                        "a till issues new cards only: status Issued, new account",
                    ));
                }
            }
            decide_admin(view, program, cmd, now)
        }
        (Actor::Admin(_), cmd) if !is_cash_command(cmd) => decide_admin(view, program, cmd, now),
        (Actor::System, Command::ExpireHolds) => expire(view, program, now),
        _ => Err(reject(Code::Forbidden, "")),
    }
}

fn is_cash_command(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::PayWithBonus { .. }
            | Command::RegisterPurchase { .. }
            | Command::Confirm { .. }
            | Command::Cancel { .. }
            | Command::Refund { .. }
            | Command::ImportOfflinePurchase { .. }
    )
}

/// Customer service a till may do as well as an administrator.
fn is_till_customer_command(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::IssueCard { .. }
            | Command::RegisterCustomer { .. }
            | Command::ReplaceCard { .. }
            | Command::SetCardPin { .. }
            | Command::ChooseFavourites { .. }
    )
}

fn active_cashbox(view: &impl StateView, id: CashboxId) -> Result<Cashbox, Rejection> {
    let c = view
        .cashbox(id)
        .ok_or_else(|| reject(Code::CashboxUnknown, format!("cashbox {}", id.0)))?;
    if !c.enabled {
        return Err(reject(Code::CashboxDisabled, format!("cashbox {}", id.0)));
    }
    Ok(c)
}

/// Blocked and replaced cards identify nobody.
fn usable(card: &Card) -> Result<(), Rejection> {
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
struct Found {
    card: Card,
    account: Account,
    opened: Vec<Event>,
}

fn find_card(view: &impl StateView, number: &CardNo) -> Result<Found, Rejection> {
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
    };
    let account = Account {
        id,
        status: AccountStatus::Active,
        balance: Points::ZERO,
        held: Points::ZERO,
        name: String::new(),
        phone: String::new(),
        consent: false,
        favourites: Vec::new(),
    };
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

/// Resolves a card for a purchase. Blocked and replaced cards and blocked accounts are
/// refused outright.
fn identify(view: &impl StateView, number: &CardNo) -> Result<Found, Rejection> {
    let found = find_card(view, number)?;
    usable(&found.card)?;
    if found.account.status == AccountStatus::Blocked {
        return Err(reject(Code::AccountBlocked, number.masked()));
    }
    Ok(found)
}

fn holder(card: &Card, account: &Account) -> Holder {
    Holder {
        account: account.id,
        name: account.name.clone(),
        card_type: card.card_type.clone(),
        masked_card: card.number.masked(),
        card_status: card.status,
        favourites: account.favourites.clone(),
    }
}

/// An offer must be well-formed: a window, fixed amounts above zero, scopes that name
/// something, a daily window that is not empty, and coupon series that exist.
fn check_offer(view: &impl StateView, offer: &Offer) -> Result<(), Rejection> {
    let bad = |why: &str| Err(reject(Code::OfferInvalid, why));
    if offer.valid_from >= offer.valid_to {
        return bad("valid_from must precede valid_to");
    }
    match &offer.effect {
        OfferEffect::Discount(Rate::PerLine(x) | Rate::Total(x))
        | OfferEffect::Accrual(Rate::PerLine(x) | Rate::Total(x))
            if *x <= 0 || *x > crate::amount::AMOUNT_MINOR_MAX =>
        {
            return bad("a fixed amount must be positive");
        }
        OfferEffect::Message { template, .. } if template.trim().is_empty() => {
            return bad("a message needs its text");
        }
        OfferEffect::Message { template, .. } if template.len() > 500 => {
            return bad("a message is at most 500 bytes");
        }
        _ => {}
    }
    match &offer.scope {
        OfferScope::Groups(v) if v.is_empty() => return bad("no groups"),
        OfferScope::Products(v) if v.is_empty() => return bad("no products"),
        _ => {}
    }
    let w = &offer.when;
    if w.weekdays > 0x7f {
        return bad("weekdays are bits 0 (Monday) to 6 (Sunday)");
    }
    if w.hours.is_some_and(|(from, to)| from == to) {
        return bad("the daily window is empty");
    }
    if w.min_total.0 < 0 || w.min_qty.0 < 0 {
        return bad("minimums may not be negative");
    }
    let series = [
        w.coupon,
        match offer.effect {
            OfferEffect::IssueCoupon(s) => Some(s),
            _ => None,
        },
    ];
    if let Some(s) = series
        .into_iter()
        .flatten()
        .find(|s| view.coupon_series(*s).is_none())
    {
        return Err(reject(Code::CouponSeriesUnknown, format!("series {}", s.0)));
    }
    Ok(())
}

fn check_lines(program: &Program, cheque: &Cheque) -> Result<(), Rejection> {
    if cheque.lines.is_empty() {
        return Err(reject(Code::EmptyCheque, cheque.cheque.as_str()));
    }
    if cheque.lines.len() > program.lines_per_cheque_max {
        return Err(reject(
            Code::TooManyLines,
            format!("{} > {}", cheque.lines.len(), program.lines_per_cheque_max),
        ));
    }
    for (i, l) in cheque.lines.iter().enumerate() {
        let amount = crate::amount::line_amount(l.price.0, l.qty).ok_or_else(|| {
            reject(
                Code::AmountInvalid,
                format!("line {i}: price × quantity above the largest amount"),
            )
        })?;
        if l.local_discount.0 < 0 || l.local_discount.0 > amount {
            return Err(reject(
                Code::AmountInvalid,
                format!("line {i}: the till's discount exceeds the line"),
            ));
        }
    }
    Ok(())
}

/// At the till, online: discounts, and accrual when a customer is known.
fn online<'a>(
    cashbox: &'a Cashbox,
    who: Option<&'a (Card, Account)>,
    existing: Option<&'a Purchase>,
) -> Terms<'a> {
    Terms {
        cashbox,
        who,
        existing,
        discounts: true,
        coupons: true,
    }
}

fn spendable_if_redeemable(card: &Card, account: &Account) -> Option<Points> {
    card.status.may_redeem().then(|| account.spendable())
}

/// Tenders, when given, must add up to the money left to pay.
fn check_tenders(cheque: &Cheque, t: &Totals) -> Result<(), Rejection> {
    if cheque.tenders.is_empty() {
        return Ok(());
    }
    let due = t.amount.minus(t.discount).minus(Money(t.paid.0));
    let tendered = cheque
        .tenders
        .iter()
        .fold(Money::ZERO, |s, x| s.plus(x.amount));
    if tendered != due {
        return Err(reject(
            Code::AmountInvalid,
            format!("tenders add up to {tendered}, {due} is left to pay"),
        ));
    }
    Ok(())
}

/// A card with a PIN pays with points only with the right PIN (compared in constant time).
fn check_pin(program: &Program, card: &Card, presented: Option<&Pin>) -> Result<(), Rejection> {
    match (&card.pin_hash, presented) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(reject(Code::PinRequired, card.number.masked())),
        (Some(want), Some(pin)) => {
            let got = pin.hash(&program.pin_key, &card.number);
            let diff = want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                Ok(())
            } else {
                Err(reject(Code::PinInvalid, card.number.masked()))
            }
        }
    }
}

/// Who the cheque's identifiers name; whether the way they were presented may redeem points
/// under the identifier policy; and the events that open a card first seen in a range.
struct Identified {
    who: Option<(Card, Account)>,
    redeems: bool,
    opened: Vec<Event>,
}

/// The purchase a state-changing command is for: a QR code it uses is recorded against it.
type ForPurchase<'a> = Option<&'a PurchaseKey>;

/// Resolves the identifiers of a cheque: a card of any kind beats a phone; then the card as
/// [`identify`] does, and a QR code is checked (and, for a purchase, recorded).
fn identify_cheque(
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
        let current = crate::qr::window(now);
        let older = (2..=20).any(|k| crate::qr::code(&secret, &card.number, current - k) == code);
        return Err(reject(
            if older {
                Code::QrExpired
            } else {
                Code::QrInvalid
            },
            masked,
        ));
    };
    let Some(purchase) = purchase else {
        return Ok(None);
    };
    match &card.qr_used {
        Some((w, p)) if *w >= window && p == purchase => Ok(None),
        Some((w, _)) if *w >= window => Err(reject(Code::QrReplayed, masked)),
        _ => Ok(Some(Event::QrCodeUsed {
            card: card.number.clone(),
            account: found.account.id,
            window,
            purchase: purchase.clone(),
        })),
    }
}

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
            .map(|n| Some((n, IdKind::Phone, None)))
            .ok_or_else(|| reject(Code::PhoneUnknown, ph.masked())),
    }
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

/// The preview of a cheque: discounts, accrual, the most points payable and the balance.
/// Always answers for a cheque without a card too.
pub fn calculate(
    view: &impl StateView,
    program: &Program,
    cashbox: CashboxId,
    cheque: &Cheque,
    now: UnixMillis,
) -> Reply {
    let run = || -> Result<Reply, Rejection> {
        let cashbox = active_cashbox(view, cashbox)?;
        check_lines(program, cheque)?;
        if let Some(number) = &cheque.order {
            let (order, who, _) = order_for(view, now, None, cheque, number)?;
            let lines = pickup_price(view, program, cheque, &order, &cashbox, &who).lines;
            return Ok(Reply {
                totals: Some(totals(&lines, None)),
                lines,
                holder: Some(holder(&who.0, &who.1)),
                balance: Some(BalanceInfo::from(&who.1)),
                order_status: Some(order.status),
                ..Reply::ok()
            });
        }
        let Identified { who, redeems, .. } =
            identify_cheque(view, now, None, cheque.card.as_ref(), &cheque.presented)?;
        let q = quote(
            view,
            program,
            cheque,
            Points::ZERO,
            &online(&cashbox, who.as_ref(), None),
        );
        let spendable = who
            .as_ref()
            .filter(|_| redeems)
            .and_then(|(c, a)| spendable_if_redeemable(c, a));
        let t = totals(&q.priced.lines, spendable);
        let balance = who.as_ref().map(|(_, a)| a.balance);
        let out = perks(view, &q.priced.perks, &t, balance, None);
        Ok(Reply {
            totals: Some(t),
            lines: q.priced.lines,
            holder: who.as_ref().map(|(c, a)| holder(c, a)),
            balance: who.as_ref().map(|(_, a)| BalanceInfo::from(a)),
            messages: [q.notes, out.messages].concat(),
            coupons_used: q.used,
            ..Reply::ok()
        })
    };
    run().unwrap_or_else(Reply::from)
}

/// An e-commerce order as the till rings it up: its lines priced as promised (with the
/// accrual of the offers open at `local_time`), the customer, and its status.
pub fn fetch_order(
    view: &impl StateView,
    program: &Program,
    cashbox: CashboxId,
    number: &OrderNo,
    local_time: chrono::NaiveDateTime,
    now: UnixMillis,
) -> Reply {
    let Some(order) = view.order(number) else {
        return Reply::rejected(Code::OrderUnknown, number.as_str());
    };
    let cheque = Cheque {
        cheque: ChequeId::new(number.as_str()).expect("an order number is a cheque id"),
        card: None,
        presented: Vec::new(),
        pin: None,
        tenders: Vec::new(),
        local_time,
        lines: order
            .lines
            .iter()
            .map(|l| Line {
                product: l.product.clone(),
                qty: l.qty,
                price: l.price,
                local_discount: Money::ZERO,
            })
            .collect(),
        cashier: None,
        coupons: Vec::new(),
        order: Some(number.clone()),
    };
    let mut reply = calculate(view, program, cashbox, &cheque, now);
    if reply.code == Code::OrderWrongState {
        reply.order_status = Some(order.status);
    }
    reply
}

/// The balance behind a card, or behind any identifier of its account.
pub fn balance(
    view: &impl StateView,
    cashbox: CashboxId,
    card: Option<&CardNo>,
    presented: &[Presented],
    now: UnixMillis,
) -> Reply {
    let run = || -> Result<Reply, Rejection> {
        active_cashbox(view, cashbox)?;
        let (c, a) = identify_cheque(view, now, None, card, presented)?
            .who
            .ok_or_else(|| reject(Code::CardRequired, "no identifier"))?;
        Ok(Reply {
            holder: Some(holder(&c, &a)),
            balance: Some(BalanceInfo::from(&a)),
            ..Reply::ok()
        })
    };
    run().unwrap_or_else(Reply::from)
}

/// The original answer of an earlier operation of this cashbox, or `None` if the engine
/// never recorded it (the till should resend it with the same id).
pub fn operation_status(view: &impl StateView, actor: Actor, op: OpId) -> Option<OperationRecord> {
    view.operation(op)
        .filter(|rec| rec.actor == actor || matches!(actor, Actor::Admin(_)))
}

fn purchase_key(cashbox: &Cashbox, cheque: &ChequeId) -> PurchaseKey {
    PurchaseKey {
        cashbox: cashbox.id,
        cheque: cheque.clone(),
    }
}

/// A purchase recorded from a quoted cheque, and the answer that shows it. `times` are
/// the purchase's expiry and creation.
#[allow(clippy::too_many_arguments)]
fn recorded(
    key: PurchaseKey,
    who: Option<&(Card, Account)>,
    status: PurchaseStatus,
    cheque: &Cheque,
    q: Quote,
    out: PerksOut,
    t: Totals,
    (expires_at, created_at): (UnixMillis, UnixMillis),
) -> (Purchase, Reply) {
    let purchase = Purchase {
        key,
        cashier: cheque.cashier.clone(),
        tenders: cheque.tenders.clone(),
        account: who.map(|(_, a)| a.id),
        card: who.map(|(c, _)| c.number.clone()),
        status,
        local_time: cheque.local_time,
        paid: t.paid,
        accrual: t.accrual,
        lines: q.priced.lines.clone(),
        expires_at,
        created_at,
        coupons: q.used.clone(),
        issued: out.issued.iter().map(|c| c.code.clone()).collect(),
        order: cheque.order.clone(),
        refunds: Vec::new(),
        refunded_money: Money::ZERO,
        points_returned: Points::ZERO,
        accrual_reversed: Points::ZERO,
    };
    let reply = Reply {
        holder: who.map(|(c, a)| holder(c, a)),
        lines: q.priced.lines,
        totals: Some(t),
        purchase_status: Some(status),
        messages: [q.notes, out.messages].concat(),
        coupons_issued: out.issued,
        coupons_used: q.used,
        ..Reply::ok()
    };
    (purchase, reply)
}

/// The points a cancelled or expired purchase releases: its hold, unless the hold came
/// from an order, which gets it back.
fn released(p: &Purchase) -> Points {
    if p.order.is_some() {
        Points::ZERO
    } else {
        p.paid
    }
}

/// The card that now stands for the account of `number`: the card itself, or the last of
/// the cards that replaced it.
fn current_card(view: &impl StateView, number: &CardNo) -> CardNo {
    let mut current = number.clone();
    while let Some(next) = view.card(&current).and_then(|c| c.replaced_by) {
        current = next;
    }
    current
}

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
type OrderFor = (Order, (Card, Account), Vec<Event>);

/// The open order a cheque buys out and its customer: the cheque's identifiers, if any,
/// must name the order's account; without them the order's card is the customer's.
fn order_for(
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
        Some(w) if w.1.id != order.account => return Err(reject(Code::CardMismatch, "")),
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
fn decide_pickup(
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
    let mut out = perks(
        view,
        &priced.perks,
        &t,
        Some(who.1.balance),
        Some((&key, who.1.id, cheque.local_time)),
    );
    let issued = std::mem::take(&mut out.events);
    let q = Quote {
        priced,
        used: Vec::new(),
        notes: Vec::new(),
    };
    let (purchase, reply) = recorded(
        key.clone(),
        Some(&who),
        PurchaseStatus::Registered,
        cheque,
        q,
        out,
        t,
        (now.plus_secs(program.hold_lifetime_secs), now),
    );
    events.push(Event::OrderPickedUp {
        order: number.clone(),
        account: who.1.id,
        purchase: key,
    });
    events.push(Event::PurchaseRegistered { purchase });
    events.extend(issued);
    Ok((events, reply))
}

fn decide_cash(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cmd: &Command,
    now: UnixMillis,
) -> Decided {
    match cmd {
        Command::PayWithBonus { cheque, points } => {
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
            } = identify_cheque(
                view,
                now,
                Some(&key),
                cheque.card.as_ref(),
                &cheque.presented,
            )?;
            let (card, account) = who.ok_or_else(|| reject(Code::CardRequired, ""))?;
            if !redeems {
                return Err(reject(Code::RedeemNotAllowed, card.number.masked()));
            }
            check_pin(program, &card, cheque.pin.as_ref())?;
            if !card.status.may_redeem() {
                return Err(reject(Code::CardNotActivated, card.number.masked()));
            }
            if let Some(p) = view.purchase(&key) {
                return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
            }
            if *points > account.spendable() {
                return Err(reject(
                    Code::InsufficientPoints,
                    format!("{} > {}", points, account.spendable()),
                ));
            }
            let who = (card, account);
            let terms = online(cashbox, Some(&who), None);
            let cap = cap_sum(
                &quote(view, program, cheque, Points::ZERO, &terms)
                    .priced
                    .lines,
            );
            if *points > cap {
                return Err(reject(
                    Code::RedeemLimitExceeded,
                    format!("{points} > {cap}"),
                ));
            }
            let q = quote(view, program, cheque, *points, &terms);
            let t = totals(&q.priced.lines, Some(who.1.spendable().minus(*points)));
            let out = perks(view, &q.priced.perks, &t, Some(who.1.balance), None);
            let expires_at = now.plus_secs(program.hold_lifetime_secs);
            let (purchase, reply) = recorded(
                key,
                Some(&who),
                PurchaseStatus::Held,
                cheque,
                q,
                out,
                t,
                (expires_at, now),
            );
            opened.push(Event::BonusHeld { purchase });
            Ok((opened, reply))
        }
        Command::RegisterPurchase { cheque } => {
            check_lines(program, cheque)?;
            let key = purchase_key(cashbox, &cheque.cheque);
            if let Some(number) = &cheque.order {
                return decide_pickup(view, program, cashbox, cheque, number, key, now);
            }
            let existing = view.purchase(&key);
            let (paid, expires_at, created_at) = match &existing {
                None => (Points::ZERO, now.plus_secs(program.hold_lifetime_secs), now),
                Some(p) if p.status == PurchaseStatus::Held => {
                    if now >= p.expires_at {
                        return Err(reject(Code::HoldExpired, cheque.cheque.as_str()));
                    }
                    (p.paid, p.expires_at, p.created_at)
                }
                Some(p) => return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status))),
            };
            let Identified {
                who,
                redeems,
                mut opened,
            } = identify_cheque(
                view,
                now,
                Some(&key),
                cheque.card.as_ref(),
                &cheque.presented,
            )?;
            // Any card of the account may go on with the purchase (a replaced card's
            // successor, too); another account may not.
            if existing
                .as_ref()
                .is_some_and(|p| p.account != who.as_ref().map(|(_, a)| a.id))
            {
                return Err(reject(Code::CardMismatch, ""));
            }
            let terms = online(cashbox, who.as_ref(), existing.as_ref());
            if paid.0 > 0 {
                let cap = cap_sum(
                    &quote(view, program, cheque, Points::ZERO, &terms)
                        .priced
                        .lines,
                );
                if paid > cap {
                    return Err(reject(Code::RedeemLimitExceeded, format!("{paid} > {cap}")));
                }
            }
            let q = quote(view, program, cheque, paid, &terms);
            let spendable = who
                .as_ref()
                .filter(|_| redeems)
                .and_then(|(c, a)| spendable_if_redeemable(c, a));
            let t = totals(&q.priced.lines, spendable);
            check_tenders(cheque, &t)?;
            let issue = who.as_ref().map(|(_, a)| (&key, a.id, cheque.local_time));
            let balance = who.as_ref().map(|(_, a)| a.balance);
            let mut out = perks(view, &q.priced.perks, &t, balance, issue);
            let issued = std::mem::take(&mut out.events);
            let (purchase, reply) = recorded(
                key,
                who.as_ref(),
                PurchaseStatus::Registered,
                cheque,
                q,
                out,
                t,
                (expires_at, created_at),
            );
            opened.push(Event::PurchaseRegistered { purchase });
            opened.extend(issued);
            Ok((opened, reply))
        }
        Command::Confirm { cheque } => {
            let p = pending(view, cashbox, cheque, now)?;
            if p.status != PurchaseStatus::Registered {
                return Err(reject(
                    Code::PurchaseWrongState,
                    "register the cheque before confirming",
                ));
            }
            let event = Event::PurchaseConfirmed {
                purchase: p.key.clone(),
                account: p.account,
                points_debited: p.paid,
                points_credited: p.accrual,
            };
            Ok((
                vec![event],
                purchase_reply(view, &p, PurchaseStatus::Confirmed),
            ))
        }
        Command::Cancel { cheque } => {
            let p = pending(view, cashbox, cheque, UnixMillis(i64::MIN))?;
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
        Command::Refund {
            refund,
            purchase,
            lines,
        } => decide_refund(view, cashbox, refund, purchase, lines),
        Command::ImportOfflinePurchase {
            cheque,
            points_paid,
            local_discount,
        } => decide_offline(
            view,
            program,
            cashbox,
            cheque,
            *points_paid,
            *local_discount,
            now,
        ),
        _ => unreachable!("not a cash command"),
    }
}

/// A pending purchase of this cashbox; expired if its lifetime ended before `now`.
fn pending(
    view: &impl StateView,
    cashbox: &Cashbox,
    cheque: &ChequeId,
    now: UnixMillis,
) -> Result<Purchase, Rejection> {
    let p = view
        .purchase(&purchase_key(cashbox, cheque))
        .ok_or_else(|| reject(Code::PurchaseUnknown, cheque.as_str()))?;
    if !p.status.is_pending() {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    if now >= p.expires_at {
        return Err(reject(Code::HoldExpired, cheque.as_str()));
    }
    Ok(p)
}

fn purchase_reply(view: &impl StateView, p: &Purchase, status: PurchaseStatus) -> Reply {
    let card = p.card.as_ref().and_then(|c| view.card(c));
    let account = p.account.and_then(|a| view.account(a));
    Reply {
        holder: card.zip(account).map(|(c, a)| holder(&c, &a)),
        totals: Some(totals(&p.lines, None)),
        lines: p.lines.clone(),
        purchase_status: Some(status),
        ..Reply::ok()
    }
}

fn decide_refund(
    view: &impl StateView,
    cashbox: &Cashbox,
    refund: &ChequeId,
    purchase: &ChequeId,
    lines: &[RefundLine],
) -> Decided {
    if cashbox.kind == CashboxKind::SelfCheckout {
        return Err(reject(Code::RefundAtKiosk, ""));
    }
    let p = view
        .purchase(&purchase_key(cashbox, purchase))
        .ok_or_else(|| reject(Code::PurchaseUnknown, purchase.as_str()))?;
    if p.status != PurchaseStatus::Confirmed {
        return Err(reject(Code::PurchaseWrongState, format!("{:?}", p.status)));
    }
    if p.refunds.contains(refund) {
        return Err(reject(Code::RefundExists, refund.as_str()));
    }
    if lines.is_empty() {
        return Err(reject(Code::EmptyCheque, refund.as_str()));
    }
    // Aggregate per line so that a line named twice is checked as one.
    let mut asked = std::collections::BTreeMap::<u32, i64>::new();
    for l in lines {
        if l.qty.0 <= 0 {
            return Err(reject(Code::AmountInvalid, format!("line {}", l.index)));
        }
        if l.index as usize >= p.lines.len() {
            return Err(reject(Code::RefundLineUnknown, format!("line {}", l.index)));
        }
        *asked.entry(l.index).or_default() += l.qty.0;
    }
    let (mut money, mut paid, mut accrual) = (0i64, 0i64, 0i64);
    for (&i, &q) in &asked {
        let line = &p.lines[i as usize];
        let (before, total) = (line.refunded_qty.0, line.line.qty.0);
        if before + q > total {
            return Err(reject(
                Code::RefundExceedsPurchase,
                format!(
                    "line {i}: {} of {} left",
                    crate::amount::Qty(total - before),
                    line.line.qty
                ),
            ));
        }
        let part = |whole: i64| prorate(whole, before + q, total) - prorate(whole, before, total);
        money += part(line.net().0);
        paid += part(line.paid.0);
        accrual += part(line.accrual.0);
    }
    let account = p.account.and_then(|a| view.account(a));
    let available = account.as_ref().map_or(0, |a| a.spendable().0 + paid);
    let reversed = accrual.min(available.max(0));
    let summary = RefundSummary {
        money_returned: Money(money),
        points_returned: Points(paid),
        accrual_reversed: Points(reversed),
        accrual_unrecovered: Points(accrual - reversed),
    };
    let event = Event::RefundRecorded {
        purchase: p.key.clone(),
        refund: refund.clone(),
        account: p.account,
        lines: asked
            .iter()
            .map(|(&index, &q)| RefundLine {
                index,
                qty: crate::amount::Qty(q),
            })
            .collect(),
        money_returned: summary.money_returned,
        points_returned: summary.points_returned,
        accrual_reversed: summary.accrual_reversed,
        accrual_unrecovered: summary.accrual_unrecovered,
    };
    let reply = Reply {
        refund: Some(summary),
        ..purchase_reply(view, &p, PurchaseStatus::Confirmed)
    };
    Ok((vec![event], reply))
}

/// An offline cheque: refused whole if it claims points or discounts; otherwise recorded
/// as confirmed with the accrual of the offers valid at its local time.
fn decide_offline(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cheque: &Cheque,
    points_paid: Points,
    local_discount: Money,
    now: UnixMillis,
) -> Decided {
    check_lines(program, cheque)?;
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
    } = identify_cheque(
        view,
        now,
        Some(&key),
        cheque.card.as_ref(),
        &cheque.presented,
    )?;
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
    let q = quote(view, program, cheque, Points::ZERO, &terms);
    let t = totals(&q.priced.lines, None);
    check_tenders(cheque, &t)?;
    // Nor messages: nobody reads the screen of an upload.
    let out = PerksOut {
        messages: Vec::new(),
        issued: Vec::new(),
        events: Vec::new(),
    };
    let (purchase, reply) = recorded(
        key,
        who.as_ref(),
        PurchaseStatus::Confirmed,
        cheque,
        q,
        out,
        t,
        (now, now),
    );
    opened.push(Event::PurchaseImported { purchase });
    Ok((opened, reply))
}

/// The sweep: purchases whose lifetime ended release their holds, then open orders whose
/// lifetime ended release their points; at most `expire_batch_max` of both together.
fn expire(view: &impl StateView, program: &Program, now: UnixMillis) -> Decided {
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

/// Administration, and the customer service a till may also do.
fn decide_admin(
    view: &impl StateView,
    program: &Program,
    cmd: &Command,
    now: UnixMillis,
) -> Decided {
    let one = |e: Event| Ok((vec![e], Reply::ok()));
    match cmd {
        Command::RegisterCashbox {
            id,
            store,
            kind,
            secret_sha256,
            public_key,
        } => {
            if view.cashbox(*id).is_some() {
                return Err(reject(Code::CashboxExists, format!("cashbox {}", id.0)));
            }
            one(Event::CashboxRegistered {
                cashbox: Cashbox {
                    id: *id,
                    store: *store,
                    kind: *kind,
                    enabled: true,
                    secret_sha256: *secret_sha256,
                    public_key: *public_key,
                },
            })
        }
        Command::SetCashboxKey { id, public_key } => {
            let cashbox = view
                .cashbox(*id)
                .ok_or_else(|| reject(Code::CashboxUnknown, format!("cashbox {}", id.0)))?;
            if cashbox.public_key == *public_key {
                return Ok((Vec::new(), Reply::ok()));
            }
            one(Event::CashboxKeySet {
                cashbox: *id,
                public_key: *public_key,
            })
        }
        Command::AdjustPoints {
            card,
            delta,
            reason,
        } => {
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
            let mut after = account.clone();
            after.balance = account
                .balance
                .checked_add(*delta)
                .filter(|b| b.0 <= crate::amount::AMOUNT_MINOR_MAX)
                .ok_or_else(|| reject(Code::AmountInvalid, "balance would exceed the maximum"))?;
            Ok((
                vec![Event::PointsAdjusted {
                    account: account.id,
                    card: card.clone(),
                    delta: *delta,
                    reason: reason.clone(),
                }],
                Reply {
                    holder: Some(holder(&found, &account)),
                    balance: Some(BalanceInfo::from(&after)),
                    ..Reply::ok()
                },
            ))
        }
        Command::SetCashboxEnabled { id, enabled } => {
            view.cashbox(*id)
                .ok_or_else(|| reject(Code::CashboxUnknown, format!("cashbox {}", id.0)))?;
            one(Event::CashboxEnabledChanged {
                cashbox: *id,
                enabled: *enabled,
            })
        }
        Command::ImportProducts { products } => {
            if products.is_empty() {
                return Err(reject(Code::ProductInvalid, "no products"));
            }
            let events = products
                .iter()
                .map(|p| Event::ProductUpserted { product: p.clone() })
                .collect();
            Ok((events, Reply::ok()))
        }
        Command::UpsertOffer { offer } => {
            check_offer(view, offer)?;
            one(Event::OfferUpserted {
                offer: offer.clone().normalized(),
            })
        }
        Command::SetCouponSeries { series } => one(Event::CouponSeriesSet {
            series: series.clone(),
        }),
        Command::IssueCoupons {
            series,
            codes,
            card,
            expires,
        } => {
            if view.coupon_series(*series).is_none() {
                return Err(reject(
                    Code::CouponSeriesUnknown,
                    format!("series {}", series.0),
                ));
            }
            // Bound to a customer: a card the engine knows (not one merely in a range).
            let account = match card {
                Some(n) => Some(
                    view.card(n)
                        .ok_or_else(|| reject(Code::CardUnknown, n.masked()))?
                        .account,
                ),
                None => None,
            };
            let mut seen = std::collections::BTreeSet::new();
            for code in codes {
                if view.coupon(code).is_some() || !seen.insert(code) {
                    return Err(reject(Code::CouponExists, code.as_str()));
                }
            }
            let events: Vec<Event> = codes
                .iter()
                .map(|code| Event::CouponIssued {
                    coupon: Coupon {
                        code: code.clone(),
                        series: *series,
                        account,
                        expires: *expires,
                        used: 0,
                        issued_by: None,
                        revoked: false,
                    },
                })
                .collect();
            Ok((events, Reply::ok()))
        }
        Command::CreateOrder {
            number,
            card,
            lines,
            points,
        } => {
            if view.order(number).is_some() {
                return Err(reject(Code::OrderExists, number.as_str()));
            }
            if lines.is_empty() || lines.len() > program.lines_per_cheque_max {
                return Err(reject(Code::EmptyCheque, "an order needs 1 to 500 lines"));
            }
            let mut net = 0;
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
                net += amount - l.discount.0;
            }
            if points.0 < 0 || points.0 > net {
                return Err(reject(
                    Code::RedeemLimitExceeded,
                    format!("{points} points for {} to pay", Money(net)),
                ));
            }
            let found = identify(view, card)?;
            if points.0 > 0 && !found.card.status.may_redeem() {
                return Err(reject(Code::CardNotActivated, card.masked()));
            }
            if *points > found.account.spendable() {
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
                    lines: lines.clone(),
                    points: *points,
                    status: OrderStatus::Open,
                    purchase: None,
                    expires_at: now.plus_secs(program.order_lifetime_secs),
                },
            });
            Ok((events, Reply::ok()))
        }
        Command::CancelOrder { number } => {
            let order = open_order(view, number)?;
            one(Event::OrderCancelled {
                order: number.clone(),
                account: order.account,
                points_released: order.points,
            })
        }
        Command::IssueCard {
            number,
            card_type,
            status,
            account,
            holder_name,
            holder_phone,
        } => {
            if view.card(number).is_some() {
                return Err(reject(Code::CardExists, number.masked()));
            }
            if *status == CardStatus::Blocked {
                return Err(reject(Code::CardStatusInvalid, ""));
            }
            let mut events = Vec::new();
            let account = match account {
                Some(a) => {
                    view.account(*a)
                        .ok_or_else(|| reject(Code::AccountUnknown, format!("account {}", a.0)))?;
                    *a
                }
                None => {
                    let id = AccountId(view.accounts_opened() + 1);
                    events.push(Event::AccountOpened {
                        account: id,
                        name: holder_name.clone(),
                        phone: holder_phone.clone(),
                    });
                    id
                }
            };
            events.push(Event::CardIssued {
                card: Card {
                    number: number.clone(),
                    account,
                    status: *status,
                    card_type: card_type.clone(),
                    replaced_by: None,
                    pin_hash: None,
                    qr_secret: None,
                    qr_used: None,
                },
            });
            Ok((events, Reply::ok()))
        }
        Command::RegisterCustomer {
            card,
            name,
            phone,
            consent,
        } => {
            let Found {
                card: found,
                account,
                mut opened,
            } = find_card(view, card)?;
            usable(&found)?;
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
            after.name = name.clone();
            let mut activated = found.clone();
            activated.status = CardStatus::Activated;
            opened.extend([
                Event::CustomerRegistered {
                    account: account.id,
                    card: card.clone(),
                    name: name.clone(),
                    phone: phone.clone(),
                    consent: *consent,
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
        Command::ReplaceCard { old, new } => {
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
                pin_hash: None,
                qr_secret: None,
                qr_used: None,
            };
            opened.push(Event::CardReplaced {
                account: account.id,
                old: old.clone(),
                new: new.clone(),
                status,
                card_type: found.card_type.clone(),
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
        Command::SetAccountBlocked { card, blocked } => {
            let Found {
                account,
                mut opened,
                ..
            } = find_card(view, card)?;
            if (account.status == AccountStatus::Blocked) != *blocked {
                opened.push(Event::AccountBlockedChanged {
                    account: account.id,
                    blocked: *blocked,
                });
            }
            Ok((opened, Reply::ok()))
        }
        Command::ChooseFavourites { card, products } => {
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
        Command::IssueQrSecret { card, secret } => {
            let Found {
                card: found,
                account,
                mut opened,
            } = find_card(view, card)?;
            usable(&found)?;
            opened.push(Event::CardQrSecretSet {
                card: card.clone(),
                account: account.id,
                secret: *secret,
            });
            Ok((opened, Reply::ok()))
        }
        Command::SetCardPin { card, pin } => {
            let pin_hash = pin.as_ref().map(|p| p.hash(&program.pin_key, card));
            let Found {
                card: found,
                account,
                mut opened,
            } = find_card(view, card)?;
            usable(&found)?;
            if found.pin_hash != pin_hash {
                opened.push(Event::CardPinSet {
                    card: card.clone(),
                    account: account.id,
                    pin_hash,
                });
            }
            Ok((opened, Reply::ok()))
        }
        Command::SetCardRange { range, active } => one(Event::CardRangeSet {
            range: range.clone(),
            active: *active,
        }),
        Command::SetIdentifierPolicy { policy } => one(Event::IdentifierPolicySet {
            policy: policy.clone(),
        }),
        Command::ActivateCard { number } | Command::BlockCard { number } => {
            let card = view
                .card(number)
                .ok_or_else(|| reject(Code::CardUnknown, number.masked()))?;
            let activate = matches!(cmd, Command::ActivateCard { .. });
            if card.status == CardStatus::Replaced {
                usable(&card)?;
            }
            if activate && card.status == CardStatus::Blocked {
                return Err(reject(Code::CardBlocked, number.masked()));
            }
            let target = if activate {
                CardStatus::Activated
            } else {
                CardStatus::Blocked
            };
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
        Command::ExpireHolds => Ok((Vec::new(), Reply::ok())),
        _ => Err(reject(Code::Forbidden, "")),
    }
}
