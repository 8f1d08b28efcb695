//! Errors as the HTTP API shows them:
//! `{"error": {"code", "type", "link", "message"}}`, plus any extra keys at
//! the top level (a batch's `rejected`, a rule file's `diagnostics`). The
//! code is an [`ErrorCode`], which also decides the status, type and link;
//! internal details are logged, never returned.

mod code;

pub use code::{ErrorCode, ErrorType};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tidings_model::message::MessageError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    /// What went wrong and what to do, for a person reading it.
    pub message: String,
    /// Keys added to the top level of the body beside `error`.
    pub extra: Option<serde_json::Value>,
    /// Seconds to wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), extra: None, retry_after: None }
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, message)
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, what)
    }
    /// Something failed on our side; the details go to the log.
    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "request failed");
        ApiError::new(ErrorCode::Internal, "the server could not complete the request; it is logged, retry later")
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unavailable, message)
    }
    /// The node could not do it for now (shutting down, the store failing):
    /// the cause goes to the log, the client is told to retry.
    pub fn busy(err: impl std::fmt::Display, what: &str) -> ApiError {
        tracing::error!(error = %err, "request failed: {what}");
        ApiError::new(ErrorCode::Unavailable, format!("{what}; retry later"))
    }
    /// Too many requests; try again in `seconds`.
    pub fn rate_limited(seconds: u64, message: impl Into<String>) -> ApiError {
        ApiError { retry_after: Some(seconds.max(1)), ..ApiError::new(ErrorCode::RateLimited, message) }
    }
    pub fn with(mut self, extra: serde_json::Value) -> ApiError {
        self.extra = Some(extra);
        self
    }
    /// The response status, which the code decides.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let c = self.code;
        let mut body = json!({"error": {
            "code": c.as_str(),
            "type": c.kind(),
            "link": c.link(),
            "message": self.message,
        }});
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) = (self.extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        let mut response = (c.status(), axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

impl From<tidings_store::StoreError> for ApiError {
    fn from(e: tidings_store::StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

/// A rejected ingest message: its code and its own words.
impl From<&MessageError> for ApiError {
    fn from(e: &MessageError) -> ApiError {
        ApiError::new(ErrorCode::from(e), e.to_string())
    }
}
