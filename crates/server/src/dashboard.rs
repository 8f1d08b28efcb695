//! The stakeholder dashboard: `GET /dashboard` (a static page),
//! `/dashboard.js` and `/dashboard.css`. The page needs no key; its script
//! reads the admin API (`/api/report`, `/api/segments`, `/api/signals`,
//! `/api/stats`) with the admin key the user pastes or passes in the URL
//! fragment (`#key=...`, which browsers never send to a server), keeps it in
//! `sessionStorage` and draws the charts as inline SVG.
//!
//! Everything is compiled into the binary and served from this origin; the
//! Content Security Policy allows nothing else (no inline script, no inline
//! style, no third-party origin), so data shown on the page (segment names,
//! event names) can never run as code even if the script had a bug that put
//! it into markup.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// The page's Content Security Policy: its own script, style and API only;
/// `data:` images for the inline favicon.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                       img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(page)).route("/dashboard.js", get(script)).route("/dashboard.css", get(style))
}

/// A static asset with the headers every dashboard file carries. The files
/// change only with the binary, so a browser revalidates rather than caches.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
    ];
    (headers, body).into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
