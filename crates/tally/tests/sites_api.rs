//! Sites API endpoints through the real server: happy paths and Plausible's errors (platform.md §2).

mod common;
use common::{email, Server, TestTeam};
use serde_json::{json, Value};

const TAKEN: &str = "domain: This domain cannot be registered. Perhaps one of your colleagues registered it? If that's not the case, please contact support@plausible.io\n";

/// A server with one user owning a personal enterprise team with one site, and that user's keys.
struct Fixture {
    s: Server,
    owner: String,
    team: TestTeam,
    site: String,
    /// legacy key with sites:provision:*
    legacy: String,
    /// team-scoped key with sites:provision:*
    key: String,
}

fn fixture() -> Fixture {
    let s = Server::start();
    let owner = email("owner");
    let team = s.new_team(&owner, None, json!("enterprise"));
    let site = format!("site-{}.example.test", std::process::id());
    s.new_site(&team, &site);
    let (legacy, _) = s.new_key(&owner, None, &["sites:provision:*"]);
    let (key, _) = s.new_key(&owner, Some(&team), &["sites:provision:*"]);
    Fixture { s, owner, team, site, legacy, key }
}

impl Fixture {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.s.api(method, path, Some(&self.legacy), body)
    }

    /// Creates goals (Sites API bodies without `site_id`) and returns their ids.
    fn goal_ids(&self, bodies: &[Value]) -> Vec<Value> {
        bodies
            .iter()
            .map(|b| {
                let mut b = b.clone();
                b["site_id"] = json!(self.site);
                let (st, g) = self.call("PUT", "/api/v1/sites/goals", Some(b));
                assert_eq!(st, 200, "{g}");
                g["id"].clone()
            })
            .collect()
    }
}

fn err(b: &Value) -> &str {
    b["error"].as_str().unwrap_or_default()
}

#[test]
fn site_lifecycle() {
    let f = fixture();
    // create
    let (st, b) = f.call(
        "POST",
        "/api/v1/sites",
        Some(json!({"domain": "https://WWW.New-Site.example.test/", "timezone": "Europe/Tallinn"})),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["domain"], "new-site.example.test");
    assert_eq!(b["timezone"], "Europe/Tallinn");
    assert_eq!(b["custom_properties"], json!([]));
    let t = b["tracker_script_configuration"].as_object().unwrap();
    let keys: Vec<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "installation_type",
            "track_404_pages",
            "hash_based_routing",
            "outbound_links",
            "file_downloads",
            "revenue_tracking",
            "tagged_events",
            "form_submissions",
            "pageview_props"
        ]
    );
    let id = t["id"].as_str().unwrap();
    assert!(id.starts_with("pa-") && id.len() == 24, "{id}");
    assert_eq!(b.as_object().unwrap().len(), 4);

    // the same domain again, in any spelling, is taken
    let (st, b) = f.call("POST", "/api/v1/sites", Some(json!({"domain": "new-site.example.test"})));
    assert_eq!((st, err(&b)), (400, TAKEN));

    // get: sites made by the operator get their tracker configuration lazily
    let (st, b) = f.call("GET", &format!("/api/v1/sites/{}", f.site), None);
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["domain"], f.site.as_str());
    let tracker_id = b["tracker_script_configuration"]["id"].clone();
    let (_, b) = f.call("GET", &format!("/api/v1/sites/{}", f.site), None);
    assert_eq!(b["tracker_script_configuration"]["id"], tracker_id, "stable once created");

    // update: domain change keeps the old domain working
    let new_domain = format!("renamed.{}", f.site);
    let (st, b) = f.call(
        "PUT",
        &format!("/api/v1/sites/{}", f.site),
        Some(json!({"domain": new_domain, "tracker_script_configuration": {"outbound_links": true}})),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["domain"], new_domain.as_str());
    assert_eq!(b["tracker_script_configuration"]["outbound_links"], true);
    assert_eq!(b["tracker_script_configuration"]["id"], tracker_id);
    let (st, b) = f.call("GET", &format!("/api/v1/sites/{}", f.site), None);
    assert_eq!((st, b["domain"].as_str().unwrap()), (200, new_domain.as_str()));
    // enabling outbound links created its goal
    let (_, g) = f.call("GET", &format!("/api/v1/sites/goals?site_id={new_domain}"), None);
    assert_eq!(g["goals"][0]["event_name"], "Outbound Link: Click", "{g}");
    // ... and the old domain cannot be taken by someone else
    let other = email("other");
    f.s.new_team(&other, None, json!("enterprise"));
    let (other_key, _) = f.s.new_key(&other, None, &["sites:provision:*"]);
    let (st, b) = f.s.api("POST", "/api/v1/sites", Some(&other_key), Some(json!({"domain": f.site})));
    assert_eq!((st, err(&b)), (400, TAKEN));
    // partial tracker update merges
    let (st, b) = f.call(
        "PUT",
        &format!("/api/v1/sites/{new_domain}"),
        Some(json!({"tracker_script_configuration": {"installation_type": "gtm"}})),
    );
    assert_eq!(st, 200);
    assert_eq!(b["tracker_script_configuration"]["installation_type"], "gtm");
    assert_eq!(b["tracker_script_configuration"]["outbound_links"], true);
    // disabling removes the goal
    f.call(
        "PUT",
        &format!("/api/v1/sites/{new_domain}"),
        Some(json!({"tracker_script_configuration": {"outbound_links": false}})),
    );
    let (_, g) = f.call("GET", &format!("/api/v1/sites/goals?site_id={new_domain}"), None);
    assert_eq!(g["goals"], json!([]));

    // update errors
    let path = format!("/api/v1/sites/{new_domain}");
    let (st, b) = f.call("PUT", &path, Some(json!({"foo": "bar"})));
    assert_eq!(
        (st, err(&b)),
        (400, "Payload must contain at least one of the parameters 'domain', 'tracker_script_configuration'")
    );
    let (st, b) = f.call("PUT", &path, Some(json!({"domain": 123})));
    assert_eq!((st, err(&b)), (400, "domain: is invalid"));
    let (st, b) = f.call("PUT", &path, Some(json!({"domain": new_domain})));
    assert_eq!((st, err(&b)), (400, "domain: New domain must be different than the current one"));
    let (st, b) = f.call("PUT", &path, Some(json!({"domain": "new-site.example.test"})));
    assert_eq!((st, err(&b)), (400, TAKEN));
    let (st, b) = f.call(
        "PUT",
        &path,
        Some(json!({"domain": "x.test", "tracker_script_configuration": {"pageview_props": "maybe"}})),
    );
    assert_eq!((st, err(&b)), (400, "tracker_script_configuration.pageview_props: is invalid"));
    let (st, _) = f.call("GET", "/api/v1/sites/x.test", None);
    assert_eq!(st, 404, "the failed update changed nothing");

    // delete by the old domain; then everything is gone
    let (st, b) = f.call("DELETE", &format!("/api/v1/sites/{}", f.site), None);
    assert_eq!((st, b), (200, json!({"deleted": true})));
    let (st, b) = f.call("GET", &path, None);
    assert_eq!((st, err(&b)), (404, "Site could not be found"));
    let (st, b) = f.call("DELETE", &path, None);
    assert_eq!((st, err(&b)), (404, "Site could not be found"));
}

#[test]
fn site_create_validations() {
    let f = fixture();
    let cases = [
        (json!({}), "domain: can't be blank"),
        (json!({"domain": "a b.test"}), "domain: only letters, numbers, slashes and period allowed"),
        (json!({"domain": "quero:café.test"}), "domain: must not contain URI reserved characters :?#[]@!$&'()*+,;="),
        (json!({"domain": "h&llo.test"}), "domain: must not contain URI reserved characters :?#[]@!$&'()*+,;="),
        (json!({"domain": "ok.test", "timezone": "Mars/Base"}), "timezone: is invalid"),
        (
            json!({"domain": "ok.test", "tracker_script_configuration": {"installation_type": "x", "file_downloads": "y"}}),
            "tracker_script_configuration.installation_type: is invalid",
        ),
        (
            json!({"domain": "ok.test", "tracker_script_configuration": {"file_downloads": "y"}}),
            "tracker_script_configuration.file_downloads: is invalid",
        ),
    ];
    for (body, msg) in cases {
        let (st, b) = f.call("POST", "/api/v1/sites", Some(body.clone()));
        assert_eq!((st, err(&b)), (400, msg), "{body}");
    }
    // nothing was created by the failures
    let (st, _) = f.call("GET", "/api/v1/sites/ok.test", None);
    assert_eq!(st, 404);
    // IDNs and paths pass unchanged
    let (st, b) = f.call("POST", "/api/v1/sites", Some(json!({"domain": "до.101домен.рф/pages"})));
    assert_eq!((st, b["domain"].as_str().unwrap()), (200, "до.101домен.рф/pages"));
    assert_eq!(b["timezone"], "Etc/UTC");
    // form bodies work too
    let auth = format!("Bearer {}", f.legacy);
    let (st, text, _) = f.s.send(
        "POST",
        "/api/v1/sites",
        &[("Authorization", &auth), ("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"domain=form.example.test&timezone=Europe%2FBerlin"),
    );
    assert_eq!(st, 200, "{text}");
    assert!(text.contains("Europe/Berlin"));
    // a stats-only key cannot provision
    let (stats_key, _) = f.s.new_key(&f.owner, None, &["stats:read:*"]);
    let (st, b) = f.s.api("POST", "/api/v1/sites", Some(&stats_key), Some(json!({"domain": "z.test"})));
    assert_eq!((st, err(&b)), (401, "Invalid API key. Please make sure you're using a valid API key with access to the resource you've requested."));
}

#[test]
fn site_create_team_selection() {
    let f = fixture();
    // a team where the user may add sites
    let other_owner = email("boss");
    let shared = f.s.new_team(&other_owner, Some("Shared"), json!("enterprise"));
    f.s.add_member(&shared, &f.owner, "editor");
    let (st, b) =
        f.call("POST", "/api/v1/sites", Some(json!({"domain": "in-shared.test", "team_id": shared.identifier})));
    assert_eq!(st, 200, "{b}");
    let (_, list) = f.call("GET", &format!("/api/v1/sites?team_id={}", shared.identifier), None);
    assert_eq!(list["sites"], json!([{"domain": "in-shared.test", "timezone": "Etc/UTC"}]));
    // a viewer may not
    let viewing = f.s.new_team(&other_owner, Some("Viewing"), json!("enterprise"));
    f.s.add_member(&viewing, &f.owner, "viewer");
    let (st, b) =
        f.call("POST", "/api/v1/sites", Some(json!({"domain": "in-viewing.test", "team_id": viewing.identifier})));
    assert_eq!((st, err(&b)), (403, "You can't add sites to the selected team."));
    // the team-scoped key always creates in its team, whatever team_id says
    let (st, _) = f.s.api(
        "POST",
        "/api/v1/sites",
        Some(&f.key),
        Some(json!({"domain": "scoped.test", "team_id": shared.identifier})),
    );
    assert_eq!(st, 200);
    let (_, list) = f.s.api("GET", "/api/v1/sites", Some(&f.key), None);
    assert_eq!(list["sites"][0]["domain"], "scoped.test");
    // owning two teams makes the default ambiguous
    f.s.add_member(&viewing, &f.owner, "owner");
    let (st, b) = f.call("POST", "/api/v1/sites", Some(json!({"domain": "ambiguous.test"})));
    assert_eq!((st, err(&b)), (400, "You must select a team with 'team_id' parameter."));
    // a user without any team gets a personal team
    let loner = email("loner");
    f.s.admin("POST", "/api/admin/users", json!({"email": loner}));
    let (loner_key, _) = f.s.new_key(&loner, None, &["sites:provision:*"]);
    let (st, _) = f.s.api("POST", "/api/v1/sites", Some(&loner_key), Some(json!({"domain": "loner.test"})));
    assert_eq!(st, 200);
    let (_, teams) = f.s.api("GET", "/api/v1/sites/teams", Some(&loner_key), None);
    assert_eq!(teams["teams"][0]["name"], "My personal sites");
    // trial teams are limited to 10 sites
    let trialist = email("trial");
    let trial = f.s.new_team(&trialist, None, json!("enterprise"));
    for i in 0..10 {
        f.s.new_site(&trial, &format!("t{i}.trial.test"));
    }
    f.s.set_plan(&trial, json!("trial"));
    let (trial_key, _) = f.s.new_key(&trialist, None, &["sites:provision:*"]);
    let (st, b) = f.s.api("POST", "/api/v1/sites", Some(&trial_key), Some(json!({"domain": "t10.trial.test"})));
    assert_eq!(
        (st, err(&b)),
        (
            402,
            "Your account has reached the limit of 10 sites. To unlock more sites, please upgrade your subscription."
        )
    );
}

#[test]
fn listing_sites_and_teams() {
    let f = fixture();
    for i in 2..=4 {
        let (st, _) = f.call("POST", "/api/v1/sites", Some(json!({"domain": format!("s{i}.list.test")})));
        assert_eq!(st, 200);
    }
    // a guest site is listed for legacy keys, not for team keys
    let other = email("host");
    let host = f.s.new_team(&other, Some("Host"), json!("trial"));
    f.s.new_site(&host, "guest-of.list.test");
    f.s.add_guest("guest-of.list.test", &f.owner, "viewer");
    let (st, b) = f.call("GET", "/api/v1/sites", None);
    assert_eq!(st, 200);
    let domains: Vec<&str> = b["sites"].as_array().unwrap().iter().map(|s| s["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["guest-of.list.test", "s4.list.test", "s3.list.test", "s2.list.test", f.site.as_str()]);
    assert_eq!(b["meta"], json!({"after": null, "before": null, "limit": 100}));
    let (_, b) = f.s.api("GET", "/api/v1/sites", Some(&f.key), None);
    assert_eq!(b["sites"].as_array().unwrap().len(), 4);

    // pagination forwards and backwards
    let (_, p1) = f.call("GET", "/api/v1/sites?limit=2", None);
    assert_eq!(p1["sites"].as_array().unwrap().len(), 2);
    assert_eq!(p1["meta"]["before"], Value::Null);
    assert_eq!(p1["meta"]["limit"], 2);
    let after = p1["meta"]["after"].as_str().unwrap();
    let (_, p2) = f.call("GET", &format!("/api/v1/sites?limit=2&after={after}"), None);
    assert_eq!(p2["sites"][0]["domain"], "s3.list.test");
    let after = p2["meta"]["after"].as_str().unwrap();
    let before = p2["meta"]["before"].as_str().unwrap();
    let (_, p3) = f.call("GET", &format!("/api/v1/sites?limit=2&after={after}"), None);
    assert_eq!(p3["sites"], json!([{"domain": f.site, "timezone": "Etc/UTC"}]));
    assert_eq!(p3["meta"]["after"], Value::Null);
    let (_, back) = f.call("GET", &format!("/api/v1/sites?limit=2&before={before}"), None);
    assert_eq!(back["sites"], p1["sites"]);
    assert_eq!(back["meta"]["before"], Value::Null);
    // a limit outside 1..100 is ignored
    let (_, b) = f.call("GET", "/api/v1/sites?limit=0", None);
    assert_eq!(b["meta"]["limit"], 100);

    // teams: newest first, the personal team unnamed, API availability per plan
    let growth = f.s.new_team(&other, Some("Growth Team"), json!("growth"));
    f.s.add_member(&growth, &f.owner, "viewer");
    let (st, b) = f.call("GET", "/api/v1/sites/teams", None);
    assert_eq!(st, 200);
    assert_eq!(
        b["teams"],
        json!([
            {"id": growth.identifier, "name": "Growth Team", "api_available": false},
            {"id": f.team.identifier, "name": "My personal sites", "api_available": true},
        ])
    );
    let (_, b) = f.s.api("GET", "/api/v1/sites/teams", Some(&f.key), None);
    assert_eq!(b["teams"].as_array().unwrap().len(), 1);
}

#[test]
fn goals() {
    let f = fixture();
    let put = |body: Value| f.call("PUT", "/api/v1/sites/goals", Some(body));
    let (st, g) = put(json!({"site_id": f.site, "goal_type": "event", "event_name": "Signup"}));
    assert_eq!(st, 200, "{g}");
    assert_eq!(
        g,
        json!({"id": g["id"], "goal_type": "event", "event_name": "Signup", "page_path": null, "custom_props": {}, "domain": f.site, "display_name": "Signup"})
    );
    let (_, again) = put(json!({"site_id": f.site, "goal_type": "event", "event_name": "Signup"}));
    assert_eq!(again["id"], g["id"], "find or create");
    let (st, p) =
        put(json!({"site_id": f.site, "goal_type": "page", "page_path": "pricing", "display_name": "Pricing page"}));
    assert_eq!(st, 200);
    assert_eq!(
        (p["page_path"].as_str(), p["display_name"].as_str(), p["goal_type"].as_str()),
        (Some("/pricing"), Some("Pricing page"), Some("page"))
    );
    let (st, sc) = put(json!({"site_id": f.site, "goal_type": "page", "page_path": "/blog", "scroll_threshold": 50}));
    assert_eq!((st, sc["goal_type"].as_str()), (200, Some("scroll")));
    let (st, r) = put(
        json!({"site_id": f.site, "goal_type": "event", "event_name": "Purchase", "currency": "EUR", "custom_props": {"plan": "pro"}}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["custom_props"], json!({"plan": "pro"}));
    // same event name with another currency
    let (st, b) = put(json!({"site_id": f.site, "goal_type": "event", "event_name": "Signup", "currency": "USD"}));
    assert_eq!(st, 400);
    assert!(
        err(&b).starts_with("Something went wrong: ")
            && err(&b).contains("'Signup' (with currency: ) has already been taken"),
        "{b}"
    );
    // changeset errors
    let (st, b) = put(json!({"site_id": f.site, "goal_type": "event", "event_name": "engagement"}));
    assert_eq!(st, 400);
    assert!(err(&b).contains("The event name 'engagement' is reserved and cannot be used as a goal"), "{b}");
    let (st, b) = put(
        json!({"site_id": f.site, "goal_type": "event", "event_name": "X", "custom_props": {"a": "1", "b": "2", "c": "3", "d": "4"}}),
    );
    assert_eq!(st, 400);
    assert!(err(&b).contains("use at most 3 properties per goal"), "{b}");
    // missing parameters, in Plausible's order
    let (st, b) = put(json!({"goal_type": "event", "event_name": "A"}));
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to create a goal"));
    let (st, b) = put(json!({"site_id": f.site, "event_name": "A"}));
    assert_eq!((st, err(&b)), (400, "Parameter `goal_type` is required to create a goal"));
    let (st, b) = put(json!({"site_id": f.site, "goal_type": "event"}));
    assert_eq!((st, err(&b)), (400, "Parameter `event_name` is required to create a goal"));
    let (st, b) = put(json!({"site_id": f.site, "goal_type": "page"}));
    assert_eq!((st, err(&b)), (400, "Parameter `page_path` is required to create a goal"));
    let (st, b) = put(json!({"site_id": "nope.test", "goal_type": "event", "event_name": "A"}));
    assert_eq!((st, err(&b)), (404, "Site could not be found"));

    // list: newest first, paginated
    let (st, b) = f.call("GET", &format!("/api/v1/sites/goals?site_id={}", f.site), None);
    assert_eq!(st, 200);
    let ids: Vec<i64> = b["goals"].as_array().unwrap().iter().map(|g| g["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        [r["id"].as_i64().unwrap(), sc["id"].as_i64().unwrap(), p["id"].as_i64().unwrap(), g["id"].as_i64().unwrap()]
    );
    assert_eq!(
        b["goals"][3],
        json!({"id": g["id"], "display_name": "Signup", "goal_type": "event", "event_name": "Signup", "page_path": null, "custom_props": {}})
    );
    let (_, p1) = f.call("GET", &format!("/api/v1/sites/goals?site_id={}&limit=3", f.site), None);
    let after = p1["meta"]["after"].as_str().unwrap();
    let (_, p2) = f.call("GET", &format!("/api/v1/sites/goals?site_id={}&limit=3&after={after}", f.site), None);
    assert_eq!(p2["goals"].as_array().unwrap().len(), 1);
    assert_eq!(p2["goals"][0]["id"], g["id"]);
    let (st, b) = f.call("GET", "/api/v1/sites/goals", None);
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to list goals"));

    // delete
    let (st, b) = f.call("DELETE", &format!("/api/v1/sites/goals/{}?site_id={}", g["id"], f.site), None);
    assert_eq!((st, b), (200, json!({"deleted": true})));
    let (st, b) = f.call("DELETE", &format!("/api/v1/sites/goals/{}?site_id={}", g["id"], f.site), None);
    assert_eq!((st, err(&b)), (404, "Goal could not be found"));
    let (st, b) = f.call("DELETE", &format!("/api/v1/sites/goals/{}", p["id"]), None);
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to delete a goal"));
    // goals are visible to the stats API at once
    let (stats_key, _) = f.s.new_key(&f.owner, Some(&f.team), &["stats:read:*"]);
    let (st, q) = f.s.query(&stats_key, json!({"site_id": f.site, "metrics": ["visitors"], "date_range": "all", "filters": [["is", "event:goal", ["Purchase"]]]}));
    assert_eq!(st, 200, "{q}");
}

#[test]
fn goals_that_need_a_missing_feature_are_payment_required() {
    let f = fixture();
    f.s.set_plan(&f.team, json!({"name": "enterprise", "features": ["sites_api"]}));
    let put = |body: Value| f.call("PUT", "/api/v1/sites/goals", Some(body));
    let (st, b) = put(
        json!({"site_id": f.site, "goal_type": "event", "event_name": "Purchase", "custom_props": {"product": "x"}}),
    );
    assert_eq!((st, err(&b)), (402, "Your current subscription plan does not include Custom Properties"));
    let (st, b) = put(json!({"site_id": f.site, "goal_type": "event", "event_name": "Purchase", "currency": "USD"}));
    assert_eq!((st, err(&b)), (402, "Your current subscription plan does not include Revenue Goals"));
    let (st, b) = put(json!({"site_id": f.site, "goal_type": "event", "event_name": "Purchase"}));
    assert_eq!(st, 200, "{b}");
}

#[test]
fn custom_properties() {
    let f = fixture();
    let put = |p: &str| f.call("PUT", "/api/v1/sites/custom-props", Some(json!({"site_id": f.site, "property": p})));
    for p in ["prop2", "prop1", "prop1/with/slashes", "prop2"] {
        let (st, b) = put(p);
        assert_eq!((st, b), (200, json!({"created": true})));
    }
    let (st, b) = f.call("GET", &format!("/api/v1/sites/custom-props?site_id={}", f.site), None);
    assert_eq!(st, 200);
    assert_eq!(
        b,
        json!({"custom_properties": [{"property": "prop1"}, {"property": "prop1/with/slashes"}, {"property": "prop2"}]})
    );
    // the site object shows the stored list (newest first, no duplicates)
    let (_, site) = f.call("GET", &format!("/api/v1/sites/{}", f.site), None);
    assert_eq!(site["custom_properties"], json!(["prop2", "prop1/with/slashes", "prop1"]));
    let (st, b) = f.call("DELETE", &format!("/api/v1/sites/custom-props/prop1/with/slashes?site_id={}", f.site), None);
    assert_eq!((st, b), (200, json!({"deleted": true})));
    let (st, _) = f.call("DELETE", &format!("/api/v1/sites/custom-props/none?site_id={}", f.site), None);
    assert_eq!(st, 200);
    let (_, b) = f.call("GET", &format!("/api/v1/sites/custom-props?site_id={}", f.site), None);
    assert_eq!(b["custom_properties"], json!([{"property": "prop1"}, {"property": "prop2"}]));
    // errors
    let (st, b) = put(&"a".repeat(301));
    assert_eq!((st, err(&b)), (400, "Parameter `property` is too long"));
    let (st, b) = f.call("PUT", "/api/v1/sites/custom-props", Some(json!({"site_id": f.site})));
    assert_eq!((st, err(&b)), (400, "Parameter `property` is required to create a custom property"));
    let (st, b) = f.call("PUT", "/api/v1/sites/custom-props", Some(json!({"property": "x"})));
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to create a custom property"));
    let (st, b) = f.call("GET", "/api/v1/sites/custom-props", None);
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to list custom properties"));
    let (st, b) = f.call("DELETE", "/api/v1/sites/custom-props/x", None);
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to delete a custom property"));
    // at most 300
    for i in 3..=300 {
        let (st, _) = put(&format!("prop{i}"));
        assert_eq!(st, 200);
    }
    let (st, b) = put("prop301");
    assert_eq!((st, err(&b)), (400, "Can't add any more custom properties"));
    let (st, _) = put("prop7");
    assert_eq!(st, 200, "re-adding an allowed prop is fine at the limit");
}

#[test]
fn guests() {
    let f = fixture();
    let g1 = email("guest1");
    let g2 = email("guest2");
    f.s.add_guest(&f.site, &g1, "editor");
    f.s.add_guest(&f.site, &g2, "viewer");
    let put = |e: &str, role: &str| {
        f.call("PUT", &format!("/api/v1/sites/guests?site_id={}", f.site), Some(json!({"email": e, "role": role})))
    };
    let (st, b) = put("third@example.test", "viewer");
    assert_eq!((st, b), (200, json!({"role": "viewer", "email": "third@example.test", "status": "invited"})));
    // idempotent: role and status unchanged
    let (_, b) = put("third@example.test", "editor");
    assert_eq!(b, json!({"role": "viewer", "email": "third@example.test", "status": "invited"}));
    let (_, b) = put(&g1, "viewer");
    assert_eq!(b, json!({"role": "editor", "email": g1, "status": "accepted"}));
    let (st, b) = put("x@example.test", "owner");
    assert_eq!(
        (st, err(&b)),
        (400, "Parameter `role` is required to create guest. Possible values: `viewer` or `editor`")
    );
    let (st, b) = f.call("PUT", &format!("/api/v1/sites/guests?site_id={}", f.site), Some(json!({"role": "viewer"})));
    assert_eq!((st, err(&b)), (400, "Parameter `email` is required to create guest"));

    let (st, b) = f.call("GET", &format!("/api/v1/sites/guests?site_id={}", f.site), None);
    assert_eq!(st, 200);
    assert_eq!(
        b["guests"],
        json!([
            {"email": g2, "role": "viewer", "status": "accepted"},
            {"email": g1, "role": "editor", "status": "accepted"},
            {"email": "third@example.test", "role": "viewer", "status": "invited"},
        ])
    );
    let (_, p1) = f.call("GET", &format!("/api/v1/sites/guests?site_id={}&limit=2", f.site), None);
    let after = p1["meta"]["after"].as_str().unwrap();
    let (_, p2) = f.call("GET", &format!("/api/v1/sites/guests?site_id={}&limit=2&after={after}", f.site), None);
    assert_eq!(p2["guests"], json!([{"email": "third@example.test", "role": "viewer", "status": "invited"}]));
    assert!(p2["meta"]["before"].is_string());
    let (st, b) = f.call("GET", "/api/v1/sites/guests", None);
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to list goals"));

    // delete an invitation, an accepted guest, nothing, the owner (untouched)
    for e in ["third@example.test", g1.as_str(), "nobody@example.test", f.owner.as_str()] {
        let (st, b) = f.call("DELETE", &format!("/api/v1/sites/guests/{e}?site_id={}", f.site), None);
        assert_eq!((st, b), (200, json!({"deleted": true})), "{e}");
    }
    let (_, b) = f.call("GET", &format!("/api/v1/sites/guests?site_id={}", f.site), None);
    assert_eq!(b["guests"], json!([{"email": g2, "role": "viewer", "status": "accepted"}]));
    let (st, _) = f.call("GET", &format!("/api/v1/sites/{}", f.site), None);
    assert_eq!(st, 200, "the owner keeps access");
    // a removed guest loses access
    let (g1_key, _) = f.s.new_key(&g1, None, &["stats:read:*"]);
    let (st, _) = f.s.api("GET", &format!("/api/v1/sites/{}", f.site), Some(&g1_key), None);
    assert_eq!(st, 401);
}

#[test]
fn shared_links() {
    let f = fixture();
    let put = |name: &str| f.call("PUT", "/api/v1/sites/shared-links", Some(json!({"site_id": f.site, "name": name})));
    let (st, b) = put("WordPress");
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["name"], "WordPress");
    let url = b["url"].as_str().unwrap();
    let prefix = format!("http://localhost:8000/share/{}?auth=", f.site);
    assert!(url.starts_with(&prefix), "{url}");
    assert_eq!(url.len(), prefix.len() + 21);
    let (_, again) = put("WordPress");
    assert_eq!(again["url"], b["url"], "idempotent");
    let (_, other) = put("Other");
    assert_ne!(other["url"], b["url"]);
    let (st, b) = put("WordPress - Shared Dashboard");
    assert_eq!((st, err(&b)), (400, "This name is reserved. Please choose another one"));
    let (st, b) = f.call("PUT", "/api/v1/sites/shared-links", Some(json!({"name": "x"})));
    assert_eq!((st, err(&b)), (400, "Parameter `site_id` is required to create a shared link"));
    let (st, b) = f.call("PUT", "/api/v1/sites/shared-links", Some(json!({"site_id": f.site})));
    assert_eq!((st, err(&b)), (400, "Parameter `name` is required to create a shared link"));
    let (st, b) = f.call("PUT", "/api/v1/sites/shared-links", Some(json!({"site_id": "bad", "name": "x"})));
    assert_eq!((st, err(&b)), (404, "Site could not be found"));
}

#[test]
fn segments_extension() {
    let f = fixture();
    let put = |body: Value| f.call("PUT", "/api/v1/sites/segments", Some(body));
    let (st, seg) = put(
        json!({"site_id": f.site, "name": "EU", "segment_data": {"filters": [["is", "visit:country", ["EE", "DE"]]]}}),
    );
    assert_eq!(st, 200, "{seg}");
    assert_eq!(seg["type"], "site");
    let id = seg["id"].as_i64().unwrap();
    // usable in the stats API
    let (stats_key, _) = f.s.new_key(&f.owner, Some(&f.team), &["stats:read:*"]);
    let (st, q) = f.s.query(
        &stats_key,
        json!({"site_id": f.site, "metrics": ["visitors"], "date_range": "all", "filters": [["is", "segment", [id]]]}),
    );
    assert_eq!(st, 200, "{q}");
    // update in place
    let (st, upd) = put(
        json!({"site_id": f.site, "id": id, "name": "Estonia", "segment_data": {"filters": [["is", "visit:country", ["EE"]]]}}),
    );
    assert_eq!((st, upd["id"].as_i64()), (200, Some(id)));
    let (_, list) = f.call("GET", &format!("/api/v1/sites/segments?site_id={}", f.site), None);
    assert_eq!(list["segments"][0]["name"], "Estonia");
    assert_eq!(list["segments"].as_array().unwrap().len(), 1);
    // invalid filters are refused with the query validator's reason
    let (st, b) =
        put(json!({"site_id": f.site, "name": "Bad", "segment_data": {"filters": [["is", "visit:nope", ["x"]]]}}));
    assert_eq!(st, 400);
    assert!(err(&b).starts_with("segment_data: "), "{b}");
    let (st, b) = put(json!({"site_id": f.site, "name": "Empty", "segment_data": {"filters": []}}));
    assert_eq!(st, 400, "{b}");
    let (st, b) =
        put(json!({"site_id": f.site, "name": "", "segment_data": {"filters": [["is", "visit:country", ["EE"]]]}}));
    assert_eq!((st, err(&b)), (400, "name: can't be blank"));
    // delete
    let (st, b) = f.call("DELETE", &format!("/api/v1/sites/segments/{id}?site_id={}", f.site), None);
    assert_eq!((st, b), (200, json!({"deleted": true})));
    let (st, _) = f.call("DELETE", &format!("/api/v1/sites/segments/{id}?site_id={}", f.site), None);
    assert_eq!(st, 404);
    // plan gate: growth has segments, a contract without them does not
    f.s.set_plan(&f.team, json!({"name": "enterprise", "features": ["sites_api", "stats_api"]}));
    let (st, b) = f.call("GET", &format!("/api/v1/sites/segments?site_id={}", f.site), None);
    assert_eq!((st, err(&b)), (402, "Your current subscription plan does not include Segments"));
}

#[test]
fn funnels_extension() {
    let f = fixture();
    let mut goal_ids = Vec::new();
    for name in ["Visit", "Signup", "Activate", "Pay"] {
        let (_, g) = f.call(
            "PUT",
            "/api/v1/sites/goals",
            Some(json!({"site_id": f.site, "goal_type": "event", "event_name": name})),
        );
        goal_ids.push(g["id"].as_i64().unwrap());
    }
    let put = |body: Value| f.call("PUT", "/api/v1/sites/funnels", Some(body));
    let (st, fun) =
        put(json!({"site_id": f.site, "name": "Onboarding", "steps": [goal_ids[0], "Signup", goal_ids[2]]}));
    assert_eq!(st, 200, "{fun}");
    assert_eq!(fun["steps"][1], json!({"step_order": 2, "goal_id": goal_ids[1], "display_name": "Signup"}));
    let (st, b) = put(json!({"site_id": f.site, "name": "Onboarding", "steps": [goal_ids[0], goal_ids[1]]}));
    assert_eq!((st, err(&b)), (400, "name: has already been taken"));
    let (st, b) = put(json!({"site_id": f.site, "name": "Short", "steps": [goal_ids[0]]}));
    assert_eq!((st, err(&b)), (400, "steps: should have at least 2 item(s)"));
    let (st, _) = put(json!({"site_id": f.site, "name": "Unknown", "steps": [goal_ids[0], 999999]}));
    assert_eq!(st, 400);
    let (st, two) = put(json!({"site_id": f.site, "name": "Two", "steps": [goal_ids[1], goal_ids[3]]}));
    assert_eq!(st, 200);
    // deleting a goal shrinks longer funnels and removes minimal ones
    let (st, _) = f.call("DELETE", &format!("/api/v1/sites/goals/{}?site_id={}", goal_ids[1], f.site), None);
    assert_eq!(st, 200);
    let (_, list) = f.call("GET", &format!("/api/v1/sites/funnels?site_id={}", f.site), None);
    assert_eq!(list["funnels"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["funnels"][0]["id"], fun["id"]);
    assert_eq!(list["funnels"][0]["steps"].as_array().unwrap().len(), 2);
    let (st, _) = f.call("DELETE", &format!("/api/v1/sites/funnels/{}?site_id={}", two["id"], f.site), None);
    assert_eq!(st, 404);
    let (st, _) = f.call("DELETE", &format!("/api/v1/sites/funnels/{}?site_id={}", fun["id"], f.site), None);
    assert_eq!(st, 200);
    // business plan or higher
    f.s.set_plan(&f.team, json!("growth"));
    let (st, _) = f.s.api("GET", &format!("/api/v1/sites/funnels?site_id={}", f.site), Some(&f.legacy), None);
    assert_eq!(st, 402);
}

#[test]
fn funnel_evaluation() {
    let f = fixture();
    let steps = f.goal_ids(&[
        json!({"goal_type": "page", "page_path": "/"}),
        json!({"goal_type": "event", "event_name": "Signup"}),
        json!({"goal_type": "event", "event_name": "Pay"}),
    ]);
    let (st, fun) =
        f.call("PUT", "/api/v1/sites/funnels", Some(json!({"site_id": f.site, "name": "Buy", "steps": steps})));
    assert_eq!(st, 200, "{fun}");
    let ev = |user: u64, name: &str, ts: &str| json!({"name": name, "timestamp": ts, "user_id": user, "pathname": "/"});
    f.s.import(
        &f.site,
        &[
            ev(1, "pageview", "2024-03-05 10:00:00"),
            ev(1, "Signup", "2024-03-05 10:05:00"),
            ev(1, "Pay", "2024-03-05 10:10:00"),
            ev(2, "pageview", "2024-03-05 10:00:00"),
            ev(2, "Signup", "2024-03-05 10:05:00"),
            ev(3, "pageview", "2024-03-05 10:00:00"),
            ev(4, "Signup", "2024-03-05 10:00:00"),
            ev(5, "pageview", "2024-03-05 10:00:00"),
            ev(5, "Signup", "2024-03-06 10:00:01"),
            ev(6, "pageview", "2024-04-05 10:00:00"),
        ],
    );
    let path = format!("/api/v1/stats/funnel?site_id={}&funnel_id={}&period=month&date=2024-03-01", f.site, fun["id"]);
    let (st, b) = f.s.api("GET", &path, Some(&f.key), None);
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["all_visitors"], 5);
    assert_eq!(b["entering_visitors"], 4);
    assert_eq!(b["never_entering_visitors"], 1);
    assert_eq!(b["date_range"], json!(["2024-03-01", "2024-03-31"]));
    let col = |k: &str| b["steps"].as_array().unwrap().iter().map(|s| s[k].clone()).collect::<Vec<_>>();
    assert_eq!(col("label"), [json!("Visit /"), json!("Signup"), json!("Pay")]);
    assert_eq!(col("visitors"), [json!(4), json!(2), json!(1)]);
    assert_eq!(col("dropoff"), [json!(0), json!(2), json!(1)]);
    assert_eq!(col("conversion_rate"), [json!(100.0), json!(50.0), json!(25.0)]);
    assert_eq!(col("conversion_rate_step"), [json!(0.0), json!(50.0), json!(50.0)]);
    // errors
    let (st, b) = f.s.api("GET", &format!("/api/v1/stats/funnel?site_id={}&funnel_id=999", f.site), Some(&f.key), None);
    assert_eq!((st, err(&b)), (404, "Funnel not found"));
    let (st, b) = f.s.api("GET", &format!("/api/v1/stats/funnel?site_id={}&funnel_id=x", f.site), Some(&f.key), None);
    assert_eq!((st, err(&b)), (400, "There was an error with your request"));
    let filtered = |filters: &str| {
        let q = format!("{path}&filters={}", common::encode_component(filters));
        let (st, b) = f.s.api("GET", &q, Some(&f.key), None);
        (st, b)
    };
    let (st, b) = filtered("event:goal==Signup;event:page==/");
    assert_eq!((st, err(&b)), (400, "We are unable to show funnels when the dashboard is filtered by goals"));
    let (st, b) = filtered("event:page==/");
    assert_eq!((st, err(&b)), (400, "We are unable to show funnels when the dashboard is filtered by pages"));
    // A visit filter narrows the visitors: no one came from this source.
    let (st, b) = filtered("visit:source==Nowhere");
    assert_eq!((st, b["all_visitors"].clone(), b["entering_visitors"].clone()), (200, json!(0), json!(0)));
    let (st, b) = f.s.api("GET", &format!("/api/v1/stats/funnel?site_id={}", f.site), Some(&f.key), None);
    assert_eq!((st, err(&b)), (400, "Parameter `funnel_id` is required to evaluate a funnel"));
    let (st, _) = f.s.api("GET", &format!("/api/v1/stats/funnel?funnel_id={}", fun["id"]), Some(&f.key), None);
    assert_eq!(st, 400);
    let (st, _) = f.s.api("GET", &path, None, None);
    assert_eq!(st, 401);
}

#[test]
fn strict_funnels_break_on_other_events() {
    let f = fixture();
    let steps = f.goal_ids(&[
        json!({"goal_type": "page", "page_path": "/"}),
        json!({"goal_type": "event", "event_name": "Signup"}),
    ]);
    let ev = |user: u64, name: &str, path: &str, ts: &str| json!({"name": name, "timestamp": ts, "user_id": user, "pathname": path});
    f.s.import(
        &f.site,
        &[
            ev(1, "pageview", "/", "2024-03-05 10:00:00"),
            ev(1, "Signup", "/", "2024-03-05 10:05:00"),
            // Visitor 2 sees another page between the steps.
            ev(2, "pageview", "/", "2024-03-05 10:00:00"),
            ev(2, "pageview", "/pricing", "2024-03-05 10:01:00"),
            ev(2, "Signup", "/pricing", "2024-03-05 10:05:00"),
        ],
    );
    let mut reached = Vec::new();
    for funnel_type in ["sequential", "strict"] {
        let (st, fun) = f.call(
            "PUT",
            "/api/v1/sites/funnels",
            Some(json!({"site_id": f.site, "name": funnel_type, "funnel_type": funnel_type, "steps": steps})),
        );
        assert_eq!(st, 200, "{fun}");
        let path =
            format!("/api/v1/stats/funnel?site_id={}&funnel_id={}&period=month&date=2024-03-01", f.site, fun["id"]);
        let (st, b) = f.s.api("GET", &path, Some(&f.key), None);
        assert_eq!(st, 200, "{b}");
        reached.push(b["steps"].as_array().unwrap().iter().map(|s| s["visitors"].clone()).collect::<Vec<_>>());
    }
    assert_eq!(reached, [[json!(2), json!(2)], [json!(2), json!(1)]]);
}
