//! What the engine reads about a profile: its messages, each with its event
//! time, its arrival order and its parsed JSON parts.
//!
//! Traits are not a separate input: `identify` and `group` messages carry
//! them, so "the traits as of T" are those set by messages with a timestamp
//! at or before T, merged key by key as [`tidings_model::traits::Traits`]
//! does (the later event time wins; on a tie the later arrival).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use tidings_model::{MessageType, Micros, StoredEvent, event};

/// One message of a profile, as the evaluators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Arrival order (the event log's sequence number); breaks ties between
    /// trait values set at the same event time.
    pub seq: i64,
    #[serde(with = "kind_text")]
    pub kind: MessageType,
    /// `track`: the event name; `page` / `screen`: the page name, if any.
    pub name: Option<String>,
    /// When it happened (corrected for clock skew at ingest).
    pub timestamp: Micros,
    /// The `properties` object (`null` when absent).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub properties: Value,
    /// The `context` object (`null` when absent).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub context: Value,
    /// `identify` and `group`: the traits the message sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traits: Option<Map<String, Value>>,
}

impl Observed {
    /// A `track` message.
    pub fn track(seq: i64, name: &str, timestamp: Micros, properties: Value) -> Observed {
        Observed {
            seq,
            kind: MessageType::Track,
            name: Some(name.to_string()),
            timestamp,
            properties,
            context: Value::Null,
            traits: None,
        }
    }

    /// A `page` message.
    pub fn page(seq: i64, name: Option<&str>, timestamp: Micros) -> Observed {
        Observed {
            seq,
            kind: MessageType::Page,
            name: name.map(str::to_string),
            timestamp,
            properties: Value::Null,
            context: Value::Null,
            traits: None,
        }
    }

    /// An `identify` message setting `traits` (a JSON object; anything else
    /// sets none).
    pub fn identify(seq: i64, timestamp: Micros, traits: Value) -> Observed {
        Observed {
            seq,
            kind: MessageType::Identify,
            name: None,
            timestamp,
            properties: Value::Null,
            context: Value::Null,
            traits: match traits {
                Value::Object(m) => Some(m),
                _ => Some(Map::new()),
            },
        }
    }

    pub fn with_context(mut self, context: Value) -> Observed {
        self.context = context;
        self
    }

    /// Reads a stored message: its body gives `properties`, `context` and
    /// (for `identify` and `group`) `traits`. A body that is not a JSON
    /// object gives none of them.
    pub fn from_stored(e: &StoredEvent) -> Observed {
        Observed::read(e, true)
    }

    /// [`Observed::from_stored`] without the `context` object, which is
    /// skipped unparsed: for callers whose rules never read `context.*`
    /// (most of a message's bytes are its context).
    pub fn from_stored_without_context(e: &StoredEvent) -> Observed {
        Observed::read(e, false)
    }

    fn read(e: &StoredEvent, with_context: bool) -> Observed {
        let parts = e.body.parts();
        Observed {
            seq: e.seq,
            kind: e.kind,
            name: e.event.clone(),
            timestamp: e.timestamp,
            properties: parts.properties.clone(),
            context: if with_context { e.body.context().clone() } else { Value::Null },
            traits: Observed::traits_of(e.kind, parts.traits_map().cloned()),
        }
    }

    /// [`Observed::from_stored`] taking the event, so its parsed body is moved, not copied.
    pub fn from_stored_owned(e: StoredEvent, with_context: bool) -> Observed {
        let context = if with_context { e.body.context().clone() } else { Value::Null };
        let parts = e.body.into_parts();
        Observed {
            seq: e.seq,
            kind: e.kind,
            name: e.event,
            timestamp: e.timestamp,
            properties: parts.properties,
            context,
            traits: Observed::traits_of(
                e.kind,
                match parts.traits {
                    Value::Object(m) => Some(m),
                    _ => None,
                },
            ),
        }
    }

    /// Only `identify` and `group` set traits.
    fn traits_of(kind: MessageType, traits: Option<Map<String, Value>>) -> Option<Map<String, Value>> {
        match kind {
            MessageType::Identify | MessageType::Group => traits,
            _ => None,
        }
    }

    /// Something the person did: `track`, `page` and `screen`, except the
    /// events the engine and the sender record themselves.
    pub fn is_activity(&self) -> bool {
        event::is_activity(self.kind, self.name.as_deref())
    }

    /// The name rules match with `did E`, `last E`, ...: only `track`
    /// messages have one.
    pub fn event_name(&self) -> Option<&str> {
        match self.kind {
            MessageType::Track => self.name.as_deref(),
            _ => None,
        }
    }
}

/// One profile's whole history, in any order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileInput {
    pub messages: Vec<Observed>,
}

impl ProfileInput {
    pub fn new(messages: Vec<Observed>) -> ProfileInput {
        ProfileInput { messages }
    }

    /// A profile's stored history (identify messages included).
    pub fn from_stored(events: &[StoredEvent]) -> ProfileInput {
        ProfileInput { messages: events.iter().map(Observed::from_stored).collect() }
    }

    pub fn push(&mut self, message: Observed) {
        self.messages.push(message);
    }
}

mod kind_text {
    use super::*;

    pub fn serialize<S: Serializer>(kind: &MessageType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MessageType, D::Error> {
        let text = String::deserialize(d)?;
        MessageType::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown message type `{text}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tidings_model::ProfileId;

    #[test]
    fn stored_identify_carries_traits() {
        let e = StoredEvent {
            seq: 7,
            profile: ProfileId(1),
            message_id: "m".into(),
            kind: MessageType::Identify,
            event: None,
            user_id: Some("u".into()),
            anonymous_id: None,
            timestamp: 10,
            received_at: 20,
            body: r#"{"type":"identify","traits":{"plan":"pro"},"context":{"locale":"de"}}"#.into(),
        };
        let o = Observed::from_stored(&e);
        assert_eq!(o.traits.unwrap()["plan"], "pro");
        assert_eq!(o.context["locale"], "de");
        assert_eq!(o.properties, Value::Null);
        assert!(!Observed::from_stored(&e).is_activity());
        let t = Observed::track(1, "Order Completed", 5, json!({"revenue": 3}));
        let back: Observed = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(Observed::page(2, Some("Home"), 1).event_name(), None);
    }
}
