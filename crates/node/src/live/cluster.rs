//! The live engine when several nodes share one database.
//!
//! A node's engine then holds only the profiles of the partitions its node
//! owns ([`crate::partitions`]), and it learns of appends by tailing the
//! workspace's log by position rather than from its own ingest writer:
//! every node's appends (HTTP ingest, tracking, other nodes' runners and
//! engines) reach it in log order, which the store's per-workspace append
//! lock keeps gap-free. Identity merges are read beside the log
//! ([`tidings_store::Store::merges_between`]) and applied at their position.
//!
//! When its node gains a partition, the engine builds that partition's
//! profiles from their stored history up to where it has read, and records
//! what the last owner computed but did not record, once. The baseline is
//! where the last owner noted (on its lease, every second and after each
//! build, [`tidings_store::Store::mark_recorded`]) that every change up to
//! a log position and engine time was recorded: each profile's memberships
//! there, computed from the history, against its memberships now. A
//! partition whose last owner never noted a position falls back to the
//! `Segment Entered`, `Segment Exited` and `Stage Changed` events the
//! history records. A partition that no node held before (its fencing
//! token is 1) is built as a node alone starts: memberships as they are,
//! without an entry event for everyone in the log. When it loses a
//! partition it forgets those profiles. Changes are written under a
//! [`tidings_store::Fence`], so a node that lost a partition without
//! noticing (paused past its lease) cannot write for it.

use crate::partitions::Ownership;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tidings_engine::{Change, ChangeKind, Compiled, Engine, ProfileState};
use tidings_model::event::{SEGMENT_ENTERED, SEGMENT_EXITED, STAGE_CHANGED};
use tidings_model::{Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_store::Fence;

/// The node a live engine works for, and what it owns.
#[derive(Clone)]
pub struct Cluster {
    /// This node's id (the one its leases are held under).
    pub node: String,
    pub ownership: Arc<Ownership>,
}

impl Cluster {
    /// The partitions of `ws` held at `now`.
    pub fn held(&self, ws: WorkspaceId, now: Micros) -> BTreeSet<u32> {
        self.ownership.held(ws, now).into_iter().map(|(p, _)| p).collect()
    }

    /// The fence for writing on behalf of every partition of `ws` held at `now`.
    pub fn fence(&self, ws: WorkspaceId, now: Micros) -> Fence {
        Fence { workspace: ws, node: self.node.clone(), held: self.ownership.held(ws, now), now }
    }
}

/// The memberships a profile's history records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorded {
    segments: BTreeSet<String>,
    /// Stage set → the stage last recorded (`None`: left every stage).
    stages: BTreeMap<String, Option<String>>,
}

impl Recorded {
    /// Reads the engine's own events in `history`, in log order.
    pub fn of(history: &[StoredEvent]) -> Recorded {
        let mut ordered: Vec<&StoredEvent> = history.iter().collect();
        ordered.sort_by_key(|e| e.seq);
        let mut r = Recorded::default();
        for e in ordered {
            let text = |k: &str| e.body.properties().get(k).and_then(|v| v.as_str()).map(str::to_string);
            match e.event.as_deref() {
                Some(SEGMENT_ENTERED) => r.segments.extend(text("segment")),
                Some(SEGMENT_EXITED) => {
                    if let Some(s) = text("segment") {
                        r.segments.remove(&s);
                    }
                }
                Some(STAGE_CHANGED) => {
                    if let Some(set) = text("stage_set") {
                        r.stages.insert(set, text("to"));
                    }
                }
                _ => {}
            }
        }
        r
    }

    /// The memberships of a state built with `compiled`.
    pub fn held_in(compiled: &Compiled, state: &ProfileState) -> Recorded {
        Recorded {
            segments: state.segments_in(compiled).map(str::to_string).collect(),
            stages: state
                .stages_in(compiled)
                .map(|(set, stage)| (set.to_string(), stage.map(str::to_string)))
                .collect(),
        }
    }

    /// What the engine holds for `profile` that the history does not
    /// record, as changes at `at`.
    pub fn changes(&self, engine: &Engine, profile: ProfileId, at: Micros) -> Vec<Change> {
        let mut out = Vec::new();
        let compiled = engine.compiled();
        for key in compiled.segment_keys() {
            let (now, then) = (engine.is_member(profile, key), self.segments.contains(key));
            let kind = match (now, then) {
                (true, false) => ChangeKind::Entered { segment: key.to_string() },
                (false, true) => ChangeKind::Exited { segment: key.to_string() },
                _ => continue,
            };
            out.push(Change { profile, kind, at });
        }
        for set in compiled.stage_set_keys() {
            let now = engine.stage_of(profile, set).map(str::to_string);
            let then = self.stages.get(set).cloned().flatten();
            if now != then {
                out.push(Change {
                    profile,
                    kind: ChangeKind::StageChanged { set: set.to_string(), from: then, to: now },
                    at,
                });
            }
        }
        out
    }
}
