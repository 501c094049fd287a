//! Fixed-window rate limiting (Plausible's `check_rate`): a counter per (bucket, window) incremented on
//! every check, denied calls included; allowed while the count is within the limit.

use parking_lot::Mutex;
use std::collections::HashMap;

#[derive(Default)]
pub struct RateLimiter {
    counters: Mutex<HashMap<String, (i64, i64)>>,
}

impl RateLimiter {
    /// Counts one call on `bucket` in the window of `scale_ms` containing `now_ms`; true when allowed.
    pub fn check(&self, bucket: &str, now_ms: i64, scale_ms: i64, limit: i64) -> bool {
        let window = now_ms.div_euclid(scale_ms);
        let mut c = self.counters.lock();
        if c.len() > 100_000 {
            c.retain(|_, (w, _)| *w >= window);
        }
        let e = c
            .entry(format!("{bucket}:{scale_ms}"))
            .or_insert((window, 0));
        if e.0 != window {
            *e = (window, 0);
        }
        e.1 += 1;
        e.1 <= limit
    }
}
