//! Who was exposed to which variation of an experiment first, when, and
//! whether they converted within the window after: the one count behind
//! `tidings experiments report` and the runner's automatic rollouts, as
//! `spec/insights.md` defines exposure.
//!
//! [`Exposures`] keeps, per profile, the first exposure it is given and
//! whether a later one named another variation (such a profile is mixed and
//! left out of every count); a conversion counts for the exposure it is
//! given after, when it falls in `[at, at + window]`. So the order of the
//! calls decides: the runner gives them in log order as it reads the log;
//! [`ExperimentLog`] collects a whole log and gives each profile's exposures,
//! then its conversions, in event-time order, so that the first exposure is
//! the earliest and every conversion after it counts, whatever order the
//! events arrived in.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;
use tidings_model::event::{SEGMENT_ENTERED, SEGMENT_EXITED};
use tidings_model::{MessageType, Micros, ProfileId};

use crate::feed::{Entry, Feed};

/// The event that records an exposure.
pub const EXPERIMENT_VIEWED: &str = "Experiment Viewed";

/// A profile's first exposure and what followed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposed<A> {
    /// When.
    pub at: Micros,
    /// To which variation (or arm).
    pub arm: A,
    /// A conversion came within the window after.
    pub converted: bool,
    /// The values of those conversions, summed in the order given.
    pub value: f64,
}

/// First exposures per profile, and the profiles exposed to more than one
/// variation.
#[derive(Debug, Clone)]
pub struct Exposures<A> {
    window: Micros,
    first: HashMap<ProfileId, Exposed<A>>,
    mixed: HashSet<ProfileId>,
}

impl<A: PartialEq> Exposures<A> {
    /// Conversions count within `window` after the exposure.
    pub fn new(window: Micros) -> Exposures<A> {
        Exposures { window, first: HashMap::new(), mixed: HashSet::new() }
    }

    /// How long after an exposure a conversion counts.
    pub fn window(&self) -> Micros {
        self.window
    }

    /// `profile` saw `arm` at `at`. The first call per profile is its
    /// exposure; a later one with another arm makes the profile mixed.
    pub fn expose(&mut self, profile: ProfileId, at: Micros, arm: A) {
        match self.first.get(&profile) {
            None => {
                self.first.insert(profile, Exposed { at, arm, converted: false, value: 0.0 });
            }
            Some(x) if x.arm != arm => {
                self.mixed.insert(profile);
            }
            Some(_) => {}
        }
    }

    /// `profile` converted at `at`, worth `value`: counts when it was
    /// exposed already and `at` is within the window after the exposure.
    pub fn convert(&mut self, profile: ProfileId, at: Micros, value: f64) {
        let window = self.window;
        if let Some(x) = self.first.get_mut(&profile)
            && at >= x.at
            && at <= x.at.saturating_add(window)
        {
            x.converted = true;
            x.value += value;
        }
    }

    /// The profile's exposure; `None` when it has none or is mixed.
    pub fn get(&self, profile: ProfileId) -> Option<&Exposed<A>> {
        self.first.get(&profile).filter(|_| !self.mixed.contains(&profile))
    }

    /// Whether the profile saw more than one variation.
    pub fn is_mixed(&self, profile: ProfileId) -> bool {
        self.mixed.contains(&profile)
    }

    /// How many profiles saw more than one variation.
    pub fn mixed(&self) -> usize {
        self.mixed.len()
    }

    /// The exposures of profiles that are not mixed, in no order.
    pub fn exposed(&self) -> impl Iterator<Item = (ProfileId, &Exposed<A>)> {
        self.first.iter().filter(|(p, _)| !self.mixed.contains(p)).map(|(p, x)| (*p, x))
    }

    /// Those whose window has ended by `now`, so their outcome is final.
    pub fn settled(&self, now: Micros) -> impl Iterator<Item = &Exposed<A>> {
        self.exposed().map(|(_, x)| x).filter(move |x| x.at.saturating_add(self.window) <= now)
    }
}

/// What to read from the log about one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentQuery {
    /// The `experiment_id` (or `experiment_name`) of its `Experiment Viewed` events.
    pub experiment: String,
    /// The conversion event.
    pub metric: String,
    /// How long after exposure a conversion counts.
    pub window: Micros,
    /// A numeric property of the conversion event to total per profile.
    pub value: Option<String>,
    /// Traits to report as of each exposure.
    pub traits: Vec<String>,
    /// Whether to report the segments each profile was in at exposure.
    pub segments: bool,
}

/// One exposed profile (not mixed), as of its exposure.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureOutcome {
    pub profile: ProfileId,
    pub variation: String,
    pub at: Micros,
    pub converted: bool,
    /// The total of the value property over its conversions (0 without one).
    pub value: f64,
    /// The query's traits at exposure, in its order: `None` when unset.
    pub traits: Vec<Option<Value>>,
    /// The segments it was in at exposure, sorted (when asked for).
    pub segments: Vec<String>,
}

/// The exposures of an experiment over a whole log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentExposures {
    /// By profile id.
    pub exposed: Vec<ExposureOutcome>,
    /// Profiles that saw more than one variation (left out).
    pub mixed: u64,
}

/// What one profile did that matters to the query, in log order:
/// (time, seq, ...) so that it can be put in event-time order.
#[derive(Debug, Default)]
struct Trace {
    views: Vec<(Micros, i64, String)>,
    conversions: Vec<(Micros, i64, f64)>,
    /// (time, seq, index of the trait in the query, value).
    traits: Vec<(Micros, i64, usize, Value)>,
    /// (time, seq, segment, entered).
    segments: Vec<(Micros, i64, String, bool)>,
}

/// Collects one experiment's exposures, conversions and the breakdown
/// facts from the log (a [`Feed`]); [`ExperimentLog::finish`] counts them.
#[derive(Debug)]
pub struct ExperimentLog {
    query: ExperimentQuery,
    people: HashMap<ProfileId, Trace>,
}

/// A property as text: a string as it is, a number as written.
fn text(props: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match props.get(*k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl ExperimentLog {
    pub fn new(query: ExperimentQuery) -> ExperimentLog {
        ExperimentLog { query, people: HashMap::new() }
    }

    /// Each profile's exposures, then its conversions, in event-time order
    /// (see the module documentation); by profile id.
    pub fn finish(mut self) -> ExperimentExposures {
        let mut exposures: Exposures<String> = Exposures::new(self.query.window);
        let mut ids: Vec<ProfileId> =
            self.people.iter().filter(|(_, t)| !t.views.is_empty()).map(|(&p, _)| p).collect();
        ids.sort_unstable();
        let mut out = ExperimentExposures::default();
        for id in ids {
            let Some(t) = self.people.get_mut(&id) else { continue };
            t.views.sort_unstable();
            for (at, _, variation) in &t.views {
                exposures.expose(id, *at, variation.clone());
            }
            t.conversions.sort_unstable_by_key(|c| (c.0, c.1));
            for &(at, _, value) in &t.conversions {
                exposures.convert(id, at, value);
            }
            if exposures.is_mixed(id) {
                out.mixed += 1;
                continue;
            }
            let Some(x) = exposures.get(id) else { continue };
            let mut traits = vec![None; self.query.traits.len()];
            let mut set = vec![(Micros::MIN, i64::MIN); self.query.traits.len()];
            for (at, seq, i, v) in t.traits.iter().filter(|c| c.0 <= x.at) {
                // Traits merge by event time; a tie goes to the later arrival.
                if (*at, *seq) >= set[*i] {
                    set[*i] = (*at, *seq);
                    traits[*i] = Some(v.clone());
                }
            }
            t.segments.sort_unstable();
            let mut segments = BTreeSet::new();
            for (_, _, s, entered) in t.segments.iter().filter(|c| c.0 <= x.at) {
                if *entered {
                    segments.insert(s.clone());
                } else {
                    segments.remove(s);
                }
            }
            out.exposed.push(ExposureOutcome {
                profile: id,
                variation: x.arm.clone(),
                at: x.at,
                converted: x.converted,
                value: x.value,
                traits,
                segments: segments.into_iter().collect(),
            });
        }
        out
    }
}

impl Feed for ExperimentLog {
    fn feed(&mut self, x: &Entry<'_>) {
        let e = x.event();
        let q = &self.query;
        let name = e.event.as_deref();
        if name == Some(EXPERIMENT_VIEWED) {
            let props = x.properties();
            if text(props, &["experiment_id", "experiment_name"]).as_deref() == Some(q.experiment.as_str())
                && let Some(variation) = text(props, &["variation_name", "variation_id"])
            {
                self.people.entry(e.profile).or_default().views.push((e.timestamp, e.seq, variation));
            }
        }
        if name == Some(q.metric.as_str()) {
            let value = match &q.value {
                Some(p) => x.properties().get(p).and_then(Value::as_f64).filter(|v| v.is_finite()).unwrap_or(0.0),
                None => 0.0,
            };
            self.people.entry(e.profile).or_default().conversions.push((e.timestamp, e.seq, value));
        }
        if !q.traits.is_empty()
            && matches!(e.kind, MessageType::Identify | MessageType::Group)
            && let Value::Object(traits) = x.traits()
        {
            for (i, k) in q.traits.iter().enumerate() {
                if let Some(v) = traits.get(k) {
                    self.people.entry(e.profile).or_default().traits.push((e.timestamp, e.seq, i, v.clone()));
                }
            }
        }
        if q.segments
            && matches!(name, Some(SEGMENT_ENTERED | SEGMENT_EXITED))
            && let Some(s) = text(x.properties(), &["segment"])
        {
            let entered = name == Some(SEGMENT_ENTERED);
            self.people.entry(e.profile).or_default().segments.push((e.timestamp, e.seq, s, entered));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_model::StoredEvent;

    const H: Micros = 3_600_000_000;

    #[test]
    fn first_exposure_mixed_and_the_window() {
        let mut x = Exposures::new(10 * H);
        x.expose(ProfileId(1), H, "a");
        x.expose(ProfileId(1), 2 * H, "a");
        x.expose(ProfileId(2), H, "a");
        x.expose(ProfileId(2), 3 * H, "b");
        x.convert(ProfileId(1), 0, 5.0); // before exposure
        x.convert(ProfileId(1), 11 * H, 7.0); // the window's last moment
        x.convert(ProfileId(1), 12 * H, 9.0); // after it
        x.convert(ProfileId(3), 2 * H, 1.0); // never exposed
        assert_eq!(x.get(ProfileId(1)), Some(&Exposed { at: H, arm: "a", converted: true, value: 7.0 }));
        assert!(x.get(ProfileId(2)).is_none() && x.is_mixed(ProfileId(2)) && x.mixed() == 1);
        assert_eq!(x.exposed().count(), 1);
        assert_eq!(x.settled(11 * H - 1).count(), 0);
        assert_eq!(x.settled(11 * H).count(), 1);
    }

    fn stored(seq: i64, profile: i64, kind: MessageType, event: Option<&str>, ts: Micros, body: Value) -> StoredEvent {
        StoredEvent {
            seq,
            profile: ProfileId(profile),
            message_id: format!("m{seq}"),
            kind,
            event: event.map(str::to_string),
            user_id: None,
            anonymous_id: None,
            timestamp: ts,
            received_at: ts,
            body: body.to_string().into(),
        }
    }

    #[test]
    fn the_log_in_any_order_counts_as_event_time_does() {
        use serde_json::json;
        let track = MessageType::Track;
        let view = |v: &str| json!({"properties": {"experiment_id": "x", "variation_id": v}});
        let log = [
            // Arrives first, happened later: still after the exposure.
            stored(1, 1, track, Some("Order Completed"), 5 * H, json!({"properties": {"revenue": 10}})),
            stored(2, 1, track, Some(SEGMENT_ENTERED), 0, json!({"properties": {"segment": "vip"}})),
            stored(3, 1, MessageType::Identify, None, 0, json!({"traits": {"tier": "gold"}})),
            stored(4, 1, MessageType::Identify, None, 3 * H, json!({"traits": {"tier": "silver"}})),
            stored(5, 1, track, Some(EXPERIMENT_VIEWED), 2 * H, view("b")),
            stored(6, 1, track, Some(EXPERIMENT_VIEWED), H, view("b")),
            stored(7, 2, track, Some(EXPERIMENT_VIEWED), H, view("a")),
            stored(8, 2, track, Some(EXPERIMENT_VIEWED), 2 * H, view("b")),
            stored(9, 3, track, Some(EXPERIMENT_VIEWED), H, json!({"properties": {"experiment_id": "y"}})),
        ];
        let mut c = ExperimentLog::new(ExperimentQuery {
            experiment: "x".into(),
            metric: "Order Completed".into(),
            window: 24 * H,
            value: Some("revenue".into()),
            traits: vec!["tier".into(), "absent".into()],
            segments: true,
        });
        for e in &log {
            c.feed(&Entry::new(e));
        }
        let r = c.finish();
        assert_eq!(r.mixed, 1);
        assert_eq!(
            r.exposed,
            [ExposureOutcome {
                profile: ProfileId(1),
                variation: "b".into(),
                at: H,
                converted: true,
                value: 10.0,
                traits: vec![Some(json!("gold")), None],
                segments: vec!["vip".into()],
            }]
        );
    }
}
