//! One profile's live state: its traits, the state of every leaf, its
//! current memberships and stages, the messages stamped in the future, and
//! when it must next be woken.
//!
//! Time only moves forward for a profile. Everything that happens to it
//! happens at a `now`: a message arriving, or a wake (a leaf's answer may
//! change, or a message stamped in the future comes due). At each, the
//! leaves concerned are updated, the definitions that read them are
//! evaluated in dependency order, and every flip is reported with that
//! `now`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tidings_model::{MessageType, Micros};

use super::leaf::LeafState;
use crate::compile::{Compiled, Def, Node, Plan};
use crate::input::Observed;
use crate::local::{TIMEZONE_TRAIT, Zones, zone_name};
use crate::subscription::{CONSENT_TRAIT, Consent, EMAIL_TRAIT, UNSUBSCRIBED_TRAIT};
use crate::value;

/// Trait values with the event time and arrival that set them: a value is
/// replaced only by one set later (on a tie, arriving later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct TraitStore(BTreeMap<String, TraitSlot>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TraitSlot {
    at: Micros,
    seq: i64,
    value: Value,
}

impl TraitStore {
    /// Applies traits set at `at`; whether anything changed.
    fn apply(&mut self, traits: &Map<String, Value>, at: Micros, seq: i64) -> bool {
        let mut changed = false;
        for (k, v) in traits {
            let newer = self.0.get(k).is_none_or(|s| (at, seq) > (s.at, s.seq));
            if newer {
                self.0.insert(k.clone(), TraitSlot { at, seq, value: v.clone() });
                changed = true;
            }
        }
        changed
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).map(|s| &s.value).filter(|v| !v.is_null())
    }

    pub fn lookup(&self, keys: &[String]) -> Option<&Value> {
        let (first, rest) = keys.split_first()?;
        value::lookup(self.get(first)?, rest)
    }

    pub fn consent(&self) -> Consent<'_> {
        Consent {
            email: self.get(EMAIL_TRAIT),
            unsubscribed: self.get(UNSUBSCRIBED_TRAIT),
            consent: self.0.get(CONSENT_TRAIT).filter(|s| !s.value.is_null()).map(|s| (&s.value, s.at)),
        }
    }
}

/// A membership or stage that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flip {
    Segment { slot: usize, member: bool },
    Stage { slot: usize, from: Option<u16>, to: Option<u16> },
}

/// A leaf's state and the next time its answer may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slot {
    state: LeafState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wake: Option<Micros>,
}

/// The live state of one profile. Opaque; serializable for snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileState {
    /// The time of its oldest message at or before `now`: it exists from then.
    born: Option<Micros>,
    traits: TraitStore,
    /// The valid zone its `timezone` trait names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    /// Per leaf: its state, once an event concerned it (most leaves of most
    /// profiles never see one, and an empty state costs 8 bytes this way).
    leaves: Vec<Option<Box<Slot>>>,
    /// The earliest of the leaves' wakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_wake: Option<Micros>,
    /// Per leaf: its answer, as of its last update; it holds until its wake.
    answers: Vec<bool>,
    segments: Vec<bool>,
    stages: Vec<Option<u16>>,
    /// Messages stamped after `now`, by time then arrival: they come due then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<Observed>,
    /// The last time it was brought to.
    now: Micros,
}

impl ProfileState {
    /// The workspace segments this state is a member of, by key (`c` is
    /// what the state was built with).
    pub fn segments_in<'c>(&self, c: &'c Compiled) -> impl Iterator<Item = &'c str> {
        c.segment_keys().enumerate().filter(|(slot, _)| self.is_member(*slot)).map(|(_, k)| k)
    }

    /// Each stage set's current stage in this state (`None`: no stage).
    pub fn stages_in<'c>(&self, c: &'c Compiled) -> impl Iterator<Item = (&'c str, Option<&'c str>)> {
        c.stage_sets.iter().enumerate().map(|(slot, (set, stages))| {
            (set.as_str(), self.stage(slot).and_then(|i| stages.get(i as usize)).map(String::as_str))
        })
    }

    pub(crate) fn new(c: &Compiled) -> ProfileState {
        let traits = TraitStore::default();
        // An empty state's answer does not depend on the time.
        let answers =
            c.leaves.iter().map(|spec| LeafState::new(&spec.kind).holds(&spec.kind, Micros::MIN, &traits)).collect();
        ProfileState {
            born: None,
            traits,
            zone: None,
            leaves: vec![None; c.leaves.len()],
            next_wake: None,
            answers,
            segments: vec![false; c.segments.len()],
            stages: vec![None; c.stage_sets.len()],
            pending: Vec::new(),
            now: Micros::MIN,
        }
    }

    /// Builds the state of a profile from its whole history as of `now`,
    /// without reporting changes.
    pub(crate) fn build<'a>(
        c: &Compiled,
        zones: &mut Zones,
        messages: impl IntoIterator<Item = &'a Observed>,
        now: Micros,
    ) -> ProfileState {
        let mut s = ProfileState::new(c);
        s.now = now;
        let mut affected = Vec::new();
        let mut sorted: Vec<&Observed> = messages.into_iter().collect();
        sorted.sort_by_key(|m| m.seq);
        for m in sorted {
            if m.timestamp > now {
                s.hold(m.clone());
            } else {
                s.absorb(c, zones, m, now, &mut affected, false);
            }
        }
        for i in 0..s.leaves.len() {
            s.refresh(c, i, now);
        }
        let mut ignored = Vec::new();
        s.evaluate(c, &c.all_defs, now, &mut ignored);
        s
    }

    /// When the profile must next be woken: a leaf may change, or a message
    /// stamped in the future comes due.
    pub(crate) fn wake(&self) -> Option<Micros> {
        let leaves = self.next_wake;
        let pending = self.pending.first().map(|m| m.timestamp);
        leaves.into_iter().chain(pending).min()
    }

    /// Brings a leaf to `now`: its answer and its wake. Whether the answer
    /// changed.
    fn refresh(&mut self, c: &Compiled, leaf: usize, now: Micros) -> bool {
        let kind = &c.leaves[leaf].kind;
        let (answer, wake) = match &mut self.leaves[leaf] {
            Some(slot) => (slot.state.holds(kind, now, &self.traits), slot.state.next_change(kind, now)),
            // Empty: nothing to change with time alone (only `subscribed` reads the traits).
            None => (LeafState::new(kind).holds(kind, now, &self.traits), None),
        };
        debug_assert!(wake.is_none_or(|w| w > now), "a wake must come after now");
        // Never at or before `now`, which would wake the profile forever.
        self.set_wake(leaf, wake.map(|w| w.max(now.saturating_add(1))));
        std::mem::replace(&mut self.answers[leaf], answer) != answer
    }

    fn set_wake(&mut self, leaf: usize, wake: Option<Micros>) {
        let Some(slot) = &mut self.leaves[leaf] else {
            debug_assert!(wake.is_none(), "an empty leaf has no wake");
            return;
        };
        let old = std::mem::replace(&mut slot.wake, wake);
        if old == wake {
            return;
        }
        match (wake, self.next_wake) {
            (Some(w), Some(n)) if w < n => self.next_wake = Some(w),
            (Some(w), None) => self.next_wake = Some(w),
            // The earliest moved later: look for the new earliest.
            _ if old.is_some() && old == self.next_wake => {
                self.next_wake = self.leaves.iter().flatten().filter_map(|s| s.wake).min();
            }
            _ => {}
        }
    }

    pub(crate) fn is_member(&self, slot: usize) -> bool {
        self.segments.get(slot).copied().unwrap_or(false)
    }

    pub(crate) fn stage(&self, slot: usize) -> Option<u16> {
        self.stages.get(slot).copied().flatten()
    }

    pub(crate) fn segments(&self) -> &[bool] {
        &self.segments
    }

    pub(crate) fn stages(&self) -> &[Option<u16>] {
        &self.stages
    }

    /// Handles every wake up to `until`, in time order.
    pub(crate) fn run_until(&mut self, c: &Compiled, zones: &mut Zones, until: Micros, out: &mut Vec<(Micros, Flip)>) {
        while let Some(w) = self.wake().filter(|&w| w <= until) {
            self.wake_at(c, zones, w, out);
        }
    }

    fn wake_at(&mut self, c: &Compiled, zones: &mut Zones, now: Micros, out: &mut Vec<(Micros, Flip)>) {
        self.now = self.now.max(now);
        let mut affected = Vec::new();
        let due = self.pending.partition_point(|m| m.timestamp <= now);
        for m in self.pending.drain(..due).collect::<Vec<_>>() {
            self.take(c, zones, m, now, &mut affected);
        }
        if self.next_wake.is_some_and(|w| w <= now) {
            for i in 0..self.leaves.len() {
                let due = self.leaves[i].as_ref().and_then(|s| s.wake).is_some_and(|w| w <= now);
                if due && self.refresh(c, i, now) {
                    affected.extend_from_slice(&c.leaves[i].defs);
                }
            }
        }
        self.evaluate(c, &normalize(affected), now, out);
    }

    /// A message arrives at `now` (the profile's due wakes handled first).
    pub(crate) fn apply(
        &mut self,
        c: &Compiled,
        zones: &mut Zones,
        m: Observed,
        now: Micros,
        out: &mut Vec<(Micros, Flip)>,
    ) {
        self.run_until(c, zones, now, out);
        self.now = self.now.max(now);
        let now = self.now;
        let mut affected = Vec::new();
        self.take(c, zones, m, now, &mut affected);
        self.evaluate(c, &normalize(affected), now, out);
    }

    /// Takes a message into the leaves it concerns (or holds it until its
    /// time), noting which definitions to evaluate.
    fn take(&mut self, c: &Compiled, zones: &mut Zones, m: Observed, now: Micros, affected: &mut Vec<u32>) {
        if m.timestamp > now {
            self.hold(m);
            return;
        }
        self.absorb(c, zones, &m, now, affected, true);
    }

    /// Keeps a message stamped after `now` until its time.
    fn hold(&mut self, m: Observed) {
        let at = self.pending.partition_point(|p| (p.timestamp, p.seq) <= (m.timestamp, m.seq));
        self.pending.insert(at, m);
    }

    /// Takes a message at or before `now` into the leaves it concerns.
    /// `settle`: bring each leaf it changes to `now` (its answer and wake)
    /// and note the definitions to evaluate; a build skips that and settles
    /// every leaf once at the end.
    fn absorb(
        &mut self,
        c: &Compiled,
        zones: &mut Zones,
        m: &Observed,
        now: Micros,
        affected: &mut Vec<u32>,
        settle: bool,
    ) {
        if self.born.is_none_or(|b| m.timestamp < b) {
            if self.born.is_none() {
                affected.extend_from_slice(&c.all_defs);
            }
            self.born = Some(m.timestamp);
        }
        if let Some(traits) = &m.traits
            && self.traits.apply(traits, m.timestamp, m.seq)
        {
            affected.extend_from_slice(&c.all_defs);
            if settle {
                for &i in &c.trait_leaves {
                    self.refresh(c, i as usize, now);
                }
            }
            let zone = zone_name(self.traits.get(TIMEZONE_TRAIT)).map(str::to_string);
            if zone != self.zone {
                self.zone = zone;
                let tz = zones.get(self.zone.as_deref());
                for &i in &c.zone_leaves {
                    let (i, kind) = (i as usize, &c.leaves[i as usize].kind);
                    if let Some(slot) = &mut self.leaves[i] {
                        slot.state.advance(kind, now);
                        slot.state.reclassify(kind, &tz);
                        if settle {
                            self.refresh(c, i, now);
                        }
                    }
                }
            }
        }
        let plan: Option<&Plan> = match m.kind {
            MessageType::Track => m.name.as_deref().and_then(|n| c.plan_for_track(n)),
            MessageType::Page | MessageType::Screen => Some(&c.activity),
            _ => None,
        };
        let Some(plan) = plan.filter(|p| !p.leaves.is_empty()) else {
            return;
        };
        let tz = zones.get(self.zone.as_deref());
        for &i in &plan.leaves {
            let (i, kind) = (i as usize, &c.leaves[i as usize].kind);
            let touched = match &mut self.leaves[i] {
                Some(slot) => slot.state.on_event(kind, m, now, &tz),
                None => {
                    // Kept only if the event concerned it: an empty state that
                    // an event leaves alone stays empty.
                    let mut state = LeafState::new(kind);
                    let touched = state.on_event(kind, m, now, &tz);
                    if touched {
                        self.leaves[i] = Some(Box::new(Slot { state, wake: None }));
                    }
                    touched
                }
            };
            if touched && settle && self.refresh(c, i, now) {
                affected.extend_from_slice(&c.leaves[i].defs);
            }
        }
    }

    /// Evaluates `defs` (in dependency order) at `now`, reporting flips.
    fn evaluate(&mut self, c: &Compiled, defs: &[u32], now: Micros, out: &mut Vec<(Micros, Flip)>) {
        let exists = self.born.is_some_and(|b| b <= now);
        for &d in defs {
            match &c.defs[d as usize] {
                Def::Segment { slot, condition } => {
                    let member = exists && self.holds(condition);
                    if member != self.segments[*slot] {
                        self.segments[*slot] = member;
                        out.push((now, Flip::Segment { slot: *slot, member }));
                    }
                }
                Def::Stages { slot, stages } => {
                    let stage = if exists { stages.iter().position(|n| self.holds(n)).map(|i| i as u16) } else { None };
                    let from = self.stages[*slot];
                    if stage != from {
                        self.stages[*slot] = stage;
                        out.push((now, Flip::Stage { slot: *slot, from, to: stage }));
                    }
                }
            }
        }
    }

    fn holds(&self, n: &Node) -> bool {
        match n {
            Node::And(ns) => ns.iter().all(|n| self.holds(n)),
            Node::Or(ns) => ns.iter().any(|n| self.holds(n)),
            Node::Not(n) => !self.holds(n),
            Node::Leaf(i) => self.answers[*i as usize],
            Node::Trait(t) => value::test(self.traits.lookup(&t.path.keys), &t.test),
            Node::Segment(slot) => self.segments[*slot],
            Node::Stage(slot, stage) => self.stages[*slot] == Some(*stage),
            Node::True => true,
        }
    }
}

/// Sorted and deduplicated: dependency order, each definition once.
fn normalize(mut defs: Vec<u32>) -> Vec<u32> {
    defs.sort_unstable();
    defs.dedup();
    defs
}
