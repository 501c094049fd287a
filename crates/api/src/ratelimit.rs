//! Fixed-window rate limiting (Plausible's `check_rate`): a counter per (bucket, window) incremented on
//! every check, denied calls included; allowed while the count is within the limit.
//!
//! The counters sit behind one mutex, so concurrent checks are exact: with a limit of N, exactly N calls of
//! a window are allowed however many arrive at once.

use parking_lot::Mutex;
use std::collections::HashMap;

/// Counters kept before stale windows are swept.
const SWEEP_AT: usize = 100_000;

#[derive(Default)]
pub struct RateLimiter {
    /// (bucket, scale) -> (window number, count in that window)
    counters: Mutex<HashMap<(String, i64), (i64, i64)>>,
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateCheck {
    pub allowed: bool,
    /// Calls counted in the current window, this one included.
    pub count: i64,
}

impl RateLimiter {
    /// Counts one call on `bucket` in the window of `scale_ms` containing `now_ms`; true when allowed.
    pub fn check(&self, bucket: &str, now_ms: i64, scale_ms: i64, limit: i64) -> bool {
        self.check_rate(bucket, now_ms, scale_ms, limit).allowed
    }

    /// Like [`RateLimiter::check`], with the window's count.
    pub fn check_rate(&self, bucket: &str, now_ms: i64, scale_ms: i64, limit: i64) -> RateCheck {
        let scale_ms = scale_ms.max(1);
        let window = now_ms.div_euclid(scale_ms);
        let mut c = self.counters.lock();
        if c.len() >= SWEEP_AT {
            c.retain(|(_, scale), (w, _)| *w >= now_ms.div_euclid(*scale));
        }
        let e = c.entry((bucket.to_string(), scale_ms)).or_insert((window, 0));
        if e.0 != window {
            *e = (window, 0);
        }
        e.1 += 1;
        RateCheck { allowed: e.1 <= limit, count: e.1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_counts_denied_calls() {
        let r = RateLimiter::default();
        let hour = 3_600_000;
        assert!(r.check("a", 0, hour, 2));
        assert!(r.check("a", 10, hour, 2));
        assert!(!r.check("a", 20, hour, 2));
        assert_eq!(r.check_rate("a", 30, hour, 2).count, 4);
        // another bucket is independent
        assert!(r.check("b", 30, hour, 2));
        // the next window starts over
        assert!(r.check("a", hour, hour, 2));
    }

    #[test]
    fn exact_under_concurrency() {
        let r = std::sync::Arc::new(RateLimiter::default());
        let allowed = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (r, allowed) = (r.clone(), allowed.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        if r.check("k", 5, 3_600_000, 123) {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(allowed.load(std::sync::atomic::Ordering::SeqCst), 123);
    }
}
