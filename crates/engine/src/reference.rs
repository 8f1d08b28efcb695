//! The reference evaluator: every rule computed from a profile's whole
//! history by its definition in the spec, slowly and obviously.
//!
//! Nothing here is incremental or clever. Each call filters the history to
//! what exists at `now` (messages with a timestamp at or before it), merges
//! the traits set by those messages, and evaluates the workspace's
//! definitions in dependency order, scanning the events for every condition.
//! The live engine must agree with it on every history; it is also what a
//! one-off question ("who was in this segment on March 1st?") can use.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tidings_model::Micros;
use tidings_rules::{
    ActiveDays, Aggregate, AggregateFn, Condition, Definition, Did, EventMatcher, Recency, Seen, Sequence, Share,
    StageSet, Weekday, Which, Window, Workspace,
};

use crate::input::{Observed, ProfileInput};
use crate::local::{self, TIMEZONE_TRAIT};
use crate::subscription::{self, CONSENT_TRAIT, Consent, EMAIL_TRAIT, UNSUBSCRIBED_TRAIT};
use crate::sum::ExactSum;
use crate::value;

/// Every segment's membership and every stage set's current stage, for one
/// profile at one time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evaluation {
    /// Whether the profile had any message at or before the time. A profile
    /// that did not is in no segment and no stage.
    pub exists: bool,
    pub segments: BTreeMap<String, bool>,
    pub stages: BTreeMap<String, Option<String>>,
}

impl Evaluation {
    pub fn is_member(&self, segment: &str) -> bool {
        self.segments.get(segment).copied().unwrap_or(false)
    }

    /// The segments the profile is in, by key.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter(|(_, m)| **m).map(|(k, _)| k.as_str())
    }

    pub fn stage(&self, set: &str) -> Option<&str> {
        self.stages.get(set)?.as_deref()
    }
}

/// Evaluates every definition of `workspace` for one profile as of `now`.
/// `default_tz` is the workspace's zone for profiles without a valid
/// `timezone` trait.
pub fn evaluate(workspace: &Workspace, input: &ProfileInput, now: Micros, default_tz: &TimeZone) -> Evaluation {
    let mut p = Profile::new(input, now, default_tz);
    p.evaluate_all(workspace);
    Evaluation { exists: p.exists, segments: p.segments.into_iter().collect(), stages: p.stages.into_iter().collect() }
}

/// Whether `condition` (which may name the workspace's segments and
/// stages) holds for one profile as of `now`: journeys' branch and exit
/// rules. A profile with no message at or before `now` satisfies nothing.
pub fn holds(
    workspace: &Workspace,
    input: &ProfileInput,
    condition: &Condition,
    now: Micros,
    default_tz: &TimeZone,
) -> bool {
    let mut p = Profile::new(input, now, default_tz);
    if !p.exists {
        return false;
    }
    // Segments and stages are computed only when the condition names them.
    if !condition.segment_refs().is_empty() || !condition.stage_refs().is_empty() {
        p.evaluate_all(workspace);
    }
    p.holds(condition)
}

/// The window a condition counts events in: `(after, until]`, `after` being
/// `None` for the whole history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub after: Option<Micros>,
    pub until: Micros,
}

impl Bounds {
    pub fn contains(self, t: Micros) -> bool {
        t <= self.until && self.after.is_none_or(|a| t > a)
    }
}

/// What decided a condition, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Evidence {
    /// `and`, `or`, `not`, `otherwise`: the parts say it.
    None,
    /// `did`: how many matching events in the window, and the newest.
    Count { n: u64, bounds: Bounds, newest: Option<Micros> },
    /// `then` / `then not`: how many first events in the window, and one that
    /// decided it (with its follower, if any).
    Sequence { bounds: Bounds, firsts: u64, witness: Option<(Micros, Option<Micros>)> },
    /// `first|last E`, `first|last seen`: the time that decided it.
    Time { at: Option<Micros> },
    /// `total`, `average`, ...: the result over `n` values (`None`: no values).
    Aggregate { bounds: Bounds, n: u64, result: Option<f64> },
    /// `share`: `k` of `n` matching events fall on the days.
    Share { bounds: Bounds, k: u64, n: u64, zone: String },
    /// `active on`: distinct local days.
    Days { bounds: Bounds, days: u64, zone: String },
    /// `trait`: the value.
    Trait { value: Option<Value> },
    /// `in segment`: the other segment's membership.
    Member,
    /// `in stage`: the profile's current stage in the set.
    Stage { current: Option<String> },
    /// `subscribed`: the traits that decide it and the newest `Unsubscribed`.
    Subscription { email: Option<Value>, consent: Option<Value>, unsubscribed: Option<Value>, ended_at: Option<Micros> },
}

/// One profile's history as of `now`, with the results so far.
pub(crate) struct Profile<'a> {
    pub now: Micros,
    pub exists: bool,
    /// Messages at or before `now`, by time then arrival.
    events: Vec<&'a Observed>,
    /// Trait values as of `now`: key → (set at, seq, value).
    traits: BTreeMap<&'a str, (Micros, i64, &'a Value)>,
    pub zone: TimeZone,
    pub zone_label: String,
    pub segments: HashMap<String, bool>,
    pub stages: HashMap<String, Option<String>>,
}

impl<'a> Profile<'a> {
    pub fn new(input: &'a ProfileInput, now: Micros, default_tz: &TimeZone) -> Profile<'a> {
        let mut events: Vec<&Observed> = input.messages.iter().filter(|m| m.timestamp <= now).collect();
        events.sort_by_key(|m| (m.timestamp, m.seq));
        let mut traits: BTreeMap<&str, (Micros, i64, &Value)> = BTreeMap::new();
        for m in &events {
            for (k, v) in m.traits.iter().flatten() {
                let newer = traits.get(k.as_str()).is_none_or(|&(at, seq, _)| (m.timestamp, m.seq) > (at, seq));
                if newer {
                    traits.insert(k, (m.timestamp, m.seq, v));
                }
            }
        }
        let named = local::zone_name(traits.get(TIMEZONE_TRAIT).map(|t| t.2));
        let zone = match named {
            Some(name) => TimeZone::get(name).unwrap_or_else(|_| default_tz.clone()),
            None => default_tz.clone(),
        };
        let zone_label = match named {
            Some(name) => name.to_string(),
            None => default_tz.iana_name().unwrap_or("the workspace default").to_string(),
        };
        Profile {
            now,
            exists: !events.is_empty(),
            events,
            traits,
            zone,
            zone_label,
            segments: HashMap::new(),
            stages: HashMap::new(),
        }
    }

    pub fn evaluate_all(&mut self, workspace: &Workspace) {
        for r in &workspace.definitions {
            match &r.definition {
                Definition::Segment(s) => {
                    let member = self.exists && self.holds(&s.condition);
                    self.segments.insert(s.key.clone(), member);
                }
                Definition::Stages(set) => {
                    let stage = self.stage_of(set);
                    self.stages.insert(set.key.clone(), stage);
                }
            }
        }
    }

    pub fn stage_of(&self, set: &StageSet) -> Option<String> {
        if !self.exists {
            return None;
        }
        set.stages.iter().find(|s| self.holds(&s.condition)).map(|s| s.name.clone())
    }

    pub fn holds(&self, c: &Condition) -> bool {
        match c {
            Condition::And { operands, .. } => operands.iter().all(|c| self.holds(c)),
            Condition::Or { operands, .. } => operands.iter().any(|c| self.holds(c)),
            Condition::Not { operand, .. } => !self.holds(operand),
            leaf => self.leaf(leaf).0,
        }
    }

    /// A trait's value as of `now` (a dotted path walks into objects).
    pub fn trait_value(&self, keys: &[String]) -> Option<&'a Value> {
        let (first, rest) = keys.split_first()?;
        let v = self.traits.get(first.as_str())?.2;
        value::lookup(v, rest)
    }

    fn matching(&self, m: &'a EventMatcher) -> impl Iterator<Item = &'a Observed> + '_ {
        self.events.iter().copied().filter(move |e| value::matches(e, m))
    }

    pub fn bounds(&self, w: &Window) -> Bounds {
        let now = self.now;
        match w {
            Window::Ever { .. } => Bounds { after: None, until: now },
            Window::InLast { duration, .. } => {
                Bounds { after: Some(now.saturating_sub(duration.micros())), until: now }
            }
            Window::Between { min_age, max_age, .. } => Bounds {
                after: Some(now.saturating_sub(max_age.micros())),
                until: now.saturating_sub(min_age.micros()),
            },
            Window::SinceLast { event, .. } => {
                Bounds { after: self.matching(event).map(|e| e.timestamp).max(), until: now }
            }
        }
    }

    /// Whether a leaf condition holds, and why.
    pub fn leaf(&self, c: &Condition) -> (bool, Evidence) {
        match c {
            Condition::And { .. } | Condition::Or { .. } | Condition::Not { .. } => (self.holds(c), Evidence::None),
            Condition::Otherwise { .. } => (true, Evidence::None),
            Condition::Did(d) => self.did(d),
            Condition::Sequence(s) => self.sequence(s),
            Condition::Recency(r) => self.recency(r),
            Condition::Aggregate(a) => self.aggregate(a),
            Condition::Share(s) => self.share(s),
            Condition::ActiveDays(a) => self.active_days(a),
            Condition::Seen(s) => self.seen(s),
            Condition::Trait(t) => {
                let v = self.trait_value(&t.path.keys);
                (value::test(v, &t.test), Evidence::Trait { value: v.cloned() })
            }
            Condition::InSegment(r) => (self.segments.get(&r.key).copied().unwrap_or(false), Evidence::Member),
            Condition::InStage(r) => {
                let current = self.stages.get(&r.set).cloned().flatten();
                (current.as_deref() == Some(r.stage.as_str()), Evidence::Stage { current })
            }
            Condition::Subscribed(s) => {
                let get = |k: &str| self.traits.get(k).map(|t| t.2);
                let consent = Consent {
                    email: get(EMAIL_TRAIT),
                    unsubscribed: get(UNSUBSCRIBED_TRAIT),
                    consent: self.traits.get(CONSENT_TRAIT).map(|t| (t.2, t.0)),
                };
                let ended_at =
                    self.events.iter().filter(|e| subscription::ends(e, s.topic.as_deref())).map(|e| e.timestamp).max();
                let evidence = Evidence::Subscription {
                    email: consent.email.cloned(),
                    consent: consent.consent.map(|c| c.0.clone()),
                    unsubscribed: consent.unsubscribed.cloned(),
                    ended_at,
                };
                (subscription::holds(consent, ended_at), evidence)
            }
        }
    }

    fn did(&self, d: &Did) -> (bool, Evidence) {
        let bounds = self.bounds(&d.window);
        let times: Vec<Micros> = self.matching(&d.event).map(|e| e.timestamp).filter(|&t| bounds.contains(t)).collect();
        let n = times.len() as u64;
        (d.count.holds(n), Evidence::Count { n, bounds, newest: times.last().copied() })
    }

    fn sequence(&self, s: &Sequence) -> (bool, Evidence) {
        let bounds = self.bounds(&s.window);
        let within = s.within.micros();
        let key = |e: &Observed| s.matching.as_ref().map(|p| value::key(value::property(e, p)));
        let mut firsts = 0;
        let mut witness = None;
        for a in self.matching(&s.first).filter(|e| bounds.contains(e.timestamp)) {
            firsts += 1;
            let t = a.timestamp;
            let end = t.saturating_add(within);
            let follower = self
                .matching(&s.then)
                .filter(|b| b.timestamp > t && b.timestamp <= end)
                .find(|b| match (key(a), key(b)) {
                    (None, None) => true,
                    (Some(Some(ka)), Some(Some(kb))) => ka == kb,
                    _ => false,
                })
                .map(|b| b.timestamp);
            let qualifies = if s.negated { end <= self.now && follower.is_none() } else { follower.is_some() };
            if qualifies {
                return (true, Evidence::Sequence { bounds, firsts, witness: Some((t, follower)) });
            }
            if witness.is_none() {
                witness = Some((t, follower));
            }
        }
        (false, Evidence::Sequence { bounds, firsts, witness })
    }

    fn recency(&self, r: &Recency) -> (bool, Evidence) {
        let times = self.matching(&r.event).map(|e| e.timestamp);
        let at = match r.which {
            Which::First => times.min(),
            Which::Last => times.max(),
        };
        (at.is_some_and(|t| r.relation.holds(self.now, t, r.ago.micros())), Evidence::Time { at })
    }

    fn seen(&self, s: &Seen) -> (bool, Evidence) {
        let times = self.events.iter().filter(|e| e.is_activity()).map(|e| e.timestamp);
        let at = match s.which {
            Which::First => times.min(),
            Which::Last => times.max(),
        };
        (at.is_some_and(|t| s.relation.holds(self.now, t, s.ago.micros())), Evidence::Time { at })
    }

    fn aggregate(&self, a: &Aggregate) -> (bool, Evidence) {
        let bounds = self.bounds(&a.window);
        let values: Vec<Option<&Value>> = self
            .matching(&a.event)
            .filter(|e| bounds.contains(e.timestamp))
            .map(|e| value::property(e, &a.property))
            .collect();
        let numbers = || values.iter().filter_map(|v| value::number(*v));
        let (n, result) = match a.function {
            AggregateFn::Total | AggregateFn::Average => {
                let mut sum = ExactSum::default();
                let mut n = 0u64;
                for x in numbers().filter(|&x| crate::sum::summable(x)) {
                    sum.add(x);
                    n += 1;
                }
                let result = match a.function {
                    AggregateFn::Total => Some(sum.value()),
                    _ => (n > 0).then(|| sum.value() / n as f64),
                };
                (n, result)
            }
            AggregateFn::Min => (numbers().count() as u64, numbers().reduce(f64::min)),
            AggregateFn::Max => (numbers().count() as u64, numbers().reduce(f64::max)),
            AggregateFn::Distinct => {
                let keys: BTreeSet<String> = values.iter().filter_map(|v| value::key(*v)).collect();
                (keys.len() as u64, Some(keys.len() as f64))
            }
        };
        (result.is_some_and(|r| a.op.holds(&r, &a.value)), Evidence::Aggregate { bounds, n, result })
    }

    fn share(&self, s: &Share) -> (bool, Evidence) {
        let bounds = self.bounds(&s.window);
        let (mut k, mut n) = (0u64, 0u64);
        for e in self.matching(&s.event).filter(|e| bounds.contains(e.timestamp)) {
            n += 1;
            let (weekday, hour, _) = self.local(e.timestamp);
            if s.days.matches(weekday, hour) {
                k += 1;
            }
        }
        let holds = n > 0 && s.op.holds(&(k as f64 / n as f64), &s.value);
        (holds, Evidence::Share { bounds, k, n, zone: self.zone_label.clone() })
    }

    fn active_days(&self, a: &ActiveDays) -> (bool, Evidence) {
        let bounds = self.bounds(&a.window);
        let days: BTreeSet<Day> = self
            .events
            .iter()
            .filter(|e| e.is_activity() && bounds.contains(e.timestamp))
            .map(|e| self.local(e.timestamp).2)
            .collect();
        let n = days.len() as u64;
        (a.count.holds(n), Evidence::Days { bounds, days: n, zone: self.zone_label.clone() })
    }

    /// Weekday, hour and calendar date of `t` in the profile's zone.
    fn local(&self, t: Micros) -> (Weekday, u8, Day) {
        match Timestamp::from_microsecond(t) {
            Ok(ts) => {
                let z = ts.to_zoned_datetime(self.zone.clone());
                let weekday = Weekday::ALL[z.weekday().to_monday_zero_offset() as usize];
                (weekday, z.hour() as u8, Day::Civil(z.year(), z.month(), z.day()))
            }
            // Beyond the years jiff represents (±9999): UTC days.
            Err(_) => {
                let l = local::local(t, &TimeZone::UTC);
                (l.weekday, l.hour, Day::Raw(l.day))
            }
        }
    }
}

/// A local calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Day {
    Civil(i16, i8, i8),
    Raw(i64),
}
