//! One test per 400 message of spec §6 / §2.4 and of the conformance cases (exact strings).

#[path = "parse_helpers.rs"]
mod helpers;

use helpers::*;
use serde_json::json;

// --- §6.1 schema stage ------------------------------------------------------------------------

#[test]
fn invalid_dimension_name() {
    assert_eq!(err(body(json!({"dimensions": ["badproperty"]}))), r#"#/dimensions/0: Invalid dimension "badproperty""#);
}

#[test]
fn empty_custom_property_dimension() {
    // conformance: v2/query_validations/empty-custom-property-is-invalid
    assert_eq!(
        err(body(json!({"dimensions": ["event:props:"]}))),
        r#"#/dimensions/0: Invalid dimension "event:props:""#
    );
}

#[test]
fn metric_name_as_dimension() {
    assert_eq!(err(body(json!({"dimensions": ["visitors"]}))), r#"#/dimensions/0: Invalid dimension "visitors""#);
}

#[test]
fn time_minute_is_not_public() {
    assert_eq!(err(body(json!({"dimensions": ["time:minute"]}))), r#"#/dimensions/0: Invalid dimension "time:minute""#);
}

#[test]
fn dimensions_type_mismatch() {
    assert_eq!(
        err(body(json!({"dimensions": "foobar"}))),
        "#/dimensions: Type mismatch. Expected Array but got String."
    );
}

#[test]
fn dimensions_not_unique() {
    assert_eq!(
        err(body(json!({"dimensions": ["event:name", "event:name"]}))),
        "#/dimensions: Expected items to be unique but they were not."
    );
}

#[test]
fn invalid_metric_name() {
    assert_eq!(err(body(json!({"metrics": ["visitors", "baa"]}))), r#"#/metrics/1: Invalid metric "baa""#);
}

#[test]
fn several_schema_errors_are_joined() {
    assert_eq!(
        err(body(json!({"metrics": ["foo", "visitors", "bar"]}))),
        "#/metrics/0: Invalid metric \"foo\"\n#/metrics/2: Invalid metric \"bar\""
    );
}

#[test]
fn metrics_not_unique() {
    // conformance: v2/query_validations/validates-a-metric-can-t-be-asked-multiple-times
    assert_eq!(
        err(body(json!({"metrics": ["views_per_visit", "visitors", "visitors"]}))),
        "#/metrics: Expected items to be unique but they were not."
    );
}

#[test]
fn metrics_empty() {
    assert_eq!(err(body(json!({"metrics": []}))), "#/metrics: Expected a minimum of 1 items but got 0.");
}

#[test]
fn invalid_event_filter_dimension() {
    assert_eq!(
        err(body(json!({"filters": [["is", "event:device", ["foo"]]]}))),
        r#"#/filters/0: Invalid filter ["is", "event:device", ["foo"]]"#
    );
}

#[test]
fn invalid_visit_filter_dimension() {
    assert_eq!(
        err(body(json!({"filters": [["is", "visit:name", ["foo"]]]}))),
        r#"#/filters/0: Invalid filter ["is", "visit:name", ["foo"]]"#
    );
}

#[test]
fn unknown_filter_dimension() {
    // conformance: v2/query/validates-that-filters-are-valid (expects "Invalid filter" substring)
    let e = err(body(json!({"dimensions": ["visit:browser"], "filters": [["is", "badproperty", ["bar"]]]})));
    assert_eq!(e, r#"#/filters/0: Invalid filter ["is", "badproperty", ["bar"]]"#);
    assert!(e.contains("Invalid filter"));
}

#[test]
fn filters_type_mismatch() {
    assert_eq!(err(body(json!({"filters": "foobar"}))), "#/filters: Type mismatch. Expected Array but got String.");
}

#[test]
fn too_short_filters() {
    for f in [
        json!([]),
        json!(["and"]),
        json!(["or"]),
        json!(["and", []]),
        json!(["or", []]),
        json!(["not"]),
        json!(["is_not"]),
        json!(["is_not", "event:name"]),
        json!(["has_done"]),
        json!(["has_not_done"]),
        json!(["not", []]),
        json!(["has_done", []]),
    ] {
        let expected = format!("#/filters/0: Invalid filter {}", tally_query::inspect::inspect_json(&f));
        assert_eq!(err(body(json!({ "filters": [f] }))), expected);
    }
    assert_eq!(err(body(json!({"filters": [["and", []]]}))), "#/filters/0: Invalid filter [\"and\", []]");
}

#[test]
fn too_long_filters() {
    let valid = json!(["is", "event:props:foobar", ["value"]]);
    assert_eq!(
        err(body(json!({"filters": [["and", [valid], "extra"]]}))),
        r#"#/filters/0: Invalid filter ["and", [["is", "event:props:foobar", ["value"]]], "extra"]"#
    );
    assert_eq!(
        err(body(json!({"filters": [["not", valid, 1]]}))),
        r#"#/filters/0: Invalid filter ["not", ["is", "event:props:foobar", ["value"]], 1]"#
    );
    assert_eq!(
        err(body(json!({"filters": [["is", "event:props:foobar", ["value"], true]]}))),
        r#"#/filters/0: Invalid filter ["is", "event:props:foobar", ["value"], true]"#
    );
}

#[test]
fn unknown_filter_operator() {
    assert_eq!(
        err(body(json!({"filters": [["exists?", "event:name", ["foo"]]]}))),
        r#"#/filters/0: Invalid filter ["exists?", "event:name", ["foo"]]"#
    );
}

#[test]
fn string_instead_of_clause_list() {
    assert_eq!(
        err(body(json!({"filters": [["matches_wildcard", "event:name", "foo"]]}))),
        r#"#/filters/0: Invalid filter ["matches_wildcard", "event:name", "foo"]"#
    );
}

#[test]
fn goal_filter_only_allows_is_and_contains() {
    assert_eq!(
        err(body(json!({"filters": [["is_not", "event:goal", ["Signup"]]]}))),
        r#"#/filters/0: Invalid filter ["is_not", "event:goal", ["Signup"]]"#
    );
}

#[test]
fn case_sensitive_modifier_rejected_on_pattern_operators_by_schema() {
    for op in ["matches", "matches_not", "matches_wildcard", "matches_wildcard_not"] {
        assert_eq!(
            err(body(json!({"filters": [[op, "event:hostname", ["a.plausible.io"], {"case_sensitive": false}]]}))),
            format!(
                r#"#/filters/0: Invalid filter ["{op}", "event:hostname", ["a.plausible.io"], %{{"case_sensitive" => false}}]"#
            )
        );
    }
}

#[test]
fn invalid_date_range_values() {
    // conformance: v2/query_validations/validates-that-correct-date-range-is-used
    assert_eq!(
        err(body(json!({"date_range": "bad_period", "dimensions": ["event:name"]}))),
        r#"#/date_range: Invalid date range "bad_period""#
    );
    assert_eq!(err(body(json!({"date_range": "-1d"}))), r#"#/date_range: Invalid date range "-1d""#);
    assert_eq!(err(body(json!({"date_range": "foo"}))), r#"#/date_range: Invalid date range "foo""#);
    assert_eq!(
        err(body(json!({"date_range": ["21415-00", "eee"]}))),
        r#"#/date_range: Invalid date range ["21415-00", "eee"]"#
    );
    assert_eq!(
        err(body(json!({"date_range": ["2021-02-03T00:00:00-25:00", "2021-02-03T23:59:59-25:00"]}))),
        r#"#/date_range: Invalid date range ["2021-02-03T00:00:00-25:00", "2021-02-03T23:59:59-25:00"]"#
    );
    assert_eq!(
        err(body(json!({"date_range": ["2021-02-03T00:00:00Z", "2021-02-04"]}))),
        r#"#/date_range: Invalid date range ["2021-02-03T00:00:00Z", "2021-02-04"]"#
    );
    assert_eq!(err(body(json!({"date_range": "realtime"}))), r#"#/date_range: Invalid date range "realtime""#);
}

#[test]
fn invalid_order_by_value() {
    assert_eq!(
        err(body(json!({"order_by": [["visssss", "desc"]]}))),
        r#"#/order_by/0/0: Invalid value in order_by "visssss""#
    );
}

#[test]
fn invalid_order_by_direction() {
    assert_eq!(err(body(json!({"order_by": [["visitors", "up"]]}))), "#/order_by/0/1: Value is not allowed in enum.");
}

#[test]
fn include_type_mismatch() {
    assert_eq!(err(body(json!({"include": "foobar"}))), "#/include: Type mismatch. Expected Object but got String.");
}

#[test]
fn include_unknown_key() {
    assert_eq!(
        err(body(json!({"include": {"foo": true}}))),
        "#/include/foo: Schema does not allow additional properties."
    );
}

#[test]
fn include_value_type() {
    assert_eq!(
        err(body(json!({"include": {"imports": "yes"}}))),
        "#/include/imports: Type mismatch. Expected Boolean but got String."
    );
}

#[test]
fn comparisons_shape() {
    let none_matched = "#/include/comparisons: Expected exactly one of the schemata to match, but none of them did.";
    assert_eq!(err(body(json!({"include": {"comparisons": {"mode": "custom"}}}))), none_matched);
    assert_eq!(
        err(body(
            json!({"include": {"comparisons": {"mode": "previous_period", "date_range": ["2024-01-01", "2024-01-31"]}}})
        )),
        none_matched
    );
    assert_eq!(err(body(json!({"include": {"comparisons": {"mode": "tomorrow"}}}))), none_matched);
}

#[test]
fn pagination_limits() {
    assert_eq!(
        err(body(json!({"pagination": {"limit": 100_000}}))),
        "#/pagination/limit: Expected the value to be <= 10000"
    );
    assert_eq!(err(body(json!({"pagination": {"offset": -5}}))), "#/pagination/offset: Expected the value to be >= 0");
    assert_eq!(err(body(json!({"pagination": {"limit": 0}}))), "#/pagination/limit: Expected the value to be >= 1");
    assert_eq!(
        err(body(json!({"pagination": {"limit": 1.5}}))),
        "#/pagination/limit: Type mismatch. Expected Integer but got Number."
    );
    assert_eq!(
        err(body(json!({"pagination": {"page": 1}}))),
        "#/pagination/page: Schema does not allow additional properties."
    );
}

#[test]
fn additional_top_level_property() {
    // (`date` is internal in Plausible; Tally serves it on the public route like its other internal features.)
    assert_eq!(err(body(json!({"today": "2021-05-05"}))), "#/today: Schema does not allow additional properties.");
}

#[test]
fn missing_required_properties() {
    assert_eq!(
        err(json!({"site_id": "example.com", "date_range": "all"})),
        "#: Required property metrics was not present."
    );
    assert_eq!(err(json!({"site_id": "example.com"})), "#: Required properties metrics, date_range were not present.");
}

#[test]
fn body_not_an_object() {
    assert_eq!(err(json!([1])), "#: Type mismatch. Expected Object but got Array.");
}

// --- §6.2 parser stage -----------------------------------------------------------------------

#[test]
fn numeric_clause_for_non_city_dimension() {
    assert_eq!(
        err(body(json!({"filters": [["is", "visit:os_version", [123]]]}))),
        r#"Invalid filter '["is", "visit:os_version", [123]]'."#
    );
}

#[test]
fn mixed_clause_types_for_city() {
    assert_eq!(
        err(body(json!({"filters": [["is", "visit:city", [123, "456"]]]}))),
        r#"Invalid filter '["is", "visit:city", [123, "456"]]'."#
    );
}

#[test]
fn string_segment_ids() {
    assert_eq!(
        err(body(json!({"filters": [["is", "segment", ["123"]]]}))),
        r#"Invalid filter '["is", "segment", ["123"]]'."#
    );
}

#[test]
fn unparseable_regex() {
    assert_eq!(
        err(body(json!({"filters": [["matches", "event:page", ["/blog/(foo"]]]}))),
        r#"Invalid filter '["matches", "event:page", ["/blog/(foo"]]'."#
    );
}

#[test]
fn invalid_country_code() {
    // conformance: v2/query_validations/handles-filtering-by-visit-country-with-invalid-country-code
    assert_eq!(
        err(
            json!({"site_id": "example.com", "date_range": "all", "metrics": ["pageviews"], "filters": [["is", "visit:country", ["USA"]]]})
        ),
        "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code."
    );
}

#[test]
fn shorthand_out_of_range() {
    assert_eq!(err(body(json!({"date_range": "999999999mo"}))), r#"Invalid date_range "999999999mo""#);
    assert_eq!(err(body(json!({"date_range": "0d"}))), r#"Invalid date_range "0d""#);
    assert_eq!(err(body(json!({"date_range": "5001d"}))), r#"Invalid date_range "5001d""#);
    assert_eq!(err(body(json!({"date_range": "101mo"}))), r#"Invalid date_range "101mo""#);
    assert_eq!(
        err(body(json!({"date_range": "99999999999999999999999d"}))),
        r#"Invalid date_range "99999999999999999999999d""#
    );
}

#[test]
fn datetimes_without_offset() {
    assert_eq!(
        err(body(json!({"date_range": ["2021-02-03T00:00:00", "2021-02-03T23:59:59"]}))),
        r#"Invalid date_range '["2021-02-03T00:00:00", "2021-02-03T23:59:59"]'."#
    );
}

#[test]
fn impossible_calendar_date() {
    assert_eq!(
        err(body(json!({"date_range": ["2021-02-30", "2021-03-01"]}))),
        r#"Invalid date_range '["2021-02-30", "2021-03-01"]'."#
    );
}

#[test]
fn invalid_custom_comparison_dates() {
    assert_eq!(
        err(body(json!({"include": {"comparisons": {"mode": "custom", "date_range": ["2021-02-30", "2021-03-01"]}}}))),
        r#"Invalid date_range '["2021-02-30", "2021-03-01"]'."#
    );
}

#[test]
fn invalid_legacy_time_on_page_cutoff() {
    assert_eq!(
        err(body(json!({"include": {"legacy_time_on_page_cutoff": "soon"}}))),
        r#"Invalid include '%{"legacy_time_on_page_cutoff" => "soon"}'."#
    );
}

#[test]
fn invalid_date() {
    assert_eq!(err(body(json!({"date": "2021-13-01"}))), "Invalid date '2021-13-01'.");
    assert_eq!(err(body(json!({"date": 20210101}))), "#/date: Type mismatch. Expected String but got Integer.");
}

#[test]
fn invalid_timezone_extension() {
    assert_eq!(err(body(json!({"timezone": "Mars/Olympus"}))), r#"Invalid timezone "Mars/Olympus""#);
    assert_eq!(err(body(json!({"timezone": 3}))), "#/timezone: Type mismatch. Expected String but got Integer.");
}

// --- §6.2 builder stage ----------------------------------------------------------------------

#[test]
fn order_by_metric_not_queried() {
    assert_eq!(
        err(body(json!({"order_by": [["events", "desc"]]}))),
        "Invalid order_by entry '{:events, :desc}'. Entry is not a queried metric or dimension."
    );
}

#[test]
fn order_by_dimension_not_queried() {
    assert_eq!(
        err(body(json!({"order_by": [["event:name", "desc"]]}))),
        r#"Invalid order_by entry '{"event:name", :desc}'. Entry is not a queried metric or dimension."#
    );
}

#[test]
fn order_by_time_must_match_the_requested_time_dimension() {
    assert_eq!(
        err(body(json!({"dimensions": ["time"], "order_by": [["time:day", "asc"]]}))),
        r#"Invalid order_by entry '{"time:day", :asc}'. Entry is not a queried metric or dimension."#
    );
}

#[test]
fn custom_props_feature_filter() {
    let mut s = site();
    s.props_available = false;
    assert_eq!(
        err_with(&s, body(json!({"filters": [["not", ["is", "event:props:foobar", ["foo"]]]]}))),
        "The owner of this site does not have access to the custom properties feature."
    );
}

#[test]
fn custom_props_feature_dimension() {
    let mut s = site();
    s.props_available = false;
    assert_eq!(
        err_with(&s, body(json!({"dimensions": ["event:props:foobar"]}))),
        "The owner of this site does not have access to the custom properties feature."
    );
    // Internal keys stay available.
    ok_with(&s, body(json!({"dimensions": ["event:props:url"], "filters": [["is", "event:props:path", ["/404"]]]})));
}

#[test]
fn custom_props_feature_hidden_in_segment() {
    let mut s = site();
    s.props_available = false;
    s.segments = vec![segment(7, json!([["is", "event:props:foobar", ["foo"]]]))];
    assert_eq!(
        err_with(&s, body(json!({"filters": [["is", "segment", [7]]]}))),
        "The owner of this site does not have access to the custom properties feature."
    );
}

#[test]
fn case_sensitive_modifier_on_pattern_operator_in_segment() {
    let mut s = site();
    s.segments = vec![segment(7, json!([["matches", "event:page", ["^/a"], {"case_sensitive": false}]]))];
    assert_eq!(
        err_with(&s, body(json!({"filters": [["is", "segment", [7]]]}))),
        r#"Invalid filters. The case_sensitive modifier is not allowed with pattern operators ([:matches, "event:page", ["^/a"], %{case_sensitive: false}])"#
    );
}

#[test]
fn goal_filter_not_top_level() {
    assert_eq!(
        err(body(json!({"filters": [["or", [["is", "event:goal", ["Signup"]], ["is", "event:name", ["pageview"]]]]]}))),
        "Invalid filters. Dimension `event:goal` can only be filtered at the top level."
    );
}

#[test]
fn goal_filter_inside_a_plain_top_level_and() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    assert_eq!(
        err_with(&s, body(json!({"filters": [["and", [["is", "event:goal", ["Signup"]]]]]}))),
        "Invalid filters. Dimension `event:goal` can only be filtered at the top level."
    );
}

#[test]
fn hostname_filter_not_top_level() {
    assert_eq!(
        err(body(json!({"filters": [["not", ["is", "event:hostname", ["a.plausible.io"]]]]}))),
        "Invalid filters. Dimension `event:hostname` can only be filtered at the top level."
    );
}

#[test]
fn goal_inside_segment_or_is_not_top_level() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    s.segments =
        vec![segment(7, json!([["or", [["is", "event:goal", ["Signup"]], ["contains", "event:page", ["/"]]]]]))];
    assert_eq!(
        err_with(&s, body(json!({"metrics": ["visitors", "conversion_rate"], "filters": [["is", "segment", [7]]]}))),
        "Invalid filters. Dimension `event:goal` can only be filtered at the top level."
    );
}

#[test]
fn deep_prop_filter_with_conversion_rate() {
    assert_eq!(
        err(body(json!({
            "metrics": ["conversion_rate", "group_conversion_rate"],
            "filters": [["not", ["is", "event:props:foo", ["bar"]]]],
            "dimensions": ["event:goal"]
        }))),
        "Invalid filters. When `conversion_rate` or `group_conversion_rate` metrics are used, custom property filters can only be used on top level."
    );
}

#[test]
fn nested_behavioural_filters() {
    assert_eq!(
        err(body(json!({"filters": [["has_done", ["has_not_done", ["is", "visit:browser", ["Chrome"]]]]]}))),
        "Invalid filters. Behavioral filters (has_done, has_not_done) cannot be nested."
    );
}

#[test]
fn behavioural_filter_on_visit_dimension() {
    assert_eq!(
        err(body(json!({"filters": [["has_done", ["is", "visit:browser", ["Chrome"]]]]}))),
        "Invalid filters. Behavioral filters (has_done, has_not_done) can only be used with event dimension filters."
    );
}

#[test]
fn unknown_goal() {
    assert_eq!(
        err(body(json!({"filters": [["is", "event:goal", ["Signup"]]]}))),
        "Invalid filters. The goal `Signup` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
    );
    assert_eq!(
        err(body(json!({"filters": [["is", "event:goal", ["Visit /thank-you"]]]}))),
        "Invalid filters. The goal `Visit /thank-you` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
    );
}

#[test]
fn unknown_goal_inside_behavioural_filter() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    assert_eq!(
        err_with(&s, body(json!({"filters": [["has_done", ["is", "event:goal", ["Unknown"]]]]}))),
        "Invalid filters. The goal `Unknown` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals"
    );
}

#[test]
fn too_many_segments() {
    let mut s = site();
    s.segments = (1..=11).map(|i| segment(i, json!([["is", "visit:country", ["EE"]]]))).collect();
    let refs: Vec<_> = (1..=11).map(|i| json!(["is", "segment", [i]])).collect();
    assert_eq!(
        err_with(&s, body(json!({"filters": [["and", refs]]}))),
        "Invalid filters. You can only use up to 10 segment filters in a query."
    );
}

#[test]
fn missing_segment() {
    assert_eq!(
        err(body(json!({"filters": [["is", "segment", [42]]]}))),
        "Invalid filters. Some segments don't exist or aren't accessible."
    );
}

#[test]
fn unparseable_segment_counts_as_missing() {
    let mut s = site();
    s.segments = vec![segment(7, json!([["bogus", "event:page", ["/"]]]))];
    assert_eq!(
        err_with(&s, body(json!({"filters": [["is", "segment", [7]]]}))),
        "Invalid filters. Some segments don't exist or aren't accessible."
    );
}

#[test]
fn revenue_feature_missing() {
    let mut s = site();
    s.revenue_available = false;
    assert_eq!(
        err_with(&s, body(json!({"metrics": ["total_revenue", "average_revenue"]}))),
        "The owner of this site does not have access to the revenue metrics feature."
    );
}

#[test]
fn session_metric_with_event_dimension() {
    assert_eq!(
        err(body(json!({"metrics": ["bounce_rate"], "dimensions": ["event:props:foo"]}))),
        "Session metric(s) `bounce_rate` cannot be queried along with event dimension(s) `event:props:foo`"
    );
    // conformance: v2/query_validations/session-metrics-cannot-be-used-with-event-props-dimension
    assert_eq!(
        err(body(json!({"metrics": ["visitors", "bounce_rate"], "dimensions": ["event:props:url"]}))),
        "Session metric(s) `bounce_rate` cannot be queried along with event dimension(s) `event:props:url`"
    );
}

#[test]
fn event_metric_with_session_dimension() {
    assert_eq!(
        err(body(json!({"metrics": ["events"], "dimensions": ["visit:exit_page"]}))),
        "Event metric(s) `events` cannot be queried along with session dimension(s) `visit:exit_page`"
    );
    // `event:page` lets session metrics through, not event metrics next to a session dimension.
    assert_eq!(
        err(body(json!({"metrics": ["scroll_depth"], "dimensions": ["event:page", "visit:entry_page"]}))),
        "Event metric(s) `scroll_depth` cannot be queried along with session dimension(s) `visit:entry_page`"
    );
}

#[test]
fn time_labels_without_time_dimension() {
    assert_eq!(
        err(body(json!({"include": {"time_labels": true}}))),
        "Invalid include.time_labels: requires a time dimension."
    );
}

// --- §2.4 metric requirements ----------------------------------------------------------------

#[test]
fn conversion_rate_without_goal() {
    assert_eq!(
        err(body(json!({"metrics": ["conversion_rate"]}))),
        "Metric `conversion_rate` can only be queried with event:goal filters or dimensions."
    );
    assert_eq!(
        err(body(json!({"metrics": ["group_conversion_rate"], "dimensions": ["event:page"]}))),
        "Metric `group_conversion_rate` can only be queried with event:goal filters or dimensions."
    );
}

#[test]
fn conversion_rate_with_only_a_prop_filter() {
    // conformance: v2/query_validations/does-not-allow-querying-conversion-rate-without-a-goal-filter
    assert_eq!(
        err(body(
            json!({"metrics": ["conversion_rate"], "dimensions": ["event:page"], "filters": [["is", "event:props:author", ["Uku"]]]})
        )),
        "Metric `conversion_rate` can only be queried with event:goal filters or dimensions."
    );
}

#[test]
fn conversion_rate_with_only_a_behavioural_goal_filter() {
    let mut s = site();
    s.goals = vec![event_goal(1, "Signup")];
    assert_eq!(
        err_with(
            &s,
            body(json!({"metrics": ["conversion_rate"], "filters": [["has_done", ["is", "event:goal", ["Signup"]]]]}))
        ),
        "Metric `conversion_rate` can only be queried with event:goal filters or dimensions."
    );
}

#[test]
fn scroll_depth_requirements() {
    let msg = "Metric `scroll_depth` can only be queried with event:page filters or dimensions.";
    assert_eq!(err(body(json!({"metrics": ["scroll_depth"]}))), msg);
    assert_eq!(err(body(json!({"metrics": ["scroll_depth"], "filters": [["not", ["is", "event:page", ["/"]]]]}))), msg);
    ok(body(json!({"metrics": ["scroll_depth"], "filters": [["is", "event:page", ["/"]]]})));
    ok(body(json!({"metrics": ["scroll_depth"], "dimensions": ["event:page"]})));
}

#[test]
fn time_on_page_requirements() {
    let msg = "Metric `time_on_page` can only be queried with event:page filters or dimensions.";
    assert_eq!(err(body(json!({"metrics": ["time_on_page"]}))), msg);
    assert_eq!(
        err(body(json!({"metrics": ["time_on_page"], "filters": [["has_done", ["is", "event:page", ["/"]]]]}))),
        msg
    );
    ok(body(json!({"metrics": ["time_on_page"], "filters": [["not", ["is", "event:page", ["/"]]]]})));
    ok(body(json!({"metrics": ["time_on_page"], "dimensions": ["time", "event:page"]})));
}

#[test]
fn views_per_visit_with_page_filter() {
    // conformance: v2/query_validations/validates-that-metric-views-per-visit-cannot-be-used-with-event-page-filter
    assert_eq!(
        err(body(json!({"metrics": ["views_per_visit"], "filters": [["is", "event:page", ["/something"]]]}))),
        "Metric `views_per_visit` cannot be queried with a filter on `event:page`."
    );
}

#[test]
fn views_per_visit_with_dimensions() {
    assert_eq!(
        err(body(json!({"metrics": ["views_per_visit"], "dimensions": ["event:name"]}))),
        "Metric `views_per_visit` cannot be queried with `dimensions`."
    );
}

#[test]
fn exit_rate_requirements() {
    assert_eq!(
        err(body(json!({"metrics": ["exit_rate"]}))),
        "Metric `exit_rate` requires a `\"visit:exit_page\"` dimension. No other dimensions are allowed."
    );
    assert_eq!(
        err(body(json!({"metrics": ["exit_rate"], "dimensions": ["visit:exit_page", "visit:browser"]}))),
        "Metric `exit_rate` requires a `\"visit:exit_page\"` dimension. No other dimensions are allowed."
    );
    assert_eq!(
        err(body(
            json!({"metrics": ["exit_rate"], "dimensions": ["visit:exit_page"], "filters": [["is", "event:page", ["/"]]]})
        )),
        "Metric `exit_rate` cannot be queried when filtering on event dimensions."
    );
    assert_eq!(
        err(body(json!({"metrics": ["exit_rate", "pageviews"], "dimensions": ["visit:exit_page"]}))),
        "Event metric(s) `pageviews` cannot be queried along with session dimension(s) `visit:exit_page`"
    );
    ok(body(json!({"metrics": ["exit_rate"], "dimensions": ["visit:exit_page"]})));
}

#[test]
fn first_failing_stage_wins() {
    // A parser error (date_range) is reported before builder errors (unknown goal).
    assert_eq!(
        err(body(json!({"date_range": "0d", "filters": [["is", "event:goal", ["Nope"]]]}))),
        r#"Invalid date_range "0d""#
    );
    // Schema errors come before everything else.
    assert_eq!(err(body(json!({"date_range": "0d", "metrics": ["nope"]}))), r#"#/metrics/0: Invalid metric "nope""#);
}
