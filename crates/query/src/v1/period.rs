//! v1 `period` / `date` / `interval` parameters (spec §4.1, §4.6).

use chrono::{Datelike, Duration, Months, NaiveDate};

/// The periods the v1 endpoints accept.
pub const PERIODS: [&str; 7] = ["day", "7d", "30d", "month", "6mo", "12mo", "custom"];

/// A validated v1 period with its anchor (`date`, default today in the site timezone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The anchor day.
    Day(NaiveDate),
    /// `7d` / `30d`: the N days before the anchor (the anchor itself excluded).
    LastNDays(u32, NaiveDate),
    /// The anchor's calendar month.
    Month(NaiveDate),
    /// `6mo` / `12mo`: N calendar months ending with (and including) the anchor's month.
    LastNMonths(u32, NaiveDate),
    /// `custom`: `date=A,B`.
    Custom(NaiveDate, NaiveDate),
}

impl Period {
    /// The inclusive local date range.
    pub fn dates(self) -> (NaiveDate, NaiveDate) {
        match self {
            Period::Day(d) => (d, d),
            Period::LastNDays(n, d) => (d - Duration::days(n as i64), d - Duration::days(1)),
            Period::Month(d) => (start_of_month(d), end_of_month(d)),
            Period::LastNMonths(n, d) => {
                let first = start_of_month(d).checked_sub_months(Months::new(n.saturating_sub(1))).unwrap_or(d);
                (first, end_of_month(d))
            }
            Period::Custom(a, b) => (a, b),
        }
    }

    /// The default timeseries interval (Plausible's `Interval.default_for_query`).
    pub fn default_interval(self) -> Interval {
        match self {
            Period::Day(_) => Interval::Hour,
            Period::LastNDays(..) | Period::Month(_) | Period::Custom(..) => Interval::Day,
            Period::LastNMonths(..) => Interval::Month,
        }
    }
}

/// A timeseries bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Month,
}

fn start_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn end_of_month(d: NaiveDate) -> NaiveDate {
    start_of_month(d).checked_add_months(Months::new(1)).and_then(|n| n.pred_opt()).unwrap_or(d)
}

/// Elixir's `Date.from_iso8601/1`: `Ok(date)`, or the error reason (`invalid_format` /
/// `invalid_date`) as rendered in the v1 message.
pub fn parse_iso_date(s: &str) -> Result<NaiveDate, &'static str> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let b = body.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return Err("invalid_format");
    }
    let year: i32 = body[0..4].parse().map_err(|_| "invalid_format")?;
    let month: u32 = body[5..7].parse().map_err(|_| "invalid_format")?;
    let day: u32 = body[8..10].parse().map_err(|_| "invalid_format")?;
    NaiveDate::from_ymd_opt(if negative { -year } else { year }, month, day).ok_or("invalid_date")
}

/// Validates `period` and `date` (Plausible's `validate_period` then `validate_date`) and resolves
/// the period; `today` is the current date in the site timezone.
pub fn parse_period(period: Option<&str>, date: Option<&str>, today: NaiveDate) -> Result<Period, String> {
    if let Some(p) = period {
        if !PERIODS.contains(&p) {
            return Err(format!(
                "Error parsing `period` parameter: invalid period `{p}`. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods"
            ));
        }
    }
    if period == Some("custom") {
        let Some(date) = date else {
            return Err("The `date` parameter is required when using a custom period. See https://plausible.io/docs/stats-api#time-periods".into());
        };
        let invalid = || {
            "Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See https://plausible.io/docs/stats-api#time-periods".to_string()
        };
        let parts: Vec<&str> = date.split(',').collect();
        let [from, to] = parts.as_slice() else {
            return Err(invalid());
        };
        let from = parse_iso_date(from.trim()).map_err(|_| invalid())?;
        let to = parse_iso_date(to.trim()).map_err(|_| invalid())?;
        return Ok(Period::Custom(from, to));
    }
    let anchor = match date {
        Some(d) => parse_iso_date(d).map_err(|reason| {
            format!("Error parsing `date` parameter: {reason}. Please specify a valid date in ISO-8601 format.")
        })?,
        None => today,
    };
    Ok(match period.unwrap_or("30d") {
        "day" => Period::Day(anchor),
        "7d" => Period::LastNDays(7, anchor),
        "month" => Period::Month(anchor),
        "6mo" => Period::LastNMonths(6, anchor),
        "12mo" => Period::LastNMonths(12, anchor),
        _ => Period::LastNDays(30, anchor),
    })
}

/// Validates the timeseries `interval` (legacy `date` means `day`); `None` when absent.
pub fn parse_interval(interval: Option<&str>) -> Result<Option<Interval>, String> {
    match interval {
        None => Ok(None),
        Some("day") | Some("date") => Ok(Some(Interval::Day)),
        Some("month") => Ok(Some(Interval::Month)),
        Some(other) => Err(format!(
            "Error parsing `interval` parameter: invalid interval `{other}`. Valid intervals are `day`, `month`"
        )),
    }
}
