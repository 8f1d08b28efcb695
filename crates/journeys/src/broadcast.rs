//! Broadcasts: a one-off send of a template to everyone a condition holds
//! for, at a set time, at once or at each person's best hour, throttled.
//!
//! A planned broadcast is a durable timer (key `broadcast:NAME`, the plan as
//! its payload), so it survives restarts and fires once; the runner then
//! queues one message per person, keyed `broadcast:NAME:PROFILE`, so the name
//! is also the idempotency key: planning the same name again never sends
//! anybody a second copy.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tidings_model::Micros;

/// How a broadcast goes out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastOptions {
    /// Send each person at their best hour within this long after the start
    /// (quiet hours excluded); everyone at the start when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_hour_within: Option<Micros>,
    /// At most this many sends in any clock hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u32>,
}

/// A planned broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastPlan {
    pub name: String,
    pub template: String,
    /// Who gets it: a condition in the rule language, read when it starts.
    pub audience: String,
    #[serde(default)]
    pub options: BroadcastOptions,
}

/// The timer tag of a broadcast payload.
pub const BROADCAST_TAG: &str = "broadcast";

impl BroadcastPlan {
    /// The key of its timer.
    pub fn timer_key(&self) -> String {
        format!("broadcast:{}", self.name)
    }

    /// The payload of its timer, as the runner reads it.
    pub fn timer_payload(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a plan encodes");
        v["t"] = Value::String(BROADCAST_TAG.into());
        v.to_string()
    }
}
