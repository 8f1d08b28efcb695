//! What one client may cost the server: how long it may take to send a
//! request's head and body, how many connections it and everyone may hold,
//! how many failed keys it may try, how fast one write key may ingest. The
//! numbers are settings (`[server]` in tidings.toml); ARCHITECTURE.md's
//! security section lists them with their defaults.

use crate::error::{ApiError, ErrorCode};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The limits, with the defaults a public deployment should keep.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From a connection's first byte (or the end of its last response) to
    /// the end of a request head.
    pub header_timeout: Duration,
    /// From a request head to the end of its body.
    pub body_timeout: Duration,
    /// Connections open at once; 0: as many as the process may open files,
    /// less a reserve for the store. Beyond it the longest-idle one is closed.
    pub max_connections: usize,
    /// Connections one client address may hold; beyond it its own
    /// longest-idle one is closed.
    pub max_connections_per_client: usize,
    /// Requests refused for a missing or wrong key, per client address and
    /// minute, before the client is answered 429 for the rest of the minute.
    pub auth_failures_per_minute: u32,
    /// Ingest requests per second one write key may make (a burst of twice
    /// that is allowed); 0: no limit.
    pub ingest_requests_per_second: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 0,
            max_connections_per_client: 512,
            auth_failures_per_minute: 30,
            ingest_requests_per_second: 2_000,
        }
    }
}

/// Counts of what clients did, for the limits that need memory.
#[derive(Default)]
pub struct Counters {
    /// Failed keys per client address in the current minute.
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Token buckets of ingest per write key (by its hash).
    ingest: Mutex<HashMap<String, (Instant, f64)>>,
}

/// Entries kept before the old ones are swept.
const SWEEP_AT: usize = 10_000;

impl Counters {
    /// Seconds until `ip` may try again, when it has failed too often.
    fn blocked(&self, ip: IpAddr, per_minute: u32) -> Option<u64> {
        let f = self.failures.lock();
        let &(since, n) = f.get(&ip)?;
        let left = Duration::from_secs(60).checked_sub(since.elapsed())?;
        (n >= per_minute).then(|| left.as_secs() + 1)
    }

    fn failed(&self, ip: IpAddr) {
        let mut f = self.failures.lock();
        if f.len() >= SWEEP_AT {
            f.retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
        }
        let e = f.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= Duration::from_secs(60) {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }

    /// Takes one ingest request of `key` (its hash); `Err(seconds)` when the
    /// key is over its rate.
    pub fn ingest(&self, key: &str, per_second: u32) -> Result<(), u64> {
        if per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(per_second);
        let burst = rate * 2.0;
        let mut b = self.ingest.lock();
        if b.len() >= SWEEP_AT {
            b.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
        }
        let now = Instant::now();
        let (at, tokens) = b.entry(key.to_string()).or_insert((now, burst));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(1)
        }
    }
}

/// Answers a client that failed its key too often with 429 before anything
/// else runs, and counts every 401 it is given.
pub async fn auth_failures(State(app): State<crate::AppState>, request: Request, next: Next) -> Response {
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let per_minute = app.limits.auth_failures_per_minute;
    if let Some(ip) = ip
        && per_minute > 0
        && let Some(wait) = app.counters.blocked(ip, per_minute)
    {
        return ApiError::rate_limited(
            wait,
            format!("too many requests with a missing or wrong key from this address; retry in {wait} s"),
        )
        .into_response();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED
        && let Some(ip) = ip
    {
        app.counters.failed(ip);
    }
    response
}

/// Every error the framework answers by itself (a wrong method, a path or
/// query that does not parse, a body it refused) in the API's JSON shape,
/// with a code.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // HTML pages (tracking links, the preference center) and images answer as they are.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("image/"));
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_page {
        return response;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::RequestTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = match code {
        ErrorCode::MethodNotAllowed => "this path does not take that method; see docs/openapi.json".to_string(),
        ErrorCode::Internal => "the server could not complete the request; it is logged, retry later".to_string(),
        _ if said.is_empty() => status.canonical_reason().unwrap_or("refused").to_string(),
        _ => said,
    };
    let mut out = ApiError::new(code, message).into_response();
    *out.status_mut() = status;
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}
