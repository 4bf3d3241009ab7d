//! Clocks for the scheduler: the system clock, and a manual clock that tests set and advance.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time, so schedulers can be driven by a fake clock in tests.
pub trait Clock: Send + Sync {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place that reads the wall clock; everything else asks a `Clock` (clippy.toml).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A shared handle to a clock (the system clock by default): the core holds one, and every module
/// asks it for the time, so tests can swap in a [`ManualClock`].
#[derive(Clone)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    /// A handle to `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        SharedClock(clock)
    }

    /// The current instant in UTC (inherent, so callers need not import [`Clock`]).
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        SharedClock(Arc::new(SystemClock))
    }
}

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

impl std::fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedClock")
    }
}

/// A clock that only moves when told to; safe to share between threads.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock { now: Mutex::new(start) }
    }

    /// Moves the clock to `t` (backwards too).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    /// Moves the clock by `d` (negative moves it back). A step past chrono's range leaves the clock where it
    /// is.
    pub fn advance(&self, d: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = now.checked_add_signed(d) {
            *now = t;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // compares the system clock with the wall clock
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let before = SystemTime::now();
        let t = SystemClock.now();
        let after = SystemTime::now();
        let (before, after) = (DateTime::<Utc>::from(before), DateTime::<Utc>::from(after));
        assert!(before <= t && t <= after);
    }

    #[test]
    fn manual_clock_sets_and_advances() {
        let c = ManualClock::new(at("2024-01-01T00:00:00Z"));
        assert_eq!(c.now(), at("2024-01-01T00:00:00Z"));
        c.advance(TimeDelta::hours(25));
        assert_eq!(c.now(), at("2024-01-02T01:00:00Z"));
        c.advance(TimeDelta::seconds(-3600));
        assert_eq!(c.now(), at("2024-01-02T00:00:00Z"));
        c.set(at("2030-06-15T12:30:00Z"));
        assert_eq!(c.now(), at("2030-06-15T12:30:00Z"));
        c.set(at("2020-01-01T00:00:00Z"));
        assert_eq!(c.now(), at("2020-01-01T00:00:00Z"));
    }

    #[test]
    fn manual_clock_ignores_an_overflowing_step() {
        let c = ManualClock::new(DateTime::<Utc>::MAX_UTC);
        c.advance(TimeDelta::days(1));
        assert_eq!(c.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn manual_clock_is_shared_between_threads_as_a_dyn_clock() {
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let c = Arc::new(ManualClock::new(start));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        c.advance(TimeDelta::seconds(1));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let dyn_clock: Arc<dyn Clock> = c;
        assert_eq!(dyn_clock.now(), start + TimeDelta::seconds(800));
    }
}
