//! The operator API (`/api/admin/*`, operator-api.md): headless set-up and bulk loading.

use crate::error::{ApiError, ApiResult};
use crate::goals;
use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, patch, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use tally_store::config::{NewApiKey, NewSite, NewTeam};
use tally_store::{Import, Plan, Role, Site, Team, User};

pub fn router(state: SharedState) -> Router<SharedState> {
    Router::new()
        .route("/api/admin/teams", post(create_team))
        .route("/api/admin/teams/{id}", patch(update_team))
        .route("/api/admin/teams/{id}/consolidated-view", post(consolidated_view))
        .route("/api/admin/teams/{id}/members", post(add_member))
        .route("/api/admin/users", post(create_user))
        .route("/api/admin/sites", post(create_site))
        .route("/api/admin/sites/{domain}/guests", post(add_guest))
        .route("/api/admin/sites/{domain}/events", post(import_events).delete(reset_site))
        .route("/api/admin/sites/{domain}/imports", post(create_import))
        .route("/api/admin/api-keys", post(create_key).get(list_keys))
        .route("/api/admin/api-keys/{id}", delete(revoke_key))
        .route("/api/admin/flush", post(flush))
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

async fn require_admin(State(state): State<SharedState>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let Some(token) = &state.settings.admin_token else {
        return ApiError::not_found("Not found").into_response();
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if given.is_none_or(|g| !constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return ApiError::unauthorized("Invalid admin token").into_response();
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> ApiResult<T> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

/// A plan given as a name or as `{"name": ..., "features": [...]}`.
pub fn parse_plan(v: &Value) -> ApiResult<Plan> {
    match v {
        Value::String(s) if Plan::is_valid_name(s) => Ok(Plan::named(s)),
        Value::Object(o) => {
            let name = o.get("name").and_then(Value::as_str).unwrap_or("enterprise");
            if !Plan::is_valid_name(name) {
                return Err(ApiError::bad_request(format!("unknown plan {name:?}")));
            }
            let features = match o.get("features") {
                None => None,
                Some(Value::Array(a)) => {
                    let mut f = Vec::new();
                    for x in a {
                        let s = x.as_str().filter(|s| tally_store::FEATURES.contains(s));
                        f.push(s.ok_or_else(|| ApiError::bad_request(format!("unknown feature {x}")))?.to_string());
                    }
                    Some(f)
                }
                Some(_) => return Err(ApiError::bad_request("features must be a list")),
            };
            Ok(Plan { name: name.to_string(), features })
        }
        other => Err(ApiError::bad_request(format!("unknown plan {other}"))),
    }
}

fn user_for(state: &SharedState, email: &str, name: &str) -> ApiResult<User> {
    let email = email.trim();
    if email.is_empty() || !email.contains('@') {
        return Err(ApiError::bad_request("a valid email is required"));
    }
    if let Some(u) = state.config.user_by_email(email)? {
        return Ok(u);
    }
    Ok(state.config.create_user(email, name)?)
}

fn team(state: &SharedState, id: i64) -> ApiResult<Team> {
    state.config.team(id)?.ok_or_else(|| ApiError::not_found("team not found"))
}

fn site(state: &SharedState, domain: &str) -> ApiResult<Site> {
    state.config.site_by_domain(domain)?.ok_or_else(|| ApiError::not_found("site not found"))
}

#[derive(Deserialize)]
struct TeamBody {
    name: Option<String>,
    owner_email: String,
    plan: Option<Value>,
    #[serde(default)]
    personal: bool,
}

async fn create_team(State(state): State<SharedState>, bytes: Bytes) -> ApiResult<Json<Value>> {
    let b: TeamBody = body(&bytes)?;
    let plan = match &b.plan {
        Some(p) => parse_plan(p)?,
        None => state.settings.default_plan.clone(),
    };
    let name = match (b.personal, b.name) {
        (true, Some(_)) => return Err(ApiError::bad_request("a personal team has no name")),
        (true, None) => String::new(),
        (false, Some(n)) if !n.trim().is_empty() => n,
        (false, _) => return Err(ApiError::bad_request("name is required")),
    };
    let owner = user_for(&state, &b.owner_email, "")?;
    let team = state.config.create_team(&NewTeam {
        name,
        owner_user_id: owner.id,
        plan,
        personal: b.personal,
        setup_complete: !b.personal,
    })?;
    Ok(Json(json!({"id": team.id, "identifier": team.identifier, "owner_user_id": owner.id})))
}

async fn update_team(State(state): State<SharedState>, Path(id): Path<i64>, bytes: Bytes) -> ApiResult<Json<Value>> {
    let b: Value = body(&bytes)?;
    let t = team(&state, id)?;
    if let Some(p) = b.get("plan") {
        state.config.set_team_plan(id, &parse_plan(p)?)?;
    }
    if let Some(l) = b.get("hourly_api_request_limit") {
        let limit = match l {
            Value::Null => None,
            v => Some(v.as_i64().ok_or_else(|| ApiError::bad_request("hourly_api_request_limit must be an integer"))?),
        };
        state.config.set_team_api_limit(id, limit)?;
    }
    let t = state.config.team(t.id)?.unwrap_or(t);
    let plan = match &t.plan.features {
        Some(f) => json!({"name": t.plan.name, "features": f}),
        None => json!(t.plan.name),
    };
    Ok(Json(json!({"id": t.id, "plan": plan})))
}

async fn consolidated_view(State(state): State<SharedState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let t = team(&state, id)?;
    if state.config.sites_of_team(id)?.iter().any(|s| s.consolidated) {
        return Err(ApiError::conflict("the team already has a consolidated view"));
    }
    state.config.create_site(&NewSite {
        team_id: id,
        domain: t.identifier.clone(),
        timezone: "Etc/UTC".into(),
        allowed_event_props: vec![],
        legacy_time_on_page_cutoff: None,
        ingest_rate_limit_threshold: None,
        consolidated: true,
        tracker_config: None,
    })?;
    Ok(Json(json!({"domain": t.identifier})))
}

#[derive(Deserialize)]
struct MemberBody {
    email: String,
    role: String,
}

async fn add_member(State(state): State<SharedState>, Path(id): Path<i64>, bytes: Bytes) -> ApiResult<Json<Value>> {
    let b: MemberBody = body(&bytes)?;
    team(&state, id)?;
    let role = Role::parse(&b.role).ok_or_else(|| ApiError::bad_request(format!("unknown role {:?}", b.role)))?;
    let user = user_for(&state, &b.email, "")?;
    state.config.set_team_member(id, user.id, role)?;
    Ok(Json(json!({"user_id": user.id})))
}

#[derive(Deserialize)]
struct UserBody {
    email: String,
    #[serde(default)]
    name: String,
}

async fn create_user(State(state): State<SharedState>, bytes: Bytes) -> ApiResult<Json<Value>> {
    let b: UserBody = body(&bytes)?;
    if state.config.user_by_email(b.email.trim())?.is_some() {
        return Err(ApiError::conflict("a user with this email exists"));
    }
    let u = user_for(&state, &b.email, &b.name)?;
    Ok(Json(json!({"id": u.id})))
}

#[derive(Deserialize)]
struct SiteBody {
    team_id: i64,
    domain: String,
    timezone: Option<String>,
    #[serde(default)]
    allowed_event_props: Vec<String>,
    #[serde(default)]
    goals: Vec<Value>,
    #[serde(default)]
    segments: Vec<Value>,
    legacy_time_on_page_cutoff: Option<String>,
    ingest_rate_limit_threshold: Option<i64>,
}

async fn create_site(State(state): State<SharedState>, bytes: Bytes) -> ApiResult<Json<Value>> {
    let b: SiteBody = body(&bytes)?;
    let t = team(&state, b.team_id)?;
    let timezone = b.timezone.unwrap_or_else(|| "Etc/UTC".into());
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::bad_request("timezone: is invalid"));
    }
    let domain = crate::sites::normalize_domain(&b.domain);
    crate::sites::validate_domain(&domain).map_err(ApiError::bad_request)?;
    let cutoff = match b.legacy_time_on_page_cutoff {
        Some(c) => Some(
            NaiveDate::parse_from_str(&c, "%Y-%m-%d")
                .map_err(|_| ApiError::bad_request("legacy_time_on_page_cutoff must be YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let site = state
        .config
        .create_site(&NewSite {
            team_id: t.id,
            domain,
            timezone,
            allowed_event_props: b.allowed_event_props,
            legacy_time_on_page_cutoff: cutoff,
            ingest_rate_limit_threshold: b.ingest_rate_limit_threshold,
            consolidated: false,
            tracker_config: None,
        })
        .map_err(|e| match e {
            tally_store::ConfigError::Conflict(_) => ApiError::conflict("domain: has already been taken"),
            e => e.into(),
        })?;
    let mut goals_out = Vec::new();
    for g in &b.goals {
        let goal = goals::create_from_json(&state, &site, g, true).map_err(ApiError::bad_request)?;
        goals_out.push(json!({"id": goal.id, "display_name": goal.display_name}));
    }
    let owner = state.config.team_owner(t.id)?;
    let mut segments_out = Vec::new();
    for s in &b.segments {
        let name =
            s.get("name").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("segment name is required"))?;
        let kind = s.get("type").and_then(Value::as_str).unwrap_or("site");
        if kind != "site" && kind != "personal" {
            return Err(ApiError::bad_request("segment type must be site or personal"));
        }
        let data = s.get("segment_data").cloned().unwrap_or(json!({}));
        let seg = state.config.create_segment(site.id, owner.as_ref().map(|u| u.id), name, kind, &data)?;
        segments_out.push(json!({"id": seg.id, "name": seg.name}));
    }
    Ok(Json(json!({"domain": site.domain, "goals": goals_out, "segments": segments_out})))
}

#[derive(Deserialize)]
struct GuestBody {
    email: String,
    role: String,
    status: Option<String>,
}

async fn add_guest(
    State(state): State<SharedState>,
    Path(domain): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: GuestBody = body(&bytes)?;
    let s = site(&state, &domain)?;
    if b.role != "viewer" && b.role != "editor" {
        return Err(ApiError::bad_request("role must be viewer or editor"));
    }
    match b.status.as_deref().unwrap_or("accepted") {
        "accepted" => {
            let u = user_for(&state, &b.email, "")?;
            state.config.set_guest(s.id, u.id, &b.role)?;
            Ok(Json(json!({"user_id": u.id})))
        }
        "invited" => {
            let owner = state.config.team_owner(s.team_id)?.ok_or_else(|| ApiError::internal("team has no owner"))?;
            let id = state.config.invite_guest(s.id, b.email.trim(), &b.role, owner.id)?;
            Ok(Json(json!({"invitation_id": id})))
        }
        other => Err(ApiError::bad_request(format!("unknown status {other:?}"))),
    }
}

#[derive(Deserialize)]
struct KeyBody {
    user_email: String,
    team_id: Option<i64>,
    name: Option<String>,
    scopes: Option<Vec<String>>,
    hourly_request_limit: Option<i64>,
}

async fn create_key(State(state): State<SharedState>, bytes: Bytes) -> ApiResult<Json<Value>> {
    let b: KeyBody = body(&bytes)?;
    let user = state.config.user_by_email(b.user_email.trim())?.ok_or_else(|| ApiError::not_found("user not found"))?;
    if let Some(t) = b.team_id {
        team(&state, t)?;
    }
    let (key, secret) = state.config.create_api_key(&NewApiKey {
        user_id: user.id,
        team_id: b.team_id,
        name: b.name.unwrap_or_else(|| "API key".into()),
        scopes: b.scopes.unwrap_or_else(|| vec!["stats:read:*".into()]),
        hourly_request_limit: b.hourly_request_limit,
    })?;
    Ok(Json(json!({"key": secret, "id": key.id})))
}

#[derive(Deserialize)]
struct KeyQuery {
    user_email: String,
}

async fn list_keys(State(state): State<SharedState>, Query(q): Query<KeyQuery>) -> ApiResult<Json<Value>> {
    let user = state.config.user_by_email(q.user_email.trim())?.ok_or_else(|| ApiError::not_found("user not found"))?;
    let keys: Vec<Value> = state
        .config
        .api_keys_of_user(user.id)?
        .into_iter()
        .map(|k| {
            json!({"id": k.id, "name": k.name, "prefix": k.prefix, "scopes": k.scopes, "team_id": k.team_id,
                   "inserted_at": k.inserted_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()})
        })
        .collect();
    Ok(Json(json!({"api_keys": keys})))
}

async fn revoke_key(State(state): State<SharedState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    if !state.config.revoke_api_key(id)? {
        return Err(ApiError::not_found("api key not found"));
    }
    Ok(Json(json!({"revoked": true})))
}

async fn import_events(
    State(state): State<SharedState>,
    Path(domain): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let s = site(&state, &domain)?;
    let import_id = state.config.imports(s.id)?.last().map(|i| i.id);
    let site_id = s.id as u64;
    let t0 = std::time::Instant::now();
    let parsed = tokio::task::spawn_blocking(move || tally_ingest::import::parse(&bytes, site_id, import_id))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::bad_request(e.0))?;
    let n = parsed.lines();
    let parse_ms = t0.elapsed().as_millis();
    let events = state.events.clone();
    let earliest = parsed.earliest;
    tokio::task::spawn_blocking(move || -> Result<(), tally_store::StoreError> {
        events.write(&parsed.batch)?;
        events.write_imported(&parsed.imported)
    })
    .await
    .map_err(ApiError::internal)??;
    tracing::debug!(lines = n, parse_ms, write_ms = t0.elapsed().as_millis() - parse_ms, "bulk import");
    state.native_start.lock().remove(&s.id);
    if let Some(e) = earliest {
        if e < s.native_stats_start_at {
            state.config.set_native_stats_start_at(s.id, e)?;
        }
    }
    Ok(Json(json!({"imported": n})))
}

#[derive(Deserialize)]
struct ImportBody {
    start_date: String,
    end_date: String,
    source: String,
    status: Option<String>,
    #[serde(default)]
    legacy: bool,
}

async fn create_import(
    State(state): State<SharedState>,
    Path(domain): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: ImportBody = body(&bytes)?;
    let s = site(&state, &domain)?;
    let d = |x: &str| {
        NaiveDate::parse_from_str(x, "%Y-%m-%d").map_err(|_| ApiError::bad_request("dates must be YYYY-MM-DD"))
    };
    if !["universal_analytics", "google_analytics_4", "csv", "noop"].contains(&b.source.as_str()) {
        return Err(ApiError::bad_request("unknown source"));
    }
    let i = state.config.create_import(&Import {
        id: 0,
        site_id: s.id,
        start_date: d(&b.start_date)?,
        end_date: d(&b.end_date)?,
        source: b.source,
        status: b.status.unwrap_or_else(|| "completed".into()),
        legacy: b.legacy,
    })?;
    Ok(Json(json!({"id": i.id})))
}

async fn reset_site(State(state): State<SharedState>, Path(domain): Path<String>) -> ApiResult<Json<Value>> {
    let s = site(&state, &domain)?;
    state.ingestor.buffer.flush().await?;
    let events = state.events.clone();
    let id = s.id as u64;
    tokio::task::spawn_blocking(move || events.delete_site(id)).await.map_err(ApiError::internal)??;
    state.config.set_native_stats_start_at(s.id, chrono::Utc::now().naive_utc())?;
    state.native_start.lock().remove(&s.id);
    Ok(Json(json!({"deleted": true})))
}

async fn flush(State(state): State<SharedState>) -> ApiResult<impl IntoResponse> {
    state.ingestor.buffer.flush().await?;
    Ok((StatusCode::OK, Json(json!({"flushed": true}))))
}
