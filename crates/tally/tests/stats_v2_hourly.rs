//! `time:hour` through the real server: sessions count as visitors and visits in every hour they were
//! active in (Plausible's session smearing), while other session metrics stay in the hour of the
//! session's last event.

mod common;
use common::Server;
use serde_json::{json, Value};

fn pageviews(user_id: u64, times: &[&str]) -> Vec<Value> {
    times.iter().map(|t| json!({"timestamp": t, "user_id": user_id, "pathname": "/"})).collect()
}

#[test]
fn a_session_counts_in_every_hour_it_was_active_in() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    s.import(
        &domain,
        &pageviews(123, &["2021-01-01 00:20:00", "2021-01-01 00:40:00", "2021-01-01 01:00:00", "2021-01-01 01:20:00"]),
    );
    let rows = s.results(
        &key,
        json!({"site_id": domain, "metrics": ["visitors", "visits", "visit_duration"],
               "date_range": ["2021-01-01", "2021-01-02"], "dimensions": ["time:hour"]}),
    );
    // Visitors and visits in both hours (once each, though the session spans several 15-minute slots);
    // the duration only in the hour the session ended.
    assert_eq!(
        rows,
        json!([
            {"dimensions": ["2021-01-01 00:00:00"], "metrics": [1, 1, 0]},
            {"dimensions": ["2021-01-01 01:00:00"], "metrics": [1, 1, 3600]}
        ])
    );
}

#[test]
fn smeared_sessions_are_clamped_to_the_range() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let mut lines = pageviews(1, &["2020-12-31 23:45:00", "2021-01-01 00:10:00", "2021-01-01 00:15:00"]);
    lines.extend(pageviews(
        2,
        &[
            "2021-01-01 00:35:00",
            "2021-01-01 01:00:00",
            "2021-01-01 01:25:00",
            "2021-01-01 01:50:00",
            "2021-01-01 02:05:00",
        ],
    ));
    lines.extend(pageviews(3, &["2021-01-01 23:45:00", "2021-01-02 00:05:00"]));
    s.import(&domain, &lines);
    let rows = s.results(
        &key,
        json!({"site_id": domain, "metrics": ["visitors"], "date_range": ["2021-01-01", "2021-01-01"],
               "dimensions": ["time:hour"]}),
    );
    assert_eq!(
        rows,
        json!([
            {"dimensions": ["2021-01-01 00:00:00"], "metrics": [2]},
            {"dimensions": ["2021-01-01 01:00:00"], "metrics": [1]},
            {"dimensions": ["2021-01-01 02:00:00"], "metrics": [1]},
            {"dimensions": ["2021-01-01 23:00:00"], "metrics": [1]}
        ])
    );
}
