//! `POST /api/event` request parsing (platform.md §3.1–3.7), including every Events API request body
//! of the conformance cases in cases/events/{ingestion,engagement,misc,user_id}.json.

use rust_decimal::Decimal;
use serde_json::{json, Value};
use tally_ingest::request::{parse_event_request, EventRequest, Revenue};

const SITE: &str = "test-site.example";

fn ok_with(content_type: Option<&str>, body: &str) -> EventRequest {
    match parse_event_request(content_type, body.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("expected {body} to parse, got {e}"),
    }
}

fn ok(body: Value) -> EventRequest {
    ok_with(Some("application/json"), &body.to_string())
}

fn err_raw(content_type: Option<&str>, body: &[u8]) -> Value {
    match parse_event_request(content_type, body) {
        Ok(r) => panic!("expected a 400, parsed {r:?}"),
        Err(e) => {
            assert_eq!(e.status, 400);
            e.body
        }
    }
}

fn err(body: Value) -> Value {
    err_raw(Some("application/json"), body.to_string().as_bytes())
}

fn props(r: &EventRequest) -> Vec<(&str, &str)> {
    r.props.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn unparsable() -> Value {
    json!({"errors": {"request": ["Unable to parse request body as json"]}})
}

const CHROME_UA_BODY_URL: &str = "http://example.com/";

// ---------------------------------------------------------------------------------------------
// Conformance case bodies: cases/events/ingestion.json
// ---------------------------------------------------------------------------------------------

#[test]
fn records_the_event_and_session() {
    let r = ok(
        json!({"name": "pageview", "url": CHROME_UA_BODY_URL, "domain": SITE, "referrer": "http://m.facebook.com/"}),
    );
    assert_eq!(r.name, "pageview");
    assert!(r.is_pageview());
    assert_eq!(r.url, "http://example.com/");
    assert_eq!(r.hostname, "example.com");
    assert_eq!(r.pathname, "/");
    assert_eq!(r.domains, vec![SITE]);
    assert_eq!(r.referrer.as_deref(), Some("http://m.facebook.com/"));
    assert!(r.props.is_empty());
    assert!(r.query.is_empty());
    assert_eq!(r.revenue, None);
    assert!(r.interactive);
    assert_eq!((r.scroll_depth, r.engagement_time, r.screen_width), (None, None, None));
    assert!(!r.hash_mode);
    assert_eq!(r.script_version, 0);
}

#[test]
fn works_with_content_type_text_plain() {
    let body = format!("{{\"domain\":\"{SITE}\",\"name\":\"pageview\",\"url\":\"http://example.com/\"}}");
    let r = ok_with(Some("text/plain"), &body);
    assert_eq!((r.name.as_str(), r.hostname.as_str(), r.pathname.as_str()), ("pageview", "example.com", "/"));
    assert_eq!(r.domains, vec![SITE]);
    // any content type, or none, reads the body the same way
    assert_eq!(ok_with(None, &body), r);
    assert_eq!(ok_with(Some("application/x-www-form-urlencoded"), &body), r);
}

#[test]
fn returns_error_if_json_cannot_be_parsed() {
    assert_eq!(err_raw(Some("text/plain"), b""), unparsable());
    assert_eq!(err_raw(Some("application/json"), b""), unparsable());
}

#[test]
fn can_send_to_multiple_dashboards_by_listing_multiple_domains() {
    let r = ok(json!({"name": "pageview", "url": "http://example.com/", "referrer": "http://m.facebook.com/",
        "domain": format!("{SITE},{SITE}.site2")}));
    assert_eq!(r.domains, vec![SITE.to_string(), format!("{SITE}.site2")]);
}

#[test]
fn www_is_stripped_from_domain() {
    let r = ok(json!({"name": "custom event", "url": "http://example.com/", "domain": format!("www.{SITE}")}));
    assert_eq!(r.domains, vec![SITE]);
    assert_eq!(r.name, "custom event");
}

#[test]
fn www_is_stripped_from_hostname() {
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com/", "domain": SITE}));
    assert_eq!(r.hostname, "example.com");
}

#[test]
fn empty_path_defaults_to_slash() {
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com", "domain": SITE}));
    assert_eq!(r.pathname, "/");
}

#[test]
fn trailing_whitespace_is_removed() {
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com/path ", "domain": SITE}));
    assert_eq!(r.pathname, "/path");
    let r = ok(json!({"name": "pageview", "url": "http://example.com/path%20%09", "domain": SITE}));
    assert_eq!(r.pathname, "/path");
}

#[test]
fn bot_and_control_requests_parse() {
    // bots-and-crawlers-are-ignored: dropping is the pipeline's job; both requests are valid.
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com/", "domain": SITE}));
    assert_eq!(r.hostname, "example.com");
    let r = ok(json!({"name": "pageview", "url": "http://example.com/control", "domain": SITE}));
    assert_eq!(r.pathname, "/control");
    // blocks-traffic-from-a-domain-when-it-s-blocked
    let r = ok(json!({"domain": SITE, "name": "pageview", "url": "https://feature-flag-test.com"}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str()), ("feature-flag-test.com", "/"));
}

#[test]
fn referrers_are_kept_raw() {
    for referrer in [
        "https://facebook.com",
        "https://facebook.com/page/",
        "https://example.com",
        "http://localhost:4000/",
        "https://blog.example.com",
        "https://www.indiehackers.com/page?query=param#hash",
        "https://www.indiehackers.com/landing-page-feedback",
        "ftp://wat",
        "android-app://some.android.app",
        "https:://twitter.com",
    ] {
        let r = ok(json!({"name": "pageview", "url": "http://example.com/", "domain": SITE, "referrer": referrer}));
        assert_eq!(r.referrer.as_deref(), Some(referrer));
    }
}

#[test]
fn utm_and_source_query_params() {
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com/?utm_source=betalist", "domain": SITE,
        "referrer": "https://betalist.com/my-produxct"}));
    assert_eq!(r.query_param("utm_source"), Some("betalist"));
    assert_eq!(r.pathname, "/");
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com/?source=betalist", "domain": SITE}));
    assert_eq!(r.query, vec![("source".to_string(), "betalist".to_string())]);
    let r = ok(json!({"name": "pageview", "url": "http://www.example.com/?utm_source=facebook", "domain": SITE}));
    assert_eq!(r.query_param("utm_source"), Some("facebook"));
    let r = ok(json!({"name": "pageview",
        "url": "http://www.example.com/?utm_medium=ads&utm_source=instagram&utm_campaign=video_story", "domain": SITE}));
    assert_eq!(
        r.query,
        vec![
            ("utm_medium".to_string(), "ads".to_string()),
            ("utm_source".to_string(), "instagram".to_string()),
            ("utm_campaign".to_string(), "video_story".to_string()),
        ]
    );
    assert_eq!(r.query_param("utm_term"), None);
}

#[test]
fn unknown_user_agent_and_custom_event() {
    let r = ok(json!({"name": "pageview", "url": "http://example.com/", "domain": SITE}));
    assert!(r.is_pageview());
    let r = ok(json!({"name": "custom event", "url": "http://example.com/", "domain": SITE}));
    assert!(!r.is_pageview() && !r.is_engagement());
}

#[test]
fn casts_custom_props_to_string() {
    let r = ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE,
        "props": {"bool_test": true, "number_test": 12}}));
    assert_eq!(props(&r), vec![("bool_test", "true"), ("number_test", "12")]);
}

#[test]
fn records_custom_props_for_an_engagement_event() {
    let r = ok(json!({"n": "pageview", "u": "https://ab.cd", "d": SITE}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str()), ("ab.cd", "/"));
    let r = ok(json!({"name": "engagement", "url": "http://ab.cd/", "domain": SITE, "sd": 50, "e": 1000,
        "props": {"bool_test": true, "number_test": 12}}));
    assert!(r.is_engagement());
    assert_eq!((r.scroll_depth, r.engagement_time), (Some(50), Some(1000)));
    assert_eq!(props(&r), vec![("bool_test", "true"), ("number_test", "12")]);
}

#[test]
fn filters_out_bad_props() {
    let r = ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE,
        "props": {"false": null, "": false, "good": true, "      ": "    ", "    ": "value", "key": "    "}}));
    assert_eq!(props(&r), vec![("good", "true")]);
}

#[test]
fn ignores_malformed_custom_props() {
    let r =
        ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE, "props": "\"show-more:button\""}));
    assert!(r.props.is_empty());
}

#[test]
fn can_send_props_stringified() {
    let r =
        ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE, "props": "{\"number_test\":12}"}));
    assert_eq!(props(&r), vec![("number_test", "12")]);
}

#[test]
fn ignores_custom_prop_with_array_map_or_nil_value() {
    let r = ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE,
        "props": "{\"other\":\"key\",\"wat\":[\"some-thing\"]}"}));
    assert_eq!(props(&r), vec![("other", "key")]);
    let r = ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE,
        "props": "{\"foo\":{\"bar\":\"baz\"},\"other_key\":1}"}));
    assert_eq!(props(&r), vec![("other_key", "1")]);
    let r = ok(json!({"name": "Signup", "url": "http://example.com/", "domain": SITE,
        "props": "{\"foo\":null,\"other_key\":true}"}));
    assert_eq!(props(&r), vec![("other_key", "true")]);
}

#[test]
fn revenue_with_and_without_matching_goal() {
    let r = ok(json!({"name": "Payment", "url": "http://example.com/", "domain": SITE,
        "revenue": {"amount": 10, "currency": "BRL"}}));
    assert_eq!(r.revenue, Some(Revenue { amount: Decimal::from(10), currency: "BRL".into() }));
    let r = ok(json!({"name": "Add to Cart", "url": "http://example.com/", "domain": SITE,
        "revenue": {"amount": 10.2, "currency": "USD"}}));
    assert_eq!(r.revenue, Some(Revenue { amount: "10.2".parse().unwrap(), currency: "USD".into() }));
}

#[test]
fn ip_header_cases_parse() {
    // looks-up-location / disputed territory / tor / IPv6 / BunnyCDN / X-Plausible-IP / Forwarded cases
    // all send the same body; the headers are client_ip's business (request_client_ip.rs).
    let r = ok(json!({"name": "pageview", "domain": SITE, "url": "http://example.com/"}));
    assert_eq!((r.hostname.as_str(), r.domains.as_slice()), ("example.com", [SITE.to_string()].as_slice()));
}

#[test]
fn accepts_shorthand_map_keys() {
    let r = ok(
        json!({"n": "pageview", "u": "http://www.example.com/opportunity", "d": SITE, "r": "https://facebook.com/page"}),
    );
    assert_eq!(r.name, "pageview");
    assert_eq!(r.hostname, "example.com");
    assert_eq!(r.pathname, "/opportunity");
    assert_eq!(r.domains, vec![SITE]);
    assert_eq!(r.referrer.as_deref(), Some("https://facebook.com/page"));
}

#[test]
fn does_not_record_hash_when_hash_mode_is_0() {
    let r = ok(json!({"n": "pageview", "u": "http://www.example.com/#page-a", "d": SITE, "h": 0}));
    assert_eq!(r.pathname, "/");
    assert!(!r.hash_mode);
}

#[test]
fn can_use_double_quotes_in_query_params() {
    let r = ok(json!({"n": "pageview", "u": "https://test.com/?utm_source=Something+%22quoted%22", "d": SITE, "h": 1}));
    assert_eq!(r.query_param("utm_source"), Some("Something \"quoted\""));
    assert_eq!(r.pathname, "/");
    assert!(r.hash_mode);
}

#[test]
fn responds_400_when_required_fields_are_missing() {
    assert_eq!(err(json!({"domain": SITE, "name": "pageview"})), json!({"errors": {"url": ["is required"]}}));
}

#[test]
fn responds_400_when_event_name_is_blank() {
    assert_eq!(
        err(json!({"domain": SITE, "name": "", "url": "http://example.com"})),
        json!({"errors": {"event_name": ["can't be blank"]}})
    );
}

// ---------------------------------------------------------------------------------------------
// cases/events/engagement.json
// ---------------------------------------------------------------------------------------------

fn engagement_error() -> Value {
    json!({"errors": {"event_name": ["engagement event requires a valid integer value for at least one of 'sd' or 'e' fields"]}})
}

#[test]
fn rejects_engagement_when_both_sd_and_e_are_missing() {
    ok(json!({"n": "pageview", "u": "https://test.com", "d": SITE}));
    assert_eq!(err(json!({"n": "engagement", "u": "https://test.com", "d": SITE})), engagement_error());
}

#[test]
fn ingests_engagement_time_as_missing_when_not_in_params() {
    let r = ok(json!({"n": "engagement", "u": "https://test.com", "d": SITE, "sd": 50}));
    assert_eq!((r.scroll_depth, r.engagement_time), (Some(50), None));
}

#[test]
fn ingests_engagement_time_as_missing_when_tracker_sends_invalid_high_values() {
    let r = ok(json!({"n": "engagement", "u": "https://test.com", "d": SITE, "sd": 50, "e": 1741850224785u64}));
    assert_eq!((r.scroll_depth, r.engagement_time), (Some(50), None));
}

#[test]
fn sd_and_e_are_ignored_if_name_is_not_engagement() {
    let r = ok(json!({"n": "pageview", "u": "https://test.com", "d": SITE, "sd": 10, "e": 789}));
    assert_eq!((r.scroll_depth, r.engagement_time), (None, None));
    let r = ok(json!({"n": "custom_e", "u": "https://test.com", "d": SITE, "sd": 10, "e": 789}));
    assert_eq!((r.scroll_depth, r.engagement_time), (None, None));
    // ...even invalid ones
    let r = ok(json!({"n": "custom_e", "u": "https://test.com", "d": SITE, "sd": "x", "e": [1]}));
    assert_eq!((r.scroll_depth, r.engagement_time), (None, None));
}

#[test]
fn ingests_scroll_depth_as_100_when_sd_above_100() {
    let r = ok(json!({"n": "engagement", "u": "https://test.com", "d": SITE, "sd": 101}));
    assert_eq!(r.scroll_depth, Some(100));
    let r =
        ok_with(None, &format!("{{\"n\":\"engagement\",\"u\":\"/\",\"d\":\"{SITE}\",\"sd\":99999999999999999999999}}"));
    assert_eq!(r.scroll_depth, Some(100));
}

#[test]
fn parses_scroll_depth_from_a_string() {
    let r = ok(json!({"n": "engagement", "u": "https://test.com", "d": SITE, "sd": "1"}));
    assert_eq!(r.scroll_depth, Some(1));
}

#[test]
fn engagement_value_rules() {
    let eng = |extra: Value| {
        let mut body = json!({"n": "engagement", "u": "https://test.com", "d": SITE});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        parse_event_request(None, body.to_string().as_bytes()).map(|r| (r.scroll_depth, r.engagement_time))
    };
    assert_eq!(eng(json!({"sd": 0})), Ok((Some(0), None)));
    assert_eq!(eng(json!({"sd": 100})), Ok((Some(100), None)));
    assert_eq!(eng(json!({"sd": -1, "e": 5})), Ok((None, Some(5))));
    assert_eq!(eng(json!({"sd": 50.5, "e": 5})), Ok((None, Some(5))));
    assert_eq!(eng(json!({"sd": "1 ", "e": 5})), Ok((None, Some(5))));
    assert_eq!(eng(json!({"sd": "+7"})), Ok((Some(7), None)));
    assert_eq!(eng(json!({"sd": "101"})), Ok((Some(100), None)));
    assert_eq!(eng(json!({"sd": true, "e": 5})), Ok((None, Some(5))));
    assert_eq!(eng(json!({"e": "1000"})), Ok((None, Some(1000))));
    assert_eq!(eng(json!({"e": 2_591_999_999u64})), Ok((None, Some(2_591_999_999))));
    assert_eq!(eng(json!({"sd": 1, "e": 2_592_000_000u64})), Ok((Some(1), None)));
    assert_eq!(eng(json!({"sd": 1, "e": -1})), Ok((Some(1), None)));
    assert_eq!(eng(json!({"sd": 1, "e": 1.5})), Ok((Some(1), None)));
    assert_eq!(eng(json!({"sd": 0, "e": 0})), Ok((Some(0), Some(0))));
    // e = 0 is indistinguishable from a missing e
    for bad in [
        json!({"e": 0}),
        json!({"e": -5}),
        json!({"sd": null, "e": null}),
        json!({"sd": "abc"}),
        json!({"sd": -3, "e": "0"}),
        json!({"e": 2_592_000_000u64}),
    ] {
        assert_eq!(eng(bad.clone()).unwrap_err().body, engagement_error(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// cases/events/misc.json and user_id.json
// ---------------------------------------------------------------------------------------------

#[test]
fn defaults_hostname_to_none_when_missing() {
    let body =
        format!("{{\"domain\":\"{SITE}\",\"name\":\"pageview\",\"url\":\"file:///android_asset/www/index.html\"}}");
    let r = ok_with(Some("text/plain"), &body);
    assert_eq!(r.hostname, "(none)");
    assert_eq!(r.pathname, "/android_asset/www/index.html");
    assert_eq!(r.domains, vec![SITE]);
}

#[test]
fn accepts_chrome_extension_urls() {
    let body = format!(
        "{{\"domain\":\"{SITE}\",\"name\":\"pageview\",\"url\":\"chrome-extension://liipgellkffekalgefpjolodblggkmjg/popup.html\"}}"
    );
    let r = ok_with(Some("text/plain"), &body);
    assert_eq!(r.hostname, "liipgellkffekalgefpjolodblggkmjg");
    assert_eq!(r.pathname, "/popup.html");
    let r = ok(json!({"n": "pageview", "u": "chrome-extension://id/popup.html", "d": SITE}));
    assert_eq!(r.hostname, "id");
}

#[test]
fn user_id_test_request() {
    let r = ok(json!({"url": "https://user-id-test-domain.com/", "domain": SITE, "name": "pageview"}));
    assert_eq!(r.hostname, "user-id-test-domain.com");
    assert_eq!(r.domains, vec![SITE]);
}

// ---------------------------------------------------------------------------------------------
// Body (§3.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn body_must_be_one_json_object() {
    for body in [
        &b"defnotjson"[..],
        b"[]",
        b"[{\"n\":\"pageview\"}]",
        b"\"x\"",
        b"12",
        b"null",
        b"true",
        b"{",
        b"{\"n\":\"pageview\",}",
        b"{} {}",
        b"\xef\xbb\xbf{}",
        b"{\"n\":\"\xff\"}",
        b"{\"n\":\"a\x01b\"}",
        b"{\"n\":1e400}",
        b"{\"n\":\"\\ud800\"}",
        b"{'n':'pageview'}",
    ] {
        for ct in [Some("text/plain"), Some("application/json"), None] {
            assert_eq!(err_raw(ct, body), unparsable(), "{}", String::from_utf8_lossy(body));
        }
    }
}

#[test]
fn body_size_limit_is_one_million_bytes() {
    let head = format!("{{\"n\":\"pageview\",\"u\":\"http://example.com/\",\"d\":\"{SITE}\",\"x\":\"");
    let fill = 1_000_000 - head.len() - 2;
    let body = format!("{head}{}\"}}", "a".repeat(fill));
    assert_eq!(body.len(), 1_000_000);
    ok_with(Some("text/plain"), &body);
    let body = format!("{head}{}\"}}", "a".repeat(fill + 1));
    assert_eq!(err_raw(Some("text/plain"), body.as_bytes()), unparsable());
}

#[test]
fn whitespace_around_the_object_and_duplicate_keys() {
    let r =
        ok_with(None, " \n\t{\"n\":\"first\",\"n\":\"pageview\",\"u\":\"http://example.com/a\",\"d\":\"x.com\"}\r\n");
    assert_eq!(r.name, "pageview");
    assert_eq!(r.pathname, "/a");
}

#[test]
fn empty_object_reports_every_missing_field() {
    assert_eq!(
        err(json!({})),
        json!({"errors": {"domain": ["can't be blank"], "event_name": ["can't be blank"], "url": ["is required"]}})
    );
    // key order of the error object is alphabetical, as Jason encodes an Elixir map
    let body = err(json!({})).to_string();
    assert_eq!(
        body,
        r#"{"errors":{"domain":["can't be blank"],"event_name":["can't be blank"],"url":["is required"]}}"#
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let r = ok(
        json!({"n": "pageview", "u": "http://example.com/", "d": SITE, "zzz": [1, {"a": [[[]]]}], "timestamp": "2020-01-01"}),
    );
    assert_eq!(r.name, "pageview");
    // deep nesting in an ignored field is fine
    let body = format!(
        "{{\"n\":\"pageview\",\"u\":\"/\",\"d\":\"{SITE}\",\"x\":{}{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    assert_eq!(ok_with(None, &body).pathname, "/");
}

// ---------------------------------------------------------------------------------------------
// Event name (§3.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn event_name_string_or_integer() {
    assert_eq!(ok(json!({"n": 404, "u": "http://example.com/x", "d": SITE})).name, "404");
    assert_eq!(ok(json!({"n": -7, "u": "http://example.com/x", "d": SITE})).name, "-7");
    assert_eq!(
        ok_with(None, &format!("{{\"n\":123456789012345678901234567890,\"u\":\"/\",\"d\":\"{SITE}\"}}")).name,
        "123456789012345678901234567890"
    );
    assert_eq!(ok(json!({"name": " Signup ", "url": "http://example.com/", "d": SITE})).name, " Signup ");
    for bad in [json!(true), json!(1.5), json!(404.0), json!([]), json!({"a": 1}), json!(["pageview"])] {
        assert_eq!(
            err(json!({"n": bad, "u": "http://example.com/", "d": SITE})),
            json!({"errors": {"event_name": ["is invalid"]}}),
            "{bad}"
        );
    }
}

#[test]
fn event_name_blank() {
    for blank in [json!(""), json!("   "), json!("\t\n"), json!(null)] {
        assert_eq!(
            err(json!({"n": blank, "u": "http://example.com/", "d": SITE})),
            json!({"errors": {"event_name": ["can't be blank"]}})
        );
    }
    assert_eq!(
        err(json!({"u": "http://example.com/", "d": SITE})),
        json!({"errors": {"event_name": ["can't be blank"]}})
    );
}

#[test]
fn event_name_aliases() {
    assert_eq!(ok(json!({"n": "a", "name": "b", "u": "/", "d": SITE})).name, "a");
    assert_eq!(ok(json!({"n": null, "name": "b", "u": "/", "d": SITE})).name, "b");
    assert_eq!(ok(json!({"name": "b", "u": "/", "d": SITE})).name, "b");
}

#[test]
fn event_name_at_most_120_characters() {
    let name = "a".repeat(120);
    assert_eq!(ok(json!({"n": name, "u": "/", "d": SITE})).name, name);
    assert_eq!(
        err(json!({"n": "a".repeat(121), "u": "/", "d": SITE})),
        json!({"errors": {"event_name": ["should be at most 120 character(s)"]}})
    );
    // characters, not bytes: 120 × "é" (2 bytes) is fine, and so is 120 × "e" + combining acute
    ok(json!({"n": "é".repeat(120), "u": "/", "d": SITE}));
    ok(json!({"n": "e\u{301}".repeat(120), "u": "/", "d": SITE}));
    err(json!({"n": "é".repeat(121), "u": "/", "d": SITE}));
}

// ---------------------------------------------------------------------------------------------
// URL, hostname, pathname, query (§3.2, §3.3)
// ---------------------------------------------------------------------------------------------

#[test]
fn url_aliases_and_types() {
    assert_eq!(
        ok(json!({"n": "pageview", "u": "http://a.com/u", "url": "http://b.com/url", "d": SITE})).hostname,
        "a.com"
    );
    assert_eq!(ok(json!({"n": "pageview", "u": null, "url": "http://b.com/url", "d": SITE})).hostname, "b.com");
    for bad in [json!(12), json!(true), json!(["http://a.com"]), json!({"href": "http://a.com"})] {
        assert_eq!(
            err(json!({"n": "pageview", "u": bad, "d": SITE})),
            json!({"errors": {"url": ["must be a valid url"]}})
        );
    }
    assert_eq!(err(json!({"n": "pageview", "u": null, "d": SITE})), json!({"errors": {"url": ["is required"]}}));
}

#[test]
fn url_at_most_2000_bytes() {
    let base = "http://example.com/";
    let url = format!("{base}{}", "a".repeat(2000 - base.len()));
    assert_eq!(ok(json!({"n": "pageview", "u": url, "d": SITE})).url, url);
    let url = format!("{base}{}", "a".repeat(2001 - base.len()));
    assert_eq!(err(json!({"n": "pageview", "u": url, "d": SITE})), json!({"errors": {"url": ["must be a valid url"]}}));
    // bytes, not characters
    let url = format!("{base}{}", "é".repeat(1000));
    assert_eq!(err(json!({"n": "pageview", "u": url, "d": SITE})), json!({"errors": {"url": ["must be a valid url"]}}));
}

#[test]
fn data_scheme_is_not_allowed() {
    for url in ["data:text/html,%3Cscript%3Ealert%28%27hi%27%29%3B%3C%2Fscript%3E", "DATA:,x", "Data://x.com/"] {
        assert_eq!(
            err(json!({"n": "pageview", "u": url, "d": SITE})),
            json!({"errors": {"url": ["scheme is not allowed"]}})
        );
    }
    // without a domain, the URL cannot supply one either
    assert_eq!(
        err(json!({"n": "pageview", "u": "data:,x"})),
        json!({"errors": {"url": ["scheme is not allowed"], "domain": ["can't be blank"]}})
    );
}

#[test]
fn other_schemes_are_fine() {
    for (url, host, path) in [
        ("app://localhost/home", "localhost", "/home"),
        ("capacitor://localhost/", "localhost", "/"),
        ("ionic://app.example/x", "app.example", "/x"),
        ("about:config", "(none)", "config"),
        ("android-app://com.example/path", "com.example", "/path"),
        ("HTTPS://WWW.Example.COM/Path", "WWW.Example.COM", "/Path"),
        ("https://www.Example.COM/Path", "Example.COM", "/Path"),
    ] {
        let r = ok(json!({"n": "pageview", "u": url, "d": SITE}));
        assert_eq!((r.hostname.as_str(), r.pathname.as_str()), (host, path), "{url}");
    }
}

#[test]
fn urls_without_host() {
    let r = ok(json!({"n": "pageview", "u": "/blog", "d": SITE}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str()), ("(none)", "/blog"));
    let r = ok(json!({"n": "pageview", "u": "blog/post?x=1", "d": SITE}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str(), r.query_param("x")), ("(none)", "blog/post", Some("1")));
    let r = ok(json!({"n": "pageview", "u": "", "d": SITE}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str()), ("(none)", "/"));
    let r = ok(json!({"n": "pageview", "u": "http:", "d": SITE}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str()), ("(none)", "/"));
    let r = ok(json!({"n": "pageview", "u": "http://:80/x", "d": SITE}));
    assert_eq!((r.hostname.as_str(), r.pathname.as_str()), ("(none)", "/x"));
    // a host-less URL cannot supply the domain
    assert_eq!(err(json!({"n": "pageview", "u": "/blog"})), json!({"errors": {"domain": ["can't be blank"]}}));
    assert_eq!(err(json!({"n": "pageview", "u": "http://:80/"})), json!({"errors": {"domain": ["can't be blank"]}}));
    // `scheme:///path` has an empty host: hostname (none), and an (unknown) empty domain
    let r = ok(json!({"n": "pageview", "u": "file:///index.html"}));
    assert_eq!((r.hostname.as_str(), r.domains.as_slice()), ("(none)", [String::new()].as_slice()));
}

#[test]
fn urls_the_url_crate_rejects_are_handled() {
    for (url, host, path) in [
        ("http://exa mple.com/a b", "exa mple.com", "/a b"),
        ("http://[::1]:8080/x", "::1", "/x"),
        ("http://user:pass@example.com:99999/p", "example.com", "/p"),
        ("http://example.com:abc/p", "example.com", "/p"),
        ("https:://twitter.com", "(none)", "://twitter.com"),
        ("http://exa%mple.com/%zz%4", "exa%mple.com", "/%zz%4"),
        ("localhost:3000/page", "(none)", "3000/page"),
        ("//cdn.example.com/x", "cdn.example.com", "/x"),
        ("http://例え.jp/パス", "例え.jp", "/パス"),
    ] {
        let r = ok(json!({"n": "pageview", "u": url, "d": SITE}));
        assert_eq!((r.hostname.as_str(), r.pathname.as_str()), (host, path), "{url}");
    }
}

#[test]
fn hostname_is_trimmed_and_www_stripped_once() {
    assert_eq!(ok(json!({"n": "p", "u": "http://www.www.example.com/", "d": SITE})).hostname, "www.example.com");
    assert_eq!(ok(json!({"n": "p", "u": "http://WWW.example.com/", "d": SITE})).hostname, "WWW.example.com");
    assert_eq!(ok(json!({"n": "p", "u": "http:// example.com /", "d": SITE})).hostname, "example.com");
    // a host that sanitizes to nothing fails `validate_required(:hostname)`
    assert_eq!(
        err(json!({"n": "p", "u": "http://www./", "d": SITE})),
        json!({"errors": {"hostname": ["can't be blank"]}})
    );
}

#[test]
fn pathname_is_percent_decoded() {
    for (url, path) in [
        ("http://example.com/caf%C3%A9", "/café"),
        ("http://example.com/a%2Fb", "/a/b"),
        ("http://example.com/a+b", "/a+b"),
        ("http://example.com/100%", "/100%"),
        ("http://example.com/%zz", "/%zz"),
        ("http://example.com/%E2%82", "/\u{FFFD}"),
        ("http://example.com/a?b=c#d", "/a"),
        ("http://example.com//double//slash/", "//double//slash/"),
        ("http://example.com", "/"),
        ("http://example.com?x=1", "/"),
        ("http://example.com#frag", "/"),
    ] {
        assert_eq!(ok(json!({"n": "p", "u": url, "d": SITE})).pathname, path, "{url}");
    }
    // a path that decodes to whitespace only is blank
    assert_eq!(
        err(json!({"n": "p", "u": "http://   /x", "d": SITE})),
        json!({"errors": {"hostname": ["can't be blank"]}})
    );
    // the host is not decoded
    assert_eq!(ok(json!({"n": "p", "u": "http://example.com%20", "d": SITE})).hostname, "example.com%20");
    assert_eq!(err(json!({"n": "p", "u": "%20", "d": SITE})), json!({"errors": {"pathname": ["can't be blank"]}}));
}

#[test]
fn hash_mode_appends_the_fragment() {
    let r = ok(json!({"n": "pageview", "u": "http://example.com/app#/users/42", "d": SITE, "h": 1}));
    assert_eq!(r.pathname, "/app#/users/42");
    assert!(r.hash_mode);
    let r = ok(json!({"n": "pageview", "u": "http://example.com/a#b%20c#d", "d": SITE, "hashMode": 1}));
    assert_eq!(r.pathname, "/a#b c#d");
    let r = ok(json!({"n": "pageview", "u": "http://example.com/#", "d": SITE, "h": 1}));
    assert_eq!(r.pathname, "/#");
    let r = ok(json!({"n": "pageview", "u": "http://example.com/path #x ", "d": SITE, "h": 1}));
    assert_eq!(r.pathname, "/path#x ");
    let r = ok(json!({"n": "pageview", "u": "http://example.com#x", "d": SITE, "h": "1"}));
    assert_eq!(r.pathname, "/#x");
    let h = format!("{}1", "0".repeat(30));
    let r = ok(json!({"n": "pageview", "u": "http://example.com#x", "d": SITE, "h": h}));
    assert_eq!(r.pathname, "/#x");
    for h in [json!(0), json!(2), json!("0"), json!(null), json!("  ")] {
        let r = ok(json!({"n": "pageview", "u": "http://example.com/a#x", "d": SITE, "h": h}));
        assert_eq!(r.pathname, "/a", "{h}");
        assert!(!r.hash_mode);
    }
    // `h` is an Ecto integer: anything else is a cast error
    for h in [
        json!(true),
        json!(1.0),
        json!("1x"),
        json!(" 1"),
        json!([1]),
        json!({}),
        json!(format!("{}1", "0".repeat(31))),
    ] {
        assert_eq!(
            err(json!({"n": "pageview", "u": "http://example.com/a#x", "d": SITE, "h": h})),
            json!({"errors": {"hash_mode": ["is invalid"]}}),
            "{h}"
        );
    }
}

#[test]
fn query_pairs_in_order_last_wins() {
    let r = ok(json!({"n": "p", "u": "http://example.com/?a=1&b=x+y%21&a=3&flag&=v&&c=a=b&", "d": SITE}));
    let pairs: Vec<(&str, &str)> = r.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs, vec![("a", "1"), ("b", "x y!"), ("a", "3"), ("flag", ""), ("", "v"), ("", ""), ("c", "a=b")]);
    assert_eq!(r.query_param("a"), Some("3"));
    assert_eq!(r.query_param("flag"), Some(""));
    assert_eq!(ok(json!({"n": "p", "u": "http://example.com/?", "d": SITE})).query, vec![]);
    assert_eq!(ok(json!({"n": "p", "u": "http://example.com/#?a=1", "d": SITE})).query, vec![]);
}

// ---------------------------------------------------------------------------------------------
// Domains (§3.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn domains_from_d_or_the_url() {
    let r = ok(json!({"n": "p", "u": "http://www.example.com/", "d": " a.com , www.b.com,c.com "}));
    assert_eq!(r.domains, vec!["a.com", "b.com", "c.com"]);
    let r = ok(json!({"n": "p", "u": "http://www.example.com/", "domain": "x.com"}));
    assert_eq!(r.domains, vec!["x.com"]);
    let r = ok(json!({"n": "p", "u": "http://www.example.com/", "d": "x.com", "domain": "y.com"}));
    assert_eq!(r.domains, vec!["x.com"]);
    // absent or non-string: the URL host (www-stripped)
    for d in [json!(null), json!(12), json!(["x.com"]), json!({"a": 1}), json!(true)] {
        let r = ok(json!({"n": "p", "u": "http://www.example.com/", "d": d}));
        assert_eq!(r.domains, vec!["example.com"], "{d}");
    }
    let r = ok(json!({"n": "p", "u": "http://www.example.com/"}));
    assert_eq!(r.domains, vec!["example.com"]);
    // empty entries are kept (and match no site)
    let r = ok(json!({"n": "p", "u": "/", "d": "a.com,"}));
    assert_eq!(r.domains, vec!["a.com", ""]);
}

#[test]
fn blank_domain_is_an_error() {
    for d in ["", "   ", "\n"] {
        assert_eq!(
            err(json!({"n": "p", "u": "http://example.com/", "d": d})),
            json!({"errors": {"domain": ["can't be blank"]}})
        );
    }
    assert_eq!(
        err(json!({"n": "p", "u": "http://example.com/", "domain": ""})),
        json!({"errors": {"domain": ["can't be blank"]}})
    );
}

#[test]
fn errors_are_collected_together() {
    assert_eq!(
        err(json!({"n": "", "d": ""})),
        json!({"errors": {"domain": ["can't be blank"], "event_name": ["can't be blank"], "url": ["is required"]}})
    );
    assert_eq!(
        err(json!({"n": true, "u": 5, "h": "x", "p": {"k": "v".repeat(2001)}})),
        json!({"errors": {
            "domain": ["can't be blank"],
            "event_name": ["is invalid"],
            "hash_mode": ["is invalid"],
            "props": ["keys should have at most 300 bytes and values 2000 bytes"],
            "url": ["must be a valid url"]
        }})
    );
    assert_eq!(
        err(json!({"n": "engagement", "u": "%20", "d": SITE})),
        json!({"errors": {
            "event_name": ["engagement event requires a valid integer value for at least one of 'sd' or 'e' fields"],
            "pathname": ["can't be blank"]
        }})
    );
}

// ---------------------------------------------------------------------------------------------
// Referrer (§3.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn referrer_is_cut_to_2000_characters() {
    let long = format!("https://ref.example/{}", "é".repeat(2500));
    let r = ok(json!({"n": "p", "u": "/", "d": SITE, "r": long}));
    let got = r.referrer.unwrap();
    assert_eq!(got.chars().count(), 2000);
    assert!(long.starts_with(&got));
    let r = ok(json!({"n": "p", "u": "/", "d": SITE, "referrer": "x".repeat(2000)}));
    assert_eq!(r.referrer.unwrap().len(), 2000);
    for bad in [json!(1), json!(true), json!(["x"]), json!(null)] {
        assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "r": bad})).referrer, None);
    }
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "r": ""})).referrer.as_deref(), Some(""));
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "r": null, "referrer": "x"})).referrer.as_deref(), Some("x"));
}

// ---------------------------------------------------------------------------------------------
// Props (§3.3, §3.4)
// ---------------------------------------------------------------------------------------------

#[test]
fn props_aliases_and_containers() {
    for key in ["m", "meta", "p", "props"] {
        let r = ok(json!({"n": "Signup", "u": "/", "d": SITE, key: {"plan": "pro"}}));
        assert_eq!(props(&r), vec![("plan", "pro")], "{key}");
    }
    let r = ok(json!({"n": "Signup", "u": "/", "d": SITE, "m": {"a": "1"}, "p": {"b": "2"}}));
    assert_eq!(props(&r), vec![("a", "1")]);
    for bad in [json!(["a", "b"]), json!(12), json!(true), json!("not json"), json!("[1,2]"), json!("{bad")] {
        assert!(ok(json!({"n": "Signup", "u": "/", "d": SITE, "p": bad})).props.is_empty(), "{bad}");
    }
}

#[test]
fn prop_values_are_stringified_like_elixir() {
    let r = ok_with(
        None,
        &format!(
            "{{\"n\":\"Signup\",\"u\":\"/\",\"d\":\"{SITE}\",\"p\":{{\"a\":1.5,\"b\":12.0,\"c\":1e3,\"d\":0.1,\"e\":-0,\
             \"f\":false,\"g\":123456789012345678901234567890,\"h\":1e-7,\"i\":100.0,\"j\":\" x \"}}}}"
        ),
    );
    assert_eq!(
        props(&r),
        vec![
            ("a", "1.5"),
            ("b", "12.0"),
            ("c", "1.0e3"),
            ("d", "0.1"),
            ("e", "0"),
            ("f", "false"),
            ("g", "123456789012345678901234567890"),
            ("h", "1.0e-7"),
            ("i", "100.0"),
            ("j", " x "),
        ]
    );
}

#[test]
fn props_are_sorted_by_key() {
    let r = ok_with(
        None,
        &format!(
            "{{\"n\":\"S\",\"u\":\"/\",\"d\":\"{SITE}\",\"p\":{{\"b\":\"2\",\"a\":\"1\",\"B\":\"3\",\"a\":\"last\"}}}}"
        ),
    );
    assert_eq!(props(&r), vec![("B", "3"), ("a", "last"), ("b", "2")]);
}

#[test]
fn at_most_30_props_are_kept() {
    let mut p = serde_json::Map::new();
    for i in 0..40 {
        p.insert(format!("k{i:02}"), json!(format!("v{i}")));
    }
    let r = ok(json!({"n": "Signup", "u": "/", "d": SITE, "p": p}));
    assert_eq!(r.props.len(), 30);
    // Plausible keeps the tail of its (reversed) map walk: the 30 greatest keys
    assert_eq!(r.props.first().unwrap().0, "k10");
    assert_eq!(r.props.last().unwrap().0, "k39");
    // a too-long prop that is cut does not fail the request
    p.insert("a_long".into(), json!("x".repeat(3000)));
    let r = ok(json!({"n": "Signup", "u": "/", "d": SITE, "p": p}));
    assert_eq!(r.props.len(), 30);
    assert!(r.props.iter().all(|(k, _)| k != "a_long"));
    // blank pairs do not count
    let mut p = serde_json::Map::new();
    for i in 0..30 {
        p.insert(format!("k{i:02}"), json!(i));
    }
    p.insert("z_blank".into(), json!(" "));
    p.insert("z_null".into(), json!(null));
    let r = ok(json!({"n": "Signup", "u": "/", "d": SITE, "p": p}));
    assert_eq!(r.props.len(), 30);
    assert_eq!(r.props.first().unwrap().0, "k00");
}

#[test]
fn too_long_props_reject_the_request() {
    let too_long = json!({"errors": {"props": ["keys should have at most 300 bytes and values 2000 bytes"]}});
    ok(json!({"n": "Signup", "u": "/", "d": SITE, "p": {"k".repeat(300): "v".repeat(2000)}}));
    assert_eq!(err(json!({"n": "Signup", "u": "/", "d": SITE, "p": {"k".repeat(301): "v"}})), too_long);
    assert_eq!(err(json!({"n": "Signup", "u": "/", "d": SITE, "p": {"k": "v".repeat(2001)}})), too_long);
    // bytes, not characters
    assert_eq!(err(json!({"n": "Signup", "u": "/", "d": SITE, "p": {"k": "é".repeat(1001)}})), too_long);
    assert_eq!(
        err(json!({"n": "Signup", "u": "/", "d": SITE, "p": format!("{{\"{}\":1}}", "k".repeat(301))})),
        too_long
    );
}

#[test]
fn system_goals_get_a_path_prop() {
    for name in [json!("404"), json!(404), json!("WP Form Completions"), json!("Form: Submission")] {
        let r = ok(json!({"n": name, "u": "http://example.com/missing%20page?x=1", "d": SITE}));
        assert_eq!(props(&r), vec![("path", "/missing page")], "{name}");
    }
    let r = ok(json!({"n": "404", "u": "http://example.com/missing", "d": SITE, "p": {"path": "/custom", "a": "b"}}));
    assert_eq!(props(&r), vec![("a", "b"), ("path", "/custom")]);
    // a blank path prop is filtered out first, so the pathname is used
    let r = ok(json!({"n": "404", "u": "http://example.com/missing", "d": SITE, "p": {"path": " "}}));
    assert_eq!(props(&r), vec![("path", "/missing")]);
    // hash mode applies
    let r = ok(json!({"n": "404", "u": "http://example.com/#/gone", "d": SITE, "h": 1}));
    assert_eq!(props(&r), vec![("path", "/#/gone")]);
    // the path prop survives the 30-prop cut
    let mut p = serde_json::Map::new();
    for i in 0..35 {
        p.insert(format!("k{i:02}"), json!(i));
    }
    let r = ok(json!({"n": "404", "u": "http://example.com/x", "d": SITE, "p": p}));
    assert_eq!(r.props.len(), 30);
    assert!(r.props.contains(&("path".to_string(), "/x".to_string())));
    // other names get nothing
    assert!(ok(json!({"n": "Outbound Link: Click", "u": "http://example.com/x", "d": SITE})).props.is_empty());
    assert!(ok(json!({"n": "pageview", "u": "http://example.com/x", "d": SITE})).props.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Revenue (§3.5)
// ---------------------------------------------------------------------------------------------

fn revenue(value: Value) -> Option<Revenue> {
    ok(json!({"n": "Purchase", "u": "/", "d": SITE, "revenue": value})).revenue
}

fn rev(amount: &str, currency: &str) -> Option<Revenue> {
    Some(Revenue { amount: amount.parse().unwrap(), currency: currency.into() })
}

#[test]
fn revenue_amounts() {
    assert_eq!(revenue(json!({"amount": 10, "currency": "USD"})), rev("10", "USD"));
    assert_eq!(revenue(json!({"amount": 10.2, "currency": "EUR"})), rev("10.2", "EUR"));
    assert_eq!(revenue(json!({"amount": "12.5abc", "currency": "USD"})), rev("12.5", "USD"));
    assert_eq!(revenue(json!({"amount": "1,000.50", "currency": "USD"})), rev("1", "USD"));
    assert_eq!(revenue(json!({"amount": "-3.25", "currency": "USD"})), rev("-3.25", "USD"));
    assert_eq!(revenue(json!({"amount": ".5", "currency": "USD"})), rev("0.5", "USD"));
    assert_eq!(revenue(json!({"amount": "+7", "currency": "USD"})), rev("7", "USD"));
    assert_eq!(revenue(json!({"amount": "1.5e2", "currency": "USD"})), rev("150", "USD"));
    assert_eq!(revenue(json!({"amount": 0, "currency": "JPY"})), rev("0", "JPY"));
    assert_eq!(revenue(json!({"amount": 1e-3, "currency": "USD"})), rev("0.001", "USD"));
    for bad in [
        json!(null),
        json!(true),
        json!({"v": 1}),
        json!([1]),
        json!("abc"),
        json!(""),
        json!(" 12"),
        json!("."),
        json!("1e+"),
    ] {
        assert_eq!(revenue(json!({"amount": bad, "currency": "USD"})), None, "{bad}");
    }
}

#[test]
fn revenue_currencies() {
    for code in ["USD", "EUR", "GBP", "BRL", "JPY", "CHF", "XCG", "ZWG", "SLE", "VES"] {
        assert_eq!(revenue(json!({"amount": 1, "currency": code})), rev("1", code));
    }
    for bad in
        [json!("usd"), json!("XYZ"), json!("US"), json!("USDT"), json!(" USD"), json!("HRK"), json!(null), json!(840)]
    {
        assert_eq!(revenue(json!({"amount": 1, "currency": bad})), None, "{bad}");
    }
}

#[test]
fn revenue_containers_and_aliases() {
    assert_eq!(revenue(json!("{\"amount\":\"9.99\",\"currency\":\"USD\"}")), rev("9.99", "USD"));
    let r = ok(json!({"n": "Purchase", "u": "/", "d": SITE, "$": {"amount": 5, "currency": "EUR"}}));
    assert_eq!(r.revenue, rev("5", "EUR"));
    let r = ok(json!({"n": "Purchase", "u": "/", "d": SITE, "$": "{\"amount\":5,\"currency\":\"EUR\"}"}));
    assert_eq!(r.revenue, rev("5", "EUR"));
    let r = ok(
        json!({"n": "Purchase", "u": "/", "d": SITE, "revenue": {"amount": 1, "currency": "USD"}, "$": {"amount": 2, "currency": "USD"}}),
    );
    assert_eq!(r.revenue, rev("1", "USD"));
    for bad in
        [json!({"amount": 1}), json!({"currency": "USD"}), json!([1, "USD"]), json!("nope"), json!(12), json!("[]")]
    {
        assert_eq!(revenue(bad.clone()), None, "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Interactive, script version, screen width (§3.2, §3.7)
// ---------------------------------------------------------------------------------------------

#[test]
fn interactive_flag() {
    let interactive = |extra: Value| {
        let mut body = json!({"n": "Click", "u": "/", "d": SITE});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        ok(body).interactive
    };
    assert!(interactive(json!({})));
    assert!(!interactive(json!({"i": false})));
    assert!(!interactive(json!({"interactive": false})));
    assert!(interactive(json!({"i": true})));
    assert!(!interactive(json!({"i": null, "interactive": false})));
    assert!(interactive(json!({"i": true, "interactive": false})));
    for ignored in [json!("false"), json!(0), json!("no"), json!([]), json!({})] {
        assert!(interactive(json!({"i": ignored})), "{ignored}");
        assert!(interactive(json!({"interactive": ignored})), "{ignored}");
    }
}

#[test]
fn script_version_and_screen_width() {
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "v": 27})).script_version, 27);
    for v in [json!("27"), json!(1.5), json!(-1), json!(5_000_000_000u64), json!(null)] {
        assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "v": v})).script_version, 0, "{v}");
    }
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "w": 1024})).screen_width, Some(1024));
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "screen_width": "375"})).screen_width, Some(375));
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "w": "wide"})).screen_width, None);
    assert_eq!(ok(json!({"n": "p", "u": "/", "d": SITE, "w": -5})).screen_width, None);
}
