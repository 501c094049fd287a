//! Comparison range resolution (Plausible's `Stats.Comparisons.get_comparison_date_range`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::date_range::from_dates;
use crate::ast::{ComparisonMode, DateRange};

/// The comparison range for a source range (whole local days in `tz`).
///
/// * previous period: with `last' = min(last, today)`, both ends move back by
///   `last' - first + 1` days;
/// * year over year: `first - 365` .. `min(last, today) - 365`;
/// * custom: the given dates;
/// * `match_day_of_week` (not for custom): the start moves forward to the next date with the
///   source start's weekday (or back to the previous one if the next one is the source start
///   itself), and the end by the same number of days.
///
/// "today" is the UTC date of `now`, as in Plausible (`Date.compare/2` against `query.now`). A range that is
/// not whole local days (`24h`, date-times) moves by exact instants instead (see `shifted_instants`).
pub fn comparison_range(
    source: &DateRange,
    mode: &ComparisonMode,
    match_day_of_week: bool,
    tz: Tz,
    now: DateTime<Utc>,
) -> DateRange {
    let first = source.first_date();
    let last = source.last_date();
    if *source != from_dates(first, last, tz) {
        if let Some(r) = shifted_instants(source, mode, match_day_of_week) {
            return r;
        }
    }
    let today = now.date_naive();
    let (cmp_first, cmp_last) = match mode {
        ComparisonMode::PreviousPeriod => {
            let capped = last.min(today);
            let shift = Duration::days((first - capped).num_days() - 1);
            maybe_match_day_of_week((first + shift, capped + shift), first, match_day_of_week)
        }
        ComparisonMode::YearOverYear => {
            let start = first - Duration::days(365);
            let end = last.min(today) - Duration::days(365);
            maybe_match_day_of_week((start, end), first, match_day_of_week)
        }
        ComparisonMode::Custom(a, b) => (*a, *b),
    };
    from_dates(cmp_first, cmp_last, tz)
}

/// For a range of instants that is not whole days (`24h`, date-times): the same window moved back by its own
/// length (previous period; by whole weeks when matching the day of week) or by one calendar year.
fn shifted_instants(source: &DateRange, mode: &ComparisonMode, match_day_of_week: bool) -> Option<DateRange> {
    let length = source.last - source.first + Duration::seconds(1);
    let back = |d: Duration| DateRange { first: source.first - d, last: source.last - d };
    match mode {
        ComparisonMode::PreviousPeriod if match_day_of_week => {
            let weeks = (length.num_seconds() + 7 * 86_400 - 1) / (7 * 86_400);
            Some(back(Duration::weeks(weeks.max(1))))
        }
        ComparisonMode::PreviousPeriod => Some(back(length)),
        ComparisonMode::YearOverYear => {
            let year = chrono::Months::new(12);
            Some(DateRange {
                first: source.first.checked_sub_months(year)?,
                last: source.last.checked_sub_months(year)?,
            })
        }
        ComparisonMode::Custom(..) => None,
    }
}

fn maybe_match_day_of_week(
    range: (NaiveDate, NaiveDate),
    source_first: NaiveDate,
    enabled: bool,
) -> (NaiveDate, NaiveDate) {
    if !enabled {
        return range;
    }
    let day = source_first.weekday();
    let (first, last) = range;
    let new_first = if first.weekday() == day {
        first
    } else {
        let forward = (day.num_days_from_monday() as i64 - first.weekday().num_days_from_monday() as i64).rem_euclid(7);
        let backward = 7 - forward;
        let next = first + Duration::days(forward);
        let previous = first - Duration::days(backward);
        if next != source_first {
            next
        } else {
            previous
        }
    };
    let shifted = new_first - first;
    (new_first, last + shifted)
}
