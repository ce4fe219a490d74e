//! What tills send, wire → domain: cheques with their lines, tenders, identifiers and
//! coupons, refunds and offline uploads. Every field is validated and named when wrong.

use super::{bad, Wire};
use super::{
    cheque_id, local_time, money, optional_card, optional_order, optional_pin, positive_qty,
    profile_text, zero_or,
};
use crate::limits::{
    CHEQUE_COUPONS_MAX, CHEQUE_TENDERS_MAX, COUPON_TEXT_BYTES_MAX, FAVOURITES_MAX, NAME_BYTES_MAX,
};
use crate::pb;
use loyalty_core::amount::{Money, Points};
use loyalty_core::command::{Cheque, Command, Presented, RefundLine};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use std::fmt::Display;

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
                    promotional,
                    min_price,
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
                    promotional,
                    min_price: Money(zero_or(
                        format_args!("cheque.lines[{i}].min_price"),
                        &min_price,
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
        .map(
            |(
                i,
                pb::Tender {
                    kind,
                    amount,
                    certificate,
                },
            )| {
                let kind = pb::TenderKind::try_from(kind);
                if kind != Ok(pb::TenderKind::GiftCertificate) && !certificate.is_empty() {
                    return Err(bad(
                        format!("cheque.tenders[{i}].certificate"),
                        "only for TENDER_KIND_GIFT_CERTIFICATE",
                    ));
                }
                Ok(Tender {
                    kind: match kind {
                        Ok(pb::TenderKind::Cash) => TenderKind::Cash,
                        Ok(pb::TenderKind::BankCard) => TenderKind::BankCard,
                        Ok(pb::TenderKind::FastPayment) => TenderKind::FastPayment,
                        Ok(pb::TenderKind::GiftCertificate) => {
                            TenderKind::Certificate(super::certificate_code(
                                format_args!("cheque.tenders[{i}].certificate"),
                                &certificate,
                            )?)
                        }
                        _ => return Err(bad(format!("cheque.tenders[{i}].kind"), "unknown")),
                    },
                    amount: money(format_args!("cheque.tenders[{i}].amount"), &amount)?,
                })
            },
        )
        .collect()
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
                    // Refused here, as the other kinds are, when its form is none of them;
                    // which one it is may need the state (a known card, a registered phone).
                    if v.contains(['%', ';', '^', '=']) {
                        card_from_magstripe(&v).map_err(|e| bad(f(), e))?;
                    } else if loyalty_core::qr::parse(&v).is_none()
                        && CardNo::new(&v).is_err()
                        && Phone::parse(&v).is_err()
                    {
                        return Err(bad(
                            f(),
                            "neither a QR code, magnetic stripe data, a card number nor a phone",
                        ));
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

/// A refund: the purchase by its id, or by its cheque number and the selling cashbox.
/// The operation id is the caller's.
pub fn refund(r: pb::RefundRequest, lines_max: usize) -> Wire<Command> {
    let pb::RefundRequest {
        operation_id: _,
        refund_cheque_id,
        purchase_cheque_id,
        lines,
        purchase_id,
        sale_cashbox_id,
        without_receipt,
    } = r;
    if let Some(mut goods) = without_receipt {
        if !(purchase_id.is_empty() && purchase_cheque_id.is_empty() && lines.is_empty()) {
            return Err(bad(
                "without_receipt",
                "names no purchase and no purchase lines: the goods are its own lines",
            ));
        }
        if !goods.cheque_id.is_empty() && goods.cheque_id != refund_cheque_id {
            return Err(bad("without_receipt.cheque_id", "is refund_cheque_id"));
        }
        goods.cheque_id = refund_cheque_id;
        return Ok(Command::RefundWithoutReceipt {
            cheque: cheque(Some(goods), lines_max)
                .map_err(|e| bad(format!("without_receipt.{}", e.field), e.reason))?,
        });
    }
    // The sale: its purchase id names its cashbox, always; a cheque number is this
    // cashbox's unless `sale_cashbox_id` names another.
    let (purchase, sold_at) = match (purchase_id.is_empty(), purchase_cheque_id.is_empty()) {
        (false, true) if sale_cashbox_id == 0 => {
            let key = super::purchase_id("purchase_id", &purchase_id)?;
            (key.cheque, Some(key.cashbox))
        }
        (false, true) => {
            return Err(bad(
                "sale_cashbox_id",
                "goes with purchase_cheque_id, not purchase_id",
            ))
        }
        (true, false) => (
            cheque_id("purchase_cheque_id", &purchase_cheque_id)?,
            (sale_cashbox_id != 0).then_some(CashboxId(sale_cashbox_id)),
        ),
        _ => {
            return Err(bad(
                "purchase_id",
                "name the purchase by exactly one of purchase_id and purchase_cheque_id",
            ))
        }
    };
    Ok(Command::Refund {
        refund: cheque_id("refund_cheque_id", &refund_cheque_id)?,
        purchase,
        lines: refund_lines(lines, lines_max)?,
        sold_at,
    })
}

/// One offline item → its operation id and command.
pub fn offline_item(i: usize, item: pb::OfflineItem, lines_max: usize) -> Wire<(OpId, Command)> {
    let pb::OfflineItem { operation_id, item } = item;
    let op = OpId::parse(&operation_id).map_err(|e| bad(format!("items[{i}].operation_id"), e))?;
    let command = match item.ok_or_else(|| {
        bad(
            format!("items[{i}]"),
            "neither purchase, refund, confirm nor cancel",
        )
    })? {
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
        pb::offline_item::Item::Confirm(pb::PurchaseRequest {
            operation_id: _,
            cheque_id: id,
            slip_width: _,
        }) => Command::Confirm {
            cheque: cheque_id(format_args!("items[{i}].confirm.cheque_id"), &id)?,
        },
        pb::offline_item::Item::Cancel(pb::PurchaseRequest {
            operation_id: _,
            cheque_id: id,
            slip_width: _,
        }) => Command::Cancel {
            cheque: cheque_id(format_args!("items[{i}].cancel.cheque_id"), &id)?,
        },
        pb::offline_item::Item::Refund(r) => refund(r, lines_max)
            .map_err(|e| bad(format!("items[{i}].refund.{}", e.field), e.reason))?,
    };
    Ok((op, command))
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
