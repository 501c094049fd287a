//! Every valid-looking v2 query shape over data with custom events, props, revenue, engagement and imports:
//! each dimension with each metric, bare and under each kind of filter, answers 200 or a 4xx with an error
//! message, never a 5xx. (A session-only dimension under an event filter once failed in the store.)

mod common;
use common::Server;
use serde_json::{json, Value};
use tally_query::ast::{EVENT_PROPS, VISIT_PROPS};

const METRICS: [&str; 15] = [
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "events",
    "percentage",
    "conversion_rate",
    "group_conversion_rate",
    "time_on_page",
    "scroll_depth",
    "exit_rate",
    "total_revenue",
    "average_revenue",
];

fn lines() -> Vec<Value> {
    let mut v = Vec::new();
    for u in 0..6u64 {
        let t = |m: u64| format!("2024-01-0{} 10:{:02}:00", 1 + u % 3, m);
        let common = json!({"user_id": u, "hostname": "example.com", "referrer_source": if u % 2 == 0 { "Google" } else { "" },
            "utm_source": "news", "country_code": "EE", "subdivision1_code": "EE-37", "city_geoname_id": 588409,
            "screen_size": "Desktop", "browser": "Chrome", "operating_system": "Mac"});
        let with = |extra: Value| {
            let mut l = common.clone();
            for (k, x) in extra.as_object().unwrap() {
                l[k] = x.clone();
            }
            l
        };
        v.push(with(json!({"timestamp": t(0), "pathname": "/", "props": {"author": "a"}})));
        v.push(with(json!({"timestamp": t(1), "pathname": "/blog"})));
        v.push(with(json!({"timestamp": t(2), "name": "engagement", "pathname": "/blog", "engagement_time": 5000, "scroll_depth": 60})));
        if u % 3 == 0 {
            v.push(with(json!({"timestamp": t(3), "name": "Purchase", "pathname": "/blog", "revenue_reporting_amount": "12.5", "revenue_reporting_currency": "USD"})));
        }
    }
    v
}

/// A server with the sweep's data: (its data directory, the server, the site, a stats key).
fn loaded_server() -> (tempfile::TempDir, Server, String, String) {
    let tmp = tempfile::Builder::new().prefix("tally-sweep").tempdir().unwrap();
    // Thousands of queries: above the default hourly API limit.
    let s = Server::start_in(tmp.path().to_path_buf(), &[("TALLY_HOURLY_API_LIMIT", "1000000")]);
    let (domain, key) = s.setup_site(
        "enterprise",
        json!({"allowed_event_props": ["author"], "goals": [{"event_name": "Purchase", "currency": "USD"}, {"page_path": "/blog"}, {"page_path": "/blog", "scroll_threshold": 50, "display_name": "Scroll /blog 50"}]}),
    );
    s.import(&domain, &lines());
    s.admin(
        "POST",
        &format!("/api/admin/sites/{domain}/imports"),
        json!({"start_date": "2023-12-01", "end_date": "2023-12-31", "source": "csv"}),
    );
    s.import(
        &domain,
        &[
            json!({"table": "imported_pages", "date": "2023-12-05", "page": "/", "visitors": 3, "pageviews": 4, "exits": 1, "total_time_on_page": 30, "total_time_on_page_visits": 2}),
            json!({"table": "imported_entry_pages", "date": "2023-12-05", "entry_page": "/", "visitors": 3, "entrances": 3, "bounces": 1, "visit_duration": 20}),
            json!({"table": "imported_sources", "date": "2023-12-05", "source": "Google", "visitors": 2, "visits": 2, "bounces": 1, "visit_duration": 10}),
            json!({"table": "imported_visitors", "date": "2023-12-05", "visitors": 3, "pageviews": 4, "visits": 3, "bounces": 1, "visit_duration": 20}),
        ],
    );
    s.flush();
    (tmp, s, domain, key)
}

#[test]
fn query_shapes_never_yield_a_server_error() {
    let (_tmp, s, domain, key) = loaded_server();
    let mut dims: Vec<String> = EVENT_PROPS.iter().map(|p| format!("event:{p}")).collect();
    dims.extend(VISIT_PROPS.iter().map(|p| format!("visit:{p}")));
    dims.extend(["event:props:author", "time", "time:hour", "time:day", "time:week", "time:month"].map(String::from));
    let filters: [Value; 6] = [
        json!([]),
        json!([["is", "event:page", ["/blog"]]]),
        json!([["is", "visit:source", ["Google"]]]),
        json!([["is", "event:goal", ["Purchase"]]]),
        json!([["contains", "event:props:author", ["a"]]]),
        json!([["has_done", ["is", "event:name", ["Purchase"]]]]),
    ];
    let mut answered = 0;
    let mut failures: Vec<String> = Vec::new();
    for dim in dims.iter().map(Some).chain([None]) {
        for metric in METRICS {
            for f in &filters {
                for imports in [false, true] {
                    let mut body = json!({"site_id": domain, "metrics": [metric], "date_range": ["2023-12-01", "2024-01-31"],
                        "filters": f, "include": {"imports": imports}});
                    if let Some(d) = dim {
                        body["dimensions"] = json!([d]);
                    }
                    let (status, b) = s.query(&key, body.clone());
                    if status >= 500 || (status != 200 && b["error"].as_str().is_none_or(|e| e.is_empty())) {
                        failures.push(format!("{status} {b} for {body}"));
                    } else if status == 200 {
                        answered += 1;
                    }
                }
            }
        }
    }
    // Pairs of dimensions, with metrics from both tables.
    for (i, a) in dims.iter().enumerate() {
        for b in &dims[i + 1..] {
            for f in &filters[..2] {
                for metrics in
                    [json!(["visitors", "events", "bounce_rate"]), json!(["visitors", "scroll_depth", "time_on_page"])]
                {
                    let body = json!({"site_id": domain, "metrics": metrics, "date_range": ["2023-12-01", "2024-01-31"],
                        "filters": f, "dimensions": [a, b], "include": {"imports": true}});
                    let (status, b) = s.query(&key, body.clone());
                    if status >= 500 || (status != 200 && b["error"].as_str().is_none_or(|e| e.is_empty())) {
                        failures.push(format!("{status} {b} for {body}"));
                    } else if status == 200 {
                        answered += 1;
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures[..failures.len().min(40)].join("\n"));
    // Most shapes are valid; the rest are Plausible's validation errors.
    assert!(answered > 2000, "only {answered} shapes answered 200");
}

#[test]
fn v1_shapes_never_yield_a_server_error() {
    let (_tmp, s, domain, key) = loaded_server();
    // Every metric (v1 rejects the v2-only ones with a 400), and several at once.
    let metrics: Vec<&str> = METRICS.iter().copied().chain(["visitors,pageviews,bounce_rate,visit_duration"]).collect();
    let filters = ["", "event:page==/blog", "visit:source==Google", "event:goal==Purchase", "event:props:author==a"];
    let mut properties: Vec<String> =
        ["event:page", "event:name", "event:goal", "event:props:author", "event:hostname"].map(String::from).to_vec();
    properties.extend(VISIT_PROPS.iter().map(|p| format!("visit:{p}")));
    let mut failures: Vec<String> = Vec::new();
    let mut answered = 0;
    let mut check = |path: &str, q: &[(&str, &str)]| {
        let (status, b) = s.get_v1(&key, path, q);
        if status >= 500 || (status != 200 && b["error"].as_str().is_none_or(|e| e.is_empty())) {
            failures.push(format!("{status} {b} for {path} {q:?}"));
        } else if status == 200 {
            answered += 1;
        }
    };
    for m in metrics.iter().copied() {
        for f in filters {
            for imported in ["false", "true"] {
                let base = [
                    ("site_id", domain.as_str()),
                    ("period", "custom"),
                    ("date", "2023-12-01,2024-01-31"),
                    ("metrics", m),
                    ("filters", f),
                    ("with_imported", imported),
                ];
                check("/api/v1/stats/aggregate", &base);
                for interval in ["day", "month"] {
                    let mut q = base.to_vec();
                    q.push(("interval", interval));
                    check("/api/v1/stats/timeseries", &q);
                }
                for p in &properties {
                    let mut q = base.to_vec();
                    q.push(("property", p.as_str()));
                    check("/api/v1/stats/breakdown", &q);
                }
            }
        }
    }
    check("/api/v1/stats/realtime/visitors", &[("site_id", domain.as_str())]);
    assert!(answered > 1000, "only {answered} shapes answered 200");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures[..failures.len().min(40)].join("\n"));
}
