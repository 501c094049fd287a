//! `date_range` resolution (spec §1.3), with Plausible's fixed now 2021-05-05 12:30:00 UTC.

#[path = "parse_helpers.rs"]
mod helpers;

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use helpers::*;
use serde_json::{json, Value};
use tally_query::ast::DateRangeInput;

fn utc(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn range_of(site: &tally_query::SiteContext, date_range: Value) -> (NaiveDateTime, NaiveDateTime) {
    let q = ok_with(site, body(json!({ "date_range": date_range })));
    (q.date_range.first_utc(), q.date_range.last_utc())
}

fn utc_range(date_range: Value) -> (String, String) {
    let (a, b) = range_of(&site(), date_range);
    (a.format("%Y-%m-%d %H:%M:%S").to_string(), b.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn days(first: &str, last: &str) -> (String, String) {
    (format!("{first} 00:00:00"), format!("{last} 23:59:59"))
}

#[test]
fn date_sets_the_day_relative_ranges_count_from() {
    let at = |date: &str, range: &str| {
        let q = ok_with(&site(), body(json!({ "date_range": range, "date": date })));
        let fmt = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
        (fmt(q.date_range.first_utc()), fmt(q.date_range.last_utc()))
    };
    assert_eq!(at("2021-06-10", "28d"), days("2021-05-13", "2021-06-09"));
    assert_eq!(at("2022-07-01", "91d"), days("2022-04-01", "2022-06-30"));
    assert_eq!(at("2021-06-10", "day"), days("2021-06-10", "2021-06-10"));
    // In a timezone whose midnight is skipped, the day is still that date.
    let santiago = site_in("America/Santiago".parse::<Tz>().unwrap());
    let q = ok_with(&santiago, body(json!({ "date_range": "day", "date": "2022-09-11" })));
    assert_eq!(q.date_range.first_date(), NaiveDate::from_ymd_opt(2022, 9, 11).unwrap());
}

#[test]
fn shorthands() {
    assert_eq!(utc_range(json!("day")), days("2021-05-05", "2021-05-05"));
    assert_eq!(utc_range(json!("7d")), days("2021-04-28", "2021-05-04"));
    assert_eq!(utc_range(json!("10d")), days("2021-04-25", "2021-05-04"));
    assert_eq!(utc_range(json!("30d")), days("2021-04-05", "2021-05-04"));
    assert_eq!(utc_range(json!("91d")), days("2021-02-03", "2021-05-04"));
    assert_eq!(utc_range(json!("month")), days("2021-05-01", "2021-05-31"));
    assert_eq!(utc_range(json!("3mo")), days("2021-02-01", "2021-04-30"));
    assert_eq!(utc_range(json!("6mo")), days("2020-11-01", "2021-04-30"));
    assert_eq!(utc_range(json!("12mo")), days("2020-05-01", "2021-04-30"));
    assert_eq!(utc_range(json!("year")), days("2021-01-01", "2021-12-31"));
}

#[test]
fn shorthand_inputs_are_recorded() {
    assert_eq!(ok(body(json!({"date_range": "7d"}))).date_range_input, DateRangeInput::LastNDays(7));
    assert_eq!(ok(body(json!({"date_range": "6mo"}))).date_range_input, DateRangeInput::LastNMonths(6));
    assert_eq!(ok(body(json!({"date_range": "all"}))).date_range_input, DateRangeInput::All);
}

#[test]
fn last_24_hours() {
    assert_eq!(utc_range(json!("24h")), ("2021-05-04 12:30:00".to_string(), "2021-05-05 12:30:00".to_string()));
}

#[test]
fn all_without_data_is_today() {
    assert_eq!(utc_range(json!("all")), days("2021-05-05", "2021-05-05"));
}

#[test]
fn all_from_stats_start_date() {
    let mut s = site();
    s.stats_start_date = NaiveDate::from_ymd_opt(2020, 1, 1);
    assert_eq!(range_of(&s, json!("all")), (utc("2020-01-01 00:00:00"), utc("2021-05-05 23:59:59")));
}

#[test]
fn date_pairs() {
    assert_eq!(utc_range(json!(["2021-05-05", "2021-05-05"])), days("2021-05-05", "2021-05-05"));
    assert_eq!(utc_range(json!(["2020-12-20", "2021-01-08"])), days("2020-12-20", "2021-01-08"));
}

#[test]
fn datetime_pairs() {
    assert_eq!(
        utc_range(json!(["2024-01-01T00:00:00Z", "2024-01-02T23:59:59Z"])),
        ("2024-01-01 00:00:00".to_string(), "2024-01-02 23:59:59".to_string())
    );
    assert_eq!(
        utc_range(json!(["2024-08-29T07:12:34-07:00", "2024-08-29T10:12:34-07:00"])),
        ("2024-08-29 14:12:34".to_string(), "2024-08-29 17:12:34".to_string())
    );
    // Fractions are truncated to whole seconds.
    assert_eq!(
        utc_range(json!(["2024-01-01T00:00:00.999Z", "2024-01-01T10:00:00.5+01:00"])),
        ("2024-01-01 00:00:00".to_string(), "2024-01-01 09:00:00".to_string())
    );
}

#[test]
fn datetime_pairs_echo_in_site_timezone() {
    let s = site_in("Europe/Tallinn".parse().unwrap());
    let q = ok_with(&s, body(json!({"date_range": ["2024-09-10T18:53:17Z", "2024-09-11T02:59:59Z"]})));
    assert_eq!(q.echo()["date_range"], json!(["2024-09-10T21:53:17+03:00", "2024-09-11T05:59:59+03:00"]));
}

fn local_day(tz: &str, date: &str) -> (NaiveDateTime, NaiveDateTime) {
    let s = site_in(tz.parse::<Tz>().unwrap());
    range_of(&s, json!([date, date]))
}

#[test]
fn start_in_dst_gap_is_first_instant_after_the_gap() {
    // America/Santiago skips 2022-09-11 00:00..01:00.
    assert_eq!(local_day("America/Santiago", "2022-09-11"), (utc("2022-09-11 04:00:00"), utc("2022-09-12 02:59:59")));
}

#[test]
fn ambiguous_start_is_the_later_instant() {
    // America/Havana repeats 2023-11-05 00:00..01:00.
    assert_eq!(local_day("America/Havana", "2023-11-05"), (utc("2023-11-05 05:00:00"), utc("2023-11-06 04:59:59")));
}

#[test]
fn ambiguous_end_is_the_earlier_instant() {
    // America/Asuncion repeats 2024-03-23 23:00..24:00.
    assert_eq!(local_day("America/Asuncion", "2024-03-23"), (utc("2024-03-23 03:00:00"), utc("2024-03-24 02:59:59")));
}

#[test]
fn end_in_dst_gap_is_the_last_second_before_the_gap() {
    // Pacific/Apia skipped the whole of 2011-12-30.
    assert_eq!(local_day("Pacific/Apia", "2011-12-30"), (utc("2011-12-30 10:00:00"), utc("2011-12-30 09:59:59")));
}

#[test]
fn tallinn_dst_days() {
    // Spring forward 2024-03-31 03:00 EET -> 04:00 EEST (a 23-hour day).
    assert_eq!(local_day("Europe/Tallinn", "2024-03-31"), (utc("2024-03-30 22:00:00"), utc("2024-03-31 20:59:59")));
    // Fall back 2024-10-27 04:00 EEST -> 03:00 EET (a 25-hour day).
    assert_eq!(local_day("Europe/Tallinn", "2024-10-27"), (utc("2024-10-26 21:00:00"), utc("2024-10-27 21:59:59")));
    let s = site_in("Europe/Tallinn".parse().unwrap());
    let q = ok_with(&s, body(json!({"date_range": ["2024-10-27", "2024-10-27"]})));
    assert_eq!(q.echo()["date_range"], json!(["2024-10-27T00:00:00+03:00", "2024-10-27T23:59:59+02:00"]));
}

#[test]
fn new_york_dst_days() {
    assert_eq!(local_day("America/New_York", "2024-03-10"), (utc("2024-03-10 05:00:00"), utc("2024-03-11 03:59:59")));
    assert_eq!(local_day("America/New_York", "2024-11-03"), (utc("2024-11-03 04:00:00"), utc("2024-11-04 04:59:59")));
    let s = site_in("America/New_York".parse().unwrap());
    let q = ok_with(&s, body(json!({"date_range": ["2024-03-10", "2024-03-10"]})));
    assert_eq!(q.echo()["date_range"], json!(["2024-03-10T00:00:00-05:00", "2024-03-10T23:59:59-04:00"]));
}

#[test]
fn today_is_taken_in_the_site_timezone() {
    // 2021-05-05 12:30 UTC is already 2021-05-06 in Pacific/Kiritimati (+14).
    let s = site_in("Pacific/Kiritimati".parse().unwrap());
    let q = ok_with(&s, body(json!({"date_range": "day"})));
    assert_eq!(q.date_range.first_date(), NaiveDate::from_ymd_opt(2021, 5, 6).unwrap());
    assert_eq!(q.date_range.first_utc(), utc("2021-05-05 10:00:00"));
}

#[test]
fn timezone_extension_overrides_the_site_timezone() {
    let q = ok(body(json!({"date_range": "day", "timezone": "Europe/Tallinn"})));
    assert_eq!(q.timezone, "Europe/Tallinn".parse::<Tz>().unwrap());
    assert_eq!(q.date_range.first_utc(), utc("2021-05-04 21:00:00"));
    assert_eq!(q.echo()["date_range"], json!(["2021-05-05T00:00:00+03:00", "2021-05-05T23:59:59+03:00"]));
}

#[test]
fn etc_utc_echoes_z_other_zero_offsets_plus_zero() {
    let q = ok(body(json!({"date_range": "day"})));
    assert_eq!(q.echo()["date_range"], json!(["2021-05-05T00:00:00Z", "2021-05-05T23:59:59Z"]));
    let q = ok(body(json!({"date_range": ["2021-01-05", "2021-01-05"], "timezone": "Europe/London"})));
    assert_eq!(q.echo()["date_range"], json!(["2021-01-05T00:00:00+00:00", "2021-01-05T23:59:59+00:00"]));
}

#[test]
fn comparisons_of_a_24h_range_move_by_exact_instants() {
    let cmp = |mode: Value| {
        let q = ok_with(&site(), body(json!({ "date_range": "24h", "include": {"comparisons": mode} })));
        let c = q.include.comparisons.expect("comparison");
        let fmt = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
        (
            (fmt(q.date_range.first_utc()), fmt(q.date_range.last_utc())),
            (fmt(c.date_range.first_utc()), fmt(c.date_range.last_utc())),
        )
    };
    // now = 2021-05-05 12:30:00 UTC
    let (main, previous) = cmp(json!({"mode": "previous_period"}));
    assert_eq!(main, ("2021-05-04 12:30:00".into(), "2021-05-05 12:30:00".into()));
    assert_eq!(previous, ("2021-05-03 12:29:59".into(), "2021-05-04 12:29:59".into()));
    let (_, yoy) = cmp(json!({"mode": "year_over_year"}));
    assert_eq!(yoy, ("2020-05-04 12:30:00".into(), "2020-05-05 12:30:00".into()));
    let (_, week) = cmp(json!({"mode": "previous_period", "match_day_of_week": true}));
    assert_eq!(week, ("2021-04-27 12:30:00".into(), "2021-04-28 12:30:00".into()));
}
