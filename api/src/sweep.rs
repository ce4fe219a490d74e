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
pub async fn run(engine: Engine, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => loop {
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
