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
//! followed, and no proxy is used. With the wall clock the calls are made
//! by a pool of threads ([`Pool`]), off the runner's path; under a simulated
//! clock, in the runner's round.
//!
//! Calls never reach the server's own network unless allowed ([`Guard`]):
//! the host is resolved, and addresses in loopback, private, link-local
//! (cloud metadata at 169.254.169.254 among them), shared, multicast,
//! documentation and reserved ranges (and IPv4 inside IPv6 forms of them)
//! are refused; the connection goes to the addresses that passed, the same
//! lookup, so a name that resolves elsewhere at connect time (DNS
//! rebinding) cannot slip through. A refused address fails the call at
//! once (`Webhook Failed`), without retries. Receivers on an internal
//! network are named in `[webhooks] allow` (host, host:port or IP).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tidings_model::internal::WebhookOutcome;
use tidings_model::{Clock, Internal, ProfileId, Subject, WorkspaceId};
use tidings_render::SigningKeys;
use tidings_store::{NewTimer, Store, Timer};

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

/// Which receivers may be on the server's own network: `[webhooks] allow`.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Host names (lowercase), IP addresses, or either with `:port`.
    allow: Vec<String>,
}

impl Guard {
    /// Internal addresses allowed for these hosts (`hooks.internal`,
    /// `10.0.0.7`, `127.0.0.1:9000`, `[::1]:8080`).
    pub fn allowing(hosts: impl IntoIterator<Item = String>) -> Guard {
        Guard { allow: hosts.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect() }
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.allow.iter().any(|a| {
            let a = a.as_str();
            let bare = a.trim_start_matches('[');
            a == host
                || bare == format!("{host}]:{port}")
                || a == format!("{host}:{port}")
                || bare.trim_end_matches(']') == host
        })
    }
}

/// Whether an address is on a network no webhook may reach unless allowed:
/// this host, a private or link-local network, or a range not routed on
/// the internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
                return internal_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[..6] == [0; 6] // ::a.b.c.d (IPv4-compatible)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

/// Why a call was not made: the receiver is on an internal network.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves as usual, then keeps only the addresses the guard lets through.
#[derive(Debug)]
struct Resolve(Arc<Guard>);

impl ureq::unversioned::resolver::Resolver for Resolve {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let found = ureq::unversioned::resolver::DefaultResolver::default().resolve(uri, config, timeout)?;
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        if self.0.allows(host, port) {
            return Ok(found);
        }
        let mut kept = ureq::unversioned::resolver::DefaultResolver::default().empty();
        let mut refused = Vec::new();
        for &a in found.iter() {
            if is_internal(a.ip()) {
                refused.push(a.ip().to_string());
            } else {
                kept.push(a);
            }
        }
        if kept.is_empty() {
            return Err(ureq::Error::Other(Box::new(Refused(format!(
                "{host} resolves to {}, an internal address; webhooks may not call the server's own network \
                 unless [webhooks] allow names it",
                refused.join(", ")
            )))));
        }
        Ok(kept)
    }
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
        Err(ureq::Error::Other(e)) if e.is::<Refused>() => Outcome::Failed(e.to_string()),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// `X-Tidings-Signature`: `sha256=` and the HMAC-SHA256 of the body, in hex.
pub(crate) fn signature(keys: &SigningKeys, call: &Call) -> String {
    let mac = keys.mac(call.body.as_bytes());
    format!("sha256={}", mac.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// What follows from a call's outcome.
pub(crate) enum Concluded {
    /// Try again: the follow-up timer.
    Retry(NewTimer),
    /// Record `event` (`Webhook Called` / `Webhook Failed`) for `profile`, keyed by the step's `key`.
    Done { profile: ProfileId, key: String, event: Internal },
}

/// What a call's `outcome` at `now` leads to.
pub(crate) fn conclude(ws: WorkspaceId, mut call: Call, outcome: Outcome, now: Micros) -> Concluded {
    let (called, detail) = match outcome {
        Outcome::Called(status) => (true, format!("HTTP {status}")),
        Outcome::Retry(why) => match retry_at(call.attempt, now) {
            Some(at) => {
                tracing::info!(url = %call.url, attempt = call.attempt + 1, error = %why, "webhook failed; will retry");
                let key = format!("w:{}", call.key);
                call.attempt += 1;
                let profile = Some(ProfileId(call.profile));
                let payload = serde_json::to_string(&crate::journey::Wake::Webhook(call)).expect("a call encodes");
                return Concluded::Retry(NewTimer { workspace: ws, key, due_at: at, payload, profile });
            }
            None => (false, format!("{why} (after {} attempts)", call.attempt + 1)),
        },
        Outcome::Failed(why) => (false, why),
    };
    let w = WebhookOutcome {
        url: call.url,
        journey: call.journey,
        step: call.step,
        attempts: call.attempt + 1,
        result: detail,
    };
    let event = if called { Internal::WebhookCalled(w) } else { Internal::WebhookFailed(w) };
    Concluded::Done { profile: ProfileId(call.profile), key: call.key, event }
}

/// Threads that make webhook calls off the runner's path, so that a slow
/// receiver delays no email. The runner hands each due call over with its
/// claimed timer and does not complete the timer; a worker calls, records
/// the outcome (through the emitter) and completes the timer, with the
/// retry's follow-up if any, in one store call. A crash in between lets the
/// lease run out and the call is made again (at least once; the receiver
/// has the idempotency key).
pub(crate) struct Pool {
    tx: crossbeam_channel::Sender<(Timer, Call)>,
    /// Timers handed over and not yet completed, by id.
    in_flight: Arc<Mutex<HashSet<i64>>>,
}

/// Concurrent calls: a slow receiver holds one of them, not all.
const WORKERS: usize = 4;

/// What a pool's workers share.
pub(crate) struct PoolParts {
    pub store: Arc<dyn Store>,
    pub emitter: Arc<dyn crate::Emitter>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<SigningKeys>,
    pub agent: ureq::Agent,
    pub workspace: WorkspaceId,
}

impl Pool {
    pub(crate) fn start(parts: PoolParts) -> std::io::Result<Pool> {
        let (tx, rx) = crossbeam_channel::unbounded::<(Timer, Call)>();
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let parts = Arc::new(parts);
        for i in 0..WORKERS {
            let (rx, parts, in_flight) = (rx.clone(), parts.clone(), in_flight.clone());
            std::thread::Builder::new().name(format!("webhooks-{}-{i}", parts.workspace.0)).spawn(move || {
                for (timer, call) in rx {
                    let id = timer.id;
                    if let Err(e) = make(&parts, timer, call) {
                        tracing::error!(error = %e, "a webhook's outcome could not be recorded; it is retried when its lease ends");
                    }
                    in_flight.lock().remove(&id);
                }
            })?;
        }
        Ok(Pool { tx, in_flight })
    }

    /// Hands a claimed timer's call over; `false` when it is already in a worker's hands.
    pub(crate) fn submit(&self, timer: Timer, call: Call) -> bool {
        if !self.in_flight.lock().insert(timer.id) {
            return false;
        }
        let id = timer.id;
        if self.tx.send((timer, call)).is_err() {
            self.in_flight.lock().remove(&id);
            return false;
        }
        true
    }
}

fn make(p: &PoolParts, timer: Timer, call: Call) -> crate::Result<()> {
    let outcome = post(&p.agent, &call, &signature(&p.keys, &call));
    let now = p.clock.now();
    match conclude(p.workspace, call, outcome, now) {
        Concluded::Retry(next) => p.store.complete_timers(&[timer], &[next])?,
        Concluded::Done { profile, key, event } => {
            if let Some(prof) = p.store.profile(p.workspace, profile)? {
                let who = Subject::profile(prof.user_id.as_deref(), prof.anonymous_ids.first().map(String::as_str));
                if let Some(m) = crate::runner_message(who, event, &key, now) {
                    p.emitter.emit(p.workspace, vec![m]).map_err(crate::AutomationError::Emit)?;
                }
            }
            p.store.complete_timers(&[timer], &[])?;
        }
    }
    Ok(())
}

/// The agent webhooks are called with: the guard's resolver, no redirects,
/// no proxy, a time limit.
pub fn agent(guard: Arc<Guard>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .build();
    ureq::Agent::with_parts(config, ureq::unversioned::transport::DefaultConnector::new(), Resolve(guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_known_in_every_form() {
        for internal in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "172.32.0.1"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
        let g = Guard::allowing(["hooks.internal".into(), "127.0.0.1:9000".into(), "[::1]:8080".into()]);
        assert!(g.allows("hooks.internal", 443));
        assert!(g.allows("127.0.0.1", 9000));
        assert!(!g.allows("127.0.0.1", 9001));
        assert!(g.allows("[::1]", 8080));
        assert!(!g.allows("localhost", 80));
    }

    #[test]
    fn calls_to_the_servers_own_network_fail_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let call = |url: String| Call {
            url,
            key: "k".into(),
            profile: 1,
            journey: "j".into(),
            step: "s".into(),
            body: "{}".into(),
            attempt: 0,
        };
        let guarded = agent(Arc::new(Guard::default()));
        for url in
            [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/"), format!("http://[::1]:{port}/")]
        {
            match post(&guarded, &call(url.clone()), "sha256=x") {
                Outcome::Failed(why) => assert!(why.contains("internal address"), "{url}: {why}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn backoff_doubles_and_stops() {
        assert_eq!(retry_at(0, 0), Some(MINUTE));
        assert_eq!(retry_at(3, 0), Some(8 * MINUTE));
        assert_eq!(retry_at(ATTEMPTS - 1, 0), None);
    }
}
