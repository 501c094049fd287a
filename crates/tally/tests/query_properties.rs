//! Invariants of the v2 engine on random data, through the real server: visitors ≤ visits ≤ events,
//! breakdown percentages sum to 100, a time series adds up to the aggregate for additive metrics, and a
//! breakdown's additive metrics add up to the aggregate.

mod common;
use common::Server;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

const PAGES: &[&str] = &["/", "/a", "/b", "/blog/1", "/blog/2"];
const SOURCES: &[&str] = &["", "Google", "Twitter", "news.example"];
const BROWSERS: &[&str] = &["Chrome", "Firefox", "Safari", ""];
const COUNTRIES: &[&str] = &["EE", "DE", "US", "FR", "GB", "SE", "FI", "LV", "LT", "PL"];

fn event() -> impl Strategy<Value = Value> {
    (0u64..30, 0i64..(14 * 86400), 0..PAGES.len(), 0..SOURCES.len(), 0..BROWSERS.len(), prop::bool::weighted(0.15))
        .prop_map(|(user, offset, page, source, browser, custom)| {
            let ts = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
                + chrono::Duration::seconds(offset);
            json!({
                "name": if custom { "Signup" } else { "pageview" },
                "timestamp": ts.format("%Y-%m-%d %H:%M:%S").to_string(),
                "user_id": user,
                "pathname": PAGES[page],
                "referrer_source": SOURCES[source],
                "browser": BROWSERS[browser],
            })
        })
}

fn metrics(s: &Server, key: &str, body: Value) -> Vec<Value> {
    let (status, resp) = s.query(key, body.clone());
    assert_eq!(status, 200, "{resp} for {body}");
    resp["results"].as_array().unwrap().clone()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

#[test]
fn engine_invariants_hold_on_random_data() {
    let s = Server::start();
    let mut runner = TestRunner::new(ProptestConfig { cases: 12, failure_persistence: None, ..Default::default() });
    runner
        .run(&prop::collection::vec(event(), 1..120), |events| {
            let (domain, key) = s.setup_site("enterprise", json!({"goals": [{"event_name": "Signup"}]}));
            s.import(&domain, &events);
            let base = json!({"site_id": domain, "date_range": ["2024-03-01", "2024-03-31"]});
            let q = |extra: Value| {
                let mut b = base.clone();
                for (k, v) in extra.as_object().unwrap() {
                    b[k] = v.clone();
                }
                b
            };

            let agg = metrics(&s, &key, q(json!({"metrics": ["visitors", "visits", "pageviews", "events"]})));
            let m = &agg[0]["metrics"];
            let (visitors, visits, pageviews, events_n) = (num(&m[0]), num(&m[1]), num(&m[2]), num(&m[3]));
            prop_assert!(visitors <= visits && visits <= events_n, "{m}");
            prop_assert_eq!(events_n as usize, events.len());
            prop_assert_eq!(pageviews as usize, events.iter().filter(|e| e["name"] == "pageview").count());

            // Percentages of a breakdown sum to 100 (± rounding).
            for dim in ["visit:source", "visit:browser"] {
                let rows = metrics(&s, &key, q(json!({"metrics": ["visitors", "percentage"], "dimensions": [dim]})));
                let total: f64 = rows.iter().map(|r| num(&r["metrics"][1])).sum();
                let visitors_sum: f64 = rows.iter().map(|r| num(&r["metrics"][0])).sum();
                // A visitor with sessions from several sources counts in each of them.
                prop_assert!(visitors_sum >= visitors, "{dim}: {visitors_sum} < {visitors}");
                if visitors_sum == visitors {
                    prop_assert!((total - 100.0).abs() <= 0.5, "{dim}: {total}");
                }
            }

            // Additive metrics of a time series and of a page breakdown add up to the aggregate.
            let series = metrics(&s, &key, q(json!({"metrics": ["pageviews", "events"], "dimensions": ["time:day"]})));
            let pv: f64 = series.iter().map(|r| num(&r["metrics"][0])).sum();
            let ev: f64 = series.iter().map(|r| num(&r["metrics"][1])).sum();
            prop_assert_eq!((pv, ev), (pageviews, events_n));
            let pages = metrics(&s, &key, q(json!({"metrics": ["pageviews"], "dimensions": ["event:page"]})));
            prop_assert_eq!(pages.iter().map(|r| num(&r["metrics"][0])).sum::<f64>(), pageviews);

            // Conversions never exceed visitors; the conversion rate is their ratio.
            let conv = metrics(
                &s,
                &key,
                q(json!({"metrics": ["visitors", "conversion_rate"], "filters": [["is", "event:goal", ["Signup"]]]})),
            );
            let c = num(&conv[0]["metrics"][0]);
            prop_assert!(c <= visitors);
            let expected = if visitors > 0.0 { (10000.0 * c / visitors).round() / 100.0 } else { 0.0 };
            prop_assert!((num(&conv[0]["metrics"][1]) - expected).abs() < 0.011, "{conv:?}");
            Ok(())
        })
        .unwrap();
}

/// A top-N breakdown by visitors reads only the groups that can rank (`top_groups` in the engine): its page of
/// results must equal the same page of the full breakdown, ties included.
#[test]
fn top_n_breakdowns_equal_the_full_breakdown() {
    let s = Server::start();
    let mut runner = TestRunner::new(ProptestConfig { cases: 8, failure_persistence: None, ..Default::default() });
    // Some visitors repeat an event many times, so that row counts and visitor counts rank groups differently.
    let many = (0u64..60, 0i64..(5 * 86400), 0usize..40, 0usize..30, prop::bool::weighted(0.1), 0usize..12).prop_map(
        |(user, offset, page, country, custom, repeat)| {
            let ts = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
                + chrono::Duration::seconds(offset);
            // Skewed choices (min of two) so that counts differ and ties still occur.
            let e = json!({
                "name": if custom { "Signup" } else { "pageview" },
                "timestamp": ts.format("%Y-%m-%d %H:%M:%S").to_string(),
                "user_id": user,
                "pathname": format!("/p{}", page.min(page * 7 % 40)),
                "country_code": COUNTRIES[country % COUNTRIES.len()],
                "referrer_source": format!("source{}", country.min(country * 3 % 30)),
            });
            vec![e; if repeat >= 10 { 3 * repeat } else { 1 }]
        },
    );
    runner
        .run(&(prop::collection::vec(many, 1..300), 1u64..4, 0u64..3), |(events, limit, offset)| {
            let events: Vec<Value> = events.into_iter().flatten().collect();
            let (domain, key) = s.setup_site("enterprise", json!({}));
            s.import(&domain, &events);
            for (dim, ms) in [
                ("event:page", json!(["visitors", "pageviews", "events"])),
                ("visit:entry_page", json!(["visitors", "visits", "bounce_rate", "visit_duration"])),
                ("visit:source", json!(["visitors", "pageviews"])),
                ("visit:country", json!(["visitors"])),
            ] {
                let body = |pagination: Value| {
                    json!({"site_id": domain, "date_range": ["2024-03-01", "2024-03-31"], "metrics": ms,
                           "dimensions": [dim], "pagination": pagination})
                };
                let full = metrics(&s, &key, body(json!({"limit": 10000})));
                let page = metrics(&s, &key, body(json!({"limit": limit, "offset": offset})));
                let want: Vec<Value> = full.into_iter().skip(offset as usize).take(limit as usize).collect();
                prop_assert_eq!(page, want, "{} limit {} offset {}", dim, limit, offset);
            }
            Ok(())
        })
        .unwrap();
}
