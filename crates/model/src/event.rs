//! An event as stored in the log.

use crate::ids::ProfileId;
use crate::message::MessageType;
use crate::time::{Micros, format_time};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// What the segment engine records when a profile enters a segment.
pub const SEGMENT_ENTERED: &str = "Segment Entered";
/// What the segment engine records when a profile leaves a segment.
pub const SEGMENT_EXITED: &str = "Segment Exited";
/// What the segment engine records when a profile moves to another stage.
pub const STAGE_CHANGED: &str = "Stage Changed";
/// What `POST /api/journeys/KEY/enter` records; the runner starts the journey from it.
pub const ENTRY_REQUESTED: &str = "Journey Entry Requested";

/// What the tracking endpoints record when a person opens an email.
pub const EMAIL_OPENED: &str = "Email Opened";
/// What the tracking endpoints record when a person follows a link in an email.
pub const EMAIL_CLICKED: &str = "Email Clicked";
/// A person (or a mailbox provider for them) asked to stop: all marketing, or one `topic`.
pub const UNSUBSCRIBED: &str = "Unsubscribed";
/// The sender handed a message to the transport.
pub const EMAIL_SENT: &str = "Email Sent";
/// A mail server accepted a message.
pub const EMAIL_DELIVERED: &str = "Email Delivered";
/// A message was refused; `permanent: false` for a soft bounce.
pub const EMAIL_BOUNCED: &str = "Email Bounced";
/// A recipient reported a message as spam.
pub const EMAIL_COMPLAINED: &str = "Email Complained";
/// A person was assigned a variation (Segment's A/B testing spec).
pub const EXPERIMENT_VIEWED: &str = "Experiment Viewed";
/// A journey's webhook step got an answer.
pub const WEBHOOK_CALLED: &str = "Webhook Called";
/// A journey's webhook step gave up.
pub const WEBHOOK_FAILED: &str = "Webhook Failed";

/// The events the engine and the sender record about themselves. They are in a
/// profile's history like any other event, but are not the person's activity.
pub const ENGINE_EVENTS: &[&str] = &[
    EMAIL_SENT,
    EMAIL_DELIVERED,
    EMAIL_BOUNCED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    STAGE_CHANGED,
    EXPERIMENT_VIEWED,
    WEBHOOK_CALLED,
    WEBHOOK_FAILED,
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

/// A stored message's JSON text, parsed at most once: the parts every
/// reader needs (`properties`, `traits`) on first use, `context` (most of a
/// message's bytes, and read by few rules) apart and only when asked.
#[derive(Debug, Default)]
pub struct Body {
    text: String,
    parts: OnceLock<Parts>,
    context: OnceLock<Value>,
}

/// The parsed parts of a body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    /// The `properties` object (`Null` when absent or not an object).
    pub properties: Value,
    /// The `traits` object (`Null` when absent or not an object).
    pub traits: Value,
}

impl Parts {
    /// The `traits` object, when the message has one.
    pub fn traits_map(&self) -> Option<&Map<String, Value>> {
        self.traits.as_object()
    }
}

static NO_PROPERTIES: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl Body {
    pub fn new(text: String) -> Body {
        Body { text, parts: OnceLock::new(), context: OnceLock::new() }
    }

    /// The message as sent (a JSON object's text).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `properties` and `traits`, parsed on first use (a body that is not a
    /// JSON object has neither).
    pub fn parts(&self) -> &Parts {
        self.parts.get_or_init(|| {
            // Other fields (`context` above all) are skipped without being built.
            #[derive(Deserialize, Default)]
            struct Raw {
                #[serde(default)]
                properties: Value,
                #[serde(default)]
                traits: Option<Value>,
            }
            let raw: Raw = serde_json::from_str(&self.text).unwrap_or_default();
            let traits = match raw.traits {
                Some(t @ Value::Object(_)) => t,
                _ => Value::Null,
            };
            Parts { properties: raw.properties, traits }
        })
    }

    /// The `properties` object; empty when there is none.
    pub fn properties(&self) -> &Map<String, Value> {
        self.parts().properties.as_object().unwrap_or(&NO_PROPERTIES)
    }

    /// The `context` object (`Null` when absent), parsed on first use.
    pub fn context(&self) -> &Value {
        self.context.get_or_init(|| {
            #[derive(Deserialize, Default)]
            struct Raw<'a> {
                #[serde(borrow, default)]
                context: Option<&'a serde_json::value::RawValue>,
            }
            let raw: Raw<'_> = serde_json::from_str(&self.text).unwrap_or_default();
            raw.context.and_then(|c| serde_json::from_str(c.get()).ok()).unwrap_or(Value::Null)
        })
    }

    /// The parsed parts, taken out (parsing them if that has not happened).
    pub fn into_parts(self) -> Parts {
        self.parts();
        self.parts.into_inner().unwrap_or_default()
    }
}

impl Clone for Body {
    fn clone(&self) -> Body {
        Body { text: self.text.clone(), parts: self.parts.clone(), context: self.context.clone() }
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.text == other.text
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::new(text)
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Body {
        Body::new(text.to_string())
    }
}

impl std::ops::Deref for Body {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
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
    /// The message as sent, a JSON object, parsed at most once.
    pub body: Body,
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
            body: r#"{"userId":"u","event":"Product Viewed","timestamp":"1970-01-01T01:00:00+01:00","properties":{"a":1},"context":{"ip":"x"}}"#.into(),
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
        assert_eq!(e.body.properties()["a"], 1);
        assert_eq!(e.body.context()["ip"], "x");
        assert_eq!(e.body.parts().traits_map(), None);
    }
}
