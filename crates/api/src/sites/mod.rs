//! Sites API (platform.md §2). Domain rules are shared with the operator API.

use crate::auth::{self, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tally_store::config::NewSite;
use tally_store::{Role, Site, Team, TrackerConfig};

/// Plausible's domain normalisation: trim, lowercase, drop scheme, trim slashes, drop `www.`.
pub fn normalize_domain(d: &str) -> String {
    let mut s = d.trim().to_lowercase();
    for p in ["http://", "https://"] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.to_string();
        }
    }
    let s = s.trim_matches('/');
    s.strip_prefix("www.").unwrap_or(s).to_string()
}

pub fn validate_domain(d: &str) -> Result<(), String> {
    if d.is_empty() {
        return Err("domain: can't be blank".into());
    }
    if !d.chars().all(|c| c.is_alphanumeric() || "-.\\/:".contains(c)) {
        return Err("domain: only letters, numbers, slashes and period allowed".into());
    }
    if d.chars().any(|c| ":?#[]@!$&'()*+,;=".contains(c)) {
        return Err("domain: must not contain URI reserved characters :?#[]@!$&'()*+,;=".into());
    }
    Ok(())
}

pub const TAKEN: &str = "domain: This domain cannot be registered. Perhaps one of your colleagues registered it? If that's not the case, please contact support@plausible.io\n";

/// Merged query-string and JSON-body parameters (Plausible's `params`).
pub fn params(query: &HashMap<String, String>, body: &Bytes) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in query {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    if let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) {
        m.extend(b);
    } else if let Ok(form) = std::str::from_utf8(body) {
        for pair in form.split('&').filter(|p| !p.is_empty() && p.contains('=')) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().to_string();
            m.insert(dec(k), Value::String(dec(v)));
        }
    }
    m
}

pub fn site_json(site: &Site) -> Value {
    let mut v = json!({
        "domain": site.domain,
        "timezone": site.timezone,
        "custom_properties": site.allowed_event_props,
    });
    if let Some(t) = &site.tracker_config {
        v["tracker_script_configuration"] = serde_json::to_value(t).unwrap_or(Value::Null);
    }
    v
}

fn new_tracker_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let id: String = (0..21).map(|_| ALPHABET[rand::random::<u8>() as usize % 64] as char).collect();
    format!("pa-{id}")
}

fn target_team(state: &SharedState, caller: &auth::Caller, p: &Map<String, Value>) -> ApiResult<Team> {
    if let Some(t) = &caller.team {
        return Ok(t.clone());
    }
    if let Some(Value::String(id)) = p.get("team_id") {
        return state.config.team_by_identifier(id)?.ok_or_else(|| ApiError::unauthorized(auth::INVALID_OTHER));
    }
    let teams = state.config.teams_of_user(caller.user.id)?;
    let owned: Vec<&(Team, Role)> = teams.iter().filter(|(_, r)| *r == Role::Owner).collect();
    match owned.iter().find(|(t, _)| t.personal).or(owned.first()) {
        Some((t, _)) => Ok(t.clone()),
        None => Err(ApiError::bad_request("You must select a team with 'team_id' parameter.")),
    }
}

pub async fn create_site(
    State(state): State<SharedState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let p = params(&q, &body);
    let caller = auth::authenticate(&state, &headers, Scope::SitesProvision, None)?;
    let team = target_team(&state, &caller, &p)?;
    auth::check_team_access(&state, &caller, &team, Scope::SitesProvision)?;
    match state.config.team_role(team.id, caller.user.id)? {
        Some(Role::Owner | Role::Admin | Role::Editor) => {}
        _ => return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "You can't add sites to the selected team.")),
    }
    let domain = match p.get("domain") {
        Some(Value::String(d)) => normalize_domain(d),
        _ => String::new(),
    };
    validate_domain(&domain).map_err(ApiError::bad_request)?;
    let timezone = match p.get("timezone") {
        Some(Value::String(t)) => t.clone(),
        None | Some(Value::Null) => "Etc/UTC".into(),
        Some(_) => return Err(ApiError::bad_request("timezone: is invalid")),
    };
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::bad_request("timezone: is invalid"));
    }
    let tracker = TrackerConfig { id: new_tracker_id(), ..Default::default() };
    let site = state
        .config
        .create_site(&NewSite {
            team_id: team.id,
            domain,
            timezone,
            allowed_event_props: vec![],
            legacy_time_on_page_cutoff: None,
            ingest_rate_limit_threshold: None,
            consolidated: false,
            tracker_config: Some(tracker),
        })
        .map_err(|e| match e {
            tally_store::ConfigError::Conflict(_) => ApiError::bad_request(TAKEN),
            e => e.into(),
        })?;
    Ok(Json(site_json(&site)))
}
