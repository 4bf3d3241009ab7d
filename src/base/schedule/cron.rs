//! Cron expressions in UTC: Vault's five-field `rotation_schedule` and AWS's six-field `cron(...)`.
//!
//! Both forms take `*`, lists `a,b`, ranges `a-b`, steps `*/n`, `a/n` (from `a` to the end) and `a-b/n`, and
//! the names `JAN`–`DEC` and `SUN`–`SAT` in any case.
//!
//! * Five fields, `minute hour day-of-month month day-of-week` (Vault, robfig/cron): day-of-week is 0–7
//!   with 0 and 7 both Sunday; `?` means `*`. When both day fields are restricted a day matching either
//!   one fires (a field is unrestricted when it is `*` or `?` without a step).
//! * `cron(minute hour day-of-month month day-of-week year)` (AWS): day-of-week is 1–7 = SUN–SAT, the year
//!   1970–2199, and exactly one of the day fields must be `?`. Day-of-month also takes `L` (last day),
//!   `LW` (last weekday) and `nW` (the weekday nearest day n, within the month); day-of-week takes `L`
//!   (Saturday), `nL` (the last day n of the month) and `n#k` (the k-th day n of the month, alone in its
//!   field).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// How many years, counting the one the search starts in, [`CronExpr::next_after`] looks through before
/// deciding that nothing matches. Nine covers the longest gap between two 29 Februaries (2096 to 2104).
const SEARCH_YEARS: u32 = 9;

const AWS_MIN_YEAR: i32 = 1970;
const AWS_MAX_YEAR: i32 = 2199;

const MONTH_NAMES: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed cron expression; serialized as its canonical text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronExpr {
    text: String,
    /// Boxed so that [`super::Schedule`] stays small.
    spec: Box<Spec>,
}

/// The compiled fields.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Spec {
    aws: bool,
    minutes: Bits,
    hours: Bits,
    months: Bits,
    dom: DaySpec,
    dow: WeekSpec,
    /// Bit `y - 1970`; `None` when any year matches.
    years: Option<Bits>,
}

/// A set of small numbers (0–255).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bits([u64; 4]);

impl Bits {
    fn set(&mut self, i: u32) {
        if let Some(w) = self.0.get_mut((i / 64) as usize) {
            *w |= 1 << (i % 64);
        }
    }

    fn has(&self, i: u32) -> bool {
        self.0.get((i / 64) as usize).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// The day-of-month field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DaySpec {
    /// `*` or `?`: the field does not restrict the day.
    any: bool,
    days: Bits,
    last: bool,
    last_weekday: bool,
    nearest_weekday: Bits,
}

/// The day-of-week field, with Sunday = 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct WeekSpec {
    any: bool,
    days: Bits,
    /// `nL`: bit n set for "the last day n of the month".
    last: Bits,
    /// `n#k`: bit k of entry n set for "the k-th day n of the month".
    nth: [u8; 7],
}

/// What one field accepts.
struct FieldDef {
    name: &'static str,
    min: u32,
    max: u32,
    /// The span `*` stands for (day-of-week in the five-field form stops at 6 although 7 is accepted).
    star_max: u32,
    names: &'static [&'static str],
    /// The number of the first name.
    name_base: u32,
}

const MINUTE: FieldDef = FieldDef { name: "minute", min: 0, max: 59, star_max: 59, names: &[], name_base: 0 };
const HOUR: FieldDef = FieldDef { name: "hour", min: 0, max: 23, star_max: 23, names: &[], name_base: 0 };
const DOM: FieldDef = FieldDef { name: "day-of-month", min: 1, max: 31, star_max: 31, names: &[], name_base: 0 };
const MONTH: FieldDef = FieldDef { name: "month", min: 1, max: 12, star_max: 12, names: &MONTH_NAMES, name_base: 1 };
const DOW_VAULT: FieldDef =
    FieldDef { name: "day-of-week", min: 0, max: 7, star_max: 6, names: &DAY_NAMES, name_base: 0 };
const DOW_AWS: FieldDef =
    FieldDef { name: "day-of-week", min: 1, max: 7, star_max: 7, names: &DAY_NAMES, name_base: 1 };
const YEAR: FieldDef = FieldDef {
    name: "year",
    min: AWS_MIN_YEAR as u32,
    max: AWS_MAX_YEAR as u32,
    star_max: AWS_MAX_YEAR as u32,
    names: &[],
    name_base: 0,
};

/// One `a`, `a-b`, `*`, optionally with `/step`, expanded: `lo..=hi` by `step`; `star` when it covers the
/// whole field with step 1.
struct Span {
    lo: u32,
    hi: u32,
    step: u32,
    star: bool,
}

impl Span {
    fn values(&self) -> impl Iterator<Item = u32> {
        (self.lo..=self.hi).step_by(self.step as usize)
    }
}

impl CronExpr {
    /// Parses `cron(m h dom mon dow year)` (AWS) or a plain five-field `m h dom mon dow` (Vault).
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let t = text.trim();
        let head = t.get(..5).unwrap_or("");
        if head.eq_ignore_ascii_case("cron(") {
            let inner = t[5..].strip_suffix(')').ok_or("cron: missing the closing ) in cron(...)")?;
            Self::parse_aws(inner)
        } else {
            Self::parse_vault(t)
        }
    }

    fn parse_vault(t: &str) -> Result<CronExpr, String> {
        let f: Vec<String> = t.split_whitespace().map(str::to_ascii_uppercase).collect();
        let [mi, h, dom, mon, dow] = f.as_slice() else {
            return Err(format!(
                "cron: expected 5 fields (minute hour day-of-month month day-of-week), got {}; \
                 write the AWS six-field form as cron(...)",
                f.len()
            ));
        };
        let dom_spec = parse_dom(dom, false)?;
        let dow_spec = parse_dow(dow, false)?;
        let spec = Spec {
            aws: false,
            minutes: parse_plain(mi, &MINUTE, 0)?,
            hours: parse_plain(h, &HOUR, 0)?,
            months: parse_plain(mon, &MONTH, 0)?,
            dom: dom_spec,
            dow: dow_spec,
            years: None,
        };
        Ok(CronExpr { text: f.join(" "), spec: Box::new(spec) })
    }

    fn parse_aws(inner: &str) -> Result<CronExpr, String> {
        let f: Vec<String> = inner.split_whitespace().map(str::to_ascii_uppercase).collect();
        let [mi, h, dom, mon, dow, y] = f.as_slice() else {
            return Err(format!(
                "cron: expected 6 fields in cron(minute hour day-of-month month day-of-week year), got {}",
                f.len()
            ));
        };
        match (dom.as_str() == "?", dow.as_str() == "?") {
            (false, false) => {
                return Err("cron: one of day-of-month and day-of-week must be ? in cron(...)".to_string());
            }
            (true, true) => return Err("cron: day-of-month and day-of-week cannot both be ?".to_string()),
            _ => {}
        }
        let years = if y == "*" { None } else { Some(parse_plain(y, &YEAR, YEAR.min)?) };
        let spec = Spec {
            aws: true,
            minutes: parse_plain(mi, &MINUTE, 0)?,
            hours: parse_plain(h, &HOUR, 0)?,
            months: parse_plain(mon, &MONTH, 0)?,
            dom: parse_dom(dom, true)?,
            dow: parse_dow(dow, true)?,
            years,
        };
        Ok(CronExpr { text: format!("cron({})", f.join(" ")), spec: Box::new(spec) })
    }

    /// The canonical text: fields upper-cased and single-spaced, `cron(...)` kept for the AWS form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the AWS six-field `cron(...)` form.
    pub fn is_aws(&self) -> bool {
        self.spec.aws
    }

    /// The first matching minute strictly after `after`, or `None` if nothing matches within
    /// nine matching years (e.g. 30 February) or before AWS's last year, 2199.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = after.naive_utc();
        let start = t.date().and_hms_opt(t.hour(), t.minute(), 0)?.checked_add_signed(TimeDelta::minutes(1))?;
        let (s_mo, s_d, s_h, s_mi) = (start.month(), start.day(), start.hour(), start.minute());
        let mut year = start.year();
        let mut on_start = true;
        let mut years_seen = 0;
        loop {
            if let Some(years) = &self.spec.years {
                if year > AWS_MAX_YEAR {
                    return None;
                }
                if year < AWS_MIN_YEAR {
                    year = AWS_MIN_YEAR;
                    on_start = false;
                    continue;
                }
                let off = u32::try_from(year - AWS_MIN_YEAR).ok();
                if !off.is_some_and(|o| years.has(o)) {
                    year += 1;
                    on_start = false;
                    continue;
                }
            }
            years_seen += 1;
            if years_seen > SEARCH_YEARS {
                return None;
            }
            for month in (if on_start { s_mo } else { 1 })..=12 {
                if !self.spec.months.has(month) {
                    continue;
                }
                let first_month = on_start && month == s_mo;
                let dim = days_in_month(year, month);
                let wd1 = NaiveDate::from_ymd_opt(year, month, 1)?.weekday().num_days_from_sunday();
                for day in (if first_month { s_d } else { 1 })..=dim {
                    if !self.day_matches(day, dim, wd1) {
                        continue;
                    }
                    let first_day = first_month && day == s_d;
                    for hour in (if first_day { s_h } else { 0 })..=23 {
                        if !self.spec.hours.has(hour) {
                            continue;
                        }
                        let first_hour = first_day && hour == s_h;
                        if let Some(minute) =
                            ((if first_hour { s_mi } else { 0 })..=59).find(|m| self.spec.minutes.has(*m))
                        {
                            let date = NaiveDate::from_ymd_opt(year, month, day)?;
                            return Some(date.and_hms_opt(hour, minute, 0)?.and_utc());
                        }
                    }
                }
            }
            year = year.checked_add(1)?;
            on_start = false;
        }
    }

    /// Whether day `d` of a month of `dim` days whose first day is weekday `wd1` (Sunday = 0) matches.
    fn day_matches(&self, d: u32, dim: u32, wd1: u32) -> bool {
        let dom = self.spec.dom.matches(d, dim, wd1);
        let dow = self.spec.dow.matches(d, dim, wd1);
        if self.spec.dom.any || self.spec.dow.any {
            dom && dow
        } else {
            dom || dow
        }
    }
}

impl DaySpec {
    fn matches(&self, d: u32, dim: u32, wd1: u32) -> bool {
        self.days.has(d)
            || (self.last && d == dim)
            || (self.last_weekday && d == last_weekday(dim, wd1))
            || (self.nearest_weekday != Bits::default()
                && (1..=dim).any(|n| self.nearest_weekday.has(n) && nearest_weekday(n, dim, wd1) == d))
    }
}

impl WeekSpec {
    fn matches(&self, d: u32, dim: u32, wd1: u32) -> bool {
        let wd = (wd1 + d - 1) % 7;
        self.days.has(wd)
            || (self.last.has(wd) && d + 7 > dim)
            || self.nth.get(wd as usize).is_some_and(|k| k & (1 << ((d - 1) / 7 + 1)) != 0)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The last Monday–Friday of the month.
fn last_weekday(dim: u32, wd1: u32) -> u32 {
    match (wd1 + dim - 1) % 7 {
        6 => dim - 1,
        0 => dim - 2,
        _ => dim,
    }
}

/// The Monday–Friday nearest day `n`, without leaving the month (`1W` on a Saturday is Monday the 3rd).
fn nearest_weekday(n: u32, dim: u32, wd1: u32) -> u32 {
    match (wd1 + n - 1) % 7 {
        6 if n == 1 => 3,
        6 => n - 1,
        0 if n == dim => n - 2,
        0 => n + 1,
        _ => n,
    }
}

/// Parses a field that takes only the common syntax (`*`, lists, ranges, steps, names), setting bit
/// `value - offset` for each value.
fn parse_plain(text: &str, def: &FieldDef, offset: u32) -> Result<Bits, String> {
    let mut bits = Bits::default();
    for item in items(text, def)? {
        parse_span(item, def, false)?.values().for_each(|v| bits.set(v - offset));
    }
    Ok(bits)
}

/// Splits a field on commas, refusing empty items and a `?` that is not the whole field.
fn items<'a>(text: &'a str, def: &FieldDef) -> Result<Vec<&'a str>, String> {
    let items: Vec<&str> = text.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(format!("cron: empty item in {} field {text:?}", def.name));
    }
    if items.len() > 1 && items.contains(&"?") {
        return Err(format!("cron: ? must be the whole {} field", def.name));
    }
    Ok(items)
}

/// Parses `*`, `?` (when `question` is allowed), `a`, `a-b`, each optionally followed by `/step`. Values are
/// in the field's own numbering.
fn parse_span(item: &str, def: &FieldDef, question: bool) -> Result<Span, String> {
    let (base, step) = match item.split_once('/') {
        Some((b, s)) => {
            let step = s
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("cron: {} step {s:?} must be a positive number", def.name))?;
            (b, Some(step))
        }
        None => (item, None),
    };
    if base == "*" || base == "?" {
        if base == "?" && !question {
            return Err(format!("cron: ? is only allowed in day-of-month and day-of-week, not in {}", def.name));
        }
        if base == "?" && step.is_some() {
            return Err(format!("cron: ? cannot take a step in {}", def.name));
        }
        return Ok(Span { lo: def.min, hi: def.star_max, step: step.unwrap_or(1), star: step.unwrap_or(1) == 1 });
    }
    let (lo, hi) = match base.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (parse_value(a, def)?, parse_value(b, def)?);
            if lo > hi {
                return Err(format!("cron: {} range {base} runs backwards", def.name));
            }
            (lo, hi)
        }
        None => {
            let v = parse_value(base, def)?;
            // `a/n` runs from a to the end of the field.
            (v, if step.is_some() { def.star_max.max(v) } else { v })
        }
    };
    Ok(Span { lo, hi, step: step.unwrap_or(1), star: false })
}

/// A number or a name, range-checked.
fn parse_value(s: &str, def: &FieldDef) -> Result<u32, String> {
    if let Some(i) = def.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return u32::try_from(i).map(|i| i + def.name_base).map_err(|_| format!("{s:?} is out of range"));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        let names = match def.names {
            [first, .., last] => format!(" or a name {first}-{last}"),
            _ => String::new(),
        };
        return Err(format!("cron: {} value {s:?} is not a number{names}", def.name));
    }
    match s.parse::<u32>() {
        Ok(v) if (def.min..=def.max).contains(&v) => Ok(v),
        _ => Err(format!("cron: {} {s} is out of range {}-{}", def.name, def.min, def.max)),
    }
}

fn parse_dom(text: &str, aws: bool) -> Result<DaySpec, String> {
    let mut spec = DaySpec::default();
    for item in items(text, &DOM)? {
        let special = item == "L" || item.ends_with('W');
        if special && !aws {
            return Err(format!("cron: day-of-month {item} (L, W) needs the AWS cron(...) form"));
        }
        if item == "L" {
            spec.last = true;
        } else if item == "LW" {
            spec.last_weekday = true;
        } else if let Some(n) = item.strip_suffix('W') {
            spec.nearest_weekday.set(parse_value(n, &DOM)?);
        } else {
            let span = parse_span(item, &DOM, true)?;
            spec.any |= span.star;
            span.values().for_each(|v| spec.days.set(v));
        }
    }
    Ok(spec)
}

fn parse_dow(text: &str, aws: bool) -> Result<WeekSpec, String> {
    let def = if aws { &DOW_AWS } else { &DOW_VAULT };
    // Sunday = 0 inside; AWS numbers Sunday 1, the five-field form 0 or 7.
    let to_internal = |v: u32| if aws { v - 1 } else { v % 7 };
    let items = items(text, def)?;
    if text.contains('#') && items.len() > 1 {
        return Err(format!("cron: day-of-week {text} may hold only one expression when it uses #"));
    }
    let mut spec = WeekSpec::default();
    for item in items {
        let special = item.contains('#') || item.ends_with('L');
        if special && !aws {
            return Err(format!("cron: day-of-week {item} (L, #) needs the AWS cron(...) form"));
        }
        if item == "L" {
            spec.days.set(6);
        } else if let Some((d, k)) = item.split_once('#') {
            let day = to_internal(parse_value(d, def)?);
            let k = k
                .parse::<u32>()
                .ok()
                .filter(|k| (1..=5).contains(k))
                .ok_or_else(|| format!("cron: day-of-week occurrence in {item} must be 1-5"))?;
            if let Some(slot) = spec.nth.get_mut(day as usize) {
                *slot |= 1 << k;
            }
        } else if let Some(d) = item.strip_suffix('L') {
            spec.last.set(to_internal(parse_value(d, def)?));
        } else {
            let span = parse_span(item, def, true)?;
            spec.any |= span.star;
            span.values().for_each(|v| spec.days.set(to_internal(v)));
        }
    }
    Ok(spec)
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.text).finish()
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<CronExpr> for String {
    fn from(c: CronExpr) -> String {
        c.text
    }
}

impl TryFrom<String> for CronExpr {
    type Error = String;

    fn try_from(s: String) -> Result<CronExpr, String> {
        CronExpr::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, after: &str) -> Option<DateTime<Utc>> {
        CronExpr::parse(expr).unwrap().next_after(at(after))
    }

    /// The next `n` fire times after `after`, as RFC 3339 strings.
    fn seq(expr: &str, after: &str, n: usize) -> Vec<String> {
        let c = CronExpr::parse(expr).unwrap();
        let mut t = at(after);
        let mut out = Vec::new();
        for _ in 0..n {
            t = c.next_after(t).unwrap();
            out.push(t.format("%Y-%m-%dT%H:%M").to_string());
        }
        out
    }

    fn err(expr: &str) -> String {
        CronExpr::parse(expr).unwrap_err()
    }

    #[test]
    fn next_is_strictly_after_and_on_a_whole_minute() {
        assert_eq!(next("0 4 * * *", "2024-01-01T03:59:59Z"), Some(at("2024-01-01T04:00:00Z")));
        assert_eq!(next("0 4 * * *", "2024-01-01T04:00:00Z"), Some(at("2024-01-02T04:00:00Z")));
        assert_eq!(next("0 4 * * *", "2024-01-01T04:00:30.5Z"), Some(at("2024-01-02T04:00:00Z")));
        assert_eq!(next("* * * * *", "2024-01-01T04:00:00Z"), Some(at("2024-01-01T04:01:00Z")));
        assert_eq!(next("* * * * *", "2024-01-01T04:00:59.999Z"), Some(at("2024-01-01T04:01:00Z")));
    }

    #[test]
    fn steps_lists_and_ranges() {
        assert_eq!(
            seq("*/15 * * * *", "2024-01-01T10:07:00Z", 4),
            ["2024-01-01T10:15", "2024-01-01T10:30", "2024-01-01T10:45", "2024-01-01T11:00"]
        );
        assert_eq!(
            seq("5-20/5 3 * * *", "2024-01-01T00:00:00Z", 5),
            ["2024-01-01T03:05", "2024-01-01T03:10", "2024-01-01T03:15", "2024-01-01T03:20", "2024-01-02T03:05"]
        );
        assert_eq!(
            seq("0 1/6 * * *", "2024-01-01T00:00:00Z", 5),
            ["2024-01-01T01:00", "2024-01-01T07:00", "2024-01-01T13:00", "2024-01-01T19:00", "2024-01-02T01:00"]
        );
        assert_eq!(
            seq("0,30 8,20 * * *", "2024-01-01T12:00:00Z", 4),
            ["2024-01-01T20:00", "2024-01-01T20:30", "2024-01-02T08:00", "2024-01-02T08:30"]
        );
        assert_eq!(
            seq("0 0 1-3,10 * *", "2024-01-02T12:00:00Z", 4),
            ["2024-01-03T00:00", "2024-01-10T00:00", "2024-02-01T00:00", "2024-02-02T00:00"]
        );
        // A step longer than the field keeps only its start.
        assert_eq!(seq("0 0/100 * * *", "2024-01-01T00:00:00Z", 2), ["2024-01-02T00:00", "2024-01-03T00:00"]);
    }

    #[test]
    fn month_ends_and_year_rollover() {
        assert_eq!(next("0 0 1 * *", "2024-01-31T12:00:00Z"), Some(at("2024-02-01T00:00:00Z")));
        assert_eq!(
            seq("0 0 31 * *", "2024-01-31T12:00:00Z", 3),
            ["2024-03-31T00:00", "2024-05-31T00:00", "2024-07-31T00:00"]
        );
        assert_eq!(next("0 0 1 1 *", "2024-12-31T23:59:00Z"), Some(at("2025-01-01T00:00:00Z")));
        assert_eq!(next("59 23 31 12 *", "2024-12-31T23:58:10Z"), Some(at("2024-12-31T23:59:00Z")));
        assert_eq!(next("59 23 31 12 *", "2024-12-31T23:59:00Z"), Some(at("2025-12-31T23:59:00Z")));
        assert_eq!(next("0 12 30 * *", "2023-01-30T12:00:00Z"), Some(at("2023-03-30T12:00:00Z")));
    }

    #[test]
    fn leap_years() {
        assert_eq!(next("0 0 29 2 *", "2023-03-01T00:00:00Z"), Some(at("2024-02-29T00:00:00Z")));
        assert_eq!(next("0 0 29 2 *", "2024-02-29T00:00:00Z"), Some(at("2028-02-29T00:00:00Z")));
        // 2100 is not a leap year: the longest gap, eight years.
        assert_eq!(next("0 0 29 2 *", "2096-03-01T00:00:00Z"), Some(at("2104-02-29T00:00:00Z")));
        assert_eq!(next("0 0 28 2 *", "2100-02-27T00:00:00Z"), Some(at("2100-02-28T00:00:00Z")));
        assert_eq!(next("0 0 1 3 *", "2024-02-28T00:00:00Z"), Some(at("2024-03-01T00:00:00Z")));
    }

    #[test]
    fn impossible_dates_give_none() {
        assert_eq!(next("0 0 30 2 *", "2024-01-01T00:00:00Z"), None);
        assert_eq!(next("0 0 31 4,6,9,11 *", "2024-01-01T00:00:00Z"), None);
        assert_eq!(next("cron(0 0 30 2 ? *)", "2024-01-01T00:00:00Z"), None);
        assert_eq!(next("cron(0 0 29 2 ? 2025-2027)", "2024-03-01T00:00:00Z"), None);
        assert_eq!(next("cron(0 0 1 1 ? 2030)", "2030-01-01T00:00:00Z"), None);
        // Past chrono's last year.
        let near_end = (NaiveDate::MAX - TimeDelta::days(200)).and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(CronExpr::parse("0 0 1 1 *").unwrap().next_after(near_end), None);
        assert_eq!(CronExpr::parse("* * * * *").unwrap().next_after(DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn day_of_week_five_field() {
        // 2024-03-08 is a Friday.
        assert_eq!(seq("0 9 * * MON-FRI", "2024-03-08T10:00:00Z", 2), ["2024-03-11T09:00", "2024-03-12T09:00"]);
        let sun = ["2024-03-10T00:00", "2024-03-17T00:00"];
        assert_eq!(seq("0 0 * * 0", "2024-03-08T00:00:00Z", 2), sun);
        assert_eq!(seq("0 0 * * 7", "2024-03-08T00:00:00Z", 2), sun);
        assert_eq!(seq("0 0 * * sun", "2024-03-08T00:00:00Z", 2), sun);
        assert_eq!(seq("0 0 ? * SUN", "2024-03-08T00:00:00Z", 2), sun);
        assert_eq!(
            seq("0 0 * * 5-7", "2024-03-08T12:00:00Z", 3),
            ["2024-03-09T00:00", "2024-03-10T00:00", "2024-03-15T00:00"]
        );
        // Sunday, Tuesday, Thursday, Saturday.
        assert_eq!(
            seq("0 0 * * */2", "2024-03-08T12:00:00Z", 4),
            ["2024-03-09T00:00", "2024-03-10T00:00", "2024-03-12T00:00", "2024-03-14T00:00"]
        );
        // Vault's example: Saturdays at midnight.
        assert_eq!(next("0 0 * * SAT", "2024-03-08T12:00:00Z"), Some(at("2024-03-09T00:00:00Z")));
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // 2024-05-28 is a Tuesday; 1 June a Saturday, 3 June a Monday.
        assert_eq!(
            seq("0 0 1 * MON", "2024-05-28T00:00:00Z", 3),
            ["2024-06-01T00:00", "2024-06-03T00:00", "2024-06-10T00:00"]
        );
        // A stepped day-of-month counts as restricted (robfig/cron).
        assert_eq!(
            seq("0 0 */10 * MON", "2024-05-28T00:00:00Z", 3),
            ["2024-05-31T00:00", "2024-06-01T00:00", "2024-06-03T00:00"]
        );
        // With `*` on one side, both must hold: Mondays only.
        assert_eq!(seq("0 0 * * MON", "2024-05-28T00:00:00Z", 2), ["2024-06-03T00:00", "2024-06-10T00:00"]);
    }

    #[test]
    fn month_names_and_numbers() {
        assert_eq!(next("0 0 1 JAN,jul *", "2024-02-01T00:00:00Z"), Some(at("2024-07-01T00:00:00Z")));
        assert_eq!(next("0 0 1 jan,7 *", "2024-07-01T00:00:00Z"), Some(at("2025-01-01T00:00:00Z")));
        assert_eq!(
            seq("0 0 1 MAR-MAY *", "2024-01-01T00:00:00Z", 4),
            ["2024-03-01T00:00", "2024-04-01T00:00", "2024-05-01T00:00", "2025-03-01T00:00"]
        );
        assert_eq!(
            seq("0 0 1 */4 *", "2024-01-01T00:00:00Z", 3),
            ["2024-05-01T00:00", "2024-09-01T00:00", "2025-01-01T00:00"]
        );
    }

    #[test]
    fn aws_examples() {
        // ROTATION.md's example and AWS's documented expressions.
        assert_eq!(seq("cron(0 4 * * ? *)", "2024-01-01T05:00:00Z", 2), ["2024-01-02T04:00", "2024-01-03T04:00"]);
        assert_eq!(next("cron(0 10 * * ? *)", "2024-01-01T09:00:00Z"), Some(at("2024-01-01T10:00:00Z")));
        assert_eq!(next("cron(15 12 * * ? *)", "2024-01-01T12:15:00Z"), Some(at("2024-01-02T12:15:00Z")));
        // 2024-03-08 is a Friday.
        assert_eq!(
            seq("cron(0 18 ? * MON-FRI *)", "2024-03-08T18:00:00Z", 2),
            ["2024-03-11T18:00", "2024-03-12T18:00"]
        );
        assert_eq!(next("cron(0 8 1 * ? *)", "2024-01-01T08:00:00Z"), Some(at("2024-02-01T08:00:00Z")));
        assert_eq!(seq("cron(0/15 * * * ? *)", "2024-01-01T00:50:00Z", 2), ["2024-01-01T01:00", "2024-01-01T01:15"]);
        assert_eq!(
            seq("cron(0/10 * ? * MON-FRI *)", "2024-03-08T23:55:00Z", 2),
            ["2024-03-11T00:00", "2024-03-11T00:10"]
        );
        assert_eq!(
            seq("cron(0/5 8-17 ? * MON-FRI *)", "2024-03-11T17:50:00Z", 3),
            ["2024-03-11T17:55", "2024-03-12T08:00", "2024-03-12T08:05"]
        );
        // Secrets Manager: increments of hours reset each day.
        assert_eq!(
            seq("cron(0 4/12 * * ? *)", "2024-01-01T00:00:00Z", 3),
            ["2024-01-01T04:00", "2024-01-01T16:00", "2024-01-02T04:00"]
        );
        assert_eq!(
            seq("cron(0 8 1/7 * ? *)", "2024-01-01T09:00:00Z", 5),
            ["2024-01-08T08:00", "2024-01-15T08:00", "2024-01-22T08:00", "2024-01-29T08:00", "2024-02-01T08:00"]
        );
        assert_eq!(
            seq("cron(0 8/8 * * ? *)", "2024-01-01T00:00:00Z", 3),
            ["2024-01-01T08:00", "2024-01-01T16:00", "2024-01-02T08:00"]
        );
    }

    #[test]
    fn aws_day_of_week_numbers_sunday_as_one() {
        // 2024-03-08 is a Friday.
        assert_eq!(next("cron(0 0 ? * 1 *)", "2024-03-08T00:00:00Z"), Some(at("2024-03-10T00:00:00Z")));
        assert_eq!(next("cron(0 0 ? * 7 *)", "2024-03-08T00:00:00Z"), Some(at("2024-03-09T00:00:00Z")));
        assert_eq!(next("cron(0 0 ? * 2-6 *)", "2024-03-08T00:00:00Z"), Some(at("2024-03-11T00:00:00Z")));
        assert_eq!(next("cron(0 0 ? * L *)", "2024-03-08T00:00:00Z"), Some(at("2024-03-09T00:00:00Z")));
        assert_eq!(next("cron(0 0 ? * SAT-SAT *)", "2024-03-08T00:00:00Z"), Some(at("2024-03-09T00:00:00Z")));
    }

    #[test]
    fn aws_last_and_weekday_of_month() {
        assert_eq!(
            seq("cron(0 16 L * ? *)", "2024-01-01T00:00:00Z", 4),
            ["2024-01-31T16:00", "2024-02-29T16:00", "2024-03-31T16:00", "2024-04-30T16:00"]
        );
        assert_eq!(
            seq("cron(0 0 1,L * ? *)", "2024-01-15T00:00:00Z", 3),
            ["2024-01-31T00:00", "2024-02-01T00:00", "2024-02-29T00:00"]
        );
        // Last weekday: 2024-03-31 is a Sunday, 2024-08-31 a Saturday, 2024-07-31 a Wednesday.
        assert_eq!(next("cron(0 0 LW * ? *)", "2024-03-01T00:00:00Z"), Some(at("2024-03-29T00:00:00Z")));
        assert_eq!(next("cron(0 0 LW 8 ? *)", "2024-03-01T00:00:00Z"), Some(at("2024-08-30T00:00:00Z")));
        assert_eq!(next("cron(0 0 LW 7 ? *)", "2024-03-01T00:00:00Z"), Some(at("2024-07-31T00:00:00Z")));
        // Nearest weekday: 2024-06-15 is a Saturday, 2024-09-15 a Sunday, 2024-05-15 a Wednesday.
        assert_eq!(next("cron(0 0 15W 6 ? *)", "2024-01-01T00:00:00Z"), Some(at("2024-06-14T00:00:00Z")));
        assert_eq!(next("cron(0 0 15W 9 ? *)", "2024-01-01T00:00:00Z"), Some(at("2024-09-16T00:00:00Z")));
        assert_eq!(next("cron(0 0 15W 5 ? *)", "2024-01-01T00:00:00Z"), Some(at("2024-05-15T00:00:00Z")));
        // Not across the month: 2024-06-01 is a Saturday (→ Monday 3rd), 2024-06-30 a Sunday (→ Friday 28th).
        assert_eq!(next("cron(0 0 1W 6 ? *)", "2024-01-01T00:00:00Z"), Some(at("2024-06-03T00:00:00Z")));
        assert_eq!(next("cron(0 0 30W 6 ? *)", "2024-01-01T00:00:00Z"), Some(at("2024-06-28T00:00:00Z")));
        // 31W never fires in a 30-day month.
        assert_eq!(next("cron(0 0 31W 6 ? *)", "2024-01-01T00:00:00Z"), None);
    }

    #[test]
    fn aws_nth_and_last_day_of_week() {
        // First Monday: 2024-01-01, 2024-02-05, 2024-03-04.
        assert_eq!(
            seq("cron(0 9 ? * 2#1 *)", "2023-12-31T00:00:00Z", 3),
            ["2024-01-01T09:00", "2024-02-05T09:00", "2024-03-04T09:00"]
        );
        assert_eq!(seq("cron(0 0 ? * SUN#1 *)", "2024-01-01T00:00:00Z", 2), ["2024-01-07T00:00", "2024-02-04T00:00"]);
        // Second Tuesday (Patch Tuesday).
        assert_eq!(seq("cron(0 18 ? * 3#2 *)", "2024-01-01T00:00:00Z", 2), ["2024-01-09T18:00", "2024-02-13T18:00"]);
        // A fifth Friday exists only in some months: 2024-03-29, 2024-05-31.
        assert_eq!(seq("cron(0 0 ? * FRI#5 *)", "2024-01-01T00:00:00Z", 2), ["2024-03-29T00:00", "2024-05-31T00:00"]);
        // Last Friday: 2024-01-26, 2024-02-23, 2024-03-29.
        assert_eq!(
            seq("cron(0 0 ? * 6L *)", "2024-01-01T00:00:00Z", 3),
            ["2024-01-26T00:00", "2024-02-23T00:00", "2024-03-29T00:00"]
        );
        assert_eq!(next("cron(0 0 ? * FRIL *)", "2024-01-01T00:00:00Z"), Some(at("2024-01-26T00:00:00Z")));
    }

    #[test]
    fn aws_year_field() {
        assert_eq!(next("cron(0 0 1 1 ? 2030)", "2025-06-01T00:00:00Z"), Some(at("2030-01-01T00:00:00Z")));
        assert_eq!(next("cron(0 0 1 1 ? 2150)", "2025-06-01T00:00:00Z"), Some(at("2150-01-01T00:00:00Z")));
        assert_eq!(
            seq("cron(0 0 1 1 ? 2026-2030/2)", "2025-06-01T00:00:00Z", 3),
            ["2026-01-01T00:00", "2028-01-01T00:00", "2030-01-01T00:00"]
        );
        assert_eq!(next("cron(0 0 1 1 ? 2026-2030/2)", "2030-01-01T00:00:00Z"), None);
        assert_eq!(next("cron(0 0 1 1 ? 2026,2024)", "2024-01-01T00:00:00Z"), Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(next("cron(0 0 1 1 ? *)", "2199-01-01T00:00:00Z"), Some(at("2200-01-01T00:00:00Z")));
        assert_eq!(next("cron(0 0 1 1 ? 1990)", "1900-01-01T00:00:00Z"), Some(at("1990-01-01T00:00:00Z")));
    }

    #[test]
    fn far_searches_are_fast() {
        let start = std::time::Instant::now();
        for expr in ["0 0 30 2 *", "cron(0 0 31 2 ? *)", "cron(0 0 1 1 ? 2199)", "59 23 31 12 *", "0 0 29 2 MON"] {
            let c = CronExpr::parse(expr).unwrap();
            for _ in 0..100 {
                let _ = c.next_after(at("2024-01-01T00:00:00Z"));
            }
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    #[test]
    fn range_errors_name_the_field() {
        assert_eq!(err("0 25 * * *"), "cron: hour 25 is out of range 0-23");
        assert_eq!(err("60 0 * * *"), "cron: minute 60 is out of range 0-59");
        assert_eq!(err("0 0 0 * *"), "cron: day-of-month 0 is out of range 1-31");
        assert_eq!(err("0 0 32 * *"), "cron: day-of-month 32 is out of range 1-31");
        assert_eq!(err("0 0 * 13 *"), "cron: month 13 is out of range 1-12");
        assert_eq!(err("0 0 * * 8"), "cron: day-of-week 8 is out of range 0-7");
        assert_eq!(err("cron(0 0 ? * 0 *)"), "cron: day-of-week 0 is out of range 1-7");
        assert_eq!(err("cron(0 0 1 * ? 2200)"), "cron: year 2200 is out of range 1970-2199");
        assert_eq!(err("cron(0 0 1 * ? 1969)"), "cron: year 1969 is out of range 1970-2199");
        assert_eq!(err("0 0-30 * * *"), "cron: hour 30 is out of range 0-23");
        assert_eq!(err("99999999999 0 * * *"), "cron: minute 99999999999 is out of range 0-59");
        assert_eq!(err("cron(0 0 ? * 2#6 *)"), "cron: day-of-week occurrence in 2#6 must be 1-5");
        assert_eq!(err("cron(0 0 ? * 2#0 *)"), "cron: day-of-week occurrence in 2#0 must be 1-5");
        assert_eq!(err("cron(0 0 32W * ? *)"), "cron: day-of-month 32 is out of range 1-31");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("0 x * * *"), "cron: hour value \"X\" is not a number");
        assert_eq!(err("0 0 * FOO *"), "cron: month value \"FOO\" is not a number or a name JAN-DEC");
        assert_eq!(err("0 0 * * FUN"), "cron: day-of-week value \"FUN\" is not a number or a name SUN-SAT");
        assert_eq!(err("*/0 * * * *"), "cron: minute step \"0\" must be a positive number");
        assert_eq!(err("*/x * * * *"), "cron: minute step \"X\" must be a positive number");
        assert_eq!(err("0 20-10 * * *"), "cron: hour range 20-10 runs backwards");
        assert_eq!(err("0 0 * * FRI-MON"), "cron: day-of-week range FRI-MON runs backwards");
        assert_eq!(err("0 1,,2 * * *"), "cron: empty item in hour field \"1,,2\"");
        assert_eq!(err("0 1- * * *"), "cron: hour value \"\" is not a number");
        assert_eq!(err("-1 0 * * *"), "cron: minute value \"\" is not a number");
        assert_eq!(err("? 0 * * *"), "cron: ? is only allowed in day-of-month and day-of-week, not in minute");
        assert_eq!(err("0 0 ?,1 * *"), "cron: ? must be the whole day-of-month field");
        assert_eq!(err("0 0 ?/2 * *"), "cron: ? cannot take a step in day-of-month");
        assert!(err("0 0 * *").starts_with("cron: expected 5 fields"));
        assert!(err("0 0 * * * *").starts_with("cron: expected 5 fields"));
        assert!(err("").starts_with("cron: expected 5 fields"));
        assert!(err("cron(0 0 * * ?)").starts_with("cron: expected 6 fields"));
        assert!(err("cron(0 0 * * ? * *)").starts_with("cron: expected 6 fields"));
        assert_eq!(err("cron(0 10 * * ? *"), "cron: missing the closing ) in cron(...)");
    }

    #[test]
    fn aws_day_field_rules() {
        assert_eq!(err("cron(0 10 * * * *)"), "cron: one of day-of-month and day-of-week must be ? in cron(...)");
        assert_eq!(err("cron(0 10 1 * MON *)"), "cron: one of day-of-month and day-of-week must be ? in cron(...)");
        assert_eq!(err("cron(0 10 ? * ? *)"), "cron: day-of-month and day-of-week cannot both be ?");
        assert_eq!(
            err("cron(0 0 ? * 2#1,3#2 *)"),
            "cron: day-of-week 2#1,3#2 may hold only one expression when it uses #"
        );
        assert_eq!(err("0 0 L * *"), "cron: day-of-month L (L, W) needs the AWS cron(...) form");
        assert_eq!(err("0 0 15W * *"), "cron: day-of-month 15W (L, W) needs the AWS cron(...) form");
        assert_eq!(err("0 0 * * 5L"), "cron: day-of-week 5L (L, #) needs the AWS cron(...) form");
        assert_eq!(err("0 0 * * 1#2"), "cron: day-of-week 1#2 (L, #) needs the AWS cron(...) form");
        assert_eq!(err("cron(0 0 ? * 9L *)"), "cron: day-of-week 9 is out of range 1-7");
        assert_eq!(err("cron(0 0 L-2 * ? *)"), "cron: day-of-month value \"L\" is not a number");
    }

    #[test]
    fn canonical_text_round_trips() {
        for (input, canonical) in [
            ("0 4 * * *", "0 4 * * *"),
            ("  0   0 *  * sat ", "0 0 * * SAT"),
            ("*/15 1-5/2 1,15 jan-jun mon-fri", "*/15 1-5/2 1,15 JAN-JUN MON-FRI"),
            ("cron(0 10 * * ? *)", "cron(0 10 * * ? *)"),
            ("CRON( 0 4  * * ?  * )", "cron(0 4 * * ? *)"),
            ("cron(0 0 ? * sun#1 *)", "cron(0 0 ? * SUN#1 *)"),
            ("cron(0 16 l * ? 2025-2030/2)", "cron(0 16 L * ? 2025-2030/2)"),
            ("cron(0 0 lw,15w * ? *)", "cron(0 0 LW,15W * ? *)"),
        ] {
            let c = CronExpr::parse(input).unwrap();
            assert_eq!(c.as_str(), canonical);
            assert_eq!(c.to_string(), canonical);
            assert_eq!(CronExpr::parse(c.as_str()).unwrap(), c);
            assert_eq!(c.is_aws(), canonical.starts_with("cron("));
        }
        assert_eq!(format!("{:?}", CronExpr::parse("0 4 * * *").unwrap()), "CronExpr(\"0 4 * * *\")");
    }

    #[test]
    fn serde_uses_the_text_and_validates() {
        let c = CronExpr::parse("cron(0 4 * * ? *)").unwrap();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"cron(0 4 * * ? *)\"");
        assert_eq!(serde_json::from_str::<CronExpr>(&j).unwrap(), c);
        let e = serde_json::from_str::<CronExpr>("\"0 25 * * *\"").unwrap_err();
        assert!(e.to_string().contains("hour 25 is out of range 0-23"), "{e}");
    }
}
