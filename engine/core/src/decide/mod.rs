//! Decisions. `execute` is the one entry point for commands that change state:
//! idempotency first, then `decide` (reads only), then `apply` of each event, then the
//! operation record. Read-only queries ([`calculate`], [`fetch_order`], [`balance`],
//! [`operation_status`]) decide against the same view and change nothing.
//!
//! One module per command family, one function per command:
//! - `identify`: cashboxes, cards, identifiers (card beats phone, `Auto`, QR codes, PINs);
//! - `cheque`: the shared step that prices a cheque for a customer, and the purchase
//!   record made from it — every command that prices a cheque prices it once, here;
//! - `queries`: the read-only answers;
//! - `purchase`: pay with bonus, register, confirm, cancel;
//! - `orders`: e-commerce orders, created, cancelled and picked up;
//! - `refund`, `offline`, `expiry`: refunds, offline uploads, the hold sweep;
//! - `customer`: customer service a till may do as well as an administrator (cards,
//!   registration, PINs, favourites) and an administrator's points adjustment;
//! - `admin`: cashboxes, the catalogue, offers, coupons, card ranges, the policy;
//! - `bonus`: event bonuses (welcome, first purchase, birthday), set by an administrator
//!   and granted after the events that earn them;
//! - `tiers`: status levels, reached at once by spend and reviewed at the period's end;
//! - `certificate`: gift certificates issued or sold, the checks of a cheque paying with
//!   them and a refund's part that goes back onto them.
//!
//! Nothing here reads a clock or writes: `now` comes in, events and an answer go out.

mod admin;
mod bonus;
mod certificate;
mod cheque;
mod customer;
mod expiry;
mod identify;
mod offline;
mod orders;
mod purchase;
mod queries;
mod refund;
mod tiers;

pub use bonus::{birthday_in, BIRTHDAY_WINDOW_DAYS_MAX};
pub use certificate::{certificate_status, CERTIFICATE_DAYS_MAX};
pub use queries::{balance, calculate, fetch_order, operation_status};
pub use tiers::{add_spend, month_of, LEVELS_MAX};

use crate::apply::apply;
use crate::command::{Actor, Command, Request};
use crate::event::Event;
use crate::ids::AccountId;
use crate::model::UnixMillis;
use crate::model::{CardStatus, Cashbox, Program};
use crate::outcome::{BalanceInfo, Code, OperationRecord, Reply};
use crate::state::{StateStore, StateView};

/// What `execute` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub reply: Reply,
    pub events: Vec<Event>,
    /// The answer is the stored original (same operation id and content seen before).
    pub replayed: bool,
}

/// The events a command produces and its answer, or why it is refused.
pub(crate) type Decided = Result<(Vec<Event>, Reply), Rejection>;

/// A refusal on its way to becoming an answer: small, so that `?` stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) code: Code,
    pub(crate) detail: String,
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

/// One event and a plain "done".
fn one(e: Event) -> Decided {
    Ok((vec![e], Reply::ok()))
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
        // The same content gets the stored answer. Other content — another request, or
        // another cashbox's — is a conflict, answered afresh: it is not a stored answer, and
        // says nothing of whose operation it was.
        let replayed = rec.fingerprint == fingerprint;
        let reply = if replayed {
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
            replayed,
        };
    }
    let (mut events, mut reply) = match decide(state, program, req, now) {
        Ok(d) => d,
        Err(r) => (Vec::new(), r.into()),
    };
    for e in &events {
        apply(state, e);
    }
    bonus::grant(state, &mut events, now);
    tiers::follow(state, program, &mut events, now);
    settle_debts(state, &mut events);
    reply.events = events.len() as u32;
    // The account as the events left it: its balance, and its level (a purchase may have
    // raised it).
    if let Some(h) = &mut reply.holder {
        let account = state.account(h.account);
        reply.balance = account.as_ref().map(BalanceInfo::from);
        h.tier = account.and_then(|a| a.tier);
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

/// Points that became spendable pay back debt first: after a decision's events, each
/// account they touched that owes points and has points to spend gets a `DebtRecovered`
/// (in account order). One rule for every way points become spendable: accruals, returned
/// points, adjustments, released holds.
fn settle_debts(state: &mut impl StateStore, events: &mut Vec<Event>) {
    let mut touched: Vec<AccountId> = events.iter().filter_map(Event::account).collect();
    touched.sort_unstable();
    touched.dedup();
    for account in touched {
        let Some(points) = state
            .account(account)
            .map(|a| a.recoverable())
            .filter(|p| p.0 > 0)
        else {
            continue;
        };
        let taken = state
            .account(account)
            .map(|a| a.take(points))
            .unwrap_or_default();
        let e = Event::DebtRecovered {
            account,
            points,
            taken,
        };
        apply(state, &e);
        events.push(e);
    }
}

/// Who may send a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A till's purchase life cycle: only an enabled cashbox.
    Cash,
    /// Customer service: an enabled cashbox or an administrator.
    CustomerService,
    /// Administration only.
    Admin,
    /// The hold sweep: the engine itself (an administrator's is a no-op).
    Sweep,
}

impl Role {
    /// Every command has exactly one role: a new command is a compile error here.
    fn of(cmd: &Command) -> Role {
        match cmd {
            Command::PayWithBonus { .. }
            | Command::RegisterPurchase { .. }
            | Command::Confirm { .. }
            | Command::Cancel { .. }
            | Command::Refund { .. }
            | Command::RefundWithoutReceipt { .. }
            | Command::ImportOfflinePurchase { .. } => Role::Cash,
            Command::IssueCard { .. }
            | Command::RegisterCustomer { .. }
            | Command::ReplaceCard { .. }
            | Command::SetCardPin { .. }
            | Command::ChooseFavourites { .. }
            | Command::IssueCertificate { .. } => Role::CustomerService,
            Command::RegisterCashbox { .. }
            | Command::SetCashboxKey { .. }
            | Command::SetCashboxEnabled { .. }
            | Command::AdjustPoints { .. }
            | Command::ImportProducts { .. }
            | Command::UpsertOffer { .. }
            | Command::SetCouponSeries { .. }
            | Command::IssueCoupons { .. }
            | Command::CreateOrder { .. }
            | Command::CancelOrder { .. }
            | Command::SetAccountBlocked { .. }
            | Command::IssueQrSecret { .. }
            | Command::SetCardRange { .. }
            | Command::SetIdentifierPolicy { .. }
            | Command::SetBonusRule { .. }
            | Command::SetTiers { .. }
            | Command::SetTierFloor { .. }
            | Command::ActivateCard { .. }
            | Command::BlockCard { .. }
            | Command::ResolvePurchase { .. } => Role::Admin,
            Command::ExpireHolds => Role::Sweep,
        }
    }
}

/// The pure decision: the events a command produces and its answer, or a rejection.
/// First who may send it, then the command's own rules.
pub(crate) fn decide(
    view: &impl StateView,
    program: &Program,
    req: &Request,
    now: UnixMillis,
) -> Decided {
    let cmd = &req.command;
    match (&req.actor, Role::of(cmd)) {
        (Actor::Cashbox(id), Role::Cash) => {
            let cashbox = identify::active_cashbox(view, *id)?;
            decide_cash(view, program, &cashbox, cmd, now)
        }
        (Actor::Cashbox(id), Role::CustomerService) => {
            identify::active_cashbox(view, *id)?;
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
            decide_service(view, program, cmd, now, ByTill(Some(*id)))
        }
        (Actor::Admin(_), Role::CustomerService | Role::Admin) => {
            decide_service(view, program, cmd, now, ByTill(None))
        }
        (Actor::Admin(_), Role::Sweep) => Ok((Vec::new(), Reply::ok())),
        (Actor::System, Role::Sweep) => expiry::expire_holds(view, program, now),
        _ => Err(reject(Code::Forbidden, "")),
    }
}

/// A till's purchase life cycle.
fn decide_cash(
    view: &impl StateView,
    program: &Program,
    cashbox: &Cashbox,
    cmd: &Command,
    now: UnixMillis,
) -> Decided {
    match cmd {
        Command::PayWithBonus { cheque, points } => {
            purchase::pay_with_bonus(view, program, cashbox, cheque, *points, now)
        }
        Command::RegisterPurchase { cheque } => {
            purchase::register(view, program, cashbox, cheque, now)
        }
        Command::Confirm { cheque } => {
            purchase::confirm(view, program, &cheque::purchase_key(cashbox, cheque), now)
        }
        Command::Cancel { cheque } => {
            purchase::cancel(view, &cheque::purchase_key(cashbox, cheque))
        }
        Command::Refund {
            refund,
            purchase,
            lines,
            sold_at,
        } => {
            let sold = crate::ids::PurchaseKey {
                cashbox: sold_at.unwrap_or(cashbox.id),
                cheque: purchase.clone(),
            };
            refund::refund(view, program, cashbox, refund, &sold, lines, now)
        }
        Command::RefundWithoutReceipt { cheque } => {
            refund::without_receipt(view, program, cashbox, cheque, now)
        }
        Command::ImportOfflinePurchase {
            cheque,
            points_paid,
            local_discount,
        } => offline::import(
            view,
            program,
            cashbox,
            cheque,
            *points_paid,
            *local_discount,
            now,
        ),
        _ => Err(reject(Code::Forbidden, "")),
    }
}

/// Which till a customer-service command comes from (none: an administrator).
#[derive(Debug, Clone, Copy)]
struct ByTill(Option<crate::ids::CashboxId>);

/// Customer service and administration.
fn decide_service(
    view: &impl StateView,
    program: &Program,
    cmd: &Command,
    now: UnixMillis,
    by: ByTill,
) -> Decided {
    match cmd {
        Command::RegisterCashbox {
            id,
            store,
            kind,
            secret_sha256,
            public_key,
            login,
        } => admin::register_cashbox(
            view,
            Cashbox {
                id: *id,
                store: *store,
                kind: *kind,
                enabled: true,
                secret_sha256: *secret_sha256,
                public_key: *public_key,
                login: login.clone(),
            },
        ),
        Command::SetCashboxKey { id, public_key } => admin::set_cashbox_key(view, *id, *public_key),
        Command::SetCashboxEnabled { id, enabled } => {
            admin::set_cashbox_enabled(view, *id, *enabled)
        }
        Command::ImportProducts { products } => admin::import_products(products),
        Command::UpsertOffer { offer } => admin::upsert_offer(view, offer),
        Command::SetCouponSeries { series } => admin::set_coupon_series(series),
        Command::IssueCoupons {
            series,
            codes,
            card,
            expires,
        } => admin::issue_coupons(view, *series, codes, card.as_ref(), *expires),
        Command::SetCardRange { range, active } => admin::set_card_range(range, *active),
        Command::SetIdentifierPolicy { policy } => admin::set_identifier_policy(policy),
        Command::SetBonusRule { rule } => bonus::set_rule(rule),
        Command::SetTiers { tiers } => tiers::set_tiers(tiers),
        Command::SetTierFloor { card, floor } => {
            tiers::set_floor(view, program, card, floor.as_deref(), now)
        }
        Command::CreateOrder {
            number,
            card,
            lines,
            points,
        } => orders::create(view, program, number, card, lines, *points, now),
        Command::CancelOrder { number } => orders::cancel(view, number),
        Command::ResolvePurchase {
            purchase,
            confirm,
            reason,
        } => purchase::resolve(view, program, purchase, *confirm, reason, now),
        Command::AdjustPoints {
            card,
            delta,
            reason,
        } => customer::adjust_points(view, program, card, *delta, reason, now),
        Command::IssueCard {
            number,
            card_type,
            status,
            account,
            holder_name,
            holder_phone,
        } => customer::issue_card(
            view,
            number,
            card_type,
            *status,
            *account,
            (holder_name, holder_phone),
        ),
        Command::RegisterCustomer {
            card,
            name,
            phone,
            consent,
            birth_date,
        } => customer::register(view, card, (name, phone), *consent, *birth_date),
        Command::ReplaceCard { old, new } => customer::replace_card(view, old, new),
        Command::SetAccountBlocked { card, blocked } => {
            customer::set_account_blocked(view, card, *blocked)
        }
        Command::ChooseFavourites { card, products } => {
            customer::choose_favourites(view, card, products)
        }
        Command::IssueQrSecret { card, secret } => customer::issue_qr_secret(view, card, *secret),
        Command::SetCardPin { card, pin, old_pin } => {
            let old = by.0.map(|_| old_pin.as_ref());
            customer::set_card_pin(view, program, card, pin.as_ref(), old, now)
        }
        Command::ActivateCard { number } => {
            customer::set_card_status(view, number, CardStatus::Activated)
        }
        Command::BlockCard { number } => {
            customer::set_card_status(view, number, CardStatus::Blocked)
        }
        Command::IssueCertificate {
            code,
            amount,
            valid_days,
        } => certificate::issue(view, by.0, code, *amount, *valid_days, now),
        _ => Err(reject(Code::Forbidden, "")),
    }
}
