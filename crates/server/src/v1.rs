//! The Segment HTTP Tracking API: `/v1/identify`, `track`, `page`, `screen`,
//! `group`, `alias`, `batch` (and `import`, Segment's other name for batch).

use crate::AppState;
use crate::auth::{basic_user, workspace_for};
use crate::body::read_text;
use crate::error::{ApiError, ErrorCode};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::atomic::Ordering::Relaxed;
use tidings_model::message::{
    Envelope, Message, MessageType, body_write_key, new_message_id, parse_batch, parse_message,
};
use tidings_model::{KeyKind, WorkspaceId};
use tidings_store::Outcome;

pub fn routes() -> Router<AppState> {
    let one = |t: MessageType| {
        post(move |State(app): State<AppState>, headers: HeaderMap, body: Body| ingest_one(app, headers, body, t))
    };
    Router::new()
        .route("/v1/identify", one(MessageType::Identify))
        .route("/v1/track", one(MessageType::Track))
        .route("/v1/page", one(MessageType::Page))
        .route("/v1/screen", one(MessageType::Screen))
        .route("/v1/group", one(MessageType::Group))
        .route("/v1/alias", one(MessageType::Alias))
        .route("/v1/batch", post(ingest_batch))
        .route("/v1/import", post(ingest_batch))
}

/// The write key's workspace, checked before the body is read when the key
/// is in the `Authorization` header, and the body's text.
async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
    key_in: impl FnOnce(&str) -> Option<String>,
) -> Result<(WorkspaceId, String), ApiError> {
    let header_key = basic_user(headers);
    let early = match &header_key {
        Some(k) => Some(workspace_for(app, Some(k.clone()), KeyKind::Write).await?),
        None => None,
    };
    let text = read_text(headers, body, app.limits.body_timeout).await?;
    let key = header_key.or_else(|| key_in(&text));
    let ws = match early {
        Some(ws) => ws,
        None => workspace_for(app, key.clone(), KeyKind::Write).await?,
    };
    // One write key cannot starve the others.
    if let Some(k) = &key
        && let Err(wait) = app.counters.ingest(&tidings_model::keys::hash(k), app.limits.ingest_requests_per_second)
    {
        return Err(ApiError::rate_limited(wait, "this write key sends faster than its ingest rate; retry shortly"));
    }
    Ok((ws, text))
}

async fn ingest_one(app: AppState, headers: HeaderMap, body: Body, kind: MessageType) -> Result<Json<Value>, ApiError> {
    app.metrics.requests.fetch_add(1, Relaxed);
    let (ws, text) = authorize(&app, &headers, body, body_write_key).await?;
    let env = Envelope { received_at: app.clock.now(), sent_at: None, default_type: Some(kind) };
    let msg = parse_message(&text, &env, &mut new_message_id).map_err(|e| {
        app.metrics.rejected.fetch_add(1, Relaxed);
        ApiError::from(&e)
    })?;
    let outcomes = append(&app, ws, vec![msg]).await?;
    Ok(Json(json!({"success": true, "duplicates": outcomes.duplicates})))
}

async fn ingest_batch(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    app.metrics.requests.fetch_add(1, Relaxed);
    let (ws, text) = authorize(&app, &headers, body, |t| parse_batch(t).ok().and_then(|raw| raw.write_key)).await?;
    let raw = parse_batch(&text).map_err(|e| ApiError::from(&e))?;
    let env = Envelope { received_at: app.clock.now(), sent_at: raw.sent_at.as_deref(), default_type: None };
    let items = raw.batch.unwrap_or_default();
    let mut good = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match parse_message(item.get(), &env, &mut new_message_id) {
            Ok(m) => good.push(m),
            Err(e) => rejected.push(json!({
                "index": index,
                "messageId": message_id_of(item.get()),
                "code": ErrorCode::from(&e).as_str(),
                "message": e.to_string(),
            })),
        }
    }
    app.metrics.rejected.fetch_add(rejected.len() as u64, Relaxed);
    if good.is_empty() && !rejected.is_empty() {
        let n = rejected.len();
        return Err(ApiError::new(ErrorCode::AllRejected, format!("all {n} messages were rejected; see `rejected`"))
            .with(json!({"rejected": rejected})));
    }
    let counts = append(&app, ws, good).await?;
    let mut resp = json!({"success": true, "stored": counts.stored, "duplicates": counts.duplicates});
    if !rejected.is_empty() {
        resp["rejected"] = Value::Array(rejected);
    }
    Ok(Json(resp))
}

fn message_id_of(text: &str) -> Value {
    serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("messageId").cloned()).unwrap_or(Value::Null)
}

struct Counts {
    stored: usize,
    duplicates: usize,
}

async fn append(app: &AppState, ws: WorkspaceId, messages: Vec<Message>) -> Result<Counts, ApiError> {
    if messages.is_empty() {
        return Ok(Counts { stored: 0, duplicates: 0 });
    }
    let outcomes = app.ingest.append(ws, messages).await.map_err(|e| {
        tracing::error!(error = %e, "append failed");
        ApiError::unavailable("the event log could not store the messages; nothing was stored, retry later")
    })?;
    let duplicates = outcomes.iter().filter(|o| **o == Outcome::Duplicate).count();
    let stored = outcomes.len() - duplicates;
    app.metrics.stored.fetch_add(stored as u64, Relaxed);
    app.metrics.duplicates.fetch_add(duplicates as u64, Relaxed);
    Ok(Counts { stored, duplicates })
}
