//! Public API authorization (platform.md §1.5): bearer key -> rate limit -> scope -> site/team access.
//! The order of checks is observable and follows Plausible's `AuthorizePublicAPI` plug:
//!
//! 1. `Authorization: Bearer <key>` (401 missing key);
//! 2. the key (401 invalid key) and its rate-limit bucket: the key's team, or for a legacy key the team of
//!    the site named by `site_id` (routes with a site context), else the key's user;
//! 3. the hourly limit of that bucket (429; denied calls count, unknown keys never do);
//! 4. the scope (`stats:read:*` and `sites:read:*` are implicit; others match by prefix);
//! 5. for stats routes the site (400 missing `site_id`, 401 unknown site) and the site access check; for
//!    Sites API routes the site access check when `site_id` names a site, then the team access check when
//!    the key is team-scoped or `team_id` names a team.

use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use tally_store::{ApiKey, Role, Site, Team, User};

pub const MISSING_KEY: &str = "Missing API key. Please use a valid Plausible API key as a Bearer Token.";
pub const INVALID_STATS: &str = "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested.";
pub const INVALID_OTHER: &str =
    "Invalid API key. Please make sure you're using a valid API key with access to the resource you've requested.";
pub const MISSING_SITE_ID: &str = "Missing site ID. Please provide the required site_id parameter with your request.";
pub const LOCKED: &str = "This Plausible site is locked due to missing active subscription. In order to access it, the site owner should subscribe to a suitable plan";
pub const CONSOLIDATED: &str = "This operation is unavailable for a consolidated view";

const HOUR_MS: i64 = 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    StatsRead,
    SitesRead,
    SitesProvision,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::StatsRead => "stats:read:*",
            Scope::SitesRead => "sites:read:*",
            Scope::SitesProvision => "sites:provision:*",
        }
    }
    /// The 401 text of this scope's routes.
    pub fn invalid(self) -> &'static str {
        if self == Scope::StatsRead {
            INVALID_STATS
        } else {
            INVALID_OTHER
        }
    }
    /// The plan feature needed by this scope's routes, with its display name.
    pub fn feature(self) -> (&'static str, &'static str) {
        match self {
            Scope::SitesProvision => ("sites_api", "Sites API"),
            _ => ("stats_api", "Stats API"),
        }
    }
    /// Whether a team's plan opens this scope's routes. `sites:read:*` routes are open to teams with the
    /// Stats API or the Sites API (a Sites API contract reads what it provisions).
    pub fn plan_allows(self, plan: &tally_store::Plan) -> bool {
        match self {
            Scope::SitesRead => plan.has("stats_api") || plan.has("sites_api"),
            _ => plan.has(self.feature().0),
        }
    }
    /// Scopes every valid key has, whatever its `scopes`.
    fn implicit(self) -> bool {
        matches!(self, Scope::StatsRead | Scope::SitesRead)
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

/// The 402 of the site and team access checks.
pub fn feature_error(display: &str) -> ApiError {
    ApiError::payment_required(format!(
        "The account that owns this API key does not have access to {display}. Please make sure you're using the API key of a subscriber account and that the subscription plan includes {display}"
    ))
}

/// The 429 of the hourly limit.
pub fn rate_limited(limit: i64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too many API requests. The limit is {limit} per hour. Please contact us to request more capacity."),
    )
}

/// The first `authorization` header, if it is exactly `Bearer <token>` (token trimmed).
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    Some(v.strip_prefix("Bearer ")?.trim().to_string())
}

/// Scope matching: implicit scopes always pass; otherwise a stored scope matches when the required scope
/// starts with it once its trailing `*` is stripped.
pub fn scope_granted(key: &ApiKey, scope: Scope) -> bool {
    if scope.implicit() {
        return true;
    }
    let needed = scope.as_str();
    key.scopes.iter().any(|s| needed.starts_with(s.trim_end_matches('*')))
}

/// The team limit: the team's own (operator API) or the server default.
pub fn team_limit(state: &SharedState, team: &Team) -> i64 {
    team.hourly_api_request_limit.unwrap_or(state.settings.hourly_api_limit)
}

/// Steps 1–4: the key, its rate limit and its scope. `site_context` is the `site_id` parameter of a route
/// with a site context (it picks the rate-limit bucket of legacy keys).
pub fn authenticate(
    state: &SharedState,
    headers: &HeaderMap,
    scope: Scope,
    site_context: Option<&str>,
) -> ApiResult<Caller> {
    let token = bearer(headers).ok_or_else(|| ApiError::unauthorized(MISSING_KEY))?;
    let invalid = || ApiError::unauthorized(scope.invalid());
    if token.is_empty() {
        return Err(invalid());
    }
    let key = state.config.api_key_by_secret(&token)?.ok_or_else(invalid)?;
    let user = state.config.user(key.user_id)?.ok_or_else(invalid)?;
    let team = match key.team_id {
        Some(t) => Some(state.config.team(t)?.ok_or_else(invalid)?),
        None => None,
    };
    let (bucket, limit) = match &team {
        Some(t) => (format!("api_request:team:{}", t.identifier), team_limit(state, t)),
        None => {
            let site_team = match site_context.filter(|d| !d.is_empty()) {
                Some(d) => match state.config.site_by_domain(d)? {
                    Some(s) => state.config.team(s.team_id)?,
                    None => None,
                },
                None => None,
            };
            match site_team {
                Some(t) => (format!("api_request:team:{}", t.identifier), team_limit(state, &t)),
                None => (
                    format!("api_request:legacy_user:{}", user.id),
                    key.hourly_request_limit.unwrap_or(state.settings.hourly_api_limit),
                ),
            }
        }
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    if !state.rate.check(&bucket, now_ms, HOUR_MS, limit) {
        return Err(rate_limited(limit));
    }
    if !scope_granted(&key, scope) {
        return Err(invalid());
    }
    Ok(Caller { key, user, team })
}

/// The caller's role on a site: a team role, or a guest role ("viewer"/"editor").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteRole {
    Team(Role),
    Guest(String),
}

impl SiteRole {
    /// The role name Plausible compares against an endpoint's roles (`coalesce(guest role, team role)`).
    pub fn name(&self) -> &str {
        match self {
            SiteRole::Team(r) => r.as_str(),
            SiteRole::Guest(r) => r,
        }
    }
}

pub fn site_role(state: &SharedState, user_id: i64, site: &Site) -> ApiResult<Option<SiteRole>> {
    if let Some(r) = state.config.team_role(site.team_id, user_id)? {
        return Ok(Some(SiteRole::Team(r)));
    }
    Ok(state.config.guest_role(site.id, user_id)?.map(SiteRole::Guest))
}

/// The site access check (§1.5), first match wins: consolidated view, team-scoped key of another team,
/// locked team, plan feature of the site's team, membership.
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
    let team = state.config.team(site.team_id)?.ok_or_else(|| ApiError::unauthorized(scope.invalid()))?;
    if team.locked {
        return Err(ApiError::payment_required(LOCKED));
    }
    if !scope.plan_allows(&team.plan) {
        return Err(feature_error(scope.feature().1));
    }
    match site_role(state, caller.user.id, site)? {
        Some(SiteRole::Team(Role::Billing)) | None => Err(ApiError::unauthorized(scope.invalid())),
        Some(SiteRole::Guest(_)) if caller.team.is_some() => Err(ApiError::unauthorized(scope.invalid())),
        Some(SiteRole::Guest(_)) => {
            tracing::warn!(key = caller.key.id, site = %site.domain, "API key user accessing the site as a guest");
            Ok(())
        }
        Some(_) => Ok(()),
    }
}

/// The team access check (§1.5): team-scoped key of another team, locked team, plan feature, membership.
pub fn check_team_access(state: &SharedState, caller: &Caller, team: &Team, scope: Scope) -> ApiResult<()> {
    if let Some(t) = &caller.team {
        if t.id != team.id {
            return Err(ApiError::unauthorized(scope.invalid()));
        }
    }
    if team.locked {
        return Err(ApiError::payment_required(LOCKED));
    }
    if !scope.plan_allows(&team.plan) {
        return Err(feature_error(scope.feature().1));
    }
    match state.config.team_role(team.id, caller.user.id)? {
        Some(_) => Ok(()),
        None => Err(ApiError::unauthorized(scope.invalid())),
    }
}

/// Authorization of a stats route: key, limit, scope, `site_id` present, site found, site access.
pub fn authorize_stats(
    state: &SharedState,
    headers: &HeaderMap,
    site_id: Option<&str>,
    allow_consolidated: bool,
) -> ApiResult<(Caller, Site)> {
    let caller = authenticate(state, headers, Scope::StatsRead, site_id)?;
    let site_id = site_id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::bad_request(MISSING_SITE_ID))?;
    let site = state.config.site_by_domain(site_id)?.ok_or_else(|| ApiError::unauthorized(INVALID_STATS))?;
    check_site_access(state, &caller, &site, Scope::StatsRead, allow_consolidated)?;
    Ok((caller, site))
}

/// A string parameter (`None` when absent or not a string).
fn str_param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

/// Authorization of a Sites API route (merged query/body/path `params`). `site_context`: the route
/// resolves a site from `site_id` (its rate-limit bucket follows that site for legacy keys).
pub fn authorize_sites(
    state: &SharedState,
    headers: &HeaderMap,
    scope: Scope,
    params: &Map<String, Value>,
    site_context: bool,
) -> ApiResult<Caller> {
    let site_id = str_param(params, "site_id");
    let caller = authenticate(state, headers, scope, if site_context { site_id } else { None })?;
    if let Some(site_id) = site_id.filter(|s| !s.is_empty()) {
        if let Some(site) = state.config.site_by_domain(site_id)? {
            check_site_access(state, &caller, &site, scope, false)?;
        }
    }
    let team = match &caller.team {
        Some(t) => Some(t.clone()),
        None => match str_param(params, "team_id").filter(|s| !s.is_empty()) {
            Some(id) => state.config.team_by_identifier(id)?,
            None => None,
        },
    };
    if let Some(team) = team {
        check_team_access(state, &caller, &team, scope)?;
    }
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[&str]) -> ApiKey {
        ApiKey {
            id: 1,
            user_id: 1,
            team_id: None,
            name: "k".into(),
            prefix: "abcdef".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            hourly_request_limit: None,
            inserted_at: Default::default(),
        }
    }

    #[test]
    fn scopes_match_by_prefix_and_read_scopes_are_implicit() {
        let stats = key(&["stats:read:*"]);
        assert!(scope_granted(&stats, Scope::StatsRead));
        assert!(scope_granted(&stats, Scope::SitesRead));
        assert!(!scope_granted(&stats, Scope::SitesProvision));
        assert!(scope_granted(&key(&["sites:provision:*"]), Scope::SitesProvision));
        assert!(scope_granted(&key(&["sites:*"]), Scope::SitesProvision));
        assert!(scope_granted(&key(&["*"]), Scope::SitesProvision));
        assert!(!scope_granted(&key(&["sites:read:*"]), Scope::SitesProvision));
        assert!(!scope_granted(&key(&[]), Scope::SitesProvision));
    }

    #[test]
    fn bearer_is_case_sensitive() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
