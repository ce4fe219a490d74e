//! The auditor: an independent model of what the engine must answer and what balances
//! must be. It shares no code with the engine's decisions — it is written from the rules
//! in the README, for single-line cheques with one 5% accrual offer and a 50% redemption
//! share, single-use coupons worth 10 % off, and e-commerce orders picked up as promised,
//! so that a bug in the engine's pricing or ledger shows up as a disagreement.
//!
//! Cards: the workload's card values are `account + generation × accounts`; replacing a
//! card gives its account the next generation, and a card of an older generation is
//! refused as replaced.

mod lots;
mod types;

pub use lots::{Kind, Lots, Taken, Terms};
use std::collections::BTreeMap;
pub use types::*;

pub struct Model {
    pub accounts: Vec<Account>,
    pub purchases: BTreeMap<(u32, String), Purchase>,
    pub kiosks: Vec<u32>,
    pub hold_lifetime_ms: i64,
    pub orders: BTreeMap<String, Order>,
    pub order_lifetime_ms: i64,
    /// Single-use coupons and how many purchases use them now (0 or 1).
    pub coupons: BTreeMap<String, u32>,
    /// Times a purchase took a coupon (some given back since, by cancels and expiry).
    pub coupon_uses: u64,
    /// The current card generation of each account.
    pub generation: Vec<usize>,
    /// Refunds (refunding cashbox, refund cheque) recorded per purchase.
    refunds: BTreeMap<(u32, String), Vec<(u32, String)>>,
    late_confirm_ms: i64,
    /// Purchases confirmed after their hold lifetime, and points that became debt.
    pub late_confirms: u64,
    pub debt_incurred: i64,
    pub returns_without_receipt: u64,
    /// How long credited points wait and live.
    terms: Terms,
    /// The local time of offline cheques, as server time: their lots are dated by it.
    offline_rung_at: i64,
}

/// 5% of `base` minor units, rounded half away from zero.
fn five_percent(base: i64) -> i64 {
    (base * 5 + 50).div_euclid(100)
}

/// 10% of `base` minor units, rounded half away from zero: the coupon discount.
fn ten_percent(base: i64) -> i64 {
    (base * 10 + 50).div_euclid(100)
}

/// Half of `amount`, rounded half away from zero: the redemption cap of a line.
fn half(amount: i64) -> i64 {
    (amount + 1) / 2
}

impl Model {
    pub fn new(cards: usize, kiosks: Vec<u32>, hold_lifetime_ms: i64) -> Model {
        Model {
            accounts: vec![Account::default(); cards],
            generation: vec![0; cards],
            purchases: BTreeMap::new(),
            kiosks,
            hold_lifetime_ms,
            orders: BTreeMap::new(),
            order_lifetime_ms: hold_lifetime_ms * 2,
            coupons: BTreeMap::new(),
            coupon_uses: 0,
            refunds: BTreeMap::new(),
            late_confirm_ms: 0,
            late_confirms: 0,
            debt_incurred: 0,
            returns_without_receipt: 0,
            terms: Terms {
                pending_ms: 0,
                lifetime_ms: None,
            },
            offline_rung_at: 0,
        }
    }

    /// Credited points wait and live by `terms`; offline cheques were rung up at
    /// `offline_rung_at` (server time).
    pub fn with_lots(self, terms: Terms, offline_rung_at: i64) -> Model {
        Model {
            terms,
            offline_rung_at,
            ..self
        }
    }

    /// A registered purchase may be confirmed this long after its hold expired.
    pub fn with_late_confirm(self, late_confirm_ms: i64) -> Model {
        Model {
            late_confirm_ms,
            ..self
        }
    }

    pub fn with_coupons(self, codes: impl IntoIterator<Item = String>) -> Model {
        Model {
            coupons: codes.into_iter().map(|c| (c, 0)).collect(),
            ..self
        }
    }

    /// The discount a cheque gets from a coupon shown with it and the coupon it then uses:
    /// 10 % with a known single-use coupon nobody else uses, shown with a card, when 10 %
    /// is not nothing. `own` is the coupon the purchase already uses.
    fn coupon_discount(
        &self,
        shown: Option<&String>,
        card: bool,
        amount: i64,
        own: Option<&String>,
    ) -> (i64, Option<String>) {
        let Some(code) = shown.filter(|_| card) else {
            return (0, None);
        };
        let Some(&used) = self.coupons.get(code) else {
            return (0, None);
        };
        let discount = ten_percent(amount);
        if used - u32::from(own == Some(code)) >= 1 || discount == 0 {
            return (0, None);
        }
        (discount, Some(code.clone()))
    }

    fn take_coupon(&mut self, code: Option<&String>, delta: i32) {
        if let Some(c) = code {
            self.coupon_uses += u64::from(delta > 0);
            let used = self.coupons.get_mut(c).expect("a used coupon exists");
            *used = used
                .checked_add_signed(delta)
                .expect("coupon uses stay within 0..=1");
        }
    }

    pub fn with_order_lifetime(self, order_lifetime_ms: i64) -> Model {
        Model {
            order_lifetime_ms,
            ..self
        }
    }

    /// A purchase that ends unconfirmed: its hold goes, or back to its order.
    fn release(
        accounts: &mut [Account],
        orders: &mut BTreeMap<String, Order>,
        coupons: &mut BTreeMap<String, u32>,
        p: &mut Purchase,
    ) {
        if let Some(c) = &p.coupon {
            *coupons.get_mut(c).expect("a used coupon exists") -= 1;
        }
        match &p.order {
            Some(number) => {
                let o = orders
                    .get_mut(number)
                    .expect("an order's purchase has its order");
                o.status = OrderStatus::Open;
            }
            None => {
                if let Some(c) = p.card {
                    accounts[c].held -= p.paid;
                    accounts[c].lots.give_back(&p.taken);
                }
                p.taken.clear();
            }
        }
    }

    /// The account of a card value.
    pub fn account_of(&self, card: usize) -> usize {
        card % self.accounts.len()
    }

    /// The card value the account currently has.
    pub fn current_card(&self, account: usize) -> usize {
        account + self.generation[account] * self.accounts.len()
    }

    fn replaced(&self, card: usize) -> bool {
        card / self.accounts.len() < self.generation[self.account_of(card)]
    }

    /// Applies a committed request and says what the engine must have answered. Debt is
    /// paid back first from whatever points became spendable.
    pub fn apply(&mut self, op: &Op, now: i64) -> Expect {
        let expect = self.decide(op, now);
        for a in &mut self.accounts {
            let back = a.debt.min(a.spendable()).max(0);
            a.debt -= back;
            a.lots.spend(back);
        }
        expect
    }

    fn decide(&mut self, op: &Op, now: i64) -> Expect {
        match op {
            Op::Replace { card } => {
                if self.replaced(*card) {
                    return Expect::CardReplaced;
                }
                let account = self.account_of(*card);
                self.generation[account] += 1;
                Expect::Ok
            }
            Op::Pay {
                cashbox,
                cheque,
                card,
                amount,
                points,
                coupon,
            } => {
                if self.replaced(*card) {
                    return Expect::CardReplaced;
                }
                let key = (*cashbox, cheque.clone());
                if self.purchases.contains_key(&key) {
                    return Expect::PurchaseWrongState;
                }
                let (discount, used) = self.coupon_discount(coupon.as_ref(), true, *amount, None);
                let account = self.account_of(*card);
                let a = &mut self.accounts[account];
                if *points > a.spendable() {
                    return Expect::InsufficientPoints;
                }
                if *points > half(amount - discount) {
                    return Expect::RedeemLimitExceeded;
                }
                a.held += points;
                let taken = a.lots.spend(*points);
                let accrual = five_percent(amount - discount - points);
                self.take_coupon(used.as_ref(), 1);
                self.purchases.insert(
                    key,
                    Purchase {
                        card: Some(account),
                        amount: *amount,
                        paid: *points,
                        accrual,
                        status: Status::Held,
                        expires_at: now + self.hold_lifetime_ms,
                        refunded: false,
                        order: None,
                        coupon: used,
                        registered: false,
                        taken,
                        lots: Vec::new(),
                    },
                );
                Expect::Ok
            }
            Op::Register {
                cashbox,
                cheque,
                card,
                amount,
                coupon,
            } => {
                let key = (*cashbox, cheque.clone());
                let lifetime = self.hold_lifetime_ms;
                let replaced = card.is_some_and(|c| self.replaced(c));
                let account = card.map(|c| self.account_of(c));
                let existing = self.purchases.get(&key).cloned();
                match existing {
                    None if replaced => Expect::CardReplaced,
                    None => {
                        let (discount, used) =
                            self.coupon_discount(coupon.as_ref(), card.is_some(), *amount, None);
                        let accrual = if card.is_some() {
                            five_percent(amount - discount)
                        } else {
                            0
                        };
                        self.take_coupon(used.as_ref(), 1);
                        self.purchases.insert(
                            key,
                            Purchase {
                                card: account,
                                amount: *amount,
                                paid: 0,
                                accrual,
                                status: Status::Registered,
                                expires_at: now + lifetime,
                                refunded: false,
                                order: None,
                                coupon: used,
                                registered: true,
                                taken: Taken::new(),
                                lots: Vec::new(),
                            },
                        );
                        Expect::Ok
                    }
                    Some(p) if p.status == Status::Held => {
                        if now >= p.expires_at {
                            return Expect::HoldExpired;
                        }
                        if replaced {
                            return Expect::CardReplaced;
                        }
                        let (discount, used) = self.coupon_discount(
                            coupon.as_ref(),
                            true,
                            p.amount,
                            p.coupon.as_ref(),
                        );
                        if p.paid > half(p.amount - discount) {
                            return Expect::RedeemLimitExceeded;
                        }
                        if used != p.coupon {
                            self.take_coupon(p.coupon.as_ref(), -1);
                            self.take_coupon(used.as_ref(), 1);
                        }
                        let p = self.purchases.get_mut(&key).expect("held purchase");
                        p.status = Status::Registered;
                        p.registered = true;
                        p.accrual = five_percent(p.amount - discount - p.paid);
                        p.coupon = used;
                        Expect::Ok
                    }
                    Some(_) => Expect::PurchaseWrongState,
                }
            }
            Op::Confirm { cashbox, cheque } | Op::Cancel { cashbox, cheque } => {
                let confirm = matches!(op, Op::Confirm { .. });
                let Some(p) = self.purchases.get_mut(&(*cashbox, cheque.clone())) else {
                    return Expect::PurchaseUnknown;
                };
                let late = now >= p.expires_at;
                let in_time = now < p.expires_at + self.late_confirm_ms;
                if confirm {
                    // Registered: on time, or late within the window; expired by the sweep
                    // after registration: late within the window, unless it picked up an
                    // order or used a coupon.
                    let completable = match p.status {
                        Status::Registered => in_time,
                        Status::Expired => {
                            p.registered && p.order.is_none() && p.coupon.is_none() && in_time
                        }
                        Status::Held if late => false,
                        _ => return Expect::PurchaseWrongState,
                    };
                    if !completable {
                        return if matches!(
                            p.status,
                            Status::Registered | Status::Expired | Status::Held
                        ) {
                            Expect::HoldExpired
                        } else {
                            Expect::PurchaseWrongState
                        };
                    }
                } else if !matches!(p.status, Status::Held | Status::Registered) {
                    return Expect::PurchaseWrongState;
                }
                if confirm {
                    self.late_confirms += u64::from(late);
                    if let Some(c) = p.card {
                        let a = &mut self.accounts[c];
                        if p.status == Status::Expired {
                            // The sweep released the hold: the points are taken again as
                            // far as they are there, the rest is owed.
                            let taken = p.paid.min(a.spendable());
                            p.taken = a.lots.spend(taken);
                            a.debt += p.paid - taken;
                            self.debt_incurred += p.paid - taken;
                        } else {
                            a.held -= p.paid;
                        }
                        if p.accrual > 0 {
                            let terms = self.terms;
                            let lot = a.lots.credit(p.accrual, now, now, terms, Kind::Purchase);
                            p.lots = vec![lot];
                        }
                        a.earned += p.accrual;
                    }
                } else {
                    Self::release(&mut self.accounts, &mut self.orders, &mut self.coupons, p);
                }
                p.status = if confirm {
                    Status::Confirmed
                } else {
                    Status::Cancelled
                };
                Expect::Ok
            }
            Op::Refund {
                cashbox,
                cheque,
                refund,
                at,
            } => {
                if self.kiosks.contains(at) {
                    return Expect::RefundAtKiosk;
                }
                let key = (*cashbox, cheque.clone());
                let Some(p) = self.purchases.get_mut(&key) else {
                    return Expect::PurchaseUnknown;
                };
                if p.status != Status::Confirmed {
                    return Expect::PurchaseWrongState;
                }
                let refund = (*at, refund.clone());
                if self.refunds.get(&key).is_some_and(|r| r.contains(&refund)) {
                    return Expect::RefundExists;
                }
                assert!(!p.refunded, "the workload refunds a purchase once");
                p.refunded = true;
                self.refunds.entry(key).or_default().push(refund);
                if let Some(c) = p.card {
                    let a = &mut self.accounts[c];
                    // The points paid go back to their lots; the accrual comes back from
                    // the purchase's own lot, what was spent of it is owed.
                    a.lots.give_back(&p.taken);
                    // What the purchase no longer had taken (a late confirm's shortfall)
                    // comes back as a new lot, spendable at once.
                    let excess = p.paid - p.taken.iter().map(|t| t.1).sum::<i64>();
                    let at_once = Terms {
                        pending_ms: 0,
                        ..self.terms
                    };
                    if excess > 0 {
                        a.lots.credit(excess, now, now, at_once, Kind::Returned);
                    }
                    p.taken.clear();
                    let reversed = a.lots.claw(&p.lots, p.accrual);
                    a.debt += p.accrual - reversed;
                    self.debt_incurred += p.accrual - reversed;
                    a.earned -= p.accrual;
                }
                Expect::Ok
            }
            Op::ReturnWithoutReceipt {
                at,
                number,
                card,
                amount,
            } => {
                if self.kiosks.contains(at) {
                    return Expect::RefundAtKiosk;
                }
                let key = (*at, number.clone());
                if self.purchases.contains_key(&key) {
                    return Expect::RefundExists;
                }
                if self.replaced(*card) {
                    return Expect::CardReplaced;
                }
                let account = self.account_of(*card);
                let a = &mut self.accounts[account];
                // The accrual the goods earn today, no more than was earned and kept: from
                // what is spendable, the rest owed.
                let accrual = five_percent(*amount).min(a.earned).max(0);
                let reversed = accrual.min(a.spendable());
                a.lots.spend(reversed);
                a.debt += accrual - reversed;
                a.earned -= accrual;
                self.debt_incurred += accrual - reversed;
                self.returns_without_receipt += 1;
                self.purchases.insert(
                    key,
                    Purchase {
                        card: Some(account),
                        amount: *amount,
                        paid: 0,
                        accrual,
                        status: Status::Returned,
                        expires_at: now,
                        refunded: true,
                        order: None,
                        coupon: None,
                        registered: false,
                        taken: Taken::new(),
                        lots: Vec::new(),
                    },
                );
                Expect::Ok
            }
            Op::Offline {
                cashbox,
                cheque,
                card,
                amount,
                points,
            } => {
                if *points > 0 {
                    return Expect::OfflineRedemptionRefused;
                }
                let key = (*cashbox, cheque.clone());
                if self.purchases.contains_key(&key) {
                    return Expect::PurchaseWrongState;
                }
                if card.is_some_and(|c| self.replaced(c)) {
                    return Expect::CardReplaced;
                }
                let account = card.map(|c| self.account_of(c));
                // Offline: no discount, accrual on the full amount, confirmed at once.
                let accrual = if card.is_some() {
                    five_percent(*amount)
                } else {
                    0
                };
                let mut lots = Vec::new();
                if let (Some(a), true) = (account, accrual > 0) {
                    // Dated by the cheque's time.
                    let rung = self.offline_rung_at.min(now);
                    let lot = self.accounts[a].lots.credit(
                        accrual,
                        rung,
                        now,
                        self.terms,
                        Kind::Purchase,
                    );
                    lots.push(lot);
                    self.accounts[a].earned += accrual;
                }
                self.purchases.insert(
                    key,
                    Purchase {
                        card: account,
                        amount: *amount,
                        paid: 0,
                        accrual,
                        status: Status::Confirmed,
                        expires_at: now,
                        refunded: false,
                        order: None,
                        coupon: None,
                        registered: false,
                        taken: Taken::new(),
                        lots,
                    },
                );
                Expect::Ok
            }
            Op::Expire => {
                // Lots mature and burn as they were before this sweep: points a released
                // hold gives back to a lot whose time is up burn at the next sweep.
                for a in &mut self.accounts {
                    a.lots.sweep(now);
                }
                // Orders due are those open before this sweep: a pick-up expiring now gives
                // its order back, and that order waits for the next sweep.
                let due: Vec<String> = self
                    .orders
                    .iter()
                    .filter(|(_, o)| o.status == OrderStatus::Open && o.expires_at <= now)
                    .map(|(n, _)| n.clone())
                    .collect();
                for p in self.purchases.values_mut() {
                    if matches!(p.status, Status::Held | Status::Registered) && p.expires_at <= now
                    {
                        Self::release(&mut self.accounts, &mut self.orders, &mut self.coupons, p);
                        p.status = Status::Expired;
                    }
                }
                for number in due {
                    let o = self.orders.get_mut(&number).expect("due order");
                    let a = &mut self.accounts[o.account];
                    a.held -= o.points;
                    a.lots.give_back(&std::mem::take(&mut o.taken));
                    o.status = OrderStatus::Expired;
                }
                Expect::Ok
            }
            Op::Order {
                number,
                card,
                amount,
                discount,
                points,
            } => {
                if self.orders.contains_key(number) {
                    return Expect::OrderExists;
                }
                // The till's rule: points pay at most half of what is left to pay.
                if *points > half(amount - discount) {
                    return Expect::RedeemLimitExceeded;
                }
                if self.replaced(*card) {
                    return Expect::CardReplaced;
                }
                let account = self.account_of(*card);
                let a = &mut self.accounts[account];
                if *points > a.spendable() {
                    return Expect::InsufficientPoints;
                }
                a.held += points;
                let taken = a.lots.spend(*points);
                self.orders.insert(
                    number.clone(),
                    Order {
                        account,
                        amount: *amount,
                        discount: *discount,
                        points: *points,
                        status: OrderStatus::Open,
                        expires_at: now + self.order_lifetime_ms,
                        taken,
                    },
                );
                Expect::Ok
            }
            Op::PickUp {
                cashbox,
                cheque,
                number,
            } => {
                let key = (*cashbox, cheque.clone());
                if self.purchases.contains_key(&key) {
                    return Expect::PurchaseWrongState;
                }
                let Some(o) = self.orders.get_mut(number) else {
                    return Expect::OrderUnknown;
                };
                if o.status != OrderStatus::Open || now >= o.expires_at {
                    return Expect::OrderWrongState;
                }
                o.status = OrderStatus::PickedUp;
                // The promised discount and the reserved points; 5 % on the money part.
                let accrual = five_percent(o.amount - o.discount - o.points);
                self.purchases.insert(
                    key,
                    Purchase {
                        card: Some(o.account),
                        amount: o.amount,
                        paid: o.points,
                        accrual,
                        status: Status::Registered,
                        expires_at: now + self.hold_lifetime_ms,
                        refunded: false,
                        order: Some(number.clone()),
                        coupon: None,
                        registered: true,
                        taken: o.taken.clone(),
                        lots: Vec::new(),
                    },
                );
                Expect::Ok
            }
            Op::CancelOrder { number } => {
                let Some(o) = self.orders.get_mut(number) else {
                    return Expect::OrderUnknown;
                };
                if o.status != OrderStatus::Open {
                    return Expect::OrderWrongState;
                }
                let a = &mut self.accounts[o.account];
                a.held -= o.points;
                a.lots.give_back(&std::mem::take(&mut o.taken));
                o.status = OrderStatus::Cancelled;
                Expect::Ok
            }
        }
    }

    /// Σ balances, pending points included.
    pub fn total(&self) -> i64 {
        self.accounts
            .iter()
            .map(|a| a.balance() + a.lots.pending())
            .sum()
    }
}

#[cfg(test)]
mod tests;
