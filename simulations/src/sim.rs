//! The seeded simulator: tills running purchase flows against the engine's real commit
//! path over an in-memory store, with faults — crashes before a batch is durable, answers
//! lost after it is, requests duplicated — checked against the auditor after every batch.
//! The same seed gives the same run, so any failure replays exactly from its seed.

use crate::checks::Broker;
use crate::model::{Expect, Model, Op};
use chrono::NaiveDate;
use loyalty_core::amount::{Money, Percent, Qty};
use loyalty_core::command::{Actor, Cheque, Command, Request};
use loyalty_core::ids::*;
use loyalty_core::model::*;
use loyalty_core::outcome::Code;
use loyalty_engine::outbox::Outbox;
use loyalty_engine::store::MemStore;
use loyalty_engine::{
    append_log, commit_batch, decide_batch, put_seq, verify_store, Fingerprinted, Memo,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub batches: u32,
    pub tills: u32,
    pub kiosks: u32,
    pub cards: usize,
    /// Per mille: a batch is lost before it is durable (the process dies).
    pub crash_per_mille: u32,
    /// Per mille: an answer is lost after its batch is durable.
    pub lost_answer_per_mille: u32,
    /// Per mille: a request is sent twice in the same batch.
    pub duplicate_per_mille: u32,
    /// Per mille, per batch: the Kafka broker goes away (or comes back).
    pub kafka_outage_per_mille: u32,
    /// The tills reach the engine through this many store servers' streams (till `t` on
    /// stream `t % store_servers`); per mille per batch, one stream breaks mid-flight: its
    /// requests after the break never arrive, and none of its answers in the batch get
    /// back, so its tills resend everything unanswered.
    pub store_servers: u32,
    pub broken_stream_per_mille: u32,
    /// Three replicas with consensus instead of one store (`cluster`), with these faults:
    /// per mille per batch a replica crashes, or the leader is cut off; per mille per
    /// message, a message or its answer is lost.
    pub cluster: bool,
    pub replica_crash_per_mille: u32,
    pub partition_per_mille: u32,
    pub message_loss_per_mille: u32,
    /// Per mille per batch: the leader crashes or is cut off while the batch is proposed.
    pub mid_flight_per_mille: u32,
}

impl SimConfig {
    pub fn new(seed: u64, batches: u32) -> SimConfig {
        SimConfig {
            seed,
            batches,
            tills: 6,
            kiosks: 1,
            cards: 5,
            crash_per_mille: 30,
            lost_answer_per_mille: 50,
            duplicate_per_mille: 30,
            kafka_outage_per_mille: 40,
            store_servers: 2,
            broken_stream_per_mille: 30,
            cluster: false,
            replica_crash_per_mille: 20,
            partition_per_mille: 10,
            message_loss_per_mille: 20,
            mid_flight_per_mille: 20,
        }
    }

    /// The same run on a cluster of three replicas.
    pub fn cluster(self) -> SimConfig {
        SimConfig {
            cluster: true,
            ..self
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SimReport {
    pub seed: u64,
    pub requests: u64,
    pub committed_batches: u64,
    pub crashes: u64,
    pub lost_answers: u64,
    pub resends: u64,
    pub duplicates: u64,
    /// Store-server streams broken mid-flight, and the requests on them that never arrived.
    pub broken_streams: u64,
    pub cut_off_requests: u64,
    pub events: u64,
    pub refused: u64,
    /// Cards replaced, and requests refused because they named a replaced card.
    pub replacements: u64,
    pub replaced_card_refusals: u64,
    /// Batches during which the broker was away, and messages it received (duplicates
    /// included).
    pub kafka_outage_batches: u64,
    pub published: u64,
    pub expired_sweeps: u64,
    pub points_total: i64,
    /// E-commerce orders created, and how they ended: picked up (and kept), cancelled,
    /// expired.
    pub orders: u64,
    pub orders_picked_up: u64,
    pub orders_cancelled: u64,
    pub orders_expired: u64,
    /// Coupons taken by purchases, and those still used at the end (the rest were given
    /// back by cancels and expiry).
    pub coupon_uses: u64,
    pub coupons_kept: u64,
    /// Refunds made at another till than the sale's, purchases confirmed after their hold
    /// lifetime, points that became debt, and points still owed at the end.
    pub refunds_elsewhere: u64,
    pub returns_without_receipt: u64,
    pub late_confirms: u64,
    pub debt_incurred: i64,
    pub debt_total: i64,
    /// Points that matured from pending, and points that burnt at their lots' expiry.
    pub points_matured: i64,
    pub points_burnt: i64,
    /// In cluster mode: what the replicas and their network went through.
    pub cluster: Option<crate::cluster::ClusterStats>,
}

/// A disagreement between the engine and the auditor: the run's seed reproduces it.
#[derive(Debug)]
pub struct Divergence {
    pub seed: u64,
    pub batch: u32,
    pub detail: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} batch {}: {} (replay: cargo run -p loyalty-sim --release -- --seed {})",
            self.seed, self.batch, self.detail, self.seed
        )
    }
}

impl std::error::Error for Divergence {}

/// What a till does next.
#[derive(Debug, Clone)]
pub(crate) enum Flow {
    Idle,
    Paid {
        cheque: String,
        card: usize,
        amount: i64,
        coupon: Option<String>,
    },
    Registered {
        cheque: String,
    },
    /// The customer ordered online (through the shop, the admin API) and comes to pick up.
    Ordered {
        number: String,
        amount: i64,
    },
}

/// A request whose answer the till has not seen yet, and where its flow goes after it.
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    pub(crate) req: Request,
    pub(crate) op: Op,
    pub(crate) on_ok: Flow,
    pub(crate) on_refused: Flow,
}

pub(crate) struct Till {
    pub(crate) id: u32,
    pub(crate) flow: Flow,
    /// The till lost its connection: it sends nothing until then (sim time, ms).
    pub(crate) offline_until: i64,
    pub(crate) waiting: Option<Waiting>,
    pub(crate) next_cheque: u32,
    pub(crate) confirmed: Vec<String>,
}

pub(crate) const HOLD_LIFETIME_SECS: u64 = 600;
/// Registered purchases stay completable this long after their hold lifetime.
pub(crate) const LATE_CONFIRM_SECS: u64 = 1800;
pub(crate) const ORDER_LIFETIME_SECS: u64 = 1200;
/// Points are pending for half an hour, then spendable for four: a run of a few thousand
/// batches (about 20 s each) sees lots mature and burn many times.
pub(crate) const POINTS_PENDING_SECS: u64 = 1800;
pub(crate) const POINTS_LIFETIME_SECS: u64 = 4 * 3600;
/// Single-use coupons `K0`…: a coupon shown with a card takes 10 % off the cheque. Tills
/// also show codes past the last (unknown coupons, which must not fail the cheque).
pub(crate) const COUPONS: u32 = 40;

pub(crate) fn with_coupon(mut c: Cheque, coupon: &Option<String>) -> Cheque {
    c.coupons = coupon.iter().cloned().collect();
    c
}

pub(crate) fn expect_code(e: Expect) -> Code {
    match e {
        Expect::Ok => Code::Ok,
        Expect::InsufficientPoints => Code::InsufficientPoints,
        Expect::RedeemLimitExceeded => Code::RedeemLimitExceeded,
        Expect::PurchaseUnknown => Code::PurchaseUnknown,
        Expect::PurchaseWrongState => Code::PurchaseWrongState,
        Expect::HoldExpired => Code::HoldExpired,
        Expect::RefundAtKiosk => Code::RefundAtKiosk,
        Expect::RefundExists => Code::RefundExists,
        Expect::OfflineRedemptionRefused => Code::OfflineRedemptionRefused,
        Expect::CardReplaced => Code::CardReplaced,
        Expect::OrderUnknown => Code::OrderUnknown,
        Expect::OrderExists => Code::OrderExists,
        Expect::OrderWrongState => Code::OrderWrongState,
    }
}

pub(crate) fn card_no(i: usize) -> CardNo {
    CardNo::new(&format!("{}", 7_000_000 + i)).expect("digits")
}

pub(crate) fn at(hour: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .expect("date")
}

pub(crate) fn cheque(id: &str, card: Option<usize>, amount: i64) -> Cheque {
    Cheque {
        cheque: ChequeId::new(id).expect("id"),
        card: card.map(card_no),
        cashier: None,
        presented: Vec::new(),
        pin: None,
        tenders: Vec::new(),
        local_time: at(12),
        lines: vec![Line {
            product: ProductCode::new("p").expect("code"),
            qty: Qty(1000),
            price: Money(amount),
            local_discount: Money::ZERO,
            promotional: false,
            min_price: Money::ZERO,
        }],
        coupons: Vec::new(),
        order: None,
    }
}

pub struct Simulation {
    pub(crate) cfg: SimConfig,
    pub(crate) rng: StdRng,
    pub(crate) store: MemStore,
    pub(crate) program: Program,
    pub(crate) seq: u64,
    pub(crate) now: i64,
    pub(crate) next_op: u128,
    pub(crate) model: Model,
    pub(crate) tills: Vec<Till>,
    pub(crate) report: SimReport,
    /// The first answer's code of every committed operation.
    pub(crate) answers: std::collections::HashMap<OpId, Code>,
    pub(crate) broker: Broker,
    /// In cluster mode, the replicas; `store` is then unused.
    pub(crate) cluster: Option<crate::cluster::SimCluster>,
}

impl Simulation {
    pub fn new(cfg: SimConfig) -> Simulation {
        let program = Program {
            hold_lifetime_secs: HOLD_LIFETIME_SECS,
            order_lifetime_secs: ORDER_LIFETIME_SECS,
            late_confirm_secs: LATE_CONFIRM_SECS,
            receiptless_refunds: true,
            lots: LotTerms {
                pending_secs: POINTS_PENDING_SECS,
                lifetime_secs: Some(POINTS_LIFETIME_SECS),
            },
            ..Program::default()
        };
        let kiosks: Vec<u32> = (1..=cfg.kiosks).map(|k| cfg.tills + k).collect();
        let tills = (1..=cfg.tills + cfg.kiosks)
            .map(|id| Till {
                id,
                flow: Flow::Idle,
                offline_until: 0,
                waiting: None,
                next_cheque: 0,
                confirmed: Vec::new(),
            })
            .collect();
        Simulation {
            rng: StdRng::seed_from_u64(cfg.seed),
            store: MemStore::default(),
            program,
            seq: 0,
            now: 1_800_000_000_000,
            next_op: cfg.seed as u128 * 1_000_000_000,
            model: Model::new(cfg.cards, kiosks, HOLD_LIFETIME_SECS as i64 * 1000)
                .with_order_lifetime(ORDER_LIFETIME_SECS as i64 * 1000)
                .with_late_confirm(LATE_CONFIRM_SECS as i64 * 1000)
                .with_lots(
                    crate::model::Terms {
                        pending_ms: POINTS_PENDING_SECS as i64 * 1000,
                        lifetime_ms: Some(POINTS_LIFETIME_SECS as i64 * 1000),
                    },
                    at(12).and_utc().timestamp_millis(),
                )
                .with_coupons((0..COUPONS).map(|k| format!("K{k}"))),
            report: SimReport {
                seed: cfg.seed,
                ..SimReport::default()
            },
            tills,
            answers: std::collections::HashMap::new(),
            broker: Broker::default(),
            cluster: cfg
                .cluster
                .then(|| crate::cluster::SimCluster::start(cfg.seed, cfg.message_loss_per_mille)),
            cfg,
        }
    }

    /// The engine's store: the single one, or the cluster's leader.
    pub(crate) fn view(&self) -> &dyn loyalty_engine::store::Store {
        match &self.cluster {
            Some(c) => c,
            None => &self.store,
        }
    }

    /// Decides and writes a batch. `None`: nothing of it exists (the process died before it
    /// was durable, or its proposal was lost). With `Some((done, delivered))` the batch is
    /// committed; `delivered` is false when its answers never left (a proposal that failed
    /// and was found committed afterwards).
    fn commit(
        &mut self,
        b: u32,
        reqs: &[&Request],
    ) -> Result<Option<(loyalty_engine::Committed, bool)>, Divergence> {
        let Some(c) = self.cluster.as_mut() else {
            if self.rng.random_range(0..1000) < self.cfg.crash_per_mille {
                // The process dies before the batch is durable: nothing of it exists, no
                // answer was sent; the tills will resend.
                self.report.crashes += 1;
                return Ok(None);
            }
            let done = commit_batch(
                &self.store,
                &self.program,
                self.seq,
                reqs,
                UnixMillis(self.now),
                false,
            )
            .map_err(|e| self.diverged(b, e.to_string()))?;
            return Ok(Some((done, true)));
        };
        c.weather(
            &mut self.rng,
            self.cfg.replica_crash_per_mille,
            self.cfg.partition_per_mille,
        );
        c.settle();
        let now = UnixMillis(self.now);
        let fingerprinted: Vec<Fingerprinted> =
            reqs.iter().map(|r| Fingerprinted::new(r)).collect();
        let decided = decide_batch(&*c, &Memo::new(1 << 16), &self.program, &fingerprinted, now);
        let (mut batch, outcomes) = match decided {
            Ok(d) => d,
            Err(e) => return Err(self.diverged(b, e.to_string())),
        };
        let next = append_log(&mut batch, self.seq, reqs, &outcomes, now);
        put_seq(&mut batch, self.seq, next);
        let done = loyalty_engine::Committed {
            outcomes,
            seq: next,
        };
        // Now and then the leader crashes or is cut off while the proposal is out.
        let fault = (c.whole() && self.rng.random_range(0..1000) < self.cfg.mid_flight_per_mille)
            .then(|| self.rng.random_bool(0.5));
        if batch.is_empty() || c.propose_through(&batch, fault, &mut self.rng) {
            return Ok(Some((done, true)));
        }
        // In doubt until a leader is settled: then the batch's writes are there or gone.
        c.settle();
        if c.holds(&batch) {
            c.count_in_doubt(true);
            Ok(Some((done, false)))
        } else {
            c.count_in_doubt(false);
            self.report.crashes += 1;
            Ok(None)
        }
    }

    /// The store server's stream till `t` is on.
    fn stream_of(&self, t: usize) -> u32 {
        t as u32 % self.cfg.store_servers.max(1)
    }

    /// Now and then breaks one stream mid-flight: of the batch's requests on it, those after
    /// a random point never arrive (removed from the batch; their tills still wait). Returns
    /// the broken stream, whose answers in this batch are all lost.
    fn break_stream(&mut self, batch: &mut Vec<(usize, Request, Op)>) -> Option<u32> {
        if self.rng.random_range(0..1000) >= self.cfg.broken_stream_per_mille {
            return None;
        }
        let stream = self.rng.random_range(0..self.cfg.store_servers.max(1));
        let on = |t: usize| t != usize::MAX && t as u32 % self.cfg.store_servers.max(1) == stream;
        let carried = batch.iter().filter(|(t, _, _)| on(*t)).count();
        let mut arrive = self.rng.random_range(0..=carried);
        let before = batch.len();
        batch.retain(|(t, _, _)| {
            if !on(*t) {
                return true;
            }
            let kept = arrive > 0;
            arrive = arrive.saturating_sub(1);
            kept
        });
        self.report.broken_streams += 1;
        self.report.cut_off_requests += (before - batch.len()) as u64;
        Some(stream)
    }

    pub(crate) fn op(&mut self) -> OpId {
        self.next_op += 1;
        OpId(self.next_op)
    }

    fn admin(&mut self, command: Command) {
        let req = Request {
            op: self.op(),
            actor: Actor::Admin(
                loyalty_core::ids::OperatorName::new("ops").expect("operator name"),
            ),
            command,
        };
        let done = commit_batch(
            self.view(),
            &self.program,
            self.seq,
            &[&req],
            UnixMillis(self.now),
            false,
        )
        .expect("setup commits");
        assert_eq!(
            done.outcomes[0].reply.code,
            Code::Ok,
            "setup: {}",
            done.outcomes[0].reply.message
        );
        self.seq = done.seq;
    }

    fn setup(&mut self) {
        for t in 0..self.tills.len() {
            let id = self.tills[t].id;
            let kind = if self.model.kiosks.contains(&id) {
                CashboxKind::SelfCheckout
            } else {
                CashboxKind::Pos
            };
            self.admin(Command::RegisterCashbox {
                id: CashboxId(id),
                store: StoreId(1),
                kind,
                secret_sha256: [0; 32],
                public_key: None,
                login: None,
            });
        }
        self.admin(Command::ImportProducts {
            products: vec![Product {
                code: ProductCode::new("p").expect("code"),
                name: "p".into(),
                group: None,
                barcodes: vec![],
                min_price: Money::ZERO,
                promotional: false,
            }],
        });
        self.admin(Command::UpsertOffer {
            offer: Offer::new(
                OfferId(1),
                OfferEffect::Accrual(Rate::Percent(Percent::parse("5").expect("pct"))),
                OfferScope::Cheque,
                at(0),
                at(23),
            ),
        });
        self.admin(Command::SetCouponSeries {
            series: CouponSeries {
                id: CouponSeriesId(1),
                name: "10 % off".into(),
                uses: 1,
                valid_days: 30,
            },
        });
        self.admin(Command::IssueCoupons {
            series: CouponSeriesId(1),
            codes: (0..COUPONS)
                .map(|k| CouponCode::new(&format!("K{k}")).expect("code"))
                .collect(),
            card: None,
            expires: at(23),
        });
        let mut coupon_offer = Offer::new(
            OfferId(2),
            OfferEffect::Discount(Rate::Percent(Percent::parse("10").expect("pct"))),
            OfferScope::Cheque,
            at(0),
            at(23),
        );
        coupon_offer.when.coupon = Some(CouponSeriesId(1));
        self.admin(Command::UpsertOffer {
            offer: coupon_offer,
        });
        for c in 0..self.cfg.cards {
            self.admin(Command::IssueCard {
                number: card_no(c),
                card_type: "Sim".into(),
                status: CardStatus::Activated,
                account: None,
                holder_name: String::new(),
                holder_phone: String::new(),
            });
        }
    }

    pub(crate) fn diverged(&self, batch: u32, detail: String) -> Divergence {
        Divergence {
            seed: self.cfg.seed,
            batch,
            detail,
        }
    }

    /// Runs the whole simulation.
    pub fn run(mut self) -> Result<SimReport, Divergence> {
        self.setup();
        for b in 0..self.cfg.batches {
            self.now += self.rng.random_range(0..40_000i64);
            // Each till not waiting for an answer may send its next request; waiting tills resend.
            let mut batch: Vec<(usize, Request, Op)> = Vec::new();
            for t in 0..self.tills.len() {
                if self.rng.random_range(0..100u32) < 40 || self.tills[t].offline_until > self.now {
                    continue;
                }
                if let Some(w) = &self.tills[t].waiting {
                    self.report.resends += 1;
                    batch.push((t, w.req.clone(), w.op.clone()));
                } else if let Some(w) = self.next_request(t) {
                    batch.push((t, w.req.clone(), w.op.clone()));
                    self.tills[t].waiting = Some(w);
                }
            }
            if self.rng.random_range(0..100u32) < 10 {
                let req = Request {
                    op: self.op(),
                    actor: Actor::System,
                    command: Command::ExpireHolds,
                };
                batch.push((usize::MAX, req, Op::Expire));
            }
            if self.rng.random_range(0..1000) < self.cfg.duplicate_per_mille && !batch.is_empty() {
                let dup = batch[self.rng.random_range(0..batch.len())].clone();
                self.report.duplicates += 1;
                batch.push(dup);
            }
            let broken = self.break_stream(&mut batch);
            if batch.is_empty() {
                continue;
            }
            let reqs: Vec<Request> = batch.iter().map(|(_, r, _)| r.clone()).collect();
            let reqs: Vec<&Request> = reqs.iter().collect();
            let Some((done, delivered)) = self.commit(b, &reqs)? else {
                continue;
            };
            self.report.events += done.seq - self.seq;
            self.seq = done.seq;
            self.report.committed_batches += 1;
            self.report.requests += batch.len() as u64;
            let mut seen_in_batch = std::collections::HashSet::new();
            for ((t, req, op), out) in batch.into_iter().zip(done.outcomes) {
                let first_time = self.answers.get(&req.op).copied();
                let expected = match first_time {
                    Some(code) => {
                        if !out.replayed {
                            return Err(self.diverged(b, format!("{} applied twice", req.op)));
                        }
                        code
                    }
                    None => {
                        if !seen_in_batch.insert(req.op) || out.replayed {
                            return Err(self.diverged(
                                b,
                                format!("{} replayed before it was applied", req.op),
                            ));
                        }
                        let code = expect_code(self.model.apply(&op, self.now));
                        self.answers.insert(req.op, code);
                        code
                    }
                };
                if out.reply.code != expected {
                    return Err(self.diverged(
                        b,
                        format!(
                            "{:?}: engine {:?} ({}), auditor {:?}",
                            op, out.reply.code, out.reply.message, expected
                        ),
                    ));
                }
                if out.reply.code != Code::Ok {
                    self.report.refused += 1;
                }
                match (&op, out.reply.code) {
                    (Op::Replace { .. }, Code::Ok) if !out.replayed => {
                        self.report.replacements += 1
                    }
                    (Op::Refund { cashbox, at, .. }, Code::Ok)
                        if !out.replayed && cashbox != at =>
                    {
                        self.report.refunds_elsewhere += 1
                    }
                    (_, Code::CardReplaced) => self.report.replaced_card_refusals += 1,
                    _ => {}
                }
                if matches!(op, Op::Expire) {
                    self.report.expired_sweeps += 1;
                    continue;
                }
                let on_broken = broken.is_some_and(|s| self.stream_of(t) == s);
                if !delivered
                    || on_broken
                    || self.rng.random_range(0..1000) < self.cfg.lost_answer_per_mille
                {
                    // Durable, but the answer never reached the till: it will resend.
                    self.report.lost_answers += 1;
                    continue;
                }
                let till = &mut self.tills[t];
                if let Some(w) = till.waiting.take_if(|w| w.req.op == req.op) {
                    till.flow = if expected == Code::Ok {
                        w.on_ok
                    } else {
                        w.on_refused
                    };
                    if let (Op::Confirm { cheque, .. } | Op::Offline { cheque, .. }, Code::Ok) =
                        (&op, expected)
                    {
                        till.confirmed.push(cheque.clone());
                    }
                }
            }
            self.check(b)?;
            self.relay(b)?;
        }
        self.check(self.cfg.batches)?;
        // The broker comes back for good: the outbox drains and the stream is complete.
        self.broker.down = false;
        while !Outbox::new(self.view())
            .pending(1, |rec, _| rec.seq)
            .map_err(|e| self.diverged(self.cfg.batches, e.to_string()))?
            .is_empty()
        {
            self.relay(self.cfg.batches)?;
        }
        self.check_stream()?;
        let report = verify_store(self.view(), false)
            .map_err(|e| self.diverged(self.cfg.batches, e.to_string()))?;
        if !report.equal {
            return Err(self.diverged(
                self.cfg.batches,
                format!("rebuild differs: {:?}", report.differences),
            ));
        }
        if let Some(c) = self.cluster.as_mut() {
            // Every replica, once caught up, holds byte for byte the leader's data.
            let digests = c.converge();
            if digests.windows(2).any(|w| w[0] != w[1]) {
                return Err(
                    self.diverged(self.cfg.batches, format!("replicas differ: {digests:?}"))
                );
            }
            self.report.cluster = Some(c.stats());
        }
        self.report.points_total = self.model.total();
        self.report.coupon_uses = self.model.coupon_uses;
        self.report.coupons_kept = self.model.coupons.values().map(|&u| u64::from(u)).sum();
        self.report.late_confirms = self.model.late_confirms;
        self.report.returns_without_receipt = self.model.returns_without_receipt;
        self.report.debt_incurred = self.model.debt_incurred;
        self.report.debt_total = self.model.accounts.iter().map(|a| a.debt).sum();
        self.report.points_matured = self.model.accounts.iter().map(|a| a.lots.matured).sum();
        self.report.points_burnt = self.model.accounts.iter().map(|a| a.lots.expired).sum();
        for o in self.model.orders.values() {
            self.report.orders += 1;
            match o.status {
                crate::model::OrderStatus::PickedUp => self.report.orders_picked_up += 1,
                crate::model::OrderStatus::Cancelled => self.report.orders_cancelled += 1,
                crate::model::OrderStatus::Expired => self.report.orders_expired += 1,
                crate::model::OrderStatus::Open => {}
            }
        }
        Ok(self.report)
    }
}
