//! v1 parameter validation (messages and their order), translation into v2 queries and response
//! shaping.

#[path = "parse_helpers.rs"]
mod helpers;

use chrono::NaiveDate;
use helpers::*;
use serde_json::{json, Value};
use tally_query::ast::{Dimension, Direction, Metric, OrderKey, Pagination};
use tally_query::v1::{self, period, response, Endpoint, Params, Plan};
use tally_query::SiteContext;

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn plan_with(site: &SiteContext, endpoint: Endpoint, pairs: &[(&str, &str)]) -> Plan {
    match v1::plan(endpoint, &params(pairs), site, now()) {
        Ok(p) => p,
        Err(e) => panic!("expected success for {pairs:?}, got {} {}", e.status, e.message),
    }
}

fn plan(endpoint: Endpoint, pairs: &[(&str, &str)]) -> Plan {
    plan_with(&goal_site(), endpoint, pairs)
}

fn error_with(site: &SiteContext, endpoint: Endpoint, pairs: &[(&str, &str)]) -> (u16, String) {
    match v1::plan(endpoint, &params(pairs), site, now()) {
        Ok(p) => panic!("expected an error for {pairs:?}, got {:?}", p.query.echo()),
        Err(e) => (e.status, e.message),
    }
}

fn error(endpoint: Endpoint, pairs: &[(&str, &str)]) -> String {
    let (status, message) = error_with(&goal_site(), endpoint, pairs);
    assert_eq!(status, 400, "{message}");
    message
}

fn goal_site() -> SiteContext {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup"), page_goal(2, "/register")];
    s
}

fn dates(p: &Plan) -> (NaiveDate, NaiveDate) {
    (p.query.date_range.first_date(), p.query.date_range.last_date())
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

// --- periods --------------------------------------------------------------------------------------

#[test]
fn periods_with_a_date_anchor() {
    let cases = [
        ("day", "2021-01-08", "2021-01-08", "2021-01-08"),
        ("7d", "2021-01-08", "2021-01-01", "2021-01-07"),
        ("30d", "2021-01-31", "2021-01-01", "2021-01-30"),
        ("month", "2021-02-10", "2021-02-01", "2021-02-28"),
        ("6mo", "2021-04-11", "2020-11-01", "2021-04-30"),
        ("12mo", "2021-01-01", "2020-02-01", "2021-01-31"),
    ];
    for (period, date, first, last) in cases {
        let p = plan(Endpoint::Aggregate, &[("period", period), ("date", date)]);
        assert_eq!(dates(&p), (d(first), d(last)), "{period} {date}");
    }
}

#[test]
fn default_period_is_30d_before_today() {
    // now() is 2021-05-05 12:30 UTC.
    let p = plan(Endpoint::Aggregate, &[]);
    assert_eq!(dates(&p), (d("2021-04-05"), d("2021-05-04")));
}

#[test]
fn today_is_taken_in_the_site_timezone() {
    // 12:30 UTC on 2021-05-05 is already 2021-05-06 in Pacific/Kiritimati (UTC+14).
    let site = site_in("Pacific/Kiritimati".parse().unwrap());
    let p = plan_with(&site, Endpoint::Aggregate, &[("period", "day")]);
    assert_eq!(dates(&p), (d("2021-05-06"), d("2021-05-06")));
}

#[test]
fn custom_period_takes_two_trimmed_dates() {
    let p = plan(Endpoint::Aggregate, &[("period", "custom"), ("date", "2020-12-01, 2021-01-02")]);
    assert_eq!(dates(&p), (d("2020-12-01"), d("2021-01-02")));
}

#[test]
fn period_and_date_errors() {
    assert_eq!(
        error(Endpoint::Aggregate, &[("period", "aosuhsacp")]),
        "Error parsing `period` parameter: invalid period `aosuhsacp`. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods"
    );
    for p in ["year", "all", "28d", "realtime"] {
        assert!(error(Endpoint::Aggregate, &[("period", p)]).starts_with("Error parsing `period`"), "{p}");
    }
    assert_eq!(
        error(Endpoint::Aggregate, &[("period", "month"), ("date", "2021-dkjbAS")]),
        "Error parsing `date` parameter: invalid_format. Please specify a valid date in ISO-8601 format."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("date", "2021-02-30")]),
        "Error parsing `date` parameter: invalid_date. Please specify a valid date in ISO-8601 format."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("period", "custom")]),
        "The `date` parameter is required when using a custom period. See https://plausible.io/docs/stats-api#time-periods"
    );
    let malformed = "Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See https://plausible.io/docs/stats-api#time-periods";
    for date in ["2020-131-2piaskj,s,a90uac", "2021-01-01", "2021-01-01,2021-01-02,2021-01-03", "2021-01-01,x"] {
        assert_eq!(error(Endpoint::Aggregate, &[("period", "custom"), ("date", date)]), malformed, "{date}");
    }
    // The period is checked before the date.
    assert!(error(Endpoint::Aggregate, &[("period", "x"), ("date", "y")]).starts_with("Error parsing `period`"));
}

#[test]
fn iso_dates() {
    assert_eq!(period::parse_iso_date("2021-01-08"), Ok(d("2021-01-08")));
    assert_eq!(period::parse_iso_date("2021-1-08"), Err("invalid_format"));
    assert_eq!(period::parse_iso_date("today"), Err("invalid_format"));
    assert_eq!(period::parse_iso_date(" 2021-01-08"), Err("invalid_format"));
    assert_eq!(period::parse_iso_date("2021-13-01"), Err("invalid_date"));
}

// --- timeseries intervals ---------------------------------------------------------------------------

#[test]
fn timeseries_intervals() {
    let dim = |pairs: &[(&str, &str)]| plan(Endpoint::Timeseries, pairs).query.dimensions.clone();
    assert_eq!(dim(&[("period", "day")]), vec![Dimension::TimeHour]);
    assert_eq!(dim(&[("period", "7d")]), vec![Dimension::TimeDay]);
    assert_eq!(dim(&[("period", "30d")]), vec![Dimension::TimeDay]);
    assert_eq!(dim(&[("period", "month")]), vec![Dimension::TimeDay]);
    assert_eq!(dim(&[("period", "custom"), ("date", "2020-01-01,2021-01-01")]), vec![Dimension::TimeDay]);
    assert_eq!(dim(&[("period", "6mo")]), vec![Dimension::TimeMonth]);
    assert_eq!(dim(&[("period", "12mo")]), vec![Dimension::TimeMonth]);
    assert_eq!(dim(&[("period", "12mo"), ("interval", "date")]), vec![Dimension::TimeDay]);
    assert_eq!(dim(&[("period", "day"), ("interval", "day")]), vec![Dimension::TimeDay]);
    assert_eq!(dim(&[("period", "7d"), ("interval", "month")]), vec![Dimension::TimeMonth]);
    assert_eq!(
        error(Endpoint::Timeseries, &[("period", "12mo"), ("interval", "alskd")]),
        "Error parsing `interval` parameter: invalid interval `alskd`. Valid intervals are `day`, `month`"
    );
    assert!(error(Endpoint::Timeseries, &[("interval", "week")]).contains("invalid interval `week`"));
    // Aggregates ignore the interval.
    plan(Endpoint::Aggregate, &[("interval", "week")]);
}

#[test]
fn timeseries_translation() {
    let p = plan(Endpoint::Timeseries, &[("metrics", "visitors,conversion_rate"), ("filters", "event:goal==Signup")]);
    assert_eq!(p.query.metrics, vec![Metric::Visitors, Metric::GroupConversionRate]);
    assert_eq!(p.query.order_by, vec![(OrderKey::Dimension(Dimension::TimeDay), Direction::Asc)]);
    assert_eq!(p.metrics, vec![Metric::Visitors, Metric::ConversionRate]);
    // views_per_visit is fine in a v1 timeseries (v2 rejects it with dimensions).
    let p = plan(Endpoint::Timeseries, &[("metrics", "views_per_visit")]);
    assert_eq!(p.query.metrics, vec![Metric::ViewsPerVisit]);
}

// --- filters ------------------------------------------------------------------------------------------

#[test]
fn filters_reach_the_v2_query() {
    let p = plan(Endpoint::Aggregate, &[("filters", "event:page==/en/**;visit:browser!=Chrome")]);
    let echo = p.query.echo();
    assert_eq!(
        echo["filters"],
        json!([["matches_wildcard", "event:page", ["/en/**"]], ["is_not", "visit:browser", ["Chrome"]]])
    );
    let p = plan(Endpoint::Aggregate, &[("filters", r#"[["contains","event:page",["/en*"]]]"#)]);
    assert_eq!(p.query.echo()["filters"], json!([["contains", "event:page", ["/en*"]]]));
}

#[test]
fn filter_validation() {
    assert_eq!(
        error(Endpoint::Aggregate, &[("filters", "badproperty==bar")]),
        "Invalid filter property 'badproperty'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties"
    );
    for prop in ["visit:entry_page_hostname", "visit:screen", "visit:country_name", "event:props:"] {
        let filters = format!("{prop}==x");
        assert!(error(Endpoint::Aggregate, &[("filters", &filters)]).contains(&format!("'{prop}'")), "{prop}");
    }
    assert_eq!(
        error(Endpoint::Aggregate, &[("filters", "event:goal==Register|Visit /register")]),
        "The goal `Register` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("filters", "event:goal==Visit /register**")]),
        "The pageview goal for the pathname `/register**` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
    );
    plan(Endpoint::Aggregate, &[("filters", "event:goal==Signup|Visit /register")]);
    // Compound JSON filters are not v1 filter properties.
    assert!(error(Endpoint::Aggregate, &[("filters", r#"[["or",[["is","event:page",["/a"]]]]]"#)])
        .starts_with("Invalid filter property"));
    // Invalid v2 JSON filters fail with the v2 message.
    assert_eq!(
        error(Endpoint::Aggregate, &[("filters", r#"[["is","visit:os_version",[123]]]"#)]),
        r#"Invalid filter '["is", "visit:os_version", [123]]'."#
    );
    // Goals narrowed by custom properties only count with the props feature.
    let mut site = goal_site();
    site.goals[0].custom_props = vec![("plan".into(), "free".into())];
    plan_with(&site, Endpoint::Aggregate, &[("filters", "event:goal==Signup")]);
    site.props_available = false;
    let (_, message) = error_with(&site, Endpoint::Aggregate, &[("filters", "event:goal==Signup")]);
    assert!(message.starts_with("The goal `Signup` is not configured"));
}

// --- metrics ------------------------------------------------------------------------------------------

#[test]
fn metric_validation_messages() {
    let unknown = |m: &str| {
        format!("The metric `{m}` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics")
    };
    assert_eq!(error(Endpoint::Aggregate, &[("metrics", "pageviews,led_zeppelin")]), unknown("led_zeppelin"));
    for m in ["scroll_depth", "percentage", "total_revenue", "group_conversion_rate", "exit_rate", ""] {
        assert_eq!(error(Endpoint::Aggregate, &[("metrics", m)]), unknown(m));
    }
    assert_eq!(error(Endpoint::Aggregate, &[("metrics", "visitors, pageviews")]), unknown(" pageviews"));
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "visitors,led_zeppelin,visitors")]),
        "Metrics cannot be queried multiple times."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "pageviews,visit_duration"), ("filters", "event:name==x")]),
        "Session metric `visit_duration` cannot be queried when using a filter on `event:name`."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "bounce_rate"), ("filters", "visit:os==Mac;event:props:a==b")]),
        "Session metric `bounce_rate` cannot be queried when using a filter on `event:props:a`."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "views_per_visit"), ("filters", "event:page==/a")]),
        "Metric `views_per_visit` cannot be queried with a filter on `event:page`."
    );
    assert_eq!(
        error(Endpoint::Breakdown, &[("metrics", "views_per_visit"), ("property", "visit:source")]),
        "Metric `views_per_visit` is not supported in breakdown queries."
    );
    assert_eq!(
        error(Endpoint::Breakdown, &[("metrics", "visits"), ("property", "event:name")]),
        "Session metric `visits` cannot be queried for breakdown by `event:name`."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "time_on_page")]),
        "Metric `time_on_page` can only be queried in a page breakdown or with a page filter."
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "time_on_page"), ("filters", "event:page==/A;event:goal==Signup")]),
        "Metric `time_on_page` cannot be queried when filtering by `event:goal`"
    );
    assert_eq!(
        error(Endpoint::Aggregate, &[("metrics", "time_on_page"), ("filters", "event:page==/A;event:name==x")]),
        "Metric `time_on_page` cannot be queried when filtering by `event:name`"
    );
    assert_eq!(
        error(
            Endpoint::Breakdown,
            &[("metrics", "time_on_page"), ("property", "visit:source"), ("filters", "event:page==/A")]
        ),
        "Metric `time_on_page` is not supported in breakdown queries (except `event:page` breakdown)"
    );
    assert_eq!(
        error(Endpoint::Timeseries, &[("metrics", "conversion_rate")]),
        "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter"
    );
    plan(Endpoint::Breakdown, &[("metrics", "conversion_rate"), ("property", "event:goal")]);
    // Filters are validated before metrics.
    assert!(error(Endpoint::Aggregate, &[("metrics", "nope"), ("filters", "bad==x")]).starts_with("Invalid filter"));
}

// --- breakdown ----------------------------------------------------------------------------------------

#[test]
fn breakdown_property_and_pagination_errors() {
    assert_eq!(
        error(Endpoint::Breakdown, &[]),
        "The `property` parameter is required. Please provide at least one property to show a breakdown by."
    );
    assert_eq!(
        error(Endpoint::Breakdown, &[("property", "event:hostname")]),
        "Property 'event:hostname' is currently not supported for breakdowns.  Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties"
    );
    assert_eq!(
        error(Endpoint::Breakdown, &[("property", "visit:screen")]),
        "Invalid property 'visit:screen'. Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties"
    );
    for limit in ["0", "1001", "bad_limit", "1.5", " 5", ""] {
        assert_eq!(
            error(Endpoint::Breakdown, &[("property", "event:page"), ("limit", limit)]),
            "Please provide limit as a number between 1 and 1000.",
            "{limit}"
        );
    }
    for page in ["0", "-1", "x"] {
        assert_eq!(
            error(Endpoint::Breakdown, &[("property", "event:page"), ("page", page)]),
            "Please provide page as a positive number.",
            "{page}"
        );
    }
    // The property is checked before the filters and metrics.
    assert!(error(Endpoint::Breakdown, &[("metrics", "x"), ("filters", "bad==x")]).starts_with("The `property`"));
}

#[test]
fn breakdown_translation() {
    let p = plan(Endpoint::Breakdown, &[("property", "visit:source")]);
    assert_eq!(p.query.dimensions, vec![Dimension::Source]);
    assert_eq!(p.query.metrics, vec![Metric::Visitors]);
    assert_eq!(
        p.query.order_by,
        vec![
            (OrderKey::Metric(Metric::Visitors), Direction::Desc),
            (OrderKey::Dimension(Dimension::Source), Direction::Asc)
        ]
    );
    assert_eq!(p.query.pagination, Pagination { limit: 100, offset: 0 });

    let p = plan(Endpoint::Breakdown, &[("property", "visit:browser_version"), ("limit", "2"), ("page", "3")]);
    assert_eq!(p.query.dimensions, vec![Dimension::Browser, Dimension::BrowserVersion]);
    assert_eq!(p.query.pagination, Pagination { limit: 2, offset: 4 });
    assert_eq!(p.query.order_by[1], (OrderKey::Dimension(Dimension::BrowserVersion), Direction::Asc));

    let p = plan(Endpoint::Breakdown, &[("property", "visit:os_version")]);
    assert_eq!(p.query.dimensions, vec![Dimension::Os, Dimension::OsVersion]);

    // time_on_page alone: visitors is added for ordering.
    let p = plan(Endpoint::Breakdown, &[("property", "event:page"), ("metrics", "time_on_page")]);
    assert_eq!(p.query.metrics, vec![Metric::TimeOnPage, Metric::Visitors]);
    assert_eq!(p.metrics, vec![Metric::TimeOnPage]);
    assert_eq!(p.query.order_by[0], (OrderKey::Metric(Metric::Visitors), Direction::Desc));

    // conversion_rate is per group except for goal and custom-property breakdowns.
    let cr = |property: &str| {
        plan(
            Endpoint::Breakdown,
            &[("property", property), ("metrics", "conversion_rate"), ("filters", "event:goal==Signup")],
        )
        .query
        .metrics
    };
    assert_eq!(cr("visit:device"), vec![Metric::GroupConversionRate]);
    assert_eq!(cr("event:goal"), vec![Metric::ConversionRate]);
    assert_eq!(cr("event:props:author"), vec![Metric::ConversionRate]);

    // Goal breakdowns sort by the metric only.
    let p = plan(Endpoint::Breakdown, &[("property", "event:goal"), ("metrics", "events,visitors")]);
    assert_eq!(p.query.order_by, vec![(OrderKey::Metric(Metric::Events), Direction::Desc)]);

    // A client order_by comes first.
    let p = plan(
        Endpoint::Breakdown,
        &[
            ("property", "visit:source"),
            ("metrics", "visitors,visits"),
            ("order_by", r#"[["visits","asc"],["bogus","asc"]]"#),
        ],
    );
    assert_eq!(
        p.query.order_by,
        vec![
            (OrderKey::Metric(Metric::Visits), Direction::Asc),
            (OrderKey::Metric(Metric::Visitors), Direction::Desc),
            (OrderKey::Dimension(Dimension::Source), Direction::Asc)
        ]
    );
}

#[test]
fn breakdown_unknown_value_filters() {
    let filters = |property: &str| plan(Endpoint::Breakdown, &[("property", property)]).query.echo()["filters"].clone();
    assert_eq!(filters("visit:city"), json!([["is_not", "visit:city", [0]]]));
    assert_eq!(filters("visit:country"), json!([["is_not", "visit:country", ["\u{0}\u{0}", "ZZ"]]]));
    for p in ["visit:region", "visit:utm_medium", "visit:utm_term", "visit:entry_page", "visit:exit_page"] {
        assert_eq!(filters(p), json!([["is_not", p, [""]]]), "{p}");
    }
    assert_eq!(filters("visit:source"), json!([]));
}

#[test]
fn custom_props_feature_is_a_402_checked_last() {
    let mut site = goal_site();
    site.props_available = false;
    let message = "The owner of this site does not have access to the custom properties feature";
    assert_eq!(
        error_with(&site, Endpoint::Aggregate, &[("filters", "event:props:author==Uku")]),
        (402, message.to_string())
    );
    assert_eq!(
        error_with(&site, Endpoint::Breakdown, &[("property", "event:props:author")]),
        (402, message.to_string())
    );
    // Metric errors come first.
    assert_eq!(
        error_with(&site, Endpoint::Aggregate, &[("filters", "event:props:author==Uku"), ("metrics", "x")]).0,
        400
    );
    // Internal keys are allowed, and the first property filter decides.
    plan_with(&site, Endpoint::Aggregate, &[("filters", "event:props:url==https://site.com")]);
    plan_with(&site, Endpoint::Breakdown, &[("property", "event:props:path")]);
    plan_with(&site, Endpoint::Breakdown, &[("property", "visit:source"), ("filters", "event:props:url==x")]);
}

// --- comparisons and time on page ---------------------------------------------------------------------

#[test]
fn previous_period_comparison() {
    let p = plan(Endpoint::Aggregate, &[("period", "6mo"), ("date", "2021-04-11"), ("compare", "previous_period")]);
    let c = p.comparison.expect("comparison");
    // 2020-11-01..2021-04-30 is 181 days; capped at today (2021-05-05): not capped.
    assert_eq!((c.date_range.first_date(), c.date_range.last_date()), (d("2020-05-04"), d("2020-10-31")));
    let p = plan(Endpoint::Aggregate, &[("period", "month"), ("compare", "previous_period")]);
    let c = p.comparison.expect("comparison");
    // May 2021 up to today (the 5th) -> the 5 days before.
    assert_eq!((c.date_range.first_date(), c.date_range.last_date()), (d("2021-04-26"), d("2021-04-30")));
    assert!(plan(Endpoint::Aggregate, &[("compare", "year_over_year")]).comparison.is_none());
    assert!(plan(Endpoint::Timeseries, &[("compare", "previous_period")]).comparison.is_none());
}

#[test]
fn time_on_page_uses_the_site_cutoff() {
    let cutoff = |c: Option<&str>| {
        let mut s = site_in("Europe/Tallinn".parse().unwrap());
        s.legacy_time_on_page_cutoff = c.map(d);
        let p = plan_with(&s, Endpoint::Aggregate, &[]);
        p.query.include.legacy_time_on_page_cutoff.unwrap().to_rfc3339()
    };
    assert!(cutoff(None).starts_with("9999-"));
    assert_eq!(cutoff(Some("2024-06-01")), "2024-05-31T21:00:00+00:00");
    assert_eq!(cutoff(Some("1970-01-01")), "2000-01-01T00:00:00+00:00");
}

#[test]
fn imports_are_included_on_request() {
    assert!(plan(Endpoint::Aggregate, &[("with_imported", "true")]).query.include.imports);
    assert!(!plan(Endpoint::Aggregate, &[("with_imported", "1")]).query.include.imports);
    assert!(!plan(Endpoint::Aggregate, &[]).query.include.imports);
}

// --- responses ----------------------------------------------------------------------------------------

#[test]
fn aggregate_response() {
    let p = plan(Endpoint::Aggregate, &[("metrics", "visitors,bounce_rate,visit_duration,views_per_visit")]);
    let main = json!({"results": [{"dimensions": [], "metrics": [2, 50.4, 750.6, 1.5]}], "meta": {}});
    assert_eq!(
        response::shape(&p, &main, None),
        json!({"results": {
            "visitors": {"value": 2}, "bounce_rate": {"value": 50}, "visit_duration": {"value": 751},
            "views_per_visit": {"value": 1.5}
        }})
    );
}

#[test]
fn aggregate_comparison_response() {
    let p = plan(
        Endpoint::Aggregate,
        &[("metrics", "pageviews,visitors,bounce_rate,visit_duration"), ("compare", "previous_period")],
    );
    let main = json!({"results": [{"dimensions": [], "metrics": [4, 3, 100, 0]}], "meta": {}});
    let prev = json!({"results": [{"dimensions": [], "metrics": [0, 4, 0, 0]}], "meta": {}});
    assert_eq!(
        response::shape(&p, &main, Some(&prev)),
        json!({"results": {
            "pageviews": {"value": 4, "comparison_value": 0, "change": 100},
            "visitors": {"value": 3, "comparison_value": 4, "change": -25},
            "bounce_rate": {"value": 100, "comparison_value": 0, "change": null},
            "visit_duration": {"value": 0, "comparison_value": 0, "change": 0}
        }})
    );
}

#[test]
fn change_rules() {
    assert_eq!(response::change(Metric::ConversionRate, &json!(33.33), &json!(50.0)), json!(16.7));
    assert_eq!(response::change(Metric::BounceRate, &json!(40), &json!(50)), json!(10));
    assert_eq!(response::change(Metric::BounceRate, &json!(0), &json!(50)), Value::Null);
    assert_eq!(response::change(Metric::TimeOnPage, &json!(60), &json!(90)), json!(50));
    assert_eq!(response::change(Metric::TimeOnPage, &Value::Null, &json!(90)), Value::Null);
    assert_eq!(response::change(Metric::Visitors, &json!(3), &json!(1)), json!(-67));
}

#[test]
fn imports_warnings() {
    let p = plan(Endpoint::Aggregate, &[]);
    let main = |meta: Value| json!({"results": [{"dimensions": [], "metrics": [1]}], "meta": meta});
    let shaped = response::shape(
        &p,
        &main(json!({"imports_included": false, "imports_skip_reason": "unsupported_query"})),
        None,
    );
    assert_eq!(shaped["warning"], json!(response::IMPORTS_UNSUPPORTED_QUERY));
    for meta in [json!({}), json!({"imports_included": false, "imports_skip_reason": "no_imported_data"})] {
        assert!(response::shape(&p, &main(meta), None).get("warning").is_none());
    }
    let t = plan(Endpoint::Timeseries, &[("period", "day")]);
    let shaped = response::shape(
        &t,
        &json!({"results": [], "meta": {"imports_included": false, "imports_skip_reason": "unsupported_interval"}}),
        None,
    );
    assert_eq!(shaped["warning"], json!(response::IMPORTS_UNSUPPORTED_INTERVAL));
}

#[test]
fn timeseries_response_fills_every_bucket() {
    let p = plan(
        Endpoint::Timeseries,
        &[("period", "7d"), ("date", "2021-01-08"), ("metrics", "visitors,visit_duration,views_per_visit,pageviews")],
    );
    let main = json!({"results": [
        {"dimensions": ["2021-01-01"], "metrics": [1, 10, 2.0, 5]},
        {"dimensions": ["2021-01-07"], "metrics": [2, 0, 1.0, 2]}
    ], "meta": {}});
    let shaped = response::shape(&p, &main, None);
    let rows = shaped["results"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(
        rows[0],
        json!({"date": "2021-01-01", "visitors": 1, "visit_duration": 10, "views_per_visit": 2.0, "pageviews": 5})
    );
    assert_eq!(
        rows[1],
        json!({"date": "2021-01-02", "visitors": 0, "visit_duration": null, "views_per_visit": 0.0, "pageviews": 0})
    );
    assert_eq!(rows[6]["date"], json!("2021-01-07"));

    let cr = plan(
        Endpoint::Timeseries,
        &[("period", "7d"), ("date", "2021-01-08"), ("metrics", "conversion_rate"), ("filters", "event:goal==Signup")],
    );
    let main = json!({"results": [{"dimensions": ["2021-01-04"], "metrics": [66.67]}], "meta": {}});
    let rows = response::shape(&cr, &main, None)["results"].as_array().unwrap().clone();
    assert_eq!(rows[3], json!({"date": "2021-01-04", "conversion_rate": 66.67}));
    assert_eq!(rows[0], json!({"date": "2021-01-01", "conversion_rate": 0.0}));
    assert!(shaped.get("warning").is_none());

    let hourly = plan(Endpoint::Timeseries, &[("period", "day"), ("date", "2021-01-01")]);
    let main = json!({"results": [{"dimensions": ["2021-01-01T05:00:00Z"], "metrics": [3]}], "meta": {}});
    let rows = response::shape(&hourly, &main, None)["results"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 24);
    assert_eq!(rows[5], json!({"date": "2021-01-01 05:00:00", "visitors": 3}));
    assert_eq!(rows[0], json!({"date": "2021-01-01 00:00:00", "visitors": 0}));
}

#[test]
fn breakdown_response() {
    let p = plan(
        Endpoint::Breakdown,
        &[
            ("property", "visit:browser_version"),
            ("metrics", "visitors,conversion_rate"),
            ("filters", "event:goal==Signup"),
        ],
    );
    let main = json!({"results": [{"dimensions": ["Edge", "110"], "metrics": [1, 100.0]}], "meta": {}});
    assert_eq!(
        response::shape(&p, &main, None),
        json!({"results": [{"browser": "Edge", "browser_version": "110", "visitors": 1, "conversion_rate": 100.0}]})
    );
    let p = plan(Endpoint::Breakdown, &[("property", "event:props:cost")]);
    let main = json!({"results": [{"dimensions": ["16"], "metrics": [3]}], "meta": {}});
    assert_eq!(response::shape(&p, &main, None), json!({"results": [{"cost": "16", "visitors": 3}]}));
    let p = plan(Endpoint::Breakdown, &[("property", "event:page"), ("metrics", "time_on_page")]);
    let main = json!({"results": [{"dimensions": ["/A"], "metrics": [60, 3]}], "meta": {}});
    assert_eq!(response::shape(&p, &main, None), json!({"results": [{"page": "/A", "time_on_page": 60}]}));
    let keys: Vec<String> = [Dimension::Goal, Dimension::Name, Dimension::Prop("a:b".into()), Dimension::Channel]
        .iter()
        .map(response::result_key)
        .collect();
    assert_eq!(keys, vec!["goal", "name", "a:b", "channel"]);
}
