//! Per-client request counts for rate-limit quotas: one fixed window per (quota, client
//! address), with the block that follows going over. Bounded: past [`MAX_CLIENTS`] entries the
//! finished ones are dropped, and if none are, new clients share one overflow window.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most (quota, client) windows kept on this node.
const MAX_CLIENTS: usize = 100_000;

/// The address the overflow window is kept under.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

struct Window {
    start: Instant,
    count: u64,
    blocked_until: Option<Instant>,
}

/// Every window on this node.
#[derive(Default)]
pub struct Windows(Mutex<HashMap<(String, IpAddr), Window>>);

impl Windows {
    /// Counts one request of `client` under `quota`; `Err(wait)` when it is over `allowed` in
    /// `interval` (then blocked for `block`, if not zero) or still blocked.
    pub fn count(
        &self,
        quota: &str,
        client: IpAddr,
        allowed: u64,
        interval: Duration,
        block: Duration,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let mut all = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = (quota.to_string(), client);
        if !all.contains_key(&key) && all.len() >= MAX_CLIENTS {
            all.retain(|_, w| w.blocked_until.is_some_and(|b| b > now) || now.duration_since(w.start) < interval);
            if all.len() >= MAX_CLIENTS {
                key.1 = OVERFLOW;
            }
        }
        let w = all.entry(key).or_insert(Window { start: now, count: 0, blocked_until: None });
        if let Some(until) = w.blocked_until {
            if until > now {
                return Err(until - now);
            }
            w.blocked_until = None;
        }
        if now.duration_since(w.start) >= interval {
            w.start = now;
            w.count = 0;
        }
        w.count += 1;
        if w.count <= allowed {
            return Ok(());
        }
        if block.is_zero() {
            return Err(interval.saturating_sub(now.duration_since(w.start)));
        }
        // Blocked; a fresh window starts when the block ends.
        w.blocked_until = Some(now + block);
        w.start = now + block;
        w.count = 0;
        Err(block)
    }

    /// Forgets every window.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_rate_is_refused_and_blocked() {
        let w = Windows::default();
        let ip = IpAddr::from([192, 0, 2, 1]);
        let (hour, minute) = (Duration::from_secs(3600), Duration::from_secs(60));
        assert!(w.count("q", ip, 2, hour, Duration::ZERO).is_ok());
        assert!(w.count("q", ip, 2, hour, Duration::ZERO).is_ok());
        let wait = w.count("q", ip, 2, hour, Duration::ZERO).unwrap_err();
        assert!(wait > minute && wait <= hour);
        assert_eq!(w.count("b", ip, 1, hour, minute), Ok(()));
        assert_eq!(w.count("b", ip, 1, hour, minute), Err(minute));
        assert!(w.count("b", ip, 1, hour, minute).unwrap_err() <= minute, "still blocked");
        assert!(w.count("b", IpAddr::from([192, 0, 2, 2]), 1, hour, minute).is_ok(), "per address");
    }
}
