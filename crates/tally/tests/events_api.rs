//! The Events API through the real server: accepted events are queryable, drops are reported, bad input
//! gets Plausible's 400 bodies.

mod common;
use common::Server;
use serde_json::{json, Value};

const CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36";

fn visitors(s: &Server, key: &str, domain: &str, dims: Value) -> Value {
    s.results(
        key,
        json!({"site_id": domain, "metrics": ["visitors", "pageviews"], "date_range": "all", "dimensions": dims}),
    )
}

#[test]
fn pageview_is_stored_with_enriched_attributes() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let (status, body, _) = s.event(
        json!({"n": "pageview", "u": "http://www.example.com/blog?utm_source=facebook", "d": domain, "r": "https://news.ycombinator.com/item"}),
        &[("User-Agent", CHROME)],
    );
    assert_eq!((status, body.as_str()), (202, "ok"));
    let rows = visitors(
        &s,
        &key,
        &domain,
        json!(["event:hostname", "event:page", "visit:source", "visit:browser", "visit:os"]),
    );
    assert_eq!(rows, json!([{"dimensions": ["example.com", "/blog", "Facebook", "Chrome", "Mac"], "metrics": [1, 1]}]));
}

#[test]
fn bots_are_dropped_and_reported() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let (status, _, headers) = s.event(
        json!({"n": "pageview", "u": "http://example.com/", "d": domain}),
        &[("User-Agent", "Googlebot/2.1 (+http://www.google.com/bot.html)")],
    );
    assert_eq!(status, 202);
    assert!(headers.iter().any(|(k, v)| k == "x-plausible-dropped" && v == "1"), "{headers:?}");
    assert_eq!(visitors(&s, &key, &domain, json!([])), json!([{"dimensions": [], "metrics": [0, 0]}]));
}

#[test]
fn spam_referrers_are_dropped_for_every_domain() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let (status, body, headers) = s.event(
        json!({"n": "pageview", "u": "http://example.com/", "d": format!("{domain},{domain}.second"), "r": "https://www.1-best-seo.com/x"}),
        &[("User-Agent", CHROME)],
    );
    assert_eq!((status, body.as_str()), (202, "ok"));
    assert!(headers.iter().any(|(k, v)| k == "x-plausible-dropped" && v == "2"), "{headers:?}");
    // A referrer from a sub-domain of a listed host is not spam (the list matches whole hosts), and Kagi is
    // a search engine.
    for (r, ip) in [("https://blog.1-best-seo.com/", "1.1.1.1"), ("https://kagi.com/search?q=x", "2.2.2.2")] {
        let (status, _, headers) = s.event(
            json!({"n": "pageview", "u": "http://example.com/", "d": domain, "r": r}),
            &[("User-Agent", CHROME), ("X-Forwarded-For", ip)],
        );
        assert_eq!(status, 202);
        assert!(!headers.iter().any(|(k, _)| k == "x-plausible-dropped"), "{r}: {headers:?}");
    }
    let rows = s.results(
        &key,
        json!({"site_id": domain, "metrics": ["visitors"], "date_range": "all", "dimensions": ["visit:source", "visit:channel"]}),
    );
    assert_eq!(
        rows,
        json!([
            {"dimensions": ["Kagi", "Organic Search"], "metrics": [1]},
            {"dimensions": ["blog.1-best-seo.com", "Referral"], "metrics": [1]}
        ])
    );
}

#[test]
fn ip_classification_from_a_proxy_drops_data_centres_and_hides_vpn_locations() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let send = |ip_type: &str, ip: &str| {
        s.event(
            json!({"n": "pageview", "u": "http://example.com/", "d": domain}),
            &[("User-Agent", CHROME), ("X-Forwarded-For", ip), ("X-Plausible-IP-Type", ip_type)],
        )
    };
    let (status, _, headers) = send("dc_ip", "1.1.1.1");
    assert_eq!(status, 202);
    assert!(headers.iter().any(|(k, v)| k == "x-plausible-dropped" && v == "1"), "{headers:?}");
    let (_, _, headers) = send("anonymous_vpn_ip", "2.2.2.2");
    assert!(!headers.iter().any(|(k, _)| k == "x-plausible-dropped"), "{headers:?}");
    let rows = s.results(
        &key,
        json!({"site_id": domain, "metrics": ["visitors"], "date_range": "all", "dimensions": ["visit:country"]}),
    );
    assert_eq!(rows, json!([{"dimensions": ["A1"], "metrics": [1]}]));
}

#[test]
fn a_domain_listed_twice_gets_two_events() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let (status, _, headers) = s.event(
        json!({"n": "pageview", "u": "http://example.com/", "d": format!("{domain},{domain}"), "r": "https://1-best-seo.com"}),
        &[("User-Agent", CHROME)],
    );
    assert_eq!(status, 202);
    assert!(headers.iter().any(|(k, v)| k == "x-plausible-dropped" && v == "2"), "{headers:?}");
    let (status, _, _) = s.event(
        json!({"n": "pageview", "u": "http://example.com/", "d": format!("{domain}, {domain}")}),
        &[("User-Agent", CHROME)],
    );
    assert_eq!(status, 202);
    assert_eq!(visitors(&s, &key, &domain, json!([])), json!([{"dimensions": [], "metrics": [1, 2]}]));
}

#[test]
fn unknown_domain_is_dropped_but_accepted() {
    let s = Server::start();
    let (status, body, headers) =
        s.event(json!({"n": "pageview", "u": "http://nowhere.test/", "d": "nowhere.test"}), &[("User-Agent", CHROME)]);
    assert_eq!((status, body.as_str()), (202, "ok"));
    assert!(headers.iter().any(|(k, v)| k == "x-plausible-dropped" && v == "1"));
}

#[test]
fn validation_errors_have_plausible_bodies() {
    let s = Server::start();
    let (domain, _) = s.setup_site("enterprise", json!({}));
    let cases = [
        (json!({"n": "pageview", "d": domain}).to_string(), json!({"errors": {"url": ["is required"]}})),
        (
            json!({"n": "", "u": "http://a.com", "d": domain}).to_string(),
            json!({"errors": {"event_name": ["can't be blank"]}}),
        ),
        ("not json".to_string(), json!({"errors": {"request": ["Unable to parse request body as json"]}})),
        ("".to_string(), json!({"errors": {"request": ["Unable to parse request body as json"]}})),
        ("[1,2]".to_string(), json!({"errors": {"request": ["Unable to parse request body as json"]}})),
    ];
    for (body, want) in cases {
        let (status, text, _) = s.send("POST", "/api/event", &[("Content-Type", "text/plain")], Some(body.as_bytes()));
        assert_eq!(status, 400, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), want, "{body}");
    }
}

#[test]
fn cors_headers_let_the_tracker_read_the_answer() {
    let s = Server::start();
    let (domain, _) = s.setup_site("enterprise", json!({}));
    let (status, _, headers) = s.event(
        json!({"n": "pageview", "u": "http://example.com/", "d": domain}),
        &[("Origin", "http://example.com"), ("User-Agent", CHROME)],
    );
    assert_eq!(status, 202);
    assert!(headers.iter().any(|(k, _)| k == "access-control-allow-origin"), "{headers:?}");
}

#[test]
fn one_request_counts_for_every_listed_domain() {
    let s = Server::start();
    let (a, key) = s.setup_site("enterprise", json!({}));
    let (b, key_b) = s.setup_site("enterprise", json!({}));
    let (status, _, _) = s.event(
        json!({"n": "pageview", "u": "http://example.com/", "d": format!("{a}, {b}")}),
        &[("User-Agent", CHROME)],
    );
    assert_eq!(status, 202);
    assert_eq!(visitors(&s, &key, &a, json!([]))[0]["metrics"], json!([1, 1]));
    assert_eq!(visitors(&s, &key_b, &b, json!([]))[0]["metrics"], json!([1, 1]));
}

#[test]
fn engagement_extends_the_session_and_records_scroll_depth() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let ua = [("User-Agent", CHROME)];
    assert_eq!(
        s.event(json!({"n": "engagement", "u": "http://example.com/", "d": domain, "sd": 10}), &ua)
            .2
            .iter()
            .filter(|(k, _)| k == "x-plausible-dropped")
            .count(),
        1,
        "no session yet: dropped"
    );
    s.event(json!({"n": "pageview", "u": "http://example.com/", "d": domain}), &ua);
    s.event(json!({"n": "engagement", "u": "http://example.com/", "d": domain, "sd": 40, "e": 3000}), &ua);
    s.event(json!({"n": "Signup", "u": "http://example.com/", "d": domain}), &ua);
    s.flush();
    let (_, body) =
        s.query(&key, json!({"site_id": domain, "metrics": ["visits", "events", "bounce_rate"], "date_range": "all"}));
    assert_eq!(body["results"][0]["metrics"], json!([1, 2, 0]), "{body}");
    let (_, body) = s.query(&key, json!({"site_id": domain, "metrics": ["scroll_depth", "time_on_page"], "date_range": "all", "filters": [["is", "event:page", ["/"]]]}));
    assert_eq!(body["results"][0]["metrics"], json!([40, 3]), "{body}");
}

/// The Events API remembers sites by domain; a domain change or a deletion must take effect at once.
#[test]
fn site_changes_reach_the_events_api_at_once() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let dropped = |d: &str| {
        let (status, _, headers) =
            s.event(json!({"n": "pageview", "u": "http://example.com/", "d": d}), &[("User-Agent", CHROME)]);
        assert_eq!(status, 202);
        headers.iter().any(|(k, v)| k == "x-plausible-dropped" && v == "1")
    };
    let new_domain = format!("renamed-{domain}");
    assert!(dropped(&new_domain), "unknown before the change");
    assert!(!dropped(&domain));

    let (status, body) =
        s.api("PUT", &format!("/api/v1/sites/{domain}"), Some(&key), Some(json!({"domain": new_domain})));
    assert_eq!(status, 200, "{body}");
    assert!(!dropped(&new_domain), "the new domain is known at once");
    assert!(!dropped(&domain), "the old domain still counts after a change");

    let (status, body) = s.api("DELETE", &format!("/api/v1/sites/{new_domain}"), Some(&key), None);
    assert_eq!(status, 200, "{body}");
    assert!(dropped(&new_domain), "a deleted site drops its events");
    assert!(dropped(&domain));
}
