//! Keys: write keys ingest (HTTP Basic user name, or `writeKey` in the body);
//! admin keys use the admin API (`Authorization: Bearer`). A key belongs to
//! one workspace, and everything it reaches is scoped to that workspace.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::http::{HeaderMap, header};
use base64::Engine;
use tidings_model::{KeyKind, WorkspaceId, keys};

/// The user name of an HTTP Basic `Authorization` header.
pub fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split(':').next().unwrap_or("");
    (!user.is_empty()).then(|| user.to_string())
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

/// The workspace a key opens for `kind`, or the reason it opens nothing.
pub async fn workspace_for(app: &AppState, key: Option<String>, kind: KeyKind) -> Result<WorkspaceId, ApiError> {
    let Some(key) = key else {
        app.metrics.unauthorized.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::unauthorized(match kind {
            KeyKind::Write => {
                "missing write key: send it as the HTTP Basic user name (empty password) or as `writeKey`"
            }
            KeyKind::Admin => "missing admin key: send `Authorization: Bearer ADMIN_KEY`",
        }));
    };
    let store = app.store.clone();
    let hash = keys::hash(&key);
    let found = tokio::task::spawn_blocking(move || store.find_key(&hash)).await.map_err(ApiError::internal)??;
    match found {
        Some(k) if k.kind == kind => Ok(k.workspace),
        Some(_) if kind == KeyKind::Admin => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this is a write key, which can only ingest; the admin API needs an admin key",
        )),
        Some(_) => {
            Err(ApiError::new(ErrorCode::Forbidden, "this is an admin key; send events with the workspace's write key"))
        }
        None => {
            app.metrics.unauthorized.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(ApiError::unauthorized("unknown or revoked key; `tidings keys list` shows the workspace's keys"))
        }
    }
}
