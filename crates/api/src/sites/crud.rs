//! Sites and teams: `GET /api/v1/sites`, `GET /api/v1/sites/teams`, `POST /api/v1/sites`,
//! `GET|PUT|DELETE /api/v1/sites/:site_id` (platform.md §2.3–2.9).

use super::*;
use crate::auth::Scope;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::collections::HashSet;
use tally_store::config::{NewSite, NewTeam};
use tally_store::{Role, Team};

/// The name Plausible shows for a team: an un-setup (personal) team is "My personal sites".
pub fn team_name(t: &Team) -> String {
    if !t.setup_complete {
        "My personal sites".to_string()
    } else {
        t.name.clone()
    }
}

/// A team named by a `team_id` parameter (its public identifier).
fn team_param(state: &SharedState, req: &Req) -> ApiResult<Option<Team>> {
    match req.get("team_id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(id) => Ok(state.config.team_by_identifier(id)?),
        None => Ok(None),
    }
}

// ------------------------------------------------------------------------------ GET /api/v1/sites

fn list_sites_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, false)?;
    let pp = page_params(&req.params)?;
    let team = match &caller.team {
        Some(t) => Some(t.clone()),
        None => team_param(state, req)?,
    };
    let mut sites: Vec<Site> = Vec::new();
    match team {
        Some(t) => {
            // only sites reached through full (non-guest) membership of that team
            if state.config.team_role(t.id, caller.user.id)?.is_some() {
                sites.extend(state.config.sites_of_team(t.id)?);
            }
        }
        None => {
            for (t, _) in state.config.teams_of_user(caller.user.id)? {
                sites.extend(state.config.sites_of_team(t.id)?);
            }
            sites.extend(state.config.guest_sites(caller.user.id)?.into_iter().map(|(s, _)| s));
        }
    }
    let mut seen = HashSet::new();
    sites.retain(|s| !s.consolidated && seen.insert(s.id));
    sites.sort_by_key(|x| std::cmp::Reverse(x.id));
    let (page, meta) = paginate(sites, |s| vec![s.id], &pp);
    let items: Vec<Value> = page.iter().map(|s| json!({"domain": s.domain, "timezone": s.timezone})).collect();
    Ok(json!({"sites": items, "meta": meta}))
}

pub async fn list_sites(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_sites_impl).await
}

// ------------------------------------------------------------------------ GET /api/v1/sites/teams

fn list_teams_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, false)?;
    let pp = page_params(&req.params)?;
    let mut teams: Vec<Team> = state.config.teams_of_user(caller.user.id)?.into_iter().map(|(t, _)| t).collect();
    if let Some(k) = &caller.team {
        teams.retain(|t| t.id == k.id);
    }
    teams.sort_by_key(|x| std::cmp::Reverse(x.id));
    let (page, meta) = paginate(teams, |t| vec![t.id], &pp);
    let items: Vec<Value> = page
        .iter()
        .map(|t| json!({"id": t.identifier, "name": team_name(t), "api_available": t.plan.has("stats_api")}))
        .collect();
    Ok(json!({"teams": items, "meta": meta}))
}

pub async fn list_teams(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_teams_impl).await
}

// ------------------------------------------------------------------------------ POST /api/v1/sites

/// Sites a team on a trial may have (Plausible's trial site limit).
pub const TRIAL_SITE_LIMIT: usize = 10;

/// The team a new site goes to when none is named: the team the user owns, created (a personal team) when
/// there is none; 400 when the user owns several.
fn owned_team(state: &SharedState, user: &tally_store::User) -> ApiResult<Team> {
    let owned: Vec<Team> =
        state.config.teams_of_user(user.id)?.into_iter().filter(|(_, r)| *r == Role::Owner).map(|(t, _)| t).collect();
    match owned.len() {
        0 => Ok(state.config.create_team(&NewTeam {
            name: String::new(),
            owner_user_id: user.id,
            plan: state.settings.default_plan.clone(),
            personal: true,
            setup_complete: false,
        })?),
        1 => Ok(owned.into_iter().next().unwrap()),
        _ => Err(ApiError::bad_request("You must select a team with 'team_id' parameter.")),
    }
}

fn create_site_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesProvision, false)?;
    let named = match &caller.team {
        Some(t) => Some(t.clone()),
        None => team_param(state, req)?,
    };
    let team = match named {
        Some(t) => match state.config.team_role(t.id, caller.user.id)? {
            Some(Role::Owner | Role::Admin | Role::Editor) => t,
            _ => return Err(ApiError::new(StatusCode::FORBIDDEN, "You can't add sites to the selected team.")),
        },
        None => owned_team(state, &caller.user)?,
    };
    if team.plan.name == "trial" && team.plan.features.is_none() {
        let count = state.config.sites_of_team(team.id)?.iter().filter(|s| !s.consolidated).count();
        if count >= TRIAL_SITE_LIMIT {
            return Err(ApiError::payment_required(format!(
                "Your account has reached the limit of {TRIAL_SITE_LIMIT} sites. To unlock more sites, please upgrade your subscription."
            )));
        }
    }
    let (domain, timezone) =
        validate_new_site(req.get("domain"), req.get("timezone")).map_err(ApiError::bad_request)?;
    let tracker_param = match req.get("tracker_script_configuration") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => json!({}),
        Some(v) => v.clone(),
    };
    let tracker = apply_tracker(&TrackerConfig { id: new_tracker_id(), ..Default::default() }, &tracker_param)
        .map_err(ApiError::bad_request)?;
    // A domain the user's own site changed away from can be registered again by its owner.
    if let Some(old) = state.config.site_by_domain(&domain)? {
        if old.domain != domain
            && old.domain_changed_from.as_deref() == Some(domain.as_str())
            && state.config.team_role(old.team_id, caller.user.id)? == Some(Role::Owner)
        {
            state.config.clear_domain_changed_from(old.id)?;
        }
    }
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
            tracker_config: Some(tracker.clone()),
        })
        .map_err(|e| match e {
            tally_store::ConfigError::Conflict(_) => ApiError::bad_request(TAKEN),
            e => e.into(),
        })?;
    sync_tracker_goals(state, &site, None, &tracker);
    Ok(site_json(&site))
}

pub async fn create_site(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), create_site_impl).await
}

// ---------------------------------------------------------------------- GET /api/v1/sites/:site_id

fn get_site_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, true)?;
    let site = find_site(state, &caller, req.get("site_id").unwrap_or(&Value::Null), READ_ROLES)?;
    let site = ensure_tracker(state, site)?;
    Ok(site_json(&site))
}

pub async fn get_site(
    State(state): State<SharedState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("site_id", Value::String(site_id))]), get_site_impl).await
}

// ---------------------------------------------------------------------- PUT /api/v1/sites/:site_id

/// Whether Elixir treats a parameter as given (`if(params[key])`: anything but nil and false).
fn truthy(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !matches!(v, Value::Null | Value::Bool(false)))
}

fn update_site_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    if req.get("domain").is_none() && req.get("tracker_script_configuration").is_none() {
        return Err(ApiError::bad_request(
            "Payload must contain at least one of the parameters 'domain', 'tracker_script_configuration'",
        ));
    }
    let site = find_site(state, &caller, req.get("site_id").unwrap_or(&Value::Null), WRITE_ROLES)?;
    let new_domain = match truthy(req.get("domain")) {
        None => None,
        Some(Value::String(d)) => {
            let d = normalize_domain(d);
            validate_domain(&d).map_err(ApiError::bad_request)?;
            if d == site.domain {
                return Err(ApiError::bad_request("domain: New domain must be different than the current one"));
            }
            Some(d)
        }
        Some(_) => return Err(ApiError::bad_request("domain: is invalid")),
    };
    let before = site.tracker_config.clone();
    let base = before.clone().unwrap_or_else(|| TrackerConfig { id: new_tracker_id(), ..Default::default() });
    let tracker = match truthy(req.get("tracker_script_configuration")) {
        Some(v) => apply_tracker(&base, v).map_err(ApiError::bad_request)?,
        None => base,
    };
    let updated = state.config.change_site(site.id, new_domain.as_deref(), Some(&tracker)).map_err(|e| match e {
        tally_store::ConfigError::Conflict(_) => ApiError::bad_request(TAKEN),
        tally_store::ConfigError::Invalid(m) => ApiError::bad_request(format!("domain: {m}")),
        e => e.into(),
    })?;
    sync_tracker_goals(state, &updated, before.as_ref(), &tracker);
    Ok(site_json(&updated))
}

pub async fn update_site(
    State(state): State<SharedState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("site_id", Value::String(site_id))]), update_site_impl).await
}

// ------------------------------------------------------------------- DELETE /api/v1/sites/:site_id

pub async fn delete_site(
    State(state): State<SharedState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req = Req::new(headers, &uri, &body, vec![("site_id", Value::String(site_id))]);
    let st = state.clone();
    let site = tokio::task::spawn_blocking(move || -> ApiResult<Site> {
        let caller = req.authorize(&st, Scope::SitesProvision, true)?;
        let site = find_site(&st, &caller, req.get("site_id").unwrap_or(&Value::Null), &["owner"])?;
        // Configuration first: from now on the domain ingests nothing and resolves to nothing.
        st.config.delete_site(site.id)?;
        Ok(site)
    })
    .await
    .map_err(ApiError::internal)??;
    // Then the stats, once every event accepted so far is written (site ids may be reused).
    state.ingestor.buffer.flush().await?;
    let events = state.events.clone();
    tokio::task::spawn_blocking(move || events.delete_site(site.id as u64)).await.map_err(ApiError::internal)??;
    Ok(Json(json!({"deleted": true})))
}
