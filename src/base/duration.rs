//! Vault-style durations: parse `"1h30m"`, `"90s"`, `"7200"` or `7200`; format as `"1h30m0s"`.

use serde_json::Value;

/// Parses a duration given as a Go-style string, a numeric string, or a JSON number, in seconds.
pub fn parse_value(v: &Value) -> Result<u64, String> {
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()).map(whole_u64)).ok_or_else(invalid)
        }
        Value::String(s) => parse_str(s),
        _ => Err(invalid()),
    }
}

/// `f` rounded towards zero, saturating at 0 and `u64::MAX` (Rust's `as`, which is meant here).
#[allow(clippy::cast_possible_truncation)]
fn whole_u64(f: f64) -> u64 {
    f as u64
}

/// `f` rounded towards zero, saturating at 0 and `u128::MAX` (Rust's `as`, which is meant here).
#[allow(clippy::cast_possible_truncation)]
fn whole_u128(f: f64) -> u128 {
    f as u128
}

/// The error for a value that is not a duration. Unlike Go's (and Vault's) message it does not
/// repeat the value: a secret pasted into the wrong field must not come back (SEC-22, D70).
fn invalid() -> String {
    "time: invalid duration".to_string()
}

/// Parses a Go-style duration string (`"1h2m3s"`, `"500ms"`, `"0"`) or bare seconds, rounding down
/// to whole seconds.
pub fn parse_str(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let err = invalid;
    if t.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let mut nanos: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let per: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return Err(err()),
        };
        let n: f64 = num.parse().map_err(|_| err())?;
        nanos = nanos.saturating_add(whole_u128(n * per));
        rest = tail;
    }
    u64::try_from(nanos / 1_000_000_000).map_err(|_| err())
}

/// Formats seconds the way Go prints a `time.Duration`: `"0s"`, `"45s"`, `"3h25m19s"`.
pub fn format(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_go_strings_numbers_and_seconds() {
        assert_eq!(parse_str("1h0m0s").unwrap(), 3600);
        assert_eq!(parse_str("3h25m19s").unwrap(), 12319);
        assert_eq!(parse_str("90").unwrap(), 90);
        assert_eq!(parse_str("1.5h").unwrap(), 5400);
        assert_eq!(parse_str("0s").unwrap(), 0);
        assert_eq!(parse_value(&json!(7200)).unwrap(), 7200);
        assert_eq!(parse_value(&json!("30m")).unwrap(), 1800);
        assert!(parse_str("banana").is_err());
        assert!(parse_str("5x").is_err());
        assert!(parse_value(&json!(-3)).is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(45), "45s");
        assert_eq!(format(12319), "3h25m19s");
        assert_eq!(format(3600), "1h0m0s");
        assert_eq!(format(61), "1m1s");
    }
}
