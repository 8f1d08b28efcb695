//! Delivery without a server: composing, file transport, failures that
//! need no SMTP server, and headers that resist injection. The tests against
//! a real SMTP server are in `tests/smtp.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use tidings_delivery::*;
use tidings_model::SimClock;
use tidings_render::{Email, Mailbox};

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
