//! The expiry sweep: on a timer, unconfirmed purchases and open orders whose lifetime
//! ended release their points, and lots mature and burn, through the same path as every
//! other command. One sweep decides a bounded batch; a sweep that found a full batch runs
//! again after a short pause, so a backlog (a server down for a week) is worked off in
//! steps that queue behind the tills' requests rather than in one burst.

use loyalty_core::ids::OpId;
use loyalty_core::model::UnixMillis;
use loyalty_core::state::StateView;
use loyalty_engine::{Engine, EngineError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The expiry sweep: releases holds whose lifetime has passed, through the same path as
/// every other command.
pub async fn sweep_expired(engine: &Engine) -> Result<usize, EngineError> {
    let now: UnixMillis = engine.now();
    let due = engine.read(|v| {
        !v.pending_due(now, 1).is_empty()
            || !v.orders_due(now, 1).is_empty()
            || !v.accounts_due(now, 1).is_empty()
    })?;
    if !due {
        return Ok(0);
    }
    let op = OpId(uuid::Uuid::new_v4().as_u128());
    Ok(engine.expire_holds(op).await?.events.len())
}

/// The pause between full sweeps while catching up: at most 100 sweeps a second.
const CATCH_UP_PAUSE: Duration = Duration::from_millis(10);

/// Runs the sweep every `every` until `shutdown`.
pub async fn run(
    engine: Engine,
    every: Duration,
    gate: crate::cluster::Gate,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => while gate.is_open() {
                // (On a cluster only the serving leader sweeps.)
                match sweep_expired(&engine).await {
                    Ok(0) => break,
                    Ok(n) => {
                        tracing::info!(events = n, "expiry sweep");
                        if n < engine.program().expire_batch_max {
                            break;
                        }
                        // A full batch: more is due. Let the tills' requests in first.
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(CATCH_UP_PAUSE) => {}
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "expiry sweep failed");
                        break;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_core::amount::Points;
    use loyalty_core::command::{Actor, Command, Request};
    use loyalty_core::ids::{CardNo, OperatorName};
    use loyalty_core::model::{CardStatus, LotTerms};
    use loyalty_engine::store::MemStore;
    use loyalty_engine::{Clock, EngineConfig};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    const T0: i64 = 1_800_000_000_000;

    struct At(AtomicI64);

    impl Clock for At {
        fn now(&self) -> UnixMillis {
            UnixMillis(self.0.load(Ordering::SeqCst))
        }
    }

    /// Ten customers' points burnt while the server was down; sweeps of at most four
    /// events. One tick of the timer works the backlog off in bounded sweeps, one after
    /// the other (4 + 4 + 2 events), without waiting for the next tick.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sweep_that_fell_behind_catches_up_in_bounded_sweeps_within_one_tick() {
        let clock = Arc::new(At(AtomicI64::new(T0)));
        let mut config = EngineConfig::default();
        config.program.expire_batch_max = 4;
        config.program.lots = LotTerms {
            pending_secs: 0,
            lifetime_secs: Some(3600),
        };
        let engine = Engine::start(Arc::new(MemStore::default()), config, clock.clone()).unwrap();
        let admin = Actor::Admin(OperatorName::new("ops").unwrap());
        let mut n = 0u128;
        let mut run_admin = |command: Command| {
            n += 1;
            let engine = engine.clone();
            async move {
                let req = Request {
                    op: OpId(n),
                    actor: admin,
                    command,
                };
                let done = engine.execute(req).await.unwrap();
                assert!(done.reply.is_ok(), "{}", done.reply.message);
            }
        };
        let cards: Vec<CardNo> = (0..10)
            .map(|i| CardNo::new(&format!("27700000{i:05}")).unwrap())
            .collect();
        for card in &cards {
            run_admin(Command::IssueCard {
                number: card.clone(),
                card_type: "Standard".into(),
                status: CardStatus::Activated,
                account: None,
                holder_name: String::new(),
                holder_phone: String::new(),
            })
            .await;
            run_admin(Command::AdjustPoints {
                card: card.clone(),
                delta: Points(1000),
                reason: "welcome".into(),
            })
            .await;
        }
        // Back two hours later: every lot is an hour past its expiry.
        clock.0.store(T0 + 2 * 3600 * 1000, Ordering::SeqCst);
        let ops_before = engine.stats().ops.load(Ordering::Relaxed);
        let shutdown = CancellationToken::new();
        let sweeper = tokio::spawn(run(
            engine.clone(),
            Duration::from_secs(3600),
            crate::cluster::Gate::single(),
            shutdown.clone(),
        ));
        let burnt = || {
            engine
                .read(|v| {
                    cards.iter().all(|c| {
                        let a = v.account(v.card(c).unwrap().account).unwrap();
                        a.balance == Points::ZERO && a.lots.is_empty()
                    })
                })
                .unwrap()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !burnt() {
            assert!(
                std::time::Instant::now() < deadline,
                "the backlog was not worked off"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Three sweeps did it (the timer's next tick is an hour away).
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sweeps = engine.stats().ops.load(Ordering::Relaxed) - ops_before;
        assert_eq!(sweeps, 3);
        shutdown.cancel();
        sweeper.await.unwrap();
    }
}
