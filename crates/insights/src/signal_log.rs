//! From an event log to the input of [`analyze_signals`]: which behaviour
//! before a cut-off goes with conversion after it.
//!
//! The log is split at `cut`. The population is every profile with an event
//! before the cut. A profile converted when it has an `outcome` event in
//! `[cut, cut + horizon)`. The candidate signals, all observed before the
//! cut so that they can predict and not merely accompany the conversion:
//!
//! - `did "E" in last L`: an event named E in `[cut - lookback, cut)`
//!   (the engine's own change events are not behaviour and are left out);
//! - `in segment S`: a member of S at the cut, from the last
//!   `Segment Entered` / `Segment Exited` before it;
//! - `stage SET = X`: in stage X of a stage set at the cut, from the last
//!   `Stage Changed` before it (kind `trait`: stages partition people, so
//!   they are not pruned as segments).
//!
//! Events may arrive in any order; only their timestamps count.
//!
//! [`analyze_signals`]: crate::signals::analyze_signals

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use tidings_model::event::{SEGMENT_ENTERED, SEGMENT_EXITED, STAGE_CHANGED};

use crate::email::LogEvent;
use crate::feed::{Entry, Feed};
use crate::signals::{Signal, SignalKind};

/// Collects signals and conversions from log events fed in any order.
#[derive(Debug)]
pub struct SignalLog {
    cut: i64,
    lookback: i64,
    horizon: i64,
    outcome: String,
    /// Profiles with an event before the cut.
    existed: HashSet<i64>,
    converted: HashSet<i64>,
    /// Event name -> profiles that did it in the lookback.
    did: HashMap<String, HashSet<i64>>,
    /// (segment, profile) -> the latest change before the cut: (time, entered).
    segments: HashMap<(String, i64), (i64, bool)>,
    /// (stage set, profile) -> the latest change before the cut: (time, stage).
    stages: HashMap<(String, i64), (i64, Option<String>)>,
}

/// What [`SignalLog::finish`] hands to the analysis, with the profile ids
/// behind the dense indices.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectedSignals {
    /// Profile ids in index order.
    pub profiles: Vec<i64>,
    pub converters: Vec<u32>,
    pub signals: Vec<Signal>,
}

fn duration_label(micros: i64) -> String {
    const HOUR: i64 = 3_600_000_000;
    if micros % (24 * HOUR) == 0 { format!("{}d", micros / (24 * HOUR)) } else { format!("{}h", micros / HOUR) }
}

impl SignalLog {
    /// Signals from `[cut - lookback, cut)`, conversion = `outcome` in `[cut, cut + horizon)`.
    pub fn new(cut: i64, lookback: i64, horizon: i64, outcome: &str) -> SignalLog {
        SignalLog {
            cut,
            lookback,
            horizon,
            outcome: outcome.to_string(),
            existed: HashSet::new(),
            converted: HashSet::new(),
            did: HashMap::new(),
            segments: HashMap::new(),
            stages: HashMap::new(),
        }
    }

    /// Takes one event. `name` is the event name of a track call, or `""`
    /// for other calls (they still make the profile exist); `properties`
    /// matter only for the engine's change events.
    pub fn add(&mut self, e: LogEvent<'_>) {
        let (p, t) = (e.profile, e.timestamp);
        if t >= self.cut {
            if e.name == self.outcome && t < self.cut.saturating_add(self.horizon) {
                self.converted.insert(p);
            }
            return;
        }
        self.existed.insert(p);
        let text = |k: &str| e.properties.get(k).and_then(Value::as_str).map(str::to_string);
        match e.name {
            "" => {}
            SEGMENT_ENTERED | SEGMENT_EXITED => {
                if let Some(s) = text("segment") {
                    let slot = self.segments.entry((s, p)).or_insert((i64::MIN, false));
                    if t >= slot.0 {
                        *slot = (t, e.name == SEGMENT_ENTERED);
                    }
                }
            }
            STAGE_CHANGED => {
                if let Some(set) = text("stage_set") {
                    let slot = self.stages.entry((set, p)).or_insert((i64::MIN, None));
                    if t >= slot.0 {
                        *slot = (t, text("to"));
                    }
                }
            }
            name => {
                if t >= self.cut.saturating_sub(self.lookback) {
                    self.did.entry(name.to_string()).or_default().insert(p);
                }
            }
        }
    }

    /// The population, its converters and the candidate signals, named in
    /// the rule language, sorted by name within each kind.
    pub fn finish(self) -> CollectedSignals {
        let mut profiles: Vec<i64> = self.existed.iter().copied().collect();
        profiles.sort_unstable();
        let index: HashMap<i64, u32> = profiles.iter().enumerate().map(|(i, &p)| (p, i as u32)).collect();
        let dense = |ids: &mut dyn Iterator<Item = i64>| {
            let mut v: Vec<u32> = ids.filter_map(|p| index.get(&p).copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let converters = dense(&mut self.converted.iter().copied());
        let mut signals = Vec::new();
        let mut segments: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for ((s, p), (_, member)) in self.segments {
            if member {
                segments.entry(s).or_default().push(p);
            }
        }
        for (s, ps) in segments {
            signals.push(Signal::new(&format!("in segment {s}"), SignalKind::Segment, dense(&mut ps.into_iter())));
        }
        let mut stages: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for ((set, p), (_, stage)) in self.stages {
            if let Some(stage) = stage {
                stages.entry(format!("stage {set} = {stage}")).or_default().push(p);
            }
        }
        for (name, ps) in stages {
            signals.push(Signal::new(&name, SignalKind::Trait, dense(&mut ps.into_iter())));
        }
        let lookback = duration_label(self.lookback);
        let did: BTreeMap<String, HashSet<i64>> = self.did.into_iter().collect();
        for (name, ps) in did {
            let label = format!("did {name:?} in last {lookback}");
            signals.push(Signal::new(&label, SignalKind::Event, dense(&mut ps.into_iter())));
        }
        CollectedSignals { profiles, converters, signals }
    }
}

/// From the log: pages and screens make a profile exist too (as `""`);
/// the events named in rules are track calls. Only the engine's change
/// events have their properties read, so other bodies stay unparsed.
impl Feed for SignalLog {
    fn feed(&mut self, x: &Entry<'_>) {
        let e = x.event();
        let track = e.kind == tidings_model::MessageType::Track;
        let name = if track { e.event.as_deref().unwrap_or("") } else { "" };
        let properties = if matches!(name, SEGMENT_ENTERED | SEGMENT_EXITED | STAGE_CHANGED) {
            x.properties()
        } else {
            &Value::Null
        };
        self.add(LogEvent { profile: e.profile.0, name, timestamp: e.timestamp, properties });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: i64 = 3_600_000_000;
    const D: i64 = 24 * H;

    fn ev<'a>(profile: i64, name: &'a str, timestamp: i64, properties: &'a Value) -> LogEvent<'a> {
        LogEvent { profile, name, timestamp, properties }
    }

    #[test]
    fn behaviour_before_the_cut_and_conversion_after_it() {
        let none = json!({});
        let vip_in = json!({"segment": "vip"});
        let vip_out = json!({"segment": "vip"});
        let stage = json!({"stage_set": "life", "from": null, "to": "customer"});
        let cut = 100 * D;
        let mut log = SignalLog::new(cut, 30 * D, 7 * D, "Order Completed");
        // Fed out of order on purpose.
        log.add(ev(7, "Order Completed", cut + D, &none)); // 7 converts
        log.add(ev(7, "Product Viewed", cut - D, &none));
        log.add(ev(5, "Product Viewed", cut - 40 * D, &none)); // before the lookback: exists, no signal
        log.add(ev(5, "Order Completed", cut + 8 * D, &none)); // after the horizon: no conversion
        log.add(ev(9, "Order Completed", cut + H, &none)); // never seen before the cut: not in the population
        log.add(ev(3, SEGMENT_EXITED, cut - D, &vip_out));
        log.add(ev(3, SEGMENT_ENTERED, cut - 2 * D, &vip_in)); // entered then exited: not a member
        log.add(ev(7, SEGMENT_ENTERED, cut - 3 * D, &vip_in));
        log.add(ev(7, STAGE_CHANGED, cut - 3 * D, &stage));
        log.add(ev(3, "", cut - D, &none));
        let c = log.finish();
        assert_eq!(c.profiles, vec![3, 5, 7]);
        assert_eq!(c.converters, vec![2]);
        let names: Vec<(&str, &[u32])> = c.signals.iter().map(|s| (s.name.as_str(), s.profiles.as_slice())).collect();
        assert_eq!(
            names,
            vec![
                ("in segment vip", &[2u32][..]),
                ("stage life = customer", &[2u32][..]),
                ("did \"Product Viewed\" in last 30d", &[2u32][..]),
            ]
        );
        assert_eq!(c.signals[0].kind, SignalKind::Segment);
        assert_eq!(c.signals[1].kind, SignalKind::Trait);
    }
}
