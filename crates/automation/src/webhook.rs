//! Journey webhooks: an HTTP POST of the step's context, at least once.
//!
//! A webhook step becomes a durable timer due at once (key `w:STEP_KEY`),
//! so a crash never loses it; firing it POSTs JSON with an
//! `Idempotency-Key` header (the step's key: the same on every retry, so the
//! receiver can drop repeats) and `X-Tidings-Signature: sha256=HEX`, an
//! HMAC-SHA256 of the body under the workspace's signing key. A 2xx is
//! recorded as `Webhook Called`; a 408, 429, 5xx or a connection failure is
//! retried with backoff (1, 2, 4 ... minutes, 8 attempts); anything else, or
//! the last failure, is recorded as `Webhook Failed`. Redirects are not
//! followed. The call is made on the runner's thread with a 10 s limit.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidings_model::Micros;
use tidings_model::time::MINUTE;

/// Attempts before giving up.
pub const ATTEMPTS: u32 = 8;
/// The longest a call may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A call to make, as its timer stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub url: String,
    /// The step's idempotency key.
    pub key: String,
    pub profile: i64,
    pub journey: String,
    pub step: String,
    /// The JSON body, fixed when the step ran.
    pub body: String,
    #[serde(default)]
    pub attempt: u32,
}

/// How a call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Called(u16),
    /// Worth another try: a 408, 429 or 5xx, or no answer.
    Retry(String),
    Failed(String),
}

/// When to try again after `attempt` (0-based) failed, if at all.
pub fn retry_at(attempt: u32, now: Micros) -> Option<Micros> {
    (attempt + 1 < ATTEMPTS).then(|| now + MINUTE * (1 << attempt.min(20)))
}

/// POSTs `call.body` to `call.url`, signed with `signature`.
pub fn post(agent: &ureq::Agent, call: &Call, signature: &str) -> Outcome {
    if !(call.url.starts_with("https://") || call.url.starts_with("http://")) {
        return Outcome::Failed(format!("{:?} is not an http(s) URL", call.url));
    }
    let result = agent
        .post(&call.url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &call.key)
        .header("X-Tidings-Signature", signature)
        .header("User-Agent", concat!("tidings/", env!("CARGO_PKG_VERSION")))
        .send(call.body.as_str());
    match result {
        Ok(r) => {
            let status = r.status().as_u16();
            match status {
                200..=299 => Outcome::Called(status),
                408 | 429 | 500..=599 => Outcome::Retry(format!("HTTP {status}")),
                _ => Outcome::Failed(format!("HTTP {status}")),
            }
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// The agent webhooks are called with.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops() {
        assert_eq!(retry_at(0, 0), Some(MINUTE));
        assert_eq!(retry_at(3, 0), Some(8 * MINUTE));
        assert_eq!(retry_at(ATTEMPTS - 1, 0), None);
    }
}
