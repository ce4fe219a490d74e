//! Answers, domain → wire: outcome codes, statuses, balances, holders, priced lines,
//! totals and the cheque reply. Each domain value is destructured exhaustively, so a new
//! field is a compile error until it is mapped.

use crate::pb;
use loyalty_core::amount::Money;
use loyalty_core::command::Totals;
use loyalty_core::model::*;
use loyalty_core::outcome::{BalanceInfo, Code, Holder, RefundSummary, Reply};

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
        Code::TierUnknown => O::TierUnknown,
        Code::PinLocked => O::PinLocked,
        Code::OfflineCertificateRefused => O::OfflineCertificateRefused,
        Code::CertificateUnknown => O::CertificateUnknown,
        Code::CertificateExpired => O::CertificateExpired,
        Code::CertificateInsufficient => O::CertificateInsufficient,
        Code::CertificateExists => O::CertificateExists,
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

pub fn purchase_status(s: PurchaseStatus) -> pb::PurchaseStatus {
    match s {
        PurchaseStatus::Held => pb::PurchaseStatus::Held,
        PurchaseStatus::Registered => pb::PurchaseStatus::Registered,
        PurchaseStatus::Confirmed => pb::PurchaseStatus::Confirmed,
        PurchaseStatus::Cancelled => pb::PurchaseStatus::Cancelled,
        PurchaseStatus::Expired => pb::PurchaseStatus::Expired,
        PurchaseStatus::ReturnedWithoutReceipt => pb::PurchaseStatus::ReturnedWithoutReceipt,
    }
}

pub fn balance(b: BalanceInfo) -> pb::Balance {
    let BalanceInfo {
        balance,
        held,
        spendable,
        debt,
        pending,
        next_expiry,
    } = b;
    pb::Balance {
        balance: balance.text(),
        held: held.text(),
        spendable: spendable.text(),
        debt: debt.text(),
        pending: pending.text(),
        next_expiry: next_expiry.map_or_else(String::new, |(at, _)| super::rfc3339(at)),
        next_expiry_points: next_expiry.map_or_else(String::new, |(_, p)| p.text()),
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
        tier,
    } = h;
    pb::Holder {
        account: account.0,
        name,
        card_type,
        masked_card,
        favourites: favourites.iter().map(ToString::to_string).collect(),
        card_status: card_status_to_wire(card_status).into(),
        tier: tier.unwrap_or_default(),
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
        // Internal: which terms the lots of the accrual get.
        accrual_lots: _,
    } = l;
    pb::PricedLine {
        index: index as u32,
        product: product.to_string(),
        quantity: qty.text(),
        price: price.text(),
        amount: amount.text(),
        discount: discount.text(),
        redeem_cap: redeem_cap.text(),
        paid: paid.text(),
        accrual: accrual.text(),
        offers: offers.into_iter().map(|o| o.0).collect(),
        refunded_quantity: refunded_qty.text(),
    }
}

fn totals(t: Totals) -> pb::Totals {
    let Totals {
        amount,
        discount,
        paid,
        accrual,
        redeem_max,
        potential_accrual,
        pending_accrual,
    } = t;
    pb::Totals {
        amount: amount.text(),
        discount: discount.text(),
        paid: paid.text(),
        accrual: accrual.text(),
        redeem_max: redeem_max.text(),
        to_pay: Money(amount.0 - discount.0 - paid.0).text(),
        potential_accrual: if potential_accrual.0 > 0 {
            potential_accrual.text()
        } else {
            String::new()
        },
        accrual_pending: pending_accrual.0 > 0,
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
        purchase,
        gifts,
        certificate: c,
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
        gifts: gifts
            .into_iter()
            .map(|g| pb::Gift {
                offer: g.offer.0,
                product: g.product.to_string(),
                name: g.name,
                quantity: g.qty.text(),
            })
            .collect(),
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
                 certificates_returned,
             }| pb::RefundSummary {
                money_to_pay_out: loyalty_core::outcome::money_to_pay_out(
                    money_returned,
                    points_returned,
                    certificates_returned,
                )
                .text(),
                certificates_returned: certificates_returned.text(),
                money_returned: money_returned.text(),
                points_returned: points_returned.text(),
                accrual_reversed: accrual_reversed.text(),
                accrual_unrecovered: accrual_unrecovered.text(),
            },
        ),
        replayed,
        events,
        purchase_id: purchase.map(|p| p.to_string()).unwrap_or_default(),
        certificate: c.map(certificate),
    }
}

/// A gift certificate as it stands.
pub fn certificate(c: Certificate) -> pb::Certificate {
    let Certificate {
        code,
        amount,
        balance,
        held,
        issued_at,
        expires_at,
        sold_at,
    } = c;
    pb::Certificate {
        code: code.to_string(),
        amount: amount.text(),
        balance: balance.text(),
        held: held.text(),
        spendable: balance.minus(held).text(),
        issued_at_unix_ms: issued_at.0,
        expires_at_unix_ms: expires_at.0,
        sold_at: sold_at.map_or(0, |s| s.0),
    }
}
