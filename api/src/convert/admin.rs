//! What administrators send, wire → domain: products, offers, coupon series and codes,
//! card ranges, the identifier policy and e-commerce orders.

use super::{bad, Wire};
use super::{local_time, money, positive_qty, profile_text, zero_or};
use crate::limits::{
    CARD_TYPE_BYTES_MAX, ISSUE_COUPONS_MAX, NAME_BYTES_MAX, OFFER_SCOPE_ITEMS_MAX,
    PRODUCT_BARCODES_MAX, SERIES_NAME_BYTES_MAX,
};
use crate::pb;
use loyalty_core::amount::{Money, Percent, Qty};
use loyalty_core::decide::BIRTHDAY_WINDOW_DAYS_MAX;
use loyalty_core::ids::*;
use loyalty_core::model::*;

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
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("prefix", "one digit or more, digits only"));
    }
    if length == 0 || length > CardNo::BYTES_MAX as u32 || prefix.len() as u32 >= length {
        return Err(bad(
            "length",
            format!("1..={}, longer than the prefix", CardNo::BYTES_MAX),
        ));
    }
    let check = match pb::CheckDigit::try_from(check) {
        // A range is removed by its prefix and length alone.
        Ok(pb::CheckDigit::Unspecified) if remove => CheckDigit::None,
        Ok(pb::CheckDigit::Unspecified) => {
            return Err(bad("check", "say NONE, LUHN or EAN13: none is not assumed"))
        }
        Ok(pb::CheckDigit::None) => CheckDigit::None,
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
    if redeem_via.is_empty() {
        return Err(bad(
            "redeem_via",
            "empty would stop every redemption; name the kinds that may redeem",
        ));
    }
    Ok(IdentifierPolicy { redeem_via })
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
        card_statuses,
        points_terms,
        buy,
        get,
        bundle_price,
        gift_product,
        gift_quantity,
        budget_total,
        budget_per_customer_day,
        uses_per_customer,
        stamps_every,
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
        Ok(pb::OfferEffect::Multibuy) => OfferEffect::Multibuy {
            buy,
            get,
            percent: share_or_all(&percent)?,
        },
        Ok(pb::OfferEffect::Stamps) => OfferEffect::Stamps {
            every: stamps_every,
            percent: share_or_all(&percent)?,
        },
        Ok(pb::OfferEffect::Bundle) => OfferEffect::Bundle {
            price: Money::parse(&bundle_price).map_err(|e| bad("offer.bundle_price", e))?,
        },
        Ok(pb::OfferEffect::Gift) => OfferEffect::Gift {
            product: ProductCode::new(&gift_product).map_err(|e| bad("offer.gift_product", e))?,
            qty: match gift_quantity.as_str() {
                "" => Qty(1000),
                q => positive_qty("offer.gift_quantity", q)?,
            },
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
    let lots = match points_terms {
        None => None,
        Some(_) if !matches!(effect, OfferEffect::Accrual(_)) => {
            return Err(bad(
                "offer.points_terms",
                "only an accrual offer credits points",
            ))
        }
        Some(t) => Some(lot_terms("offer.points_terms", t)?),
    };
    let card_types = card_types
        .into_iter()
        .map(|t| profile_text("offer.card_types", &t, CARD_TYPE_BYTES_MAX))
        .collect::<Wire<_>>()?;
    let amount = |field: &str, s: &str| -> Wire<Option<i64>> {
        match s.trim() {
            "" => Ok(None),
            s => Money::parse(s)
                .map(|m| Some(m.0))
                .map_err(|e| bad(field, e)),
        }
    };
    let limits = OfferLimits {
        total: amount("offer.budget_total", &budget_total)?,
        per_customer_day: amount("offer.budget_per_customer_day", &budget_per_customer_day)?,
        uses_per_customer: (uses_per_customer > 0).then_some(uses_per_customer),
    };
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
            card_statuses: card_statuses
                .into_iter()
                .map(|s| super::card_status("offer.card_statuses", s))
                .collect::<Wire<_>>()?,
        },
        priority,
        exclusive,
        valid_from: local_time("offer.valid_from", &valid_from)?,
        valid_to: local_time("offer.valid_to", &valid_to)?,
        enabled,
        lots,
        limits: (limits != OfferLimits::default()).then_some(limits),
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

/// How long credited points wait and live: each at most a hundred years (lifetime 0: they
/// never expire).
fn lot_terms(field: &str, t: pb::PointsTerms) -> Wire<LotTerms> {
    const CENTURY: u64 = 100 * 366 * 24 * 3600;
    if t.pending_secs > CENTURY || t.lifetime_secs > CENTURY {
        return Err(bad(field, "at most a hundred years"));
    }
    Ok(LotTerms {
        pending_secs: t.pending_secs,
        lifetime_secs: (t.lifetime_secs > 0).then_some(t.lifetime_secs),
    })
}

/// An event bonus: its kind, points above zero, and its terms (required: a bonus has its
/// own pending period and lifetime).
pub fn bonus_rule(r: Option<pb::BonusRule>) -> Wire<BonusRule> {
    let pb::BonusRule {
        kind,
        points,
        terms,
        enabled,
        days_before,
        days_after,
    } = r.ok_or_else(|| bad("rule", "missing"))?;
    let kind = match pb::BonusKind::try_from(kind) {
        Ok(pb::BonusKind::Welcome) => BonusKind::Welcome,
        Ok(pb::BonusKind::FirstPurchase) => BonusKind::FirstPurchase,
        Ok(pb::BonusKind::Birthday) => BonusKind::Birthday,
        _ => return Err(bad("rule.kind", "WELCOME, FIRST_PURCHASE or BIRTHDAY")),
    };
    let days = |field: &str, d: u32| {
        u16::try_from(d)
            .ok()
            .filter(|d| *d <= BIRTHDAY_WINDOW_DAYS_MAX)
            .ok_or_else(|| bad(field, format!("at most {BIRTHDAY_WINDOW_DAYS_MAX} days")))
    };
    let (days_before, days_after) = (
        days("rule.days_before", days_before)?,
        days("rule.days_after", days_after)?,
    );
    if kind != BonusKind::Birthday && days_before.max(days_after) > 0 {
        return Err(bad(
            "rule.days_before",
            "only a birthday bonus has a window",
        ));
    }
    let points = super::points("rule.points", &points)?;
    if points.0 == 0 {
        return Err(bad("rule.points", "above zero"));
    }
    let terms = terms.ok_or_else(|| bad("rule.terms", "required: pending and lifetime"))?;
    Ok(BonusRule {
        kind,
        points,
        lots: lot_terms("rule.terms", terms)?,
        enabled,
        days_before,
        days_after,
    })
}

/// An event bonus as administrators read it back.
pub fn bonus_rule_to_pb(r: &BonusRule) -> pb::BonusRule {
    pb::BonusRule {
        kind: match r.kind {
            BonusKind::Welcome => pb::BonusKind::Welcome,
            BonusKind::FirstPurchase => pb::BonusKind::FirstPurchase,
            BonusKind::Birthday => pb::BonusKind::Birthday,
        }
        .into(),
        points: r.points.to_string(),
        terms: Some(pb::PointsTerms {
            pending_secs: r.lots.pending_secs,
            lifetime_secs: r.lots.lifetime_secs.unwrap_or(0),
        }),
        enabled: r.enabled,
        days_before: r.days_before.into(),
        days_after: r.days_after.into(),
    }
}

/// A status level's name: as a card type is written (offers' card-type conditions see it).
pub fn tier_name(field: &str, s: &str) -> Wire<Option<String>> {
    let name = profile_text(field, s.trim(), CARD_TYPE_BYTES_MAX)?;
    Ok((!name.is_empty()).then_some(name))
}

/// The programme's status levels; their order and spends are the engine's to check.
pub fn tiers(levels: Vec<pb::TierLevel>, months: u32, rolling: bool) -> Wire<Tiers> {
    let levels = levels
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let name = tier_name(&format!("levels[{i}].name"), &l.name)?
                .ok_or_else(|| bad(format!("levels[{i}].name"), "required"))?;
            let spend = money(format!("levels[{i}].spend"), &l.spend)?;
            Ok(TierLevel { name, spend })
        })
        .collect::<Wire<Vec<_>>>()?;
    let months = u8::try_from(months)
        .ok()
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| bad("months", "1 to 12"))?;
    Ok(Tiers {
        levels,
        months,
        rolling,
    })
}

pub fn tiers_to_pb(t: &Tiers) -> pb::TiersReply {
    pb::TiersReply {
        levels: t
            .levels
            .iter()
            .map(|l| pb::TierLevel {
                name: l.name.clone(),
                spend: l.spend.to_string(),
            })
            .collect(),
        months: t.months.into(),
        rolling: t.rolling,
    }
}

/// A limited offer's budget as administrators read it.
pub fn offer_budget(o: &Offer, l: OfferLimits, given: i64) -> pb::OfferBudget {
    let shown = |x: Option<i64>| x.map_or_else(String::new, |x| Money(x).to_string());
    pb::OfferBudget {
        offer: o.id.0,
        name: o.name.clone(),
        given: Money(given).to_string(),
        total: shown(l.total),
        remaining: shown(l.total.map(|t| (t - given).max(0))),
        per_customer_day: shown(l.per_customer_day),
        uses_per_customer: l.uses_per_customer.unwrap_or(0),
    }
}

/// A percent given, or 100 when empty (a unit given away).
fn share_or_all(percent: &str) -> Wire<Percent> {
    let p = if percent.is_empty() { "100" } else { percent };
    Percent::parse(p).map_err(|e| bad("offer.percent", e))
}
