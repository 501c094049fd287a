//! Tally extensions of the Sites API (README "Tally extensions"):
//!
//! - saved segments `GET|PUT /api/v1/sites/segments`, `DELETE /api/v1/sites/segments/:segment_id`
//!   (plan feature `site_segments`);
//! - funnels `GET|PUT /api/v1/sites/funnels`, `DELETE /api/v1/sites/funnels/:funnel_id` (plan feature
//!   `funnels`), evaluated by `GET /api/v1/stats/funnel` ([`funnel_stats`]).

use super::*;
use crate::auth::Scope;
use axum::extract::{Path, State};
use tally_query::engine::extra::FunnelEvent;
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
    list.sort_by_key(|x| std::cmp::Reverse(x.id));
    let (page, meta) = paginate(list, |s| vec![s.id], &pp);
    Ok(json!({"segments": page.iter().map(segment_json).collect::<Vec<_>>(), "meta": meta}))
}

pub async fn list_segments(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
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

pub async fn put_segment(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
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
    list.sort_by_key(|x| std::cmp::Reverse(x.id));
    let (page, meta) = paginate(list, |f| vec![f.id], &pp);
    Ok(json!({"funnels": page.iter().map(|f| funnel_json(f, &goals)).collect::<Vec<_>>(), "meta": meta}))
}

pub async fn list_funnels(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
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
            let id: i64 =
                text(v).and_then(|s| s.parse().ok()).ok_or_else(|| ApiError::not_found("Funnel could not be found"))?;
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

pub async fn put_funnel(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Json<Value>> {
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

// ------------------------------------------------------------------------------- funnel evaluation

/// Plausible's funnel window: a visitor's steps must fall within 24 hours of their first step.
pub const FUNNEL_WINDOW_MS: i64 = 86_400_000;

/// The funnel level one visitor reached, from their events in time order:
/// ClickHouse's `windowFunnel(86400)` (default mode), or with `strict_order`, where an event matching no
/// step ends the chain once it has started and a step reached out of order ends the search.
pub fn funnel_level(events: &[FunnelEvent], steps: usize, strict: bool) -> usize {
    if steps == 0 {
        return 0;
    }
    let mut starts: Vec<Option<i64>> = vec![None; steps];
    let mut started = false;
    for FunnelEvent { ms: t, completes: m, .. } in events {
        if !m.iter().any(|x| *x) {
            if strict && started {
                break;
            }
            continue;
        }
        for idx in (0..steps).filter(|i| m[*i]) {
            if idx == 0 {
                starts[0] = Some(*t);
                started = true;
            } else if strict && started && starts[idx - 1].is_none() {
                return starts.iter().position(Option::is_none).unwrap_or(steps);
            } else if let Some(s) = starts[idx - 1] {
                if *t <= s + FUNNEL_WINDOW_MS {
                    starts[idx] = Some(s);
                    if idx + 1 == steps {
                        return steps;
                    }
                }
            }
        }
    }
    starts.iter().rposition(Option::is_some).map_or(0, |i| i + 1)
}

fn pct(part: i64, total: i64) -> Value {
    if total <= 0 {
        return json!(0.0);
    }
    json!((part as f64 * 10000.0 / total as f64).round() / 100.0)
}

fn funnel_stats_impl(state: &SharedState, req: &Req) -> ApiResult<Value> {
    use tally_query::engine::DuckDb;
    let site_id = req.get("site_id").and_then(Value::as_str).map(str::to_string);
    let (_caller, site) = crate::auth::authorize_stats(state, &req.headers, site_id.as_deref(), false)?;
    // Plausible's dashboard funnel endpoint: its plan message, then the query checks, then the funnel.
    let team = state.config.team(site.team_id)?;
    if !team.is_some_and(|t| t.plan.has("funnels")) {
        return Err(ApiError::payment_required(
            "Funnels is part of the Plausible Business plan. To get access to this feature, please upgrade your account.",
        ));
    }
    let str_param = |k: &str| req.get(k).and_then(Value::as_str);
    let unable = |what: &str| {
        ApiError::bad_request(format!("We are unable to show funnels when the dashboard is filtered by {what}"))
    };
    let filters = tally_query::v1::filters::parse_filters_param(str_param("filters").unwrap_or(""));
    let on = |dim: &str| filters.iter().any(|f| f.get(1).and_then(Value::as_str) == Some(dim));
    if on("event:goal") {
        return Err(unable("goals"));
    }
    if on("event:page") {
        return Err(unable("pages"));
    }
    if str_param("period") == Some("realtime") {
        return Err(unable("realtime period"));
    }
    let funnel_id = expect(&req.params, "funnel_id").ok_or_else(|| missing("funnel_id", "evaluate a funnel"))?;
    let funnel_id: i64 = text(funnel_id)
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request("There was an error with your request"))?;
    let nf = || ApiError::not_found("Funnel not found");
    let funnel = funnels_of(state, site.id)?.into_iter().find(|f| f.id == funnel_id).ok_or_else(nf)?;

    // The period, in the site's timezone (v1 `period` / `date`), and the v1 `filters`.
    let ctx = crate::stats::site_context(state, &site)?;
    let today = chrono::Utc::now().with_timezone(&ctx.timezone).date_naive();
    let period = tally_query::v1::period::parse_period(str_param("period"), str_param("date"), today)
        .map_err(ApiError::bad_request)?;
    let (first, last) = period.dates();
    let body = json!({"site_id": site.domain, "metrics": ["visitors"], "date_range": [first.to_string(), last.to_string()],
        "filters": filters});
    let q = tally_query::parse_query(&body, &ctx, chrono::Utc::now()).map_err(|e| ApiError::bad_request(e.message))?;
    let from = q.date_range.first_utc().max(site.native_stats_start_at);
    let to = q.date_range.last_utc();
    let steps: Vec<tally_query::Goal> =
        funnel.steps.iter().filter_map(|id| ctx.goals.iter().find(|g| g.id == *id).cloned()).collect();
    let strict = funnel.funnel_type == "strict";
    let runner = crate::stats::StoreRunner::new(state);
    let found = tally_query::engine::extra::funnel_events(&DuckDb, &q, site.id, (from, to), &steps, strict, &runner)
        .map_err(ApiError::internal)?;
    let all_visitors = found.all_visitors;
    // The level each visitor reached, from their step events in time order.
    let mut levels = vec![0i64; steps.len() + 1];
    for visitor in found.events.chunk_by(|a, b| a.user_id == b.user_id) {
        levels[funnel_level(visitor, steps.len(), strict)] += 1;
    }

    // Plausible's backfill: visitors at a step = visitors who reached it or a later one.
    let mut out = Vec::new();
    let mut first_step: Option<i64> = None;
    let mut previous: Option<i64> = None;
    for (i, g) in steps.iter().enumerate() {
        let visitors: i64 = levels[i + 1..].iter().sum();
        let total = *first_step.get_or_insert(visitors);
        let dropoff = previous.map_or(0, |p| p - visitors);
        out.push(json!({
            "label": g.display_name,
            "goal_id": g.id,
            "visitors": visitors,
            "dropoff": dropoff,
            "dropoff_percentage": pct(dropoff, previous.unwrap_or(0)),
            "conversion_rate": pct(visitors, total),
            "conversion_rate_step": pct(visitors, previous.unwrap_or(0)),
        }));
        previous = Some(visitors);
    }
    let entering = first_step.unwrap_or(0);
    let all_visitors = all_visitors.max(entering);
    Ok(json!({
        "name": funnel.name,
        "funnel_type": funnel.funnel_type,
        "date_range": [first.to_string(), last.to_string()],
        "all_visitors": all_visitors,
        "entering_visitors": entering,
        "entering_visitors_percentage": pct(entering, all_visitors),
        "never_entering_visitors": all_visitors - entering,
        "never_entering_visitors_percentage": pct(all_visitors - entering, all_visitors),
        "steps": out,
    }))
}

/// `GET /api/v1/stats/funnel?site_id=…&funnel_id=…&period=…&date=…` (Stats API key).
pub async fn funnel_stats(State(state): State<SharedState>, headers: HeaderMap, uri: Uri) -> ApiResult<Json<Value>> {
    run(state, Req::new(headers, &uri, &Bytes::new(), vec![]), funnel_stats_impl).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, m: &[u8]) -> FunnelEvent {
        FunnelEvent { user_id: 0, ms: t, completes: m.iter().map(|x| *x == 1).collect() }
    }

    #[test]
    fn window_funnel_levels() {
        // A -> B -> C in order
        assert_eq!(funnel_level(&[ev(0, &[1, 0, 0]), ev(1, &[0, 1, 0]), ev(2, &[0, 0, 1])], 3, false), 3);
        // C before B: only two steps
        assert_eq!(funnel_level(&[ev(0, &[1, 0, 0]), ev(1, &[0, 0, 1]), ev(2, &[0, 1, 0])], 3, false), 2);
        // outside the 24 h window
        assert_eq!(funnel_level(&[ev(0, &[1, 0]), ev(FUNNEL_WINDOW_MS + 1, &[0, 1])], 2, false), 1);
        // a later start can complete the chain
        assert_eq!(
            funnel_level(
                &[ev(0, &[1, 0]), ev(FUNNEL_WINDOW_MS + 5, &[1, 0]), ev(FUNNEL_WINDOW_MS + 6, &[0, 1])],
                2,
                false
            ),
            2
        );
        // never entered
        assert_eq!(funnel_level(&[ev(0, &[0, 1])], 2, false), 0);
        // strict order: an unrelated event in between ends the chain, a repeated earlier step does not
        let evs = [ev(0, &[1, 0, 0]), ev(1, &[0, 1, 0]), ev(2, &[0, 0, 0]), ev(3, &[0, 0, 1])];
        assert_eq!(funnel_level(&evs, 3, false), 3);
        assert_eq!(funnel_level(&evs, 3, true), 2);
        let evs = [ev(0, &[1, 0, 0]), ev(1, &[0, 1, 0]), ev(2, &[1, 0, 0]), ev(3, &[0, 0, 1])];
        assert_eq!(funnel_level(&evs, 3, true), 3);
        // strict order: a step out of order ends the search
        let evs = [ev(0, &[1, 0, 0]), ev(1, &[0, 0, 1]), ev(2, &[0, 1, 0])];
        assert_eq!(funnel_level(&evs, 3, true), 1);
    }
}
