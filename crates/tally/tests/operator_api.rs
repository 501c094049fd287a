//! Operator API: authentication, bulk import with sessionization, API key lifecycle.

mod common;
use common::Server;
use serde_json::json;

#[test]
fn admin_routes_need_the_token() {
    let s = Server::start();
    let (status, _, _) = s.send("POST", "/api/admin/flush", &[], None);
    assert_eq!(status, 401);
    let (status, _, _) = s.send("POST", "/api/admin/flush", &[("Authorization", "Bearer wrong")], None);
    assert_eq!(status, 401);
}

#[test]
fn admin_routes_are_absent_without_a_token() {
    let dir = tempfile::Builder::new().prefix("tally-notoken").tempdir().unwrap();
    let s = Server::start_in(dir.path().to_path_buf(), &[("TALLY_ADMIN_TOKEN", "")]);
    let (status, _, _) = s.send("POST", "/api/admin/flush", &[("Authorization", "Bearer ")], None);
    assert_eq!(status, 404);
}

#[test]
fn import_builds_sessions_like_live_ingestion() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let r = s.import(
        &domain,
        &[
            json!({"timestamp": "2024-01-01 10:00:00", "user_id": 1, "pathname": "/a", "referrer_source": "Google"}),
            json!({"timestamp": "2024-01-01 10:10:00", "user_id": 1, "pathname": "/b"}),
            json!({"timestamp": "2024-01-01 11:00:00", "user_id": 1, "pathname": "/c"}),
            json!({"timestamp": "2024-01-01 10:00:00", "user_id": 2, "pathname": "/a"}),
        ],
    );
    assert_eq!(r, json!({"imported": 4}));
    let (_, body) = s.query(&key, json!({"site_id": domain, "metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"], "date_range": "all"}));
    // Sessions: user 1 /a->/b (600 s), user 1 /c (bounce), user 2 /a (bounce).
    assert_eq!(body["results"][0]["metrics"], json!([2, 3, 4, 67, 200]), "{body}");
    let (_, body) = s.query(
        &key,
        json!({"site_id": domain, "metrics": ["visits"], "date_range": "all", "dimensions": ["visit:entry_page"]}),
    );
    assert_eq!(
        body["results"],
        json!([{"dimensions": ["/a"], "metrics": [2]}, {"dimensions": ["/c"], "metrics": [1]}]),
        "{body}"
    );
    // Every event carries its session's attributes: /b (no referrer of its own) counts under Google.
    let (_, body) = s.query(
        &key,
        json!({"site_id": domain, "metrics": ["pageviews"], "date_range": "all", "dimensions": ["event:page"],
               "filters": [["is", "visit:source", ["Google"]]]}),
    );
    assert_eq!(
        body["results"],
        json!([{"dimensions": ["/a"], "metrics": [1]}, {"dimensions": ["/b"], "metrics": [1]}]),
        "{body}"
    );
}

#[test]
fn malformed_import_line_rejects_the_request() {
    let s = Server::start();
    let (domain, key) = s.setup_site("enterprise", json!({}));
    let auth = format!("Bearer {}", s.token);
    let body = "{\"timestamp\": \"2024-01-01 10:00:00\"}\n{\"pathname\": \"/x\"}\n";
    let (status, text, _) = s.send(
        "POST",
        &format!("/api/admin/sites/{domain}/events"),
        &[("Authorization", &auth)],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 400);
    assert!(text.contains("line 2"), "{text}");
    let (_, body) = s.query(&key, json!({"site_id": domain, "metrics": ["pageviews"], "date_range": "all"}));
    assert_eq!(body["results"][0]["metrics"], json!([0]));
}

#[test]
fn revoked_keys_stop_working() {
    let s = Server::start();
    let email = "keys@example.test";
    let team = s.admin("POST", "/api/admin/teams", json!({"owner_email": email, "name": "Keys"}));
    let domain = "keys.example.test";
    s.admin("POST", "/api/admin/sites", json!({"team_id": team["id"], "domain": domain}));
    let k = s.admin("POST", "/api/admin/api-keys", json!({"user_email": email, "team_id": team["id"]}));
    let key = k["key"].as_str().unwrap();
    assert_eq!(s.query(key, json!({"site_id": domain, "metrics": ["visitors"], "date_range": "all"})).0, 200);
    let list = s.admin("GET", &format!("/api/admin/api-keys?user_email={email}"), json!(null));
    assert_eq!(list["api_keys"][0]["prefix"].as_str().unwrap(), &key[..6]);
    assert!(!list.to_string().contains(key), "never the key itself");
    s.admin("DELETE", &format!("/api/admin/api-keys/{}", k["id"]), json!(null));
    assert_eq!(s.query(key, json!({"site_id": domain, "metrics": ["visitors"], "date_range": "all"})).0, 401);
}
