//! Sites API (platform.md §2): `/api/v1/sites…`, with Plausible's parameters, validations, pagination,
//! response objects and error strings. Domain rules are shared with the operator API.
//!
//! - [`crud`]: list sites, list teams, create, get, update, delete;
//! - [`resources`]: goals, custom properties, guests, shared links;
//! - [`extensions`]: Tally's saved segments and funnels (README "Tally extensions").

pub mod crud;
pub mod extensions;
pub mod resources;

use crate::auth::{self, Caller, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use base64::Engine;
use serde_json::{json, Map, Value};
use tally_store::{Site, TrackerConfig};

pub use crud::*;
pub use extensions::*;
pub use resources::*;

/// Plausible's domain normalisation: trim, lowercase, drop scheme, trim slashes, drop `www.`.
pub fn normalize_domain(d: &str) -> String {
    let mut s = d.to_lowercase().trim().to_string();
    for p in ["http://", "https://"] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.to_string();
        }
    }
    let s = s.trim_matches('/');
    s.strip_prefix("www.").unwrap_or(s).to_string()
}

/// RFC 3986 reserved characters (`:` included, as Plausible lists them).
const URI_RESERVED: &str = ":?#[]@!$&'()*+,;=";

/// The domain checks of Plausible's site changeset, most recent error first (the one it reports).
fn domain_errors(d: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if d.is_empty() {
        errors.push("domain: can't be blank".to_string());
    }
    if !d.chars().all(|c| c.is_alphanumeric() || "-.\\/:".contains(c)) {
        errors.push("domain: only letters, numbers, slashes and period allowed".into());
    }
    if d.chars().any(|c| URI_RESERVED.contains(c)) {
        errors.push("domain: must not contain URI reserved characters :?#[]@!$&'()*+,;=".into());
    }
    errors.reverse();
    errors
}

/// Validates a normalised domain; the error is the one Plausible reports.
pub fn validate_domain(d: &str) -> Result<(), String> {
    match domain_errors(d).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub const TAKEN: &str = "domain: This domain cannot be registered. Perhaps one of your colleagues registered it? If that's not the case, please contact support@plausible.io\n";
pub const SITE_NOT_FOUND: &str = "Site could not be found";

/// Validates the domain and timezone of a new site as Plausible's site changeset does; returns the
/// normalised domain and the timezone, or the error it reports first.
pub fn validate_new_site(domain: Option<&Value>, timezone: Option<&Value>) -> Result<(String, String), String> {
    // Ecto collects errors newest first; `errors` is kept oldest first and read from the end.
    let mut errors: Vec<String> = Vec::new();
    let (domain_cast_ok, raw_domain) = match domain {
        None | Some(Value::Null) => (true, String::new()),
        Some(Value::String(s)) => (true, s.clone()),
        Some(_) => {
            errors.push("domain: is invalid".into());
            (false, String::new())
        }
    };
    let (tz_cast_ok, tz) = match timezone {
        None => (true, Some("Etc/UTC".to_string())),
        Some(Value::Null) => (true, None),
        Some(Value::String(s)) if s.trim().is_empty() => (true, None),
        Some(Value::String(s)) => (true, Some(s.clone())),
        Some(_) => {
            errors.push("timezone: is invalid".into());
            (false, Some("Etc/UTC".to_string()))
        }
    };
    let domain = normalize_domain(&raw_domain);
    // validate_required([:domain, :timezone]) skips fields that already have errors
    if domain_cast_ok && domain.is_empty() {
        errors.push("domain: can't be blank".into());
    }
    if tz_cast_ok && tz.is_none() {
        errors.push("timezone: can't be blank".into());
    }
    // validate_timezone
    let tz_valid = tz.as_deref().is_some_and(|t| t.parse::<chrono_tz::Tz>().is_ok());
    if !tz_valid {
        errors.push("timezone: is invalid".into());
    }
    if domain_cast_ok {
        if !domain.chars().all(|c| c.is_alphanumeric() || "-.\\/:".contains(c)) {
            errors.push("domain: only letters, numbers, slashes and period allowed".into());
        }
        if domain.chars().any(|c| URI_RESERVED.contains(c)) {
            errors.push("domain: must not contain URI reserved characters :?#[]@!$&'()*+,;=".into());
        }
    }
    match errors.pop() {
        Some(e) => Err(e),
        None => Ok((domain, tz.unwrap_or_default())),
    }
}

/// Merged query-string and body parameters (Plausible's `params`): the body (JSON object or form) wins
/// over the query string.
pub fn params_from(query: Option<&str>, body: &Bytes) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(q) = query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            m.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return m;
    }
    if let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) {
        m.extend(b);
    } else if std::str::from_utf8(body).is_ok() {
        for (k, v) in url::form_urlencoded::parse(body) {
            m.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    m
}

/// Merged query-string and body parameters (kept for callers with a parsed query).
pub fn params(query: &std::collections::HashMap<String, String>, body: &Bytes) -> Map<String, Value> {
    let mut m: Map<String, Value> = query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    m.extend(params_from(None, body));
    m
}

/// A parameter that must be present (any value, even empty).
pub fn expect<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    p.get(key)
}

/// A parameter as text (strings as they are, numbers printed).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The tracker script configuration object.
pub fn tracker_json(t: &TrackerConfig) -> Value {
    json!({
        "id": t.id,
        "installation_type": t.installation_type,
        "track_404_pages": t.track_404_pages,
        "hash_based_routing": t.hash_based_routing,
        "outbound_links": t.outbound_links,
        "file_downloads": t.file_downloads,
        "revenue_tracking": t.revenue_tracking,
        "tagged_events": t.tagged_events,
        "form_submissions": t.form_submissions,
        "pageview_props": t.pageview_props,
    })
}

/// The site object (§2.8).
pub fn site_json(site: &Site) -> Value {
    let mut v = json!({
        "domain": site.domain,
        "timezone": site.timezone,
        "custom_properties": site.allowed_event_props,
    });
    if let Some(t) = &site.tracker_config {
        v["tracker_script_configuration"] = tracker_json(t);
    }
    v
}

const NANOID_ALPHABET: &[u8] = b"_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A 21-character Nanoid.
pub fn nanoid() -> String {
    (0..21).map(|_| NANOID_ALPHABET[(rand::random::<u8>() & 63) as usize] as char).collect()
}

pub fn new_tracker_id() -> String {
    format!("pa-{}", nanoid())
}

pub const INSTALLATION_TYPES: &[&str] = &["manual", "wordpress", "gtm", "npm"];

/// Applies a tracker configuration parameter to `base` (Plausible's installation changeset): the first
/// invalid field, in field order, is the error (`tracker_script_configuration.<field>: is invalid`).
pub fn apply_tracker(base: &TrackerConfig, v: &Value) -> Result<TrackerConfig, String> {
    let invalid = |f: &str| format!("tracker_script_configuration.{f}: is invalid");
    let m = match v {
        Value::Object(m) => m,
        Value::Null => return Ok(base.clone()),
        _ => return Err("tracker_script_configuration: is invalid".into()),
    };
    let mut t = base.clone();
    match m.get("installation_type") {
        None => {}
        Some(Value::Null) => t.installation_type = None,
        Some(Value::String(s)) if s.is_empty() => t.installation_type = None,
        Some(Value::String(s)) if INSTALLATION_TYPES.contains(&s.as_str()) => t.installation_type = Some(s.clone()),
        Some(_) => return Err(invalid("installation_type")),
    }
    let fields: [(&str, &mut bool); 8] = [
        ("track_404_pages", &mut t.track_404_pages),
        ("hash_based_routing", &mut t.hash_based_routing),
        ("outbound_links", &mut t.outbound_links),
        ("file_downloads", &mut t.file_downloads),
        ("revenue_tracking", &mut t.revenue_tracking),
        ("tagged_events", &mut t.tagged_events),
        ("form_submissions", &mut t.form_submissions),
        ("pageview_props", &mut t.pageview_props),
    ];
    for (name, slot) in fields {
        match m.get(name) {
            None => {}
            Some(Value::Bool(b)) => *slot = *b,
            Some(Value::String(s)) if s == "true" || s == "1" => *slot = true,
            Some(Value::String(s)) if s == "false" || s == "0" => *slot = false,
            Some(_) => return Err(invalid(name)),
        }
    }
    Ok(t)
}

/// Plausible's `sync_goals`: turning on 404 / outbound link / file download / form tracking creates the
/// goal it reports into; turning it off deletes it.
pub fn sync_tracker_goals(state: &SharedState, site: &Site, before: Option<&TrackerConfig>, after: &TrackerConfig) {
    let pairs = [
        ("404", before.is_some_and(|b| b.track_404_pages), after.track_404_pages),
        ("Outbound Link: Click", before.is_some_and(|b| b.outbound_links), after.outbound_links),
        ("File Download", before.is_some_and(|b| b.file_downloads), after.file_downloads),
        ("Form: Submission", before.is_some_and(|b| b.form_submissions), after.form_submissions),
    ];
    for (event, was, is) in pairs {
        if !was && is {
            let _ = crate::goals::find_or_create(state, site, &json!({"event_name": event}), false);
        } else if was && !is {
            if let Ok(goals) = state.config.goals(site.id) {
                for g in goals.iter().filter(|g| g.event_name.as_deref() == Some(event)) {
                    let _ = state.config.delete_goal(site.id, g.id);
                }
            }
        }
    }
}

/// Gets or lazily creates the site's tracker script configuration.
pub fn ensure_tracker(state: &SharedState, site: Site) -> ApiResult<Site> {
    if site.tracker_config.is_some() {
        return Ok(site);
    }
    let t = TrackerConfig { id: new_tracker_id(), ..Default::default() };
    Ok(state.config.ensure_tracker_config(site.id, &t)?)
}

/// Plausible's `find_site` of the Sites controller: the site by domain (or previous domain) on which the
/// user holds one of `roles` (team role, or guest role), in the key's team for team-scoped keys; else
/// 404 `Site could not be found`.
pub fn find_site(state: &SharedState, caller: &Caller, site_id: &Value, roles: &[&str]) -> ApiResult<Site> {
    let nf = || ApiError::not_found(SITE_NOT_FOUND);
    let site_id = text(site_id).ok_or_else(nf)?;
    let site = state.config.site_by_domain(&site_id)?.ok_or_else(nf)?;
    let role = auth::site_role(state, caller.user.id, &site)?.ok_or_else(nf)?;
    if !roles.contains(&role.name()) {
        return Err(nf());
    }
    if caller.team.as_ref().is_some_and(|t| t.id != site.team_id) {
        return Err(nf());
    }
    Ok(site)
}

pub const READ_ROLES: &[&str] = &["owner", "admin", "editor", "viewer"];
pub const WRITE_ROLES: &[&str] = &["owner", "admin", "editor"];
pub const ADMIN_ROLES: &[&str] = &["owner", "admin"];

/// 400 `Parameter `<name>` is required to <action>`.
pub fn missing(name: &str, action: &str) -> ApiError {
    ApiError::bad_request(format!("Parameter `{name}` is required to {action}"))
}

// ------------------------------------------------------------------------------------------ pagination

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: i64 = 100;

/// Pagination parameters (Plausible's `Pagination` over Paginator): `after`/`before` cursors and a
/// `limit` honoured only when it is an integer in 1..=100.
#[derive(Clone, Debug, Default)]
pub struct PageParams {
    after: Option<Vec<i64>>,
    before: Option<Vec<i64>>,
    limit: usize,
}

fn encode_cursor(key: &[i64]) -> String {
    let s: Vec<String> = key.iter().map(i64::to_string).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{}", s.join(",")))
}

fn decode_cursor(v: &Value) -> ApiResult<Option<Vec<i64>>> {
    let s = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        _ => return Err(ApiError::internal("pagination cursor is not a string")),
    };
    let bad = || ApiError::internal(format!("invalid pagination cursor {s:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let body = raw.strip_prefix("c1:").ok_or_else(bad)?;
    let key = body.split(',').map(|x| x.parse::<i64>()).collect::<Result<Vec<_>, _>>().map_err(|_| bad())?;
    Ok(Some(key))
}

pub fn page_params(p: &Map<String, Value>) -> ApiResult<PageParams> {
    let mut pp = PageParams { limit: DEFAULT_LIMIT, ..Default::default() };
    if let Some(a) = p.get("after") {
        pp.after = decode_cursor(a)?;
    }
    if let Some(b) = p.get("before") {
        pp.before = decode_cursor(b)?;
    }
    if let Some(l) = p.get("limit") {
        let n = match l {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.strip_prefix('+').unwrap_or(s).parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| ApiError::internal(format!("invalid pagination limit {l}")))?;
        if n > 0 && n <= MAX_LIMIT {
            pp.limit = n as usize;
        }
    }
    Ok(pp)
}

/// One page of `rows` (sorted by `key` descending, keys unique) and its `meta` object.
pub fn paginate<T>(rows: Vec<T>, key: impl Fn(&T) -> Vec<i64>, pp: &PageParams) -> (Vec<T>, Value) {
    let limit = pp.limit;
    let (entries, after, before) = if pp.after.is_some() || pp.before.is_none() {
        // forward: rows strictly after the cursor (all rows without one)
        let rest: Vec<T> = match &pp.after {
            Some(cursor) => rows.into_iter().filter(|r| key(r) < *cursor).collect(),
            None => rows,
        };
        let more = rest.len() > limit;
        let entries: Vec<T> = rest.into_iter().take(limit).collect();
        let after = if more { entries.last().map(|e| encode_cursor(&key(e))) } else { None };
        let before = if pp.after.is_some() { entries.first().map(|e| encode_cursor(&key(e))) } else { None };
        (entries, after, before)
    } else {
        // backward: the `limit` rows just before the cursor
        let cursor = pp.before.clone().unwrap_or_default();
        let prev: Vec<T> = rows.into_iter().filter(|r| key(r) > cursor).collect();
        let more = prev.len() > limit;
        let skip = prev.len().saturating_sub(limit);
        let entries: Vec<T> = prev.into_iter().skip(skip).collect();
        let before = if more { entries.first().map(|e| encode_cursor(&key(e))) } else { None };
        let after = entries.last().map(|e| encode_cursor(&key(e)));
        (entries, after, before)
    };
    (entries, json!({"after": after, "before": before, "limit": limit}))
}

// ------------------------------------------------------------------------------------------ plumbing

/// The request as handlers see it: merged parameters and headers.
pub struct Req {
    pub headers: HeaderMap,
    pub params: Map<String, Value>,
}

impl Req {
    pub fn new(headers: HeaderMap, uri: &Uri, body: &Bytes, path: Vec<(&str, Value)>) -> Req {
        let mut params = params_from(uri.query(), body);
        for (k, v) in path {
            params.insert(k.to_string(), v);
        }
        Req { headers, params }
    }

    /// Authorization for a Sites API route (see [`auth::authorize_sites`]).
    pub fn authorize(&self, state: &SharedState, scope: Scope, site_context: bool) -> ApiResult<Caller> {
        auth::authorize_sites(state, &self.headers, scope, &self.params, site_context)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.params.get(key)
    }
}

/// Runs a handler body on the blocking pool (the configuration store is synchronous).
pub async fn run<F>(state: SharedState, req: Req, f: F) -> ApiResult<Json<Value>>
where
    F: FnOnce(&SharedState, &Req) -> ApiResult<Value> + Send + 'static,
{
    let out = tokio::task::spawn_blocking(move || f(&state, &req)).await.map_err(ApiError::internal)??;
    Ok(Json(out))
}

/// The Sites API routes (literal paths win over `/:site_id`).
pub fn router() -> axum::Router<SharedState> {
    use axum::routing::{delete, get, put};
    axum::Router::new()
        .route("/api/v1/sites", get(list_sites).post(create_site))
        .route("/api/v1/sites/teams", get(list_teams))
        .route("/api/v1/sites/goals", get(list_goals).put(put_goal))
        .route("/api/v1/sites/goals/{goal_id}", delete(delete_goal))
        .route("/api/v1/sites/custom-props", get(list_props).put(put_prop))
        .route("/api/v1/sites/custom-props/{*property}", delete(delete_prop))
        .route("/api/v1/sites/guests", get(list_guests).put(put_guest))
        .route("/api/v1/sites/guests/{email}", delete(delete_guest))
        .route("/api/v1/sites/shared-links", put(put_shared_link))
        .route("/api/v1/sites/segments", get(list_segments).put(put_segment))
        .route("/api/v1/sites/segments/{segment_id}", delete(delete_segment))
        .route("/api/v1/sites/funnels", get(list_funnels).put(put_funnel))
        .route("/api/v1/sites/funnels/{funnel_id}", delete(delete_funnel))
        .route("/api/v1/sites/{site_id}", get(get_site).put(update_site).delete(delete_site))
        .route("/api/v1/stats/funnel", get(funnel_stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised() {
        assert_eq!(normalize_domain(" HTTPS://www.Example.com/ "), "example.com");
        assert_eq!(normalize_domain("http://example.com/blog/"), "example.com/blog");
        assert_eq!(normalize_domain("音乐.cn"), "音乐.cn");
    }

    #[test]
    fn site_changeset_reports_like_ecto() {
        let v = |d: &str| Some(Value::String(d.to_string()));
        assert_eq!(validate_new_site(None, None).unwrap_err(), "domain: can't be blank");
        assert_eq!(
            validate_new_site(v("h&llo.test").as_ref(), None).unwrap_err(),
            "domain: must not contain URI reserved characters :?#[]@!$&'()*+,;="
        );
        assert_eq!(
            validate_new_site(v("a b.test").as_ref(), None).unwrap_err(),
            "domain: only letters, numbers, slashes and period allowed"
        );
        assert_eq!(validate_new_site(v("a.test").as_ref(), v("d").as_ref()).unwrap_err(), "timezone: is invalid");
        assert_eq!(validate_new_site(None, v("d").as_ref()).unwrap_err(), "timezone: is invalid");
        assert_eq!(validate_new_site(Some(&json!(123)), None).unwrap_err(), "domain: is invalid");
        assert_eq!(
            validate_new_site(v("до.101домен.рф/pages").as_ref(), None).unwrap(),
            ("до.101домен.рф/pages".to_string(), "Etc/UTC".to_string())
        );
    }

    #[test]
    fn tracker_errors_in_field_order() {
        let base = TrackerConfig::default();
        assert_eq!(
            apply_tracker(&base, &json!({"installation_type": "x", "track_404_pages": "x"})).unwrap_err(),
            "tracker_script_configuration.installation_type: is invalid"
        );
        assert_eq!(
            apply_tracker(&base, &json!({"installation_type": "wordpress", "track_404_pages": "x"})).unwrap_err(),
            "tracker_script_configuration.track_404_pages: is invalid"
        );
        let t = apply_tracker(&base, &json!({"form_submissions": true})).unwrap();
        assert!(t.form_submissions && !t.outbound_links);
    }

    #[test]
    fn pagination_walks_both_ways() {
        let rows: Vec<i64> = vec![9, 7, 5, 3, 1];
        let pp = |after: Option<&str>, before: Option<&str>| {
            let mut m = Map::new();
            m.insert("limit".into(), json!("2"));
            if let Some(a) = after {
                m.insert("after".into(), json!(a));
            }
            if let Some(b) = before {
                m.insert("before".into(), json!(b));
            }
            page_params(&m).unwrap()
        };
        let (e, meta) = paginate(rows.clone(), |r| vec![*r], &pp(None, None));
        assert_eq!(e, vec![9, 7]);
        assert!(meta["before"].is_null());
        let after = meta["after"].as_str().unwrap().to_string();
        let (e, meta) = paginate(rows.clone(), |r| vec![*r], &pp(Some(&after), None));
        assert_eq!(e, vec![5, 3]);
        let before = meta["before"].as_str().unwrap().to_string();
        let after = meta["after"].as_str().unwrap().to_string();
        let (e, meta) = paginate(rows.clone(), |r| vec![*r], &pp(Some(&after), None));
        assert_eq!(e, vec![1]);
        assert!(meta["after"].is_null());
        assert!(meta["before"].is_string());
        let (e, meta) = paginate(rows.clone(), |r| vec![*r], &pp(None, Some(&before)));
        assert_eq!(e, vec![9, 7]);
        assert!(meta["before"].is_null());
        assert!(meta["after"].is_string());
        // out-of-range limits are ignored
        let mut m = Map::new();
        m.insert("limit".into(), json!("1000"));
        assert_eq!(page_params(&m).unwrap().limit, 100);
    }
}
