//! Requests per second per cashbox: a token bucket per cashbox, in integer milli-tokens.
//! Over the limit, a request is refused with RESOURCE_EXHAUSTED and a retry hint before it
//! reaches the engine.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli_tokens: u64,
    refilled_at: Instant,
}

/// A per-cashbox rate limiter; a rate of 0 means no limit.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: u64,
    buckets: Mutex<HashMap<u32, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_sec: u32) -> RateLimiter {
        RateLimiter {
            per_sec: u64::from(per_sec),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `cashbox` at `now`; `Err(retry_after_ms)` when none is left. The
    /// bucket holds at most one second's worth, so bursts are bounded too.
    pub fn take(&self, cashbox: u32, now: Instant) -> Result<(), u64> {
        if self.per_sec == 0 {
            return Ok(());
        }
        let full = self.per_sec * 1000;
        let mut buckets = self.buckets.lock().expect("limiter lock");
        let b = buckets.entry(cashbox).or_insert(Bucket {
            milli_tokens: full,
            refilled_at: now,
        });
        let elapsed_us = now.saturating_duration_since(b.refilled_at).as_micros() as u64;
        b.milli_tokens = (b.milli_tokens + elapsed_us * self.per_sec / 1000).min(full);
        b.refilled_at = now;
        if b.milli_tokens >= 1000 {
            b.milli_tokens -= 1000;
            Ok(())
        } else {
            Err(((1000 - b.milli_tokens) / self.per_sec).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_refusals_then_refill() {
        let l = RateLimiter::new(5);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.take(1, t0), Ok(()));
        }
        assert_eq!(l.take(1, t0), Err(200));
        // Another cashbox has its own bucket.
        assert_eq!(l.take(2, t0), Ok(()));
        // 100 ms later half a token is back: retry in 100 ms; 200 ms later, one token.
        assert_eq!(l.take(1, t0 + Duration::from_millis(100)), Err(100));
        assert_eq!(l.take(1, t0 + Duration::from_millis(200)), Ok(()));
        // A long pause refills at most one second's worth.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(l.take(1, later), Ok(()));
        }
        assert!(l.take(1, later).is_err());
    }

    #[test]
    fn zero_means_unlimited() {
        let l = RateLimiter::new(0);
        let t = Instant::now();
        assert!((0..10_000).all(|_| l.take(1, t).is_ok()));
    }
}
