//! Every `POST /api/event` request in the shared conformance cases (cases/events/*.json), checked at
//! the request layer: requests the cases expect to be accepted (202) must parse, and requests that
//! expect a 400 must produce exactly the expected error body.
//!
//! The explicit per-case assertions live in `request_parse.rs`; this test keeps the request layer
//! in step with the case files as they change. It is skipped (with a note) when `shared/` is not
//! beside the repository.

use std::path::PathBuf;

use serde_json::Value;
use tally_ingest::request::parse_event_request;

const SITE: &str = "conformance-site.test";

fn cases_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TALLY_SHARED_DIR") {
        let p = PathBuf::from(dir).join("conformance/cases/events");
        return p.is_dir().then_some(p);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().map(|a| a.join("shared/conformance/cases/events")).find(|p| p.is_dir())
}

fn substitute(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("$SITE", SITE)),
        Value::Array(a) => Value::Array(a.iter().map(substitute).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), substitute(v))).collect()),
        other => other.clone(),
    }
}

/// `a.b.0` style lookup.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, part| match v {
        Value::Array(a) => a.get(part.parse::<usize>().ok()?),
        Value::Object(o) => o.get(part),
        _ => None,
    })
}

#[test]
fn every_events_api_request_in_the_conformance_cases() {
    let Some(dir) = cases_dir() else {
        eprintln!("shared/conformance/cases/events not found; skipping");
        return;
    };
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let id = case["id"].as_str().unwrap_or("?");
            let steps: Vec<(&Value, &Value)> = match case.get("steps").and_then(Value::as_array) {
                Some(steps) => steps.iter().map(|s| (&s["request"], &s["expect"])).collect(),
                None => vec![(&case["request"], &case["expect"])],
            };
            for (request, expect) in steps {
                if request["path"].as_str() != Some("/api/event") {
                    continue;
                }
                let body = substitute(&request["body"]);
                let (content_type, bytes) = match &body {
                    Value::String(s) => {
                        (Some(request["content_type"].as_str().unwrap_or("text/plain")), s.clone().into_bytes())
                    }
                    other => (Some("application/json"), serde_json::to_vec(other).unwrap()),
                };
                let result = parse_event_request(content_type, &bytes);
                let status = expect["status"].as_u64();
                match (status, result) {
                    (Some(202), Ok(_)) => {}
                    (Some(202), Err(e)) => panic!("{id}: expected the request to parse, got {e}"),
                    (Some(400), Ok(r)) => panic!("{id}: expected a 400, parsed {r:?}"),
                    (Some(400), Err(e)) => {
                        assert_eq!(e.status, 400, "{id}");
                        if let Some(equals) = expect.get("equals").and_then(Value::as_object) {
                            for (path, want) in equals {
                                assert_eq!(at(&e.body, path), Some(want), "{id}: {path} in {}", e.body);
                            }
                        }
                        if let Some(contains) = expect.get("contains").and_then(Value::as_object) {
                            for (path, want) in contains {
                                let got = at(&e.body, path).and_then(Value::as_str).unwrap_or_default();
                                assert!(got.contains(want.as_str().unwrap()), "{id}: {path} in {}", e.body);
                            }
                        }
                    }
                    (other, _) => panic!("{id}: unexpected expected status {other:?}"),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} Events API requests found in {}", dir.display());
}
