//! Tally extensions of the Sites API (README "Tally extensions"):
//!
//! - saved segments `GET|PUT /api/v1/sites/segments`, `DELETE /api/v1/sites/segments/:segment_id`
//!   (plan feature `site_segments`);
//! - funnels `GET|PUT /api/v1/sites/funnels`, `DELETE /api/v1/sites/funnels/:funnel_id` (plan feature
//!   `funnels`), evaluated by `GET /api/v1/stats/funnel` ([`funnel_stats`]).

use super::*;
use crate::auth::Scope;
use axum::extract::{Path, State};
use tally_store::Segment;

// ------------------------------------------------------------------------------------------ segments

pub const SEGMENT_NAME_MAX_BYTES: usize = 255;
pub const SEGMENT_DATA_MAX_BYTES: usize = 5 * 1024;

fn require_feature(state: &SharedState, site: &Site, feature: &str, display: &str) -> ApiResult<()> {
    let team = state.config.team(site.team_id)?;
    if team.is_some_and(|t| t.plan.has(feature)) {
        Ok(())
    } else {
        Err(ApiError::payment_required(format!("Your current subscription plan does not include {display}")))
    }
}

fn segment_json(s: &Segment) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "type": s.segment_type,
        "segment_data": s.segment_data,
        "owner_id": s.owner_id,
    })
}

/// Segments the caller sees: site segments and their own personal segments.
fn visible_segments(state: &SharedState, site: &Site, user_id: i64) -> ApiResult<Vec<Segment>> {
    Ok(state
        .config
        .segments(site.id)?
        .into_iter()
        .filter(|s| s.segment_type == "site" || s.owner_id == Some(user_id))
        .collect())
}

/// Validates `segment_data` (`{"filters": [...], "labels"?: {...}}`, at most 5 KiB) by parsing a minimal
/// v2 query with its filters for the site.
pub fn validate_segment_data(state: &SharedState, site: &Site, data: &Value) -> Result<(), String> {
    let obj = data.as_object().ok_or("segment_data: must be an object")?;
    if let Some(k) = obj.keys().find(|k| *k != "filters" && *k != "labels") {
        return Err(format!("segment_data: unexpected key {k:?}, only \"filters\" and \"labels\" are allowed"));
    }
    let filters = match obj.get("filters") {
        Some(Value::Array(f)) if !f.is_empty() => f,
        _ => return Err("segment_data: property \"filters\" must be a non-empty array of filters".into()),
    };
    match obj.get("labels") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("segment_data: property \"labels\" must be a map".into()),
    }
    if data.to_string().len() > SEGMENT_DATA_MAX_BYTES {
        return Err(format!("segment_data: must be at most {SEGMENT_DATA_MAX_BYTES} bytes"));
    }
    let ctx = crate::stats::site_context(state, site).map_err(|e| format!("segment_data: {}", e.message))?;
    let body = json!({"site_id": site.domain, "metrics": ["visitors"], "date_range": "all", "filters": filters});
    tally_query::parse_query(&body, &ctx, chrono::Utc::now())
        .map(|_| ())
        .map_err(|e| format!("segment_data: Invalid filters. {}", e.message))
}

fn list_segments_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", "list segments"))?;
    let site = find_site(state, &caller, site_id, READ_ROLES)?;
    require_feature(state, &site, "site_segments", "Segments")?;
    let pp = page_params(&req.params)?;
    let mut list = visible_segments(state, &site, caller.user.id)?;
    list.sort_by(|a, b| b.id.cmp(&a.id));
    let (page, meta) = paginate(list, |s| vec![s.id], &pp);
    Ok(json!({"segments": page.iter().map(segment_json).collect::<Vec<_>>(), "meta": meta}))
}

pub async fn list_segments(State(state): State<SharedState>, headers: HeaderMap, uri: Uri, body: Bytes) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_segments_impl).await
}

fn put_segment_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "save a segment";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let name = expect(&req.params, "name").ok_or_else(|| missing("name", ACTION))?;
    let data = expect(&req.params, "segment_data").ok_or_else(|| missing("segment_data", ACTION))?;
    let kind = match req.get("type") {
        None | Some(Value::Null) => "site".to_string(),
        Some(Value::String(t)) if t == "site" || t == "personal" => t.clone(),
        Some(_) => return Err(ApiError::bad_request("type: is invalid")),
    };
    let roles = if kind == "site" { WRITE_ROLES } else { READ_ROLES };
    let site = find_site(state, &caller, site_id, roles)?;
    require_feature(state, &site, "site_segments", "Segments")?;
    let name = text(name).map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("name: can't be blank"));
    }
    if name.len() > SEGMENT_NAME_MAX_BYTES {
        return Err(ApiError::bad_request(format!("name: should be at most {SEGMENT_NAME_MAX_BYTES} byte(s)")));
    }
    validate_segment_data(state, &site, data).map_err(ApiError::bad_request)?;
    let existing = match req.get("id").or_else(|| req.get("segment_id")) {
        None | Some(Value::Null) => None,
        Some(id) => {
            let id: i64 = text(id)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ApiError::not_found("Segment could not be found"))?;
            let seg = visible_segments(state, &site, caller.user.id)?
                .into_iter()
                .find(|s| s.id == id)
                .ok_or_else(|| ApiError::not_found("Segment could not be found"))?;
            Some(seg)
        }
    };
    let saved = match existing {
        Some(mut s) => {
            s.name = name;
            s.segment_type = kind;
            s.segment_data = data.clone();
            state.config.update_segment(&s)?;
            s
        }
        None => state.config.create_segment(site.id, Some(caller.user.id), &name, &kind, data)?,
    };
    Ok(segment_json(&saved))
}

pub async fn put_segment(State(state): State<SharedState>, headers: HeaderMap, uri: Uri, body: Bytes) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), put_segment_impl).await
}

fn delete_segment_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "delete a segment";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let id = expect(&req.params, "segment_id").ok_or_else(|| missing("segment_id", ACTION))?;
    let site = find_site(state, &caller, site_id, READ_ROLES)?;
    require_feature(state, &site, "site_segments", "Segments")?;
    let nf = || ApiError::not_found("Segment could not be found");
    let id: i64 = text(id).and_then(|s| s.parse().ok()).ok_or_else(nf)?;
    let seg = visible_segments(state, &site, caller.user.id)?.into_iter().find(|s| s.id == id).ok_or_else(nf)?;
    if seg.segment_type == "site" {
        // site segments are shared configuration: editors and up
        find_site(state, &caller, site_id, WRITE_ROLES)?;
    }
    if !state.config.delete_segment(site.id, id)? {
        return Err(nf());
    }
    Ok(json!({"deleted": true}))
}

pub async fn delete_segment(
    State(state): State<SharedState>,
    Path(segment_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("segment_id", Value::String(segment_id))]), delete_segment_impl)
        .await
}

// ------------------------------------------------------------------------------------------- funnels

pub const FUNNEL_KIND: &str = "funnel";
pub const FUNNEL_MIN_STEPS: usize = 2;
pub const FUNNEL_MAX_STEPS: usize = 8;
pub const FUNNEL_TYPES: &[&str] = &["sequential", "strict"];

/// A stored funnel: `{"name": str, "funnel_type": "sequential"|"strict", "steps": [goal_id, ...]}`.
#[derive(Clone, Debug)]
pub struct Funnel {
    pub id: i64,
    pub name: String,
    pub funnel_type: String,
    pub steps: Vec<i64>,
}

impl Funnel {
    fn from_doc(id: i64, d: &Value) -> Funnel {
        Funnel {
            id,
            name: d["name"].as_str().unwrap_or_default().to_string(),
            funnel_type: d["funnel_type"].as_str().unwrap_or("sequential").to_string(),
            steps: d["steps"].as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default(),
        }
    }
    fn doc(&self) -> Value {
        json!({"name": self.name, "funnel_type": self.funnel_type, "steps": self.steps})
    }
}

pub fn funnels_of(state: &SharedState, site_id: i64) -> ApiResult<Vec<Funnel>> {
    Ok(state.config.documents(FUNNEL_KIND, site_id)?.iter().map(|(id, d)| Funnel::from_doc(*id, d)).collect())
}

fn funnel_json(f: &Funnel, goals: &[tally_store::Goal]) -> Value {
    let steps: Vec<Value> = f
        .steps
        .iter()
        .enumerate()
        .map(|(i, gid)| {
            let g = goals.iter().find(|g| g.id == *gid);
            json!({"step_order": i + 1, "goal_id": gid, "display_name": g.map(|g| g.display_name.clone())})
        })
        .collect();
    json!({"id": f.id, "name": f.name, "funnel_type": f.funnel_type, "steps": steps})
}

/// Plausible's goal deletion rule: a funnel with the minimum number of steps goes with the goal, longer
/// funnels lose the step.
pub fn before_goal_deleted(state: &SharedState, site: &Site, goal_id: i64) -> ApiResult<()> {
    for mut f in funnels_of(state, site.id)? {
        if !f.steps.contains(&goal_id) {
            continue;
        }
        if f.steps.len() <= FUNNEL_MIN_STEPS {
            state.config.delete_document(FUNNEL_KIND, site.id, f.id)?;
        } else {
            f.steps.retain(|g| *g != goal_id);
            state.config.put_document(FUNNEL_KIND, site.id, Some(f.id), &f.doc())?;
        }
    }
    Ok(())
}

fn list_funnels_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    let caller = req.authorize(state, Scope::SitesRead, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", "list funnels"))?;
    let site = find_site(state, &caller, site_id, READ_ROLES)?;
    require_feature(state, &site, "funnels", "Funnels")?;
    let pp = page_params(&req.params)?;
    let goals = state.config.goals(site.id)?;
    let mut list = funnels_of(state, site.id)?;
    list.sort_by(|a, b| b.id.cmp(&a.id));
    let (page, meta) = paginate(list, |f| vec![f.id], &pp);
    Ok(json!({"funnels": page.iter().map(|f| funnel_json(f, &goals)).collect::<Vec<_>>(), "meta": meta}))
}

pub async fn list_funnels(State(state): State<SharedState>, headers: HeaderMap, uri: Uri, body: Bytes) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), list_funnels_impl).await
}

fn put_funnel_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "create a funnel";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let name = expect(&req.params, "name").ok_or_else(|| missing("name", ACTION))?;
    let steps = expect(&req.params, "steps").ok_or_else(|| missing("steps", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    require_feature(state, &site, "funnels", "Funnels")?;
    let name = text(name).map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("name: can't be blank"));
    }
    if name.len() > 255 {
        return Err(ApiError::bad_request("name: should be at most 255 character(s)"));
    }
    let funnel_type = match req.get("funnel_type") {
        None | Some(Value::Null) => "sequential".to_string(),
        Some(Value::String(t)) if FUNNEL_TYPES.contains(&t.as_str()) => t.clone(),
        Some(_) => return Err(ApiError::bad_request("funnel_type: is invalid")),
    };
    let goals = state.config.goals(site.id)?;
    let steps = steps.as_array().ok_or_else(|| ApiError::bad_request("steps: is invalid"))?;
    if steps.len() < FUNNEL_MIN_STEPS {
        return Err(ApiError::bad_request(format!("steps: should have at least {FUNNEL_MIN_STEPS} item(s)")));
    }
    if steps.len() > FUNNEL_MAX_STEPS {
        return Err(ApiError::bad_request(format!("steps: should have at most {FUNNEL_MAX_STEPS} item(s)")));
    }
    let mut ids = Vec::new();
    for s in steps {
        // a step is a goal id, a goal display name, or {"goal_id": id}
        let s = s.get("goal_id").unwrap_or(s);
        let goal = match s {
            Value::Number(n) => n.as_i64().and_then(|id| goals.iter().find(|g| g.id == id)),
            Value::String(t) => goals
                .iter()
                .find(|g| g.display_name == *t)
                .or_else(|| t.parse::<i64>().ok().and_then(|id| goals.iter().find(|g| g.id == id))),
            _ => None,
        };
        let goal = goal.ok_or_else(|| ApiError::bad_request(format!("steps: goal {s} does not exist on this site")))?;
        if ids.contains(&goal.id) {
            return Err(ApiError::bad_request("steps: goals must be unique"));
        }
        ids.push(goal.id);
    }
    let all = funnels_of(state, site.id)?;
    let id = match req.get("id").or_else(|| req.get("funnel_id")) {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id: i64 = text(v).and_then(|s| s.parse().ok()).ok_or_else(|| ApiError::not_found("Funnel could not be found"))?;
            if !all.iter().any(|f| f.id == id) {
                return Err(ApiError::not_found("Funnel could not be found"));
            }
            Some(id)
        }
    };
    if all.iter().any(|f| f.name == name && Some(f.id) != id) {
        return Err(ApiError::bad_request("name: has already been taken"));
    }
    let mut f = Funnel { id: 0, name, funnel_type, steps: ids };
    f.id = state.config.put_document(FUNNEL_KIND, site.id, id, &f.doc())?;
    Ok(funnel_json(&f, &goals))
}

pub async fn put_funnel(State(state): State<SharedState>, headers: HeaderMap, uri: Uri, body: Bytes) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![]), put_funnel_impl).await
}

fn delete_funnel_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    const ACTION: &str = "delete a funnel";
    let caller = req.authorize(state, Scope::SitesProvision, true)?;
    let site_id = expect(&req.params, "site_id").ok_or_else(|| missing("site_id", ACTION))?;
    let id = expect(&req.params, "funnel_id").ok_or_else(|| missing("funnel_id", ACTION))?;
    let site = find_site(state, &caller, site_id, WRITE_ROLES)?;
    require_feature(state, &site, "funnels", "Funnels")?;
    let nf = || ApiError::not_found("Funnel could not be found");
    let id: i64 = text(id).and_then(|s| s.parse().ok()).ok_or_else(nf)?;
    if !state.config.delete_document(FUNNEL_KIND, site.id, id)? {
        return Err(nf());
    }
    Ok(json!({"deleted": true}))
}

pub async fn delete_funnel(
    State(state): State<SharedState>,
    Path(funnel_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &body, vec![("funnel_id", Value::String(funnel_id))]), delete_funnel_impl).await
}
