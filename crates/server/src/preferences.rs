//! The preference center (`/p/TOKEN`, linked from every marketing email):
//! a person chooses the topics they want, how often (`email_frequency`:
//! usual, weekly, monthly), or stops all marketing email.
//!
//! The link's token (HMAC-signed, naming the recipient) is the only
//! credential. The form is protected against cross-site posting by a signed
//! double-submit token: the GET sets a random `SameSite=Strict` cookie and
//! puts `HMAC(key, cookie, link token)` in the form; a POST is honoured only
//! when both come back and agree. A refused POST changes nothing.
//!
//! Every change is recorded in the person's history with its time and
//! `source: "preference-center"`, so the engine's `subscribed [to "TOPIC"]`
//! and the send policies see it at once:
//! - a topic turned off: `Unsubscribed` with that `topic`;
//! - a topic turned back on (or any save after a full unsubscribe): the
//!   `marketing_consent` trait set to true (consent given again, with
//!   `marketing_consent_source`), then an
//!   `Unsubscribed` for each topic still off, a microsecond later;
//! - a frequency: the `email_frequency` trait;
//! - "stop all": `Unsubscribed` without a topic.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tidings_automation::Segments as _;
use tidings_journeys::policy::Frequency;
use tidings_model::Internal;
use tidings_render::escape_html;
use tidings_render::tokens::{Action, Claims};
use tidings_rules::{Condition, Span, Subscribed};

use crate::AppState;
use crate::track::{claims, record_messages, refused};

const COOKIE: &str = "tidings_prefs";
const SOURCE: &str = "preference-center";

pub fn routes() -> Router<AppState> {
    Router::new().route("/p/{token}", get(page).post(save))
}

/// What the person has chosen, as of now.
#[derive(Debug, Clone, PartialEq)]
struct Choices {
    /// `subscribed`: may receive any marketing email.
    subscribed: bool,
    /// Each known topic and whether `subscribed to` it holds.
    topics: Vec<(String, bool)>,
    frequency: Frequency,
}

/// The person's choices as the engine has them, once it has taken in the
/// log through `after` (what a save just recorded).
async fn current(app: &AppState, c: &Claims, after: Option<i64>) -> Option<Choices> {
    let (ws, pid) = (c.workspace, c.profile);
    let tenant = app.tenant(ws)?.clone();
    let topics = tenant.topics.clone();
    crate::blocking(app, move |s| {
        let Some(profile) = s.profile(ws, pid)? else { return Ok(None) };
        let live = &tenant.live;
        if let Some(seq) = after {
            live.caught_up(seq);
        }
        let holds = |topic: Option<&String>| {
            let rule = Condition::Subscribed(Subscribed { topic: topic.cloned(), span: Span::default() });
            live.holds(pid, &rule).unwrap_or(false)
        };
        Ok(Some(Choices {
            subscribed: holds(None),
            topics: topics.iter().map(|t| (t.clone(), holds(Some(t)))).collect(),
            frequency: Frequency::from_trait(profile.traits.values.get(Frequency::TRAIT)),
        }))
    })
    .await
    .ok()
    .flatten()
}

fn preferences_claims(app: &AppState, token: &str) -> Option<Claims> {
    claims(app, token).filter(|c| matches!(c.action, Action::Preferences))
}

fn form_token(app: &AppState, cookie: &str, token: &str) -> Option<String> {
    let keys = app.signing_for(tidings_render::tokens::claimed_workspace(token)?)?;
    Some(URL_SAFE_NO_PAD.encode(keys.mac(format!("prefs|{cookie}|{token}").as_bytes())))
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')).map(str::to_string))
}

fn label(topic: &str) -> String {
    let mut s = topic.replace(['_', '-'], " ");
    if let Some(first) = s.get(..1) {
        s.replace_range(..1, &first.to_uppercase());
    }
    s
}

fn render(token: &str, csrf: &str, choices: &Choices, notice: Option<&str>) -> String {
    let mut topics = String::new();
    for (t, on) in &choices.topics {
        topics.push_str(&format!(
            "<label><input type=checkbox name=topic value=\"{}\"{}> {}</label><br>",
            escape_html(t),
            if *on && choices.subscribed { " checked" } else { "" },
            escape_html(&label(t))
        ));
    }
    if topics.is_empty() {
        topics.push_str("<p>All our marketing email.</p>");
    }
    let mut frequency = String::new();
    for (f, text) in [
        (Frequency::Usual, "As often as there is something for me"),
        (Frequency::Weekly, "At most one email a week"),
        (Frequency::Monthly, "At most one email a month"),
    ] {
        frequency.push_str(&format!(
            "<label><input type=radio name=frequency value={}{}> {text}</label><br>",
            f.as_str(),
            if f == choices.frequency { " checked" } else { "" }
        ));
    }
    let status = if choices.subscribed {
        ""
    } else {
        "<p><strong>You receive no marketing email now.</strong> Choose topics and save to receive them again.</p>"
    };
    let notice = notice.map(|n| format!("<p role=status>{}</p>", escape_html(n))).unwrap_or_default();
    format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Email preferences</title><h1>Email preferences</h1>{notice}{status}\
         <form method=post action=\"/p/{token}\"><input type=hidden name=csrf value=\"{csrf}\">\
         <fieldset><legend>Topics</legend>{topics}</fieldset>\
         <fieldset><legend>How often</legend>{frequency}</fieldset>\
         <p><button type=submit name=action value=save>Save</button></p>\
         <p><button type=submit name=action value=unsubscribe_all>Stop all marketing email</button></p></form>\
         <p><small>Receipts and other messages about your orders always reach you.</small></p>"
    )
}

fn html_page(status: StatusCode, body: String, cookie: Option<&str>) -> Response {
    let mut r = (status, Html(body)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("a valid header"));
    if let Some(c) = cookie
        && let Ok(v) = format!("{COOKIE}={c}; Path=/p/; HttpOnly; SameSite=Strict; Max-Age=86400").parse()
    {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

async fn page(State(app): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let Some(c) = preferences_claims(&app, &token) else { return refused() };
    let Some(choices) = current(&app, &c, None).await else { return refused() };
    // Keep the cookie of an earlier visit, so two open tabs both work.
    let cookie = cookie_value(&headers)
        .filter(|v| v.len() == 22 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .unwrap_or_else(|| URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()));
    let Some(csrf) = form_token(&app, &cookie, &token) else { return refused() };
    html_page(StatusCode::OK, render(&token, &csrf, &choices, None), Some(&cookie))
}

fn forbidden() -> Response {
    html_page(
        StatusCode::FORBIDDEN,
        "<!doctype html><meta charset=utf-8><title>Not saved</title><h1>Not saved</h1>\
         <p>This form expired or was sent from another site, so nothing was changed. \
         Open the preferences link in your email again.</p>"
            .into(),
        None,
    )
}

async fn save(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: axum::body::Body,
) -> Response {
    let Some(c) = preferences_claims(&app, &token) else { return refused() };
    let limit = crate::api::MAX_ADMIN_BODY;
    let Ok(body) =
        crate::body::read_bytes(&headers, body, limit, app.limits.body_timeout, crate::ErrorCode::TooLarge).await
    else {
        return (StatusCode::BAD_REQUEST, Html("<!doctype html><p>The form could not be read.</p>")).into_response();
    };
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return (StatusCode::BAD_REQUEST, Html("<!doctype html><p>The form could not be read.</p>")).into_response();
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // A browser says when a request comes from another site; so does a missing cookie.
    let cross_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
    let (Some(cookie), Some(sent), Some(keys)) = (cookie_value(&headers), field("csrf"), app.signing_for(c.workspace))
    else {
        return forbidden();
    };
    let Ok(tag) = URL_SAFE_NO_PAD.decode(sent) else { return forbidden() };
    if cross_site || !keys.check_mac(format!("prefs|{cookie}|{token}").as_bytes(), &tag) {
        return forbidden();
    }
    let Some(before) = current(&app, &c, None).await else { return refused() };
    let now = app.clock.now();
    let unsubscribe = |topic: Option<&str>, at: i64| {
        let e = Internal::Unsubscribed {
            source: SOURCE.into(),
            message_id: c.message.clone(),
            topic: topic.map(str::to_string),
        };
        (e, at)
    };
    let identify = |traits: Value| {
        let traits = match traits {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        (Internal::Traits(traits), now)
    };
    let mut messages = Vec::new();
    let notice = if field("action") == Some("unsubscribe_all") {
        if before.subscribed {
            messages.push(unsubscribe(None, now));
        }
        "You will receive no more marketing email."
    } else {
        let chosen: Vec<&str> = fields.iter().filter(|(k, _)| k == "topic").map(|(_, v)| v.as_str()).collect();
        let wanted = |t: &str| chosen.contains(&t);
        let re_enabled = !before.subscribed || before.topics.iter().any(|(t, on)| !on && wanted(t));
        if re_enabled {
            // Consent given again here; the topics left off end a microsecond later.
            messages.push(identify(json!({"marketing_consent": true, "marketing_consent_source": SOURCE})));
            for (t, _) in before.topics.iter().filter(|(t, _)| !wanted(t)) {
                messages.push(unsubscribe(Some(t), now + 1));
            }
        } else {
            for (t, _) in before.topics.iter().filter(|(t, on)| *on && !wanted(t)) {
                messages.push(unsubscribe(Some(t), now));
            }
        }
        let frequency = field("frequency").map_or(Frequency::Usual, Frequency::parse);
        if frequency != before.frequency {
            messages.push(identify(json!({ Frequency::TRAIT: frequency.as_str() })));
        }
        "Your preferences are saved."
    };
    let mut recorded = None;
    if !messages.is_empty() {
        match record_messages(&app, &c, messages).await {
            Ok(seq) => recorded = seq,
            Err(e) => {
                tracing::error!(error = %e, "could not record preference changes");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Html("<!doctype html><p>Nothing was saved; please try again.</p>"),
                )
                    .into_response();
            }
        }
    }
    let Some(after) = current(&app, &c, recorded).await else { return refused() };
    let csrf = form_token(&app, &cookie, &token).unwrap_or_default();
    html_page(StatusCode::OK, render(&token, &csrf, &after, Some(notice)), None)
}
