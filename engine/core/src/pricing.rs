//! Pricing a cheque: discounts, the redeemable cap per line, allocation of points paid,
//! accrual, and the other things offers do (coupons to issue, messages). Pure arithmetic
//! over the offers open at the cashbox's local time.
//!
//! Rules, in this order:
//! - An offer is open when it is enabled, inside its validity window and its weekday and
//!   daily-hour conditions, for the store, for the card's type and for the coupons shown.
//!   Its targets are the lines in its scope; it needs at least one, the target lines'
//!   quantity must reach `min_qty`, and the whole cheque's amount must reach `min_total`.
//! - Monetary offers are taken by priority (higher first, then lower id). Discounts and
//!   accruals each have their own stacking: a stackable offer applies on top of earlier
//!   ones, an exclusive offer only to target lines no earlier offer of its kind touched,
//!   and then no later offer of that kind touches them.
//! - A percent discount is taken of what is left of the line after earlier discounts (the
//!   till's own discount included); a per-line amount is given to each target line; a
//!   total amount is split across the target lines in proportion to their room above the
//!   minimal price (largest remainder, ties to the earlier line). Promotional lines get no
//!   discount, and no line goes below its minimal price × quantity.
//! - "N + M" and bundles are discounts too (same stacking, promotional lines and minimal
//!   prices), over whole units only: of every N + M units the M cheapest by value left get
//!   their percent off; a bundle takes a unit of each of its products per set and splits
//!   the difference to its price over the set's lines by value (largest remainder).
//! - The redeemable cap of a line is the program's share of its net, never below the
//!   minimal price; points paid are split across lines in proportion to their caps.
//! - Accrual is computed after points: a percent of the money left to pay on the line
//!   (several stackable percents each rounded on their own), a per-line amount, or a total
//!   split across the target lines in proportion to their net amounts.
//! - Rounding is the one rule of [`crate::amount`] (half away from zero, per line).

use crate::amount::{allocate, extend, percent_of, Money, Percent, Points, Qty};
use crate::command::{Cheque, Totals};
use crate::ids::{CouponSeriesId, GroupCode, OfferId, ProductCode};
use crate::model::*;
use crate::state::StateView;

/// What pricing may grant, and what the offers' conditions are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    /// Direct discounts (not for offline cheques, which were paid in full).
    pub discounts: bool,
    /// Accrual and coupons (not for cheques without a customer).
    pub accrual: bool,
    /// The customer's favourite goods (for offers scoped to them).
    pub favourites: &'a [ProductCode],
    pub occasion: Occasion<'a>,
    /// An e-commerce order being picked up: the discount promised for each line, which
    /// replaces the discount offers; its points may pay the whole net of each line.
    pub promised: Option<&'a [Money]>,
    /// What each offer with limits may still give this cheque (`crate::budget::room`);
    /// offers not listed have none.
    pub budgets: &'a [(OfferId, i64)],
    /// The customer's stamps with each stamps offer before this cheque
    /// (`crate::budget::stamps`); none listed: no customer, no stamps.
    pub stamps: &'a [(OfferId, u32)],
}

/// Something an offer gives besides prices and points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Perk {
    Coupon {
        offer: OfferId,
        series: CouponSeriesId,
    },
    Message {
        offer: OfferId,
        to: MessageTo,
        template: String,
    },
    Gift {
        offer: OfferId,
        product: ProductCode,
        qty: Qty,
    },
}

/// A priced cheque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub perks: Vec<Perk>,
    /// What the offers with limits gave (discount money or points), by offer.
    pub budget: Vec<(OfferId, i64)>,
    /// The stamps the cheque collects, by stamps offer.
    pub stamps: Vec<(OfferId, u32)>,
}

/// `given` as it is, or — when it is more than `room` — `room` split in proportion to it.
fn capped(room: Option<i64>, given: Vec<i64>) -> Vec<i64> {
    match room {
        Some(r) if given.iter().sum::<i64>() > r => allocate(r, &given),
        _ => given,
    }
}

/// What pricing knows of one line.
struct Facts {
    amount: i64,
    floor: i64,
    promotional: bool,
    qty: Qty,
    code: ProductCode,
    group: Option<GroupCode>,
    favourite: bool,
}

/// Per-kind stacking bookkeeping: which lines an offer of the kind touched, and which an
/// exclusive offer took.
struct Stacking {
    touched: Vec<bool>,
    locked: Vec<bool>,
}

impl Stacking {
    fn new(n: usize) -> Stacking {
        Stacking {
            touched: vec![false; n],
            locked: vec![false; n],
        }
    }

    fn eligible(&self, i: usize, exclusive: bool) -> bool {
        !(self.locked[i] || exclusive && self.touched[i])
    }

    fn mark(&mut self, i: usize, exclusive: bool) {
        self.touched[i] = true;
        self.locked[i] |= exclusive;
    }
}

/// The lines by product code and by group (each group and the groups around it), sorted
/// by key and built on first use, so that an offer finds its target lines by binary
/// search instead of looking at every line.
struct LineIndex<'f> {
    facts: &'f [Facts],
    by_code: std::cell::OnceCell<Vec<(&'f str, usize)>>,
    by_group: std::cell::OnceCell<Vec<(&'f str, usize)>>,
}

impl<'f> LineIndex<'f> {
    fn new(facts: &'f [Facts]) -> LineIndex<'f> {
        LineIndex {
            facts,
            by_code: Default::default(),
            by_group: Default::default(),
        }
    }

    fn codes(&self) -> &[(&'f str, usize)] {
        self.by_code.get_or_init(|| {
            let mut v: Vec<(&str, usize)> = (self.facts.iter().enumerate())
                .map(|(i, f)| (f.code.as_str(), i))
                .collect();
            v.sort_unstable();
            v
        })
    }

    fn groups(&self) -> &[(&'f str, usize)] {
        self.by_group.get_or_init(|| {
            let mut v: Vec<(&str, usize)> = Vec::new();
            for (i, f) in self.facts.iter().enumerate() {
                if let Some(g) = &f.group {
                    let g = g.as_str();
                    v.push((g, i));
                    v.extend(g.match_indices('/').map(|(cut, _)| (&g[..cut], i)));
                }
            }
            v.sort_unstable();
            v
        })
    }

    /// The offer's target lines, in cheque order (the same lines as [`Offer::targets`]).
    fn targets(&self, o: &Offer) -> Vec<usize> {
        fn union<'k>(keys: impl Iterator<Item = &'k str>, sorted: &[(&str, usize)]) -> Vec<usize> {
            let mut v: Vec<usize> = Vec::new();
            for k in keys {
                let from = sorted.partition_point(|(x, _)| *x < k);
                v.extend(
                    sorted[from..]
                        .iter()
                        .take_while(|(x, _)| *x == k)
                        .map(|(_, i)| *i),
                );
            }
            v.sort_unstable();
            v.dedup();
            v
        }
        let n = self.facts.len();
        match &o.scope {
            OfferScope::Cheque => (0..n).collect(),
            OfferScope::Favourites => (0..n).filter(|&i| self.facts[i].favourite).collect(),
            OfferScope::Groups(gs) => union(gs.iter().map(GroupCode::as_str), self.groups()),
            OfferScope::Products(ps) => union(ps.iter().map(ProductCode::as_str), self.codes()),
        }
    }
}

/// The target lines that `take` admits and that hold whole units, with their units (goods
/// sold by weight hold none).
fn whole_units(
    facts: &[Facts],
    targets: &[usize],
    take: impl Fn(usize) -> bool,
) -> Vec<(usize, i64)> {
    targets
        .iter()
        .copied()
        .filter(|&i| take(i))
        .filter_map(|i| {
            let q = facts[i].qty.0;
            (q > 0 && q % 1000 == 0).then_some((i, q / 1000))
        })
        .collect()
}

/// `percent` off the `free` cheapest of the units of `lines` (line, units) — by a unit's
/// value after earlier discounts, ties to the earlier line — each line within its room.
fn cheapest_units(
    facts: &[Facts],
    discount: &[i64],
    mut lines: Vec<(usize, i64)>,
    mut free: i64,
    percent: Percent,
    rooms: &[i64],
) -> Vec<(usize, i64)> {
    lines.sort_by_key(|&(i, u)| ((facts[i].amount - discount[i]) / u, i));
    let mut given = Vec::new();
    for (i, u) in lines {
        let k = u.min(free);
        if k == 0 {
            break;
        }
        free -= k;
        let value = part(facts[i].amount - discount[i], k, u);
        given.push((i, percent_of(value, percent).min(rooms[i])));
    }
    given
}

/// `k` of a line's `u` units of value `value`: `value × k / u`, rounded half away from zero.
fn part(value: i64, k: i64, u: i64) -> i64 {
    let (num, den) = (i128::from(value) * i128::from(k), i128::from(u));
    let (q, r) = (num / den, num % den);
    let q = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    i64::try_from(q).unwrap_or(i64::MAX)
}

/// Prices every line of the cheque. `paid` must not exceed the sum of the caps (callers
/// check that first).
pub fn price(
    view: &impl StateView,
    program: &Program,
    cheque: &Cheque,
    paid: Points,
    grants: Grants<'_>,
) -> Priced {
    let facts: Vec<Facts> = cheque
        .lines
        .iter()
        .map(|line| {
            let product = view.product(&line.product);
            let code = product.as_ref().map_or(&line.product, |p| &p.code).clone();
            let amount = extend(line.price.0, line.qty);
            // The stricter of the till and the catalogue: the higher minimal price, and
            // promotional if either says so.
            let min_price = product
                .as_ref()
                .map_or(line.min_price, |p| p.min_price.max(line.min_price));
            Facts {
                amount,
                // A minimal price above the line's own price leaves no room; computed so
                // that a large minimal price cannot overflow.
                floor: crate::amount::line_amount(min_price.0, line.qty)
                    .map_or(amount, |f| f.min(amount)),
                promotional: line.promotional || product.as_ref().is_some_and(|p| p.promotional),
                qty: line.qty,
                favourite: grants.favourites.contains(&code),
                code,
                group: product.and_then(|p| p.group),
            }
        })
        .collect();
    let n = facts.len();
    let cheque_amount: i64 = facts.iter().map(|f| f.amount).sum();
    let all = view.offers();
    let mut offers: Vec<&Offer> = all
        .iter()
        .filter(|o| o.open_for(&grants.occasion))
        .collect();
    offers.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));

    let mut discount: Vec<i64> = match grants.promised {
        Some(p) => cheque
            .lines
            .iter()
            .zip(p)
            .map(|(l, d)| l.local_discount.0 + d.0)
            .collect(),
        None => cheque.lines.iter().map(|l| l.local_discount.0).collect(),
    };
    let room = |i: usize, discount: &[i64]| (facts[i].amount - discount[i] - facts[i].floor).max(0);
    let mut applied: Vec<Vec<OfferId>> = vec![Vec::new(); n];
    let mut rates: Vec<Vec<(Percent, Option<LotTerms>)>> = vec![Vec::new(); n];
    let mut fixed_accrual = vec![0i64; n];
    // Fixed accrual of offers with their own lot terms, by line.
    let mut fixed_own: Vec<Vec<(LotTerms, i64)>> = vec![Vec::new(); n];
    let mut accrual_totals: Vec<(i64, Vec<usize>, Option<LotTerms>)> = Vec::new();
    let mut perks = Vec::new();
    let (mut d_stack, mut a_stack) = (Stacking::new(n), Stacking::new(n));
    let budget_of = |id: OfferId| {
        grants
            .budgets
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, r)| *r)
    };
    let mut budget: Vec<(OfferId, i64)> = Vec::new();
    let mut stamps: Vec<(OfferId, u32)> = Vec::new();
    // Accrual offers with limits: (offer, rate, lines, own lot terms).
    let mut limited: Vec<(OfferId, Rate, Vec<usize>, Option<LotTerms>)> = Vec::new();

    // A discount offer's amounts, by line, given: on the line, named on it, marked for
    // stacking, and counted when the offer is limited.
    macro_rules! give {
        ($o:expr, $pairs:expr) => {
            for (i, g) in $pairs {
                if g > 0 {
                    discount[i] += g;
                    applied[i].push($o.id);
                    d_stack.mark(i, $o.exclusive);
                    if budget_of($o.id).is_some() {
                        spend(&mut budget, $o.id, g);
                    }
                }
            }
        };
    }
    let index = LineIndex::new(&facts);
    for &o in &offers {
        let targets = index.targets(o);
        let qty: i64 = targets.iter().map(|&i| facts[i].qty.0).sum();
        if targets.is_empty() || qty < o.when.min_qty.0 || cheque_amount < o.when.min_total.0 {
            continue;
        }
        match &o.effect {
            OfferEffect::Discount(rate) if grants.discounts && grants.promised.is_none() => {
                let lines: Vec<usize> = targets
                    .into_iter()
                    .filter(|&i| !facts[i].promotional && d_stack.eligible(i, o.exclusive))
                    .collect();
                let rooms: Vec<i64> = lines.iter().map(|&i| room(i, &discount)).collect();
                let given: Vec<i64> = match *rate {
                    Rate::Percent(p) => lines
                        .iter()
                        .zip(&rooms)
                        .map(|(&i, &r)| percent_of(facts[i].amount - discount[i], p).min(r))
                        .collect(),
                    Rate::PerLine(x) => rooms.iter().map(|&r| x.min(r)).collect(),
                    Rate::Total(x) => allocate(x.min(rooms.iter().sum()), &rooms),
                };
                let given = capped(budget_of(o.id), given);
                give!(o, lines.iter().copied().zip(given));
            }
            OfferEffect::Multibuy { buy, get, percent }
                if grants.discounts && grants.promised.is_none() =>
            {
                let lines = whole_units(&facts, &targets, |i| {
                    !facts[i].promotional && d_stack.eligible(i, o.exclusive)
                });
                let set = i64::from(*buy) + i64::from(*get);
                let free = lines.iter().map(|(_, u)| u).sum::<i64>() / set * i64::from(*get);
                let rooms: Vec<i64> = (0..n).map(|i| room(i, &discount)).collect();
                let given = cheapest_units(&facts, &discount, lines, free, *percent, &rooms);
                let amounts = capped(budget_of(o.id), given.iter().map(|(_, g)| *g).collect());
                give!(o, given.iter().map(|(i, _)| *i).zip(amounts));
            }
            OfferEffect::Stamps { every, percent } if grants.promised.is_none() => {
                let Some(&(_, had)) = grants.stamps.iter().find(|(s, _)| *s == o.id) else {
                    continue;
                };
                let lines = whole_units(&facts, &targets, |i| {
                    !facts[i].promotional && d_stack.eligible(i, o.exclusive)
                });
                let units: i64 = lines.iter().map(|(_, u)| u).sum();
                let every = i64::from((*every).max(1));
                let had = i64::from(had);
                if units > 0 {
                    stamps.push((o.id, u32::try_from(units).unwrap_or(u32::MAX)));
                }
                if !grants.discounts {
                    continue;
                }
                // The units that complete a card of `every` stamps.
                let free = (had + units) / every - had / every;
                let rooms: Vec<i64> = (0..n).map(|i| room(i, &discount)).collect();
                let given = cheapest_units(&facts, &discount, lines, free, *percent, &rooms);
                let amounts = capped(budget_of(o.id), given.iter().map(|(_, g)| *g).collect());
                give!(o, given.iter().map(|(i, _)| *i).zip(amounts));
            }
            OfferEffect::Bundle { price } if grants.discounts && grants.promised.is_none() => {
                let OfferScope::Products(products) = &o.scope else {
                    continue;
                };
                let lines = whole_units(&facts, &targets, |i| {
                    !facts[i].promotional && d_stack.eligible(i, o.exclusive)
                });
                let of = |p: &ProductCode| -> Vec<(usize, i64)> {
                    lines
                        .iter()
                        .copied()
                        .filter(|&(i, _)| &facts[i].code == p)
                        .collect()
                };
                let per: Vec<Vec<(usize, i64)>> = products.iter().map(of).collect();
                let sets = per
                    .iter()
                    .map(|ls| ls.iter().map(|(_, u)| u).sum::<i64>())
                    .min()
                    .unwrap_or(0);
                if sets == 0 {
                    continue;
                }
                // `sets` units of each product, line by line in cheque order, at their value.
                let mut chosen: Vec<(usize, i64)> = Vec::new();
                for ls in &per {
                    let mut need = sets;
                    for &(i, u) in ls {
                        let k = u.min(need);
                        need -= k;
                        if k > 0 {
                            chosen.push((i, part(facts[i].amount - discount[i], k, u)));
                        }
                    }
                }
                let value: i64 = chosen.iter().map(|(_, v)| v).sum();
                let off = (value - sets.saturating_mul(price.0)).max(0);
                let weights: Vec<i64> = chosen.iter().map(|(_, v)| *v).collect();
                let given: Vec<i64> = chosen
                    .iter()
                    .zip(allocate(off, &weights))
                    .map(|(&(i, _), g)| g.min(room(i, &discount)))
                    .collect();
                let amounts = capped(budget_of(o.id), given);
                give!(o, chosen.iter().map(|(i, _)| *i).zip(amounts));
            }
            OfferEffect::Accrual(rate) if grants.accrual => {
                let lines: Vec<usize> = targets
                    .into_iter()
                    .filter(|&i| a_stack.eligible(i, o.exclusive))
                    .collect();
                if budget_of(o.id).is_some() {
                    // Reckoned once the points paid are known, then held to its room.
                    for &i in &lines {
                        a_stack.mark(i, o.exclusive);
                    }
                    limited.push((o.id, *rate, lines, o.lots));
                    continue;
                }
                match *rate {
                    Rate::Percent(p) => lines.iter().for_each(|&i| rates[i].push((p, o.lots))),
                    Rate::PerLine(x) => lines.iter().for_each(|&i| match o.lots {
                        Some(t) => fixed_own[i].push((t, x)),
                        None => fixed_accrual[i] = fixed_accrual[i].saturating_add(x),
                    }),
                    Rate::Total(x) => accrual_totals.push((x, lines.clone(), o.lots)),
                }
                for &i in &lines {
                    applied[i].push(o.id);
                    a_stack.mark(i, o.exclusive);
                }
            }
            OfferEffect::IssueCoupon(series) if grants.accrual => perks.push(Perk::Coupon {
                offer: o.id,
                series: *series,
            }),
            OfferEffect::Message { to, template } => perks.push(Perk::Message {
                offer: o.id,
                to: *to,
                template: template.clone(),
            }),
            OfferEffect::Gift { product, qty } if grants.discounts => perks.push(Perk::Gift {
                offer: o.id,
                product: product.clone(),
                qty: *qty,
            }),
            _ => {}
        }
    }

    let net: Vec<i64> = (0..n).map(|i| facts[i].amount - discount[i]).collect();
    for (x, lines, terms) in accrual_totals {
        let weights: Vec<i64> = lines.iter().map(|&i| net[i].max(0)).collect();
        for (&i, part) in lines.iter().zip(allocate(x, &weights)) {
            match terms {
                Some(t) => fixed_own[i].push((t, part)),
                None => fixed_accrual[i] = fixed_accrual[i].saturating_add(part),
            }
        }
    }
    let caps: Vec<i64> = (0..n)
        .map(|i| match grants.promised {
            Some(_) => net[i].max(0),
            None => redeem_cap(program, net[i], facts[i].floor),
        })
        .collect();
    let parts = allocate(paid.0, &caps);
    for (id, rate, lines, terms) in limited {
        let due = |i: usize| net[i] - parts[i];
        let wanted: Vec<i64> = match rate {
            Rate::Percent(p) => lines.iter().map(|&i| percent_of(due(i), p)).collect(),
            Rate::PerLine(x) => vec![x; lines.len()],
            Rate::Total(x) => {
                allocate(x, &lines.iter().map(|&i| net[i].max(0)).collect::<Vec<_>>())
            }
        };
        for (&i, x) in lines.iter().zip(capped(budget_of(id), wanted)) {
            if x > 0 {
                match terms {
                    Some(t) => fixed_own[i].push((t, x)),
                    None => fixed_accrual[i] = fixed_accrual[i].saturating_add(x),
                }
                applied[i].push(id);
                spend(&mut budget, id, x);
            }
        }
    }
    let lines = cheque
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let due = net[i] - parts[i];
            // What offers with their own lot terms give, by terms.
            let mut own: Vec<(LotTerms, Points)> = Vec::new();
            let mut add_own = |t: LotTerms, x: i64| match own.iter_mut().find(|(u, _)| *u == t) {
                Some((_, p)) => p.0 = p.0.saturating_add(x),
                None => own.push((t, Points(x))),
            };
            let mut accrual = fixed_accrual[i];
            for &(t, x) in &fixed_own[i] {
                accrual = accrual.saturating_add(x);
                add_own(t, x);
            }
            for &(r, terms) in &rates[i] {
                let x = percent_of(due, r);
                accrual = accrual.saturating_add(x);
                if let Some(t) = terms {
                    add_own(t, x);
                }
            }
            // Bounded like any amount, however many offers stack (the own parts within it).
            let accrual = accrual.min(crate::amount::AMOUNT_MINOR_MAX);
            own.retain(|(_, p)| p.0 > 0);
            let mut room = accrual;
            for (_, p) in &mut own {
                p.0 = p.0.min(room);
                room -= p.0;
            }
            PricedLine {
                line: line.clone(),
                amount: Money(facts[i].amount),
                discount: Money(discount[i]),
                redeem_cap: Points(caps[i]),
                paid: Points(parts[i]),
                accrual: Points(accrual),
                offers: std::mem::take(&mut applied[i]),
                refunded_qty: Qty(0),
                accrual_lots: own,
            }
        })
        .collect();
    Priced {
        lines,
        perks,
        budget,
        stamps,
    }
}

/// Adds `x` to what offer `id` gave.
fn spend(budget: &mut Vec<(OfferId, i64)>, id: OfferId, x: i64) {
    match budget.iter_mut().find(|(o, _)| *o == id) {
        Some((_, v)) => *v += x,
        None => budget.push((id, x)),
    }
}

/// Cheque totals; `redeem_max` is the cap limited by what the customer may spend.
pub fn totals(lines: &[PricedLine], spendable: Option<Points>) -> Totals {
    let mut t = Totals::default();
    let mut caps = Points::ZERO;
    for l in lines {
        t.amount = t.amount.plus(l.amount);
        t.discount = t.discount.plus(l.discount);
        t.paid = t.paid.plus(l.paid);
        t.accrual = t.accrual.plus(l.accrual);
        caps = caps.plus(l.redeem_cap);
    }
    t.redeem_max = spendable.map_or(Points::ZERO, |s| caps.min(s.max(Points::ZERO)));
    t
}

/// The part of the lines' accrual that will be pending when credited: what offers with
/// their own terms give by those terms, the rest by the programme's.
pub fn pending_accrual(program: &Program, lines: &[PricedLine]) -> Points {
    let mut pending = 0;
    for l in lines {
        let mut own = 0;
        for (terms, x) in &l.accrual_lots {
            own += x.0;
            if terms.pending_secs > 0 {
                pending += x.0;
            }
        }
        if program.lots.pending_secs > 0 {
            pending += l.accrual.0 - own;
        }
    }
    Points(pending)
}

/// What of a line may be paid with points: the programme's share of its net, never below
/// its minimal price (`floor`). The one rule for tills and online orders.
pub(crate) fn redeem_cap(program: &Program, net: i64, floor: i64) -> i64 {
    percent_of(net, program.redeem_share).min((net - floor).max(0))
}

/// The sum of the lines' redeemable caps.
pub(crate) fn cap_sum(lines: &[PricedLine]) -> Points {
    lines.iter().fold(Points::ZERO, |s, l| s.plus(l.redeem_cap))
}

/// The placeholders a message template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "discount",
    "paid",
    "accrued",
    "balance",
    "to_pay",
    "total",
    "potential",
    "pending",
];

/// The `{name}`s of a template that are not placeholders.
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            unknown.push(format!("{{{name}}}"));
        }
        rest = &after[close + 1..];
    }
    unknown
}

/// A message template filled in from the totals and the customer's points after the
/// purchase: `{discount}`, `{paid}`, `{accrued}`, `{balance}`, `{pending}`, `{to_pay}`,
/// `{total}`, `{potential}` (what a customer without a card would earn with one); other
/// text is kept as it is.
pub(crate) fn render(template: &str, t: &Totals, after: Option<After>) -> String {
    let to_pay = t.amount.minus(t.discount).minus(Money(t.paid.0));
    let shown = |f: fn(After) -> Points| after.map_or_else(String::new, |a| f(a).to_string());
    template
        .replace("{discount}", &t.discount.to_string())
        .replace("{paid}", &t.paid.to_string())
        .replace("{accrued}", &t.accrual.to_string())
        .replace("{to_pay}", &to_pay.to_string())
        .replace("{total}", &t.amount.to_string())
        .replace("{potential}", &t.potential_accrual.to_string())
        .replace("{balance}", &shown(|a| a.balance))
        .replace("{pending}", &shown(|a| a.pending))
}

/// The customer's points once the purchase is confirmed: the balance (spendable and held)
/// and what is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub balance: Points,
    pub pending: Points,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at() -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .expect("date")
    }

    proptest! {
        /// The line index finds exactly the lines `Offer::targets` says an offer covers, in
        /// cheque order, for every kind of scope and any group paths.
        #[test]
        fn the_line_index_agrees_with_the_scope_rule(
            lines in prop::collection::vec((0u8..6, prop::option::of((0u8..3, prop::option::of(0u8..3))), any::<bool>()), 0..30),
            scope in 0u8..4,
            picks in prop::collection::vec(0u8..6, 1..4),
        ) {
            let group = |(a, b): (u8, Option<u8>)| {
                let path = match b {
                    Some(b) => format!("g{a}/s{b}"),
                    None => format!("g{a}"),
                };
                GroupCode::new(&path).expect("group")
            };
            let facts: Vec<Facts> = lines
                .iter()
                .map(|&(code, g, favourite)| Facts {
                    amount: 100,
                    floor: 0,
                    promotional: false,
                    qty: Qty(1000),
                    code: ProductCode::new(&format!("p{code}")).expect("code"),
                    group: g.map(group),
                    favourite,
                })
                .collect();
            let scope = match scope {
                0 => OfferScope::Cheque,
                1 => OfferScope::Favourites,
                2 => OfferScope::Products(
                    picks.iter().map(|p| ProductCode::new(&format!("p{p}")).expect("code")).collect(),
                ),
                _ => OfferScope::Groups(
                    picks.iter().map(|p| group((p % 3, (p / 3 == 1).then_some(p % 3)))).collect(),
                ),
            };
            let offer = Offer::new(OfferId(1), OfferEffect::Accrual(Rate::PerLine(1)), scope, at(), at())
                .normalized();
            let by_rule: Vec<usize> = (0..facts.len())
                .filter(|&i| offer.targets(&facts[i].code, facts[i].group.as_ref(), facts[i].favourite))
                .collect();
            prop_assert_eq!(LineIndex::new(&facts).targets(&offer), by_rule);
        }
    }
}
