//! Wire ↔ domain conversions. Wire → domain validates every field and names the one that
//! is wrong; domain → wire destructures exhaustively, so a new field is a compile error
//! until it is mapped.

use crate::limits::{
    CARD_TYPE_BYTES_MAX, CHEQUE_COUPONS_MAX, CHEQUE_TENDERS_MAX, COUPON_TEXT_BYTES_MAX,
    FAVOURITES_MAX, ISSUE_COUPONS_MAX, NAME_BYTES_MAX, OFFER_SCOPE_ITEMS_MAX, PRODUCT_BARCODES_MAX,
    SERIES_NAME_BYTES_MAX,
};
use crate::pb;
use chrono::NaiveDateTime;
use loyalty_core::amount::{Money, Percent, Points, Qty};
use loyalty_core::command::{Cheque, Command, Presented, RefundLine, Totals};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::{BalanceInfo, Code, Holder, RefundSummary, Reply};
use std::fmt::Display;

/// A malformed field: the request is refused with INVALID_ARGUMENT and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    pub field: String,
    pub reason: String,
}

pub type Wire<T> = Result<T, WireError>;

fn bad(field: impl Display, reason: impl ToString) -> WireError {
    WireError {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

pub fn op_id(s: &str) -> Wire<OpId> {
    OpId::parse(s).map_err(|e| bad("operation_id", e))
}

pub fn card(field: impl Display, s: &str) -> Wire<CardNo> {
    CardNo::new(s).map_err(|e| bad(&field, e))
}

pub fn optional_card(field: impl Display, s: &str) -> Wire<Option<CardNo>> {
    if s.is_empty() {
        Ok(None)
    } else {
        card(field, s).map(Some)
    }
}

pub fn cheque_id(field: impl Display, s: &str) -> Wire<ChequeId> {
    ChequeId::new(s).map_err(|e| bad(&field, e))
}

pub fn points(field: impl Display, s: &str) -> Wire<Points> {
    Points::parse(s).map_err(|e| bad(&field, e))
}

/// A signed amount of points: "150.00" or "-20.50".
pub fn signed_points(field: impl Display, s: &str) -> Wire<Points> {
    let s = s.trim();
    match s.strip_prefix('-') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            points(field, rest).map(|p| Points(-p.0))
        }
        _ => points(field, s),
    }
}

/// Customer profile text (names, phones, card types): bounded, no control characters.
pub fn profile_text(field: impl Display, s: &str, max: usize) -> Wire<String> {
    if s.len() > max {
        return Err(bad(&field, format!("longer than {max} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(&field, "control characters are not allowed"));
    }
    Ok(s.trim().to_owned())
}

pub fn money(field: impl Display, s: &str) -> Wire<Money> {
    Money::parse(s).map_err(|e| bad(&field, e))
}

pub fn positive_qty(field: impl Display, s: &str) -> Wire<Qty> {
    let q = Qty::parse(s).map_err(|e| bad(&field, e))?;
    if q.0 == 0 {
        return Err(bad(&field, "must be positive"));
    }
    Ok(q)
}

/// A cashbox's local time, within the years a till's clock can sensibly show (so that
/// lifetimes added to it stay far from the calendar's limits).
pub fn local_time(field: impl Display, s: &str) -> Wire<NaiveDateTime> {
    use chrono::Datelike;
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map_err(|e| bad(&field, format!("expected YYYY-MM-DDTHH:MM:SS ({e})")))?;
    if !(2000..=2200).contains(&t.year()) {
        return Err(bad(&field, "the year must be within 2000-2200"));
    }
    Ok(t)
}

/// The lines limit is enforced here too, before any allocation proportional to it.
pub fn cheque(c: Option<pb::Cheque>, lines_max: usize) -> Wire<Cheque> {
    let pb::Cheque {
        cheque_id: id,
        card,
        local_time: at,
        lines,
        cashier,
        identifiers,
        pin,
        tenders,
        coupons,
        order,
    } = c.ok_or_else(|| bad("cheque", "missing"))?;
    if coupons.len() > CHEQUE_COUPONS_MAX || coupons.iter().any(|c| c.len() > COUPON_TEXT_BYTES_MAX)
    {
        return Err(bad(
            "cheque.coupons",
            format!("at most {CHEQUE_COUPONS_MAX}, each at most {COUPON_TEXT_BYTES_MAX} bytes"),
        ));
    }
    if lines.len() > lines_max {
        return Err(bad(
            "cheque.lines",
            format!("{} lines, at most {lines_max}", lines.len()),
        ));
    }
    let lines = lines
        .into_iter()
        .enumerate()
        .map(
            |(
                i,
                pb::Line {
                    product,
                    quantity,
                    price,
                    discount,
                },
            )| {
                Ok(Line {
                    product: ProductCode::new(&product)
                        .map_err(|e| bad(format!("cheque.lines[{i}].product"), e))?,
                    qty: positive_qty(format_args!("cheque.lines[{i}].quantity"), &quantity)?,
                    price: money(format_args!("cheque.lines[{i}].price"), &price)?,
                    local_discount: Money(zero_or(
                        format_args!("cheque.lines[{i}].discount"),
                        &discount,
                    )?),
                })
            },
        )
        .collect::<Wire<Vec<_>>>()?;
    Ok(Cheque {
        cheque: cheque_id("cheque.cheque_id", &id)?,
        card: optional_card("cheque.card", &card)?,
        local_time: local_time("cheque.local_time", &at)?,
        lines,
        cashier: if cashier.is_empty() {
            None
        } else {
            Some(CashierId::new(&cashier).map_err(|e| bad("cheque.cashier", e))?)
        },
        presented: presented("cheque.identifiers", identifiers)?,
        pin: optional_pin("cheque.pin", &pin)?,
        tenders: cheque_tenders(tenders)?,
        coupons,
        order: optional_order("cheque.order", &order)?,
    })
}

pub fn optional_order(field: impl Display, s: &str) -> Wire<Option<OrderNo>> {
    if s.is_empty() {
        Ok(None)
    } else {
        OrderNo::new(s).map(Some).map_err(|e| bad(&field, e))
    }
}

/// How the money part is paid: at most 16 parts, each of a known kind.
fn cheque_tenders(tenders: Vec<pb::Tender>) -> Wire<Vec<Tender>> {
    if tenders.len() > CHEQUE_TENDERS_MAX {
        return Err(bad(
            "cheque.tenders",
            format!("at most {CHEQUE_TENDERS_MAX}"),
        ));
    }
    tenders
        .into_iter()
        .enumerate()
        .map(|(i, pb::Tender { kind, amount })| {
            Ok(Tender {
                kind: match pb::TenderKind::try_from(kind) {
                    Ok(pb::TenderKind::Cash) => TenderKind::Cash,
                    Ok(pb::TenderKind::BankCard) => TenderKind::BankCard,
                    Ok(pb::TenderKind::FastPayment) => TenderKind::FastPayment,
                    _ => return Err(bad(format!("cheque.tenders[{i}].kind"), "unknown")),
                },
                amount: money(format_args!("cheque.tenders[{i}].amount"), &amount)?,
            })
        })
        .collect()
}

/// A card range (mask) and whether it is to be active (or removed).
pub fn card_range(m: pb::SetCardRangeRequest) -> Wire<(CardRange, bool)> {
    let pb::SetCardRangeRequest {
        operation_id: _,
        prefix,
        length,
        check,
        card_type,
        remove,
    } = m;
    if !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("prefix", "digits only"));
    }
    if length == 0 || length > CardNo::BYTES_MAX as u32 || prefix.len() as u32 >= length {
        return Err(bad(
            "length",
            format!("1..={}, longer than the prefix", CardNo::BYTES_MAX),
        ));
    }
    let check = match pb::CheckDigit::try_from(check) {
        Ok(pb::CheckDigit::Unspecified | pb::CheckDigit::None) => CheckDigit::None,
        Ok(pb::CheckDigit::Luhn) => CheckDigit::Luhn,
        Ok(pb::CheckDigit::Ean13) => CheckDigit::Ean13,
        Err(_) => return Err(bad("check", "unknown check digit")),
    };
    let card_type = profile_text("card_type", &card_type, CARD_TYPE_BYTES_MAX)?;
    if card_type.is_empty() && !remove {
        return Err(bad("card_type", "required"));
    }
    Ok((
        CardRange {
            prefix,
            length: length as u8,
            check,
            card_type,
        },
        !remove,
    ))
}

pub fn identifier_policy(kinds: &[i32]) -> Wire<IdentifierPolicy> {
    let mut redeem_via = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        let kind = match pb::IdentifierKind::try_from(*k) {
            Ok(pb::IdentifierKind::Barcode) => IdKind::Barcode,
            Ok(pb::IdentifierKind::Magstripe) => IdKind::MagStripe,
            Ok(pb::IdentifierKind::Phone) => IdKind::Phone,
            Ok(pb::IdentifierKind::Qr) => IdKind::Qr,
            _ => {
                return Err(bad(
                    format!("redeem_via[{i}]"),
                    "barcode, magstripe, phone or qr",
                ))
            }
        };
        if !redeem_via.contains(&kind) {
            redeem_via.push(kind);
        }
    }
    Ok(IdentifierPolicy { redeem_via })
}

pub fn optional_pin(field: impl Display, s: &str) -> Wire<Option<Pin>> {
    if s.is_empty() {
        return Ok(None);
    }
    Pin::new(s).map(Some).map_err(|e| bad(&field, e))
}

/// Favourite goods: at most 10 product codes or barcodes.
pub fn favourites(products: Vec<String>) -> Wire<Vec<ProductCode>> {
    if products.len() > FAVOURITES_MAX {
        return Err(bad("products", format!("at most {FAVOURITES_MAX}")));
    }
    products
        .iter()
        .enumerate()
        .map(|(i, p)| ProductCode::new(p).map_err(|e| bad(format!("products[{i}]"), e)))
        .collect()
}

/// A phone in its normalised form, or empty.
pub fn optional_phone(field: impl Display, s: &str) -> Wire<String> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    Phone::parse(s)
        .map(|p| p.to_string())
        .map_err(|e| bad(&field, e))
}

/// Identifiers as presented: parsed by kind (an `Auto` value is only bounded here; the
/// core works out what it is).
pub fn presented(field: impl Display, ids: Vec<pb::Identifier>) -> Wire<Vec<Presented>> {
    if ids.len() > 4 {
        return Err(bad(&field, "at most 4 identifiers"));
    }
    ids.into_iter()
        .enumerate()
        .map(|(i, pb::Identifier { kind, value })| {
            let f = || format!("{field}[{i}].value");
            match pb::IdentifierKind::try_from(kind) {
                Ok(pb::IdentifierKind::Barcode) => Ok(Presented::Card {
                    number: CardNo::new(value.trim()).map_err(|e| bad(f(), e))?,
                    via: IdKind::Barcode,
                }),
                Ok(pb::IdentifierKind::Magstripe) => Ok(Presented::Card {
                    number: card_from_magstripe(&value).map_err(|e| bad(f(), e))?,
                    via: IdKind::MagStripe,
                }),
                Ok(pb::IdentifierKind::Phone) => Ok(Presented::Phone(
                    Phone::parse(&value).map_err(|e| bad(f(), e))?,
                )),
                Ok(pb::IdentifierKind::Qr) => {
                    let (number, code) = loyalty_core::qr::parse(&value)
                        .ok_or_else(|| bad(f(), "expected <card number>:<six digits>"))?;
                    Ok(Presented::Qr { number, code })
                }
                Ok(pb::IdentifierKind::Auto) => {
                    let v = profile_text(f(), &value, NAME_BYTES_MAX)?;
                    if v.is_empty() {
                        return Err(bad(f(), "empty"));
                    }
                    Ok(Presented::Auto(v))
                }
                _ => Err(bad(format!("{field}[{i}].kind"), "unknown identifier kind")),
            }
        })
        .collect()
}

pub fn refund_lines(lines: Vec<pb::RefundLine>, lines_max: usize) -> Wire<Vec<RefundLine>> {
    if lines.len() > lines_max {
        return Err(bad(
            "lines",
            format!("{} lines, at most {lines_max}", lines.len()),
        ));
    }
    lines
        .into_iter()
        .enumerate()
        .map(
            |(
                i,
                pb::RefundLine {
                    line_index,
                    quantity,
                },
            )| {
                Ok(RefundLine {
                    index: line_index,
                    qty: positive_qty(format_args!("lines[{i}].quantity"), &quantity)?,
                })
            },
        )
        .collect()
}

fn zero_or(field: impl Display, s: &str) -> Wire<i64> {
    if s.is_empty() {
        return Ok(0);
    }
    Money::parse(s).map(|m| m.0).map_err(|e| bad(&field, e))
}

/// One offline item → its operation id and command.
pub fn offline_item(i: usize, item: pb::OfflineItem, lines_max: usize) -> Wire<(OpId, Command)> {
    let pb::OfflineItem { operation_id, item } = item;
    let op = OpId::parse(&operation_id).map_err(|e| bad(format!("items[{i}].operation_id"), e))?;
    let command =
        match item.ok_or_else(|| bad(format!("items[{i}]"), "neither purchase nor refund"))? {
            pb::offline_item::Item::Purchase(pb::OfflinePurchase {
                cheque: c,
                points_paid,
                discount,
            }) => Command::ImportOfflinePurchase {
                cheque: cheque(c, lines_max)
                    .map_err(|e| bad(format!("items[{i}].{}", e.field), e.reason))?,
                points_paid: Points(zero_or(
                    format_args!("items[{i}].points_paid"),
                    &points_paid,
                )?),
                local_discount: Money(zero_or(format_args!("items[{i}].discount"), &discount)?),
            },
            pb::offline_item::Item::Refund(pb::RefundRequest {
                operation_id: _,
                refund_cheque_id,
                purchase_cheque_id,
                lines,
            }) => Command::Refund {
                refund: cheque_id(
                    format_args!("items[{i}].refund_cheque_id"),
                    &refund_cheque_id,
                )?,
                purchase: cheque_id(
                    format_args!("items[{i}].purchase_cheque_id"),
                    &purchase_cheque_id,
                )?,
                lines: refund_lines(lines, lines_max)
                    .map_err(|e| bad(format!("items[{i}].{}", e.field), e.reason))?,
            },
        };
    Ok((op, command))
}

pub fn outcome(code: Code) -> pb::Outcome {
    use pb::Outcome as O;
    match code {
        Code::Ok => O::Ok,
        Code::OperationConflict => O::OperationConflict,
        Code::CashboxUnknown => O::CashboxUnknown,
        Code::CashboxDisabled => O::CashboxDisabled,
        Code::CashboxExists => O::CashboxExists,
        Code::Forbidden => O::Forbidden,
        Code::CardUnknown => O::CardUnknown,
        Code::CardBlocked => O::CardBlocked,
        Code::CardNotActivated => O::CardNotActivated,
        Code::AccountBlocked => O::AccountBlocked,
        Code::CardExists => O::CardExists,
        Code::AccountUnknown => O::AccountUnknown,
        Code::CardRequired => O::CardRequired,
        Code::CardStatusInvalid => O::CardStatusInvalid,
        Code::CardReplaced => O::CardReplaced,
        Code::PurchaseUnknown => O::PurchaseUnknown,
        Code::PurchaseWrongState => O::PurchaseWrongState,
        Code::HoldExpired => O::HoldExpired,
        Code::CardMismatch => O::CardMismatch,
        Code::InsufficientPoints => O::InsufficientPoints,
        Code::RedeemLimitExceeded => O::RedeemLimitExceeded,
        Code::TooManyLines => O::TooManyLines,
        Code::EmptyCheque => O::EmptyCheque,
        Code::AmountInvalid => O::AmountInvalid,
        Code::RefundAtKiosk => O::RefundAtKiosk,
        Code::RefundExceedsPurchase => O::RefundExceedsPurchase,
        Code::RefundLineUnknown => O::RefundLineUnknown,
        Code::RefundExists => O::RefundExists,
        Code::OfflineRedemptionRefused => O::OfflineRedemptionRefused,
        Code::OfflineDiscountRefused => O::OfflineDiscountRefused,
        Code::OfferInvalid => O::OfferInvalid,
        Code::ProductInvalid => O::ProductInvalid,
        Code::PhoneUnknown => O::PhoneUnknown,
        Code::PhoneExists => O::PhoneExists,
        Code::RedeemNotAllowed => O::RedeemNotAllowed,
        Code::IdentifierInvalid => O::IdentifierInvalid,
        Code::PinRequired => O::PinRequired,
        Code::PinInvalid => O::PinInvalid,
        Code::QrInvalid => O::QrInvalid,
        Code::QrExpired => O::QrExpired,
        Code::QrReplayed => O::QrReplayed,
        Code::OrderUnknown => O::OrderUnknown,
        Code::OrderExists => O::OrderExists,
        Code::OrderWrongState => O::OrderWrongState,
        Code::OrderMismatch => O::OrderMismatch,
        Code::CouponExists => O::CouponExists,
        Code::CouponSeriesUnknown => O::CouponSeriesUnknown,
    }
}

pub fn card_status_to_wire(s: CardStatus) -> pb::CardStatus {
    match s {
        CardStatus::Prepared => pb::CardStatus::Prepared,
        CardStatus::Issued => pb::CardStatus::Issued,
        CardStatus::Activated => pb::CardStatus::Activated,
        CardStatus::Blocked => pb::CardStatus::Blocked,
        CardStatus::Replaced => pb::CardStatus::Replaced,
    }
}

pub fn card_status(field: impl Display, s: i32) -> Wire<CardStatus> {
    match pb::CardStatus::try_from(s) {
        Ok(pb::CardStatus::Prepared) => Ok(CardStatus::Prepared),
        Ok(pb::CardStatus::Issued) => Ok(CardStatus::Issued),
        Ok(pb::CardStatus::Activated) => Ok(CardStatus::Activated),
        Ok(pb::CardStatus::Blocked) => Ok(CardStatus::Blocked),
        _ => Err(bad(&field, "unknown card status")),
    }
}

pub fn purchase_status(s: PurchaseStatus) -> pb::PurchaseStatus {
    match s {
        PurchaseStatus::Held => pb::PurchaseStatus::Held,
        PurchaseStatus::Registered => pb::PurchaseStatus::Registered,
        PurchaseStatus::Confirmed => pb::PurchaseStatus::Confirmed,
        PurchaseStatus::Cancelled => pb::PurchaseStatus::Cancelled,
        PurchaseStatus::Expired => pb::PurchaseStatus::Expired,
    }
}

pub fn balance(b: BalanceInfo) -> pb::Balance {
    let BalanceInfo {
        balance,
        held,
        spendable,
    } = b;
    pb::Balance {
        balance: balance.to_string(),
        held: held.to_string(),
        spendable: spendable.to_string(),
    }
}

fn holder(h: Holder) -> pb::Holder {
    let Holder {
        account,
        name,
        card_type,
        masked_card,
        card_status,
        favourites,
    } = h;
    pb::Holder {
        account: account.0,
        name,
        card_type,
        masked_card,
        favourites: favourites.iter().map(ToString::to_string).collect(),
        card_status: card_status_to_wire(card_status).into(),
    }
}

fn line(index: usize, l: PricedLine) -> pb::PricedLine {
    let PricedLine {
        line:
            Line {
                product,
                qty,
                price,
                ..
            },
        amount,
        discount,
        redeem_cap,
        paid,
        accrual,
        offers,
        refunded_qty,
    } = l;
    pb::PricedLine {
        index: index as u32,
        product: product.to_string(),
        quantity: qty.to_string(),
        price: price.to_string(),
        amount: amount.to_string(),
        discount: discount.to_string(),
        redeem_cap: redeem_cap.to_string(),
        paid: paid.to_string(),
        accrual: accrual.to_string(),
        offers: offers.into_iter().map(|o| o.0).collect(),
        refunded_quantity: refunded_qty.to_string(),
    }
}

fn totals(t: Totals) -> pb::Totals {
    let Totals {
        amount,
        discount,
        paid,
        accrual,
        redeem_max,
    } = t;
    pb::Totals {
        amount: amount.to_string(),
        discount: discount.to_string(),
        paid: paid.to_string(),
        accrual: accrual.to_string(),
        redeem_max: redeem_max.to_string(),
        to_pay: Money(amount.0 - discount.0 - paid.0).to_string(),
    }
}

pub fn reply(r: Reply, replayed: bool) -> pb::ChequeReply {
    let Reply {
        code,
        message,
        holder: h,
        balance: b,
        lines,
        totals: t,
        purchase_status: s,
        refund,
        messages,
        coupons_issued,
        coupons_used,
        order_status,
        events,
    } = r;
    let said = |to: MessageTo| {
        messages
            .iter()
            .filter(|m| m.to == to)
            .map(|m| m.text.clone())
            .collect()
    };
    pb::ChequeReply {
        outcome: outcome(code).into(),
        slip: Vec::new(),
        cheque_messages: said(MessageTo::Cheque),
        cashier_messages: said(MessageTo::Cashier),
        coupons_issued: coupons_issued.iter().map(crate::receipt::coupon).collect(),
        coupons_used: coupons_used.iter().map(ToString::to_string).collect(),
        order_status: order_status
            .map_or(pb::OrderStatus::Unspecified, |s| match s {
                OrderStatus::Open => pb::OrderStatus::Open,
                OrderStatus::PickedUp => pb::OrderStatus::PickedUp,
                OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
                OrderStatus::Expired => pb::OrderStatus::Expired,
            })
            .into(),
        message,
        holder: h.map(holder),
        balance: b.map(balance),
        lines: lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| line(i, l))
            .collect(),
        totals: t.map(totals),
        purchase_status: s
            .map_or(pb::PurchaseStatus::Unspecified, purchase_status)
            .into(),
        refund: refund.map(
            |RefundSummary {
                 money_returned,
                 points_returned,
                 accrual_reversed,
                 accrual_unrecovered,
             }| pb::RefundSummary {
                money_returned: money_returned.to_string(),
                points_returned: points_returned.to_string(),
                accrual_reversed: accrual_reversed.to_string(),
                accrual_unrecovered: accrual_unrecovered.to_string(),
            },
        ),
        replayed,
        events,
    }
}

pub fn product(i: usize, p: pb::Product) -> Wire<Product> {
    let pb::Product {
        code,
        name,
        group,
        barcodes,
        min_price,
        promotional,
    } = p;
    let f = |n: &str| format!("products[{i}].{n}");
    if name.len() > NAME_BYTES_MAX {
        return Err(bad(
            f("name"),
            format!("longer than {NAME_BYTES_MAX} bytes"),
        ));
    }
    if barcodes.len() > PRODUCT_BARCODES_MAX {
        return Err(bad(
            f("barcodes"),
            format!("more than {PRODUCT_BARCODES_MAX}"),
        ));
    }
    Ok(Product {
        code: ProductCode::new(&code).map_err(|e| bad(f("code"), e))?,
        name,
        group: if group.is_empty() {
            None
        } else {
            Some(GroupCode::new(&group).map_err(|e| bad(f("group"), e))?)
        },
        barcodes: barcodes
            .iter()
            .map(|b| ProductCode::new(b).map_err(|e| bad(f("barcodes"), e)))
            .collect::<Wire<_>>()?,
        min_price: money(
            f("min_price"),
            if min_price.is_empty() {
                "0"
            } else {
                &min_price
            },
        )?,
        promotional,
    })
}

pub fn offer(o: Option<pb::Offer>) -> Wire<Offer> {
    let pb::Offer {
        id,
        name,
        effect,
        percent,
        group,
        valid_from,
        valid_to,
        enabled,
        favourites,
        fixed,
        fixed_per,
        groups,
        products,
        weekdays,
        daily_from,
        daily_to,
        stores,
        card_types,
        min_total,
        min_quantity,
        coupon_series,
        priority,
        exclusive,
        issue_coupon_series,
        message,
    } = o.ok_or_else(|| bad("offer", "missing"))?;
    if name.len() > NAME_BYTES_MAX {
        return Err(bad(
            "offer.name",
            format!("longer than {NAME_BYTES_MAX} bytes"),
        ));
    }
    if groups.len() + products.len() + stores.len() + card_types.len() > OFFER_SCOPE_ITEMS_MAX {
        return Err(bad(
            "offer",
            format!("at most {OFFER_SCOPE_ITEMS_MAX} groups, products, stores and card types"),
        ));
    }
    let rate = || -> Wire<Rate> {
        match (percent.is_empty(), fixed.is_empty()) {
            (false, true) => Ok(Rate::Percent(
                Percent::parse(&percent).map_err(|e| bad("offer.percent", e))?,
            )),
            (true, false) => {
                let x = Money::parse(&fixed).map_err(|e| bad("offer.fixed", e))?.0;
                match pb::FixedPer::try_from(fixed_per) {
                    Ok(pb::FixedPer::Line) => Ok(Rate::PerLine(x)),
                    Ok(pb::FixedPer::Target) => Ok(Rate::Total(x)),
                    _ => Err(bad("offer.fixed_per", "must be LINE or TARGET")),
                }
            }
            _ => Err(bad("offer.percent", "give either percent or fixed")),
        }
    };
    let effect = match pb::OfferEffect::try_from(effect) {
        Ok(pb::OfferEffect::Discount) => OfferEffect::Discount(rate()?),
        Ok(pb::OfferEffect::Accrual) => OfferEffect::Accrual(rate()?),
        Ok(pb::OfferEffect::IssueCoupon) => {
            OfferEffect::IssueCoupon(CouponSeriesId(issue_coupon_series))
        }
        Ok(pb::OfferEffect::MessageCashier) => OfferEffect::Message {
            to: MessageTo::Cashier,
            template: message,
        },
        Ok(pb::OfferEffect::MessageCheque) => OfferEffect::Message {
            to: MessageTo::Cheque,
            template: message,
        },
        _ => return Err(bad("offer.effect", "unknown effect")),
    };
    let mut group_codes: Vec<GroupCode> = groups
        .iter()
        .map(|g| GroupCode::new(g).map_err(|e| bad("offer.groups", e)))
        .collect::<Wire<_>>()?;
    if !group.is_empty() {
        group_codes.push(GroupCode::new(&group).map_err(|e| bad("offer.group", e))?);
    }
    let product_codes: Vec<ProductCode> = products
        .iter()
        .map(|p| ProductCode::new(p).map_err(|e| bad("offer.products", e)))
        .collect::<Wire<_>>()?;
    let scope = match (favourites, group_codes.is_empty(), product_codes.is_empty()) {
        (true, true, true) => OfferScope::Favourites,
        (true, _, _) => return Err(bad("offer.favourites", "not with groups or products")),
        (false, true, true) => OfferScope::Cheque,
        (false, false, true) => OfferScope::Groups(group_codes),
        (false, true, false) => OfferScope::Products(product_codes),
        (false, false, false) => return Err(bad("offer.products", "not with groups")),
    };
    let mut days = 0u8;
    for d in weekdays {
        if !(1..=7).contains(&d) {
            return Err(bad("offer.weekdays", "1 (Monday) to 7 (Sunday)"));
        }
        days |= 1 << (d - 1);
    }
    let time = |field: &str, s: &str| {
        chrono::NaiveTime::parse_from_str(s, "%H:%M").map_err(|e| bad(field, e))
    };
    let hours = match (daily_from.is_empty(), daily_to.is_empty()) {
        (true, true) => None,
        (false, false) => Some((
            time("offer.daily_from", &daily_from)?,
            time("offer.daily_to", &daily_to)?,
        )),
        _ => return Err(bad("offer.daily_to", "give both ends of the daily window")),
    };
    let card_types = card_types
        .into_iter()
        .map(|t| profile_text("offer.card_types", &t, CARD_TYPE_BYTES_MAX))
        .collect::<Wire<_>>()?;
    Ok(Offer {
        id: OfferId(id),
        name,
        effect,
        scope,
        when: Conditions {
            weekdays: days,
            hours,
            stores: stores.into_iter().map(StoreId).collect(),
            card_types,
            min_total: Money(zero_or("offer.min_total", &min_total)?),
            min_qty: if min_quantity.is_empty() {
                Qty(0)
            } else {
                positive_qty("offer.min_quantity", &min_quantity)?
            },
            coupon: (coupon_series != 0).then_some(CouponSeriesId(coupon_series)),
        },
        priority,
        exclusive,
        valid_from: local_time("offer.valid_from", &valid_from)?,
        valid_to: local_time("offer.valid_to", &valid_to)?,
        enabled,
    })
}

pub fn coupon_series(s: Option<pb::CouponSeries>) -> Wire<CouponSeries> {
    let pb::CouponSeries {
        id,
        name,
        uses,
        valid_days,
    } = s.ok_or_else(|| bad("series", "missing"))?;
    if id == 0 {
        return Err(bad("series.id", "must be positive"));
    }
    if !(1..=3660).contains(&valid_days) {
        return Err(bad("series.valid_days", "1 to 3660"));
    }
    Ok(CouponSeries {
        id: CouponSeriesId(id),
        name: profile_text("series.name", &name, SERIES_NAME_BYTES_MAX)?,
        uses,
        valid_days,
    })
}

pub fn coupon_codes(codes: &[String]) -> Wire<Vec<CouponCode>> {
    if codes.len() > ISSUE_COUPONS_MAX {
        return Err(bad(
            "codes",
            format!("at most {ISSUE_COUPONS_MAX} per call"),
        ));
    }
    codes
        .iter()
        .map(|c| CouponCode::new(c).map_err(|e| bad("codes", e)))
        .collect()
}

pub fn order_lines(lines: Vec<pb::OrderLine>, lines_max: usize) -> Wire<Vec<OrderLine>> {
    if lines.len() > lines_max {
        return Err(bad("lines", format!("at most {lines_max}")));
    }
    lines
        .into_iter()
        .enumerate()
        .map(
            |(
                i,
                pb::OrderLine {
                    product,
                    quantity,
                    price,
                    discount,
                },
            )| {
                Ok(OrderLine {
                    product: ProductCode::new(&product)
                        .map_err(|e| bad(format!("lines[{i}].product"), e))?,
                    qty: positive_qty(format_args!("lines[{i}].quantity"), &quantity)?,
                    price: money(format_args!("lines[{i}].price"), &price)?,
                    discount: Money(zero_or(format_args!("lines[{i}].discount"), &discount)?),
                })
            },
        )
        .collect()
}

pub fn cashbox_kind(k: i32) -> Wire<CashboxKind> {
    match pb::CashboxKind::try_from(k) {
        Ok(pb::CashboxKind::Pos) => Ok(CashboxKind::Pos),
        Ok(pb::CashboxKind::SelfCheckout) => Ok(CashboxKind::SelfCheckout),
        _ => Err(bad("kind", "must be POS or SELF_CHECKOUT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        /// Hostile input: arbitrary bytes through protobuf decoding and conversion never
        /// panic; whatever converts is within the documented limits.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(m) = pb::PayWithBonusRequest::decode(bytes.as_slice()) {
                let _ = op_id(&m.operation_id);
                let _ = points("points", &m.points);
                if let Ok(c) = cheque(m.cheque, 500) {
                    prop_assert!(c.lines.len() <= 500 && !c.cheque.as_str().is_empty());
                }
            }
            if let Ok(m) = pb::OfflineBatch::decode(bytes.as_slice()) {
                for (i, item) in m.items.into_iter().enumerate() {
                    let _ = offline_item(i, item, 500);
                }
            }
            if let Ok(m) = pb::RefundRequest::decode(bytes.as_slice()) {
                let _ = refund_lines(m.lines, 500);
            }
            if let Ok(m) = pb::CreateOrderRequest::decode(bytes.as_slice()) {
                let _ = order_lines(m.lines, 500);
                let _ = optional_order("order", &m.order);
            }
            if let Ok(m) = pb::SetCouponSeriesRequest::decode(bytes.as_slice()) {
                let _ = coupon_series(m.series);
            }
            if let Ok(m) = pb::IssueCouponsRequest::decode(bytes.as_slice()) {
                let _ = coupon_codes(&m.codes);
            }
            if let Ok(m) = pb::UpsertOfferRequest::decode(bytes.as_slice()) {
                let _ = offer(m.offer);
            }
            if let Ok(m) = pb::ImportProductsRequest::decode(bytes.as_slice()) {
                for (i, p) in m.products.into_iter().enumerate() {
                    let _ = product(i, p);
                }
            }
            if let Ok(m) = pb::BalanceRequest::decode(bytes.as_slice()) {
                let _ = presented("identifiers", m.identifiers);
            }
            if let Ok(m) = pb::RegisterCustomerRequest::decode(bytes.as_slice()) {
                let _ = optional_phone("phone", &m.phone);
                let _ = profile_text("name", &m.name, 256);
            }
        }

        /// Arbitrary identifiers of every kind: refused naming the field, or parsed into
        /// something well-formed.
        #[test]
        fn arbitrary_identifiers_are_refused_or_well_formed(kind in 0i32..6, value in ".{0,300}") {
            match presented("ids", vec![pb::Identifier { kind, value }]) {
                Ok(ids) => {
                    prop_assert_eq!(ids.len(), 1);
                    match &ids[0] {
                        Presented::Card { number, .. } => prop_assert!(number.as_str().bytes().all(|b| b.is_ascii_digit())),
                        Presented::Phone(p) => prop_assert!(p.as_str().starts_with('+') && p.as_str().len() <= 16),
                        Presented::Qr { code, .. } => prop_assert!(*code < 1_000_000),
                        Presented::Auto(v) => prop_assert!(!v.is_empty() && v.len() <= 256),
                    }
                }
                Err(e) => prop_assert!(e.field.starts_with("ids[0].")),
            }
        }

        /// Arbitrary field values: every conversion either refuses with a named field or
        /// yields amounts within bounds.
        #[test]
        fn arbitrary_field_values_are_refused_or_bounded(
            id in ".{0,80}", card in ".{0,40}", at in ".{0,30}", qty in ".{0,20}", price in ".{0,20}", pts in ".{0,20}", cashier in ".{0,70}",
        ) {
            let c = pb::Cheque { cheque_id: id, card, local_time: at, lines: vec![pb::Line { product: "p".into(), quantity: qty, price, discount: String::new() }], cashier, identifiers: Vec::new(), pin: String::new(), tenders: Vec::new(), coupons: Vec::new(), order: String::new() };
            match cheque(Some(c), 500) {
                Ok(c) => {
                    let l = &c.lines[0];
                    prop_assert!(l.qty.0 > 0 && l.qty.0 <= loyalty_core::amount::QTY_MILLI_MAX);
                    prop_assert!(l.price.0 >= 0 && l.price.0 <= loyalty_core::amount::AMOUNT_MINOR_MAX);
                }
                Err(e) => prop_assert!(e.field.starts_with("cheque")),
            }
            if let Ok(p) = points("points", &pts) {
                prop_assert!(p.0 >= 0 && p.0 <= loyalty_core::amount::AMOUNT_MINOR_MAX);
            }
        }
    }

    #[test]
    fn local_times_stay_within_a_tills_years() {
        assert!(local_time("t", "2026-11-23T12:00:00").is_ok());
        for bad in [
            "1999-12-31T23:59:59",
            "2201-01-01T00:00:00",
            "+262143-12-31T00:00:00",
        ] {
            assert_eq!(local_time("t", bad).unwrap_err().field, "t", "{bad}");
        }
    }

    #[test]
    fn malformed_fields_are_named() {
        let c = pb::Cheque {
            cheque_id: "c1".into(),
            card: "".into(),
            local_time: "2026-11-23T12:00:00".into(),
            identifiers: Vec::new(),
            pin: String::new(),
            tenders: Vec::new(),
            cashier: String::new(),
            lines: vec![pb::Line {
                product: "p".into(),
                quantity: "1".into(),
                price: "-1".into(),
                discount: String::new(),
            }],
            coupons: Vec::new(),
            order: String::new(),
        };
        assert_eq!(
            cheque(Some(c.clone()), 10).unwrap_err().field,
            "cheque.lines[0].price"
        );
        let mut c2 = c.clone();
        c2.lines[0].price = "1".into();
        c2.lines[0].quantity = "0".into();
        assert_eq!(
            cheque(Some(c2), 10).unwrap_err().field,
            "cheque.lines[0].quantity"
        );
        let mut c3 = c.clone();
        c3.lines[0].price = "1".into();
        c3.local_time = "23.11.2026".into();
        assert_eq!(
            cheque(Some(c3.clone()), 10).unwrap_err().field,
            "cheque.local_time"
        );
        c3.local_time = "2026-11-23T12:00:00".into();
        assert!(cheque(Some(c3), 10).is_ok());
        assert_eq!(cheque(Some(c), 0).unwrap_err().field, "cheque.lines");
        assert_eq!(cheque(None, 10).unwrap_err().field, "cheque");
        assert!(op_id("x").is_err());
    }
}
