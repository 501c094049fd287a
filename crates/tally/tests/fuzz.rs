//! Random and malformed input never yields a 5xx, a panic or a hang (bounded property tests through the
//! real server).

mod common;
use common::Server;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

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

fn config() -> ProptestConfig {
    ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() }
}

/// One server for all properties, owned by the test so it is stopped at the end.
#[test]
fn bad_input_never_yields_a_server_error() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let mut runner = TestRunner::new(config());

    runner
        .run(&prop::collection::vec(any::<u8>(), 0..600), |body| {
            let (status, _, _) = s.send("POST", "/api/event", &[("Content-Type", "text/plain")], Some(&body));
            prop_assert!(status == 202 || status == 400, "status {status}");
            Ok(())
        })
        .unwrap();

    runner
        .run(&event_like(domain.clone()), |ev| {
            let body = serde_json::to_vec(&ev).unwrap();
            let (status, text, _) = s.send("POST", "/api/event", &[("Content-Type", "application/json")], Some(&body));
            prop_assert!(status == 202 || status == 400, "status {status}: {text} for {ev}");
            Ok(())
        })
        .unwrap();

    let auth = format!("Bearer {}", s.token);
    let lines = prop::collection::vec(prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,80}"], 0..6);
    runner
        .run(&lines, |lines| {
            let body = lines.join("\n");
            let (status, text, _) = s.send(
                "POST",
                &format!("/api/admin/sites/{domain}/events"),
                &[("Authorization", &auth), ("Content-Type", "application/x-ndjson")],
                Some(body.as_bytes()),
            );
            prop_assert!(status == 200 || status == 400, "status {status}: {text}");
            Ok(())
        })
        .unwrap();

    let metric_names = vec![
        "visitors",
        "visits",
        "pageviews",
        "bounce_rate",
        "events",
        "percentage",
        "scroll_depth",
        "time_on_page",
        "conversion_rate",
        "foo",
    ];
    let queries = (json_value(), prop::collection::vec(prop::sample::select(metric_names), 1..4));
    runner
        .run(&queries, |(body, metrics)| {
            let mut q = json!({"site_id": domain, "metrics": metrics, "date_range": "all"});
            if let Value::Object(extra) = body {
                for (k, v) in extra {
                    q[k] = v;
                }
                q["site_id"] = json!(domain);
            }
            let (status, resp) = s.query(&key, q.clone());
            prop_assert!(status == 200 || status == 400, "status {status}: {resp} for {q}");
            Ok(())
        })
        .unwrap();

    let (status, body, _) = s.send("GET", "/api/health", &[], None);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#), "still healthy after fuzzing");
}
