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
    /// An A/B/n test: each person of the audience is assigned one variant
    /// (or the holdout) by a hash of the broadcast's name and the profile,
    /// with an `Experiment Viewed` exposure (experiment id = the name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// Percent of the audience held out (sent nothing, exposure recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<u32>,
}

/// One arm of a broadcast test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub template: String,
    pub percent: u32,
}

impl BroadcastOptions {
    /// Whether the variants and holdout make a valid split: names unique and
    /// not `holdout`, every share above 0, together exactly 100.
    pub fn check_split(&self) -> Result<(), String> {
        if self.variants.is_empty() {
            return match self.holdout {
                Some(h) if h > 0 => Err("a holdout needs \"variants\" to hold out from".into()),
                _ => Ok(()),
            };
        }
        let mut names = std::collections::BTreeSet::new();
        for v in &self.variants {
            if v.name.is_empty() || v.name == "holdout" || !names.insert(v.name.as_str()) {
                return Err(format!("variant names must be unique, non-empty and not \"holdout\": {:?}", v.name));
            }
            if v.percent == 0 {
                return Err(format!("variant {:?} has 0 percent", v.name));
            }
        }
        let total: u32 = self.variants.iter().map(|v| v.percent).sum::<u32>() + self.holdout.unwrap_or(0);
        if total != 100 {
            return Err(format!("the variants and the holdout add up to {total} percent, not 100"));
        }
        Ok(())
    }

    /// The variant `bucket` (0..10,000, see `machine::arm_bucket`) falls in;
    /// `None` for the holdout.
    pub fn variant_for(&self, bucket: u32) -> Option<&Variant> {
        let mut upper = 0;
        for v in &self.variants {
            upper += v.percent * 100;
            if bucket < upper {
                return Some(v);
            }
        }
        None
    }
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
