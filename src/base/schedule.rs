//! Rotation schedules: fixed periods (`rate(30 days)`, `"24h"`), cron expressions in UTC (Vault's five-field
//! `rotation_schedule`, AWS's `cron(...)`), rotation windows, and the clocks that drive them.

mod clock;
mod cron;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use cron::CronExpr;

/// When a rotation falls due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// Every so many seconds after the last rotation.
    Every(u64),
    /// At the minutes a cron expression matches, in UTC.
    Cron(CronExpr),
}

impl Schedule {
    /// Parses `rate(N minutes|hours|days)` (AWS; `minute`/`hour`/`day` are taken for any N),
    /// `cron(min hour dom month dow year)` (AWS), a five-field cron `m h dom mon dow` (Vault
    /// `rotation_schedule`), or a duration (`"24h"`, `"3600"`, `"1d"`). A period must be positive.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("schedule: empty schedule".to_string());
        }
        let head = t.get(..5).unwrap_or("");
        if head.eq_ignore_ascii_case("rate(") {
            return parse_rate(t).map(Schedule::Every);
        }
        if head.eq_ignore_ascii_case("cron(") || t.contains(char::is_whitespace) {
            return CronExpr::parse(t).map(Schedule::Cron);
        }
        match crate::base::duration::parse_str(t) {
            Ok(0) => Err(format!("schedule: the period {t:?} must be longer than zero")),
            Ok(secs) => Ok(Schedule::Every(secs)),
            Err(e) => Err(format!(
                "schedule: {t:?} is not a rate(...) or cron(...) expression, a five-field cron or a duration ({e})"
            )),
        }
    }

    /// The first fire time strictly after `after`. For [`Schedule::Every`], `after` is the last rotation and
    /// the answer is `after + period` (`None` for a zero period or past chrono's range); for a cron
    /// expression, the next matching minute, `None` if none comes within about nine years.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(0) => None,
            Schedule::Every(secs) => after.checked_add_signed(TimeDelta::try_seconds(i64::try_from(*secs).ok()?)?),
            Schedule::Cron(c) => c.next_after(after),
        }
    }

    /// Canonical text that [`Schedule::parse`] reads back to the same value: `rate(N days|hours|minutes)`
    /// for whole minutes (singular unit for 1), a Go duration (`"90s"`, `"1h0m30s"`) otherwise, and the
    /// upper-cased cron expression.
    pub fn to_text(&self) -> String {
        match self {
            Schedule::Every(secs) => {
                let secs = *secs;
                let (n, unit) = match secs {
                    0 => return crate::base::duration::format(0),
                    s if s % 86_400 == 0 => (s / 86_400, "day"),
                    s if s % 3_600 == 0 => (s / 3_600, "hour"),
                    s if s % 60 == 0 => (s / 60, "minute"),
                    s => return crate::base::duration::format(s),
                };
                format!("rate({n} {unit}{})", if n == 1 { "" } else { "s" })
            }
            Schedule::Cron(c) => c.as_str().to_string(),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Schedule, String> {
        Schedule::parse(s)
    }
}

/// Parses `rate(N unit)` into seconds.
fn parse_rate(t: &str) -> Result<u64, String> {
    let inner = t[5..].strip_suffix(')').ok_or("rate: missing the closing ) in rate(...)")?;
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts.as_slice() else {
        return Err(format!("rate: expected rate(<value> <unit>), got {t:?}"));
    };
    let n = value
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("rate: value {value:?} must be a positive integer"))?;
    let per = match unit.to_ascii_lowercase().as_str() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => return Err(format!("rate: unit {unit:?} must be minutes, hours or days")),
    };
    n.checked_mul(per).ok_or_else(|| format!("rate: {n} {unit} is too long"))
}

/// A random instant in `[fire, fire + window)` (millisecond steps) at which to start a rotation; exactly
/// `fire` for a zero window.
pub fn random_start(fire: DateTime<Utc>, window_secs: u64) -> DateTime<Utc> {
    if window_secs == 0 {
        return fire;
    }
    let window_ms = window_secs.saturating_mul(1000).min(i64::MAX as u64);
    let offset = rand::rng().random_range(0..window_ms);
    i64::try_from(offset)
        .ok()
        .and_then(TimeDelta::try_milliseconds)
        .and_then(|d| fire.checked_add_signed(d))
        .unwrap_or(fire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn every(text: &str) -> u64 {
        match Schedule::parse(text).unwrap() {
            Schedule::Every(n) => n,
            other => panic!("{text}: expected a period, got {other:?}"),
        }
    }

    #[test]
    fn parses_aws_rates() {
        assert_eq!(every("rate(10 days)"), 864_000);
        assert_eq!(every("rate(30 days)"), 2_592_000);
        assert_eq!(every("rate(1 day)"), 86_400);
        assert_eq!(every("rate(1 days)"), 86_400);
        assert_eq!(every("rate(2 day)"), 172_800);
        assert_eq!(every("rate(4 hours)"), 14_400);
        assert_eq!(every("rate(1 hour)"), 3_600);
        assert_eq!(every("rate(30 minutes)"), 1_800);
        assert_eq!(every("rate(1 minute)"), 60);
        assert_eq!(every("  RATE( 12  Hours ) "), 43_200);
    }

    #[test]
    fn rate_errors() {
        let err = |t: &str| Schedule::parse(t).unwrap_err();
        assert_eq!(err("rate(0 days)"), "rate: value \"0\" must be a positive integer");
        assert_eq!(err("rate(-1 days)"), "rate: value \"-1\" must be a positive integer");
        assert_eq!(err("rate(1.5 days)"), "rate: value \"1.5\" must be a positive integer");
        assert_eq!(err("rate(10 weeks)"), "rate: unit \"weeks\" must be minutes, hours or days");
        assert_eq!(err("rate(10)"), "rate: expected rate(<value> <unit>), got \"rate(10)\"");
        assert_eq!(err("rate(1 day 2)"), "rate: expected rate(<value> <unit>), got \"rate(1 day 2)\"");
        assert_eq!(err("rate(10 days"), "rate: missing the closing ) in rate(...)");
        assert_eq!(err("rate(18446744073709551615 days)"), "rate: 18446744073709551615 days is too long");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(every("24h"), 86_400);
        assert_eq!(every("720h"), 2_592_000);
        assert_eq!(every("3600"), 3_600);
        assert_eq!(every("1d"), 86_400);
        assert_eq!(every("1h30m"), 5_400);
        assert_eq!(every("90s"), 90);
        assert_eq!(every(" 5m "), 300);
    }

    #[test]
    fn duration_and_empty_errors() {
        assert_eq!(Schedule::parse("").unwrap_err(), "schedule: empty schedule");
        assert_eq!(Schedule::parse("   ").unwrap_err(), "schedule: empty schedule");
        assert_eq!(Schedule::parse("0").unwrap_err(), "schedule: the period \"0\" must be longer than zero");
        assert_eq!(Schedule::parse("0s").unwrap_err(), "schedule: the period \"0s\" must be longer than zero");
        assert_eq!(Schedule::parse("500ms").unwrap_err(), "schedule: the period \"500ms\" must be longer than zero");
        let e = Schedule::parse("soon").unwrap_err();
        assert!(e.starts_with("schedule: \"soon\" is not a rate(...) or cron(...) expression"), "{e}");
        assert!(e.contains("time: invalid duration"), "{e}");
        assert!(Schedule::parse("1 day").unwrap_err().starts_with("cron: expected 5 fields"));
    }

    #[test]
    fn parses_both_cron_forms() {
        for text in ["0 0 * * SAT", "cron(0 4 * * ? *)", "cron(0 10 * * ? *)", "*/5 * * * *"] {
            assert!(matches!(Schedule::parse(text).unwrap(), Schedule::Cron(_)), "{text}");
        }
        assert_eq!(Schedule::parse("0 25 * * *").unwrap_err(), "cron: hour 25 is out of range 0-23");
        assert_eq!(
            Schedule::parse("cron(0 10 * * * *)").unwrap_err(),
            "cron: one of day-of-month and day-of-week must be ? in cron(...)"
        );
    }

    #[test]
    fn next_after_for_periods_adds_the_period() {
        let t = at("2024-02-28T10:15:30Z");
        assert_eq!(Schedule::Every(86_400).next_after(t), Some(at("2024-02-29T10:15:30Z")));
        assert_eq!(Schedule::parse("rate(10 days)").unwrap().next_after(t), Some(at("2024-03-09T10:15:30Z")));
        assert_eq!(Schedule::Every(1).next_after(t), Some(at("2024-02-28T10:15:31Z")));
        assert_eq!(Schedule::Every(0).next_after(t), None);
        assert_eq!(Schedule::Every(u64::MAX).next_after(t), None);
        assert_eq!(Schedule::Every(86_400).next_after(DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn next_after_for_cron() {
        let s = Schedule::parse("cron(0 4 * * ? *)").unwrap();
        assert_eq!(s.next_after(at("2024-12-31T04:00:00Z")), Some(at("2025-01-01T04:00:00Z")));
        let s = Schedule::parse("0 0 * * SAT").unwrap();
        assert_eq!(s.next_after(at("2024-03-08T12:00:00Z")), Some(at("2024-03-09T00:00:00Z")));
        assert_eq!(Schedule::parse("0 0 30 2 *").unwrap().next_after(at("2024-01-01T00:00:00Z")), None);
    }

    #[test]
    fn to_text_is_canonical_and_round_trips() {
        for (input, text) in [
            ("rate(10 days)", "rate(10 days)"),
            ("rate(1 days)", "rate(1 day)"),
            ("rate(24 hours)", "rate(1 day)"),
            ("720h", "rate(30 days)"),
            ("3600", "rate(1 hour)"),
            ("rate(90 minutes)", "rate(90 minutes)"),
            ("1m", "rate(1 minute)"),
            ("90s", "1m30s"),
            ("3725", "1h2m5s"),
            ("45s", "45s"),
            ("0 4 * * sat", "0 4 * * SAT"),
            ("cron(0 10 * * ? *)", "cron(0 10 * * ? *)"),
        ] {
            let s = Schedule::parse(input).unwrap();
            assert_eq!(s.to_text(), text, "{input}");
            assert_eq!(s.to_string(), text, "{input}");
            assert_eq!(Schedule::parse(&s.to_text()).unwrap(), s, "{input}");
            assert_eq!(text.parse::<Schedule>().unwrap(), s, "{input}");
        }
        for n in [1u64, 59, 60, 61, 3_599, 3_600, 3_601, 86_399, 86_400, 86_401, 31_536_000, 1_000_000_007] {
            let s = Schedule::Every(n);
            assert_eq!(Schedule::parse(&s.to_text()).unwrap(), s, "{n} -> {}", s.to_text());
        }
    }

    #[test]
    fn serde_round_trip() {
        for s in [
            Schedule::Every(3_600),
            Schedule::parse("cron(0 4 * * ? *)").unwrap(),
            Schedule::parse("0 0 * * SAT").unwrap(),
        ] {
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Schedule>(&j).unwrap(), s, "{j}");
        }
        assert_eq!(serde_json::to_string(&Schedule::Every(60)).unwrap(), r#"{"Every":60}"#);
        assert_eq!(serde_json::to_string(&Schedule::parse("0 4 * * *").unwrap()).unwrap(), r#"{"Cron":"0 4 * * *"}"#);
        assert!(serde_json::from_str::<Schedule>(r#"{"Cron":"0 4 * *"}"#).is_err());
    }

    #[test]
    fn random_start_without_a_window_is_the_fire_time() {
        let fire = at("2024-01-01T04:00:00Z");
        for _ in 0..100 {
            assert_eq!(random_start(fire, 0), fire);
        }
    }

    #[test]
    fn random_start_stays_inside_the_window() {
        let fire = at("2024-01-01T04:00:00Z");
        for window in [1u64, 60, 3 * 3600] {
            let end = fire + TimeDelta::seconds(window as i64);
            let draws: Vec<_> = (0..1000).map(|_| random_start(fire, window)).collect();
            assert!(draws.iter().all(|t| *t >= fire && *t < end), "window {window}");
            if window > 1 {
                // Spread over the window, not stuck at its start.
                assert!(draws.iter().any(|t| *t > fire + TimeDelta::seconds(window as i64 / 2)), "window {window}");
            }
        }
    }

    #[test]
    fn random_start_with_huge_windows_does_not_panic() {
        let fire = at("2024-01-01T04:00:00Z");
        for _ in 0..100 {
            assert!(random_start(fire, u64::MAX) >= fire);
            assert!(random_start(DateTime::<Utc>::MAX_UTC, 3600) <= DateTime::<Utc>::MAX_UTC);
        }
    }
}
