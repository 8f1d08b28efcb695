//! The admin API (`/api/*`), authorized by a workspace's admin key
//! (`Authorization: Bearer ...`).

use crate::auth::{bearer, workspace_for};
use crate::error::{ApiError, ErrorCode};
use crate::{AppState, blocking, peers};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
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
        .route("/api/segments", get(segments))
        .route("/api/segments/{key}", get(segment))
        .route("/api/segments/{key}/members", get(segment_members))
        .route("/api/segments/{key}/explain/{user_id}", get(segment_explain))
        .route("/api/journeys/{key}/enter", axum::routing::post(journey_enter))
        .route("/api/broadcasts", axum::routing::post(broadcast_plan))
        .route("/api/report", get(report))
        .route("/api/signals", get(signals))
        .route("/api/learnings", get(learnings).post(add_learning))
}

/// A positive duration parameter (`5d`, `72h`), or a 400 with `code` naming it.
fn duration(name: &str, text: &str, code: ErrorCode) -> Result<tidings_model::Micros, ApiError> {
    tidings_journeys::definition::parse_duration(text)
        .filter(|&d| d > 0)
        .ok_or_else(|| ApiError::new(code, format!("{name} {text:?} is not a duration like 5d or 72h")))
}

#[derive(Deserialize)]
struct SignalsQuery {
    as_of: Option<String>,
    lookback: Option<String>,
    horizon: Option<String>,
    outcome: Option<String>,
    min_lift: Option<f64>,
}

/// `GET /api/signals?lookback=30d&horizon=7d&outcome=Order%20Completed&as_of=T&min_lift=0.1`.
async fn signals(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignalsQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let lookback = duration("lookback", q.lookback.as_deref().unwrap_or("30d"), ErrorCode::InvalidWindow)?;
    let horizon = duration("horizon", q.horizon.as_deref().unwrap_or("7d"), ErrorCode::InvalidWindow)?;
    let as_of = match q.as_of {
        None => app.clock.now(),
        Some(t) => tidings_model::time::parse_time(&t).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidTime,
                format!("as_of {t:?} is not an RFC 3339 time like 2026-03-01T00:00:00Z"),
            )
        })?,
    };
    let mut options = tidings_insights::signals::SignalOptions::default();
    if let Some(l) = q.min_lift {
        if !(l > 0.0 && l.is_finite()) {
            return Err(ApiError::new(ErrorCode::InvalidMinLift, "min_lift is a relative lift above 0, like 0.1"));
        }
        options.min_relative_lift = l;
    }
    let query = tidings_insights_log::SignalQuery {
        as_of,
        lookback,
        horizon,
        outcome: q.outcome.unwrap_or_else(|| "Order Completed".into()),
        options,
    };
    let v = blocking(&app, move |s| tidings_insights_log::signal_report(s, ws, &query)).await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
struct LearningsQuery {
    q: Option<String>,
}

/// `GET /api/learnings?q=WORDS`: the learnings log, newest first, those
/// with every word somewhere in their text when `q` is given.
async fn learnings(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LearningsQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let mut all = blocking(&app, move |s| tidings_store::learnings::load(s, ws)).await?;
    if let Some(q) = q.q.as_deref().filter(|q| !q.trim().is_empty()) {
        all.retain(|l| l.matches(q));
    }
    all.reverse();
    Ok(Json(json!({"learnings": all})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLearning {
    experiment: String,
    #[serde(default)]
    journey: Option<String>,
    #[serde(default)]
    hypothesis: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    metric: Option<String>,
    result: String,
    decision: String,
    /// A variation (a split's step id) to roll out to everyone outside the holdout.
    #[serde(default)]
    winner: Option<String>,
}

/// `POST /api/learnings`: concludes an experiment by hand (what was
/// learned and decided); with `winner`, journeys roll it out within the
/// hour. An experiment is concluded once: a second time is `409`.
async fn add_learning(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let ws = admin(&app, &headers).await?;
    let body = admin_body(&app, &headers, body).await?;
    let n: NewLearning = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("line {} column {}: {e}", e.line(), e.column())))?;
    for (field, value) in [("experiment", &n.experiment), ("result", &n.result), ("decision", &n.decision)] {
        if value.trim().is_empty() {
            return Err(ApiError::new(ErrorCode::MissingField, format!("\"{field}\" must not be empty")));
        }
    }
    let entry = tidings_store::learnings::Learning {
        experiment: n.experiment,
        journey: n.journey,
        hypothesis: n.hypothesis,
        segment: n.segment,
        metric: n.metric.unwrap_or_else(|| "Order Completed".into()),
        result: n.result,
        decision: n.decision,
        winner: n.winner,
        concluded_at: app.clock.now(),
        source: "manual".into(),
        details: Value::Null,
    };
    let stored = entry.clone();
    if !blocking(&app, move |s| tidings_store::learnings::append(s, ws, stored)).await? {
        return Err(ApiError::new(
            ErrorCode::AlreadyConcluded,
            format!("experiment {:?} is already in the learnings log; GET /api/learnings shows it", entry.experiment),
        ));
    }
    Ok((axum::http::StatusCode::CREATED, Json(serde_json::to_value(entry).unwrap_or_default())))
}

#[derive(Deserialize)]
struct ReportQuery {
    window: Option<String>,
}

/// `GET /api/report?window=5d`: the tables of `tidings report`, as JSON.
async fn report(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let text = q.window.unwrap_or_else(|| "5d".into());
    let window = duration("window", &text, ErrorCode::InvalidWindow)?;
    let out = blocking(&app, move |s| tidings_insights_log::email_outcomes(s, ws, window)).await?;
    let mut v = out.to_json();
    v["window"] = Value::String(text);
    Ok(Json(v))
}

/// `POST /api/broadcasts`: plans a one-off send of `template` to everyone
/// `audience` (a rule-language condition) holds for at `at` (default now),
/// optionally at each person's best hour within `best_hour_within` and at
/// most `per_hour` an hour. The plan is a durable timer; `name` is its key,
/// so planning it again moves it and never sends anybody a second copy.
async fn broadcast_plan(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let ws = admin(&app, &headers).await?;
    let body = admin_body(&app, &headers, body).await?;
    if app.tenant(ws).is_some_and(|t| t.live.cluster().is_some()) {
        return Err(ApiError::new(
            ErrorCode::SingleNodeOnly,
            "this node is one of several sharing the database, and a broadcast would reach only the people of \
             its partitions: plan it while one node runs",
        ));
    }
    let Some(templates) = app.tenant(ws).and_then(|t| t.templates.clone()) else {
        return Err(ApiError::not_found(
            "journeys are not running on this server (no journeys/*.toml), so nothing would send a broadcast",
        ));
    };
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("line {} column {}: {e}", e.line(), e.column())))?;
    let text = |k: &str| req.get(k).and_then(Value::as_str);
    let name = text("name").unwrap_or("");
    if !tidings_rules::is_valid_key(name) {
        return Err(ApiError::new(
            ErrorCode::InvalidName,
            "\"name\" must be a key: lowercase letters, digits and _ (e.g. \"spring_sale\")",
        ));
    }
    let unknown = |template: &str| {
        ApiError::new(
            ErrorCode::UnknownTemplate,
            format!("no template {template:?}; these exist: {}", templates.join(", ")),
        )
    };
    let variants: Vec<tidings_journeys::broadcast::Variant> = match req.get("variants") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidVariants,
                format!("\"variants\": {e}; give [{{\"name\": \"a\", \"template\": \"...\", \"percent\": 45}}, ...]"),
            )
        })?,
    };
    let holdout = match req.get("holdout") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n < 100 => Some(n as u32),
            _ => return Err(ApiError::new(ErrorCode::InvalidHoldout, "\"holdout\" is a whole percent below 100")),
        },
    };
    for v in &variants {
        if !templates.contains(&v.template) {
            return Err(unknown(&v.template));
        }
    }
    let template = match (text("template"), variants.first()) {
        (Some(t), _) => t.to_string(),
        (None, Some(v)) => v.template.clone(),
        (None, None) => String::new(),
    };
    if !templates.contains(&template) {
        return Err(unknown(&template));
    }
    let audience = text("audience").unwrap_or("");
    let condition = tidings_rules::parse_condition(audience)
        .map_err(|e| ApiError::new(ErrorCode::InvalidAudience, format!("\"audience\": {e}")))?;
    if let Some(live) = app.tenant(ws).map(|t| &t.live) {
        let diags = live.rules().check_condition(&condition, "audience", None);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(ApiError::new(ErrorCode::InvalidAudience, format!("\"audience\": {}", d.message)));
        }
    }
    let now = app.clock.now();
    let at = match text("at") {
        None => now,
        Some(t) => parse_time(t).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidAt,
                format!("\"at\" {t:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z"),
            )
        })?,
    };
    let best_hour_within = match text("best_hour_within") {
        None => None,
        Some(d) => Some(duration("\"best_hour_within\"", d, ErrorCode::InvalidDuration)?),
    };
    let per_hour = match req.get("per_hour") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 && n <= u64::from(u32::MAX) => Some(n as u32),
            _ => return Err(ApiError::new(ErrorCode::InvalidPerHour, "\"per_hour\" must be a positive whole number")),
        },
    };
    let options = tidings_journeys::BroadcastOptions { best_hour_within, per_hour, variants, holdout };
    options.check_split().map_err(|e| ApiError::new(ErrorCode::InvalidVariants, e))?;
    let plan =
        tidings_journeys::BroadcastPlan { name: name.to_string(), template, audience: audience.to_string(), options };
    let timer = tidings_store::NewTimer {
        workspace: ws,
        key: plan.timer_key(),
        due_at: at,
        payload: plan.timer_payload(),
        profile: None,
    };
    blocking(&app, move |s| s.schedule_timers(&[timer])).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({
            "name": plan.name, "template": plan.template, "audience": plan.audience, "at": format_time(at),
            "best_hour_within": text("best_hour_within"), "per_hour": per_hour,
            "variants": plan.options.variants, "holdout": plan.options.holdout,
        })),
    ))
}

/// `POST /api/journeys/KEY/enter` with `{"userId": ...}` (or `anonymousId`)
/// and optional `properties`: records a `Journey Entry Requested` event in
/// the profile's history; the runner starts the journey from the log, so the
/// request is as durable as any event and is never started twice.
async fn journey_enter(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: axum::body::Body,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let ws = admin(&app, &headers).await?;
    let body = admin_body(&app, &headers, body).await?;
    match app.tenant(ws).and_then(|t| t.api_journeys.as_ref()) {
        None => return Err(ApiError::not_found("journeys are not running on this server (no journeys/*.toml)")),
        Some(keys) if !keys.contains(&key) => {
            return Err(ApiError::not_found(format!(
                "no journey {key:?} with an `api = true` trigger; these have one: {}",
                keys.join(", ")
            )));
        }
        Some(_) => {}
    }
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("line {} column {}: {e}", e.line(), e.column())))?;
    let user_id = req.get("userId").and_then(Value::as_str);
    let anonymous_id = req.get("anonymousId").and_then(Value::as_str);
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(ApiError::new(ErrorCode::MissingId, "give \"userId\" or \"anonymousId\" of the profile to enter"));
    }
    let properties = match req.get("properties") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::new(ErrorCode::InvalidProperties, "\"properties\" must be an object")),
    };
    let now = app.clock.now();
    let who = tidings_model::Subject { user_id, anonymous_id };
    let m = tidings_model::Internal::JourneyEntryRequested { journey: key.clone(), properties }
        .into_message(who, tidings_model::message::new_message_id(), now, now, "tidings-api")
        .map_err(|e| ApiError::new(ErrorCode::InvalidMessage, e.to_string()))?;
    let id = m.message_id.clone();
    app.ingest
        .append(ws, vec![m])
        .await
        .map_err(|e| ApiError::busy(e, "the entry could not be recorded, nothing was stored"))?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(json!({"accepted": true, "journey": key, "messageId": id}))))
}

/// The most an admin request's JSON body may hold.
pub const MAX_ADMIN_BODY: usize = 64 * 1024;

/// An admin request's body, read after its key was checked.
async fn admin_body(app: &AppState, headers: &HeaderMap, body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    crate::body::read_bytes(headers, body, MAX_ADMIN_BODY, app.limits.body_timeout, ErrorCode::TooLarge).await
}

pub(crate) async fn admin(app: &AppState, headers: &HeaderMap) -> Result<WorkspaceId, ApiError> {
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
        return Err(ApiError::new(ErrorCode::BadLimit, format!("limit must be 1..={MAX_EVENTS_PAGE}")));
    }
    let before = match q.before.as_deref() {
        None => None,
        Some(c) => Some(parse_cursor(c).or_else(|| parse_time(c).map(|t| (t, i64::MAX))).ok_or_else(|| {
            ApiError::new(ErrorCode::BadCursor, "`before` must be a `next_cursor` from an earlier page or a time")
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
    let mut out = json!({"events": st.events, "profiles": st.profiles, "last_seq": st.last_seq});
    if let Some(live) = app.tenant(ws).and_then(|t| t.segments().cloned()) {
        out["engine_applied"] = json!(live.applied());
    }
    Ok(Json(out))
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

/// The workspace's live engine, when it has segment definitions.
fn live(app: &AppState, ws: WorkspaceId) -> Result<Arc<tidings_node::Live>, ApiError> {
    app.tenant(ws).and_then(|t| t.segments().cloned()).ok_or_else(|| {
        ApiError::not_found("this server has no segment definitions; add *.rules files to the data folder and restart")
    })
}

fn no_segment(key: &str) -> ApiError {
    ApiError::not_found(format!("no segment {key:?}; GET /api/segments lists them"))
}

#[derive(Deserialize)]
struct ScopeQuery {
    scope: Option<String>,
}

/// Adds what a node among several covers to its own answer, or, for the
/// request a client made, the other nodes' answers to it (see [`peers`]):
/// `fold` adds one other node's answer into `local`.
#[allow(clippy::too_many_arguments)]
async fn across_nodes(
    app: &AppState,
    live: &tidings_node::Live,
    ws: WorkspaceId,
    headers: &HeaderMap,
    scope: Option<&str>,
    path_and_query: String,
    mut local: Value,
    mut fold: impl FnMut(&mut Value, &Value),
) -> Result<Value, ApiError> {
    let Some((node, mine)) = peers::covering(app, live, ws) else { return Ok(local) };
    if peers::local_only(scope) {
        local["node"] = json!(node);
        local["partitions"] = json!(mine);
        return Ok(local);
    }
    let answers = peers::ask_others(app, live, headers, path_and_query).await?;
    for a in &answers {
        fold(&mut local, a);
    }
    let (covered, missing) = peers::coverage(&mine, &answers);
    local["nodes"] = json!(answers.len() + 1);
    local["complete"] = json!(missing.is_empty());
    local["partitions_covered"] = json!(covered.len());
    local["missing_partitions"] = json!(missing);
    Ok(local)
}

/// Adds `other[field]` (a number) into `into[field]`.
fn add_size(into: &mut Value, other: &Value, field: &str) {
    let sum = into[field].as_u64().unwrap_or(0) + other[field].as_u64().unwrap_or(0);
    into[field] = json!(sum);
}

async fn segments(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ScopeQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let live = live(&app, ws)?;
    let local = segment_sizes(&live);
    let merged = across_nodes(&app, &live, ws, &headers, q.scope.as_deref(), "/api/segments".into(), local, |l, o| {
        for (i, s) in l["segments"].as_array_mut().into_iter().flatten().enumerate() {
            if let Some(other) = o["segments"].as_array().and_then(|v| v.get(i)).filter(|x| x["key"] == s["key"]) {
                add_size(s, other, "size");
            }
        }
        for (i, set) in l["stage_sets"].as_array_mut().into_iter().flatten().enumerate() {
            let Some(other) = o["stage_sets"].as_array().and_then(|v| v.get(i)).filter(|x| x["key"] == set["key"])
            else {
                continue;
            };
            for (j, st) in set["stages"].as_array_mut().into_iter().flatten().enumerate() {
                if let Some(os) = other["stages"].as_array().and_then(|v| v.get(j)).filter(|x| x["name"] == st["name"])
                {
                    add_size(st, os, "size");
                }
            }
        }
    })
    .await?;
    Ok(Json(merged))
}

/// The sizes of every segment and stage, as this node's engine holds them.
fn segment_sizes(live: &tidings_node::Live) -> Value {
    let rules = live.rules();
    let engine = live.engine.read();
    let segments: Vec<Value> = rules
        .segments()
        .map(|s| {
            json!({
                "key": s.key,
                "name": s.display_name,
                "size": engine.members(&s.key).map_or(0, |b| b.len()),
            })
        })
        .collect();
    let stage_sets: Vec<Value> = rules
        .stage_sets()
        .map(|set| {
            json!({
                "key": set.key,
                "stages": set.stages.iter().map(|st| json!({
                    "name": st.name,
                    "size": engine.stage_members(&set.key, &st.name).map_or(0, |b| b.len()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let rebuilding = live.progress.running().map(|(done, total)| json!({"done": done, "total": total}));
    json!({"segments": segments, "stage_sets": stage_sets, "rebuilding": rebuilding})
}

async fn segment(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let live = live(&app, ws)?;
    let rules = live.rules();
    let Some(s) = rules.segment(&key) else { return Err(no_segment(&key)) };
    let size = live.engine.read().members(&key).map_or(0, |b| b.len());
    let recent: Vec<tidings_node::RecentChange> =
        live.recent.lock().get(&key).map(|q| q.iter().rev().cloned().collect()).unwrap_or_default();
    let local = json!({
        "key": s.key,
        "name": s.display_name,
        "definition": format!("{}", tidings_rules::Definition::Segment(s.clone())),
        "rule": serde_json::to_value(&s.condition).unwrap_or(Value::Null),
        "size": size,
        "recent_changes": recent,
    });
    let path = format!("/api/segments/{}", percent(&key));
    let mut merged = across_nodes(&app, &live, ws, &headers, q.scope.as_deref(), path, local, |l, o| {
        add_size(l, o, "size");
        if let (Some(mine), Some(theirs)) = (l["recent_changes"].as_array_mut(), o["recent_changes"].as_array()) {
            mine.extend(theirs.iter().cloned());
        }
    })
    .await?;
    // Newest first across nodes (times are RFC 3339 in UTC, so they sort as text).
    if let Some(changes) = merged["recent_changes"].as_array_mut() {
        changes.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
        changes.truncate(100);
    }
    Ok(Json(merged))
}

/// A path segment with everything but unreserved characters percent-encoded.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct MembersQuery {
    cursor: Option<u32>,
    limit: Option<usize>,
    scope: Option<String>,
}

async fn segment_members(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<MembersQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let live = live(&app, ws)?;
    if live.rules().segment(&key).is_none() {
        return Err(no_segment(&key));
    }
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_EVENTS_PAGE {
        return Err(ApiError::new(ErrorCode::BadLimit, format!("limit must be 1..={MAX_EVENTS_PAGE}")));
    }
    let after = q.cursor.unwrap_or(0);
    let page: Vec<u32> = {
        let engine = live.engine.read();
        let Some(b) = engine.members(&key) else { return Err(no_segment(&key)) };
        b.iter().filter(|&p| q.cursor.is_none() || p > after).take(limit + 1).collect()
    };
    let more = page.len() > limit;
    let page = page[..page.len().min(limit)].to_vec();
    let next = if more { page.last().copied() } else { None };
    let ids = page.clone();
    let profiles = blocking(&app, move |s| {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(p) = s.profile(ws, tidings_model::ProfileId(i64::from(id)))? {
                out.push(json!({"profile_id": id, "user_id": p.user_id, "anonymous_ids": p.anonymous_ids}));
            }
        }
        Ok(out)
    })
    .await?;
    let local = json!({"members": profiles, "next_cursor": next.map(|c| c.to_string())});
    if live.cluster().is_none() {
        return Ok(Json(local));
    }
    // Several nodes: each gives its first `limit` after the cursor; the
    // union's first `limit` by profile id is the page.
    let mut path = format!("/api/segments/{}/members?limit={limit}", percent(&key));
    if let Some(c) = q.cursor {
        path.push_str(&format!("&cursor={c}"));
    }
    let mut more = more;
    let mut merged = across_nodes(&app, &live, ws, &headers, q.scope.as_deref(), path, local, |l, o| {
        more |= o["next_cursor"].is_string();
        if let (Some(mine), Some(theirs)) = (l["members"].as_array_mut(), o["members"].as_array()) {
            mine.extend(theirs.iter().cloned());
        }
    })
    .await?;
    if !peers::local_only(q.scope.as_deref()) {
        let members = merged["members"].as_array_mut().expect("members is a list");
        members.sort_by_key(|m| m["profile_id"].as_u64());
        more |= members.len() > limit;
        members.truncate(limit);
        let last = members.last().and_then(|m| m["profile_id"].as_u64());
        merged["next_cursor"] = json!(if more { last.map(|c| c.to_string()) } else { None });
    }
    Ok(Json(merged))
}

async fn segment_explain(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((key, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ws = admin(&app, &headers).await?;
    let live = live(&app, ws)?;
    if live.rules().get(&key).is_none() {
        return Err(no_segment(&key));
    }
    let id = user_id.clone();
    let history = blocking(&app, move |s| {
        let Some(p) = s.find_profile(ws, &id)? else { return Ok(None) };
        s.profile_history(ws, p.id).map(Some)
    })
    .await?
    .ok_or_else(|| no_profile(&user_id))?;
    let input = tidings_engine::ProfileInput::from_stored(&history);
    let now = app.clock.now();
    let e =
        tidings_engine::explain(&live.rules(), &key, &input, now, &live.default_tz).ok_or_else(|| no_segment(&key))?;
    Ok(Json(json!({"as_of": format_time(now), "explanation": e, "text": e.to_string()})))
}
