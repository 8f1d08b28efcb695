//! Purchase histories from the log, the input of [`super::summarize`]:
//! each buyer's purchase events up to a time, as (UTC day number, value),
//! in event-time order.

use std::collections::HashMap;

use serde_json::Value;
use tidings_model::{Micros, ProfileId};

use crate::feed::{Entry, Feed};

const DAY: Micros = 86_400_000_000;

/// One buyer's purchases.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseHistory {
    pub profile: ProfileId,
    /// (days since 1970-01-01 in UTC, value), oldest first; a value that is
    /// missing or not a finite number is 0.
    pub purchases: Vec<(i32, f64)>,
}

/// Collects the purchase events (`event`, worth its `value` property) up
/// to and including `until`, from the log in any order (a [`Feed`]).
#[derive(Debug)]
pub struct PurchaseLog {
    event: String,
    value: String,
    until: Micros,
    /// (time, seq, value) per profile, in log order.
    people: HashMap<ProfileId, Vec<(Micros, i64, f64)>>,
}

impl PurchaseLog {
    pub fn new(event: &str, value: &str, until: Micros) -> PurchaseLog {
        PurchaseLog { event: event.to_string(), value: value.to_string(), until, people: HashMap::new() }
    }

    /// Every buyer's purchases, by profile id.
    pub fn finish(self) -> Vec<PurchaseHistory> {
        let mut out: Vec<PurchaseHistory> = self
            .people
            .into_iter()
            .map(|(profile, mut p)| {
                p.sort_unstable_by_key(|x| (x.0, x.1));
                let purchases = p.into_iter().map(|(at, _, v)| (at.div_euclid(DAY) as i32, v)).collect();
                PurchaseHistory { profile, purchases }
            })
            .collect();
        out.sort_unstable_by_key(|h| h.profile);
        out
    }
}

impl Feed for PurchaseLog {
    fn feed(&mut self, x: &Entry<'_>) {
        let e = x.event();
        if e.event.as_deref() != Some(self.event.as_str()) || e.timestamp > self.until {
            return;
        }
        let value = x.properties().get(&self.value).and_then(Value::as_f64).filter(|v| v.is_finite()).unwrap_or(0.0);
        self.people.entry(e.profile).or_default().push((e.timestamp, e.seq, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tidings_model::{MessageType, StoredEvent};

    #[test]
    fn purchases_by_day_in_event_time_up_to_the_end() {
        let order = |seq: i64, profile: i64, ts: Micros, body: Value| StoredEvent {
            seq,
            profile: ProfileId(profile),
            message_id: format!("m{seq}"),
            kind: MessageType::Track,
            event: Some("Order Completed".into()),
            user_id: None,
            anonymous_id: None,
            timestamp: ts,
            received_at: ts,
            body: body.to_string().into(),
        };
        let log = [
            order(1, 2, 3 * DAY, json!({"properties": {"revenue": 5.5}})),
            order(2, 2, DAY + 1, json!({"properties": {"revenue": "x"}})),
            order(3, 1, -1, json!({"properties": {"revenue": 2}})),
            order(4, 1, 9 * DAY, json!({"properties": {"revenue": 1}})),
        ];
        let mut c = PurchaseLog::new("Order Completed", "revenue", 5 * DAY);
        for e in &log {
            c.feed(&Entry::new(e));
        }
        let h = c.finish();
        assert_eq!(
            h,
            [
                PurchaseHistory { profile: ProfileId(1), purchases: vec![(-1, 2.0)] },
                PurchaseHistory { profile: ProfileId(2), purchases: vec![(1, 0.0), (3, 5.5)] },
            ]
        );
    }
}
