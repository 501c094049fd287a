//! Public API authorization (platform.md §1.5): bearer key -> rate limit -> scope -> site/team access.
//! The order of checks is observable and follows Plausible's.

use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use axum::http::HeaderMap;
use tally_store::{ApiKey, Role, Site, Team, User};

pub const MISSING_KEY: &str =
    "Missing API key. Please use a valid Plausible API key as a Bearer Token.";
pub const INVALID_STATS: &str = "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested.";
pub const INVALID_OTHER: &str =
    "Invalid API key. Please make sure you're using a valid API key with access to the resource you've requested.";
pub const MISSING_SITE_ID: &str =
    "Missing site ID. Please provide the required site_id parameter with your request.";
pub const LOCKED: &str = "This Plausible site is locked due to missing active subscription. In order to access it, the site owner should subscribe to a suitable plan";
pub const CONSOLIDATED: &str = "This operation is unavailable for a consolidated view";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    StatsRead,
    SitesRead,
    SitesProvision,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::StatsRead => "stats:read:*",
            Scope::SitesRead => "sites:read:*",
            Scope::SitesProvision => "sites:provision:*",
        }
    }
    fn invalid(self) -> &'static str {
        if self == Scope::StatsRead {
            INVALID_STATS
        } else {
            INVALID_OTHER
        }
    }
    /// The plan feature needed by this scope's routes, with its display name.
    fn feature(self) -> (&'static str, &'static str) {
        match self {
            Scope::SitesProvision => ("sites_api", "Sites API"),
            _ => ("stats_api", "Stats API"),
        }
    }
}

/// Who is calling, once authorized.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKey,
    pub user: User,
    /// The key's team (None for legacy keys).
    pub team: Option<Team>,
}

pub fn feature_error(display: &str) -> ApiError {
    ApiError::payment_required(format!(
        "The account that owns this API key does not have access to {display}. Please make sure you're using the API key of a subscriber account and that the subscription plan includes {display}"
    ))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let t = v.strip_prefix("Bearer ")?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn scope_granted(key: &ApiKey, scope: Scope) -> bool {
    if matches!(scope, Scope::StatsRead | Scope::SitesRead) {
        return true;
    }
    let needed = scope.as_str();
    key.scopes
        .iter()
        .any(|s| needed.starts_with(s.trim_end_matches('*')))
}

/// Steps 1–4 of the pipeline: the key, its rate limit and its scope. `site_id` is the raw parameter (if any),
/// used to pick the rate-limit bucket of legacy keys.
pub fn authenticate(
    state: &SharedState,
    headers: &HeaderMap,
    scope: Scope,
    site_id: Option<&str>,
) -> ApiResult<Caller> {
    let token = bearer(headers).ok_or_else(|| ApiError::unauthorized(MISSING_KEY))?;
    let key = state
        .config
        .api_key_by_secret(&token)?
        .ok_or_else(|| ApiError::unauthorized(scope.invalid()))?;
    let user = state
        .config
        .user(key.user_id)?
        .ok_or_else(|| ApiError::unauthorized(scope.invalid()))?;
    let team = match key.team_id {
        Some(t) => Some(
            state
                .config
                .team(t)?
                .ok_or_else(|| ApiError::unauthorized(scope.invalid()))?,
        ),
        None => None,
    };
    // Rate-limit bucket: the key's team; for legacy keys the site's team when there is a site, else the user.
    let (bucket, limit) = match &team {
        Some(t) => (
            format!("api_request:team:{}", t.identifier),
            t.hourly_api_request_limit
                .or(key.hourly_request_limit)
                .unwrap_or(state.settings.hourly_api_limit),
        ),
        None => {
            let site_team = site_id
                .and_then(|d| state.config.site_by_domain(d).ok().flatten())
                .and_then(|s| state.config.team(s.team_id).ok().flatten());
            match site_team {
                Some(t) => (
                    format!("api_request:team:{}", t.identifier),
                    t.hourly_api_request_limit
                        .or(key.hourly_request_limit)
                        .unwrap_or(state.settings.hourly_api_limit),
                ),
                None => (
                    format!("api_request:legacy_user:{}", user.id),
                    key.hourly_request_limit
                        .unwrap_or(state.settings.hourly_api_limit),
                ),
            }
        }
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    if !state.rate.check(&bucket, now_ms, 3_600_000, limit) {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!("Too many API requests. The limit is {limit} per hour. Please contact us to request more capacity."),
        ));
    }
    if !scope_granted(&key, scope) {
        return Err(ApiError::unauthorized(scope.invalid()));
    }
    Ok(Caller { key, user, team })
}

/// The caller's role on a site: a team role, or a guest role ("viewer"/"editor").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteRole {
    Team(Role),
    Guest(String),
}

pub fn site_role(state: &SharedState, user_id: i64, site: &Site) -> ApiResult<Option<SiteRole>> {
    if let Some(r) = state.config.team_role(site.team_id, user_id)? {
        return Ok(Some(SiteRole::Team(r)));
    }
    Ok(state
        .config
        .guest_role(site.id, user_id)?
        .map(SiteRole::Guest))
}

/// The site access check (§1.5): consolidated views, team match, lock, plan feature, membership.
pub fn check_site_access(
    state: &SharedState,
    caller: &Caller,
    site: &Site,
    scope: Scope,
    allow_consolidated: bool,
) -> ApiResult<()> {
    if site.consolidated && !allow_consolidated {
        return Err(ApiError::bad_request(CONSOLIDATED));
    }
    if let Some(t) = &caller.team {
        if t.id != site.team_id {
            return Err(ApiError::unauthorized(scope.invalid()));
        }
    }
    let team = state
        .config
        .team(site.team_id)?
        .ok_or_else(|| ApiError::unauthorized(scope.invalid()))?;
    if team.locked {
        return Err(ApiError::payment_required(LOCKED));
    }
    let (feature, display) = scope.feature();
    if !team.plan.has(feature) {
        return Err(feature_error(display));
    }
    match site_role(state, caller.user.id, site)? {
        Some(SiteRole::Team(Role::Billing)) | None => Err(ApiError::unauthorized(scope.invalid())),
        Some(SiteRole::Guest(_)) if caller.team.is_some() => {
            Err(ApiError::unauthorized(scope.invalid()))
        }
        Some(_) => Ok(()),
    }
}

/// The team access check (§1.5).
pub fn check_team_access(
    state: &SharedState,
    caller: &Caller,
    team: &Team,
    scope: Scope,
) -> ApiResult<()> {
    if let Some(t) = &caller.team {
        if t.id != team.id {
            return Err(ApiError::unauthorized(scope.invalid()));
        }
    }
    if team.locked {
        return Err(ApiError::payment_required(LOCKED));
    }
    let (feature, display) = scope.feature();
    if !team.plan.has(feature) {
        return Err(feature_error(display));
    }
    match state.config.team_role(team.id, caller.user.id)? {
        Some(_) => Ok(()),
        None => Err(ApiError::unauthorized(scope.invalid())),
    }
}

/// Authorization of a stats route: key, limit, site_id present, site found, site access.
pub fn authorize_stats(
    state: &SharedState,
    headers: &HeaderMap,
    site_id: Option<&str>,
    allow_consolidated: bool,
) -> ApiResult<(Caller, Site)> {
    let caller = authenticate(state, headers, Scope::StatsRead, site_id)?;
    let site_id = site_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request(MISSING_SITE_ID))?;
    let site = state
        .config
        .site_by_domain(site_id)?
        .ok_or_else(|| ApiError::unauthorized(INVALID_STATS))?;
    check_site_access(state, &caller, &site, Scope::StatsRead, allow_consolidated)?;
    Ok((caller, site))
}
