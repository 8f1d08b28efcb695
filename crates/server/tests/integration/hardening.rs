//! No client can stall the server, crash it or starve the others (issue
//! 16), on a real socket, with small limits so that the tests are quick.

use crate::Server;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tidings_server::Limits;
use tidings_testkit::http::{basic, bearer};

fn quick() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(700),
        body_timeout: Duration::from_millis(700),
        max_connections: 80,
        max_connections_per_client: 60,
        auth_failures_per_minute: 10,
        ingest_requests_per_second: 20,
    }
}

/// Whether the server has closed `s` (a read sees the end, or an error).
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn healthz_answers(s: &Server) -> bool {
    s.client().get("/healthz", None).is_ok_and(|r| r.status == 200)
}

#[test]
fn heads_that_never_finish_are_dropped() {
    let s = Server::start_limited(Limits { max_connections: 500, max_connections_per_client: 500, ..quick() });
    let mut open: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow:").unwrap();
            c
        })
        .collect();
    assert!(healthz_answers(&s), "the server answers while they stall");
    std::thread::sleep(Duration::from_millis(1_500));
    let still = open.iter_mut().map(closed).filter(|c| !c).count();
    assert_eq!(still, 0, "every stalled head was closed after the header timeout");
}

#[test]
fn idle_connections_cannot_keep_a_health_check_out() {
    let s = Server::start_limited(quick());
    // More idle sockets than the server may hold, all from this address.
    let idle: Vec<TcpStream> = (0..150).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert!(healthz_answers(&s), "a new request is answered, the longest-idle connection makes room");
    assert!(t.elapsed() < Duration::from_millis(500), "at once, not after the idle ones time out");
    drop(idle);
}

#[test]
fn a_body_is_read_only_after_its_key_and_only_for_so_long() {
    let s = Server::start_limited(quick());
    let head = |auth: Option<&str>, length: usize| {
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        format!(
            "POST /v1/batch HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let status = |c: &mut TcpStream| {
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = c.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
    };
    // A wrong key declaring 100 MB: refused at once, nothing read.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(head(Some(&basic("tdw_wrong")), 100_000_000).as_bytes()).unwrap();
    let t = Instant::now();
    assert!(status(&mut c).contains("401"), "the key is checked before the body");
    assert!(t.elapsed() < Duration::from_millis(500));
    // No key in a header, 100 MB declared: over the limit before reading.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(head(None, 100_000_000).as_bytes()).unwrap();
    assert!(status(&mut c).contains("413"));
    // The right key, a body that stops halfway: 408 once the body time is up.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(head(Some(&basic(&s.write)), 1_000).as_bytes()).unwrap();
    c.write_all(b"{\"batch\": [").unwrap();
    let t = Instant::now();
    let line = status(&mut c);
    assert!(line.contains("408"), "{line}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(s.events_stored(), 0);
}

#[test]
fn every_error_is_json_with_a_code() {
    let s = Server::start_live("segment all { did \"E\" }\n");
    let mut c = s.client();
    // A 10 MB rule file: refused as soon as its length is known, in JSON.
    let mut raw = TcpStream::connect(s.addr).unwrap();
    let head = format!(
        "PUT /api/definitions/big.rules HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        bearer(&s.admin),
        10 * 1024 * 1024
    );
    raw.write_all(head.as_bytes()).unwrap();
    let _ = raw.write_all(&vec![b'#'; 64 * 1024]);
    raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "{answer}");
    // The framework's own refusals.
    let r = c.request("DELETE", "/v1/track", Some(&basic(&s.write)), &[], b"").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed", "{}", r.text());
    let r = c.get("/api/segments/all/members?limit=lots", Some(&bearer(&s.admin))).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request", "{}", r.text());
    assert!(r.json()["error"]["message"].as_str().is_some_and(|m| m.contains("limit")), "{}", r.text());
}

#[test]
fn repeated_failures_and_floods_are_answered_429() {
    let s = Server::start_limited(quick());
    let mut c = s.client();
    for _ in 0..10 {
        assert_eq!(c.get("/api/stats", Some(&bearer("tda_guess"))).unwrap().status, 401);
    }
    let r = c.get("/api/stats", Some(&bearer(&s.admin))).unwrap();
    assert_eq!(r.status, 429, "even a good key, from this address, for the rest of the minute");
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    let wait: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    let s = Server::start_limited(quick());
    let mut c = s.client();
    let body = json!({"userId": "u", "event": "E"}).to_string();
    let statuses: Vec<u16> =
        (0..60).map(|_| c.post("/v1/track", Some(&basic(&s.write)), body.as_bytes()).unwrap().status).collect();
    assert!(statuses[..40].iter().all(|&st| st == 200), "the burst is allowed: {statuses:?}");
    let limited = statuses.iter().filter(|&&st| st == 429).count();
    assert!(limited > 0, "beyond its rate a key waits: {statuses:?}");
}
