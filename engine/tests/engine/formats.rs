//! A store written in an older record format opens, rebuilds equal, and keeps working.
//!
//! `fixtures/format4-store.txt` is every record (space, key, value in hex) the simulator
//! wrote with seed 3 over 100 batches, in record format 4.

use loyalty_core::command::{Actor, Command, Request};
use loyalty_core::ids::OpId;
use loyalty_core::model::UnixMillis;
use loyalty_core::outcome::Code;
use loyalty_core::state::StateView;
use loyalty_engine::keys;
use loyalty_engine::store::{Batch, MemStore, Space, Store};
use loyalty_engine::{commit_batch, stored_seq, upgrade_state, verify_store, StoredState};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn format4_store() -> (MemStore, usize) {
    let mut batch = Batch::default();
    let mut log = 0;
    for line in include_str!("fixtures/format4-store.txt").lines() {
        let mut parts = line.split(' ');
        let (space, key, value) = (parts.next(), parts.next(), parts.next());
        let space = *Space::ALL
            .iter()
            .find(|s| Some(s.name()) == space)
            .expect("a space name");
        let value = unhex(value.expect("a value"));
        // The history index has keys only.
        if space != Space::History {
            assert_eq!(value[0], 4, "the fixture is format 4");
        }
        log += usize::from(space == Space::Log);
        batch.put(space, unhex(key.expect("a key")), value);
    }
    let store = MemStore::default();
    store.commit(&batch, false).unwrap();
    (store, log)
}

#[test]
fn a_format_4_store_is_rebuilt_once_for_the_new_state_layout_and_then_verifies_equal() {
    let (store, events) = format4_store();
    // Its records decode; only what is derived differently since differs: the index of
    // an account's cards, the accrual each account kept (`Account::earned`), and the
    // points credited before lots, now each account's carried lot, due to be dated.
    let before = verify_store(&store, false).unwrap();
    let differ: Vec<&str> = before
        .differences
        .iter()
        .map(|d| d.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        differ,
        ["accounts", "account_cards", "accounts_due"],
        "{:?}",
        before.differences
    );
    assert_eq!(before.events, events as u64);
    assert!(events > 300);
    assert!(upgrade_state(&store).unwrap(), "rebuilt on the first start");
    let after = verify_store(&store, false).unwrap();
    assert!(after.equal, "{:?}", after.differences);
    assert_eq!(after.log_sha256, before.log_sha256, "the log is untouched");
    assert!(!upgrade_state(&store).unwrap(), "and only once");
    // The rebuild counted each account's final purchases from its history, so the purchases
    // made before the first-purchase bonus existed still count as its first.
    let view = StoredState::new(&store);
    let p = view.projection().unwrap();
    let mut counted = std::collections::BTreeMap::new();
    for x in p.purchases.values() {
        let confirmed = matches!(x.status, loyalty_core::model::PurchaseStatus::Confirmed);
        if let (Some(a), true) = (x.account, confirmed) {
            *counted.entry(a).or_insert(0u32) += 1;
        }
    }
    assert!(!counted.is_empty(), "the fixture has confirmed purchases");
    for a in p.accounts.values() {
        assert_eq!(
            a.purchases,
            counted.get(&a.id).copied().unwrap_or(0),
            "{:?}",
            a.id
        );
    }
}

#[test]
fn every_operation_of_a_format_4_store_decodes() {
    let (store, _) = format4_store();
    let ops = store.scan(Space::Ops, &[], None, usize::MAX).unwrap();
    assert!(ops.len() > 300);
    let view = StoredState::new(&store);
    for (key, _) in ops {
        let op = keys::decode_operation(&key).unwrap();
        let record = view.operation(op).expect("the operation decodes");
        assert_eq!(record.op, op);
    }
}

#[test]
fn a_format_4_store_takes_new_decisions_in_the_current_format() {
    let (store, _) = format4_store();
    // As the engine does on its first start on it.
    upgrade_state(&store).unwrap();
    let seq = stored_seq(&store).unwrap();
    // Far in the future: every pending purchase of the fixture expires now.
    let sweep = Request {
        op: OpId(u128::MAX - 1),
        actor: Actor::System,
        command: Command::ExpireHolds,
    };
    let done = commit_batch(
        &store,
        &Default::default(),
        seq,
        &[&sweep],
        UnixMillis(i64::MAX / 4),
        false,
    )
    .unwrap();
    assert_eq!(done.outcomes[0].reply.code, Code::Ok);
    let written = store
        .scan(Space::Log, &keys::log(seq + 1), None, usize::MAX)
        .unwrap();
    assert!(!written.is_empty(), "the sweep expired the fixture's holds");
    assert!(written
        .iter()
        .all(|(_, v)| v[0] == loyalty_core::evolve::RECORD_FORMAT));
    let report = verify_store(&store, false).unwrap();
    assert!(report.equal, "{:?}", report.differences);
    // The sweep dated every account's carried points with the programme's lifetime.
    let view = StoredState::new(&store);
    let lifetime = loyalty_core::model::LotTerms::default().lifetime_secs;
    let mut dated = 0;
    for id in 1..=view.accounts_opened() {
        let a = view.account(loyalty_core::ids::AccountId(id)).unwrap();
        for l in &a.lots {
            assert_eq!(l.source, loyalty_core::model::LotSource::Migrated);
            assert_eq!(
                l.expires_at,
                lifetime.map(|s| UnixMillis(i64::MAX / 4).plus_secs(s))
            );
            dated += 1;
        }
        assert_eq!(
            a.balance.0 - a.held.0,
            a.lots.iter().map(|l| l.left.0).sum::<i64>()
        );
    }
    assert!(dated > 0, "the fixture's accounts have points");
}
