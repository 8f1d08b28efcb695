//! A 10,000-recipient journey against a real SMTP server, with the server
//! killed (SIGKILL) five times while it sends: afterwards every recipient has
//! exactly the messages the journey sends, and a message received twice is
//! the one in flight at a kill, with the same Message-ID. On SQLite and on
//! PostgreSQL.

use crate::{WRITE_KEY, free_addr, serve_with};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tidings_testkit::http::{Client, basic};
use tidings_testkit::services;

const RECIPIENTS: usize = 10_000;

/// What the test SMTP server (`tidings-delivery`'s `tests/smtp_server.py`) imports.
pub const PYTHON_MODULES: &[&str] = &["aiosmtpd"];

/// The test SMTP server of `tidings-delivery`, saving each message as DIR/NNNN.eml.
pub fn smtp_server(python: &str, dir: &Path) -> (Child, u16) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../delivery/tests/smtp_server.py");
    let mut child = Command::new(python)
        .args([script.to_str().unwrap(), "serve", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SMTP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("READY ").expect("READY <port>").parse().unwrap();
    (child, port)
}

/// A `/v1/batch` body: recipients `from..from + n` (up to [`RECIPIENTS`]), each
/// known by email and placing an order. Message ids are fixed, so a resend is a duplicate.
fn recipients(from: usize, n: usize) -> Vec<u8> {
    let batch: Vec<_> = (from..(from + n).min(RECIPIENTS))
        .flat_map(|i| {
            [
                serde_json::json!({"type": "identify", "userId": format!("u{i}"), "messageId": format!("id-{i}"),
                    "traits": {"email": format!("u{i}@example.com"), "first_name": format!("U{i}")}}),
                serde_json::json!({"type": "track", "userId": format!("u{i}"), "event": "Order Placed",
                    "messageId": format!("order-{i}")}),
            ]
        })
        .collect();
    serde_json::json!({"batch": batch}).to_string().into_bytes()
}

pub fn header<'a>(eml: &'a str, name: &str) -> Option<&'a str> {
    eml.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

pub fn a_journey_killed_five_times_sends_each_message_once_but_the_in_flight_one() {
    run(&[]);
}

pub fn on_postgres_a_journey_killed_five_times_sends_each_message_once_but_the_in_flight_one() {
    let schema = format!("journey_crash_{}", std::process::id());
    crate::drop_schema(&schema);
    let url = services::postgres_url();
    run(&[("TIDINGS_STORAGE__POSTGRES_URL", url.as_str()), ("TIDINGS_STORAGE__POSTGRES_SCHEMA", schema.as_str())]);
    crate::drop_schema(&schema);
}

fn run(env: &[(&str, &str)]) {
    let python = services::python(PYTHON_MODULES).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("received");
    std::fs::create_dir_all(&mail).unwrap();
    let (mut smtp, port) = smtp_server(&python, &mail);
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("journeys")).unwrap();
    std::fs::create_dir_all(data.join("templates")).unwrap();
    std::fs::write(
        data.join("tidings.toml"),
        // "process" durability: every commit survives the process being killed, which is what this test does.
        format!(
            "[storage]\ndurability = \"process\"\n[mail]\nfrom = \"Shop <shop@example.com>\"\nsmtp_url = \"smtp://127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        data.join("journeys/order_notes.toml"),
        "key = \"order_notes\"\n[trigger]\nevent = \"Order Placed\"\n\
         [[step]]\nid = \"confirm\"\nsend = \"note_a\"\n[[step]]\nwait = \"2s\"\n[[step]]\nid = \"follow\"\nsend = \"note_b\"\n",
    )
    .unwrap();
    for (name, subject) in [("note_a", "Your order"), ("note_b", "How is it going?")] {
        std::fs::write(
            data.join(format!("templates/{name}.html")),
            format!("---\nsubject: {subject}\nkind: transactional\n---\n<p>Hello {{{{ profile.first_name }}}}</p>\n"),
        )
        .unwrap();
    }

    // Recipients arrive while the server is killed and restarted five times.
    let mut next = 0usize;
    let mut server: Option<Child> = None;
    let mut addr = free_addr();
    for kill in 0..=5 {
        addr = free_addr();
        server = Some(serve_with(&data, addr, env));
        let mut c = Client::new(addr);
        let until = Instant::now() + Duration::from_millis(700);
        while next < RECIPIENTS && Instant::now() < until {
            match c.post("/v1/batch", Some(&basic(WRITE_KEY)), &recipients(next, 250)) {
                Ok(r) if r.status == 200 => next = (next + 250).min(RECIPIENTS),
                _ => break,
            }
        }
        if kill < 5 {
            std::thread::sleep(Duration::from_millis(300 + 200 * kill as u64));
            let mut s = server.take().unwrap();
            s.kill().unwrap(); // SIGKILL, mid-send
            s.wait().unwrap();
        }
    }
    // The last start also gets whatever recipients are left.
    let mut c = Client::new(addr);
    while next < RECIPIENTS {
        let r = c.post("/v1/batch", Some(&basic(WRITE_KEY)), &recipients(next, 500));
        assert_eq!(r.unwrap().status, 200);
        next = (next + 500).min(RECIPIENTS);
    }
    // Wait until every message is in and nothing more arrives.
    let count = || {
        std::fs::read_dir(&mail)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = (count(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let n = count();
        if n != last.0 {
            last = (n, Instant::now());
        } else if n >= 2 * RECIPIENTS && last.1.elapsed() > Duration::from_secs(4) {
            break;
        }
        let stalled = last.1.elapsed() > Duration::from_secs(60);
        assert!(Instant::now() < deadline && !stalled, "only {n} of {} messages arrived", 2 * RECIPIENTS);
    }
    let mut s = server.take().unwrap();
    s.kill().unwrap();
    s.wait().unwrap();
    smtp.kill().unwrap();
    smtp.wait().unwrap();

    // Per recipient: the Message-IDs received, and how often each.
    let mut got: BTreeMap<String, BTreeMap<String, (String, u32)>> = BTreeMap::new();
    for e in std::fs::read_dir(&mail).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let eml = std::fs::read_to_string(&p).unwrap();
        let to = header(&eml, "To").unwrap().to_string();
        let id = header(&eml, "Message-ID").unwrap().to_string();
        let subject = header(&eml, "Subject").unwrap().to_string();
        got.entry(to).or_default().entry(id).or_insert((subject, 0)).1 += 1;
    }
    assert_eq!(got.len(), RECIPIENTS, "every recipient got mail");
    let mut duplicates = 0;
    for (to, ids) in &got {
        let subjects: BTreeSet<&str> = ids.values().map(|(s, _)| s.as_str()).collect();
        assert_eq!(ids.len(), 2, "{to}: two distinct messages, got {ids:?}");
        assert_eq!(subjects, BTreeSet::from(["How is it going?", "Your order"]), "{to}");
        duplicates += ids.values().map(|(_, n)| n - 1).sum::<u32>();
    }
    // At most the messages in flight at each kill: one per delivery worker.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) as u32;
    assert!(duplicates <= 5 * workers, "{duplicates} duplicates for 5 kills");
    eprintln!(
        "journey crash test: {} messages, {duplicates} resent with the same Message-ID after 5 kills",
        2 * RECIPIENTS
    );
}
