//! What a template can see.
//!
//! | variable | contents |
//! |---|---|
//! | `profile` | the profile's traits (`profile.first_name`), plus `profile.id`, `profile.traits` (the traits alone), `profile.segments` (keys of current segments) and `profile.stage` |
//! | `segments`, `stage` | the same as `profile.segments` and `profile.stage` |
//! | `event` | the triggering event: `event.name`, `event.timestamp` (RFC 3339), `event.properties`, and each property directly (`event.order_id`) |
//! | `recommendations` | `recommendations.viewed` (viewed or carted, not bought) and `recommendations.bought_together`, lists of products (`id`, `name`, `price`, `category`, `url`, `image`) |
//! | `incentive` | whatever the journey computed (a code, a discount), or nil |
//! | `links` | `links.unsubscribe_url`, `links.preferences_url` |
//! | anything in [`Context::values`] | other computed values, by name |
//!
//! In an HTML body every string is HTML-escaped before the template sees
//! it, so a trait like `<b>` shows as text and cannot add markup or links.
//! The subject, preheader and text body see the strings as they are.

use serde_json::{Map, Value, json};
use tidings_model::{Micros, ProfileId};

use crate::html::escape_html;
use crate::recommend::Product;

/// The profile a message is for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileContext {
    pub id: Option<ProfileId>,
    pub traits: Map<String, Value>,
    /// Keys of the segments the profile is in now.
    pub segments: Vec<String>,
    pub stage: Option<String>,
}

/// The event that started the send.
#[derive(Debug, Clone, PartialEq)]
pub struct EventContext {
    pub name: String,
    pub timestamp: Micros,
    pub properties: Map<String, Value>,
}

/// Signed URLs a template may place itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkUrls {
    pub unsubscribe_url: String,
    pub preferences_url: String,
}

/// Everything a render needs besides the template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub profile: ProfileContext,
    pub event: Option<EventContext>,
    pub viewed: Vec<Product>,
    pub bought_together: Vec<Product>,
    pub incentive: Option<Value>,
    pub links: LinkUrls,
    /// Other computed values, visible at the top level by name. They cannot
    /// hide the variables above.
    pub values: Map<String, Value>,
    /// The render's time, for `date: "now"`.
    pub now: Micros,
}

impl Context {
    /// The variables as JSON, strings as given.
    pub fn to_json(&self) -> Value {
        let mut profile = self.profile.traits.clone();
        profile.insert("traits".into(), Value::Object(self.profile.traits.clone()));
        profile.insert("id".into(), self.profile.id.map_or(Value::Null, |id| json!(id.0)));
        profile.insert("segments".into(), json!(self.profile.segments));
        profile.insert("stage".into(), json!(self.profile.stage));
        let event = self.event.as_ref().map_or(Value::Null, |e| {
            let mut ev = e.properties.clone();
            ev.insert("name".into(), json!(e.name));
            ev.insert("timestamp".into(), json!(tidings_model::time::format_time(e.timestamp)));
            ev.insert("properties".into(), Value::Object(e.properties.clone()));
            Value::Object(ev)
        });
        let mut root = self.values.clone();
        root.insert("profile".into(), Value::Object(profile));
        root.insert("segments".into(), json!(self.profile.segments));
        root.insert("stage".into(), json!(self.profile.stage));
        root.insert("event".into(), event);
        root.insert(
            "recommendations".into(),
            json!({ "viewed": self.viewed, "bought_together": self.bought_together }),
        );
        root.insert("incentive".into(), self.incentive.clone().unwrap_or(Value::Null));
        root.insert(
            "links".into(),
            json!({ "unsubscribe_url": self.links.unsubscribe_url, "preferences_url": self.links.preferences_url }),
        );
        Value::Object(root)
    }
}

/// A copy of `v` with every string HTML-escaped.
pub(crate) fn escape_strings(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(escape_html(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(escape_strings).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), escape_strings(v))).collect()),
        other => other.clone(),
    }
}
