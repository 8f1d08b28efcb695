//! Send-time optimisation and broadcast pacing.
//!
//! Each person's best hour of the week is learned from their own human
//! opens, clicks and orders (in their time zone), shrunk toward the
//! workspace's pattern (`tidings_journeys::policy::SendTime`), so someone
//! with no history gets the hour when the workspace's people engage, and a
//! weekend buyer gets the weekend. The workspace pattern is kept up to date
//! from the log as the runner reads it (in the workspace's default time zone).
//!
//! A broadcast's throttle gives each hour at most `per_hour` sends: each
//! recipient takes the first hour at or after their chosen time that has
//! room, spread evenly within it.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde_json::Value;
use tidings_journeys::policy::{Policy, SendTime, WEEK_HOURS, hour_of_week_counts};
use tidings_model::event::{EMAIL_CLICKED, EMAIL_OPENED};
use tidings_model::time::HOUR;
use tidings_model::{Micros, StoredEvent};
use tidings_render::recommend::ORDER_COMPLETED;

/// How much the workspace pattern weighs against a person's own history,
/// in observations.
pub const PRIOR_WEIGHT: f64 = 5.0;

/// Whether a stored event shows a person engaging: a human open, a click, an order.
pub(crate) fn is_engagement(name: Option<&str>, machine: impl FnOnce() -> bool) -> bool {
    match name {
        Some(EMAIL_CLICKED | ORDER_COMPLETED) => true,
        Some(EMAIL_OPENED) => !machine(),
        _ => false,
    }
}

/// The workspace's engagement by local hour of week.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub counts: [f64; WEEK_HOURS],
    tz: TimeZone,
}

impl Pattern {
    pub fn new(tz: TimeZone) -> Pattern {
        Pattern { counts: [0.0; WEEK_HOURS], tz }
    }

    /// Counts `e` if it is engagement.
    pub fn learn(&mut self, e: &StoredEvent) {
        let machine = || e.body.properties().get("machine") == Some(&Value::Bool(true));
        if is_engagement(e.event.as_deref(), machine) {
            let c = hour_of_week_counts(&[e.timestamp], &self.tz);
            for (a, b) in self.counts.iter_mut().zip(c) {
                *a += b;
            }
        }
    }
}

/// The best time to send in `[from, from + within)` to someone whose own
/// engagements (human opens, clicks, orders) were at `own`, and how many
/// of them it was learned from.
pub fn best_time(
    own: &[Micros],
    pattern: &Pattern,
    from: Micros,
    within: Micros,
    tz: &TimeZone,
    policy: &Policy,
) -> (Micros, usize) {
    let st = SendTime::learn(&hour_of_week_counts(own, tz), &pattern.counts, PRIOR_WEIGHT);
    (st.best_time(from, within, tz, policy), own.len())
}

/// Hour slots of a throttled broadcast.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    per_hour: Option<u32>,
    used: BTreeMap<Micros, u32>,
}

impl Throttle {
    pub fn new(per_hour: Option<u32>) -> Throttle {
        Throttle { per_hour: per_hour.filter(|&n| n > 0), used: BTreeMap::new() }
    }

    /// The send time for someone who should get it at `wanted`.
    pub fn slot(&mut self, wanted: Micros) -> Micros {
        let Some(n) = self.per_hour else { return wanted };
        let mut hour = wanted.div_euclid(HOUR) * HOUR;
        loop {
            let used = self.used.entry(hour).or_insert(0);
            if *used < n {
                let at = hour + i64::from(*used) * HOUR / i64::from(n);
                *used += 1;
                return at.max(wanted.min(hour + HOUR - 1)).max(hour);
            }
            hour += HOUR;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_fills_hours_in_order_and_spreads_within_them() {
        let mut t = Throttle::new(Some(4));
        let start = 10 * HOUR + 30 * 60_000_000;
        let slots: Vec<Micros> = (0..9).map(|_| t.slot(start)).collect();
        // The first hour has room for 4 (its first slot is the wanted time), then 11:00, 12:00.
        assert_eq!(slots.iter().filter(|&&s| s < 11 * HOUR).count(), 4);
        assert_eq!(slots.iter().filter(|&&s| (11 * HOUR..12 * HOUR).contains(&s)).count(), 4);
        assert_eq!(slots[8], 12 * HOUR);
        assert!(slots.iter().all(|&s| s >= start));
        assert_eq!(Throttle::new(None).slot(start), start);
    }
}
