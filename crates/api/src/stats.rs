//! Stats API handlers: v2 `POST /api/v2/query` (the v1 endpoints translate into the same engine).

use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;
use std::sync::Arc;
use tally_query::context::{Goal, ImportInfo, Segment, SiteContext};
use tally_query::engine::run::rollup::PeriodRollups;
use tally_query::engine::{Cell, DuckDb, Param, Runner, Table};
use tally_store::versions::Rows;
use tally_store::{EventStore, Site, SqlValue};

/// Runs planner SQL on the event store, with the store's period rollups.
pub struct StoreRunner {
    pub events: Arc<dyn EventStore>,
    pub rollups: Option<Arc<PeriodRollups>>,
}

impl StoreRunner {
    pub fn new(state: &crate::state::AppState) -> Self {
        StoreRunner { events: state.events.clone(), rollups: state.period_rollups.clone() }
    }
}

impl Runner for StoreRunner {
    fn period_rollups(&self) -> Option<&PeriodRollups> {
        self.rollups.as_deref()
    }

    fn data_version(&self, site_id: i64, table: Table, from: chrono::NaiveDateTime, to: chrono::NaiveDateTime) -> u64 {
        let rows = match table {
            Table::Events => Rows::Events,
            Table::Sessions => Rows::Sessions,
        };
        self.events.data_version(site_id as u64, rows, from, to)
    }

    fn session_order_version(&self, site_id: i64) -> u64 {
        self.events.session_order_version(site_id as u64)
    }

    fn run(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
        let params: Vec<SqlValue> = params
            .iter()
            .map(|p| match p {
                Param::Text(s) => SqlValue::Text(s.clone()),
                Param::Int(i) => SqlValue::Int(*i),
                Param::Float(f) => SqlValue::Float(*f),
                Param::Timestamp(t) => SqlValue::Timestamp(*t),
                Param::Date(d) => SqlValue::Date(*d),
            })
            .collect();
        let rows = self.events.query(sql, &params).map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| match v {
                        SqlValue::Null => Cell::Null,
                        SqlValue::Bool(b) => Cell::Int(b as i64),
                        SqlValue::Int(i) => Cell::Int(i),
                        SqlValue::UInt(u) => Cell::Int(u as i64),
                        SqlValue::Float(f) => Cell::Float(f),
                        SqlValue::Decimal(d) => Cell::Float(d.to_string().parse().unwrap_or(0.0)),
                        SqlValue::Text(s) => Cell::Text(s),
                        SqlValue::Date(d) => Cell::Text(d.to_string()),
                        SqlValue::Timestamp(t) => Cell::Text(t.to_string()),
                        SqlValue::TextList(l) => Cell::Text(l.join(",")),
                        SqlValue::Blob(b) => Cell::Bytes(b),
                    })
                    .collect()
            })
            .collect())
    }
}

/// The site's first native event (from `native_stats_start_at` on). Kept until a write touches a day from
/// `native_stats_start_at` to that event (or to the end of time while there is none): writes after it, such
/// as live traffic, leave it valid. The version is read before the event, so a kept one is never stale.
fn first_native_event(state: &SharedState, site: &Site) -> ApiResult<Option<chrono::NaiveDateTime>> {
    let since = site.native_stats_start_at;
    let version = |first: Option<chrono::NaiveDateTime>| {
        let until = first.map_or(chrono::NaiveDateTime::MAX, |t| t + chrono::Duration::seconds(1));
        state.events.data_version(site.id as u64, Rows::Events, since, until)
    };
    if let Some(kept) = state.native_start.lock().get(&site.id).copied() {
        if kept.since == since && version(kept.first) == kept.version {
            return Ok(kept.first);
        }
    }
    // Without a kept event, the version over everything from `since` on: any write may add the first one.
    let before = version(None);
    let first = tally_query::engine::extra::first_event(site.id, since, &StoreRunner::new(state))
        .map_err(ApiError::internal)?;
    // Kept under the narrower version, read now, only if nothing was written since `before` (else the next
    // call reads again): a write landing between the two reads changes the second.
    let narrow = version(first);
    let kept = if version(None) == before { narrow } else { u64::MAX };
    state.native_start.lock().insert(site.id, crate::state::FirstEvent { since, first, version: kept });
    Ok(first)
}

/// What the query engine needs to know about a site.
pub fn site_context(state: &SharedState, site: &Site) -> ApiResult<SiteContext> {
    let team = state.config.team(site.team_id)?.ok_or_else(|| ApiError::internal("site without team"))?;
    let timezone: chrono_tz::Tz = site.timezone.parse().unwrap_or(chrono_tz::UTC);
    let goals = state
        .config
        .goals(site.id)?
        .into_iter()
        .map(|g| Goal {
            id: g.id,
            display_name: g.display_name,
            event_name: g.event_name,
            page_path: g.page_path,
            scroll_threshold: g.scroll_threshold,
            currency: g.currency,
            custom_props: g.custom_props,
        })
        .collect();
    let segments = state
        .config
        .segments(site.id)?
        .into_iter()
        .map(|s| Segment { id: s.id, name: s.name, segment_data: s.segment_data })
        .collect();
    let imports: Vec<ImportInfo> = state
        .config
        .imports(site.id)?
        .into_iter()
        .filter(|i| i.status == "completed")
        .map(|i| ImportInfo { id: i.id, start_date: i.start_date, end_date: i.end_date, has_scroll_depth: false })
        .collect();
    let native_start = first_native_event(state, site)?.map(|t| {
        use chrono::TimeZone;
        timezone.from_utc_datetime(&t).date_naive()
    });
    let import_start = imports.iter().map(|i| i.start_date).min();
    let stats_start_date = match (native_start, import_start) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(SiteContext {
        domain: site.domain.clone(),
        timezone,
        goals,
        segments,
        props_available: team.plan.has("props"),
        revenue_available: team.plan.has("revenue_goals"),
        stats_start_date,
        native_stats_start_at: site.native_stats_start_at,
        legacy_time_on_page_cutoff: site.legacy_time_on_page_cutoff,
        imports,
    })
}

/// Parses, validates and runs a v2 query body for an authorized site.
pub fn run_v2(state: &SharedState, site: &Site, body: &Value) -> ApiResult<Value> {
    let ctx = site_context(state, site)?;
    let query =
        tally_query::parse_query(body, &ctx, chrono::Utc::now()).map_err(|e| ApiError::bad_request(e.message))?;
    let runner = StoreRunner::new(state);
    tally_query::engine::execute(&query, site.id, &DuckDb, &runner).map_err(ApiError::internal)
}

pub async fn query_v2(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let site_id = json.get("site_id").and_then(Value::as_str).map(str::to_string);
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let (_caller, site) = auth::authorize_stats(&st, &headers, site_id.as_deref(), true)?;
        run_v2(&st, &site, &json)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(result))
}
