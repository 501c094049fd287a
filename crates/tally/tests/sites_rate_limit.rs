//! Hourly API rate limits (platform.md §1.8): fixed windows per team (or per legacy-key user), denied calls
//! counted, checked before the scope, exact under concurrency.

mod common;
use common::{email, Server};
use serde_json::json;
use std::sync::Arc;

#[test]
fn parallel_requests_get_exactly_the_team_limit() {
    let s = Arc::new(Server::start());
    let owner = email("rl");
    let team = s.new_team(&owner, Some("Limited"), json!("enterprise"));
    s.new_site(&team, "rl.example.test");
    s.admin("PATCH", &format!("/api/admin/teams/{}", team.id), json!({"hourly_api_request_limit": 25}));
    let (key, _) = s.new_key(&owner, Some(&team), &["sites:provision:*"]);
    let key = Arc::new(key);

    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (s, key) = (s.clone(), key.clone());
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| s.api("GET", "/api/v1/sites/goals?site_id=rl.example.test", Some(&key), None))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let ok = results.iter().filter(|(st, _)| *st == 200).count();
    let limited: Vec<_> = results.iter().filter(|(st, _)| *st == 429).collect();
    assert_eq!(ok, 25, "{results:?}");
    assert_eq!(limited.len(), 75);
    assert_eq!(
        limited[0].1,
        json!({"error": "Too many API requests. The limit is 25 per hour. Please contact us to request more capacity."})
    );
    // every key of the team shares the bucket, whatever the route
    let (other_key, _) = s.new_key(&owner, Some(&team), &["stats:read:*"]);
    let (st, _) =
        s.query(&other_key, json!({"site_id": "rl.example.test", "metrics": ["visitors"], "date_range": "all"}));
    assert_eq!(st, 429);
    // a legacy key on one of the team's sites uses the site's team bucket
    let (legacy, _) = s.new_key(&owner, None, &["sites:provision:*"]);
    let (st, _) = s.api("GET", "/api/v1/sites/rl.example.test", Some(&legacy), None);
    assert_eq!(st, 429);
    // ... but without a site context it is limited per user
    let (st, _) = s.api("GET", "/api/v1/sites", Some(&legacy), None);
    assert_eq!(st, 200);
}

#[test]
fn legacy_keys_use_the_server_default_per_user() {
    let dir = tempfile::Builder::new().prefix("tally-rl").tempdir().unwrap();
    let s = Server::start_in(dir.path().to_path_buf(), &[("TALLY_HOURLY_API_LIMIT", "4")]);
    let owner = email("legacy");
    let team = s.new_team(&owner, Some("Legacy"), json!("enterprise"));
    s.new_site(&team, "legacy-rl.example.test");
    let (key, _) = s.new_key(&owner, None, &["stats:read:*"]);
    // unknown keys never consume quota
    for _ in 0..10 {
        assert_eq!(s.api("GET", "/api/v1/sites", Some("nope"), None).0, 401);
    }
    // a wrong scope is checked after the limit, so it consumes quota
    assert_eq!(s.api("POST", "/api/v1/sites", Some(&key), Some(json!({"domain": "x.example.test"}))).0, 401);
    for _ in 0..3 {
        assert_eq!(s.api("GET", "/api/v1/sites/teams", Some(&key), None).0, 200);
    }
    let (st, b) = s.api("GET", "/api/v1/sites/teams", Some(&key), None);
    assert_eq!(st, 429);
    assert_eq!(
        b["error"],
        "Too many API requests. The limit is 4 per hour. Please contact us to request more capacity."
    );
    // denied calls count too, and rate limiting answers before the scope check
    let (st, _) = s.api("POST", "/api/v1/sites", Some(&key), Some(json!({"domain": "y.example.test"})));
    assert_eq!(st, 429);
    // another user of the same server has a bucket of their own
    let other = email("legacy2");
    s.new_team(&other, None, json!("enterprise"));
    let (k2, _) = s.new_key(&other, None, &["stats:read:*"]);
    assert_eq!(s.api("GET", "/api/v1/sites/teams", Some(&k2), None).0, 200);
    // a team without an override uses the server default too
    let (team_key, _) = s.new_key(&owner, Some(&team), &["stats:read:*"]);
    for _ in 0..4 {
        assert_eq!(s.api("GET", "/api/v1/sites/teams", Some(&team_key), None).0, 200);
    }
    assert_eq!(s.api("GET", "/api/v1/sites/teams", Some(&team_key), None).0, 429);
    // raising the team's limit through the operator API takes effect at once
    s.admin("PATCH", &format!("/api/admin/teams/{}", team.id), json!({"hourly_api_request_limit": 10}));
    assert_eq!(s.api("GET", "/api/v1/sites/teams", Some(&team_key), None).0, 200);
}
