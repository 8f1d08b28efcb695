//! Profile traits, merged per key by event time: the value set by the latest
//! message wins, whatever order the messages arrive in.

use crate::time::Micros;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traits {
    pub values: Map<String, Value>,
    /// When each key was last set, by event time.
    pub set_at: BTreeMap<String, Micros>,
}

impl Traits {
    /// Applies traits set at `at`. A key set later in event time is kept; on a
    /// tie the newer arrival wins.
    pub fn apply(&mut self, new: &Map<String, Value>, at: Micros) -> bool {
        let mut changed = false;
        for (k, v) in new {
            let newer = self.set_at.get(k).is_none_or(|&t| at >= t);
            if newer {
                if self.values.get(k) != Some(v) {
                    changed = true;
                }
                self.values.insert(k.clone(), v.clone());
                self.set_at.insert(k.clone(), at);
            }
        }
        changed
    }

    /// Folds another profile's traits in (identity merge), key by key by time.
    pub fn merge(&mut self, other: &Traits) {
        for (k, v) in &other.values {
            let at = other.set_at.get(k).copied().unwrap_or(Micros::MIN);
            let mut one = Map::new();
            one.insert(k.clone(), v.clone());
            self.apply(&one, at);
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(s: &str) -> Traits {
        serde_json::from_str(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn later_event_time_wins_regardless_of_arrival() {
        let mut t = Traits::default();
        t.apply(&map(json!({"plan": "pro", "email": "a@x"})), 20);
        t.apply(&map(json!({"plan": "free"})), 10); // late arrival, older
        assert_eq!(t.values["plan"], "pro");
        t.apply(&map(json!({"plan": "team"})), 30);
        assert_eq!(t.values["plan"], "team");
        assert_eq!(t.values["email"], "a@x");
        let mut u = Traits::default();
        u.apply(&map(json!({"plan": "old", "city": "Berlin"})), 5);
        t.merge(&u);
        assert_eq!(t.values["plan"], "team");
        assert_eq!(t.values["city"], "Berlin");
        assert_eq!(Traits::from_json(&t.to_json()), t);
    }
}
