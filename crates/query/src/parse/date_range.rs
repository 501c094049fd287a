//! `date_range` parsing and resolution (spec §1.3), and the ISO-8601 rendering used by the
//! echo (§1.4).

use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use regex::Regex;
use serde_json::Value;

use crate::ast::{DateRange, DateRangeInput};
use crate::inspect::{inspect_json, inspect_str};

/// Parses the (schema-valid) `date_range` value (Plausible's `parse_input_date_range`).
pub fn parse_input(value: &Value) -> Result<DateRangeInput, String> {
    match value {
        Value::String(s) => parse_shorthand(s),
        Value::Array(items) if items.len() == 2 => match (&items[0], &items[1]) {
            (Value::String(from), Value::String(to)) => parse_pair(from, to),
            _ => Err(format!("Invalid date_range {}", inspect_json(value))),
        },
        other => Err(format!("Invalid date_range {}", inspect_json(other))),
    }
}

fn parse_shorthand(s: &str) -> Result<DateRangeInput, String> {
    match s {
        "day" => return Ok(DateRangeInput::Day),
        "month" => return Ok(DateRangeInput::Month),
        "year" => return Ok(DateRangeInput::Year),
        "all" => return Ok(DateRangeInput::All),
        "24h" => return Ok(DateRangeInput::Last24Hours),
        _ => {}
    }
    let err = || format!("Invalid date_range {}", inspect_str(s));
    // Elixir's Integer.parse: optional sign, digits, then the rest.
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    let digits_end = unsigned.find(|c: char| !c.is_ascii_digit()).unwrap_or(unsigned.len());
    if digits_end == 0 {
        return Err(err());
    }
    let n: Option<u64> = unsigned[..digits_end].parse().ok();
    match (n, &unsigned[digits_end..]) {
        (Some(n), "d") if (1..=5000).contains(&n) => Ok(DateRangeInput::LastNDays(n as u32)),
        (Some(n), "mo") if (1..=100).contains(&n) => Ok(DateRangeInput::LastNMonths(n as u32)),
        _ => Err(err()),
    }
}

/// A `[from, to]` pair: two dates, else two datetimes with offsets.
pub fn parse_pair(from: &str, to: &str) -> Result<DateRangeInput, String> {
    if let (Some(a), Some(b)) = (parse_date(from), parse_date(to)) {
        return Ok(DateRangeInput::Dates(a, b));
    }
    match (parse_datetime(from), parse_datetime(to)) {
        (Some(a), Some(b)) => Ok(DateRangeInput::DateTimes(a, b)),
        _ => Err(format!(
            "Invalid date_range '{}'.",
            inspect_json(&Value::Array(vec![Value::String(from.into()), Value::String(to.into())]))
        )),
    }
}

/// Elixir's `Date.from_iso8601/1` (extended format `YYYY-MM-DD`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})\z").expect("regex"));
    let c = re.captures(s)?;
    NaiveDate::from_ymd_opt(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)
}

/// Elixir's `DateTime.from_iso8601/1` for what the schema lets through: a date, `T` or a space,
/// a time with optional fraction, and a mandatory offset (`Z`, `±HH:MM`, `±HHMM`, `±HH`;
/// `-00:00` is rejected).
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)\z",
        )
        .expect("regex")
    });
    let c = re.captures(s)?;
    let date = NaiveDate::from_ymd_opt(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)?;
    let time = NaiveTime::from_hms_opt(c[4].parse().ok()?, c[5].parse().ok()?, c[6].parse().ok()?)?;
    let offset_str = &c[8];
    let offset_secs = if offset_str.eq_ignore_ascii_case("z") {
        0
    } else {
        let sign = if offset_str.starts_with('-') { -1 } else { 1 };
        let digits: String = offset_str[1..].chars().filter(char::is_ascii_digit).collect();
        let hours: i32 = digits[..2].parse().ok()?;
        let minutes: i32 = if digits.len() >= 4 { digits[2..4].parse().ok()? } else { 0 };
        if hours > 23 || minutes > 59 || (sign < 0 && hours == 0 && minutes == 0) {
            return None;
        }
        sign * (hours * 3600 + minutes * 60)
    };
    let offset = FixedOffset::east_opt(offset_secs)?;
    // Fractions are dropped (DateTimeRange truncates to whole seconds).
    offset.from_local_datetime(&NaiveDateTime::new(date, time)).single()
}

/// Today in `tz`.
pub fn today(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Resolves a parsed `date_range` into instants (Plausible's `build_datetime_range`).
pub fn resolve(input: &DateRangeInput, tz: Tz, now: DateTime<Utc>, stats_start_date: Option<NaiveDate>) -> DateRange {
    let today = today(tz, now);
    match input {
        DateRangeInput::Day => from_dates(today, today, tz),
        DateRangeInput::Last24Hours => {
            let last = truncate(now);
            let first = last - Duration::hours(24);
            DateRange { first: first.with_timezone(&tz), last: last.with_timezone(&tz) }
        }
        DateRangeInput::LastNDays(n) => from_dates(today - Duration::days(*n as i64), today - Duration::days(1), tz),
        DateRangeInput::Month => from_dates(start_of_month(today), end_of_month(today), tz),
        DateRangeInput::LastNMonths(n) => {
            let first = start_of_month(today.checked_sub_months(Months::new(*n)).unwrap_or(today));
            let last = end_of_month(today.checked_sub_months(Months::new(1)).unwrap_or(today));
            from_dates(first, last, tz)
        }
        DateRangeInput::Year => from_dates(
            NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
            NaiveDate::from_ymd_opt(today.year(), 12, 31).unwrap_or(today),
            tz,
        ),
        DateRangeInput::All => from_dates(stats_start_date.unwrap_or(today), today, tz),
        DateRangeInput::Dates(a, b) => from_dates(*a, *b, tz),
        DateRangeInput::DateTimes(a, b) => DateRange {
            first: truncate(a.with_timezone(&Utc)).with_timezone(&tz),
            last: truncate(b.with_timezone(&Utc)).with_timezone(&tz),
        },
    }
}

fn truncate(dt: DateTime<Utc>) -> DateTime<Utc> {
    dt.with_nanosecond(0).unwrap_or(dt)
}

fn start_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn end_of_month(d: NaiveDate) -> NaiveDate {
    start_of_month(d).checked_add_months(Months::new(1)).and_then(|n| n.pred_opt()).unwrap_or(d)
}

/// `first 00:00:00 .. last 23:59:59` in `tz` (Plausible's `DateTimeRange.new!/3`): a start in
/// a DST gap becomes the first instant after the gap, an ambiguous start the later instant; an
/// end in a gap becomes the last second before the gap, an ambiguous end the earlier instant.
pub fn from_dates(first: NaiveDate, last: NaiveDate, tz: Tz) -> DateRange {
    let start = NaiveDateTime::new(first, NaiveTime::MIN);
    let end = NaiveDateTime::new(last, NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
    DateRange { first: local_instant(tz, start, true), last: local_instant(tz, end, false) }
}

/// A date's midnight in `tz` as Plausible's `DateTime.new(date, ~T[00:00:00], tz)` resolves it: the earlier
/// instant when midnight is ambiguous, the instant just before the gap when it does not exist.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => local_instant(tz, midnight, true).with_timezone(&Utc) - Duration::seconds(1),
    }
}

/// Maps a wall-clock time to an instant. `is_start` selects the gap / ambiguity rule.
pub fn local_instant(tz: Tz, naive: NaiveDateTime, is_start: bool) -> DateTime<Tz> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => dt,
        LocalResult::Ambiguous(a, b) => {
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            if is_start {
                late
            } else {
                early
            }
        }
        LocalResult::None => {
            let transition = gap_end(tz, naive);
            if is_start {
                transition
            } else {
                transition - Duration::seconds(1)
            }
        }
    }
}

/// The first instant whose wall-clock time is after `naive` (which lies in a gap): the instant
/// the gap ends.
fn gap_end(tz: Tz, naive: NaiveDateTime) -> DateTime<Tz> {
    let base = naive.and_utc().timestamp();
    let after = |ts: i64| -> bool {
        let utc = DateTime::<Utc>::from_timestamp(ts, 0).expect("in range");
        utc.with_timezone(&tz).naive_local() > naive
    };
    let (mut lo, mut hi) = (base - 26 * 3600, base + 26 * 3600);
    // Invariant: !after(lo), after(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if after(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::<Utc>::from_timestamp(hi, 0).expect("in range").with_timezone(&tz)
}

/// Renders an instant like Elixir's `DateTime.to_iso8601/1` in `tz`: `2024-09-04T00:00:00+03:00`;
/// the zone `Etc/UTC` renders its zero offset as `Z`.
pub fn to_iso8601(dt: &DateTime<Tz>) -> String {
    let tz = dt.timezone();
    let base = dt.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string();
    if tz.name() == "Etc/UTC" {
        return format!("{base}Z");
    }
    let secs = dt.offset().fix().local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.abs();
    let (h, m, s) = (abs / 3600, (abs % 3600) / 60, abs % 60);
    if s == 0 {
        format!("{base}{sign}{h:02}:{m:02}")
    } else {
        format!("{base}{sign}{h:02}:{m:02}:{s:02}")
    }
}
