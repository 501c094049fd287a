//! Tally's HTTP room: axum routers, authorization, rate limits, plan gates and Plausible's error shapes.
//! Handlers stay thin: they parse, authorize, and hand over to ingestion or the query engine.

pub mod admin;
pub mod auth;
pub mod error;
pub mod events;
pub mod goals;
pub mod ratelimit;
pub mod sites;
pub mod state;
pub mod stats;
pub mod stats_v1;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
pub use state::{AppState, Settings, SharedState};
use tower_http::cors::CorsLayer;

/// Every route of the server.
pub fn router(state: SharedState) -> Router {
    let event = Router::new()
        .route("/api/event", post(events::post_event))
        .layer(DefaultBodyLimit::max(2 * 1024 * 1024))
        .layer(CorsLayer::very_permissive());
    Router::new()
        .route("/api/health", get(health))
        .merge(sites::router())
        .route("/api/v2/query", post(stats::query_v2))
        .route("/api/v1/stats/realtime/visitors", get(stats_v1::realtime_visitors))
        .route("/api/v1/stats/aggregate", get(stats_v1::aggregate))
        .route("/api/v1/stats/timeseries", get(stats_v1::timeseries))
        .route("/api/v1/stats/breakdown", get(stats_v1::breakdown))
        .merge(admin::router(state.clone()))
        .layer(DefaultBodyLimit::max(512 * 1024 * 1024))
        .merge(event)
        .fallback(not_found)
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "Not found"})))
}
