//! `time` resolution, default `order_by` and time labels (spec §1.6, §1.8).

#[path = "parse_helpers.rs"]
mod helpers;

use chrono::NaiveDate;
use helpers::*;
use serde_json::{json, Value};
use tally_query::ast::{Dimension, Direction, Metric, OrderKey};
use tally_query::time_labels;

fn resolved_time(date_range: Value) -> Dimension {
    let mut s = site();
    s.stats_start_date = NaiveDate::from_ymd_opt(2019, 1, 1);
    let q = ok_with(&s, body(json!({"date_range": date_range, "dimensions": ["time"]})));
    q.dimensions[0].clone()
}

#[test]
fn time_resolves_by_range_length() {
    assert_eq!(resolved_time(json!("day")), Dimension::TimeHour);
    assert_eq!(resolved_time(json!("24h")), Dimension::TimeHour);
    assert_eq!(resolved_time(json!("2d")), Dimension::TimeHour); // 47:59:59
    assert_eq!(resolved_time(json!("3d")), Dimension::TimeDay); // 71:59:59
    assert_eq!(resolved_time(json!("7d")), Dimension::TimeDay);
    assert_eq!(resolved_time(json!("30d")), Dimension::TimeDay);
    assert_eq!(resolved_time(json!("month")), Dimension::TimeDay);
    assert_eq!(resolved_time(json!("41d")), Dimension::TimeDay); // 40 days 23:59:59
    assert_eq!(resolved_time(json!("42d")), Dimension::TimeWeek);
    assert_eq!(resolved_time(json!("91d")), Dimension::TimeWeek);
    assert_eq!(resolved_time(json!("6mo")), Dimension::TimeWeek);
    assert_eq!(resolved_time(json!("12mo")), Dimension::TimeWeek); // 364 days
    assert_eq!(resolved_time(json!("year")), Dimension::TimeWeek);
    assert_eq!(resolved_time(json!("all")), Dimension::TimeMonth); // 2019-01-01..2021-05-05
    assert_eq!(resolved_time(json!(["2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"])), Dimension::TimeHour);
}

#[test]
fn explicit_time_dimensions_are_kept() {
    let q = ok(body(json!({"date_range": "day", "dimensions": ["time:month"]})));
    assert_eq!(q.dimensions, vec![Dimension::TimeMonth]);
}

#[test]
fn default_order_without_time() {
    let q = ok(body(json!({"metrics": ["pageviews", "visitors"], "dimensions": ["visit:browser"]})));
    assert_eq!(q.order_by, vec![(OrderKey::Metric(Metric::Pageviews), Direction::Desc)]);
}

#[test]
fn default_order_with_time() {
    let q = ok(body(
        json!({"metrics": ["visitors", "pageviews"], "dimensions": ["visit:browser", "time"], "date_range": "day"}),
    ));
    assert_eq!(
        q.order_by,
        vec![
            (OrderKey::Dimension(Dimension::TimeHour), Direction::Asc),
            (OrderKey::Metric(Metric::Visitors), Direction::Desc)
        ]
    );
    assert_eq!(q.echo()["order_by"], json!([["time:hour", "asc"], ["visitors", "desc"]]));
}

#[test]
fn time_in_explicit_order_by_is_resolved() {
    let q = ok(body(json!({
        "metrics": ["pageviews"],
        "date_range": "7d",
        "dimensions": ["time"],
        "order_by": [["pageviews", "desc"], ["time", "asc"]]
    })));
    assert_eq!(q.echo()["order_by"], json!([["pageviews", "desc"], ["time:day", "asc"]]));
}

#[test]
fn explicit_order_is_kept() {
    let q = ok(body(json!({
        "metrics": ["visitors"],
        "dimensions": ["visit:os", "visit:browser"],
        "order_by": [["visitors", "asc"], ["visit:browser", "desc"], ["visit:os", "asc"]]
    })));
    assert_eq!(
        q.order_by,
        vec![
            (OrderKey::Metric(Metric::Visitors), Direction::Asc),
            (OrderKey::Dimension(Dimension::Browser), Direction::Desc),
            (OrderKey::Dimension(Dimension::Os), Direction::Asc)
        ]
    );
}

fn labels(date_range: Value, dimension: &str) -> Vec<String> {
    labels_in(&site(), date_range, dimension)
}

fn labels_in(s: &tally_query::SiteContext, date_range: Value, dimension: &str) -> Vec<String> {
    let q = ok_with(
        s,
        body(json!({"date_range": date_range, "dimensions": [dimension], "include": {"time_labels": true}})),
    );
    assert!(q.include.time_labels);
    time_labels(&q)
}

#[test]
fn week_labels_clamp_to_the_range_start() {
    assert_eq!(
        labels(json!(["2020-12-20", "2021-01-08"]), "time:week"),
        vec!["2020-12-20", "2020-12-21", "2020-12-28", "2021-01-04"]
    );
    assert_eq!(labels(json!(["2020-12-21", "2021-01-03"]), "time:week"), vec!["2020-12-21", "2020-12-28"]);
}

#[test]
fn month_labels_are_not_clamped() {
    assert_eq!(
        labels(json!(["2022-01-17", "2022-03-05"]), "time:month"),
        vec!["2022-01-01", "2022-02-01", "2022-03-01"]
    );
}

#[test]
fn day_labels() {
    assert_eq!(labels(json!("7d"), "time:day").len(), 7);
    assert_eq!(labels(json!(["2021-01-30", "2021-02-01"]), "time:day"), vec!["2021-01-30", "2021-01-31", "2021-02-01"]);
}

#[test]
fn hour_labels() {
    let day = labels(json!("day"), "time:hour");
    assert_eq!(day.len(), 24);
    assert_eq!(day[0], "2021-05-05 00:00:00");
    assert_eq!(day[23], "2021-05-05 23:00:00");
    assert_eq!(labels(json!("day"), "time"), day);

    let tallinn = site_in("Europe/Tallinn".parse().unwrap());
    let l = labels_in(&tallinn, json!(["2024-09-10T21:53:17+03:00", "2024-09-11T05:59:59+03:00"]), "time:hour");
    assert_eq!(l.first().unwrap(), "2024-09-10 21:00:00");
    assert_eq!(l.last().unwrap(), "2024-09-11 05:00:00");
    assert_eq!(l.len(), 9);
}

#[test]
fn hour_labels_on_dst_days() {
    let tallinn = site_in("Europe/Tallinn".parse().unwrap());
    let spring = labels_in(&tallinn, json!(["2024-03-31", "2024-03-31"]), "time:hour");
    assert_eq!(spring.len(), 23);
    assert!(!spring.contains(&"2024-03-31 03:00:00".to_string()));
    assert_eq!(spring.last().unwrap(), "2024-03-31 23:00:00");
    let autumn = labels_in(&tallinn, json!(["2024-10-27", "2024-10-27"]), "time:hour");
    assert_eq!(autumn.len(), 24);
}

#[test]
fn no_labels_without_time_dimension() {
    let q = ok(body(json!({"dimensions": ["visit:browser"]})));
    assert!(time_labels(&q).is_empty());
}
