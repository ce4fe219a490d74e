//! The narrow state interface the core decides against, and an in-memory implementation
//! used by tests, simulations and the rebuild check. The engine implements the same trait
//! over RocksDB; the core never knows which one it talks to.

use crate::ids::*;
use crate::model::*;
use crate::outcome::OperationRecord;
use std::collections::{BTreeMap, BTreeSet};

/// Reads the core may make while deciding.
pub trait StateView {
    fn cashbox(&self, id: CashboxId) -> Option<Cashbox>;
    /// The cashbox registered with this Loymax login.
    fn cashbox_by_login(&self, login: &str) -> Option<CashboxId>;
    fn account(&self, id: AccountId) -> Option<Account>;
    fn card(&self, number: &CardNo) -> Option<Card>;
    /// The card a phone was registered with.
    fn phone_card(&self, phone: &Phone) -> Option<CardNo>;
    /// Every card of an account, in number order.
    fn account_cards(&self, account: AccountId) -> Vec<CardNo>;
    fn card_ranges(&self) -> Vec<CardRange>;
    fn identifier_policy(&self) -> IdentifierPolicy;
    fn purchase(&self, key: &PurchaseKey) -> Option<Purchase>;
    /// A product by its code or any of its barcodes.
    fn product(&self, code: &ProductCode) -> Option<Product>;
    /// Every offer, shared: pricing reads them for each cheque.
    fn offers(&self) -> std::sync::Arc<[Offer]>;
    fn coupon(&self, code: &CouponCode) -> Option<Coupon>;
    fn coupon_series(&self, id: CouponSeriesId) -> Option<CouponSeries>;
    fn order(&self, number: &OrderNo) -> Option<Order>;
    fn operation(&self, op: OpId) -> Option<OperationRecord>;
    /// How many accounts were ever opened (account ids are assigned from it).
    fn accounts_opened(&self) -> u64;
    /// Pending purchases whose lifetime ended at or before `now`, oldest first.
    fn pending_due(&self, now: UnixMillis, limit: usize) -> Vec<PurchaseKey>;
    /// Purchases that expired (their lifetime ended in `[from, to]`), oldest first.
    fn expired_between(&self, from: UnixMillis, to: UnixMillis, limit: usize) -> Vec<PurchaseKey>;
    /// Open orders whose lifetime ended at or before `now`, oldest first.
    fn orders_due(&self, now: UnixMillis, limit: usize) -> Vec<OrderNo>;
    /// Accounts with lots to date, activate or burn at or before `now`, earliest first.
    fn accounts_due(&self, now: UnixMillis, limit: usize) -> Vec<AccountId>;
    /// The bonus rule of a kind of customer event, if one was ever set.
    fn bonus_rule(&self, kind: BonusKind) -> Option<BonusRule>;
    /// The programme's status levels, if set.
    fn tiers(&self) -> Option<Tiers>;
    /// What a limited offer has given in all.
    fn offer_given(&self, offer: OfferId) -> i64;
    /// What a limited offer has given a customer.
    fn offer_use(&self, offer: OfferId, account: AccountId) -> Option<OfferUse>;
    /// The stamps a customer has collected with a stamps offer.
    fn stamps(&self, offer: OfferId, account: AccountId) -> u32;
    fn certificate(&self, code: &CertificateCode) -> Option<Certificate>;
}

/// Writes made by applying events (and by recording operations).
pub trait StateStore: StateView {
    /// Also maintains the index of cashboxes by login (a login never changes).
    fn put_cashbox(&mut self, cashbox: Cashbox);
    /// Also maintains the index of accounts by the time their lots are next due
    /// ([`Account::reindex`]).
    fn put_account(&mut self, account: Account);
    /// Also maintains the index of an account's cards (a card's account never changes).
    fn put_card(&mut self, card: Card);
    fn put_phone(&mut self, phone: Phone, card: CardNo);
    /// Adds or replaces (`active`) or removes the range with this prefix and length.
    fn put_card_range(&mut self, range: CardRange, active: bool);
    fn put_identifier_policy(&mut self, policy: IdentifierPolicy);
    /// Also maintains the indexes of pending purchases and expired ones: `was` is the
    /// purchase's status before this write (`None` for a new one).
    fn put_purchase(&mut self, purchase: &Purchase, was: Option<PurchaseStatus>);
    /// Also maintains the barcode index.
    fn put_product(&mut self, product: Product);
    fn put_offer(&mut self, offer: Offer);
    fn put_coupon(&mut self, coupon: Coupon);
    fn put_coupon_series(&mut self, series: CouponSeries);
    /// Also maintains the index of open orders by expiry time.
    fn put_order(&mut self, order: Order);
    /// Records an operation (by reference: a store that encodes it need not copy it).
    fn put_operation(&mut self, record: &OperationRecord);
    fn set_accounts_opened(&mut self, n: u64);
    fn put_bonus_rule(&mut self, rule: BonusRule);
    fn put_tiers(&mut self, tiers: Tiers);
    fn put_offer_given(&mut self, offer: OfferId, given: i64);
    fn put_offer_use(&mut self, offer: OfferId, account: AccountId, used: OfferUse);
    fn put_stamps(&mut self, offer: OfferId, account: AccountId, stamps: u32);
    fn put_certificate(&mut self, certificate: Certificate);
}

/// The projection: everything that is rebuilt from the event log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    pub cashboxes: BTreeMap<CashboxId, Cashbox>,
    pub logins: BTreeMap<String, CashboxId>,
    pub accounts: BTreeMap<AccountId, Account>,
    pub cards: BTreeMap<CardNo, Card>,
    pub phones: BTreeMap<Phone, CardNo>,
    pub account_cards: BTreeSet<(AccountId, CardNo)>,
    pub card_ranges: BTreeMap<(String, u8), CardRange>,
    pub identifier_policy: Option<IdentifierPolicy>,
    pub purchases: BTreeMap<PurchaseKey, Purchase>,
    pub products: BTreeMap<ProductCode, Product>,
    pub barcodes: BTreeMap<ProductCode, ProductCode>,
    pub offers: BTreeMap<OfferId, Offer>,
    pub coupons: BTreeMap<CouponCode, Coupon>,
    pub coupon_series: BTreeMap<CouponSeriesId, CouponSeries>,
    pub orders: BTreeMap<OrderNo, Order>,
    pub orders_due: BTreeSet<(UnixMillis, OrderNo)>,
    pub pending: BTreeSet<(UnixMillis, PurchaseKey)>,
    pub expired: BTreeSet<(UnixMillis, PurchaseKey)>,
    pub accounts_due: BTreeSet<(UnixMillis, AccountId)>,
    pub accounts_opened: u64,
    pub bonus_rules: BTreeMap<BonusKind, BonusRule>,
    pub tiers: Option<Tiers>,
    pub offer_given: BTreeMap<OfferId, i64>,
    pub offer_uses: BTreeMap<(OfferId, AccountId), OfferUse>,
    pub stamps: BTreeMap<(OfferId, AccountId), u32>,
    pub certificates: BTreeMap<CertificateCode, Certificate>,
}

/// In-memory state: the projection plus operation records (which are not events and so
/// are not part of the rebuild comparison).
#[derive(Debug, Clone, Default)]
pub struct MemState {
    pub projection: Projection,
    pub operations: BTreeMap<OpId, OperationRecord>,
    /// The offers as one shared list, built on first read after a change.
    offer_list: std::sync::OnceLock<std::sync::Arc<[Offer]>>,
}

impl StateView for MemState {
    fn cashbox(&self, id: CashboxId) -> Option<Cashbox> {
        self.projection.cashboxes.get(&id).cloned()
    }
    fn cashbox_by_login(&self, login: &str) -> Option<CashboxId> {
        self.projection.logins.get(login).copied()
    }
    fn account(&self, id: AccountId) -> Option<Account> {
        self.projection.accounts.get(&id).cloned()
    }
    fn card(&self, number: &CardNo) -> Option<Card> {
        self.projection.cards.get(number).cloned()
    }
    fn phone_card(&self, phone: &Phone) -> Option<CardNo> {
        self.projection.phones.get(phone).cloned()
    }
    fn account_cards(&self, account: AccountId) -> Vec<CardNo> {
        self.projection
            .account_cards
            .iter()
            .filter(|(a, _)| *a == account)
            .map(|(_, c)| c.clone())
            .collect()
    }
    fn card_ranges(&self) -> Vec<CardRange> {
        self.projection.card_ranges.values().cloned().collect()
    }
    fn identifier_policy(&self) -> IdentifierPolicy {
        self.projection
            .identifier_policy
            .clone()
            .unwrap_or_default()
    }
    fn purchase(&self, key: &PurchaseKey) -> Option<Purchase> {
        self.projection.purchases.get(key).cloned()
    }
    fn product(&self, code: &ProductCode) -> Option<Product> {
        let p = &self.projection;
        p.products
            .get(code)
            .or_else(|| p.barcodes.get(code).and_then(|c| p.products.get(c)))
            .cloned()
    }
    fn offers(&self) -> std::sync::Arc<[Offer]> {
        self.offer_list
            .get_or_init(|| self.projection.offers.values().cloned().collect())
            .clone()
    }
    fn coupon(&self, code: &CouponCode) -> Option<Coupon> {
        self.projection.coupons.get(code).cloned()
    }
    fn coupon_series(&self, id: CouponSeriesId) -> Option<CouponSeries> {
        self.projection.coupon_series.get(&id).cloned()
    }
    fn order(&self, number: &OrderNo) -> Option<Order> {
        self.projection.orders.get(number).cloned()
    }
    fn operation(&self, op: OpId) -> Option<OperationRecord> {
        self.operations.get(&op).cloned()
    }
    fn accounts_opened(&self) -> u64 {
        self.projection.accounts_opened
    }
    fn pending_due(&self, now: UnixMillis, limit: usize) -> Vec<PurchaseKey> {
        self.projection
            .pending
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }
    fn orders_due(&self, now: UnixMillis, limit: usize) -> Vec<OrderNo> {
        self.projection
            .orders_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, n)| n.clone())
            .collect()
    }
    fn accounts_due(&self, now: UnixMillis, limit: usize) -> Vec<AccountId> {
        self.projection
            .accounts_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, a)| *a)
            .collect()
    }
    fn expired_between(&self, from: UnixMillis, to: UnixMillis, limit: usize) -> Vec<PurchaseKey> {
        self.projection
            .expired
            .iter()
            .filter(|(at, _)| *at >= from)
            .take_while(|(at, _)| *at <= to)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }
    fn bonus_rule(&self, kind: BonusKind) -> Option<BonusRule> {
        self.projection.bonus_rules.get(&kind).copied()
    }
    fn tiers(&self) -> Option<Tiers> {
        self.projection.tiers.clone()
    }
    fn offer_given(&self, offer: OfferId) -> i64 {
        self.projection
            .offer_given
            .get(&offer)
            .copied()
            .unwrap_or(0)
    }
    fn offer_use(&self, offer: OfferId, account: AccountId) -> Option<OfferUse> {
        self.projection.offer_uses.get(&(offer, account)).copied()
    }
    fn stamps(&self, offer: OfferId, account: AccountId) -> u32 {
        self.projection
            .stamps
            .get(&(offer, account))
            .copied()
            .unwrap_or(0)
    }
    fn certificate(&self, code: &CertificateCode) -> Option<Certificate> {
        self.projection.certificates.get(code).cloned()
    }
}

impl StateStore for MemState {
    fn put_cashbox(&mut self, cashbox: Cashbox) {
        if let Some(login) = &cashbox.login {
            self.projection.logins.insert(login.clone(), cashbox.id);
        }
        self.projection.cashboxes.insert(cashbox.id, cashbox);
    }
    fn put_account(&mut self, mut account: Account) {
        if let Some((old, new)) = account.reindex() {
            let due = &mut self.projection.accounts_due;
            if let Some(t) = old {
                due.remove(&(t, account.id));
            }
            if let Some(t) = new {
                due.insert((t, account.id));
            }
        }
        self.projection.accounts.insert(account.id, account);
    }
    fn put_card(&mut self, card: Card) {
        self.projection
            .account_cards
            .insert((card.account, card.number.clone()));
        self.projection.cards.insert(card.number.clone(), card);
    }
    fn put_phone(&mut self, phone: Phone, card: CardNo) {
        self.projection.phones.insert(phone, card);
    }
    fn put_card_range(&mut self, range: CardRange, active: bool) {
        let key = (range.prefix.clone(), range.length);
        if active {
            self.projection.card_ranges.insert(key, range);
        } else {
            self.projection.card_ranges.remove(&key);
        }
    }
    fn put_identifier_policy(&mut self, policy: IdentifierPolicy) {
        self.projection.identifier_policy = Some(policy);
    }
    fn put_purchase(&mut self, purchase: &Purchase, was: Option<PurchaseStatus>) {
        let entry = (purchase.expires_at, purchase.key.clone());
        let now = purchase.status;
        if now.is_pending() {
            self.projection.pending.insert(entry.clone());
        } else if was.is_some_and(PurchaseStatus::is_pending) {
            self.projection.pending.remove(&entry);
        }
        if now == PurchaseStatus::Expired {
            self.projection.expired.insert(entry);
        } else if was == Some(PurchaseStatus::Expired) {
            self.projection.expired.remove(&entry);
        }
        self.projection
            .purchases
            .insert(purchase.key.clone(), purchase.clone());
    }
    fn put_product(&mut self, product: Product) {
        let p = &mut self.projection;
        if let Some(old) = p.products.get(&product.code) {
            for b in &old.barcodes {
                p.barcodes.remove(b);
            }
        }
        for b in &product.barcodes {
            p.barcodes.insert(b.clone(), product.code.clone());
        }
        p.products.insert(product.code.clone(), product);
    }
    fn put_offer(&mut self, offer: Offer) {
        self.offer_list = std::sync::OnceLock::new();
        self.projection.offers.insert(offer.id, offer);
    }
    fn put_coupon(&mut self, coupon: Coupon) {
        self.projection.coupons.insert(coupon.code.clone(), coupon);
    }
    fn put_coupon_series(&mut self, series: CouponSeries) {
        self.projection.coupon_series.insert(series.id, series);
    }
    fn put_order(&mut self, order: Order) {
        let entry = (order.expires_at, order.number.clone());
        if order.status == OrderStatus::Open {
            self.projection.orders_due.insert(entry);
        } else {
            self.projection.orders_due.remove(&entry);
        }
        self.projection.orders.insert(order.number.clone(), order);
    }
    fn put_operation(&mut self, record: &OperationRecord) {
        self.operations.insert(record.op, record.clone());
    }
    fn set_accounts_opened(&mut self, n: u64) {
        self.projection.accounts_opened = n;
    }
    fn put_bonus_rule(&mut self, rule: BonusRule) {
        self.projection.bonus_rules.insert(rule.kind, rule);
    }
    fn put_tiers(&mut self, tiers: Tiers) {
        self.projection.tiers = Some(tiers);
    }
    fn put_offer_given(&mut self, offer: OfferId, given: i64) {
        self.projection.offer_given.insert(offer, given);
    }
    fn put_offer_use(&mut self, offer: OfferId, account: AccountId, used: OfferUse) {
        self.projection.offer_uses.insert((offer, account), used);
    }
    fn put_stamps(&mut self, offer: OfferId, account: AccountId, stamps: u32) {
        self.projection.stamps.insert((offer, account), stamps);
    }
    fn put_certificate(&mut self, certificate: Certificate) {
        self.projection
            .certificates
            .insert(certificate.code.clone(), certificate);
    }
}
