//! The admin API (`/api/*`), authorized by a workspace's admin key
//! (`Authorization: Bearer ...`).

use crate::auth::{bearer, workspace_for};
use crate::error::ApiError;
use crate::{AppState, blocking};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tidings_model::time::{format_time, parse_time};
use tidings_model::{KeyKind, WorkspaceId};

/// The most events one page returns.
pub const MAX_EVENTS_PAGE: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/profiles/{user_id}", get(profile))
        .route("/api/profiles/{user_id}/events", get(profile_events))
        .route("/api/profiles/{user_id}/messages", get(profile_messages))
        .route("/api/stats", get(stats))
}

async fn admin(app: &AppState, headers: &HeaderMap) -> Result<WorkspaceId, ApiError> {
    workspace_for(app, bearer(headers), KeyKind::Admin).await
}

fn no_profile(user_id: &str) -> ApiError {
    ApiError::not_found(format!("no profile with user id or anonymous id {user_id:?} in this workspace"))
}

async fn profile(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let id = user_id.clone();
    let found = blocking(&app, move |s| {
        let Some(p) = s.find_profile(ws, &id)? else { return Ok(None) };
        let bounds = s.activity_bounds(ws, p.id)?;
        Ok(Some((p, bounds)))
    })
    .await?;
    let (p, bounds) = found.ok_or_else(|| no_profile(&user_id))?;
    let traits: serde_json::Map<String, Value> = p.traits.values.clone().into_iter().collect();
    Ok(Json(json!({
        "user_id": p.user_id,
        "user_ids": p.user_ids,
        "anonymous_ids": p.anonymous_ids,
        "traits": traits,
        "created_at": format_time(p.created_at),
        "first_seen": bounds.map(|b| format_time(b.0)),
        "last_seen": bounds.map(|b| format_time(b.1)),
    })))
}

#[derive(Deserialize)]
struct EventsQuery {
    limit: Option<usize>,
    before: Option<String>,
}

/// A page cursor: the (timestamp, seq) of the last event returned.
fn parse_cursor(s: &str) -> Option<(i64, i64)> {
    let (ts, seq) = s.split_once('_')?;
    Some((ts.parse().ok()?, seq.parse().ok()?))
}

async fn profile_events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_EVENTS_PAGE {
        return Err(ApiError::bad_request("bad_limit", format!("limit must be 1..={MAX_EVENTS_PAGE}")));
    }
    let before = match q.before.as_deref() {
        None => None,
        Some(c) => Some(parse_cursor(c).or_else(|| parse_time(c).map(|t| (t, i64::MAX))).ok_or_else(|| {
            ApiError::bad_request("bad_cursor", "`before` must be a `next_cursor` from an earlier page or a time")
        })?),
    };
    let id = user_id.clone();
    let events = blocking(&app, move |s| {
        let Some(p) = s.find_profile(ws, &id)? else { return Ok(None) };
        s.profile_events(ws, p.id, before, limit + 1).map(Some)
    })
    .await?
    .ok_or_else(|| no_profile(&user_id))?;
    let more = events.len() > limit;
    let page = &events[..events.len().min(limit)];
    let next = if more { page.last().map(|e| format!("{}_{}", e.timestamp, e.seq)) } else { None };
    Ok(Json(json!({
        "events": page.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

async fn stats(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let st = blocking(&app, move |s| s.stats(ws)).await?;
    Ok(Json(json!({"events": st.events, "profiles": st.profiles, "last_seq": st.last_seq})))
}

/// Everything about a profile's email: the messages in the outbox (sent,
/// pending, failed), the policy decisions ("why was this not sent?") and
/// its journey instances.
async fn profile_messages(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let id = user_id.clone();
    let found = blocking(&app, move |s| {
        let Some(p) = s.find_profile(ws, &id)? else { return Ok(None) };
        let outbox = s.outbox_for_profile(ws, p.id, 200)?;
        let decisions = s.decisions_for_profile(ws, p.id, 200)?;
        let instances = s.instances_for_profile(ws, p.id)?;
        Ok(Some((outbox, decisions, instances)))
    })
    .await?;
    let (outbox, decisions, instances) = found.ok_or_else(|| no_profile(&user_id))?;
    let t = |m: Option<i64>| m.map(format_time);
    Ok(Json(json!({
        "messages": outbox.iter().map(|m| json!({
            "message_id": m.message_id,
            "template": m.template,
            "kind": m.kind,
            "source": m.source,
            "status": m.status,
            "attempts": m.attempts,
            "created_at": format_time(m.created_at),
            "not_before": format_time(m.not_before),
            "sent_at": t(m.sent_at),
            "detail": m.detail,
        })).collect::<Vec<_>>(),
        "decisions": decisions.iter().map(|d| json!({
            "key": d.key, "at": format_time(d.at), "decision": d.decision, "reason": d.reason,
        })).collect::<Vec<_>>(),
        "journeys": instances.iter().map(|i| json!({
            "journey": i.journey,
            "entry": i.entry,
            "entry_key": i.entry_key,
            "entered_at": format_time(i.entered_at),
            "done": i.done,
            "state": serde_json::from_str::<Value>(&i.state).unwrap_or(Value::Null),
        })).collect::<Vec<_>>(),
    })))
}
