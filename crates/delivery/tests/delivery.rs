//! Delivery against a real SMTP server (aiosmtpd, started per test by
//! `tests/smtp_server.py`), with every received message checked by an
//! independent implementation: Python's `email` package for MIME and
//! dkimpy for the DKIM signature.
//!
//! The tests that need python3 with aiosmtpd and dkimpy (Debian packages
//! python3-aiosmtpd and python3-dkim; TIDINGS_PYTHON names another
//! interpreter) say they were skipped when those are missing, except under
//! CI (CI=true), where they fail.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::{Map, Value, json};
use tidings_delivery::*;
use tidings_model::{Clock, ProfileId, SimClock, WorkspaceId};
use tidings_render::{
    Context, Email, Envelope, Mailbox, Product, ProfileContext, Renderer, SigningKeys, TemplateSource, personalize,
};

const NOW: i64 = 1_767_261_600_000_000;
const BASE: &str = "https://t.shop.example";

const TEMPLATE: &str = "---
subject: \"{{ profile.first_name }}, your {{ recommendations.viewed[0].name }} is waiting\"
preheader: Still thinking it over?
topic: cart
---
<mjml><mj-body><mj-section><mj-column>
<mj-text><p>Hi {{ profile.first_name }}, you looked at <a href=\"{{ recommendations.viewed[0].url }}\">{{ recommendations.viewed[0].name }}</a>
for {{ recommendations.viewed[0].price | money: 'EUR' }}. {{ profile.note }}</p></mj-text>
<mj-button href=\"https://shop.example/cart?utm_source=email&amp;utm_medium=cart\">Back to your cart</mj-button>
<mj-text><a href=\"mailto:help@shop.example\">Help</a> | <a href=\"{{ links.unsubscribe_url }}\">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>
";

fn python() -> Option<String> {
    let candidates = std::env::var("TIDINGS_PYTHON").into_iter().chain(["python3".into(), "/usr/bin/python3".into()]);
    for candidate in candidates {
        let ok = Command::new(&candidate)
            .args(["-c", "import aiosmtpd, dkim"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(candidate);
        }
    }
    None
}

/// The interpreter to use, or `None` after saying why the test is skipped.
fn require_python(test: &str) -> Option<String> {
    if let Some(p) = python() {
        return Some(p);
    }
    let why = "python3 with aiosmtpd and dkimpy not found (apt-get install python3-aiosmtpd python3-dkim)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}; required under CI");
    }
    // Written to the real stderr, past the test harness's capture, so the
    // skip is visible in a normal `cargo test` run.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py")
}

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let n = DIRS.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tidings-delivery-{}-{what}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The SMTP server process; killed (by its own id) when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: TempDir,
    python: String,
}

impl Server {
    fn start(python: &str, rules: &[&str]) -> Server {
        let dir = TempDir::new("smtp");
        let mut cmd = Command::new(python);
        cmd.arg(script()).arg("serve").arg("--dir").arg(&dir.0);
        for r in rules {
            cmd.arg("--rule").arg(r);
        }
        let log = std::fs::File::create(dir.0.join("server.log")).unwrap();
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.strip_prefix("READY ").and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| {
            let log = std::fs::read_to_string(dir.0.join("server.log")).unwrap_or_default();
            panic!("the SMTP server did not start: {line:?}\n{log}")
        });
        Server { child, port, dir, python: python.to_string() }
    }

    fn transport(&self) -> SmtpTransport {
        let clock = Arc::new(SimClock::new(NOW));
        let mut config = SmtpConfig::plain("127.0.0.1", self.port);
        config.timeout = Duration::from_secs(10);
        config.pool_size = 2;
        SmtpTransport::new(&config, clock.clone(), clock).unwrap()
    }

    /// Saved messages with their envelopes, in arrival order.
    fn received(&self) -> Vec<(PathBuf, Value)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let envelope = std::fs::read_to_string(p.with_extension("json")).unwrap();
                (p, serde_json::from_str(&envelope).unwrap())
            })
            .collect()
    }

    fn check(&self, file: &Path, signer: &DkimSigner) -> Value {
        let out = Command::new(&self.python)
            .arg(script())
            .arg("check")
            .arg(file)
            .args(["--selector", signer.selector(), "--domain", signer.domain(), "--dns-txt", &signer.dns_record()])
            .output()
            .unwrap();
        assert!(out.status.success(), "check failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signer() -> DkimSigner {
    let pem = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim-test-key.pem"))
        .unwrap();
    DkimSigner::from_pem("shop.example", "tidings2026", &pem).unwrap()
}

fn keys() -> SigningKeys {
    SigningKeys::new(vec![b"delivery-test-signing-key".to_vec()]).unwrap()
}

/// The cart email for `address`, rendered by tidings-render.
fn email_for(address: &str, first_name: &str, note: &str) -> Email {
    let source = TemplateSource::parse("cart.mjml", TEMPLATE, None).unwrap();
    let template = Renderer::default().compile(&source).unwrap();
    let traits: Map<String, Value> = json!({"first_name": first_name, "note": note}).as_object().unwrap().clone();
    let ctx = Context {
        profile: ProfileContext { id: Some(ProfileId(7)), traits, segments: vec![], stage: None },
        viewed: vec![Product {
            id: "tent".into(),
            name: Some("Trail Tent".into()),
            price: Some(249.0),
            category: None,
            url: Some("https://shop.example/p/tent".into()),
            image: None,
        }],
        now: NOW,
        ..Context::default()
    };
    let from = Mailbox::new(Some("Trail Shop"), "news@shop.example").unwrap();
    let to = Mailbox::new(Some(first_name), address).unwrap();
    let keys = keys();
    let message_id = format!("<{}.cart@shop.example>", address.replace('@', "."));
    personalize(
        &template,
        ctx,
        &Envelope {
            workspace: WorkspaceId(1),
            profile: ProfileId(7),
            from: &from,
            to: &to,
            reply_to: None,
            message_id: &message_id,
            message_key: &message_id,
            date: NOW,
            tracking_base: BASE,
            keys: &keys,
            unsubscribe_mailto: Some("mailto:unsubscribe@shop.example?subject=unsubscribe"),
            track: true,
        },
    )
    .unwrap()
}

fn outgoing(address: &str, first_name: &str, signer: &DkimSigner) -> OutgoingMessage {
    let email = email_for(address, first_name, "");
    compose(
        &email,
        &ComposeOptions { envelope_from: Some("bounces@shop.example"), dkim: Some(signer), signed_at: Some(NOW) },
    )
    .unwrap()
}

/// The `href` of every `<a>` (not `<link>`: stylesheets are not clicks).
fn hrefs(html: &str) -> Vec<String> {
    html.split("<a ")
        .skip(1)
        .filter_map(|tag| tag.split('>').next().unwrap().split("href=\"").nth(1))
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

#[test]
fn smtp_delivery_is_valid_mime_dkim_signed_and_tracked() {
    let Some(python) = require_python("smtp_delivery_is_valid_mime_dkim_signed_and_tracked") else { return };
    let server = Server::start(&python, &[]);
    let transport = server.transport();
    let signer = signer();
    let people = [
        ("zoe@example.com", "Zoë"),
        ("ada@example.com", "Ada"),
        ("long@example.com", "Ünïcödé Ñame, with \"quotes\" and a comma"),
    ];
    for (address, name) in people {
        let mut message = outgoing(address, name, &signer);
        if address.starts_with("long") {
            // Long non-ASCII lines force quoted-printable or base64.
            let email = email_for(address, name, &"Grüße aus Köln, à bientôt! ".repeat(40));
            message = compose(&email, &ComposeOptions { dkim: Some(&signer), ..ComposeOptions::default() }).unwrap();
        }
        let receipt = transport.send(&message).unwrap();
        assert!(receipt.detail.starts_with("250"), "{receipt:?}");
    }
    let received = server.received();
    assert_eq!(received.len(), 3);
    for ((file, envelope), (address, name)) in received.iter().zip(people) {
        assert_eq!(envelope["rcpt_tos"], json!([address]));
        let report = server.check(file, &signer);
        assert_eq!(report["content_type"], "multipart/alternative", "{report}");
        assert_eq!(report["parts"], json!(["text/plain", "text/html"]));
        assert_eq!(report["defects"], json!([]), "MIME defects");
        assert_eq!(report["charsets"], json!(["utf-8", "utf-8"]));
        assert_eq!(report["dkim"], true, "dkimpy verifies the signature: {report}");
        assert_eq!(report["dkim_after_tampering"], false);
        // Asked once for the real message and once for the tampered copy.
        assert_eq!(
            report["dns_asked"],
            json!(["tidings2026._domainkey.shop.example.", "tidings2026._domainkey.shop.example."])
        );

        let headers = &report["headers"];
        assert_eq!(headers["Subject"], format!("{name}, your Trail Tent is waiting"));
        let list_unsubscribe = headers["List-Unsubscribe"].as_str().unwrap();
        assert!(list_unsubscribe.starts_with("<https://t.shop.example/u/"), "{list_unsubscribe}");
        assert!(list_unsubscribe.ends_with(", <mailto:unsubscribe@shop.example?subject=unsubscribe>"));
        assert_eq!(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
        let to = headers["To"].as_str().unwrap();
        assert!(to.contains(address), "{to}");
        let dkim_header = headers["DKIM-Signature"].as_str().unwrap().replace(['\r', '\n', '\t', ' '], "");
        let signed = dkim_header.split(";h=").nth(1).unwrap().split(';').next().unwrap().to_string();
        for required in dkim::REQUIRED_HEADERS {
            assert!(signed.split(':').any(|h| h.eq_ignore_ascii_case(required)), "{required} signed in {signed}");
        }
        // Every header line is one we meant to write.
        let names: Vec<&str> = report["header_names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "DKIM-Signature",
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "MIME-Version",
                "Content-Type"
            ]
        );

        let html = report["html"].as_str().unwrap();
        let text = report["text"].as_str().unwrap();
        assert!(html.contains(&format!("Hi {}", tidings_render::escape_html(name))), "personal content");
        assert!(text.contains(&format!("Hi {name}")), "{text}");
        let links = hrefs(html);
        assert!(links.len() >= 4, "{links:?}");
        for link in &links {
            assert!(
                link.starts_with("https://t.shop.example/t/c/")
                    || link.starts_with("https://t.shop.example/u/")
                    || link.starts_with("mailto:"),
                "untracked link {link}"
            );
        }
        let clicks: Vec<_> = links.iter().filter_map(|l| l.strip_prefix("https://t.shop.example/t/c/")).collect();
        let urls: Vec<String> = clicks
            .iter()
            .map(|t| match tidings_render::verify(t, &keys()).unwrap().action {
                tidings_render::Action::Click { url, .. } => url,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(urls, ["https://shop.example/p/tent", "https://shop.example/cart?utm_source=email&utm_medium=cart"]);
        assert!(html.contains("https://t.shop.example/t/o/"), "open pixel");
        assert!(text.contains("(https://t.shop.example/t/c/"), "tracked links in the text part");
    }
    let long = server.check(&received[2].0, &signer);
    let encodings = long["transfer_encodings"].as_array().unwrap();
    assert!(encodings.iter().all(|e| e == "quoted-printable" || e == "base64"), "{encodings:?}");
}

#[test]
fn failures_are_classified_retried_and_never_duplicated() {
    let Some(python) = require_python("failures_are_classified_retried_and_never_duplicated") else { return };
    let server = Server::start(
        &python,
        &[
            "gone@example.com:550:always",
            "later@example.com:451:1",
            "dropped@example.com:drop:1",
            "closing@example.com:421:2",
        ],
    );
    let transport = server.transport();
    let signer = signer();
    let clock = SimClock::new(NOW);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let policy =
        RetryPolicy { max_attempts: 4, base_delay: Duration::from_secs(30), max_delay: Duration::from_secs(600) };
    let mut send =
        |address: &str| send_with_retries(&transport, &outgoing(address, "Friend", &signer), &policy, &clock, &mut rng);

    let bounced = send("gone@example.com");
    let Outcome::Bounced { error, attempts: 1 } = &bounced else { panic!("{bounced:?}") };
    assert!(error.is_bounce());
    assert!(
        matches!(error, DeliveryError::Bounced { code: 550, message } if message.contains("No such user")),
        "{error:?}"
    );

    let waited_before = clock.now();
    assert!(matches!(send("later@example.com"), Outcome::Sent { attempts: 2, .. }));
    assert!(clock.now() - waited_before >= 15_000_000, "a backoff was waited out on the injected clock");
    assert!(matches!(send("dropped@example.com"), Outcome::Sent { attempts: 2, .. }));
    assert!(matches!(send("closing@example.com"), Outcome::Sent { attempts: 3, .. }));
    assert!(matches!(send("fine@example.com"), Outcome::Sent { attempts: 1, .. }));

    let mut copies = std::collections::BTreeMap::new();
    for (_, envelope) in server.received() {
        for r in envelope["rcpt_tos"].as_array().unwrap() {
            *copies.entry(r.as_str().unwrap().to_string()).or_insert(0) += 1;
        }
    }
    let expected: std::collections::BTreeMap<String, i32> =
        ["closing@example.com", "dropped@example.com", "fine@example.com", "later@example.com"]
            .into_iter()
            .map(|a| (a.to_string(), 1))
            .collect();
    assert_eq!(copies, expected, "one copy each, none for the bounce");
}

#[test]
fn a_transient_reply_is_a_transient_error() {
    let Some(python) = require_python("a_transient_reply_is_a_transient_error") else { return };
    let server = Server::start(&python, &["busy@example.com:451:always"]);
    let err = server.transport().send(&outgoing("busy@example.com", "B", &signer())).unwrap_err();
    assert!(matches!(err, DeliveryError::Transient { code: 451, .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Transient);
}

#[test]
fn an_unreachable_server_is_a_transient_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let clock = Arc::new(SimClock::new(NOW));
    let mut config = SmtpConfig::plain("127.0.0.1", port);
    config.timeout = Duration::from_secs(5);
    let transport = SmtpTransport::new(&config, clock.clone(), clock).unwrap();
    let err = transport.send(&outgoing("x@example.com", "X", &signer())).unwrap_err();
    assert!(matches!(err, DeliveryError::Connection(_)), "{err:?}");
    assert!(err.is_transient() && !err.is_bounce());
}

#[test]
fn tls_without_the_feature_is_a_configuration_error() {
    if cfg!(feature = "tls") {
        return;
    }
    let clock = Arc::new(SimClock::new(NOW));
    let mut config = SmtpConfig::plain("127.0.0.1", 25);
    config.tls = TlsMode::Required;
    assert!(matches!(SmtpTransport::new(&config, clock.clone(), clock), Err(DeliveryError::Config(_))));
}

#[test]
fn file_transport_names_files_by_message_id() {
    let dir = TempDir::new("files");
    let transport = FileTransport::new(dir.0.join("outbox")).unwrap();
    let signer = signer();
    let message = outgoing("zoe@example.com", "Zoë", &signer);
    let receipt = transport.send(&message).unwrap();
    let path = transport.path_for(&message.message_id);
    assert_eq!(receipt.detail, path.display().to_string());
    assert_eq!(path.file_name().unwrap(), "zoe.example.com.cart@shop.example.eml");
    assert_eq!(std::fs::read(&path).unwrap(), message.data);
    // The same message again replaces its file.
    transport.send(&message).unwrap();
    assert_eq!(std::fs::read_dir(dir.0.join("outbox")).unwrap().count(), 1);
    // Ids with unsafe characters still get distinct, safe names.
    let a = transport.path_for("<a/b@x>");
    let b = transport.path_for("<a:b@x>");
    assert_ne!(a, b);
    assert!(a.file_name().unwrap().to_str().unwrap().starts_with("a_b@x-"));
    assert_eq!(transport.path_for("<../../etc@x>").parent().unwrap(), transport.dir());
}

#[test]
fn composing_is_deterministic() {
    let signer = signer();
    let a = outgoing("zoe@example.com", "Zoë", &signer);
    let b = outgoing("zoe@example.com", "Zoë", &signer);
    assert_eq!(a, b);
    let text = String::from_utf8_lossy(&a.data);
    assert!(text.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example;"), "{text}");
    assert_eq!(a.envelope_from, "bounces@shop.example");
    assert_eq!(a.recipients, ["zoe@example.com"]);
}

fn header_names(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever a subject or display name holds, lettre's message has the
    /// same header lines: nothing injected, nothing lost.
    #[test]
    fn composed_headers_resist_injection(subject in "(\\PC|[\r\n\t\0\u{85}\u{2028}:])*", name in "(\\PC|[\r\n\t\0:<>\"])*") {
        let from = Mailbox::new(Some(&name), "news@shop.example").unwrap();
        let to = Mailbox::new(Some(&name), "zoe@example.com").unwrap();
        let headers = tidings_render::build_headers(&tidings_render::HeaderSpec {
            from: &from,
            to: &to,
            reply_to: None,
            subject: &subject,
            date: NOW,
            message_id: "m@shop.example",
            kind: tidings_render::MessageKind::Marketing,
            unsubscribe_url: Some("https://t.shop.example/u/x"),
            unsubscribe_mailto: None,
        }).unwrap();
        let email = Email {
            headers,
            html: "<p>x</p>".into(),
            text: "x".into(),
            links: Default::default(),
            kind: tidings_render::MessageKind::Marketing,
            topic: None,
        };
        let message = compose(&email, &ComposeOptions::default()).unwrap();
        prop_assert_eq!(
            header_names(&message.data),
            ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"]
        );
    }
}
