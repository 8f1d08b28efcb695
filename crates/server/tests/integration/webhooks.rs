//! Webhook steps: called at least once with a stable idempotency key and a
//! signature a receiver can check; retried on 5xx, recorded either way.

use crate::journeys::{START, Shop};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use tidings_model::time::{MINUTE, format_time};

/// One request the receiver got: its headers (lowercase names) and body.
type Got = (Vec<(String, String)>, String);

/// An HTTP receiver answering with `statuses` in turn (the last one from then on).
fn receiver(statuses: Vec<u16>) -> (u16, Arc<Mutex<Vec<Got>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
            let len: usize = headers.iter().find(|h| h.0 == "content-length").map_or(0, |h| h.1.parse().unwrap());
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let n = {
                let mut g = log.lock();
                g.push((headers, String::from_utf8(body).unwrap()));
                g.len()
            };
            let status = statuses[(n - 1).min(statuses.len() - 1)];
            let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}

fn journey(port: u16, path: &str) -> String {
    format!(
        "key = \"hook\"\n[trigger]\nevent = \"Plan Upgraded\"\n[[step]]\nid = \"tell_crm\"\nwebhook = {{ url = \"http://127.0.0.1:{port}{path}\" }}\n"
    )
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.0.iter().find(|h| h.0 == name).map_or("", |h| h.1.as_str())
}

#[test]
fn a_webhook_is_retried_after_a_503_with_the_same_key_and_a_valid_signature() {
    let (port, got) = receiver(vec![503, 200]);
    let text = journey(port, "/hooks/crm");
    let mut shop = Shop::with_journeys(&[("hook.toml", &text)]);
    shop.person("ada", true, "UTC", START);
    shop.run(START + 10 * MINUTE, 5 * MINUTE, |s, t| {
        if t == START + 5 * MINUTE {
            s.track("ada", "Plan Upgraded", json!({"plan": "pro"}), t);
        }
    });
    let calls = got.lock().clone();
    assert_eq!(calls.len(), 2, "a 503, then a retry a minute later: {calls:?}");
    assert_eq!(header(&calls[0], "idempotency-key"), header(&calls[1], "idempotency-key"));
    assert_eq!(calls[0].1, calls[1].1, "the same body on every attempt");
    let body: Value = serde_json::from_str(&calls[1].1).unwrap();
    assert_eq!(body["journey"], "hook");
    assert_eq!(body["step"], "tell_crm");
    assert_eq!(body["profile"]["user_id"], "ada");
    assert_eq!(body["profile"]["traits"]["email"], "ada@example.com");
    assert_eq!(body["event"]["properties"]["plan"], "pro");
    // An independent HMAC-SHA256 of the body under the workspace's key.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"a test signing key of 32 bytes!!").unwrap();
    mac.update(calls[1].1.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(header(&calls[1], "x-tidings-signature"), format!("sha256={hex}"));
    // Recorded once, in the profile's history.
    let p = shop.store.find_profile(shop.ws, "ada").unwrap().unwrap();
    let events = shop.store.profile_history(shop.ws, p.id).unwrap();
    let called: Vec<_> = events.iter().filter(|e| e.event.as_deref() == Some("Webhook Called")).collect();
    assert_eq!(called.len(), 1);
    let props = &called[0].to_json()["properties"];
    assert_eq!((props["attempts"].as_u64(), props["result"].as_str()), (Some(2), Some("HTTP 200")), "{props}");
    assert!(called[0].timestamp >= START + 6 * MINUTE, "{}", format_time(called[0].timestamp));
}

#[test]
fn a_webhook_refused_with_a_404_is_recorded_as_failed_at_once() {
    let (port, got) = receiver(vec![404]);
    let text = journey(port, "/gone");
    let mut shop = Shop::with_journeys(&[("hook.toml", &text)]);
    shop.person("bob", true, "UTC", START);
    shop.run(START + 30 * MINUTE, 5 * MINUTE, |s, t| {
        if t == START + 5 * MINUTE {
            s.track("bob", "Plan Upgraded", json!({}), t);
        }
    });
    assert_eq!(got.lock().len(), 1, "a 404 is not retried");
    let p = shop.store.find_profile(shop.ws, "bob").unwrap().unwrap();
    let failed: Vec<Value> = shop
        .store
        .profile_history(shop.ws, p.id)
        .unwrap()
        .iter()
        .filter(|e| e.event.as_deref() == Some("Webhook Failed"))
        .map(|e| e.to_json()["properties"].clone())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["result"], "HTTP 404");
}
