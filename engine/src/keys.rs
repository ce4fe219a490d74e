//! Key codec: big-endian, fixed-width where possible, with the variable-length part last so
//! that byte order equals logical order. Every key has an `encode`/`decode` pair; tests
//! check both round trips and sort order.
//!
//! Keys in the state space start with a one-byte tag. Account keys lead with the account's
//! shard (DESIGN §6), so that a shard's accounts are one contiguous range.

use loyalty_core::ids::*;
use loyalty_core::model::{BonusKind, UnixMillis};

pub const TAG_CASHBOX: u8 = 0x01;
pub const TAG_ACCOUNT: u8 = 0x02;
pub const TAG_CARD: u8 = 0x03;
pub const TAG_PURCHASE: u8 = 0x04;
pub const TAG_PRODUCT: u8 = 0x05;
pub const TAG_BARCODE: u8 = 0x06;
pub const TAG_OFFER: u8 = 0x07;
pub const TAG_PENDING: u8 = 0x08;
pub const TAG_META: u8 = 0x09;
pub const TAG_EXPIRED: u8 = 0x0A;
pub const TAG_PHONE: u8 = 0x0B;
pub const TAG_CARD_RANGE: u8 = 0x0C;
pub const TAG_COUPON: u8 = 0x0D;
pub const TAG_COUPON_SERIES: u8 = 0x0E;
pub const TAG_ORDER: u8 = 0x0F;
pub const TAG_ORDER_DUE: u8 = 0x10;
pub const TAG_ACCOUNT_CARD: u8 = 0x11;
pub const TAG_ACCOUNT_DUE: u8 = 0x12;
pub const TAG_LOGIN: u8 = 0x13;
pub const TAG_BONUS_RULE: u8 = 0x14;
pub const TAG_OFFER_GIVEN: u8 = 0x15;
pub const TAG_OFFER_USE: u8 = 0x16;
pub const TAG_STAMPS: u8 = 0x17;
pub const TAG_CERTIFICATE: u8 = 0x18;

/// Why a key could not be decoded: stored keys that do not decode are corruption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind} key ({len} bytes)")]
pub struct KeyError {
    pub kind: &'static str,
    pub len: usize,
}

fn err(kind: &'static str, k: &[u8]) -> KeyError {
    KeyError { kind, len: k.len() }
}

fn be<const N: usize>(kind: &'static str, k: &[u8]) -> Result<[u8; N], KeyError> {
    k.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| err(kind, k))
}

/// A key of `tag` and then `parts`, in one allocation of its exact size (keys are built
/// for every read and write).
fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(tag);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn text<'a>(kind: &'static str, k: &'a [u8]) -> Result<&'a str, KeyError> {
    std::str::from_utf8(k).map_err(|_| err(kind, k))
}

pub fn cashbox(id: CashboxId) -> Vec<u8> {
    key(TAG_CASHBOX, &[&id.0.to_be_bytes()])
}

pub fn decode_cashbox(k: &[u8]) -> Result<CashboxId, KeyError> {
    match k {
        [TAG_CASHBOX, rest @ ..] if rest.len() == 4 => {
            Ok(CashboxId(u32::from_be_bytes(be("cashbox", rest)?)))
        }
        _ => Err(err("cashbox", k)),
    }
}

pub fn account(id: AccountId) -> Vec<u8> {
    key(
        TAG_ACCOUNT,
        &[&id.shard().to_be_bytes(), &id.0.to_be_bytes()],
    )
}

pub fn decode_account(k: &[u8]) -> Result<AccountId, KeyError> {
    match k {
        [TAG_ACCOUNT, rest @ ..] if rest.len() == 10 => {
            let id = AccountId(u64::from_be_bytes(be("account", &rest[2..])?));
            let shard = u16::from_be_bytes(be("account", rest)?);
            if shard != id.shard() {
                return Err(err("account", k));
            }
            Ok(id)
        }
        _ => Err(err("account", k)),
    }
}

pub fn card(n: &CardNo) -> Vec<u8> {
    key(TAG_CARD, &[n.as_str().as_bytes()])
}

pub fn decode_card(k: &[u8]) -> Result<CardNo, KeyError> {
    match k {
        [TAG_CARD, rest @ ..] => CardNo::new(text("card", rest)?).map_err(|_| err("card", k)),
        _ => Err(err("card", k)),
    }
}

/// A card of an account (the index of an account's cards): the account as its key has it
/// (shard first), then the card number.
pub fn account_card(account: AccountId, card: &CardNo) -> Vec<u8> {
    key(
        TAG_ACCOUNT_CARD,
        &[
            &account.shard().to_be_bytes(),
            &account.0.to_be_bytes(),
            card.as_str().as_bytes(),
        ],
    )
}

/// Every key of `account`'s cards starts with this.
pub fn account_cards(account: AccountId) -> Vec<u8> {
    key(
        TAG_ACCOUNT_CARD,
        &[&account.shard().to_be_bytes(), &account.0.to_be_bytes()],
    )
}

pub fn decode_account_card(k: &[u8]) -> Result<(AccountId, CardNo), KeyError> {
    match k {
        [TAG_ACCOUNT_CARD, rest @ ..] if rest.len() > 10 => {
            let id = AccountId(u64::from_be_bytes(be("account card", &rest[2..])?));
            if u16::from_be_bytes(be("account card", rest)?) != id.shard() {
                return Err(err("account card", k));
            }
            let card = CardNo::new(text("account card", &rest[10..])?)
                .map_err(|_| err("account card", k))?;
            Ok((id, card))
        }
        _ => Err(err("account card", k)),
    }
}

/// A card range: its length, then its prefix.
pub fn card_range(prefix: &str, length: u8) -> Vec<u8> {
    key(TAG_CARD_RANGE, &[&[length], prefix.as_bytes()])
}

pub fn coupon(code: &CouponCode) -> Vec<u8> {
    key(TAG_COUPON, &[code.as_str().as_bytes()])
}

pub fn certificate(code: &CertificateCode) -> Vec<u8> {
    key(TAG_CERTIFICATE, &[code.as_str().as_bytes()])
}

pub fn coupon_series(id: CouponSeriesId) -> Vec<u8> {
    key(TAG_COUPON_SERIES, &[&id.0.to_be_bytes()])
}

pub fn order(number: &OrderNo) -> Vec<u8> {
    key(TAG_ORDER, &[number.as_str().as_bytes()])
}

/// What a limited offer has given in all.
pub fn offer_given(offer: OfferId) -> Vec<u8> {
    key(TAG_OFFER_GIVEN, &[&offer.0.to_be_bytes()])
}

pub fn decode_offer_given(k: &[u8]) -> Result<OfferId, KeyError> {
    match k {
        [TAG_OFFER_GIVEN, rest @ ..] if rest.len() == 4 => {
            Ok(OfferId(u32::from_be_bytes(be("offer given", rest)?)))
        }
        _ => Err(err("offer given", k)),
    }
}

/// What a limited offer has given a customer: the offer, then the account.
pub fn offer_use(offer: OfferId, account: AccountId) -> Vec<u8> {
    offer_account(TAG_OFFER_USE, offer, account)
}

pub fn decode_offer_use(k: &[u8]) -> Result<(OfferId, AccountId), KeyError> {
    decode_offer_account(TAG_OFFER_USE, "offer use", k)
}

/// The stamps a customer collected with a stamps offer: the offer, then the account.
pub fn stamps(offer: OfferId, account: AccountId) -> Vec<u8> {
    offer_account(TAG_STAMPS, offer, account)
}

pub fn decode_stamps(k: &[u8]) -> Result<(OfferId, AccountId), KeyError> {
    decode_offer_account(TAG_STAMPS, "stamps", k)
}

fn offer_account(tag: u8, offer: OfferId, account: AccountId) -> Vec<u8> {
    key(tag, &[&offer.0.to_be_bytes(), &account.0.to_be_bytes()])
}

fn decode_offer_account(
    tag: u8,
    kind: &'static str,
    k: &[u8],
) -> Result<(OfferId, AccountId), KeyError> {
    match k {
        [t, rest @ ..] if *t == tag && rest.len() == 12 => Ok((
            OfferId(u32::from_be_bytes(be(kind, rest)?)),
            AccountId(u64::from_be_bytes(be(kind, &rest[4..])?)),
        )),
        _ => Err(err(kind, k)),
    }
}

/// The bonus rule of a kind of customer event, under the kind's name.
pub fn bonus_rule(kind: BonusKind) -> Vec<u8> {
    key(TAG_BONUS_RULE, &[kind.name().as_bytes()])
}

/// A registered phone (value: the card it identifies).
pub fn phone(p: &Phone) -> Vec<u8> {
    key(TAG_PHONE, &[p.as_str().as_bytes()])
}

pub fn decode_phone(k: &[u8]) -> Result<Phone, KeyError> {
    match k {
        [TAG_PHONE, rest @ ..] => {
            let p = Phone::parse(text("phone", rest)?).map_err(|_| err("phone", k))?;
            if p.as_str().as_bytes() != rest {
                return Err(err("phone", k));
            }
            Ok(p)
        }
        _ => Err(err("phone", k)),
    }
}

pub fn purchase(p: &PurchaseKey) -> Vec<u8> {
    key(
        TAG_PURCHASE,
        &[&p.cashbox.0.to_be_bytes(), p.cheque.as_str().as_bytes()],
    )
}

fn decode_purchase_body(kind: &'static str, rest: &[u8]) -> Result<PurchaseKey, KeyError> {
    let cashbox = CashboxId(u32::from_be_bytes(be(kind, rest)?));
    let cheque = ChequeId::new(text(kind, &rest[4..])?).map_err(|_| err(kind, rest))?;
    Ok(PurchaseKey { cashbox, cheque })
}

pub fn decode_purchase(k: &[u8]) -> Result<PurchaseKey, KeyError> {
    match k {
        [TAG_PURCHASE, rest @ ..] => decode_purchase_body("purchase", rest),
        _ => Err(err("purchase", k)),
    }
}

pub fn product(code: &ProductCode) -> Vec<u8> {
    key(TAG_PRODUCT, &[code.as_str().as_bytes()])
}

pub fn barcode(code: &ProductCode) -> Vec<u8> {
    key(TAG_BARCODE, &[code.as_str().as_bytes()])
}

pub fn offer(id: OfferId) -> Vec<u8> {
    key(TAG_OFFER, &[&id.0.to_be_bytes()])
}

/// Signed times sort correctly once the sign bit is flipped.
fn time_bytes(t: UnixMillis) -> [u8; 8] {
    ((t.0 as u64) ^ (1 << 63)).to_be_bytes()
}

/// The index of unconfirmed purchases by expiry: time, then the purchase key's body.
pub fn pending(at: UnixMillis, p: &PurchaseKey) -> Vec<u8> {
    key(
        TAG_PENDING,
        &[
            &time_bytes(at),
            &p.cashbox.0.to_be_bytes(),
            p.cheque.as_str().as_bytes(),
        ],
    )
}

/// The expired-purchases index: the same layout as the pending one, under its own tag.
pub fn expired(at: UnixMillis, p: &PurchaseKey) -> Vec<u8> {
    let mut k = pending(at, p);
    k[0] = TAG_EXPIRED;
    k
}

/// The first expired-index key at or after `at`.
pub fn expired_from(at: UnixMillis) -> Vec<u8> {
    key(TAG_EXPIRED, &[&time_bytes(at)])
}

pub fn decode_pending(k: &[u8]) -> Result<(UnixMillis, PurchaseKey), KeyError> {
    match k {
        [TAG_PENDING | TAG_EXPIRED, rest @ ..] if rest.len() > 12 => {
            let t = u64::from_be_bytes(be("pending", rest)?) ^ (1 << 63);
            Ok((
                UnixMillis(t as i64),
                decode_purchase_body("pending", &rest[8..])?,
            ))
        }
        _ => Err(err("pending", k)),
    }
}

/// The index of open orders by expiry: time, then the order number.
pub fn order_due(at: UnixMillis, number: &OrderNo) -> Vec<u8> {
    key(
        TAG_ORDER_DUE,
        &[&time_bytes(at), number.as_str().as_bytes()],
    )
}

/// The first order-due key after everything due at or before `at`.
pub fn order_due_end(at: UnixMillis) -> Vec<u8> {
    key(
        TAG_ORDER_DUE,
        &[&time_bytes(UnixMillis(at.0.saturating_add(1)))],
    )
}

pub fn decode_order_due(k: &[u8]) -> Result<(UnixMillis, OrderNo), KeyError> {
    match k {
        [TAG_ORDER_DUE, rest @ ..] if rest.len() > 8 => {
            let t = u64::from_be_bytes(be("order due", rest)?) ^ (1 << 63);
            let number =
                OrderNo::new(text("order due", &rest[8..])?).map_err(|_| err("order due", k))?;
            Ok((UnixMillis(t as i64), number))
        }
        _ => Err(err("order due", k)),
    }
}

/// The index of cashboxes by Loymax login.
pub fn login(login: &str) -> Vec<u8> {
    key(TAG_LOGIN, &[login.as_bytes()])
}

pub fn decode_login(k: &[u8]) -> Result<String, KeyError> {
    match k {
        [TAG_LOGIN, rest @ ..] if !rest.is_empty() => Ok(text("login", rest)?.to_owned()),
        _ => Err(err("login", k)),
    }
}

/// The index of accounts by the time their lots are next due: time, then the account.
pub fn account_due(at: UnixMillis, id: AccountId) -> Vec<u8> {
    key(TAG_ACCOUNT_DUE, &[&time_bytes(at), &id.0.to_be_bytes()])
}

/// The first account-due key after everything due at or before `at`.
pub fn account_due_end(at: UnixMillis) -> Vec<u8> {
    key(
        TAG_ACCOUNT_DUE,
        &[&time_bytes(UnixMillis(at.0.saturating_add(1)))],
    )
}

pub fn decode_account_due(k: &[u8]) -> Result<(UnixMillis, AccountId), KeyError> {
    match k {
        [TAG_ACCOUNT_DUE, rest @ ..] if rest.len() == 16 => {
            let t = u64::from_be_bytes(be("account due", rest)?) ^ (1 << 63);
            let id = u64::from_be_bytes(be("account due", &rest[8..])?);
            Ok((UnixMillis(t as i64), AccountId(id)))
        }
        _ => Err(err("account due", k)),
    }
}

/// The first pending key after everything due at or before `at`.
pub fn pending_end(at: UnixMillis) -> Vec<u8> {
    key(
        TAG_PENDING,
        &[&time_bytes(UnixMillis(at.0.saturating_add(1)))],
    )
}

/// The single records of the `state` space, each under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// The log sequence after the last committed batch.
    LogSeq,
    /// How many accounts were ever opened (the next account's id follows).
    AccountsOpened,
    /// Which identifier kinds may redeem.
    IdentifierPolicy,
    /// The layout of the derived state (indexes) the store was written with.
    StateLayout,
    /// The programme's status levels.
    Tiers,
}

impl Meta {
    /// The name the record is stored under; never changes once written.
    pub fn name(self) -> &'static str {
        match self {
            Meta::LogSeq => "log_seq",
            Meta::AccountsOpened => "accounts_opened",
            Meta::IdentifierPolicy => "identifier_policy",
            Meta::StateLayout => "state_layout",
            Meta::Tiers => "tiers",
        }
    }
}

pub fn meta(m: Meta) -> Vec<u8> {
    key(TAG_META, &[m.name().as_bytes()])
}

/// In the `outbox` space: the sequence of the last event the broker acknowledged (the
/// relay's cursor over the log).
pub const RELAY_CURSOR: &[u8] = b"relay-cursor";

pub fn log(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn decode_log(k: &[u8]) -> Result<u64, KeyError> {
    if k.len() != 8 {
        return Err(err("log", k));
    }
    Ok(u64::from_be_bytes(be("log", k)?))
}

/// An account's event in the history index: account, then sequence, so one account's
/// events are one contiguous range in log order.
pub fn history(account: AccountId, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&account.0.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn decode_history(k: &[u8]) -> Result<(AccountId, u64), KeyError> {
    if k.len() != 16 {
        return Err(err("history", k));
    }
    Ok((
        AccountId(u64::from_be_bytes(be("history", k)?)),
        u64::from_be_bytes(be("history", &k[8..])?),
    ))
}

pub fn operation(op: OpId) -> [u8; 16] {
    op.0.to_be_bytes()
}

pub fn decode_operation(k: &[u8]) -> Result<OpId, KeyError> {
    if k.len() != 16 {
        return Err(err("operation", k));
    }
    Ok(OpId(u128::from_be_bytes(be("operation", k)?)))
}

/// The exclusive end of all keys starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cheque() -> impl Strategy<Value = ChequeId> {
        "[!-~]{1,20}".prop_map(|s| ChequeId::new(&s).unwrap())
    }

    proptest! {
        #[test]
        fn round_trips(c in any::<u32>(), a in any::<u64>(), s in any::<u64>(), t in any::<i64>(), ch in cheque(), card_no in "[0-9]{1,32}", op in 1u128..) {
            prop_assert_eq!(decode_cashbox(&cashbox(CashboxId(c))).unwrap(), CashboxId(c));
            prop_assert_eq!(decode_account(&account(AccountId(a))).unwrap(), AccountId(a));
            prop_assert_eq!(decode_log(&log(s)).unwrap(), s);
            prop_assert_eq!(decode_history(&history(AccountId(a), s)).unwrap(), (AccountId(a), s));
            prop_assert_eq!(decode_operation(&operation(OpId(op))).unwrap(), OpId(op));
            let n = CardNo::new(&card_no).unwrap();
            prop_assert_eq!(decode_card(&card(&n)).unwrap(), n.clone());
            let ac = account_card(AccountId(a), &n);
            prop_assert!(ac.starts_with(&account_cards(AccountId(a))));
            prop_assert_eq!(decode_account_card(&ac).unwrap(), (AccountId(a), n));
            let ph = Phone::parse(&format!("+{card_no}")).ok();
            if let Some(ph) = ph {
                prop_assert_eq!(decode_phone(&phone(&ph)).unwrap(), ph);
            }
            let p = PurchaseKey { cashbox: CashboxId(c), cheque: ch };
            prop_assert_eq!(decode_purchase(&purchase(&p)).unwrap(), p.clone());
            prop_assert_eq!(decode_pending(&pending(UnixMillis(t), &p)).unwrap(), (UnixMillis(t), p.clone()));
            prop_assert_eq!(decode_pending(&expired(UnixMillis(t), &p)).unwrap(), (UnixMillis(t), p));
        }

        #[test]
        fn byte_order_is_logical_order(a in any::<u32>(), b in any::<u32>(), t1 in any::<i64>(), t2 in any::<i64>(), s1 in any::<u64>(), s2 in any::<u64>(), ch in cheque()) {
            prop_assert_eq!(cashbox(CashboxId(a)).cmp(&cashbox(CashboxId(b))), a.cmp(&b));
            prop_assert_eq!(log(s1).cmp(&log(s2)), s1.cmp(&s2));
            let (x, y) = (AccountId(u64::from(a)), AccountId(u64::from(b)));
            prop_assert_eq!(history(x, s1).cmp(&history(y, s2)), (x, s1).cmp(&(y, s2)));
            let p = PurchaseKey { cashbox: CashboxId(a), cheque: ch };
            prop_assert_eq!(pending(UnixMillis(t1), &p).cmp(&pending(UnixMillis(t2), &p)), t1.cmp(&t2).then(std::cmp::Ordering::Equal));
            if t1 < i64::MAX {
                // Everything due at t1 sorts before pending_end(t1); later entries after it.
                prop_assert!(pending(UnixMillis(t1), &p) < pending_end(UnixMillis(t1)));
                if t2 > t1 {
                    prop_assert!(pending(UnixMillis(t2), &p) >= pending_end(UnixMillis(t1)));
                }
            }
        }

        #[test]
        fn keys_take_one_allocation_of_their_size(c in any::<u32>(), a in any::<u64>(), t in any::<i64>(), ch in cheque(), text in "[0-9]{1,32}") {
            let p = PurchaseKey { cashbox: CashboxId(c), cheque: ch };
            let n = CardNo::new(&text).unwrap();
            let code = ProductCode::new(&text).unwrap();
            for k in [
                cashbox(CashboxId(c)),
                account(AccountId(a)),
                card(&n),
                card_range(&text, 16),
                purchase(&p),
                pending(UnixMillis(t), &p),
                expired(UnixMillis(t), &p),
                pending_end(UnixMillis(t)),
                product(&code),
                barcode(&code),
                meta(Meta::LogSeq),
                meta(Meta::AccountsOpened),
                meta(Meta::IdentifierPolicy),
                bonus_rule(BonusKind::FirstPurchase),
                coupon(&CouponCode::new(&text).unwrap()),
                certificate(&CertificateCode::new(&text).unwrap()),
                order(&OrderNo::new(&text).unwrap()),
                order_due(UnixMillis(t), &OrderNo::new(&text).unwrap()),
                account_due(UnixMillis(t), AccountId(a)),
            ] {
                prop_assert_eq!(k.capacity(), k.len());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_cashbox(&bytes);
            let _ = decode_account(&bytes);
            let _ = decode_card(&bytes);
            let _ = decode_purchase(&bytes);
            let _ = decode_pending(&bytes);
            let _ = decode_log(&bytes);
            let _ = decode_history(&bytes);
            let _ = decode_phone(&bytes);
            let _ = decode_operation(&bytes);
            let _ = decode_account_due(&bytes);
            let _ = decode_login(&bytes);
            let _ = decode_offer_given(&bytes);
            let _ = decode_offer_use(&bytes);
            let _ = decode_stamps(&bytes);
        }
    }

    #[test]
    fn account_keys_group_by_shard() {
        let k = account(AccountId(42));
        assert_eq!(u16::from_be_bytes([k[1], k[2]]), AccountId(42).shard());
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
