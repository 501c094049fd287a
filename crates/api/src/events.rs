//! `POST /api/event`: Plausible's tracker protocol (platform.md §3).

use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;
use tally_ingest::request::parse_event_request;
use tally_ingest::Incoming;

pub async fn post_event(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let request = match parse_event_request(content_type, &body) {
        Ok(r) => r,
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, Json(e.body)).into_response();
        }
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let client_ip = tally_ingest::client_ip::client_ip(&headers, peer.ip());
    let ip_type = headers.get("x-plausible-ip-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let incoming = Incoming { request, user_agent, client_ip, ip_type, now: chrono::Utc::now().naive_utc() };
    let dropped = state.ingestor.ingest(&incoming).await;
    let mut resp = (StatusCode::ACCEPTED, "ok").into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if dropped > 0 {
        resp.headers_mut().insert("x-plausible-dropped", HeaderValue::from(dropped));
    }
    resp
}
