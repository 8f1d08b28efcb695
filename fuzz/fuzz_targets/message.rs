//! Segment messages and batches from arbitrary text: nothing may panic, and
//! whatever is accepted must read back: its stored body parses as JSON (as
//! every reader of the log parses it), and shows as the API shows it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_model::message::{Envelope, parse_batch, parse_message};
use tidings_model::{MessageType, ProfileId, StoredEvent};

fn check(text: &str, env: &Envelope<'_>) {
    if let Ok(m) = parse_message(text, env, &mut || "generated".to_string()) {
        let back: serde_json::Value = serde_json::from_str(&m.body).expect("an accepted body reads back");
        assert!(back.is_object());
        let stored = StoredEvent {
            seq: 1,
            profile: ProfileId(1),
            message_id: m.message_id.clone(),
            kind: m.kind,
            event: m.event.clone(),
            user_id: m.user_id.clone(),
            anonymous_id: m.anonymous_id.clone(),
            timestamp: m.timestamp,
            received_at: m.received_at,
            body: m.body.clone().into(),
        };
        let shown = stored.to_json();
        assert!(shown["timestamp"].as_str().is_some_and(|t| t.contains('T')), "times show as RFC 3339: {shown}");
        let _ = stored.body.parts();
    }
}

fuzz_target!(|text: &str| {
    let env = Envelope { received_at: 1_780_000_000_000_000, sent_at: None, default_type: Some(MessageType::Track) };
    check(text, &env);
    if let Ok(batch) = parse_batch(text) {
        let sent_at = batch.sent_at.clone();
        let env = Envelope { sent_at: sent_at.as_deref(), default_type: None, ..env };
        for item in batch.batch.unwrap_or_default() {
            check(item.get(), &env);
        }
    }
});
