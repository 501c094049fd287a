//! Replays the single-pageview conformance cases of `shared/conformance/cases/events/*.json`
//! through the enrichment functions and compares every visit dimension they query
//! (source, utm tags, channel, referrer, browser, OS, device). Skips silently when the
//! conformance directory is not present.

use std::path::PathBuf;

use serde_json::Value;
use tally_enrich::{acquisition_channel, attribution, UaParser};

fn cases_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::var_os("TALLY_CONFORMANCE_DIR").map(PathBuf::from),
        Some(manifest.join("../../../shared/conformance/cases/events")),
        Some(PathBuf::from("/work/shared/conformance/cases/events")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_dir())
}

fn str_field<'a>(body: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| body.get(*k).and_then(Value::as_str))
}

#[test]
fn event_cases_match() {
    let Some(dir) = cases_dir() else {
        eprintln!("conformance cases not found; skipping");
        return;
    };
    let parser = UaParser::new();
    let mut checked = 0;
    for file in ["source_rules.json", "acquisition_channels.json", "ingestion.json"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("readable case file");
        let doc: Value = serde_json::from_str(&text).expect("valid json");
        for case in doc["cases"].as_array().expect("cases") {
            let id = case["id"].as_str().unwrap_or("?");
            let steps = case["steps"].as_array().cloned().unwrap_or_default();
            let events: Vec<&Value> = steps.iter().filter(|s| s["request"]["path"] == "/api/event").collect();
            let queries: Vec<&Value> = steps
                .iter()
                .filter(|s| s["request"]["path"].as_str().is_some_and(|p| p.starts_with("/api/v2/query")))
                .collect();
            if events.len() != 1 || queries.is_empty() {
                continue;
            }
            let ev = events[0];
            let body = &ev["request"]["body"];
            if !body.is_object() || ev["expect"]["status"] != 202 {
                continue;
            }
            let Some(url_s) = str_field(body, &["u", "url"]) else {
                continue;
            };
            let Ok(url) = url::Url::parse(url_s) else {
                continue;
            };
            let host = url.host_str().unwrap_or("");
            let host = host.strip_prefix("www.").unwrap_or(host);
            let query: Vec<(String, String)> =
                url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let referrer = str_field(body, &["r", "referrer"]);
            let a = attribution(host, &query, referrer);
            let channel = acquisition_channel(
                &a.referrer_source,
                &a.utm_source,
                &a.utm_medium,
                &a.utm_campaign,
                &a.click_id_param,
            );
            let ua = ev["request"]["headers"]["User-Agent"].as_str().unwrap_or("");
            let info = parser.parse(ua);

            for q in queries {
                let dims = q["request"]["body"]["dimensions"].as_array().cloned().unwrap_or_default();
                let Some(results) = q["expect"]["equals"]["results"].as_array() else {
                    continue;
                };
                if results.len() != 1 || dims.is_empty() {
                    continue;
                }
                let expected = results[0]["dimensions"].as_array().expect("dims");
                for (dim, exp) in dims.iter().zip(expected) {
                    let dim = dim.as_str().unwrap_or("");
                    let none = |s: &str, empty: &str| {
                        if s.is_empty() {
                            empty.to_string()
                        } else {
                            s.to_string()
                        }
                    };
                    let actual = match dim {
                        "visit:source" => none(&a.referrer_source, "Direct / None"),
                        "visit:referrer" => none(&a.referrer, "Direct / None"),
                        "visit:utm_source" => none(&a.utm_source, "(not set)"),
                        "visit:utm_medium" => none(&a.utm_medium, "(not set)"),
                        "visit:utm_campaign" => none(&a.utm_campaign, "(not set)"),
                        "visit:channel" => channel.to_string(),
                        "visit:browser" => none(&info.browser, "(not set)"),
                        "visit:browser_version" => none(&info.browser_version, "(not set)"),
                        "visit:os" => none(&info.os, "(not set)"),
                        "visit:os_version" => none(&info.os_version, "(not set)"),
                        "visit:device" => none(&info.device, "(not set)"),
                        _ => continue,
                    };
                    assert_eq!(Some(actual.as_str()), exp.as_str(), "case {id}: dimension {dim}");
                    checked += 1;
                }
            }
        }
    }
    eprintln!("checked {checked} conformance dimension values");
    assert!(checked >= 100, "expected to check many values, checked {checked}");
}
