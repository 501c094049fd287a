//! Runs the request side of every v2 conformance case through `parse_query`: cases expecting a
//! 400 must fail with the expected message, all others must parse, and `query.*` expectations
//! must match the echo. Skipped when the conformance cases are not present (set
//! `TALLY_CONFORMANCE_DIR` to the `cases` directory to point elsewhere).

#[path = "parse_helpers.rs"]
mod helpers;

use std::path::PathBuf;

use helpers::*;
use serde_json::{json, Value};
use tally_query::{parse_query, Goal, Segment, SiteContext};

const DOMAIN: &str = "conformance.example";

fn cases_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TALLY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases"));
    dir.join("v2").is_dir().then_some(dir)
}

fn goal_id(n: usize) -> i64 {
    n as i64 + 1
}

fn segment_id(n: usize) -> i64 {
    n as i64 + 100
}

/// Replaces `$SITE`, `$GOAL:N`, `$SEGMENT:N` like the runner does.
fn substitute(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            if let Some(n) = s.strip_prefix("$GOAL:").and_then(|n| n.parse::<usize>().ok()) {
                json!(goal_id(n))
            } else if let Some(n) = s.strip_prefix("$SEGMENT:").and_then(|n| n.parse::<usize>().ok()) {
                json!(segment_id(n))
            } else {
                Value::String(s.replace("$SITE", DOMAIN))
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(substitute).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v))).collect()),
        other => other.clone(),
    }
}

fn site_for(case: &Value) -> SiteContext {
    let tz = case["site"]["timezone"].as_str().map(|t| t.parse().expect("tz")).unwrap_or(chrono_tz::Etc::UTC);
    let mut s = site_in(tz);
    s.domain = DOMAIN.into();
    s.legacy_time_on_page_cutoff = case["site"]["legacy_time_on_page_cutoff"]
        .as_str()
        .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date"));
    if let Some(goals) = case["goals"].as_array() {
        s.goals = goals
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let event_name = g["event_name"].as_str().map(String::from);
                let page_path = g["page_path"].as_str().map(String::from);
                let display_name = g["display_name"]
                    .as_str()
                    .map(String::from)
                    .or_else(|| event_name.clone())
                    .unwrap_or_else(|| format!("Visit {}", page_path.clone().unwrap_or_default()));
                Goal {
                    id: goal_id(i),
                    display_name,
                    event_name,
                    page_path,
                    scroll_threshold: g["scroll_threshold"].as_i64().unwrap_or(-1) as i16,
                    currency: g["currency"].as_str().map(String::from),
                    custom_props: g["custom_props"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
    }
    if let Some(segments) = case["segments"].as_array() {
        s.segments = segments
            .iter()
            .enumerate()
            .map(|(i, seg)| Segment {
                id: segment_id(i),
                name: seg["name"].as_str().unwrap_or("").into(),
                segment_data: seg["segment_data"].clone(),
            })
            .collect();
    }
    s
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, key| match cur {
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        Value::Object(map) => map.get(key),
        _ => None,
    })
}

#[test]
fn conformance_requests_parse_as_expected() {
    let Some(dir) = cases_dir() else {
        eprintln!("conformance cases not found; skipping");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("v2"))
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();

    let mut checked = 0;
    let mut failures = Vec::new();
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        for case in doc["cases"].as_array().expect("cases") {
            let site = site_for(case);
            let steps: Vec<Value> = match case["steps"].as_array() {
                Some(steps) => steps.clone(),
                None => vec![json!({"request": case["request"], "expect": case["expect"]})],
            };
            for step in steps {
                let path = step["request"]["path"].as_str().unwrap_or("");
                if !matches!(path, "/api/v2/query" | "/api/v2/query-internal-test")
                    || !step["request"]["body"].is_object()
                {
                    continue;
                }
                checked += 1;
                let id = case["id"].as_str().unwrap_or("?");
                let req = substitute(&step["request"]["body"]);
                let expect = substitute(&step["expect"]);
                let result = parse_query(&req, &site, now());
                if expect["status"] == json!(400) {
                    let message = match result {
                        Ok(_) => {
                            failures.push(format!("{id}: expected a 400, parsed fine"));
                            continue;
                        }
                        Err(e) => e.message,
                    };
                    if let Some(want) = expect["equals"]["error"].as_str() {
                        if message != want {
                            failures.push(format!("{id}: error {message:?} != {want:?}"));
                        }
                    }
                    if let Some(want) = expect["contains"]["error"].as_str() {
                        if !message.contains(want) {
                            failures.push(format!("{id}: error {message:?} lacks {want:?}"));
                        }
                    }
                } else {
                    match result {
                        Err(e) => failures.push(format!("{id}: unexpected error {:?}", e.message)),
                        Ok(q) => {
                            let echo = json!({ "query": q.echo() });
                            if let Some(equals) = expect["equals"].as_object() {
                                for (p, want) in equals.iter().filter(|(p, _)| p.starts_with("query")) {
                                    if lookup(&echo, p) != Some(want) {
                                        failures.push(format!("{id}: {p} = {:?}, want {want}", lookup(&echo, p)));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} requests found");
    assert!(failures.is_empty(), "{} of {checked} requests failed:\n{}", failures.len(), failures.join("\n"));
}
