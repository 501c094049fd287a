//! Random and malformed input never yields a 5xx, a panic or a hang (bounded property tests through the
//! real server).

mod common;
use common::Server;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn server() -> &'static (Server, String, String) {
    static S: OnceLock<(Server, String, String)> = OnceLock::new();
    S.get_or_init(|| {
        let s = Server::start();
        let (domain, key) = s.setup_site("enterprise", json!({}));
        (s, domain, key)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event_like(domain: String) -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "n", "name", "u", "url", "d", "domain", "r", "referrer", "p", "props", "m", "meta", "h", "revenue", "$", "i",
        "sd", "e", "v", "w",
    ]);
    (prop::collection::vec((keys, json_value()), 0..10), any::<bool>()).prop_map(move |(pairs, with_domain)| {
        let mut m = serde_json::Map::new();
        if with_domain {
            m.insert("d".into(), json!(domain.clone()));
            m.insert("u".into(), json!("http://example.com/x"));
            m.insert("n".into(), json!("pageview"));
        }
        for (k, v) in pairs {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_to_the_events_api(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let (s, _, _) = server();
        let (status, _, _) = s.send("POST", "/api/event", &[("Content-Type", "text/plain")], Some(&body));
        prop_assert!(status == 202 || status == 400, "status {status}");
    }

    #[test]
    fn random_json_events(ev in event_like("placeholder".into())) {
        let (s, domain, _) = server();
        let mut ev = ev;
        if ev.get("d").is_some() { ev["d"] = json!(domain); }
        let body = serde_json::to_vec(&ev).unwrap();
        let (status, text, _) = s.send("POST", "/api/event", &[("Content-Type", "application/json")], Some(&body));
        prop_assert!(status == 202 || status == 400, "status {status}: {text} for {ev}");
    }

    #[test]
    fn random_ndjson_import(lines in prop::collection::vec(prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,80}"], 0..6)) {
        let (s, domain, _) = server();
        let body = lines.join("\n");
        let auth = format!("Bearer {}", s.token);
        let (status, text, _) = s.send("POST", &format!("/api/admin/sites/{domain}/events"), &[("Authorization", &auth), ("Content-Type", "application/x-ndjson")], Some(body.as_bytes()));
        prop_assert!(status == 200 || status == 400, "status {status}: {text}");
    }

    #[test]
    fn random_v2_queries(body in json_value(), metrics in prop::collection::vec(prop::sample::select(vec!["visitors", "visits", "pageviews", "bounce_rate", "events", "percentage", "scroll_depth", "time_on_page", "conversion_rate", "foo"]), 1..4)) {
        let (s, domain, key) = server();
        let mut q = json!({"site_id": domain, "metrics": metrics, "date_range": "all"});
        if let Value::Object(extra) = body { for (k, v) in extra { q[k] = v; } q["site_id"] = json!(domain); }
        let (status, resp) = s.query(key, q.clone());
        prop_assert!(status == 200 || status == 400, "status {status}: {resp} for {q}");
    }
}

#[test]
fn server_is_still_healthy_after_fuzzing() {
    let (s, _, _) = server();
    let (status, body, _) = s.send("GET", "/api/health", &[], None);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
}
