//! The ledger writer through its public handle, over RocksDB.

use chrono::NaiveDate;
use loyalty_core::amount::*;
use loyalty_core::command::*;
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::Code;
use loyalty_core::state::StateView;
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::store::{Batch, Pairs, Space, Store, StoreError};
use loyalty_engine::{Clock, Engine, EngineConfig, EngineError};

/// The engine's defaults, with points spendable at once (the lots have their own tests).
fn config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.program.lots.pending_secs = 0;
    c
}
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// A clock the test moves by hand.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.0.load(Ordering::SeqCst))
    }
}

static NEXT_OP: AtomicU64 = AtomicU64::new(1);

fn op() -> OpId {
    OpId(u128::from(NEXT_OP.fetch_add(1, Ordering::Relaxed)) << 8)
}

struct Harness {
    engine: Engine,
    clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

fn open(dir: tempfile::TempDir, clock: Arc<TestClock>) -> Harness {
    let store = Arc::new(RocksStore::open(dir.path()).unwrap());
    open_on(store, dir, clock)
}

fn open_on(store: Arc<dyn Store>, dir: tempfile::TempDir, clock: Arc<TestClock>) -> Harness {
    let engine = Engine::start(store, config(), clock.clone()).unwrap();
    Harness {
        engine,
        clock,
        _dir: dir,
    }
}

async fn run(engine: &Engine, actor: Actor, command: Command) -> loyalty_core::Executed {
    engine
        .execute(Request {
            op: op(),
            actor,
            command,
        })
        .await
        .unwrap()
}

fn cheque(card: &str, id: &str, price: &str) -> Cheque {
    Cheque {
        cheque: ChequeId::new(id).unwrap(),
        card: Some(CardNo::new(card).unwrap()),
        cashier: None,
        presented: Vec::new(),
        pin: None,
        tenders: Vec::new(),
        local_time: NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        lines: vec![Line {
            product: ProductCode::new("p").unwrap(),
            qty: Qty(1000),
            price: Money::parse(price).unwrap(),
            local_discount: Money::ZERO,
            promotional: false,
            min_price: Money::ZERO,
        }],
        coupons: Vec::new(),
        order: None,
    }
}

/// Offer 1: accrual of `percent` on the whole cheque, 2020-2030.
fn accrual_offer(percent: &str) -> Offer {
    let day = |y| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap()
    };
    Offer::new(
        OfferId(1),
        OfferEffect::Accrual(Rate::Percent(Percent::parse(percent).unwrap())),
        OfferScope::Cheque,
        day(2020),
        day(2030),
    )
}

/// Two cashboxes and one card with `points` on it (earned through a real purchase).
async fn setup(points: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RocksStore::open(dir.path()).unwrap());
    setup_on(points, store, dir).await
}

async fn setup_on(points: &str, store: Arc<dyn Store>, dir: tempfile::TempDir) -> Harness {
    let h = open_on(
        store,
        dir,
        Arc::new(TestClock(AtomicI64::new(1_800_000_000_000))),
    );
    for id in [1, 2] {
        let r = run(
            &h.engine,
            Actor::Admin(loyalty_core::ids::OperatorName::new("ops").expect("operator name")),
            Command::RegisterCashbox {
                id: CashboxId(id),
                store: StoreId(1),
                kind: CashboxKind::Pos,
                secret_sha256: [0; 32],
                public_key: None,
                login: None,
            },
        )
        .await;
        assert!(r.reply.is_ok());
    }
    let offer = accrual_offer("100");
    assert!(run(
        &h.engine,
        Actor::Admin(loyalty_core::ids::OperatorName::new("ops").expect("operator name")),
        Command::UpsertOffer {
            offer: offer.clone()
        }
    )
    .await
    .reply
    .is_ok());
    assert!(run(
        &h.engine,
        Actor::Admin(loyalty_core::ids::OperatorName::new("ops").expect("operator name")),
        Command::IssueCard {
            number: CardNo::new("100").unwrap(),
            card_type: "Gold".into(),
            status: CardStatus::Activated,
            account: None,
            holder_name: "A".into(),
            holder_phone: String::new()
        }
    )
    .await
    .reply
    .is_ok());
    let c = cheque("100", "seed", points);
    assert!(run(
        &h.engine,
        Actor::Cashbox(CashboxId(1)),
        Command::RegisterPurchase { cheque: c }
    )
    .await
    .reply
    .is_ok());
    assert!(run(
        &h.engine,
        Actor::Cashbox(CashboxId(1)),
        Command::Confirm {
            cheque: ChequeId::new("seed").unwrap()
        }
    )
    .await
    .reply
    .is_ok());
    // Accrual only on the seed cheque: switch the offer off.
    assert!(run(
        &h.engine,
        Actor::Admin(loyalty_core::ids::OperatorName::new("ops").expect("operator name")),
        Command::UpsertOffer {
            offer: Offer {
                enabled: false,
                ..offer
            }
        }
    )
    .await
    .reply
    .is_ok());
    h
}

fn account(engine: &Engine) -> Account {
    engine.read(|v| v.account(AccountId(1)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cashboxes_paying_with_one_card_never_hold_more_than_the_balance() {
    let h = setup("100").await;
    // 2 × 60 concurrent holds of 3 points on a 100-point card: at most 33 can succeed.
    let mut tasks = Vec::new();
    for cashbox in [1u32, 2] {
        for i in 0..60 {
            let engine = h.engine.clone();
            tasks.push(tokio::spawn(async move {
                run(
                    &engine,
                    Actor::Cashbox(CashboxId(cashbox)),
                    Command::PayWithBonus {
                        cheque: cheque("100", &format!("c{i}"), "10"),
                        points: Points::parse("3").unwrap(),
                    },
                )
                .await
                .reply
                .code
            }));
        }
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Code::Ok => ok += 1,
            Code::InsufficientPoints => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 33);
    let a = account(&h.engine);
    assert_eq!(
        (a.balance, a.held),
        (Points::parse("100").unwrap(), Points::parse("99").unwrap())
    );
    // Many requests shared a commit.
    assert!(h.engine.stats().largest_batch.load(Ordering::Relaxed) > 1);
    let report = h.engine.verify(false).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_racing_for_the_last_of_an_offers_budget_never_overspend_it() {
    let h = setup("100").await;
    let admin = Actor::Admin(OperatorName::new("ops").expect("operator name"));
    // 10 % off, 25.00 in all: 2 × 20 cheques of 100.00 at once would want 400.00.
    let offer = Offer {
        id: OfferId(2),
        limits: Some(OfferLimits {
            total: Some(2500),
            ..OfferLimits::default()
        }),
        ..Offer::new(
            OfferId(2),
            OfferEffect::Discount(Rate::Percent(Percent::parse("10").unwrap())),
            OfferScope::Cheque,
            accrual_offer("1").valid_from,
            accrual_offer("1").valid_to,
        )
    };
    let set = run(&h.engine, admin, Command::UpsertOffer { offer }).await;
    assert!(set.reply.is_ok(), "{}", set.reply.message);
    let mut tasks = Vec::new();
    for cashbox in [1u32, 2] {
        for i in 0..20 {
            let engine = h.engine.clone();
            tasks.push(tokio::spawn(async move {
                let r = run(
                    &engine,
                    Actor::Cashbox(CashboxId(cashbox)),
                    Command::RegisterPurchase {
                        cheque: cheque("100", &format!("b{cashbox}-{i}"), "100"),
                    },
                )
                .await
                .reply;
                assert!(r.is_ok(), "{}", r.message);
                r.totals.unwrap().discount.0
            }));
        }
    }
    let mut given = Vec::new();
    for t in tasks {
        given.push(t.await.unwrap());
    }
    // Exactly the budget went out: two full discounts, one of the last 5.00, the rest none.
    given.sort_unstable();
    assert_eq!(given.iter().sum::<i64>(), 2500);
    assert_eq!(given[37..], [500, 1000, 1000]);
    assert_eq!(h.engine.read(|v| v.offer_given(OfferId(2))).unwrap(), 2500);
    let report = h.engine.verify(false).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_paying_with_one_gift_certificate_never_take_it_below_zero() {
    let h = setup("100").await;
    let admin = Actor::Admin(OperatorName::new("ops").expect("operator name"));
    let code = CertificateCode::new("GC-RACE").unwrap();
    let issued = run(
        &h.engine,
        admin,
        Command::IssueCertificate {
            code: code.clone(),
            amount: Money::parse("100").unwrap(),
            valid_days: 30,
        },
    )
    .await;
    assert!(issued.reply.is_ok(), "{}", issued.reply.message);
    // 2 × 20 cheques of 100.00 at once, each paying 30.00 with it: three fit.
    let mut tasks = Vec::new();
    for cashbox in [1u32, 2] {
        for i in 0..20 {
            let engine = h.engine.clone();
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = cheque("100", &format!("g{cashbox}-{i}"), "100");
                c.tenders = vec![
                    Tender {
                        kind: TenderKind::Certificate(code),
                        amount: Money::parse("30").unwrap(),
                    },
                    Tender {
                        kind: TenderKind::Cash,
                        amount: Money::parse("70").unwrap(),
                    },
                ];
                let r = run(
                    &engine,
                    Actor::Cashbox(CashboxId(cashbox)),
                    Command::RegisterPurchase { cheque: c },
                )
                .await
                .reply;
                (cashbox, i, r.code)
            }));
        }
    }
    let mut held = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (cashbox, i, Code::Ok) => held.push((cashbox, i)),
            (_, _, Code::CertificateInsufficient) => {}
            (_, _, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(held.len(), 3);
    let certificate = |engine: &Engine| engine.read(|v| v.certificate(&code).unwrap()).unwrap();
    let c = certificate(&h.engine);
    assert_eq!(
        (c.balance, c.held),
        (Money::parse("100").unwrap(), Money::parse("90").unwrap())
    );
    // Each confirmed: 10.00 left, nothing held.
    for (cashbox, i) in held {
        let r = run(
            &h.engine,
            Actor::Cashbox(CashboxId(cashbox)),
            Command::Confirm {
                cheque: ChequeId::new(&format!("g{cashbox}-{i}")).unwrap(),
            },
        )
        .await;
        assert!(r.reply.is_ok(), "{}", r.reply.message);
    }
    let c = certificate(&h.engine);
    assert_eq!(
        (c.balance, c.held),
        (Money::parse("10").unwrap(), Money::ZERO)
    );
    let report = h.engine.verify(false).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_refunding_one_line_at_once_never_refund_more_than_it() {
    let h = setup("100").await;
    // 2 × 20 concurrent refunds of 0.1 of the one line cashbox 1 sold: 10 can succeed.
    let mut tasks = Vec::new();
    for cashbox in [1u32, 2] {
        for i in 0..20 {
            let engine = h.engine.clone();
            tasks.push(tokio::spawn(async move {
                run(
                    &engine,
                    Actor::Cashbox(CashboxId(cashbox)),
                    Command::Refund {
                        refund: ChequeId::new(&format!("r{i}")).unwrap(),
                        purchase: ChequeId::new("seed").unwrap(),
                        lines: vec![RefundLine {
                            index: 0,
                            qty: Qty(100),
                        }],
                        sold_at: (cashbox != 1).then_some(CashboxId(1)),
                    },
                )
                .await
                .reply
            }));
        }
    }
    let (mut ok, mut money, mut reversed) = (0, Money::ZERO, Points::ZERO);
    for t in tasks {
        let reply = t.await.unwrap();
        match reply.code {
            Code::Ok => {
                ok += 1;
                let s = reply.refund.unwrap();
                money = money.plus(s.money_returned);
                reversed = reversed.plus(s.accrual_reversed);
            }
            Code::RefundExceedsPurchase => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(money, Money::parse("100").unwrap());
    // The whole accrual came back: the points were all still there.
    assert_eq!(reversed, Points::parse("100").unwrap());
    assert_eq!(account(&h.engine).balance, Points::ZERO);
    let sale = h
        .engine
        .read(|v| {
            v.purchase(&PurchaseKey {
                cashbox: CashboxId(1),
                cheque: ChequeId::new("seed").unwrap(),
            })
        })
        .unwrap()
        .unwrap();
    assert_eq!(sale.lines[0].refunded_qty, Qty(1000));
    assert_eq!(sale.refund_keys.len(), 10);
    let report = h.engine.verify(false).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_survive_a_restart_and_replays_return_the_original() {
    let h = setup("50").await;
    let req = Request {
        op: op(),
        actor: Actor::Cashbox(CashboxId(2)),
        command: Command::PayWithBonus {
            cheque: cheque("100", "x", "40"),
            points: Points::parse("20").unwrap(),
        },
    };
    let first = h.engine.execute(req.clone()).await.unwrap();
    assert!(first.reply.is_ok(), "{}", first.reply.message);
    h.engine.shutdown();
    let Harness {
        engine,
        clock,
        _dir,
    } = h;
    drop(engine);
    let h = open(_dir, clock);
    let again = h.engine.execute(req.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.reply, first.reply);
    let conflict = h
        .engine
        .execute(Request {
            command: Command::Cancel {
                cheque: ChequeId::new("x").unwrap(),
            },
            ..req
        })
        .await
        .unwrap();
    assert_eq!(conflict.reply.code, Code::OperationConflict);
    assert_eq!(account(&h.engine).held, Points::parse("20").unwrap());
    // The hold expires after its lifetime; the sweep releases it.
    h.clock.0.fetch_add(16 * 60 * 1000, Ordering::SeqCst);
    let swept = h.engine.expire_holds(op()).await.unwrap();
    assert_eq!(swept.events.len(), 1);
    assert_eq!(account(&h.engine).held, Points::ZERO);
    let now = h.clock.now();
    let expired = h
        .engine
        .read(|v| v.expired_between(UnixMillis(0), now, 10))
        .unwrap();
    assert_eq!(
        expired,
        vec![PurchaseKey {
            cashbox: CashboxId(2),
            cheque: ChequeId::new("x").unwrap()
        }]
    );
    let report = h.engine.verify(true).await.unwrap();
    assert!(
        report.equal && !report.rewritten,
        "{:?}",
        report.differences
    );
    assert!(report.events >= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lane_is_refused_with_a_retry_hint() {
    let store = Arc::new(loyalty_engine::store::MemStore::default());
    let config = EngineConfig {
        cashbox_queue_depth_max: 1,
        ..config()
    };
    let engine = Engine::start(store, config, Arc::new(loyalty_engine::SystemClock)).unwrap();
    let mut results = Vec::new();
    let futures: Vec<_> = (0..50)
        .map(|_| {
            let e = engine.clone();
            tokio::spawn(async move {
                e.execute(Request {
                    op: op(),
                    actor: Actor::Cashbox(CashboxId(7)),
                    command: Command::Cancel {
                        cheque: ChequeId::new("x").unwrap(),
                    },
                })
                .await
            })
        })
        .collect();
    for f in futures {
        results.push(f.await.unwrap());
    }
    // Every request got an answer: either processed (the cashbox is unknown) or refused as busy.
    for r in &results {
        match r {
            Ok(out) => assert_eq!(out.reply.code, Code::CashboxUnknown),
            Err(loyalty_engine::EngineError::Busy { retry_after_ms, .. }) => {
                assert!(*retry_after_ms > 0)
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(results.iter().any(|r| r.is_ok()));
}

/// Whether the writer sleeps at once when idle or keeps polling (here far longer than the
/// test), requests arriving one at a time, with pauses, are all answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_answers_whether_it_sleeps_or_polls_when_idle() {
    for poll in [0, 5_000_000] {
        let store = Arc::new(loyalty_engine::store::MemStore::default());
        let config = EngineConfig {
            writer_poll_micros: poll,
            ..config()
        };
        let engine = Engine::start(store, config, Arc::new(loyalty_engine::SystemClock)).unwrap();
        for i in 0..5 {
            let out = engine
                .execute(Request {
                    op: op(),
                    actor: Actor::Cashbox(CashboxId(7)),
                    command: Command::Cancel {
                        cheque: ChequeId::new(&format!("c{i}")).unwrap(),
                    },
                })
                .await
                .unwrap();
            assert_eq!(out.reply.code, Code::CashboxUnknown, "poll {poll}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        engine.shutdown();
    }
}

/// While requests stream in (the previous batch held more than one), a small batch gathers
/// the requests that arrive within `gather_micros` of its first and is decided with them:
/// one batch, one sync. A batch already `gather_ops` large, an engine without gathering, or
/// a lone request after a lone request is decided at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_batch_gathers_the_requests_that_follow_it_while_they_stream_in() {
    let cases = [
        // gather µs, gather ops, first two requests together, batches of the last two
        (2_000_000, 8, true, 1),
        (2_000_000, 8, false, 2),
        (2_000_000, 1, true, 2),
        (0, 8, true, 2),
    ];
    for (gather_micros, gather_ops, together, batches) in cases {
        let store = Arc::new(loyalty_engine::store::MemStore::default());
        let config = EngineConfig {
            gather_micros,
            gather_ops,
            ..config()
        };
        let engine = Engine::start(store, config, Arc::new(loyalty_engine::SystemClock)).unwrap();
        let request = |i: u32| Request {
            op: op(),
            actor: Actor::Cashbox(CashboxId(7)),
            command: Command::Cancel {
                cheque: ChequeId::new(&format!("c{i}")).unwrap(),
            },
        };
        let answers = if together {
            // An upload is one queue entry: its two requests are one batch.
            engine
                .execute_many(vec![request(0), request(1)])
                .await
                .unwrap()
        } else {
            vec![
                engine.execute(request(0)).await.unwrap(),
                engine.execute(request(1)).await.unwrap(),
            ]
        };
        let stats = engine.stats();
        let before = stats.batches.load(Ordering::SeqCst);
        let third = engine.execute(request(2));
        let fourth = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            engine.execute(request(3)).await
        };
        let (third, fourth) = tokio::join!(third, fourth);
        for out in answers.into_iter().chain([third.unwrap(), fourth.unwrap()]) {
            assert_eq!(out.reply.code, Code::CashboxUnknown);
        }
        assert_eq!(stats.ops.load(Ordering::SeqCst), 4);
        assert_eq!(
            stats.batches.load(Ordering::SeqCst) - before,
            batches,
            "gather {gather_micros} µs up to {gather_ops} requests, first two together: {together}"
        );
        engine.shutdown();
    }
}

/// Given no offer, then each offer change in turn: `probe` (a cheque of 100.00 at cashbox 1,
/// its accrual) sees each change at once, asked twice after each.
async fn each_offer_change_is_seen<F>(engine: &Engine, mut probe: impl FnMut() -> F)
where
    F: std::future::Future<Output = Points>,
{
    assert_eq!(probe().await, Points::ZERO);
    assert_eq!(probe().await, Points::ZERO);
    for (percent, enabled, want) in [("10", true, "5"), ("20", true, "10"), ("20", false, "0")] {
        let offer = Offer {
            enabled,
            ..accrual_offer(percent)
        };
        let ops = Actor::Admin(OperatorName::new("ops").expect("operator name"));
        assert!(run(engine, ops, Command::UpsertOffer { offer })
            .await
            .reply
            .is_ok());
        let want = Points::parse(want).unwrap();
        assert_eq!(probe().await, want, "{percent}% {enabled}");
        assert_eq!(probe().await, want, "{percent}% {enabled}, again");
    }
}

/// Read queries keep the offers they loaded; a committed change replaces them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_see_an_offer_change_at_once() {
    let h = setup("100").await;
    let engine = &h.engine;
    each_offer_change_is_seen(engine, || {
        let accrual = engine
            .read(|v| {
                loyalty_core::decide::calculate(
                    v,
                    engine.program(),
                    CashboxId(1),
                    &cheque("100", "p", "50"),
                    engine.now(),
                )
            })
            .unwrap()
            .totals
            .unwrap()
            .accrual;
        std::future::ready(accrual)
    })
    .await;
}

/// The writer keeps the offers between batches; a batch that writes one drops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_see_an_offer_change_at_once() {
    let h = setup("100").await;
    let mut n = 0;
    each_offer_change_is_seen(&h.engine, || {
        n += 1;
        let engine = h.engine.clone();
        async move {
            let r = run(
                &engine,
                Actor::Cashbox(CashboxId(1)),
                Command::RegisterPurchase {
                    cheque: cheque("100", &format!("o{n}"), "50"),
                },
            )
            .await
            .reply;
            assert!(r.is_ok(), "{}", r.message);
            r.totals.unwrap().accrual
        }
    })
    .await;
}

/// RocksDB, except that once armed, the next write waits until the test lets it go, and
/// then fails (a full disk, say).
struct Gated {
    inner: RocksStore,
    gate: std::sync::Mutex<Gate>,
    moved: std::sync::Condvar,
}

#[derive(Default)]
struct Gate {
    armed: bool,
    waiting: bool,
    open: bool,
}

impl Gated {
    fn wait_until(&self, what: impl Fn(&Gate) -> bool) {
        let mut g = self.gate.lock().unwrap();
        while !what(&g) {
            g = self.moved.wait(g).unwrap();
        }
    }
    fn set(&self, change: impl FnOnce(&mut Gate)) {
        change(&mut self.gate.lock().unwrap());
        self.moved.notify_all();
    }
}

impl Store for Gated {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(space, key)
    }
    fn scan(
        &self,
        space: Space,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        self.inner.scan(space, from, to, limit)
    }
    fn commit(&self, batch: &Batch, durable: bool) -> Result<(), StoreError> {
        if !self.gate.lock().unwrap().armed {
            return self.inner.commit(batch, durable);
        }
        self.set(|g| g.waiting = true);
        self.wait_until(|g| g.open);
        self.set(|g| *g = Gate::default());
        Err(StoreError::Io("no space left on device".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_decided_on_top_of_a_failed_write_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Gated {
        inner: RocksStore::open(dir.path()).unwrap(),
        gate: Default::default(),
        moved: Default::default(),
    });
    let h = setup_on("100", store.clone(), dir).await;
    let ops = Actor::Admin(OperatorName::new("ops").unwrap());
    // A: 50 more points, whose write will fail. B: a hold of 120 points, possible only
    // with A's points, decided while A is being written.
    let a = Request {
        op: op(),
        actor: ops,
        command: Command::AdjustPoints {
            card: CardNo::new("100").unwrap(),
            delta: Points::parse("50").unwrap(),
            reason: "goodwill".into(),
        },
    };
    let b = Request {
        op: op(),
        actor: Actor::Cashbox(CashboxId(1)),
        command: Command::PayWithBonus {
            cheque: cheque("100", "b", "400"),
            points: Points::parse("120").unwrap(),
        },
    };
    store.set(|g| g.armed = true);
    let first = tokio::spawn({
        let (engine, a) = (h.engine.clone(), a.clone());
        async move { engine.execute(a).await }
    });
    let gated = store.clone();
    tokio::task::spawn_blocking(move || gated.wait_until(|g| g.waiting))
        .await
        .unwrap();
    let decided_before = h.engine.stats().decided.load(Ordering::SeqCst);
    let second = tokio::spawn({
        let (engine, b) = (h.engine.clone(), b.clone());
        async move { engine.execute(b).await }
    });
    while h.engine.stats().decided.load(Ordering::SeqCst) == decided_before {
        tokio::task::yield_now().await;
    }
    store.set(|g| g.open = true);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert!(matches!(first, Err(EngineError::Storage(_))), "{first:?}");
    assert!(matches!(second, Err(EngineError::Storage(_))), "{second:?}");
    // Neither happened: the hold alone does not fit.
    let acc = account(&h.engine);
    assert_eq!(
        (acc.balance, acc.held),
        (Points::parse("100").unwrap(), Points::ZERO)
    );
    let report = h.engine.verify(false).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
    // The tills resend: the hold is refused on the balance the store really has, then
    // after the points arrive it goes through, each exactly once.
    let early = h.engine.execute(b.clone()).await.unwrap();
    assert_eq!(early.reply.code, Code::InsufficientPoints);
    assert!(h.engine.execute(a).await.unwrap().reply.is_ok());
    let later = h.engine.execute(Request { op: op(), ..b }).await.unwrap();
    assert!(
        later.reply.is_ok(),
        "{:?} {}",
        later.reply.code,
        later.reply.message
    );
    let acc = account(&h.engine);
    assert_eq!(
        (acc.balance, acc.held),
        (Points::parse("150").unwrap(), Points::parse("120").unwrap())
    );
    let report = h.engine.verify(false).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
}

/// Requests of every kind the writer looks up ahead, and their mistakes: new cheques, a
/// replay, a cheque registered twice (in one upload and across two), a cheque registered
/// before the uploads, an operation id reused for something else, holds beyond the balance,
/// confirmations and cancellations of cheques in the other upload.
fn mixed_requests() -> (Vec<Request>, Vec<Request>) {
    let cashbox = Actor::Cashbox(CashboxId(1));
    let req = |command| Request {
        op: op(),
        actor: cashbox,
        command,
    };
    let register = |id: String| Command::RegisterPurchase {
        cheque: cheque("100", &id, "10"),
    };
    let mut first: Vec<Request> = (0..90).map(|i| req(register(format!("c{i}")))).collect();
    first.push(first[3].clone());
    first.push(req(register("c5".into())));
    first.push(req(register("seed".into())));
    first.push(Request {
        command: register("other".into()),
        ..first[7].clone()
    });
    first.extend((0..8).map(|i| {
        req(Command::PayWithBonus {
            cheque: cheque("100", &format!("p{i}"), "40"),
            points: Points::parse("10").unwrap(),
        })
    }));
    let mut second: Vec<Request> = (0..40)
        .map(|i| {
            req(Command::Confirm {
                cheque: ChequeId::new(&format!("c{i}")).unwrap(),
            })
        })
        .collect();
    second.extend((40..60).map(|i| {
        req(Command::Cancel {
            cheque: ChequeId::new(&format!("c{i}")).unwrap(),
        })
    }));
    second.extend((80..100).map(|i| req(register(format!("c{i}")))));
    second.push(first[10].clone());
    second.extend((0..4).map(|i| {
        req(Command::Confirm {
            cheque: ChequeId::new(&format!("p{i}")).unwrap(),
        })
    }));
    second.extend((100..130).map(|i| req(register(format!("c{i}")))));
    (first, second)
}

/// Batches of 64 requests or more are decided with their new keys looked up ahead on
/// another thread, while the previous batch may still be on its way to disk. Whatever that
/// thread finds or misses, the answers are exactly those of the same requests one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_answer_as_requests_one_at_a_time() {
    // Given two engines set up alike, one deciding batches of up to 100 requests,
    let dir = tempfile::tempdir().unwrap();
    let batched = {
        let h = setup("50").await;
        let Harness {
            engine,
            clock,
            _dir,
        } = h;
        engine.shutdown();
        drop(engine);
        drop(dir);
        let store = Arc::new(RocksStore::open(_dir.path()).unwrap());
        let config = EngineConfig {
            batch_ops_max: 100,
            ..config()
        };
        Harness {
            engine: Engine::start(store, config, clock.clone()).unwrap(),
            clock,
            _dir,
        }
    };
    let single = setup("50").await;
    let (first, second) = mixed_requests();
    // when one takes the requests as two uploads sent together and the other one by one,
    let (a, b) = tokio::join!(
        batched.engine.execute_many(first.clone()),
        batched.engine.execute_many(second.clone())
    );
    let together: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    let mut alone = Vec::new();
    for r in first.into_iter().chain(second) {
        alone.push(single.engine.execute(r).await.unwrap());
    }
    // then every answer is the same, replays and refusals included, and so are the balances.
    assert_eq!(together.len(), alone.len());
    for (i, (t, a)) in together.iter().zip(&alone).enumerate() {
        assert_eq!(t, a, "request {i}");
    }
    assert!(together.iter().any(|e| e.replayed));
    let mut codes: Vec<_> = together.iter().map(|e| e.reply.code).collect();
    codes.dedup();
    for code in [Code::Ok, Code::OperationConflict] {
        assert!(codes.contains(&code), "{code:?} not among {codes:?}");
    }
    assert_eq!(account(&batched.engine), account(&single.engine));
    for h in [&batched, &single] {
        let report = h.engine.verify(false).await.unwrap();
        assert!(report.equal, "{:?}", report.differences);
    }
}
