//! The running node, as `tidings serve` runs it under the wall clock.

use parking_lot::Mutex;
use serde_json::json;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_delivery::{DeliveryError, OutgoingMessage, Receipt, Transport};
use tidings_model::message::{Envelope, parse_message};
use tidings_model::{Clock, WallClock};
use tidings_node::{Journeys, Node, Settings, TenantSettings};
use tidings_store::Store;
use tidings_store_sqlite::{Durability, Mode, SqliteStore};

#[derive(Default)]
struct Capture(Mutex<Vec<String>>);

impl Transport for Capture {
    fn send(&self, m: &OutgoingMessage) -> Result<Receipt, DeliveryError> {
        self.0.lock().push(m.message_id.clone());
        Ok(Receipt { detail: "250 ok".into(), delivered: true })
    }
}

/// A webhook receiver that answers 200 only when told to.
fn receiver() -> (u16, std::sync::mpsc::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        let _ = rx.recv();
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    (port, tx)
}

fn journeys(port: u16, capture: Arc<Capture>) -> Journeys {
    let (rules, _) = tidings_rules::check_workspace(&[], None);
    let files = [
        tidings_rules::SourceFile::new(
            "hook.toml",
            format!(
                "key = \"hook\"\n[trigger]\nevent = \"Plan Upgraded\"\n[[step]]\nid = \"tell\"\n\
                 webhook = {{ url = \"http://127.0.0.1:{port}/hook\" }}\n"
            ),
        ),
        tidings_rules::SourceFile::new(
            "receipt.toml",
            "key = \"receipt\"\n[trigger]\nevent = \"Order Completed\"\n[[step]]\nid = \"r\"\nsend = \"receipt\"\n",
        ),
    ];
    let (journeys, d) = tidings_journeys::check_journeys(&files, &rules, Some(&["receipt".to_string()]), None);
    assert!(!tidings_rules::has_errors(&d), "{d:?}");
    let src = tidings_render::TemplateSource::parse(
        "receipt.html",
        "---\nsubject: Your order\nkind: transactional\n---\n<p>Thanks</p>\n",
        None,
    )
    .unwrap();
    let template = tidings_render::Renderer::new(Default::default()).compile(&src).unwrap();
    let keys = tidings_render::SigningKeys::new(vec![b"a test signing key of 32 bytes!!".to_vec()]).unwrap();
    Journeys {
        assets: tidings_automation::Assets {
            rules: Arc::new(rules),
            journeys,
            templates: std::collections::HashMap::from([("receipt".to_string(), Arc::new(template))]),
            policy: Default::default(),
            default_tz: jiff::tz::TimeZone::UTC,
            audience: None,
        },
        sender: tidings_automation::Sender {
            from: tidings_render::Mailbox::new(None, "shop@example.com").unwrap(),
            envelope_from: None,
            tracking_base: "https://t.example.com".into(),
            keys: Arc::new(keys),
            dkim: None,
            message_id_domain: "example.com".into(),
        },
        transport: capture,
        webhooks: tidings_automation::webhook::Guard::allowing(["127.0.0.1".to_string()]),
    }
}

fn message(node: &Node, v: serde_json::Value) -> tidings_model::Message {
    let env = Envelope { received_at: node.clock().now(), sent_at: None, default_type: None };
    parse_message(&v.to_string(), &env, &mut tidings_model::message::new_message_id).unwrap()
}

/// A webhook receiver that takes its time delays no email: calls are made
/// off the runner's path (issue 16: an 8 s receiver once delayed a
/// transactional email from 0.2 s to 22.6 s).
#[test]
fn a_slow_webhook_receiver_delays_no_email() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Process).unwrap());
    let ws = store.create_workspace("shop", WallClock.now()).unwrap().id;
    let (port, answer) = receiver();
    let capture = Arc::new(Capture::default());
    let tenant = TenantSettings {
        workspace: ws,
        rules: None,
        default_tz: jiff::tz::TimeZone::UTC,
        journeys: Some(journeys(port, capture.clone())),
        topics: Vec::new(),
        definitions: None,
        predictions: None,
        signing: None,
    };
    let node = Node::start(
        Settings { tenants: vec![tenant], manual: false, cluster: None },
        store.clone(),
        Arc::new(WallClock),
    )
    .unwrap();
    let ingest = node.ingest().clone();
    let m = |v| message(&node, v);
    ingest
        .append_blocking(
            ws,
            vec![m(json!({"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}}))],
        )
        .unwrap();
    ingest.append_blocking(ws, vec![m(json!({"type": "track", "userId": "ada", "event": "Plan Upgraded"}))]).unwrap();
    // Let the runner hand the call over before the order comes in.
    std::thread::sleep(Duration::from_millis(500));
    ingest.append_blocking(ws, vec![m(json!({"type": "track", "userId": "ada", "event": "Order Completed"}))]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while capture.0.lock().is_empty() {
        assert!(Instant::now() < deadline, "the receipt waited for the webhook receiver");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The receiver has not answered yet; once it does, the call is recorded.
    let called = |s: &dyn Store| {
        let p = s.find_profile(ws, "ada").unwrap().unwrap();
        s.profile_history(ws, p.id).unwrap().iter().any(|e| e.event.as_deref() == Some("Webhook Called"))
    };
    assert!(!called(store.as_ref()));
    answer.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !called(store.as_ref()) {
        assert!(Instant::now() < deadline, "the webhook's outcome was never recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.pending_timers(ws).unwrap(), 0, "the call's timer is completed");
    node.shutdown();
}
