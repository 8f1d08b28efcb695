//! Delivery against a real SMTP server (aiosmtpd, started per test by
//! `tests/smtp_server.py`), with every received message checked by an
//! independent implementation: Python's `email` package for MIME and
//! dkimpy for the DKIM signature.
//!
//! The tests need python3 with aiosmtpd and dkimpy (Debian packages
//! python3-aiosmtpd and python3-dkim; TIDINGS_PYTHON names another
//! interpreter). Without them they are reported ignored, with the reason,
//! except under CI (CI=true), where they fail. `harness = false`: see
//! `tidings_testkit::services`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rand::SeedableRng;
use serde_json::{Value, json};
use tidings_delivery::*;
use tidings_model::{Clock, SimClock};
use tidings_testkit::services::{self, Harness, Need};

/// What `tests/smtp_server.py` imports.
const MODULES: &[&str] = &["aiosmtpd", "dkim"];

fn main() -> std::process::ExitCode {
    let mut tests = Harness::from_args();
    let python = Need::Python(MODULES);
    tests.add(
        "smtp_delivery_is_valid_mime_dkim_signed_and_tracked",
        python,
        smtp_delivery_is_valid_mime_dkim_signed_and_tracked,
    );
    tests.add(
        "failures_are_classified_retried_and_never_duplicated",
        python,
        failures_are_classified_retried_and_never_duplicated,
    );
    tests.add("a_transient_reply_is_a_transient_error", python, a_transient_reply_is_a_transient_error);
    tests.run()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py")
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

/// The `href` of every `<a>` (not `<link>`: stylesheets are not clicks).
fn hrefs(html: &str) -> Vec<String> {
    html.split("<a ")
        .skip(1)
        .filter_map(|tag| tag.split('>').next().unwrap().split("href=\"").nth(1))
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

fn smtp_delivery_is_valid_mime_dkim_signed_and_tracked() {
    let python = services::python(MODULES).unwrap();
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

fn failures_are_classified_retried_and_never_duplicated() {
    let python = services::python(MODULES).unwrap();
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

fn a_transient_reply_is_a_transient_error() {
    let python = services::python(MODULES).unwrap();
    let server = Server::start(&python, &["busy@example.com:451:always"]);
    let err = server.transport().send(&outgoing("busy@example.com", "B", &signer())).unwrap_err();
    assert!(matches!(err, DeliveryError::Transient { code: 451, .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Transient);
}
