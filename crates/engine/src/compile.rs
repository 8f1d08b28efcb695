//! Rules compiled for the live engine: every definition's condition as a
//! tree over numbered leaves; for every event name, the leaves an event of
//! that name updates; and for every leaf, the definitions to evaluate again
//! when its answer changes (those that contain it and every definition that
//! refers to one of them, in dependency order).
//!
//! Identical leaves (the same rule text, anywhere in the workspace) share
//! one leaf, and so one state per profile.
//!
//! Besides the workspace's definitions, a compilation may carry
//! *conditions*: rules that are not segments but that others ask about for
//! every profile (a journey's `if` and `exit_when`, an audience,
//! `subscribed`). Each is kept like a segment (a slot after the workspace's
//! segments, a bitmap), is answered by [`crate::Engine::holds`], and never
//! produces a [`crate::Change`].

use std::collections::{BTreeSet, HashMap};

use tidings_model::Micros;
use tidings_model::event::ENGINE_EVENTS;
use tidings_rules::{
    AggregateFn, CmpOp, Condition, Count, Days, Definition, EventMatcher, PropertyPath, Relation, TraitTest, Which,
    Window, Workspace,
};

use crate::error::EngineError;

/// A workspace's definitions, compiled. Shared by every profile's state;
/// build once with [`Compiled::new`].
#[derive(Debug, Clone)]
pub struct Compiled {
    pub(crate) defs: Vec<Def>,
    pub(crate) leaves: Vec<LeafSpec>,
    /// Segment keys by slot: the workspace's segments, then the conditions (by their text).
    pub(crate) segments: Vec<String>,
    /// How many of `segments` are the workspace's; the rest are conditions.
    pub(crate) visible: usize,
    /// The slots of the conditions, by their rule text.
    pub(crate) conditions: HashMap<String, usize>,
    /// Stage sets by slot: key and stage names.
    pub(crate) stage_sets: Vec<(String, Vec<String>)>,
    /// What an event named so updates (`track` events only).
    pub(crate) by_name: HashMap<String, Plan>,
    /// What any other activity (`page`, `screen`, a `track` no rule names)
    /// updates: the activity leaves.
    pub(crate) activity: Plan,
    /// Every definition, for trait changes and a profile's first message.
    pub(crate) all_defs: Vec<u32>,
    /// Leaves whose items depend on the profile's time zone.
    pub(crate) zone_leaves: Vec<u32>,
    /// Leaves whose answer reads traits (`subscribed`).
    pub(crate) trait_leaves: Vec<u32>,
    pub(crate) fingerprint: u64,
}

/// One definition, in dependency order.
#[derive(Debug, Clone)]
pub(crate) enum Def {
    Segment { slot: usize, condition: Node },
    Stages { slot: usize, stages: Vec<Node> },
}

/// A condition over the leaves.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Leaf(u32),
    Trait(TraitTest),
    Segment(usize),
    Stage(usize, u16),
    True,
}

/// The leaves an event updates. (Definitions are evaluated again only for
/// the leaves whose answer it changes: see [`LeafSpec::defs`].)
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub leaves: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct LeafSpec {
    pub kind: LeafKind,
    /// The definitions to evaluate when this leaf changes: those containing
    /// it and everything that depends on them, in dependency order.
    pub defs: Vec<u32>,
}

/// Where a leaf counts events: `Range` is `(now - max, now - min]` (`in last
/// D` is `min = 0`), `Since` the time after the newest matching event.
#[derive(Debug, Clone)]
pub(crate) enum Win {
    Ever,
    Range { min: Micros, max: Micros },
    Since(EventMatcher),
}

impl Win {
    fn of(w: &Window) -> Win {
        match w {
            Window::Ever { .. } => Win::Ever,
            Window::InLast { duration, .. } => Win::Range { min: 0, max: duration.micros() },
            Window::Between { min_age, max_age, .. } => Win::Range { min: min_age.micros(), max: max_age.micros() },
            Window::SinceLast { event, .. } => Win::Since((**event).clone()),
        }
    }

    fn since(&self) -> Option<&EventMatcher> {
        match self {
            Win::Since(m) => Some(m),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum LeafKind {
    Did { event: EventMatcher, count: Count, window: Win },
    Sequence(Box<SequenceSpec>),
    Recency { event: EventMatcher, which: Which, relation: Relation, ago: Micros },
    Seen { which: Which, relation: Relation, ago: Micros },
    Aggregate(Box<AggregateSpec>),
    Share { event: EventMatcher, days: Days, window: Win, op: CmpOp, value: f64 },
    ActiveDays { count: Count, window: Win },
    Subscribed { topic: Option<String> },
}

#[derive(Debug, Clone)]
pub(crate) struct SequenceSpec {
    pub first: EventMatcher,
    pub then: EventMatcher,
    pub negated: bool,
    pub within: Micros,
    pub matching: Option<PropertyPath>,
    pub window: Win,
}

#[derive(Debug, Clone)]
pub(crate) struct AggregateSpec {
    pub function: AggregateFn,
    pub property: PropertyPath,
    pub event: EventMatcher,
    pub window: Win,
    pub op: CmpOp,
    pub value: f64,
}

impl LeafKind {
    fn of(c: &Condition) -> Option<LeafKind> {
        Some(match c {
            Condition::Did(d) => {
                LeafKind::Did { event: d.event.clone(), count: d.count.clone(), window: Win::of(&d.window) }
            }
            Condition::Sequence(s) => LeafKind::Sequence(Box::new(SequenceSpec {
                first: s.first.clone(),
                then: s.then.clone(),
                negated: s.negated,
                within: s.within.micros(),
                matching: s.matching.clone(),
                window: Win::of(&s.window),
            })),
            Condition::Recency(r) => {
                LeafKind::Recency { event: r.event.clone(), which: r.which, relation: r.relation, ago: r.ago.micros() }
            }
            Condition::Seen(s) => LeafKind::Seen { which: s.which, relation: s.relation, ago: s.ago.micros() },
            Condition::Aggregate(a) => LeafKind::Aggregate(Box::new(AggregateSpec {
                function: a.function,
                property: a.property.clone(),
                event: a.event.clone(),
                window: Win::of(&a.window),
                op: a.op,
                value: a.value,
            })),
            Condition::Share(s) => LeafKind::Share {
                event: s.event.clone(),
                days: s.days.clone(),
                window: Win::of(&s.window),
                op: s.op,
                value: s.value,
            },
            Condition::ActiveDays(a) => LeafKind::ActiveDays { count: a.count.clone(), window: Win::of(&a.window) },
            Condition::Subscribed(s) => LeafKind::Subscribed { topic: s.topic.clone() },
            _ => return None,
        })
    }

    /// The event names whose events this leaf reads, and whether it reads all
    /// activity.
    fn listens(&self) -> (Vec<&str>, bool) {
        let mut names = Vec::new();
        let activity = match self {
            LeafKind::Did { event, window, .. } | LeafKind::Share { event, window, .. } => {
                names.push(event.name.as_str());
                names.extend(window.since().map(|m| m.name.as_str()));
                false
            }
            LeafKind::Aggregate(a) => {
                names.push(a.event.name.as_str());
                names.extend(a.window.since().map(|m| m.name.as_str()));
                false
            }
            LeafKind::Sequence(s) => {
                names.push(s.first.name.as_str());
                names.push(s.then.name.as_str());
                names.extend(s.window.since().map(|m| m.name.as_str()));
                false
            }
            LeafKind::Recency { event, .. } => {
                names.push(event.name.as_str());
                false
            }
            LeafKind::ActiveDays { window, .. } => {
                names.extend(window.since().map(|m| m.name.as_str()));
                true
            }
            LeafKind::Seen { .. } => true,
            LeafKind::Subscribed { .. } => {
                names.push(crate::subscription::UNSUBSCRIBED_EVENT);
                false
            }
        };
        (names, activity)
    }

    /// Whether the leaf sorts events by local time.
    pub(crate) fn zoned(&self) -> bool {
        matches!(self, LeafKind::Share { .. } | LeafKind::ActiveDays { .. })
    }
}

impl Compiled {
    /// Compiles a checked workspace. Fails only on a reference to a
    /// definition the workspace does not hold (which `check_workspace`
    /// never lets through).
    pub fn new(workspace: &Workspace) -> Result<Compiled, EngineError> {
        Compiled::with_conditions(workspace, &[])
    }

    /// Compiles a checked workspace and `conditions` over it (see the module
    /// docs). A condition that appears twice is kept once.
    pub fn with_conditions(workspace: &Workspace, conditions: &[Condition]) -> Result<Compiled, EngineError> {
        let mut b = Builder::default();
        for r in &workspace.definitions {
            match &r.definition {
                Definition::Segment(s) => {
                    b.segment_slots.insert(s.key.clone(), b.segments.len());
                    b.segments.push(s.key.clone());
                }
                Definition::Stages(s) => {
                    b.set_slots.insert(s.key.clone(), b.stage_sets.len());
                    b.stage_sets.push((s.key.clone(), s.stages.iter().map(|st| st.name.clone()).collect()));
                }
            }
        }
        let mut fingerprint = Fnv::default();
        fingerprint.write(format!("tidings-engine state v{}\n", crate::STATE_VERSION).as_bytes());
        for (d, r) in workspace.definitions.iter().enumerate() {
            fingerprint.write(r.definition.to_string().as_bytes());
            fingerprint.write(b"\n");
            b.current = d as u32;
            b.refs.push(Vec::new());
            let def = match &r.definition {
                Definition::Segment(s) => {
                    Def::Segment { slot: b.segment_slots[&s.key], condition: b.node(&s.condition)? }
                }
                Definition::Stages(s) => Def::Stages {
                    slot: b.set_slots[&s.key],
                    stages: s.stages.iter().map(|st| b.node(&st.condition)).collect::<Result<_, _>>()?,
                },
            };
            b.defs.push(def);
        }
        let visible = b.segments.len();
        let mut slots = HashMap::new();
        for c in conditions {
            let text = c.to_string();
            if slots.contains_key(&text) {
                continue;
            }
            fingerprint.write(b"condition ");
            fingerprint.write(text.as_bytes());
            fingerprint.write(b"\n");
            let slot = b.segments.len();
            b.segments.push(text.clone());
            slots.insert(text, slot);
            b.current = b.defs.len() as u32;
            b.refs.push(Vec::new());
            let condition = b.node(c)?;
            b.defs.push(Def::Segment { slot, condition });
        }
        let mut compiled = b.finish(fingerprint.0);
        compiled.visible = visible;
        compiled.conditions = slots;
        Ok(compiled)
    }

    /// A number that changes whenever the definitions (or the engine's state
    /// format) do: a snapshot taken under another fingerprint is stale.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The workspace's segment keys, in definition order.
    pub fn segment_keys(&self) -> impl Iterator<Item = &str> {
        self.segments[..self.visible].iter().map(String::as_str)
    }

    /// The conditions compiled beside the workspace's definitions, by their rule text.
    pub fn condition_texts(&self) -> impl Iterator<Item = &str> {
        self.segments[self.visible..].iter().map(String::as_str)
    }

    pub fn stage_set_keys(&self) -> impl Iterator<Item = &str> {
        self.stage_sets.iter().map(|s| s.0.as_str())
    }

    /// A workspace segment's slot.
    pub(crate) fn segment_slot(&self, key: &str) -> Option<usize> {
        self.segments[..self.visible].iter().position(|k| k == key)
    }

    /// A compiled condition's slot, by its rule text.
    pub(crate) fn condition_slot(&self, text: &str) -> Option<usize> {
        self.conditions.get(text).copied()
    }

    /// Whether a segment slot is one of the workspace's (not a condition).
    pub(crate) fn is_visible(&self, slot: usize) -> bool {
        slot < self.visible
    }

    pub(crate) fn set_slot(&self, key: &str) -> Option<usize> {
        self.stage_sets.iter().position(|s| s.0 == key)
    }

    /// The plan for a `track` event named `name`.
    pub(crate) fn plan_for_track(&self, name: &str) -> Option<&Plan> {
        match self.by_name.get(name) {
            Some(p) => Some(p),
            None if !ENGINE_EVENTS.contains(&name) => Some(&self.activity),
            None => None,
        }
    }
}

#[derive(Default)]
struct Builder {
    defs: Vec<Def>,
    leaves: Vec<LeafSpec>,
    leaf_ids: HashMap<String, u32>,
    /// For each leaf, the definitions that contain it directly.
    leaf_defs: Vec<BTreeSet<u32>>,
    /// For each definition, the definitions it refers to.
    refs: Vec<Vec<u32>>,
    segments: Vec<String>,
    segment_slots: HashMap<String, usize>,
    stage_sets: Vec<(String, Vec<String>)>,
    set_slots: HashMap<String, usize>,
    current: u32,
}

impl Builder {
    fn node(&mut self, c: &Condition) -> Result<Node, EngineError> {
        Ok(match c {
            Condition::And { operands, .. } => {
                Node::And(operands.iter().map(|c| self.node(c)).collect::<Result<_, _>>()?)
            }
            Condition::Or { operands, .. } => {
                Node::Or(operands.iter().map(|c| self.node(c)).collect::<Result<_, _>>()?)
            }
            Condition::Not { operand, .. } => Node::Not(Box::new(self.node(operand)?)),
            Condition::Otherwise { .. } => Node::True,
            Condition::Trait(t) => Node::Trait(t.clone()),
            Condition::InSegment(r) => {
                let slot =
                    *self.segment_slots.get(&r.key).ok_or_else(|| EngineError::UnknownReference(r.key.clone()))?;
                let def = self.def_of_segment(slot);
                self.refer(def, &r.key)?;
                Node::Segment(slot)
            }
            Condition::InStage(r) => {
                let unknown = || EngineError::UnknownReference(format!("{}.{}", r.set, r.stage));
                let slot = *self.set_slots.get(&r.set).ok_or_else(unknown)?;
                let stage = self.stage_sets[slot].1.iter().position(|s| *s == r.stage).ok_or_else(unknown)?;
                let def = self.def_of_set(slot);
                self.refer(def, &r.set)?;
                Node::Stage(slot, stage as u16)
            }
            leaf => {
                let kind = LeafKind::of(leaf).ok_or_else(|| EngineError::UnknownReference(leaf.to_string()))?;
                let text = leaf.to_string();
                let id = match self.leaf_ids.get(&text) {
                    Some(&id) => id,
                    None => {
                        let id = self.leaves.len() as u32;
                        self.leaves.push(LeafSpec { kind, defs: Vec::new() });
                        self.leaf_defs.push(BTreeSet::new());
                        self.leaf_ids.insert(text, id);
                        id
                    }
                };
                self.leaf_defs[id as usize].insert(self.current);
                Node::Leaf(id)
            }
        })
    }

    fn def_of_segment(&self, slot: usize) -> Option<u32> {
        self.defs.iter().position(|d| matches!(d, Def::Segment { slot: s, .. } if *s == slot)).map(|i| i as u32)
    }

    fn def_of_set(&self, slot: usize) -> Option<u32> {
        self.defs.iter().position(|d| matches!(d, Def::Stages { slot: s, .. } if *s == slot)).map(|i| i as u32)
    }

    /// Records that the current definition refers to `def`, which must come
    /// before it.
    fn refer(&mut self, def: Option<u32>, key: &str) -> Result<(), EngineError> {
        let def = def.ok_or_else(|| EngineError::OutOfOrder(key.to_string()))?;
        let current = self.current as usize;
        if !self.refs[current].contains(&def) {
            self.refs[current].push(def);
        }
        Ok(())
    }

    fn finish(self, fingerprint: u64) -> Compiled {
        let n = self.defs.len();
        // closure[d]: d and everything that depends on it. Dependents come
        // later in the order, so one backward pass suffices.
        let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (d, refs) in self.refs.iter().enumerate() {
            for &r in refs {
                dependents[r as usize].push(d as u32);
            }
        }
        let mut closure: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
        for d in (0..n).rev() {
            let mut set = BTreeSet::from([d as u32]);
            for &x in &dependents[d] {
                set.extend(closure[x as usize].iter().copied());
            }
            closure[d] = set;
        }
        let mut leaves = self.leaves;
        for (leaf, direct) in leaves.iter_mut().zip(&self.leaf_defs) {
            let all: BTreeSet<u32> = direct.iter().flat_map(|&d| closure[d as usize].iter().copied()).collect();
            leaf.defs = all.into_iter().collect();
        }

        let plan = |ids: &BTreeSet<u32>| Plan { leaves: ids.iter().copied().collect() };
        let mut named: HashMap<String, BTreeSet<u32>> = HashMap::new();
        let mut activity: BTreeSet<u32> = BTreeSet::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let (names, reads_activity) = leaf.kind.listens();
            for name in names {
                named.entry(name.to_string()).or_default().insert(i as u32);
            }
            if reads_activity {
                activity.insert(i as u32);
            }
        }
        let mut by_name = HashMap::new();
        for (name, mut ids) in named {
            if !ENGINE_EVENTS.contains(&name.as_str()) {
                ids.extend(activity.iter().copied());
            }
            by_name.insert(name, plan(&ids));
        }
        let activity = plan(&activity);
        let zone_leaves = (0..leaves.len() as u32).filter(|&i| leaves[i as usize].kind.zoned()).collect();
        let trait_leaves = (0..leaves.len() as u32)
            .filter(|&i| matches!(leaves[i as usize].kind, LeafKind::Subscribed { .. }))
            .collect();
        Compiled {
            defs: self.defs,
            leaves,
            visible: self.segments.len(),
            conditions: HashMap::new(),
            segments: self.segments,
            stage_sets: self.stage_sets,
            by_name,
            activity,
            all_defs: (0..n as u32).collect(),
            zone_leaves,
            trait_leaves,
            fingerprint,
        }
    }
}

/// FNV-1a, 64 bits: a stable hash (std's is not stable across releases).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
