//! Shared fixtures for the `parse_*` tests (included with `#[path]`; also built as an empty
//! test target).
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use tally_query::{parse_query, Goal, Query, Segment, SiteContext};

/// The fixed "now" of Plausible's parse tests: 2021-05-05 12:30:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 5, 5, 12, 30, 0).unwrap()
}

pub fn site() -> SiteContext {
    site_in(chrono_tz::Etc::UTC)
}

pub fn site_in(tz: Tz) -> SiteContext {
    SiteContext {
        domain: "example.com".into(),
        timezone: tz,
        goals: Vec::new(),
        segments: Vec::new(),
        props_available: true,
        revenue_available: true,
        stats_start_date: None,
        native_stats_start_at: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap(),
        legacy_time_on_page_cutoff: None,
        imports: Vec::new(),
    }
}

pub fn event_goal(id: i64, name: &str) -> Goal {
    Goal {
        id,
        display_name: name.into(),
        event_name: Some(name.into()),
        page_path: None,
        scroll_threshold: -1,
        currency: None,
        custom_props: Vec::new(),
    }
}

pub fn revenue_goal(id: i64, name: &str, currency: &str) -> Goal {
    Goal { currency: Some(currency.into()), ..event_goal(id, name) }
}

pub fn page_goal(id: i64, path: &str) -> Goal {
    Goal {
        id,
        display_name: format!("Visit {path}"),
        event_name: None,
        page_path: Some(path.into()),
        scroll_threshold: -1,
        currency: None,
        custom_props: Vec::new(),
    }
}

pub fn segment(id: i64, filters: Value) -> Segment {
    Segment { id, name: format!("segment {id}"), segment_data: json!({ "filters": filters }) }
}

/// A body with the given extra keys over `{"site_id", "metrics": ["visitors"], "date_range": "all"}`.
pub fn body(extra: Value) -> Value {
    let mut b = json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "all"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut b, extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
    b
}

pub fn ok_with(site: &SiteContext, b: Value) -> Query {
    match parse_query(&b, site, now()) {
        Ok(q) => q,
        Err(e) => panic!("expected success for {b}, got error: {}", e.message),
    }
}

pub fn ok(b: Value) -> Query {
    ok_with(&site(), b)
}

pub fn err_with(site: &SiteContext, b: Value) -> String {
    match parse_query(&b, site, now()) {
        Ok(q) => panic!("expected an error for {b}, got {:?}", q.echo()),
        Err(e) => e.message,
    }
}

pub fn err(b: Value) -> String {
    err_with(&site(), b)
}
