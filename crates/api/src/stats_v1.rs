//! Stats API v1 handlers: `GET /api/v1/stats/{realtime/visitors,aggregate,timeseries,breakdown}`.
//! Validation and translation live in `tally_query::v1`; these handlers authorize, run the
//! translated v2 queries with the engine and return the reshaped body.

use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::stats::{site_context, StoreRunner};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use tally_query::engine::DuckDb;
use tally_query::v1::{self, Endpoint, Params};
use tally_store::Site;

/// Decodes a query string (`+` is a space; the last occurrence of a name wins).
pub fn parse_params(raw: Option<&str>) -> Params {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn v1_error(e: v1::V1Error) -> ApiError {
    ApiError::new(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), e.message)
}

/// Validates, translates and runs one v1 request for an authorized site.
pub fn run_v1(state: &SharedState, site: &Site, endpoint: Endpoint, params: &Params) -> ApiResult<Value> {
    let ctx = site_context(state, site)?;
    let plan = v1::plan(endpoint, params, &ctx, chrono::Utc::now()).map_err(v1_error)?;
    let runner = StoreRunner::new(state);
    let main = tally_query::engine::execute(&plan.query, site.id, &DuckDb, &runner).map_err(ApiError::internal)?;
    let comparison = match &plan.comparison {
        Some(q) => Some(tally_query::engine::execute(q, site.id, &DuckDb, &runner).map_err(ApiError::internal)?),
        None => None,
    };
    Ok(v1::response::shape(&plan, &main, comparison.as_ref()))
}

/// Distinct visitors with a non-engagement event in the last 5 minutes.
pub fn current_visitors(state: &SharedState, site: &Site) -> ApiResult<Value> {
    use chrono::Timelike;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).naive_utc();
    let since = since.with_nanosecond(0).unwrap_or(since);
    let runner = crate::stats::StoreRunner::new(state);
    let n =
        tally_query::engine::extra::current_visitors(&DuckDb, site.id, since, &runner).map_err(ApiError::internal)?;
    Ok(json!(n))
}

async fn handle(
    state: SharedState,
    headers: HeaderMap,
    raw: Option<String>,
    endpoint: Option<Endpoint>,
) -> ApiResult<Json<Value>> {
    let params = parse_params(raw.as_deref());
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let site_id = params.get("site_id").cloned();
        let (_caller, site) = auth::authorize_stats(&st, &headers, site_id.as_deref(), false)?;
        match endpoint {
            Some(e) => run_v1(&st, &site, e, &params),
            None => current_visitors(&st, &site),
        }
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(result))
}

pub async fn realtime_visitors(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    handle(state, headers, raw, None).await
}

pub async fn aggregate(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    handle(state, headers, raw, Some(Endpoint::Aggregate)).await
}

pub async fn timeseries(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    handle(state, headers, raw, Some(Endpoint::Timeseries)).await
}

pub async fn breakdown(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    handle(state, headers, raw, Some(Endpoint::Breakdown)).await
}
