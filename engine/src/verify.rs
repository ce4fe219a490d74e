//! Verify and rebuild: the live state is a projection of the log. `verify_store` replays
//! the log into a fresh in-memory state, compares it (and the account history index) with
//! the live state, and with `rewrite` replaces a differing live state by the rebuild;
//! digests of the state and the log let two copies be compared byte for byte.

use crate::keys::{self, Meta};
use crate::store::{Space, Store, StoreError};
use crate::stored::{decode, StoredState};
use loyalty_core::apply::apply;
use loyalty_core::event::EventRecord;
use loyalty_core::state::MemState;

/// The result of comparing the live state with a rebuild from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub equal: bool,
    /// What differs, by entity kind, when not equal.
    pub differences: Vec<String>,
    pub rewritten: bool,
    /// SHA-256 over every key and value of the live state (after any rewrite) and of the
    /// log: equal digests mean byte-for-byte equal data.
    pub state_sha256: [u8; 32],
    pub log_sha256: [u8; 32],
}

/// The layout of the derived state (indexes) this build writes: raised whenever an index
/// is added or changed (2: the index of an account's cards; 3: the accrual each account has
/// kept, `Account::earned`; 4: lots, and the index of accounts by the time their lots are
/// due; 5: each account's count of final purchases, `Account::purchases`, which the
/// first-purchase bonus reads; 6: what each account spent by month, `Account::spend`, which
/// status levels read; what limited offers gave needs none: no purchase before them had
/// any). A store of an older layout has its state rebuilt from the log once, when the
/// engine starts on it.
pub const STATE_LAYOUT: u8 = 6;

/// Brings a store's derived state to [`STATE_LAYOUT`]: a store with history and an older
/// layout is rebuilt from its log (as `verify --rewrite` does); a new one is just marked.
/// Returns whether it rebuilt.
pub fn upgrade_state(store: &dyn Store) -> Result<bool, StoreError> {
    let key = keys::meta(Meta::StateLayout);
    let layout = match store.get(Space::State, &key)? {
        Some(v) => decode::<u8>(Space::State, &v)?,
        None => 1,
    };
    if layout >= STATE_LAYOUT {
        return Ok(false);
    }
    let rebuild = crate::batch::stored_seq(store)? > 0;
    if rebuild {
        verify_store(store, true)?;
    }
    let mut batch = crate::store::Batch::default();
    batch.put(Space::State, key, crate::stored::encode(&STATE_LAYOUT));
    store.commit(&batch, true)?;
    Ok(rebuild)
}

/// Rebuilds the projection from the log and compares it with the live state; with
/// `rewrite`, replaces a differing live state by the rebuild. Callers make sure no batch
/// commits meanwhile (the writer runs it between batches).
pub fn verify_store(store: &dyn Store, rewrite: bool) -> Result<VerifyReport, StoreError> {
    let mut rebuilt = MemState::default();
    let mut events = 0u64;
    let mut indexed = 0u64;
    let mut from = keys::log(1).to_vec();
    loop {
        let chunk = store.scan(Space::Log, &from, None, 10_000)?;
        let Some((last, _)) = chunk.last() else { break };
        from = keys::log(
            keys::decode_log(last).map_err(|e| StoreError::Corrupt {
                space: Space::Log,
                detail: e.to_string(),
            })? + 1,
        )
        .to_vec();
        for (_, v) in &chunk {
            let rec: EventRecord = decode(Space::Log, v)?;
            apply(&mut rebuilt, &rec.event);
            events += 1;
            indexed += u64::from(rec.event.account().is_some());
        }
    }
    let live = StoredState::new(store).projection()?;
    let mut differences = Vec::new();
    let r = &rebuilt.projection;
    macro_rules! diff {
        ($($field:ident),*) => {$(
            if live.$field != r.$field {
                differences.push(format!("{}: live {} vs rebuilt {}", stringify!($field), live.$field.len(), r.$field.len()));
            }
        )*};
    }
    diff!(
        cashboxes,
        logins,
        accounts,
        cards,
        account_cards,
        phones,
        card_ranges,
        purchases,
        products,
        barcodes,
        offers,
        pending,
        expired,
        coupons,
        coupon_series,
        orders,
        orders_due,
        accounts_due,
        bonus_rules,
        offer_given,
        offer_uses,
        stamps,
        certificates
    );
    if live.identifier_policy != r.identifier_policy {
        differences.push("identifier_policy".into());
    }
    if live.tiers != r.tiers {
        differences.push("tiers".into());
    }
    if live.accounts_opened != r.accounts_opened {
        differences.push("accounts_opened".into());
    }
    let history_rows = count(store, Space::History)?;
    if history_rows != indexed {
        differences.push(format!(
            "history index: {history_rows} rows for {indexed} account events"
        ));
    }
    let equal = live == *r && history_rows == indexed;
    let mut rewritten = false;
    if rewrite && !equal {
        let mut state = StoredState::new(store);
        let mut batch = crate::store::Batch::default();
        for (k, _) in store.scan(Space::State, &[], None, usize::MAX)? {
            if k != keys::meta(Meta::LogSeq) && k != keys::meta(Meta::StateLayout) {
                batch.delete(Space::State, k);
            }
        }
        write_projection(&mut state, r);
        batch.writes.extend(state.into_batch().writes);
        each_row(store, Space::History, |k, _| {
            batch.delete(Space::History, k.to_vec())
        })?;
        let mut failed = None;
        each_row(store, Space::Log, |_, v| {
            match decode::<EventRecord>(Space::Log, v) {
                Ok(rec) => {
                    if let Some(a) = rec.event.account() {
                        batch.put(
                            Space::History,
                            keys::history(a, rec.seq).to_vec(),
                            Vec::new(),
                        );
                    }
                }
                Err(e) => failed = Some(e),
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        store.commit(&batch, true)?;
        rewritten = true;
    }
    Ok(VerifyReport {
        events,
        equal,
        differences,
        rewritten,
        state_sha256: digest(store, Space::State)?,
        log_sha256: digest(store, Space::Log)?,
    })
}

/// Visits every row of a space in key order, in chunks.
fn each_row(
    store: &dyn Store,
    space: Space,
    mut f: impl FnMut(&[u8], &[u8]),
) -> Result<(), StoreError> {
    let mut from = Vec::new();
    loop {
        let chunk = store.scan(space, &from, None, 10_000)?;
        let Some((last, _)) = chunk.last() else {
            return Ok(());
        };
        from = last.clone();
        from.push(0);
        for (k, v) in &chunk {
            f(k, v);
        }
    }
}

fn count(store: &dyn Store, space: Space) -> Result<u64, StoreError> {
    let mut n = 0;
    each_row(store, space, |_, _| n += 1)?;
    Ok(n)
}

/// SHA-256 over a space's rows, each as length-prefixed key and value.
fn digest(store: &dyn Store, space: Space) -> Result<[u8; 32], StoreError> {
    digest_below(store, space, None)
}

/// [`digest`] of the rows whose keys sort below `to` (all of them without it).
fn digest_below(
    store: &dyn Store,
    space: Space,
    to: Option<&[u8]>,
) -> Result<[u8; 32], StoreError> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut from = Vec::new();
    loop {
        let chunk = store.scan(space, &from, to, 10_000)?;
        let Some((last, _)) = chunk.last() else {
            return Ok(h.finalize().into());
        };
        from = last.clone();
        from.push(0);
        for (k, v) in &chunk {
            for part in [k, v] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
        }
    }
}

/// The digests `verify` shows, read without a rebuild: the log sequence, the state's digest
/// and the log's — the whole log, or its events up to and including `through`, so that a
/// copy taken at that sequence can be compared with a store that has gone on since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub seq: u64,
    pub state_sha256: [u8; 32],
    pub log_sha256: [u8; 32],
}

pub fn digests(store: &dyn Store) -> Result<Digests, StoreError> {
    Ok(Digests {
        seq: crate::batch::stored_seq(store)?,
        state_sha256: digest(store, Space::State)?,
        log_sha256: digest(store, Space::Log)?,
    })
}

/// The digest of the log's events `1..=through`.
pub fn log_digest_through(store: &dyn Store, through: u64) -> Result<[u8; 32], StoreError> {
    digest_below(
        store,
        Space::Log,
        Some(&keys::log(through.saturating_add(1))),
    )
}

fn write_projection(state: &mut StoredState<'_>, p: &loyalty_core::state::Projection) {
    use loyalty_core::model::Account;
    use loyalty_core::state::StateStore;
    for c in p.cashboxes.values() {
        state.put_cashbox(c.clone());
    }
    // Written as new (not yet indexed), so that the store indexes each by its due time.
    for a in p.accounts.values() {
        state.put_account(Account {
            due: None,
            ..a.clone()
        });
    }
    for c in p.cards.values() {
        state.put_card(c.clone());
    }
    for (phone, card) in &p.phones {
        state.put_phone(phone.clone(), card.clone());
    }
    for r in p.card_ranges.values() {
        state.put_card_range(r.clone(), true);
    }
    if let Some(policy) = &p.identifier_policy {
        state.put_identifier_policy(policy.clone());
    }
    for r in p.bonus_rules.values() {
        state.put_bonus_rule(*r);
    }
    if let Some(t) = &p.tiers {
        state.put_tiers(t.clone());
    }
    for (o, g) in &p.offer_given {
        state.put_offer_given(*o, *g);
    }
    for ((o, a), u) in &p.offer_uses {
        state.put_offer_use(*o, *a, *u);
    }
    for ((o, a), n) in &p.stamps {
        state.put_stamps(*o, *a, *n);
    }
    for x in p.purchases.values() {
        state.put_purchase(x, None);
    }
    for x in p.products.values() {
        state.put_product(x.clone());
    }
    for o in p.offers.values() {
        state.put_offer(o.clone());
    }
    for s in p.coupon_series.values() {
        state.put_coupon_series(s.clone());
    }
    for c in p.certificates.values() {
        state.put_certificate(c.clone());
    }
    for c in p.coupons.values() {
        state.put_coupon(c.clone());
    }
    for o in p.orders.values() {
        state.put_order(o.clone());
    }
    state.set_accounts_opened(p.accounts_opened);
}
