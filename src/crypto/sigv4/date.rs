//! The `X-Amz-Date` header: its `YYYYMMDD'T'HHMMSS'Z'` form, and the five-minute window around
//! the server's clock that a signature must fall in.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use super::SigError;

/// How far the request time may be from the server's, either way.
const SKEW: TimeDelta = TimeDelta::minutes(5);
const FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Parses `YYYYMMDD'T'HHMMSS'Z'` (16 characters, digits where digits go, UTC).
pub(super) fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, SigError> {
    let bad = || {
        SigError::incomplete(
            "X-Amz-Date must be a UTC time in the form YYYYMMDD'T'HHMMSS'Z', such as 20150830T123600Z.",
        )
    };
    let shape_ok = value.len() == 16
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    NaiveDateTime::parse_from_str(value, FORMAT).map(|t| t.and_utc()).map_err(|_| bad())
}

/// The `YYYYMMDD` day of a well-formed `X-Amz-Date`.
pub(super) fn day_of(amz_date: &str) -> &str {
    amz_date.get(..8).unwrap_or(amz_date)
}

fn show(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format(FORMAT).to_string()).unwrap_or_default()
}

/// Refuses a request time more than five minutes before or after `now`, in AWS's words.
pub(super) fn check_window(amz_date: &str, when: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SigError> {
    let age = now.signed_duration_since(when);
    if age > SKEW {
        return Err(SigError::invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            show(now.checked_sub_signed(SKEW)),
            show(Some(now)),
        )));
    }
    if age < -SKEW {
        return Err(SigError::invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            show(now.checked_add_signed(SKEW)),
            show(Some(now)),
        )));
    }
    Ok(())
}
