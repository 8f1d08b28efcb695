//! The engine: every profile's live state, membership bitmaps, the timer
//! queue, and the changes they produce.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use jiff::tz::TimeZone;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use tidings_model::{Micros, ProfileId};
use tidings_rules::Workspace;

use super::profile::{Flip, ProfileState};
use crate::compile::Compiled;
use crate::error::EngineError;
use crate::input::{Observed, ProfileInput};
use crate::local::Zones;

/// A profile entered or left a segment, or moved between stages, at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub profile: ProfileId,
    #[serde(flatten)]
    pub kind: ChangeKind,
    /// When it happened: the time the engine was at when a message arrived,
    /// or the exact time a timer computed for a change with time alone.
    pub at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeKind {
    Entered {
        segment: String,
    },
    Exited {
        segment: String,
    },
    /// `from` is `None` when the profile first comes to exist (or is
    /// rebuilt from nothing); `to` is `None` when it is removed.
    StageChanged {
        set: String,
        from: Option<String>,
        to: Option<String>,
    },
}

/// Segments and stages for many profiles, kept true as messages arrive and
/// as time passes. See the crate docs.
#[derive(Debug, Clone)]
pub struct Engine {
    compiled: Arc<Compiled>,
    zones: Zones,
    profiles: HashMap<ProfileId, Entry, BuildHasherDefault<IdHasher>>,
    /// Per segment slot.
    members: Vec<RoaringBitmap>,
    /// Per stage set slot, per stage.
    stage_members: Vec<Vec<RoaringBitmap>>,
    /// Wake times: the earliest for each profile.
    timers: BTreeSet<(Micros, ProfileId)>,
    now: Micros,
}

#[derive(Debug, Clone)]
struct Entry {
    state: ProfileState,
    /// The timer set for it, if any (its key in `timers`).
    timer: Option<Micros>,
}

/// Everything needed to restart an engine without replaying history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`Compiled::fingerprint`] of the definitions the states belong to.
    pub fingerprint: u64,
    pub now: Micros,
    pub profiles: Vec<(ProfileId, ProfileState)>,
}

/// Profile ids are dense numbers, not attacker-chosen keys: a multiply
/// spreads them well enough (Fibonacci hashing), far cheaper than SipHash.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = n as u64;
    }
}

fn bit(profile: ProfileId) -> Result<u32, EngineError> {
    u32::try_from(profile.0).map_err(|_| EngineError::ProfileOutOfRange(profile))
}

impl Engine {
    /// An engine with no profiles. `default_tz` is the workspace's time zone
    /// for profiles without a valid `timezone` trait.
    pub fn new(workspace: &Workspace, default_tz: TimeZone) -> Result<Engine, EngineError> {
        Ok(Engine::with_compiled(Arc::new(Compiled::new(workspace)?), default_tz))
    }

    pub fn with_compiled(compiled: Arc<Compiled>, default_tz: TimeZone) -> Engine {
        let members = vec![RoaringBitmap::new(); compiled.segments.len()];
        let stage_members = compiled.stage_sets.iter().map(|(_, s)| vec![RoaringBitmap::new(); s.len()]).collect();
        Engine {
            compiled,
            zones: Zones::new(default_tz),
            profiles: HashMap::default(),
            members,
            stage_members,
            timers: BTreeSet::new(),
            now: Micros::MIN,
        }
    }

    pub fn compiled(&self) -> &Arc<Compiled> {
        &self.compiled
    }

    pub fn default_tz(&self) -> &TimeZone {
        self.zones.default_zone()
    }

    /// The latest time the engine has been brought to.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// A message for `profile` arrives at `now`. The profile's own timers due
    /// by `now` fire first (their changes come first, at their own times);
    /// then the message is taken in, or held until its timestamp if that is
    /// later than `now`. `now` never goes backward: an earlier one counts as
    /// the latest seen.
    pub fn apply(&mut self, profile: ProfileId, message: Observed, now: Micros) -> Result<Vec<Change>, EngineError> {
        let b = bit(profile)?;
        self.now = self.now.max(now);
        let now = self.now;
        let compiled = Arc::clone(&self.compiled);
        let entry =
            self.profiles.entry(profile).or_insert_with(|| Entry { state: ProfileState::new(&compiled), timer: None });
        let mut flips = Vec::new();
        entry.state.apply(&compiled, &mut self.zones, message, now, &mut flips);
        reschedule(&mut self.timers, profile, entry);
        Ok(self.record(profile, b, flips))
    }

    /// Traits set for `profile` by a message stamped `at` (arrival `seq`),
    /// arriving at `now`: the same as applying an `identify` message.
    pub fn set_traits(
        &mut self,
        profile: ProfileId,
        traits: serde_json::Map<String, serde_json::Value>,
        at: Micros,
        seq: i64,
        now: Micros,
    ) -> Result<Vec<Change>, EngineError> {
        self.apply(profile, Observed::identify(seq, at, serde_json::Value::Object(traits)), now)
    }

    /// Fires every timer due by `now`, in time order, and returns the
    /// changes, each at the time its timer was set for.
    pub fn advance(&mut self, now: Micros) -> Vec<Change> {
        self.now = self.now.max(now);
        let mut changes = Vec::new();
        while let Some(&(w, profile)) = self.timers.first()
            && w <= now
        {
            self.timers.pop_first();
            let Some(entry) = self.profiles.get_mut(&profile) else {
                continue;
            };
            entry.timer = None;
            let mut flips = Vec::new();
            entry.state.run_until(&self.compiled, &mut self.zones, w, &mut flips);
            reschedule(&mut self.timers, profile, entry);
            // Profiles get a timer only after `bit` accepted them.
            if let Ok(b) = bit(profile) {
                changes.extend(self.record(profile, b, flips));
            }
        }
        changes
    }

    /// The earliest timer: call [`Engine::advance`] then.
    pub fn next_wake(&self) -> Option<Micros> {
        self.timers.first().map(|t| t.0)
    }

    /// Builds a profile's state from its whole history as of `now`, without
    /// reporting changes (it replaces any state the profile had). For
    /// loading an engine from the event log; [`Engine::rebuild`] reports
    /// what changed instead.
    pub fn backfill(&mut self, profile: ProfileId, history: &ProfileInput, now: Micros) -> Result<(), EngineError> {
        let state = ProfileState::build(&self.compiled, &mut self.zones, &history.messages, now);
        self.install(profile, state)
    }

    /// Installs a state built elsewhere (see [`build_state`]), without
    /// reporting changes.
    pub fn install(&mut self, profile: ProfileId, state: ProfileState) -> Result<(), EngineError> {
        let b = bit(profile)?;
        if let Some(old) = self.profiles.remove(&profile) {
            self.unindex(b, &old.state);
            if let Some(t) = old.timer {
                self.timers.remove(&(t, profile));
            }
        }
        self.index(b, &state);
        let mut entry = Entry { state, timer: None };
        reschedule(&mut self.timers, profile, &mut entry);
        self.profiles.insert(profile, entry);
        Ok(())
    }

    /// Replaces a profile's state with one built from its whole history as
    /// of `now`, and reports the differences as changes at `now` (after an
    /// identity merge, say).
    pub fn rebuild(
        &mut self,
        profile: ProfileId,
        history: &ProfileInput,
        now: Micros,
    ) -> Result<Vec<Change>, EngineError> {
        let b = bit(profile)?;
        self.now = self.now.max(now);
        let now = self.now;
        let mut changes = Vec::new();
        if let Some(entry) = self.profiles.get_mut(&profile) {
            let mut flips = Vec::new();
            entry.state.run_until(&self.compiled, &mut self.zones, now, &mut flips);
            changes.extend(self.record(profile, b, flips));
        }
        let state = ProfileState::build(&self.compiled, &mut self.zones, &history.messages, now);
        let old = self.profiles.get(&profile).map(|e| e.state.clone());
        let empty = ProfileState::new(&self.compiled);
        let flips = diff(old.as_ref().unwrap_or(&empty), &state, now);
        self.install(profile, state)?;
        changes.extend(self.describe(profile, flips));
        Ok(changes)
    }

    /// Forgets a profile; it leaves every segment and stage at `now`.
    pub fn remove_profile(&mut self, profile: ProfileId, now: Micros) -> Vec<Change> {
        self.now = self.now.max(now);
        let now = self.now;
        let Ok(b) = bit(profile) else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        if let Some(entry) = self.profiles.get_mut(&profile) {
            let mut flips = Vec::new();
            entry.state.run_until(&self.compiled, &mut self.zones, now, &mut flips);
            changes.extend(self.record(profile, b, flips));
        }
        let Some(entry) = self.profiles.remove(&profile) else {
            return changes;
        };
        if let Some(t) = entry.timer {
            self.timers.remove(&(t, profile));
        }
        self.unindex(b, &entry.state);
        let flips = diff(&entry.state, &ProfileState::new(&self.compiled), now);
        changes.extend(self.describe(profile, flips));
        changes
    }

    /// An identity merge: `from` is folded into `into`, whose whole history
    /// (both profiles' messages) is `history`.
    pub fn merge(
        &mut self,
        from: ProfileId,
        into: ProfileId,
        history: &ProfileInput,
        now: Micros,
    ) -> Result<Vec<Change>, EngineError> {
        bit(into)?;
        let mut changes = self.remove_profile(from, now);
        changes.extend(self.rebuild(into, history, now)?);
        Ok(changes)
    }

    /// The members of a segment, as of the last message or timer.
    pub fn members(&self, segment: &str) -> Option<&RoaringBitmap> {
        self.members.get(self.compiled.segment_slot(segment)?)
    }

    /// The profiles in one stage of a stage set.
    pub fn stage_members(&self, set: &str, stage: &str) -> Option<&RoaringBitmap> {
        let slot = self.compiled.set_slot(set)?;
        let i = self.compiled.stage_sets[slot].1.iter().position(|s| s == stage)?;
        self.stage_members.get(slot)?.get(i)
    }

    pub fn is_member(&self, profile: ProfileId, segment: &str) -> bool {
        let Some(slot) = self.compiled.segment_slot(segment) else {
            return false;
        };
        self.profiles.get(&profile).is_some_and(|e| e.state.is_member(slot))
    }

    /// The segments a profile is in, in dependency order.
    pub fn segments_of(&self, profile: ProfileId) -> Vec<&str> {
        let Some(e) = self.profiles.get(&profile) else {
            return Vec::new();
        };
        self.compiled.segment_keys().enumerate().filter(|(slot, _)| e.state.is_member(*slot)).map(|(_, k)| k).collect()
    }

    /// Whether a condition compiled with the definitions
    /// ([`Compiled::with_conditions`]) holds for `profile` now; `None` when
    /// it was not compiled. A profile the engine does not know satisfies
    /// none (as the reference evaluator says of a profile with no messages).
    pub fn holds(&self, profile: ProfileId, condition: &str) -> Option<bool> {
        let slot = self.compiled.condition_slot(condition)?;
        Some(self.profiles.get(&profile).is_some_and(|e| e.state.is_member(slot)))
    }

    /// The profiles for which a compiled condition holds now.
    pub fn condition_members(&self, condition: &str) -> Option<&RoaringBitmap> {
        self.members.get(self.compiled.condition_slot(condition)?)
    }

    /// A profile's current stage in a stage set.
    pub fn stage_of(&self, profile: ProfileId, set: &str) -> Option<&str> {
        let slot = self.compiled.set_slot(set)?;
        let stage = self.profiles.get(&profile)?.state.stage(slot)?;
        Some(self.compiled.stage_sets[slot].1[stage as usize].as_str())
    }

    /// The profiles the engine holds, in no order.
    pub fn profile_ids(&self) -> impl Iterator<Item = ProfileId> + '_ {
        self.profiles.keys().copied()
    }

    pub fn profile_count(&self) -> usize {
        self.profiles.len()
    }

    pub fn profile_state(&self, profile: ProfileId) -> Option<&ProfileState> {
        self.profiles.get(&profile).map(|e| &e.state)
    }

    /// Every profile's state, for saving.
    pub fn snapshot(&self) -> Snapshot {
        let mut profiles: Vec<(ProfileId, ProfileState)> =
            self.profiles.iter().map(|(p, e)| (*p, e.state.clone())).collect();
        profiles.sort_by_key(|p| p.0);
        Snapshot { fingerprint: self.compiled.fingerprint, now: self.now, profiles }
    }

    /// An engine from a snapshot taken under the same definitions.
    pub fn restore(workspace: &Workspace, default_tz: TimeZone, snapshot: Snapshot) -> Result<Engine, EngineError> {
        Engine::restore_compiled(Arc::new(Compiled::new(workspace)?), default_tz, snapshot)
    }

    /// [`Engine::restore`] for definitions already compiled (with their conditions).
    pub fn restore_compiled(
        compiled: Arc<Compiled>,
        default_tz: TimeZone,
        snapshot: Snapshot,
    ) -> Result<Engine, EngineError> {
        let mut engine = Engine::with_compiled(compiled, default_tz);
        if snapshot.fingerprint != engine.compiled.fingerprint {
            return Err(EngineError::StaleSnapshot {
                found: snapshot.fingerprint,
                expected: engine.compiled.fingerprint,
            });
        }
        engine.now = snapshot.now;
        for (profile, state) in snapshot.profiles {
            engine.install(profile, state)?;
        }
        Ok(engine)
    }

    fn index(&mut self, b: u32, s: &ProfileState) {
        for (slot, &m) in s.segments().iter().enumerate() {
            if m {
                self.members[slot].insert(b);
            }
        }
        for (slot, st) in s.stages().iter().enumerate() {
            if let Some(i) = st {
                self.stage_members[slot][*i as usize].insert(b);
            }
        }
    }

    fn unindex(&mut self, b: u32, s: &ProfileState) {
        for (slot, &m) in s.segments().iter().enumerate() {
            if m {
                self.members[slot].remove(b);
            }
        }
        for (slot, st) in s.stages().iter().enumerate() {
            if let Some(i) = st {
                self.stage_members[slot][*i as usize].remove(b);
            }
        }
    }

    /// Updates the bitmaps for flips and describes them as changes.
    fn record(&mut self, profile: ProfileId, b: u32, flips: Vec<(Micros, Flip)>) -> Vec<Change> {
        for (_, f) in &flips {
            match *f {
                Flip::Segment { slot, member: true } => {
                    self.members[slot].insert(b);
                }
                Flip::Segment { slot, member: false } => {
                    self.members[slot].remove(b);
                }
                Flip::Stage { slot, from, to } => {
                    if let Some(i) = from {
                        self.stage_members[slot][i as usize].remove(b);
                    }
                    if let Some(i) = to {
                        self.stage_members[slot][i as usize].insert(b);
                    }
                }
            }
        }
        self.describe(profile, flips)
    }

    fn describe(&self, profile: ProfileId, flips: Vec<(Micros, Flip)>) -> Vec<Change> {
        let c = &self.compiled;
        flips
            .into_iter()
            // Conditions are asked about, not announced.
            .filter(|(_, f)| !matches!(f, Flip::Segment { slot, .. } if !c.is_visible(*slot)))
            .map(|(at, f)| {
                let kind = match f {
                    Flip::Segment { slot, member: true } => ChangeKind::Entered { segment: c.segments[slot].clone() },
                    Flip::Segment { slot, member: false } => ChangeKind::Exited { segment: c.segments[slot].clone() },
                    Flip::Stage { slot, from, to } => {
                        let (set, names) = &c.stage_sets[slot];
                        let name = |i: Option<u16>| i.map(|i| names[i as usize].clone());
                        ChangeKind::StageChanged { set: set.clone(), from: name(from), to: name(to) }
                    }
                };
                Change { profile, kind, at }
            })
            .collect()
    }
}

/// Builds one profile's state from its history as of `now` with no engine
/// at hand, so that many can be built in parallel and then
/// [`Engine::install`]ed.
pub fn build_state(compiled: &Compiled, default_tz: &TimeZone, history: &ProfileInput, now: Micros) -> ProfileState {
    let mut zones = Zones::new(default_tz.clone());
    ProfileState::build(compiled, &mut zones, &history.messages, now)
}

fn reschedule(timers: &mut BTreeSet<(Micros, ProfileId)>, profile: ProfileId, entry: &mut Entry) {
    let wake = entry.state.wake();
    if wake == entry.timer {
        return;
    }
    if let Some(t) = entry.timer {
        timers.remove(&(t, profile));
    }
    if let Some(t) = wake {
        timers.insert((t, profile));
    }
    entry.timer = wake;
}

/// The flips that turn `old`'s memberships and stages into `new`'s.
fn diff(old: &ProfileState, new: &ProfileState, now: Micros) -> Vec<(Micros, Flip)> {
    let mut flips = Vec::new();
    for (slot, (&a, &b)) in old.segments().iter().zip(new.segments()).enumerate() {
        if a != b {
            flips.push((now, Flip::Segment { slot, member: b }));
        }
    }
    for (slot, (&a, &b)) in old.stages().iter().zip(new.stages()).enumerate() {
        if a != b {
            flips.push((now, Flip::Stage { slot, from: a, to: b }));
        }
    }
    flips
}
