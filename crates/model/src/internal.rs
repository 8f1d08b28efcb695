//! The events Tidings records about itself: segment and stage changes from
//! the engine, sends and their outcomes from the runner, opens, clicks and
//! unsubscribes from the tracking links, entries requested through the API,
//! traits it sets. Each is a variant of [`Internal`], and
//! [`Internal::into_message`] is the one way one becomes a stored
//! [`Message`]: its body is serialized once from the typed value, never
//! formatted as JSON text and parsed back.
//!
//! The names and property keys are part of the log's contract (rules,
//! journeys, templates and reports read them); see `spec/api.md`.

use crate::event;
use crate::message::{MAX_MESSAGE_BYTES, Message, MessageError, MessageType};
use crate::time::{Micros, format_time};
use serde::Serialize;
use serde_json::{Map, Value};

/// What the runner knows of a message when it records its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailFacts {
    /// The RFC 5322 Message-ID, without angle brackets.
    pub message_id: String,
    pub template: String,
    /// What asked for it: `journey:KEY:STEP` or `broadcast:NAME`.
    pub source: String,
    /// The journey and step, for journey sends (`null` for broadcasts).
    pub journey: Option<String>,
    pub step: Option<String>,
    pub subject: String,
    /// `marketing` or `transactional`.
    pub kind: String,
    /// The template's topic, for the preference center.
    pub topic: Option<String>,
    /// Which attempt this was, from 1.
    pub attempt: i64,
}

/// A webhook step's call, as its outcome records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookOutcome {
    pub url: String,
    pub journey: String,
    pub step: String,
    pub attempts: u32,
    /// `HTTP 200`, or why it failed.
    pub result: String,
}

/// An event Tidings records about itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Internal {
    /// The profile entered a segment (the engine).
    SegmentEntered { segment: String },
    /// The profile left a segment (the engine).
    SegmentExited { segment: String },
    /// The profile moved between stages of a stage set; `from` is `None`
    /// when it first came to exist, `to` when it was removed (the engine).
    StageChanged { stage_set: String, from: Option<String>, to: Option<String> },
    /// The transport took a message (the runner).
    EmailSent(EmailFacts),
    /// A mail server accepted a message, with its answer (the runner).
    EmailDelivered { email: EmailFacts, response: String },
    /// A message was refused (the runner).
    EmailBounced { email: EmailFacts, permanent: bool, reason: String },
    /// The open pixel was fetched; `machine` when by a mail-privacy proxy or a prefetch (tracking).
    EmailOpened { message_id: String, machine: bool, machine_reason: Option<String>, user_agent: String },
    /// A tracked link was followed (tracking).
    EmailClicked { message_id: String, link: u32, url: String },
    /// An unsubscribe: from all marketing, or from one `topic` (tracking, the preference center).
    Unsubscribed { source: String, message_id: String, topic: Option<String> },
    /// An experiment's exposure (Segment's A/B testing spec): a journey's split or a broadcast's variant.
    ExperimentViewed {
        experiment_id: String,
        variation_id: String,
        journey: Option<String>,
        broadcast: Option<String>,
        /// `rollout` once the experiment was decided and the winner is applied.
        phase: Option<String>,
    },
    /// A webhook step got an answer (the runner).
    WebhookCalled(WebhookOutcome),
    /// A webhook step gave up (the runner).
    WebhookFailed(WebhookOutcome),
    /// `POST /api/journeys/KEY/enter` asked for an entry, with the caller's properties.
    JourneyEntryRequested { journey: String, properties: Map<String, Value> },
    /// Traits Tidings sets (consent from the preference center, a journey's
    /// `set_trait`, predictions): an `identify`.
    Traits(Map<String, Value>),
}

/// The identities an internal event is recorded under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// A stored profile's: its user id when it has one, else its first
    /// anonymous id (the one the log knows it by).
    pub fn profile(user_id: Option<&'a str>, first_anonymous: Option<&'a str>) -> Subject<'a> {
        Subject { user_id, anonymous_id: if user_id.is_none() { first_anonymous } else { None } }
    }
}

#[derive(Serialize)]
struct Library<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct WireContext<'a> {
    library: Library<'a>,
}

/// The stored body: the fields of a Segment message, as a client would send it.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "userId")]
    user_id: Option<&'a str>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(rename = "messageId")]
    message_id: &'a str,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traits: Option<&'a Map<String, Value>>,
    context: WireContext<'a>,
}

#[derive(Serialize)]
struct Delivered<'a> {
    #[serde(flatten)]
    email: &'a EmailFacts,
    response: &'a str,
}

#[derive(Serialize)]
struct Bounced<'a> {
    #[serde(flatten)]
    email: &'a EmailFacts,
    permanent: bool,
    reason: &'a str,
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // Plain structs of strings, numbers and maps always serialize.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Internal {
    /// The `track` event's name; `None` for [`Internal::Traits`] (an `identify`).
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            Internal::SegmentEntered { .. } => event::SEGMENT_ENTERED,
            Internal::SegmentExited { .. } => event::SEGMENT_EXITED,
            Internal::StageChanged { .. } => event::STAGE_CHANGED,
            Internal::EmailSent(_) => event::EMAIL_SENT,
            Internal::EmailDelivered { .. } => event::EMAIL_DELIVERED,
            Internal::EmailBounced { .. } => event::EMAIL_BOUNCED,
            Internal::EmailOpened { .. } => event::EMAIL_OPENED,
            Internal::EmailClicked { .. } => event::EMAIL_CLICKED,
            Internal::Unsubscribed { .. } => event::UNSUBSCRIBED,
            Internal::ExperimentViewed { .. } => event::EXPERIMENT_VIEWED,
            Internal::WebhookCalled(_) => event::WEBHOOK_CALLED,
            Internal::WebhookFailed(_) => event::WEBHOOK_FAILED,
            Internal::JourneyEntryRequested { .. } => event::ENTRY_REQUESTED,
            Internal::Traits(_) => return None,
        })
    }

    /// The `properties` of the `track` event (`None` for traits).
    fn properties(&self) -> Option<Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        let text = |s: &str| Value::String(s.to_string());
        let opt = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
        match self {
            Internal::SegmentEntered { segment } | Internal::SegmentExited { segment } => put("segment", text(segment)),
            Internal::StageChanged { stage_set, from, to } => {
                put("stage_set", text(stage_set));
                put("from", opt(from));
                put("to", opt(to));
            }
            Internal::EmailSent(e) => return Some(to_value(e)),
            Internal::EmailDelivered { email, response } => return Some(to_value(&Delivered { email, response })),
            Internal::EmailBounced { email, permanent, reason } => {
                return Some(to_value(&Bounced { email, permanent: *permanent, reason }));
            }
            Internal::EmailOpened { message_id, machine, machine_reason, user_agent } => {
                put("message_id", text(message_id));
                put("machine", Value::Bool(*machine));
                put("machine_reason", opt(machine_reason));
                put("user_agent", text(user_agent));
            }
            Internal::EmailClicked { message_id, link, url } => {
                put("message_id", text(message_id));
                put("link", Value::from(*link));
                put("url", text(url));
            }
            Internal::Unsubscribed { source, message_id, topic } => {
                put("source", text(source));
                put("message_id", text(message_id));
                if let Some(t) = topic {
                    put("topic", text(t));
                }
            }
            Internal::ExperimentViewed { experiment_id, variation_id, journey, broadcast, phase } => {
                put("experiment_id", text(experiment_id));
                put("variation_id", text(variation_id));
                for (k, v) in [("journey", journey), ("broadcast", broadcast), ("phase", phase)] {
                    if let Some(v) = v {
                        put(k, text(v));
                    }
                }
            }
            Internal::WebhookCalled(w) | Internal::WebhookFailed(w) => return Some(to_value(w)),
            Internal::JourneyEntryRequested { journey, properties } => {
                let mut p = properties.clone();
                p.insert("journey".into(), text(journey));
                return Some(Value::Object(p));
            }
            Internal::Traits(_) => return None,
        }
        Some(Value::Object(m))
    }

    /// The stored message: recorded under `who`, with `message_id`, as
    /// happening at `timestamp` and arriving at `received_at`, from
    /// `library` (`context.library.name`). Refused only as a client's
    /// message would be: with no identity, or larger than a message may be.
    pub fn into_message(
        self,
        who: Subject<'_>,
        message_id: String,
        timestamp: Micros,
        received_at: Micros,
        library: &str,
    ) -> Result<Message, MessageError> {
        let nonempty = |s: Option<&str>| s.filter(|s| !s.trim().is_empty()).map(str::to_string);
        let (user_id, anonymous_id) = (nonempty(who.user_id), nonempty(who.anonymous_id));
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(MessageError::MissingId);
        }
        let event = self.name();
        let properties = self.properties();
        let traits = match self {
            Internal::Traits(t) => Some(t),
            _ => None,
        };
        let wire = Wire {
            kind: if event.is_some() { "track" } else { "identify" },
            user_id: user_id.as_deref(),
            anonymous_id: anonymous_id.as_deref(),
            event,
            message_id: &message_id,
            timestamp: format_time(timestamp),
            properties,
            traits: traits.as_ref(),
            context: WireContext { library: Library { name: library } },
        };
        let body = serde_json::to_string(&wire).map_err(|e| MessageError::Json {
            line: 0,
            column: 0,
            reason: e.to_string(),
        })?;
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge { size: body.len() });
        }
        Ok(Message {
            message_id,
            kind: if event.is_some() { MessageType::Track } else { MessageType::Identify },
            user_id,
            anonymous_id,
            previous_id: None,
            event: event.map(str::to_string),
            timestamp,
            received_at,
            traits,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Envelope, parse_message};

    /// Each internal event reads back, through the client path, as the
    /// same message: the typed way in agrees with the wire format.
    #[test]
    fn internal_events_read_back_as_client_messages() {
        let email = EmailFacts {
            message_id: "abc@x".into(),
            template: "t".into(),
            source: "journey:j:s".into(),
            journey: Some("j".into()),
            step: None,
            subject: "Hi".into(),
            kind: "marketing".into(),
            topic: None,
            attempt: 1,
        };
        let events = vec![
            Internal::SegmentEntered { segment: "loyal".into() },
            Internal::StageChanged { stage_set: "lifecycle".into(), from: None, to: Some("new".into()) },
            Internal::EmailSent(email.clone()),
            Internal::EmailBounced { email, permanent: true, reason: "550".into() },
            Internal::EmailOpened {
                message_id: "m".into(),
                machine: false,
                machine_reason: None,
                user_agent: "ua".into(),
            },
            Internal::Unsubscribed { source: "one-click".into(), message_id: "m".into(), topic: None },
            Internal::Traits(Map::from_iter([("plan".to_string(), Value::from("pro"))])),
        ];
        for e in events {
            let name = e.name();
            let m = e
                .into_message(Subject::profile(Some("u1"), Some("a1")), "id-1".into(), 5_000_000, 6_000_000, "t")
                .unwrap();
            let env = Envelope { received_at: 6_000_000, sent_at: None, default_type: None };
            let again = parse_message(&m.body, &env, &mut || unreachable!()).unwrap();
            assert_eq!(again, m, "{name:?}");
            assert_eq!(m.anonymous_id, None, "recorded under the user id when there is one");
        }
    }

    #[test]
    fn properties_keep_their_contract() {
        let m = Internal::EmailOpened {
            message_id: "m".into(),
            machine: true,
            machine_reason: Some("proxy".into()),
            user_agent: "GoogleImageProxy".into(),
        }
        .into_message(Subject::profile(None, Some("a1")), "id".into(), 0, 0, "tidings-links")
        .unwrap();
        let v: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["properties"]["machine"], true);
        assert_eq!(v["properties"]["machine_reason"], "proxy");
        assert_eq!(v["anonymousId"], "a1");
        assert_eq!(v["context"]["library"]["name"], "tidings-links");
        let nobody = Internal::Traits(Map::new()).into_message(Subject::profile(None, None), "id".into(), 0, 0, "x");
        assert_eq!(nobody.err(), Some(MessageError::MissingId));
    }
}
