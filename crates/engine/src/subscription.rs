//! What `subscribed [to "TOPIC"]` means, until consent has a home of its own.
//!
//! A profile is subscribed (may receive marketing email) when all of these
//! hold, as of the evaluation time:
//!
//! 1. its `email` trait is a non-empty string;
//! 2. its `unsubscribed` trait is not `true`;
//! 3. its `marketing_consent` trait is not `false` (a workspace that does
//!    not collect consent sends none, and mail is opt-out);
//! 4. it has no `Unsubscribed` event that ends the subscription after the
//!    latest consent: later than the time `marketing_consent` was last set
//!    to `true`, or at any time when it was not. An `Unsubscribed` event
//!    without a `topic` property ends every subscription; one with a
//!    `topic` ends only `subscribed to` that topic.

use serde_json::Value;
use tidings_model::Micros;

use crate::input::Observed;

pub const EMAIL_TRAIT: &str = "email";
pub const CONSENT_TRAIT: &str = "marketing_consent";
pub const UNSUBSCRIBED_TRAIT: &str = "unsubscribed";
pub const UNSUBSCRIBED_EVENT: &str = "Unsubscribed";
pub const TOPIC_PROPERTY: &str = "topic";

/// Whether `e` is an `Unsubscribed` event that ends `subscribed [to topic]`.
pub(crate) fn ends(e: &Observed, topic: Option<&str>) -> bool {
    if e.event_name() != Some(UNSUBSCRIBED_EVENT) {
        return false;
    }
    match e.properties.get(TOPIC_PROPERTY) {
        None | Some(Value::Null) => true,
        Some(t) => topic.is_some_and(|topic| t.as_str() == Some(topic)),
    }
}

/// The traits the definition reads, as of the evaluation time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Consent<'a> {
    pub email: Option<&'a Value>,
    pub unsubscribed: Option<&'a Value>,
    /// The `marketing_consent` value and when it was set.
    pub consent: Option<(&'a Value, Micros)>,
}

/// Whether the profile is subscribed, given its traits and the time of the
/// newest `Unsubscribed` event that [`ends`] the subscription.
pub(crate) fn holds(c: Consent<'_>, last_end: Option<Micros>) -> bool {
    let email = c.email.and_then(Value::as_str).is_some_and(|e| !e.trim().is_empty());
    let unsubscribed = c.unsubscribed == Some(&Value::Bool(true));
    let refused = matches!(c.consent, Some((Value::Bool(false), _)));
    let given_at = match c.consent {
        Some((Value::Bool(true), at)) => Some(at),
        _ => None,
    };
    let ended = last_end.is_some_and(|end| given_at.is_none_or(|given| end > given));
    email && !unsubscribed && !refused && !ended
}
