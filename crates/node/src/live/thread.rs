//! The engine's thread: it applies committed appends in log order, wakes
//! for changes with time alone, records every change as an event of the
//! profile, rebuilds on new definitions, and snapshots the state.

use super::{Baseline, Cmd, Live, LiveError, PAGE, RecentChange, Replaced, SNAPSHOT, build, build_into};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_engine::{Change, ChangeKind, Compiled, Observed, ProfileInput};
use tidings_model::time::format_time;
use tidings_model::{Clock, Internal, ProfileId, Subject};
use tidings_store::{AppendBatch, Outcome, Snapshot, Store, StoreError, partition_of};

/// How often the state is saved while running.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// Recent changes kept per segment for the API.
const RECENT: usize = 100;
/// The library named on the engine's events.
const LIBRARY: &str = "tidings-engine";
/// With several nodes: how often the log is read for other nodes' appends
/// (this node's own appends wake the engine at once).
const TAIL_EVERY: Duration = Duration::from_millis(100);

pub(super) struct EngineThread {
    live: Arc<Live>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    last_seq: i64,
    user_ids: HashMap<ProfileId, (Option<String>, Option<String>)>,
    last_snapshot: Instant,
    /// Under a simulated clock: appends waiting for the next sync.
    waiting: Vec<Cmd>,
    /// With several nodes: the partitions whose profiles the engine holds.
    built: BTreeSet<u32>,
    /// With several nodes: when the recorded position was last noted on the leases.
    marked: Instant,
    /// A change could not be recorded (not for want of a lease): the
    /// position is no longer noted, so that the next owner records it.
    unrecorded: bool,
}

/// How often a node notes on its leases how far it has recorded.
const MARK_EVERY: Duration = Duration::from_secs(1);

impl EngineThread {
    pub(super) fn new(live: Arc<Live>, store: Arc<dyn Store>, clock: Arc<dyn Clock>, last_seq: i64) -> EngineThread {
        EngineThread {
            live,
            store,
            clock,
            last_seq,
            user_ids: HashMap::new(),
            last_snapshot: Instant::now(),
            waiting: Vec::new(),
            built: BTreeSet::new(),
            marked: Instant::now(),
            unrecorded: false,
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Cmd>) {
        loop {
            let now = self.clock.now();
            let wake = self.live.engine.read().next_wake();
            let wait = match wake {
                _ if self.live.manual => Duration::from_secs(3600),
                Some(w) if w <= now => Duration::ZERO,
                Some(w) => Duration::from_micros((w - now) as u64).min(Duration::from_secs(1)),
                None => Duration::from_secs(1),
            };
            let wait = if self.live.cluster.is_some() { wait.min(TAIL_EVERY) } else { wait };
            let cmd = match rx.recv_timeout(wait) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Disconnected) => Cmd::Stop,
                Err(RecvTimeoutError::Timeout) if self.live.manual => continue,
                Err(RecvTimeoutError::Timeout) => {
                    self.follow_cluster();
                    let changes = self.live.engine.write().advance(self.clock.now());
                    self.record(changes);
                    self.live.applied.set(self.last_seq);
                    self.snapshot_if_due();
                    continue;
                }
            };
            match cmd {
                // Under a simulated clock, appends wait for the driver's sync.
                cmd @ (Cmd::Events(..) | Cmd::Merge { .. }) if self.live.manual => self.waiting.push(cmd),
                Cmd::Stop => {
                    self.take_waiting();
                    self.save();
                    return;
                }
                Cmd::Sync(done) => {
                    self.take_waiting();
                    self.follow_cluster();
                    let changes = self.live.engine.write().advance(self.clock.now());
                    self.record(changes);
                    let _ = done.send(());
                }
                // With several nodes the log is the only source: an append of
                // this node's is a reason to read it now, nothing more.
                cmd @ (Cmd::Events(..) | Cmd::Merge { .. }) if self.live.cluster.is_some() => {
                    drop(cmd);
                    self.follow_cluster();
                }
                Cmd::Replace(rules, reply) => {
                    self.take_waiting();
                    self.follow_cluster();
                    match self.replace(*rules) {
                        Ok((r, changes)) => {
                            let _ = reply.send(Ok(r));
                            self.record(changes);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                other => self.take(other),
            }
            self.live.applied.set(self.last_seq);
            self.snapshot_if_due();
        }
    }

    fn snapshot_if_due(&mut self) {
        if self.last_snapshot.elapsed() >= SNAPSHOT_EVERY {
            self.save();
        }
    }

    fn take_waiting(&mut self) {
        for cmd in std::mem::take(&mut self.waiting) {
            self.take(cmd);
        }
    }

    /// Applies an append or a merge and records what changed.
    fn take(&mut self, cmd: Cmd) {
        let changes = match cmd {
            Cmd::Events(events, newest) => {
                self.last_seq = self.last_seq.max(newest);
                let mut engine = self.live.engine.write();
                let mut changes = Vec::new();
                for e in events {
                    self.last_seq = self.last_seq.max(e.seq);
                    // The engine is at the time the message arrived, not the
                    // time this thread got to it: the same answer however far
                    // behind it runs (and a simulated clock gives the same run twice).
                    let (profile, arrived) = (e.profile, e.received_at);
                    match engine.apply(profile, Observed::from_stored_owned(e, true), arrived) {
                        Ok(c) => changes.extend(c),
                        Err(err) => tracing::error!(error = %err, profile = profile.0, "the engine refused an event"),
                    }
                }
                changes
            }
            Cmd::Merge { from, into, upto, at } => {
                self.user_ids.remove(&into);
                // As for events: the time the append arrived.
                match self.store.profile_history(self.live.workspace, into) {
                    Ok(mut h) => {
                        // Later appends reach the engine as their own events.
                        h.retain(|e| e.seq <= upto);
                        match self.live.engine.write().merge(from, into, &ProfileInput::from_stored(&h), at) {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::error!(error = %e, "the engine could not merge profiles");
                                Vec::new()
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not read a merged profile's history");
                        Vec::new()
                    }
                }
            }
            Cmd::Sync(_) | Cmd::Replace(..) | Cmd::Stop => return,
        };
        self.record(changes);
    }

    fn ids_of(&mut self, p: ProfileId) -> (Option<String>, Option<String>) {
        if let Some(ids) = self.user_ids.get(&p) {
            return ids.clone();
        }
        let ids = match self.store.profile(self.live.workspace, p) {
            Ok(Some(prof)) => (prof.user_id.clone(), prof.anonymous_ids.first().cloned()),
            _ => (None, None),
        };
        if ids.0.is_some() {
            self.user_ids.insert(p, ids.clone());
        }
        ids
    }

    /// Appends each change as an event of the profile, and applies those
    /// events to the engine too (rules may use them).
    pub(super) fn record(&mut self, changes: Vec<Change>) {
        let ws = self.live.workspace;
        let fence = self.live.cluster.as_ref().map(|c| c.fence(ws, self.clock.now()));
        let changes = match &fence {
            // Only for partitions still held; the others are their new owner's to write.
            Some(f) => changes.into_iter().filter(|c| f.held.iter().any(|h| h.0 == partition_of(c.profile))).collect(),
            None => changes,
        };
        if changes.is_empty() {
            return;
        }
        // Recorded as arriving when the engine was at (every change is at or before it).
        let arrived = self.live.engine.read().now();
        let mut messages = Vec::with_capacity(changes.len());
        for c in changes {
            let (user_id, anonymous_id) = self.ids_of(c.profile);
            let (event, label, key) = match c.kind {
                ChangeKind::Entered { segment } => {
                    (Internal::SegmentEntered { segment: segment.clone() }, "entered", segment)
                }
                ChangeKind::Exited { segment } => {
                    (Internal::SegmentExited { segment: segment.clone() }, "exited", segment)
                }
                ChangeKind::StageChanged { set, from, to } => {
                    let key = format!("{set}.{}", to.as_deref().unwrap_or("-"));
                    (Internal::StageChanged { stage_set: set, from, to }, "stage", key)
                }
            };
            let id = format!("engine-{}-{}-{label}-{key}-{}", ws.0, c.profile.0, c.at);
            let who = Subject::profile(user_id.as_deref(), anonymous_id.as_deref());
            let segment = match &event {
                Internal::SegmentEntered { segment } | Internal::SegmentExited { segment } => Some(segment.clone()),
                _ => None,
            };
            match event.into_message(who, id, c.at, arrived, LIBRARY) {
                Ok(m) => messages.push(m),
                // A profile with no identity left (merged away meanwhile): nothing to record it under.
                Err(tidings_model::MessageError::MissingId) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "could not form a change event");
                    continue;
                }
            }
            if let Some(segment) = segment {
                let mut recent = self.live.recent.lock();
                let q = recent.entry(segment).or_default();
                if q.len() == RECENT {
                    q.pop_front();
                }
                q.push_back(RecentChange {
                    profile: c.profile.0,
                    user_id: user_id.clone(),
                    change: label.to_string(),
                    at: format_time(c.at),
                });
            }
        }
        if messages.is_empty() {
            return;
        }
        // Changes are derived from the log: a crash before they reach the disk
        // records them again on replay, so they need not wait for an fsync.
        let batch = [AppendBatch { workspace: ws, messages }];
        if let Some(fence) = fence {
            // The changes come back through the log, like everyone's appends.
            match self.store.append_fenced(&batch, &fence) {
                Ok(_) => {}
                Err(StoreError::Fenced(why)) => {
                    tracing::warn!(reason = %why, "segment changes not recorded: this node lost the partition");
                }
                Err(e) => {
                    self.unrecorded = true;
                    tracing::error!(error = %e, "could not record segment changes; the next owner records them")
                }
            }
            return;
        }
        match self.store.append_derived(&batch) {
            Ok(r) => {
                let mut engine = self.live.engine.write();
                let mut more = Vec::new();
                let [AppendBatch { messages, .. }] = batch;
                for (m, o) in messages.iter().zip(r.outcomes.into_iter().flatten()) {
                    if let Outcome::Stored { seq, profile } = o {
                        self.last_seq = self.last_seq.max(seq);
                        let e = super::stored(m, seq, profile);
                        if let Ok(c) = engine.apply(profile, Observed::from_stored_owned(e, true), arrived) {
                            more.extend(c);
                        }
                    }
                }
                drop(engine);
                // Rules about the engine's own events can flip in turn; each round is smaller.
                self.record(more);
            }
            Err(e) => tracing::error!(error = %e, "could not record segment changes; they are recomputed on restart"),
        }
    }

    /// Builds the engine of new definitions from the log up to what this
    /// thread has applied (later appends are queued for it), swaps it in,
    /// and brings it to the clock's time.
    fn replace(&mut self, rules: tidings_rules::Workspace) -> Result<(Replaced, Vec<Change>), LiveError> {
        let started = Instant::now();
        let compiled = Arc::new(Compiled::with_conditions(&rules, &self.live.conditions)?);
        let now = self.clock.now();
        let tz = self.live.default_tz.clone();
        let mut engine = if self.live.cluster.is_some() {
            let mut engine = tidings_engine::Engine::with_compiled(compiled.clone(), tz.clone());
            let built = self.built.clone();
            let keep = move |p: ProfileId| built.contains(&partition_of(p));
            let (store, ws, upto, progress) = (&self.store, self.live.workspace, self.last_seq, &self.live.progress);
            build_into(store, ws, &compiled, &tz, now, upto, progress, &keep, &|_| Baseline::None, |id, state, _| {
                engine.install(id, state)?;
                Ok(())
            })?;
            engine
        } else {
            build(&self.store, self.live.workspace, compiled, &tz, now, self.last_seq, &self.live.progress)?
        };
        let changes = engine.advance(self.clock.now());
        let replaced = Replaced {
            segments: rules.segments().count(),
            stage_sets: rules.stage_sets().count(),
            profiles: engine.profile_count(),
            took_ms: started.elapsed().as_millis() as u64,
        };
        *self.live.engine.write() = engine;
        *self.live.rules.write() = Arc::new(rules);
        self.live.recent.lock().clear();
        self.save();
        tracing::info!(
            segments = replaced.segments,
            profiles = replaced.profiles,
            took_ms = replaced.took_ms,
            "new definitions are live"
        );
        Ok((replaced, changes))
    }

    fn save(&mut self) {
        // With several nodes, a partition's state is rebuilt from the log by
        // whichever node gains it; one node's snapshot would cover only its share.
        if self.live.cluster.is_some() {
            self.last_snapshot = Instant::now();
            return;
        }
        let snap = self.live.engine.read().snapshot();
        match serde_json::to_vec(&snap) {
            Ok(data) => {
                let s = Snapshot { seq: self.last_seq, taken_at: self.clock.now(), data };
                if let Err(e) = self.store.save_snapshot(self.live.workspace, SNAPSHOT, &s) {
                    tracing::warn!(error = %e, "could not save the engine snapshot");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not encode the engine snapshot"),
        }
        self.last_snapshot = Instant::now();
    }

    /// With several nodes: takes on the partitions the node gained, forgets
    /// those it lost, then reads the log after its position (see [`super::cluster`]).
    fn follow_cluster(&mut self) {
        let Some(cluster) = self.live.cluster.clone() else { return };
        let ws = self.live.workspace;
        let now = self.clock.now();
        let held = cluster.held(ws, now);
        let lost: BTreeSet<u32> = self.built.difference(&held).copied().collect();
        if !lost.is_empty() {
            let mut engine = self.live.engine.write();
            let gone: Vec<ProfileId> = engine.profile_ids().filter(|&p| lost.contains(&partition_of(p))).collect();
            for p in &gone {
                // Its changes from now on are the new owner's to find and write.
                let _ = engine.remove_profile(*p, now);
                self.user_ids.remove(p);
            }
            drop(engine);
            tracing::info!(
                partitions = lost.len(),
                profiles = gone.len(),
                "partitions handed on; their profiles forgotten"
            );
            self.built.retain(|p| !lost.contains(p));
            *self.live.serving.lock() = self.built.clone();
        }
        let gained: BTreeSet<u32> = held.difference(&self.built).copied().collect();
        if !gained.is_empty() {
            match self.take_on(&gained, now) {
                Ok(changes) => {
                    self.built.extend(gained);
                    *self.live.serving.lock() = self.built.clone();
                    self.record(changes);
                    self.mark_recorded(true);
                }
                Err(e) => tracing::error!(error = %e, "could not build gained partitions; trying again"),
            }
        }
        match self.tail() {
            Ok(()) => self.mark_recorded(false),
            Err(e) => tracing::error!(error = %e, "could not read the log; trying again"),
        }
    }

    /// Notes on the leases of the partitions built that every change up to
    /// the engine's position and time is recorded (at most every
    /// [`MARK_EVERY`] unless `now`): a node that takes one over records
    /// only what changed after (see [`super::cluster`]).
    fn mark_recorded(&mut self, now: bool) {
        let Some(cluster) = self.live.cluster.clone() else { return };
        if self.unrecorded || (!now && self.marked.elapsed() < MARK_EVERY) {
            return;
        }
        let mut fence = cluster.fence(self.live.workspace, self.clock.now());
        fence.held.retain(|(p, _)| self.built.contains(p));
        if fence.held.is_empty() {
            return;
        }
        let at = self.live.engine.read().now();
        match self.store.mark_recorded(&fence, self.last_seq, at) {
            Ok(_) => self.marked = Instant::now(),
            Err(e) => tracing::warn!(error = %e, "could not note how far segment changes are recorded"),
        }
    }

    /// Builds the profiles of `gained` from their history up to the
    /// engine's position, and returns what their history does not record.
    fn take_on(&mut self, gained: &BTreeSet<u32>, now: tidings_model::Micros) -> Result<Vec<Change>, LiveError> {
        let started = Instant::now();
        let compiled = self.live.engine.read().compiled().clone();
        let tz = self.live.default_tz.clone();
        let cluster = self.live.cluster.clone();
        let clock = self.clock.clone();
        let ws = self.live.workspace;
        // Only while still held: a long build must not finish partitions another node has taken.
        let keep = |p: ProfileId| {
            let part = partition_of(p);
            gained.contains(&part)
                && cluster.as_ref().is_some_and(|c| c.ownership.token(ws, part, clock.now()).is_some())
        };
        // A partition no node held before (token 1) starts as a node alone
        // does: memberships as built, without entry events for everyone in
        // the log. One with a last owner gets what that owner left
        // unrecorded: against its memberships where that owner noted it had
        // recorded everything, or, had it noted nothing, against the
        // history's segment events.
        let handed: BTreeSet<u32> = cluster
            .as_ref()
            .map(|c| c.ownership.held(ws, now).into_iter().filter(|&(_, t)| t > 1).map(|(p, _)| p).collect())
            .unwrap_or_default();
        let positions = if handed.is_empty() { Default::default() } else { self.store.recorded_positions(ws)? };
        let upto = self.last_seq;
        let baseline = |p: ProfileId| {
            let part = partition_of(p);
            match positions.get(&part) {
                _ if !handed.contains(&part) => Baseline::None,
                Some(&(seq, at)) => Baseline::At(seq.min(upto), at),
                None => Baseline::Events,
            }
        };
        let mut built = Vec::new();
        let (store, progress) = (&self.store, &self.live.progress);
        build_into(store, ws, &compiled, &tz, now, upto, progress, &keep, &baseline, |id, state, recorded| {
            built.push((id, state, recorded));
            Ok(())
        })?;
        let mut engine = self.live.engine.write();
        let mut changes = engine.advance(now);
        let at = engine.now().max(now);
        let count = built.len();
        for (id, state, recorded) in built {
            engine.install(id, state)?;
            if let Some(recorded) = recorded {
                changes.extend(recorded.changes(&engine, id, at));
            }
        }
        tracing::info!(
            partitions = gained.len(),
            profiles = count,
            unrecorded = changes.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "partitions taken on, built from the log"
        );
        Ok(changes)
    }

    /// Applies the log after the engine's position for the partitions it
    /// holds, with identity merges at their positions.
    fn tail(&mut self) -> Result<(), StoreError> {
        let ws = self.live.workspace;
        loop {
            let page = self.store.scan(ws, self.last_seq, PAGE)?;
            let Some(end) = page.last().map(|e| e.seq) else { return Ok(()) };
            let merges = self.store.merges_between(ws, self.last_seq, end)?;
            let mut merges = merges.into_iter().peekable();
            let mut changes = Vec::new();
            for e in page {
                while let Some(m) = merges.next_if(|m| m.seq < e.seq) {
                    changes.extend(self.merge_at(m));
                }
                self.last_seq = e.seq;
                if !self.built.contains(&partition_of(e.profile)) {
                    continue;
                }
                let (profile, arrived) = (e.profile, e.received_at);
                match self.live.engine.write().apply(profile, Observed::from_stored_owned(e, true), arrived) {
                    Ok(c) => changes.extend(c),
                    Err(err) => tracing::error!(error = %err, profile = profile.0, "the engine refused an event"),
                }
            }
            for m in merges {
                changes.extend(self.merge_at(m));
            }
            self.last_seq = end;
            self.record(changes);
            self.live.applied.set(self.last_seq);
        }
    }

    /// An identity merge read from the log: the owner of the surviving
    /// profile rebuilds it from the history up to the merge; the owner of
    /// the merged-away one forgets it.
    fn merge_at(&mut self, m: tidings_store::Merge) -> Vec<Change> {
        let (has_from, has_into) =
            (self.built.contains(&partition_of(m.from)), self.built.contains(&partition_of(m.into)));
        self.user_ids.remove(&m.from);
        self.user_ids.remove(&m.into);
        let at = self.live.engine.read().now();
        if !has_into {
            if has_from {
                let _ = self.live.engine.write().remove_profile(m.from, at);
            }
            return Vec::new();
        }
        match self.store.profile_history(self.live.workspace, m.into) {
            Ok(mut h) => {
                h.retain(|e| e.seq <= m.seq);
                let mut engine = self.live.engine.write();
                let result = engine.merge(m.from, m.into, &ProfileInput::from_stored(&h), at);
                let mut changes = result.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "the engine could not merge profiles");
                    Vec::new()
                });
                // The merged-away profile's exits belong to a partition this node may not hold.
                if !has_from {
                    changes.retain(|c| c.profile != m.from);
                }
                changes
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read a merged profile's history");
                Vec::new()
            }
        }
    }
}
