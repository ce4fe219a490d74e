//! The core's state interface over a [`Store`]: reads go to this batch's pending writes
//! first, then to storage; writes are buffered until the batch commits. Records carry a
//! format byte and are checked right after decoding; one that does not decode is
//! corruption and stops the process.

use crate::bounded::Bounded;
use crate::keys::{self, Meta};
use crate::store::HashMap;
use crate::store::{Batch, Space, Store, StoreError};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::OperationRecord;
use loyalty_core::state::{Projection, StateStore, StateView};
use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::cell::RefCell;

pub use loyalty_core::evolve::RECORD_FORMAT;
use loyalty_core::evolve::{decode_older, OLDEST_FORMAT};

/// Encodes a record: the format byte, then postcard.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Most records are a few hundred bytes: one allocation, no regrowth.
    let mut out = Vec::with_capacity(384);
    out.push(RECORD_FORMAT);
    postcard::to_extend(value, out).expect("records always encode")
}

/// Decodes a record of this format or of an older one still read (see
/// `loyalty_core::evolve`).
pub fn decode<T: DeserializeOwned>(space: Space, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { space, detail };
    match bytes {
        [RECORD_FORMAT, body @ ..] => {
            postcard::from_bytes(body).map_err(|e| corrupt(e.to_string()))
        }
        [format, body @ ..] if (OLDEST_FORMAT..RECORD_FORMAT).contains(format) => {
            decode_older(*format, body).map_err(|e| corrupt(format!("format {format}: {e}")))
        }
        [format, ..] => Err(corrupt(format!("unknown record format {format}"))),
        [] => Err(corrupt("empty record".into())),
    }
}

fn must<T: DeserializeOwned>(space: Space, bytes: &[u8]) -> T {
    decode(space, bytes).unwrap_or_else(|e| panic!("{e}"))
}

/// Decoded `state` records the writer keeps between batches, so that the cards, accounts,
/// cashboxes and products every cheque reads are not decoded again and again. Coherent
/// because the writer is the only writer: every write of a batch updates or drops its
/// entry. The writer clears it whenever a decided batch is not handed over for writing
/// (its writes never happen) and whenever the store's memory starts a new epoch.
/// Bounded (`Bounded`: what is in use stays). It also keeps the offers every cheque is priced
/// with, as one list, until a batch writes an offer: scanning and decoding them for every
/// batch cost each small batch as much as a whole campaign's offers take to decode.
pub struct Memo {
    records: RefCell<Bounded<Box<dyn Any + Send>>>,
    offers: RefCell<Option<std::sync::Arc<[Offer]>>>,
}

impl Memo {
    pub fn new(capacity: usize) -> Memo {
        Memo {
            records: RefCell::new(Bounded::new(capacity)),
            offers: RefCell::new(None),
        }
    }

    pub fn clear(&self) {
        self.records.borrow_mut().clear();
        self.offers.borrow_mut().take();
    }

    fn get<T: Clone + 'static>(&self, key: &[u8]) -> Option<T> {
        self.records
            .borrow_mut()
            .get(key)?
            .downcast_ref::<T>()
            .cloned()
    }

    fn keep<T: Send + 'static>(&self, key: Vec<u8>, value: T) {
        self.records.borrow_mut().insert(key, Box::new(value));
    }

    fn forget(&self, key: &[u8]) {
        self.records.borrow_mut().remove(key);
    }
}

/// State for one batch of decisions (or one read-only query, with no writes).
pub struct StoredState<'s> {
    store: &'s dyn Store,
    /// The writer's decoded records, when this is the writer's view.
    memo: Option<&'s Memo>,
    /// Pending writes per space (indexed by `Space as usize`), so reads look up borrowed keys.
    /// Hashed: every decision looks keys up here, and only the rare scans need order.
    writes: [HashMap<Vec<u8>, Option<Vec<u8>>>; Space::ALL.len()],
    /// The first storage failure seen by a read. Decisions taken after it are void.
    failure: RefCell<Option<StoreError>>,
    /// Offers are read by every pricing; they are scanned once per batch and the cache is
    /// dropped when one is written.
    offers: RefCell<Option<std::sync::Arc<[Offer]>>>,
    /// The identifier policy is read for every identified cheque: once per batch.
    policy: RefCell<Option<IdentifierPolicy>>,
}

impl<'s> StoredState<'s> {
    pub fn new(store: &'s dyn Store) -> Self {
        StoredState {
            store,
            memo: None,
            writes: Default::default(),
            failure: RefCell::new(None),
            offers: RefCell::new(None),
            policy: RefCell::new(None),
        }
    }

    /// Reads decoded `state` records through `memo` and keeps what it reads and writes there.
    pub fn with_memo(mut self, memo: &'s Memo) -> Self {
        self.memo = Some(memo);
        self
    }

    /// Starts with these offers instead of scanning them (a cache the caller keeps fresh).
    pub fn with_offers(self, offers: Option<std::sync::Arc<[Offer]>>) -> Self {
        *self.offers.borrow_mut() = offers;
        self
    }

    /// The offers this view has read, if it read them.
    pub fn cached_offers(&self) -> Option<std::sync::Arc<[Offer]>> {
        self.offers.borrow().clone()
    }

    /// The buffered writes as one batch (the caller adds log records).
    pub fn into_batch(self) -> Batch {
        let mut b = Batch {
            writes: Vec::with_capacity(self.writes.iter().map(HashMap::len).sum()),
        };
        for (space, writes) in Space::ALL.into_iter().zip(self.writes) {
            for (key, value) in writes {
                match value {
                    Some(v) => b.put(space, key, v),
                    None => b.delete(space, key),
                }
            }
        }
        b
    }

    fn get<T: DeserializeOwned + Clone + Send + 'static>(
        &self,
        space: Space,
        key: &[u8],
    ) -> Option<T> {
        let memo = self.memo.filter(|_| space == Space::State);
        if let Some(found) = memo.and_then(|m| m.get::<T>(key)) {
            return Some(found);
        }
        if let Some(pending) = self.writes[space as usize].get(key) {
            return pending.as_ref().map(|b| must(space, b));
        }
        let raw = match self.store.get(space, key) {
            Ok(v) => v,
            Err(e) => {
                self.note(e);
                None
            }
        };
        let value: Option<T> = raw.map(|b| must(space, &b));
        if let (Some(m), Some(v)) = (memo, &value) {
            m.keep(key.to_vec(), v.clone());
        }
        value
    }

    fn note(&self, e: StoreError) {
        self.failure.borrow_mut().get_or_insert(e);
    }

    /// The first storage failure a read met since the last call, if any.
    pub fn take_failure(&self) -> Option<StoreError> {
        self.failure.borrow_mut().take()
    }

    fn put<T: Serialize>(&mut self, space: Space, key: Vec<u8>, value: &T) {
        if let Some(m) = self.memo {
            m.forget(&key);
        }
        self.writes[space as usize].insert(key, Some(encode(value)));
    }

    /// Writes a record the caller is done with: the memo keeps it as the decoded value.
    fn put_owned<T: Serialize + Send + 'static>(&mut self, space: Space, key: Vec<u8>, value: T) {
        let bytes = encode(&value);
        if let Some(m) = self.memo {
            m.keep(key.clone(), value);
        }
        self.writes[space as usize].insert(key, Some(bytes));
    }

    fn delete(&mut self, space: Space, key: Vec<u8>) {
        if let Some(m) = self.memo {
            m.forget(&key);
        }
        self.writes[space as usize].insert(key, None);
    }

    /// `[from, to)` merged with this batch's writes, in key order, at most `limit`.
    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let pending: Vec<_> = self.writes[space as usize]
            .iter()
            .filter(|(k, _)| k.as_slice() >= from && to.is_none_or(|t| k.as_slice() < t))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let stored = match self
            .store
            .scan(space, from, to, limit.saturating_add(pending.len()))
        {
            Ok(v) => v,
            Err(e) => {
                self.note(e);
                Vec::new()
            }
        };
        crate::store::overlay(stored, pending, limit)
    }

    /// Reads the whole projection (for the rebuild check).
    #[allow(clippy::too_many_lines)]
    pub fn projection(&self) -> Result<Projection, StoreError> {
        let mut p = Projection::default();
        for (k, v) in self.scan(Space::State, &[], None, usize::MAX) {
            let corrupt = |e: keys::KeyError| StoreError::Corrupt {
                space: Space::State,
                detail: e.to_string(),
            };
            match k.first() {
                Some(&keys::TAG_CASHBOX) => {
                    let c: Cashbox = decode(Space::State, &v)?;
                    p.cashboxes.insert(c.id, c);
                }
                Some(&keys::TAG_ACCOUNT) => {
                    let a: Account = decode(Space::State, &v)?;
                    p.accounts.insert(a.id, a);
                }
                Some(&keys::TAG_CARD) => {
                    let c: Card = decode(Space::State, &v)?;
                    p.cards.insert(c.number.clone(), c);
                }
                Some(&keys::TAG_PURCHASE) => {
                    let x: Purchase = decode(Space::State, &v)?;
                    p.purchases.insert(x.key.clone(), x);
                }
                Some(&keys::TAG_PRODUCT) => {
                    let x: Product = decode(Space::State, &v)?;
                    p.products.insert(x.code.clone(), x);
                }
                Some(&keys::TAG_BARCODE) => {
                    let code: ProductCode = decode(Space::State, &v)?;
                    let bc = ProductCode::new(std::str::from_utf8(&k[1..]).unwrap_or("")).map_err(
                        |e| StoreError::Corrupt {
                            space: Space::State,
                            detail: e.to_string(),
                        },
                    )?;
                    p.barcodes.insert(bc, code);
                }
                Some(&keys::TAG_CARD_RANGE) => {
                    let r: CardRange = decode(Space::State, &v)?;
                    if k != keys::card_range(&r.prefix, r.length) {
                        return Err(StoreError::Corrupt {
                            space: Space::State,
                            detail: "card range under another key".into(),
                        });
                    }
                    p.card_ranges.insert((r.prefix.clone(), r.length), r);
                }
                Some(&keys::TAG_ACCOUNT_CARD) => {
                    p.account_cards
                        .insert(keys::decode_account_card(&k).map_err(corrupt)?);
                }
                Some(&keys::TAG_PHONE) => {
                    let card: CardNo = decode(Space::State, &v)?;
                    p.phones
                        .insert(keys::decode_phone(&k).map_err(corrupt)?, card);
                }
                Some(&keys::TAG_OFFER) => {
                    let o: Offer = decode(Space::State, &v)?;
                    p.offers.insert(o.id, o);
                }
                Some(&keys::TAG_COUPON) => {
                    let c: Coupon = decode(Space::State, &v)?;
                    checked_key(&k, keys::coupon(&c.code))?;
                    p.coupons.insert(c.code.clone(), c);
                }
                Some(&keys::TAG_CERTIFICATE) => {
                    let c: Certificate = decode(Space::State, &v)?;
                    checked_key(&k, keys::certificate(&c.code))?;
                    p.certificates.insert(c.code.clone(), c);
                }
                Some(&keys::TAG_COUPON_SERIES) => {
                    let s: CouponSeries = decode(Space::State, &v)?;
                    checked_key(&k, keys::coupon_series(s.id))?;
                    p.coupon_series.insert(s.id, s);
                }
                Some(&keys::TAG_OFFER_GIVEN) => {
                    let id = keys::decode_offer_given(&k).map_err(corrupt)?;
                    p.offer_given.insert(id, decode(Space::State, &v)?);
                }
                Some(&keys::TAG_STAMPS) => {
                    let id = keys::decode_stamps(&k).map_err(corrupt)?;
                    p.stamps.insert(id, decode(Space::State, &v)?);
                }
                Some(&keys::TAG_OFFER_USE) => {
                    let id = keys::decode_offer_use(&k).map_err(corrupt)?;
                    p.offer_uses.insert(id, decode(Space::State, &v)?);
                }
                Some(&keys::TAG_BONUS_RULE) => {
                    let r: BonusRule = decode(Space::State, &v)?;
                    checked_key(&k, keys::bonus_rule(r.kind))?;
                    p.bonus_rules.insert(r.kind, r);
                }
                Some(&keys::TAG_LOGIN) => {
                    let id: CashboxId = decode(Space::State, &v)?;
                    p.logins
                        .insert(keys::decode_login(&k).map_err(corrupt)?, id);
                }
                Some(&keys::TAG_ACCOUNT_DUE) => {
                    p.accounts_due
                        .insert(keys::decode_account_due(&k).map_err(corrupt)?);
                }
                Some(&keys::TAG_ORDER_DUE) => {
                    p.orders_due
                        .insert(keys::decode_order_due(&k).map_err(corrupt)?);
                }
                Some(&keys::TAG_ORDER) => {
                    let o: Order = decode(Space::State, &v)?;
                    checked_key(&k, keys::order(&o.number))?;
                    p.orders.insert(o.number.clone(), o);
                }
                Some(&keys::TAG_PENDING) => {
                    p.pending.insert(keys::decode_pending(&k).map_err(corrupt)?);
                }
                Some(&keys::TAG_EXPIRED) => {
                    p.expired.insert(keys::decode_pending(&k).map_err(corrupt)?);
                }
                Some(&keys::TAG_META) => {
                    if k == keys::meta(Meta::AccountsOpened) {
                        p.accounts_opened = decode(Space::State, &v)?;
                    } else if k == keys::meta(Meta::IdentifierPolicy) {
                        p.identifier_policy = Some(decode(Space::State, &v)?);
                    } else if k == keys::meta(Meta::Tiers) {
                        p.tiers = Some(decode(Space::State, &v)?);
                    }
                }
                _ => {
                    return Err(StoreError::Corrupt {
                        space: Space::State,
                        detail: format!("unknown key tag in {k:?}"),
                    })
                }
            }
        }
        if let Some(e) = self.take_failure() {
            return Err(e);
        }
        Ok(p)
    }
}

impl StateView for StoredState<'_> {
    fn cashbox(&self, id: CashboxId) -> Option<Cashbox> {
        self.get(Space::State, &keys::cashbox(id))
    }
    fn account(&self, id: AccountId) -> Option<Account> {
        let a: Option<Account> = self.get(Space::State, &keys::account(id));
        if let Some(a) = &a {
            assert_eq!(a.id, id, "corrupt: account record under another key");
        }
        a
    }
    fn card(&self, number: &CardNo) -> Option<Card> {
        self.get(Space::State, &keys::card(number))
    }
    fn phone_card(&self, phone: &Phone) -> Option<CardNo> {
        self.get(Space::State, &keys::phone(phone))
    }
    fn account_cards(&self, account: AccountId) -> Vec<CardNo> {
        let from = keys::account_cards(account);
        let to = keys::prefix_end(&from);
        self.scan(Space::State, &from, to.as_deref(), usize::MAX)
            .into_iter()
            .filter_map(|(k, _)| keys::decode_account_card(&k).ok().map(|(_, c)| c))
            .collect()
    }
    fn purchase(&self, key: &PurchaseKey) -> Option<Purchase> {
        self.get(Space::State, &keys::purchase(key))
    }
    fn product(&self, code: &ProductCode) -> Option<Product> {
        self.get(Space::State, &keys::product(code)).or_else(|| {
            let by_code: Option<ProductCode> = self.get(Space::State, &keys::barcode(code));
            by_code.and_then(|c| self.get(Space::State, &keys::product(&c)))
        })
    }
    fn offers(&self) -> std::sync::Arc<[Offer]> {
        if let Some(cached) = self.offers.borrow().as_ref() {
            return cached.clone();
        }
        if let Some(kept) = self.memo.and_then(|m| m.offers.borrow().clone()) {
            *self.offers.borrow_mut() = Some(kept.clone());
            return kept;
        }
        let from = [keys::TAG_OFFER];
        let to = [keys::TAG_OFFER + 1];
        let offers = self
            .scan(Space::State, &from, Some(&to), usize::MAX)
            .into_iter()
            .map(|(_, v)| must(Space::State, &v))
            .collect::<std::sync::Arc<[Offer]>>();
        *self.offers.borrow_mut() = Some(offers.clone());
        if let Some(m) = self.memo {
            *m.offers.borrow_mut() = Some(offers.clone());
        }
        offers
    }
    fn coupon(&self, code: &CouponCode) -> Option<Coupon> {
        self.get(Space::State, &keys::coupon(code))
    }
    fn certificate(&self, code: &CertificateCode) -> Option<Certificate> {
        self.get(Space::State, &keys::certificate(code))
    }
    fn coupon_series(&self, id: CouponSeriesId) -> Option<CouponSeries> {
        self.get(Space::State, &keys::coupon_series(id))
    }
    fn order(&self, number: &OrderNo) -> Option<Order> {
        self.get(Space::State, &keys::order(number))
    }
    fn operation(&self, op: OpId) -> Option<OperationRecord> {
        self.get(Space::Ops, &keys::operation(op))
    }
    fn card_ranges(&self) -> Vec<CardRange> {
        let (from, to) = ([keys::TAG_CARD_RANGE], [keys::TAG_CARD_RANGE + 1]);
        self.scan(Space::State, &from, Some(&to), usize::MAX)
            .into_iter()
            .map(|(_, v)| must(Space::State, &v))
            .collect()
    }
    fn identifier_policy(&self) -> IdentifierPolicy {
        if let Some(cached) = self.policy.borrow().as_ref() {
            return cached.clone();
        }
        let policy: IdentifierPolicy = self
            .get(Space::State, &keys::meta(Meta::IdentifierPolicy))
            .unwrap_or_default();
        *self.policy.borrow_mut() = Some(policy.clone());
        policy
    }
    fn accounts_opened(&self) -> u64 {
        self.get(Space::State, &keys::meta(Meta::AccountsOpened))
            .unwrap_or(0)
    }
    fn expired_between(&self, from: UnixMillis, to: UnixMillis, limit: usize) -> Vec<PurchaseKey> {
        let start = keys::expired_from(from);
        let end = keys::expired_from(UnixMillis(to.0.saturating_add(1)));
        self.scan(Space::State, &start, Some(&end), limit)
            .into_iter()
            .map(|(k, _)| keys::decode_pending(&k).unwrap_or_else(|e| panic!("{e}")).1)
            .collect()
    }
    fn orders_due(&self, now: UnixMillis, limit: usize) -> Vec<OrderNo> {
        let from = [keys::TAG_ORDER_DUE];
        let to = keys::order_due_end(now);
        self.scan(Space::State, &from, Some(&to), limit)
            .into_iter()
            .map(|(k, _)| {
                keys::decode_order_due(&k)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .1
            })
            .collect()
    }
    fn cashbox_by_login(&self, login: &str) -> Option<CashboxId> {
        self.get(Space::State, &keys::login(login))
    }
    fn accounts_due(&self, now: UnixMillis, limit: usize) -> Vec<AccountId> {
        let from = [keys::TAG_ACCOUNT_DUE];
        let to = keys::account_due_end(now);
        self.scan(Space::State, &from, Some(&to), limit)
            .into_iter()
            .map(|(k, _)| {
                keys::decode_account_due(&k)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .1
            })
            .collect()
    }
    fn bonus_rule(&self, kind: BonusKind) -> Option<BonusRule> {
        self.get(Space::State, &keys::bonus_rule(kind))
    }
    fn tiers(&self) -> Option<Tiers> {
        self.get(Space::State, &keys::meta(Meta::Tiers))
    }
    fn offer_given(&self, offer: OfferId) -> i64 {
        self.get(Space::State, &keys::offer_given(offer))
            .unwrap_or(0)
    }
    fn offer_use(&self, offer: OfferId, account: AccountId) -> Option<OfferUse> {
        self.get(Space::State, &keys::offer_use(offer, account))
    }
    fn stamps(&self, offer: OfferId, account: AccountId) -> u32 {
        self.get(Space::State, &keys::stamps(offer, account))
            .unwrap_or(0)
    }
    fn pending_due(&self, now: UnixMillis, limit: usize) -> Vec<PurchaseKey> {
        let from = [keys::TAG_PENDING];
        let to = keys::pending_end(now);
        self.scan(Space::State, &from, Some(&to), limit)
            .into_iter()
            .map(|(k, _)| keys::decode_pending(&k).unwrap_or_else(|e| panic!("{e}")).1)
            .collect()
    }
}

impl StateStore for StoredState<'_> {
    fn put_cashbox(&mut self, cashbox: Cashbox) {
        if let Some(login) = &cashbox.login {
            self.put(Space::State, keys::login(login), &cashbox.id);
        }
        self.put_owned(Space::State, keys::cashbox(cashbox.id), cashbox);
    }
    fn put_account(&mut self, mut account: Account) {
        // `apply` checks an account's invariants (its lots included) on every change of its
        // points; checking again here did the same work twice per write.
        if let Some((old, new)) = account.reindex() {
            if let Some(t) = old {
                self.delete(Space::State, keys::account_due(t, account.id));
            }
            if let Some(t) = new {
                self.put(Space::State, keys::account_due(t, account.id), &());
            }
        }
        self.put_owned(Space::State, keys::account(account.id), account);
    }
    fn put_card(&mut self, card: Card) {
        self.put(
            Space::State,
            keys::account_card(card.account, &card.number),
            &(),
        );
        self.put_owned(Space::State, keys::card(&card.number), card);
    }
    fn put_phone(&mut self, phone: Phone, card: CardNo) {
        self.put_owned(Space::State, keys::phone(&phone), card);
    }
    fn put_card_range(&mut self, range: CardRange, active: bool) {
        let key = keys::card_range(&range.prefix, range.length);
        if active {
            self.put(Space::State, key, &range);
        } else {
            self.delete(Space::State, key);
        }
    }
    fn put_identifier_policy(&mut self, policy: IdentifierPolicy) {
        self.policy.borrow_mut().take();
        self.put(Space::State, keys::meta(Meta::IdentifierPolicy), &policy);
    }
    fn put_purchase(&mut self, purchase: &Purchase, was: Option<PurchaseStatus>) {
        let pending = || keys::pending(purchase.expires_at, &purchase.key);
        let expired = || keys::expired(purchase.expires_at, &purchase.key);
        let now = purchase.status;
        if now.is_pending() {
            self.put(Space::State, pending(), &());
        } else if was.is_some_and(PurchaseStatus::is_pending) {
            self.delete(Space::State, pending());
        }
        if now == PurchaseStatus::Expired {
            self.put(Space::State, expired(), &());
        } else if was == Some(PurchaseStatus::Expired) {
            self.delete(Space::State, expired());
        }
        self.put(Space::State, keys::purchase(&purchase.key), purchase);
    }
    fn put_product(&mut self, product: Product) {
        if let Some(old) = self.get::<Product>(Space::State, &keys::product(&product.code)) {
            for b in &old.barcodes {
                self.delete(Space::State, keys::barcode(b));
            }
        }
        for b in &product.barcodes {
            self.put(Space::State, keys::barcode(b), &product.code);
        }
        self.put_owned(Space::State, keys::product(&product.code), product);
    }
    fn put_offer(&mut self, offer: Offer) {
        self.offers.borrow_mut().take();
        if let Some(m) = self.memo {
            m.offers.borrow_mut().take();
        }
        self.put(Space::State, keys::offer(offer.id), &offer);
    }
    fn put_coupon(&mut self, coupon: Coupon) {
        self.put_owned(Space::State, keys::coupon(&coupon.code), coupon);
    }
    fn put_certificate(&mut self, certificate: Certificate) {
        self.put_owned(
            Space::State,
            keys::certificate(&certificate.code),
            certificate,
        );
    }
    fn put_coupon_series(&mut self, series: CouponSeries) {
        self.put_owned(Space::State, keys::coupon_series(series.id), series);
    }
    fn put_order(&mut self, order: Order) {
        let idx = keys::order_due(order.expires_at, &order.number);
        if order.status == OrderStatus::Open {
            self.put(Space::State, idx, &());
        } else {
            self.delete(Space::State, idx);
        }
        self.put_owned(Space::State, keys::order(&order.number), order);
    }
    fn put_operation(&mut self, record: &OperationRecord) {
        self.put(Space::Ops, keys::operation(record.op).to_vec(), record);
    }
    fn set_accounts_opened(&mut self, n: u64) {
        self.put_owned(Space::State, keys::meta(Meta::AccountsOpened), n);
    }
    fn put_bonus_rule(&mut self, rule: BonusRule) {
        self.put_owned(Space::State, keys::bonus_rule(rule.kind), rule);
    }
    fn put_tiers(&mut self, tiers: Tiers) {
        self.put_owned(Space::State, keys::meta(Meta::Tiers), tiers);
    }
    fn put_offer_given(&mut self, offer: OfferId, given: i64) {
        self.put_owned(Space::State, keys::offer_given(offer), given);
    }
    fn put_offer_use(&mut self, offer: OfferId, account: AccountId, used: OfferUse) {
        self.put_owned(Space::State, keys::offer_use(offer, account), used);
    }
    fn put_stamps(&mut self, offer: OfferId, account: AccountId, stamps: u32) {
        self.put_owned(Space::State, keys::stamps(offer, account), stamps);
    }
}

/// A record must sit under the key its own id gives.
fn checked_key(found: &[u8], want: Vec<u8>) -> Result<(), StoreError> {
    if found == want.as_slice() {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            space: Space::State,
            detail: "record under another key".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use proptest::prelude::*;

    proptest! {
        /// Stored records that do not decode are reported as corruption, never a panic.
        #[test]
        fn arbitrary_bytes_decode_to_an_error_or_a_value(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<Account>(Space::State, &bytes);
            let _ = decode::<Purchase>(Space::State, &bytes);
            let _ = decode::<OperationRecord>(Space::Ops, &bytes);
            let _ = decode::<loyalty_core::event::EventRecord>(Space::Log, &bytes);
        }

        /// A batch's own writes lie over what is stored: a scan answers as the store would
        /// once they land, in key order, bounded and limited.
        #[test]
        fn scans_see_the_batchs_writes_in_key_order(
            stored in prop::collection::btree_map(prop::collection::vec(0u8..4, 1..4), any::<u8>(), 0..24),
            pending in prop::collection::vec((prop::collection::vec(0u8..4, 1..4), prop::option::of(any::<u8>())), 0..24),
            from in prop::collection::vec(0u8..4, 0..3),
            to in prop::option::of(prop::collection::vec(0u8..4, 0..3)),
            limit in 0usize..30,
        ) {
            let (store, landed) = (MemStore::default(), MemStore::default());
            let mut b = Batch::default();
            for (k, v) in &stored {
                b.put(Space::State, k.clone(), encode(v));
            }
            store.commit(&b, true).unwrap();
            let mut state = StoredState::new(&store);
            for (k, v) in &pending {
                match v {
                    Some(v) => {
                        state.put(Space::State, k.clone(), v);
                        b.put(Space::State, k.clone(), encode(v));
                    }
                    None => {
                        state.delete(Space::State, k.clone());
                        b.delete(Space::State, k.clone());
                    }
                }
            }
            landed.commit(&b, true).unwrap();
            prop_assert_eq!(
                state.scan(Space::State, &from, to.as_deref(), limit),
                landed.scan(Space::State, &from, to.as_deref(), limit).unwrap()
            );
        }

        #[test]
        fn records_round_trip(balance in 0i64..1_000_000_000, held in 0i64..1_000_000) {
            let a = Account { id: AccountId(7), status: AccountStatus::Active, balance: loyalty_core::amount::Points(balance + held), held: loyalty_core::amount::Points(held), name: "n".into(), phone: String::new(), consent: true, favourites: vec![ProductCode::new("milk").unwrap()], debt: loyalty_core::amount::Points(held / 2), earned: loyalty_core::amount::Points(balance), pending: loyalty_core::amount::Points(held), lots: vec![Lot { id: 1, source: LotSource::Adjustment, points: loyalty_core::amount::Points(balance), left: loyalty_core::amount::Points(balance), activates_at: UnixMillis(1), expires_at: None, pending: false }], lots_made: 1, due: Some(UnixMillis(held)), purchases: 3, bonuses: vec![BonusKind::Welcome], birth_date: chrono::NaiveDate::from_ymd_opt(1990, 2, 28), birthday: chrono::NaiveDate::from_ymd_opt(2027, 2, 28), birthday_from: Some(UnixMillis(held)), tier: Some("Gold".into()), tier_floor: Some("Silver".into()), spend: vec![(24_315, loyalty_core::amount::Money(balance))], tier_review: Some(UnixMillis(held)) };
            prop_assert_eq!(decode::<Account>(Space::State, &encode(&a)).unwrap(), a);
        }
    }
}
