//! The v1 `filters` parameter: expression grammar (every operator and escape), JSON forms.

use serde_json::{json, Value};
use tally_query::v1::filters::{
    is_list_expression, parse_filters_param, parse_filters_with_syntax, parse_member_list, FilterSyntax,
};

fn parse(s: &str) -> Value {
    Value::Array(parse_filters_param(s))
}

#[test]
fn is_and_is_not() {
    assert_eq!(parse("visit:browser==Chrome"), json!([["is", "visit:browser", ["Chrome"]]]));
    assert_eq!(parse("visit:browser!=Chrome"), json!([["is_not", "visit:browser", ["Chrome"]]]));
}

#[test]
fn keys_and_values_are_trimmed() {
    assert_eq!(parse("  visit:os == Mac  "), json!([["is", "visit:os", ["Mac"]]]));
    assert_eq!(parse("visit:source==Direct / None"), json!([["is", "visit:source", ["Direct / None"]]]));
}

#[test]
fn semicolon_separates_filters() {
    assert_eq!(
        parse("event:name==Purchase;event:props:package==business; visit:os_version==10.5"),
        json!([
            ["is", "event:name", ["Purchase"]],
            ["is", "event:props:package", ["business"]],
            ["is", "visit:os_version", ["10.5"]]
        ])
    );
}

#[test]
fn member_lists() {
    assert_eq!(
        parse("event:page == /plausible.io|/important-page"),
        json!([["is", "event:page", ["/plausible.io", "/important-page"]]])
    );
    // A negated list is not supported: it stays `is`.
    assert_eq!(parse("visit:browser!=Chrome|Safari"), json!([["is", "visit:browser", ["Chrome", "Safari"]]]));
    assert_eq!(
        parse("event:props:browser == Chrome|(none)"),
        json!([["is", "event:props:browser", ["Chrome", "(none)"]]])
    );
}

#[test]
fn escaped_pipes() {
    assert_eq!(parse(r"event:page==/a\|b"), json!([["is", "event:page", ["/a|b"]]]));
    assert_eq!(parse(r"event:page!=/a\|b"), json!([["is_not", "event:page", ["/a|b"]]]));
    assert_eq!(parse(r"event:page==/a\|b|/c"), json!([["is", "event:page", ["/a|b", "/c"]]]));
    assert!(!is_list_expression(r"a\|b"));
    assert!(is_list_expression("a|b"));
    assert!(is_list_expression("|b"));
    assert_eq!(parse_member_list(r"x\|y|z|"), vec!["x|y", "z", ""]);
}

#[test]
fn wildcards_keep_the_raw_value() {
    assert_eq!(parse("event:page==/en/**"), json!([["matches_wildcard", "event:page", ["/en/**"]]]));
    assert_eq!(parse("event:page!=/en/**"), json!([["matches_wildcard_not", "event:page", ["/en/**"]]]));
    // Pipes and escapes stay inside the pattern.
    assert_eq!(
        parse(r"event:page==**post\|1|/something-else"),
        json!([["matches_wildcard", "event:page", [r"**post\|1|/something-else"]]])
    );
    assert_eq!(parse("event:props:browser==F*|S*"), json!([["matches_wildcard", "event:props:browser", ["F*|S*"]]]));
}

#[test]
fn goal_filters_are_always_is() {
    assert_eq!(parse("event:goal==Signup"), json!([["is", "event:goal", ["Signup"]]]));
    assert_eq!(
        parse("event:goal==Signup|Visit /**register"),
        json!([["is", "event:goal", ["Signup", "Visit /**register"]]])
    );
    assert_eq!(parse("event:goal!=Signup"), json!([["is", "event:goal", ["Signup"]]]));
    assert_eq!(parse("event:goal==Visit /blog**"), json!([["is", "event:goal", ["Visit /blog**"]]]));
    assert_eq!(parse(r"event:goal==A\|B"), json!([["is", "event:goal", ["A|B"]]]));
    assert_eq!(parse("event:goal == Visit /plausible.io"), json!([["is", "event:goal", ["Visit /plausible.io"]]]));
}

#[test]
fn malformed_parts_are_dropped() {
    assert_eq!(parse("visit:browser"), json!([]));
    assert_eq!(parse("visit:browser=="), json!([]));
    assert_eq!(parse("==Chrome"), json!([]));
    assert_eq!(parse("a==b==c"), json!([]));
    assert_eq!(parse("a==b!=c"), json!([]));
    assert_eq!(parse(";;visit:os==Mac;"), json!([["is", "visit:os", ["Mac"]]]));
    assert_eq!(parse(""), json!([]));
}

#[test]
fn invalid_country_codes_are_dropped() {
    assert_eq!(parse("visit:country==EE"), json!([["is", "visit:country", ["EE"]]]));
    assert_eq!(parse("visit:country==EST"), json!([]));
    assert_eq!(parse("visit:country==EE|USA"), json!([]));
    assert_eq!(parse("visit:country==EE|US"), json!([["is", "visit:country", ["EE", "US"]]]));
    assert_eq!(parse("visit:country!=E*"), json!([["matches_wildcard_not", "visit:country", ["E*"]]]));
    assert_eq!(parse("visit:country==EEE;visit:os==Mac"), json!([["is", "visit:os", ["Mac"]]]));
}

#[test]
fn json_array_is_v2_filters() {
    let (syntax, filters) = parse_filters_with_syntax(r#"[["contains","event:page",["/en*"]]]"#);
    assert_eq!(syntax, FilterSyntax::V2Json);
    assert_eq!(Value::Array(filters), json!([["contains", "event:page", ["/en*"]]]));
}

#[test]
fn other_json_values_mean_no_filters() {
    for raw in ["123", "true", "null", "\"visit:os==Mac\""] {
        let (syntax, filters) = parse_filters_with_syntax(raw);
        assert_eq!(syntax, FilterSyntax::OtherJson, "{raw}");
        assert!(filters.is_empty());
    }
}

#[test]
fn json_object_is_the_dashboard_format() {
    let (syntax, filters) = parse_filters_with_syntax(
        r#"{"page": "/blog/**", "browser": "!Chrome", "source": "~oogle", "os": "Mac|Windows",
            "props": {"author": "!John|Jane", "tier": "~gold"}, "unknown": "x", "goal": "Signup"}"#,
    );
    assert_eq!(syntax, FilterSyntax::DashboardMap);
    assert_eq!(
        Value::Array(filters),
        json!([
            ["is_not", "visit:browser", ["Chrome"]],
            ["is", "event:goal", ["Signup"]],
            ["is", "visit:os", ["Mac", "Windows"]],
            ["matches_wildcard", "event:page", ["/blog/**"]],
            ["is_not", "event:props:author", ["John", "Jane"]],
            ["contains", "event:props:tier", ["gold"]],
            ["contains", "visit:source", ["oogle"]]
        ])
    );
}

#[test]
fn dashboard_negated_contains_and_wildcards() {
    assert_eq!(parse(r#"{"page": "!~blog"}"#), json!([["matches_wildcard_not", "event:page", ["**blog**"]]]));
    assert_eq!(parse(r#"{"page": "!/a*|/b"}"#), json!([["matches_wildcard_not", "event:page", ["/a*", "/b"]]]));
    assert_eq!(parse(r#"{"page": "/a*|/b"}"#), json!([["matches_wildcard", "event:page", ["/a*", "/b"]]]));
    assert_eq!(parse(r#"{"page": "!/a*"}"#), json!([["matches_wildcard_not", "event:page", ["/a*"]]]));
    assert_eq!(parse(r#"{"page": "~/a*"}"#), json!([["contains", "event:page", ["/a*"]]]));
    // `*` is a wildcard only on page, goal and hostname keys.
    assert_eq!(parse(r#"{"browser": "Chr*"}"#), json!([["is", "visit:browser", ["Chr*"]]]));
    assert_eq!(
        parse(r#"{"browser": "!~Chr|Saf"}"#),
        json!([["matches_wildcard_not", "visit:browser", ["**Chr**", "**Saf**"]]])
    );
}
