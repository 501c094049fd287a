//! The response's `query` echo (spec §1.9) and segment resolution.

#[path = "parse_helpers.rs"]
mod helpers;

use helpers::*;
use serde_json::json;
use tally_query::ast::{Clause, Dimension, Filter, Op};

#[test]
fn echo_shape_and_key_order() {
    let q = ok(body(json!({
        "metrics": ["visitors", "pageviews"],
        "date_range": ["2024-09-04", "2024-09-10"],
        "dimensions": ["visit:browser"],
        "filters": [["is", "event:page", ["/foo"], {"case_sensitive": false}], ["contains", "visit:city_name", ["Tal"]]],
        "include": {"total_rows": true, "imports": false},
        "pagination": {"limit": 100}
    })));
    let echo = q.echo();
    let keys: Vec<&String> = echo.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["site_id", "metrics", "date_range", "filters", "dimensions", "order_by", "include", "pagination"]
    );
    assert_eq!(
        echo,
        json!({
            "site_id": "example.com",
            "metrics": ["visitors", "pageviews"],
            "date_range": ["2024-09-04T00:00:00Z", "2024-09-10T23:59:59Z"],
            "filters": [["is", "event:page", ["/foo"], {"case_sensitive": false}], ["contains", "visit:city_name", ["Tal"]]],
            "dimensions": ["visit:browser"],
            "order_by": [["visitors", "desc"]],
            "include": {"total_rows": true},
            "pagination": {"limit": 100, "offset": 0}
        })
    );
}

#[test]
fn echo_defaults() {
    let echo = ok(body(json!({}))).echo();
    assert_eq!(echo["filters"], json!([]));
    assert_eq!(echo["dimensions"], json!([]));
    assert_eq!(echo["include"], json!({}));
    assert_eq!(echo["pagination"], json!({"limit": 10000, "offset": 0}));
}

#[test]
fn echo_include_internal_options() {
    let q = ok(body(json!({
        "dimensions": ["time:day"],
        "date_range": ["2021-01-07", "2021-01-13"],
        "include": {
            "imports": true,
            "time_labels": true,
            "comparisons": {"mode": "previous_period"},
            "legacy_time_on_page_cutoff": "2021-01-02T00:00:00Z"
        }
    })));
    assert_eq!(
        q.echo()["include"],
        json!({
            "comparisons": {"mode": "previous_period"},
            "imports": true,
            "legacy_time_on_page_cutoff": "2021-01-02T00:00:00Z",
            "time_labels": true
        })
    );
    assert_eq!(q.include.legacy_time_on_page_cutoff.unwrap().to_rfc3339(), "2021-01-02T00:00:00+00:00");
}

#[test]
fn city_ids_stay_integers() {
    let q = ok(body(json!({"filters": [["is", "visit:city", [123, 456]]]})));
    assert_eq!(q.echo()["filters"], json!([["is", "visit:city", [123, 456]]]));
    assert_eq!(
        q.filters,
        vec![Filter::Simple {
            op: Op::Is,
            dim: Dimension::City,
            clauses: vec![Clause::Int(123), Clause::Int(456)],
            case_sensitive: true,
            modifiers: None
        }]
    );
    let q = ok(body(json!({"filters": [["is", "visit:city", ["123"]]]})));
    assert_eq!(q.echo()["filters"], json!([["is", "visit:city", ["123"]]]));
}

#[test]
fn nested_filters_round_trip() {
    let filters = json!([
        [
            "or",
            [
                ["and", [["is", "visit:city_name", ["Tallinn"]], ["is", "visit:country_name", ["Estonia"]]]],
                ["not", ["is", "visit:country_name", ["Estonia"]]]
            ]
        ],
        ["has_done", ["is", "event:name", ["Signup"]]],
        ["has_not_done", ["matches_wildcard", "event:page", ["/blog/**"]]],
        ["matches", "event:page", ["^/user/[0-9]+"]]
    ]);
    let q = ok(body(json!({ "filters": filters.clone() })));
    assert_eq!(q.echo()["filters"], filters);
    assert_eq!(q.filters.len(), 4);
}

#[test]
fn hostname_filter_is_extended_to_visit_dimensions() {
    let q = ok(body(json!({
        "dimensions": ["visit:source", "visit:exit_page"],
        "filters": [["is", "event:hostname", ["app.example.com"]]]
    })));
    assert_eq!(
        q.echo()["filters"],
        json!([
            ["is", "event:hostname", ["app.example.com"]],
            ["is", "visit:entry_page_hostname", ["app.example.com"]],
            ["is", "visit:exit_page_hostname", ["app.example.com"]]
        ])
    );
    assert_eq!(q.filters.len(), 3);
}

#[test]
fn single_segment_is_echoed_as_and_and_flattened_for_planning() {
    // conformance: v2/query/even-personal-segments-...-with-segments-expanded-in-response
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    s.segments = vec![segment(7, json!([["is", "event:name", ["Signup"]]]))];
    let q = ok_with(&s, body(json!({"metrics": ["events"], "filters": [["is", "segment", [7]]]})));
    assert_eq!(q.echo()["filters"], json!([["and", [["is", "event:name", ["Signup"]]]]]));
    assert_eq!(
        q.filters,
        vec![Filter::Simple {
            op: Op::Is,
            dim: Dimension::Name,
            clauses: vec![Clause::Str("Signup".into())],
            case_sensitive: true,
            modifiers: None
        }]
    );
}

#[test]
fn several_segments_resolve_to_or_of_ands() {
    let mut s = site();
    s.segments = vec![
        segment(1, json!([["is", "visit:country", ["FR", "DE"]]])),
        segment(2, json!([["is", "visit:country", ["AU", "NZ"]]])),
        segment(3, json!([["is", "visit:browser", ["Firefox"]], ["is", "visit:os", ["Linux"]]])),
    ];
    let q = ok_with(&s, body(json!({"filters": [["and", [["is", "segment", [2, 1]], ["is", "segment", [3]]]]]})));
    let or = json!([
        "or",
        [["and", [["is", "visit:country", ["AU", "NZ"]]]], ["and", [["is", "visit:country", ["FR", "DE"]]]]]
    ]);
    let and = json!(["and", [["is", "visit:browser", ["Firefox"]], ["is", "visit:os", ["Linux"]]]]);
    // Planning form: the outer `and` is flattened (Plausible's newest resolution).
    let planned: Vec<_> = q.filters.iter().map(Filter::to_json).collect();
    assert_eq!(json!(planned), json!([or, and]));
    // Echo form: resolved, not flattened.
    assert_eq!(q.echo()["filters"], json!([["and", [or, and]]]));
}

#[test]
fn segments_may_use_dashboard_features() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    s.segments = vec![segment(5, json!([["has_not_done", ["is", "event:goal", ["Signup"]]]]))];
    let q = ok_with(&s, body(json!({"metrics": ["visitors", "events"], "filters": [["is", "segment", [5]]]})));
    assert_eq!(q.filters[0].to_json(), json!(["has_not_done", ["is", "event:goal", ["Signup"]]]));
}

#[test]
fn segment_with_goal_allows_conversion_rate() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    s.segments = vec![segment(5, json!([["is", "event:goal", ["Signup"]], ["is", "visit:country", ["EE"]]]))];
    let q = ok_with(&s, body(json!({"metrics": ["conversion_rate"], "filters": [["is", "segment", [5]]]})));
    assert_eq!(q.goals.matching_toplevel_filters.len(), 1);
}

#[test]
fn segment_inside_not_is_resolved() {
    let mut s = site();
    s.segments = vec![segment(5, json!([["is", "visit:country", ["EE"]]]))];
    let q = ok_with(&s, body(json!({"filters": [["not", ["is", "segment", [5]]]]})));
    assert_eq!(q.echo()["filters"], json!([["not", ["and", [["is", "visit:country", ["EE"]]]]]]));
}

#[test]
fn segment_inside_behavioural_filter_is_not_resolved() {
    let mut s = site();
    s.segments = vec![segment(5, json!([["is", "event:name", ["Signup"]]]))];
    assert_eq!(
        err_with(&s, body(json!({"filters": [["has_done", ["is", "segment", [5]]]]}))),
        "Invalid filters. Behavioral filters (has_done, has_not_done) can only be used with event dimension filters."
    );
}
