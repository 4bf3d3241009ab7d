//! The per-node rate limit of generate-root calls: a fixed one-minute window per kind of call
//! (starts; updates and cancels). Rate-limit quotas exempt these paths, as Vault does, so that an
//! operator's quota cannot lock share holders out; this limit is fixed and small instead.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window's length.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What one count decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit.
    Allowed,
    /// Over the limit; `first` for the first refusal of this window (the one that is audited),
    /// with the time until the window ends.
    Refused {
        /// The first refusal in this window.
        first: bool,
        /// Until the window ends.
        retry_after: Duration,
    },
}

#[derive(Default)]
struct State {
    start: Option<Instant>,
    count: u64,
}

/// One fixed window of `allowed` calls per [`WINDOW`] on this node.
pub struct Limit {
    allowed: u64,
    state: Mutex<State>,
}

impl Limit {
    /// A limit of `allowed` calls per minute.
    pub fn per_minute(allowed: u64) -> Self {
        Self { allowed, state: Mutex::new(State::default()) }
    }

    /// Counts one call made at `now`.
    pub fn count(&self, now: Instant) -> Verdict {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = match s.start {
            Some(start) if now.saturating_duration_since(start) < WINDOW => start,
            _ => {
                s.start = Some(now);
                s.count = 0;
                now
            }
        };
        s.count = s.count.saturating_add(1);
        if s.count <= self.allowed {
            return Verdict::Allowed;
        }
        let retry_after = WINDOW.saturating_sub(now.saturating_duration_since(start));
        Verdict::Refused { first: s.count == self.allowed + 1, retry_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_allows_its_count_then_refuses_until_it_ends() {
        let l = Limit::per_minute(2);
        let t = Instant::now();
        assert_eq!(l.count(t), Verdict::Allowed);
        assert_eq!(l.count(t), Verdict::Allowed);
        let Verdict::Refused { first: true, retry_after } = l.count(t + Duration::from_secs(10)) else {
            panic!("the third call in a minute must be refused")
        };
        assert_eq!(retry_after, Duration::from_secs(50));
        assert!(matches!(l.count(t + Duration::from_secs(59)), Verdict::Refused { first: false, .. }));
        assert_eq!(l.count(t + WINDOW), Verdict::Allowed, "a new window starts");
    }
}
