//! Plausible's error shape: `{"error": "<message>"}` with the status that goes with it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, m)
    }
    pub fn payment_required(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYMENT_REQUIRED, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, m)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            let hash = format!("{:x}", rand::random::<u64>());
            return (self.status, Json(json!({"error": self.message, "support_hash": hash}))).into_response();
        }
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

impl From<tally_store::ConfigError> for ApiError {
    fn from(e: tally_store::ConfigError) -> Self {
        match e {
            tally_store::ConfigError::NotFound => ApiError::not_found("not found"),
            tally_store::ConfigError::Conflict(m) => ApiError::conflict(m),
            tally_store::ConfigError::Invalid(m) => ApiError::bad_request(m),
            tally_store::ConfigError::Db(m) => ApiError::internal(m),
        }
    }
}

impl From<tally_store::StoreError> for ApiError {
    fn from(e: tally_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
