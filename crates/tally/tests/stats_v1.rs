//! Stats API v1 through the real server: realtime visitors, aggregate (with comparison),
//! timeseries, breakdown, errors and authorization.

mod common;
use common::Server;
use serde_json::{json, Value};

const AGG: &str = "/api/v1/stats/aggregate";
const TS: &str = "/api/v1/stats/timeseries";
const BD: &str = "/api/v1/stats/breakdown";

fn fixture(s: &Server) -> (String, String) {
    let (domain, key) = s.setup_site("enterprise", json!({"goals": [{"event_name": "Signup"}]}));
    s.import(
        &domain,
        &[
            json!({"timestamp": "2021-01-01 00:00:00", "user_id": 1, "pathname": "/", "referrer_source": "Google", "browser": "Chrome"}),
            json!({"timestamp": "2021-01-01 00:25:00", "user_id": 1, "pathname": "/blog", "browser": "Chrome"}),
            json!({"timestamp": "2021-01-01 00:26:00", "user_id": 1, "name": "Signup", "pathname": "/blog", "browser": "Chrome"}),
            json!({"timestamp": "2021-01-01 10:00:00", "user_id": 2, "pathname": "/", "browser": "Firefox"}),
            json!({"timestamp": "2020-12-31 10:00:00", "user_id": 3, "pathname": "/", "browser": "Firefox"}),
        ],
    );
    (domain, key)
}

#[test]
fn aggregate_translates_metrics_filters_and_comparisons() {
    let s = Server::start();
    let (domain, key) = fixture(&s);
    let base = [("site_id", domain.as_str()), ("period", "day"), ("date", "2021-01-01")];

    let mut q = base.to_vec();
    q.push(("metrics", "visitors,pageviews,events,visits,bounce_rate,visit_duration,views_per_visit"));
    let (status, body) = s.get_v1(&key, AGG, &q);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"results": {
            "visitors": {"value": 2}, "pageviews": {"value": 3}, "events": {"value": 4}, "visits": {"value": 2},
            "bounce_rate": {"value": 50}, "visit_duration": {"value": 780}, "views_per_visit": {"value": 1.5}
        }})
    );

    let mut q = base.to_vec();
    q.extend([("metrics", "visitors"), ("filters", "visit:browser==Chrome|Safari")]);
    assert_eq!(s.get_v1(&key, AGG, &q).1, json!({"results": {"visitors": {"value": 1}}}));

    let mut q = base.to_vec();
    q.extend([("metrics", "visitors"), ("filters", "event:page==/bl**")]);
    assert_eq!(s.get_v1(&key, AGG, &q).1, json!({"results": {"visitors": {"value": 1}}}));

    let mut q = base.to_vec();
    q.extend([("metrics", "visitors,conversion_rate"), ("filters", "event:goal==Signup")]);
    assert_eq!(
        s.get_v1(&key, AGG, &q).1,
        json!({"results": {"visitors": {"value": 1}, "conversion_rate": {"value": 50.0}}})
    );

    let mut q = base.to_vec();
    q.extend([("metrics", "visitors,pageviews"), ("compare", "previous_period")]);
    assert_eq!(
        s.get_v1(&key, AGG, &q).1,
        json!({"results": {
            "visitors": {"value": 2, "comparison_value": 1, "change": 100},
            "pageviews": {"value": 3, "comparison_value": 1, "change": 200}
        }})
    );
}

#[test]
fn timeseries_fills_every_bucket() {
    let s = Server::start();
    let (domain, key) = fixture(&s);
    let (status, body) = s.get_v1(
        &key,
        TS,
        &[("site_id", &domain), ("period", "7d"), ("date", "2021-01-03"), ("metrics", "visitors,visit_duration")],
    );
    assert_eq!(status, 200, "{body}");
    let rows = body["results"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0], json!({"date": "2020-12-27", "visitors": 0, "visit_duration": null}));
    assert_eq!(rows[4], json!({"date": "2020-12-31", "visitors": 1, "visit_duration": 0}));
    assert_eq!(rows[5], json!({"date": "2021-01-01", "visitors": 2, "visit_duration": 780}));
    assert_eq!(rows[6]["date"], json!("2021-01-02"));
    assert!(body.get("warning").is_none());

    let (_, body) = s.get_v1(&key, TS, &[("site_id", &domain), ("period", "day"), ("date", "2021-01-01")]);
    let rows = body["results"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    assert_eq!(rows[0], json!({"date": "2021-01-01 00:00:00", "visitors": 1}));
    assert_eq!(rows[10], json!({"date": "2021-01-01 10:00:00", "visitors": 1}));

    let (_, body) = s.get_v1(&key, TS, &[("site_id", &domain), ("period", "12mo"), ("date", "2021-01-15")]);
    let rows = body["results"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[10], json!({"date": "2020-12-01", "visitors": 1}));
    assert_eq!(rows[11], json!({"date": "2021-01-01", "visitors": 2}));
}

#[test]
fn breakdown_shapes_rows_and_paginates() {
    let s = Server::start();
    let (domain, key) = fixture(&s);
    let base = [("site_id", domain.as_str()), ("period", "day"), ("date", "2021-01-01")];

    let mut q = base.to_vec();
    q.push(("property", "visit:source"));
    assert_eq!(
        s.get_v1(&key, BD, &q).1,
        json!({"results": [{"source": "Direct / None", "visitors": 1}, {"source": "Google", "visitors": 1}]})
    );

    let mut q = base.to_vec();
    q.extend([("property", "event:page"), ("metrics", "visitors,pageviews"), ("limit", "1"), ("page", "2")]);
    assert_eq!(s.get_v1(&key, BD, &q).1, json!({"results": [{"page": "/blog", "visitors": 1, "pageviews": 1}]}));

    let mut q = base.to_vec();
    q.extend([("property", "visit:browser"), ("metrics", "conversion_rate"), ("filters", "event:goal==Signup")]);
    assert_eq!(s.get_v1(&key, BD, &q).1, json!({"results": [{"browser": "Chrome", "conversion_rate": 100.0}]}));

    let mut q = base.to_vec();
    q.extend([("property", "event:goal"), ("metrics", "visitors,events,conversion_rate")]);
    assert_eq!(
        s.get_v1(&key, BD, &q).1,
        json!({"results": [{"goal": "Signup", "visitors": 1, "events": 1, "conversion_rate": 50.0}]})
    );

    // Empty utm values are not a row.
    let mut q = base.to_vec();
    q.push(("property", "visit:utm_source"));
    assert_eq!(s.get_v1(&key, BD, &q).1, json!({"results": []}));
}

#[test]
fn validation_errors_and_feature_gates() {
    let s = Server::start();
    let (domain, key) = fixture(&s);
    let (status, body) = s.get_v1(&key, AGG, &[("site_id", &domain), ("metrics", "pageviews,led_zeppelin")]);
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        json!("The metric `led_zeppelin` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics")
    );
    let (status, body) = s.get_v1(&key, BD, &[("site_id", &domain)]);
    assert_eq!(
        (status, body["error"].as_str().unwrap().starts_with("The `property` parameter is required")),
        (400, true)
    );
    let (status, body) = s.get_v1(&key, TS, &[("site_id", &domain), ("interval", "week")]);
    assert_eq!((status, body["error"].as_str().unwrap().contains("invalid interval `week`")), (400, true));

    let (status, body) = s.get_v1(&key, AGG, &[("site_id", &domain), ("period", "custom"), ("date", "2021-01-01")]);
    assert_eq!(
        (status, body["error"].as_str().unwrap().starts_with("Invalid format for `date` parameter")),
        (400, true)
    );

    // Growth has no Stats API: the auth layer answers first.
    let (growth, growth_key) = s.setup_site("growth", json!({}));
    let (status, _) = s.get_v1(&growth_key, AGG, &[("site_id", &growth)]);
    assert_eq!(status, 402);
}

#[test]
fn custom_properties_need_the_feature() {
    let s = Server::start();
    let email = format!("{}@example.test", common::unique_name("owner"));
    let team = s.admin(
        "POST",
        "/api/admin/teams",
        json!({"owner_email": email, "personal": true, "plan": {"name": "enterprise", "features": ["stats_api"]}}),
    );
    let domain = format!("{}.example.test", common::unique_name("site"));
    s.admin("POST", "/api/admin/sites", json!({"team_id": team["id"], "domain": domain}));
    let key = s.admin(
        "POST",
        "/api/admin/api-keys",
        json!({"user_email": email, "team_id": team["id"], "scopes": ["stats:read:*"]}),
    );
    let key = key["key"].as_str().unwrap();
    let (status, body) = s.get_v1(key, AGG, &[("site_id", &domain), ("filters", "event:props:author==Uku")]);
    assert_eq!(status, 402, "{body}");
    assert_eq!(body, json!({"error": "The owner of this site does not have access to the custom properties feature"}));
    let (status, _) = s.get_v1(key, BD, &[("site_id", &domain), ("property", "event:props:url")]);
    assert_eq!(status, 200);
}

#[test]
fn realtime_visitors_counts_the_last_five_minutes() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let now = chrono::Utc::now().naive_utc();
    let ts = |minutes: i64| (now - chrono::Duration::minutes(minutes)).format("%Y-%m-%d %H:%M:%S").to_string();
    s.import(
        &domain,
        &[
            json!({"timestamp": ts(1), "user_id": 1, "pathname": "/"}),
            json!({"timestamp": ts(2), "user_id": 1, "pathname": "/a"}),
            json!({"timestamp": ts(10), "user_id": 2, "pathname": "/", "session_id": 22}),
            json!({"timestamp": ts(1), "user_id": 2, "name": "engagement", "pathname": "/", "session_id": 22, "engagement_time": 1000}),
            json!({"timestamp": ts(20), "user_id": 3, "pathname": "/"}),
        ],
    );
    let (status, body) = s.get_v1(&key, "/api/v1/stats/realtime/visitors", &[("site_id", &domain)]);
    assert_eq!((status, body), (200, json!(1)));
}

#[test]
fn authorization() {
    let s = Server::start();
    let (domain, key) = fixture(&s);
    let (status, body) = s.get_v1("nope", AGG, &[("site_id", &domain)]);
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.get_v1(&key, AGG, &[]);
    assert_eq!(
        (status, body),
        (400, json!({"error": "Missing site ID. Please provide the required site_id parameter with your request."}))
    );
    let (status, _) = s.get_v1(&key, AGG, &[("site_id", "unknown.example.test")]);
    assert_eq!(status, 401);
    let (status, text, _) = s.send("GET", &format!("{AGG}?site_id={domain}"), &[], None);
    assert_eq!(status, 401, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], json!("Missing API key. Please use a valid Plausible API key as a Bearer Token."));
}
