//! The public links in every email: click tracking (`/t/c/TOKEN`), the open
//! pixel (`/t/o/TOKEN`), one-click unsubscribe (`/u/TOKEN`, RFC 8058) and
//! the preference center (`/p/TOKEN`, in [`crate::preferences`]).
//! Tokens are HMAC-signed by the renderer and name the workspace, message,
//! recipient and (for clicks) the URL; nothing here redirects anywhere but
//! to a URL that was signed. What happens comes back as events in the
//! profile's history: `Email Clicked`, `Email Opened`, `Unsubscribed`.
//!
//! Open pixels fetched by mail-privacy proxies (Apple Mail Privacy
//! Protection, Gmail's image proxy, Yahoo's) are recorded with
//! `machine: true`, so open rates can leave them out.

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tidings_model::{Internal, Subject};
use tidings_render::tokens::{Action, Claims};

/// A transparent 1x1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// User agents of proxies that fetch images for the reader (and so open every mail).
const MACHINE_AGENTS: &[&str] =
    &["GoogleImageProxy", "YahooMailProxy", "Apple-Mail-Privacy", "ggpht.com", "Feedfetcher"];

/// An open this soon after delivery is a prefetch (Apple Mail Privacy
/// Protection loads every image within seconds), not a person reading.
const MACHINE_OPEN_WITHIN: tidings_model::Micros = 60 * tidings_model::time::SECOND;

/// When the message was sent to the profile, from its recent outbox rows.
fn delivered_at(
    s: &dyn tidings_store::Store,
    ws: tidings_model::WorkspaceId,
    pid: tidings_model::ProfileId,
    message: &str,
) -> tidings_store::Result<Option<tidings_model::Micros>> {
    Ok(s.outbox_for_profile(ws, pid, 100)?.into_iter().find(|r| r.message_id == message).and_then(|r| r.sent_at))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/c/{token}", get(click))
        .route("/t/o/{token}", get(open))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .merge(crate::preferences::routes())
}

pub(crate) fn refused() -> Response {
    // The same answer for every bad token: a client learns nothing about why.
    (StatusCode::NOT_FOUND, Html("<!doctype html><title>Link not found</title><p>This link is not valid.</p>"))
        .into_response()
}

pub(crate) fn claims(app: &AppState, token: &str) -> Option<Claims> {
    let keys = app.signing_for(tidings_render::tokens::claimed_workspace(token)?)?;
    keys.verify(token).ok()
}

/// Records `event` for the token's recipient; errors are logged, the reader still gets their page.
async fn record(app: &AppState, c: &Claims, event: Internal) {
    let name = event.name();
    if let Err(e) = record_messages(app, c, vec![(event, app.clock.now())]).await {
        tracing::error!(error = %e, event = name, "could not record a tracked event");
    }
}

/// Why a tracked event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("a signed link names profile {0}, which is gone")]
    Gone(i64),
    #[error(transparent)]
    Message(#[from] tidings_model::MessageError),
    #[error(transparent)]
    Ingest(#[from] tidings_node::IngestError),
}

/// Appends `events` (each with its time) for the token's recipient, in one
/// durable batch: all of them or none. Returns the newest log position stored.
pub(crate) async fn record_messages(
    app: &AppState,
    c: &Claims,
    events: Vec<(Internal, tidings_model::Micros)>,
) -> Result<Option<i64>, RecordError> {
    let (ws, pid) = (c.workspace, c.profile);
    let ids =
        crate::blocking(app, move |s| Ok(s.profile(ws, pid)?.map(|p| (p.user_id, p.anonymous_ids.first().cloned()))))
            .await;
    let Ok(Some((user_id, anonymous_id))) = ids else {
        return Err(RecordError::Gone(c.profile.0));
    };
    let received = app.clock.now();
    let who = Subject::profile(user_id.as_deref(), anonymous_id.as_deref());
    let mut messages = Vec::with_capacity(events.len());
    for (e, at) in events {
        messages.push(e.into_message(who, tidings_model::message::new_message_id(), at, received, "tidings-links")?);
    }
    let outcomes = app.ingest.append(ws, messages).await?;
    Ok(outcomes
        .iter()
        .filter_map(|o| match o {
            tidings_store::Outcome::Stored { seq, .. } => Some(*seq),
            tidings_store::Outcome::Duplicate => None,
        })
        .max())
}

async fn click(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(c) = claims(&app, &token) else { return refused() };
    let Action::Click { link, url } = &c.action else { return refused() };
    // Only http(s) targets are ever followed, whatever was signed.
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return refused();
    }
    let clicked = Internal::EmailClicked { message_id: c.message.clone(), link: *link, url: url.clone() };
    record(&app, &c, clicked).await;
    (StatusCode::FOUND, [(header::LOCATION, url.clone()), (header::CACHE_CONTROL, "no-store".into())], "")
        .into_response()
}

async fn open(State(app): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let gif = || {
        ([(header::CONTENT_TYPE, "image/gif"), (header::CACHE_CONTROL, "no-store, max-age=0")], PIXEL).into_response()
    };
    let Some(c) = claims(&app, &token) else { return gif() };
    if !matches!(c.action, Action::Open) {
        return gif();
    }
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let reason = if MACHINE_AGENTS.iter().any(|m| agent.contains(m)) {
        Some("a mail-privacy proxy's user agent")
    } else {
        let (ws, pid, message) = (c.workspace, c.profile, c.message.clone());
        let delivered = crate::blocking(&app, move |s| delivered_at(s, ws, pid, &message)).await.ok().flatten();
        let now = app.clock.now();
        delivered.filter(|&d| now >= d && now - d < MACHINE_OPEN_WITHIN).map(|_| "seconds after delivery (a prefetch)")
    };
    let opened = Internal::EmailOpened {
        message_id: c.message.clone(),
        machine: reason.is_some(),
        machine_reason: reason.map(str::to_string),
        user_agent: agent,
    };
    record(&app, &c, opened).await;
    gif()
}

async fn unsubscribe_page(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    // A GET only asks: link scanners follow links, and must not unsubscribe anyone.
    let Some(c) = claims(&app, &token) else { return refused() };
    if !matches!(c.action, Action::Unsubscribe) {
        return refused();
    }
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Unsubscribe</title>\
         <p>Stop receiving these emails?</p>\
         <form method=post action=\"/u/{token}\"><input type=hidden name=List-Unsubscribe value=One-Click>\
         <button type=submit>Unsubscribe</button></form>"
    ))
    .into_response()
}

async fn unsubscribe(State(app): State<AppState>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some(c) = claims(&app, &token) else { return Ok(refused()) };
    if !matches!(c.action, Action::Unsubscribe) {
        return Ok(refused());
    }
    let unsubscribed =
        Internal::Unsubscribed { source: "one-click".into(), message_id: c.message.clone(), topic: None };
    record(&app, &c, unsubscribed).await;
    Ok(Html("<!doctype html><meta charset=utf-8><title>Unsubscribed</title><p>You are unsubscribed.</p>")
        .into_response())
}
