//! The rate limit of one rule: at most `max_per_minute` alerts in a minute that opens with the
//! first alert after the previous one ended. Alerts beyond it are suppressed and counted; when the
//! minute is over, one summary carries the count.

/// A minute's length, in ms.
pub const MINUTE_MS: i64 = 60_000;

/// The minute in progress.
#[derive(Debug, Default)]
pub struct Limit {
    start_ms: Option<i64>,
    sent: u32,
    suppressed: u64,
}

/// The alerts a minute suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many.
    pub suppressed: u64,
    /// When the minute opened (Unix ms).
    pub since_ms: i64,
}

impl Limit {
    /// Ends the minute if it is over, with its summary if it suppressed anything.
    pub fn roll(&mut self, now_ms: i64) -> Option<Summary> {
        let start = self.start_ms?;
        if now_ms < start.saturating_add(MINUTE_MS) && now_ms >= start {
            return None;
        }
        let summary = (self.suppressed > 0).then_some(Summary { suppressed: self.suppressed, since_ms: start });
        *self = Limit::default();
        summary
    }

    /// Whether an alert may go out now (call [`Limit::roll`] first); a refused one is counted.
    pub fn admit(&mut self, now_ms: i64, max: u32) -> bool {
        self.start_ms.get_or_insert(now_ms);
        if self.sent < max {
            self.sent += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_the_limit_alerts_are_counted_and_summarised_once_the_minute_ends() {
        let mut l = Limit::default();
        assert_eq!(l.roll(0), None);
        assert!(l.admit(0, 2) && l.admit(1, 2));
        assert!(!l.admit(2, 2) && !l.admit(3, 2));
        assert_eq!(l.roll(MINUTE_MS - 1), None);
        assert_eq!(l.roll(MINUTE_MS), Some(Summary { suppressed: 2, since_ms: 0 }));
        assert_eq!(l.roll(MINUTE_MS + 1), None, "one summary per minute");
        assert!(l.admit(MINUTE_MS + 5, 2));
        assert_eq!(l.roll(2 * MINUTE_MS + 5), None, "nothing suppressed: no summary");
    }
}
