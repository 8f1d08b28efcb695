//! An event as stored in the log.

use crate::ids::ProfileId;
use crate::message::MessageType;
use crate::time::{Micros, format_time};
use serde_json::{Map, Value};

/// What the segment engine records when a profile enters a segment.
pub const SEGMENT_ENTERED: &str = "Segment Entered";
/// What the segment engine records when a profile leaves a segment.
pub const SEGMENT_EXITED: &str = "Segment Exited";
/// What the segment engine records when a profile moves to another stage.
pub const STAGE_CHANGED: &str = "Stage Changed";
/// What `POST /api/journeys/KEY/enter` records; the runner starts the journey from it.
pub const ENTRY_REQUESTED: &str = "Journey Entry Requested";

/// The events the engine and the sender record about themselves. They are in a
/// profile's history like any other event, but are not the person's activity.
pub const ENGINE_EVENTS: &[&str] = &[
    "Email Sent",
    "Email Delivered",
    "Email Bounced",
    "Segment Entered",
    "Segment Exited",
    "Stage Changed",
    "Experiment Viewed",
    "Webhook Called",
    "Webhook Failed",
];

/// A SQL condition on columns `type` and `event` that is true for activity
/// (see [`is_activity`]), for stores that compute first and last seen in SQL.
pub fn activity_sql() -> String {
    let engine: Vec<String> = ENGINE_EVENTS.iter().map(|e| format!("'{}'", e.replace('\'', "''"))).collect();
    format!(
        "(type IN ({}, {}) OR (type = {} AND event NOT IN ({})))",
        MessageType::Page.code(),
        MessageType::Screen.code(),
        MessageType::Track.code(),
        engine.join(", ")
    )
}

/// One message in the event log, with the profile it belongs to now.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the workspace's log; increases with arrival.
    pub seq: i64,
    pub profile: ProfileId,
    pub message_id: String,
    pub kind: MessageType,
    pub event: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub timestamp: Micros,
    pub received_at: Micros,
    /// The message as sent, a JSON object.
    pub body: String,
}

impl StoredEvent {
    /// Whether this is something the person did (counts for first/last seen and
    /// active days): track, page and screen, except what the engine records.
    pub fn is_activity(&self) -> bool {
        is_activity(self.kind, self.event.as_deref())
    }

    /// The message as the API shows it: the body with its normalised fields.
    pub fn to_json(&self) -> Value {
        let mut body: Map<String, Value> = match serde_json::from_str(&self.body) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let Some(orig) = body.remove("timestamp") {
            body.insert("originalTimestamp".into(), orig);
        }
        body.insert("messageId".into(), Value::String(self.message_id.clone()));
        body.insert("type".into(), Value::String(self.kind.as_str().into()));
        if let Some(e) = &self.event {
            let key = if self.kind == MessageType::Track { "event" } else { "name" };
            body.insert(key.into(), Value::String(e.clone()));
        }
        body.insert("timestamp".into(), Value::String(format_time(self.timestamp)));
        body.insert("receivedAt".into(), Value::String(format_time(self.received_at)));
        for key in ["properties", "context"] {
            body.entry(key).or_insert_with(|| Value::Object(Map::new()));
        }
        Value::Object(body)
    }
}

pub fn is_activity(kind: MessageType, event: Option<&str>) -> bool {
    match kind {
        MessageType::Track => !event.is_some_and(|e| ENGINE_EVENTS.contains(&e)),
        MessageType::Page | MessageType::Screen => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_form_has_normalised_fields() {
        let e = StoredEvent {
            seq: 1,
            profile: ProfileId(1),
            message_id: "m1".into(),
            kind: MessageType::Track,
            event: Some("Product Viewed".into()),
            user_id: Some("u".into()),
            anonymous_id: None,
            timestamp: 0,
            received_at: 1_000_000,
            body: r#"{"userId":"u","event":"Product Viewed","timestamp":"1970-01-01T01:00:00+01:00","properties":{"a":1}}"#.into(),
        };
        let j = e.to_json();
        assert_eq!(j["messageId"], "m1");
        assert_eq!(j["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(j["receivedAt"], "1970-01-01T00:00:01Z");
        assert_eq!(j["originalTimestamp"], "1970-01-01T01:00:00+01:00");
        assert_eq!(j["properties"]["a"], 1);
        assert!(j["context"].is_object());
        assert!(e.is_activity());
        assert!(!is_activity(MessageType::Track, Some("Email Sent")));
        assert!(is_activity(MessageType::Track, Some("Email Opened")));
        assert!(!is_activity(MessageType::Identify, None));
    }
}
