//! The expiry sweep: on a timer, unconfirmed purchases and open orders whose lifetime
//! ended release their points, through the same path as every other command.

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
    let due = engine.read(|v| !v.pending_due(now, 1).is_empty())?;
    if !due {
        return Ok(0);
    }
    let op = OpId(uuid::Uuid::new_v4().as_u128());
    Ok(engine.expire_holds(op).await?.events.len())
}

/// Runs the sweep every `every` until `shutdown`.
pub async fn run(engine: Engine, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => match sweep_expired(&engine).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "holds expired"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            },
        }
    }
}
