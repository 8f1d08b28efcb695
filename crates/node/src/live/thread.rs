//! The engine's thread: it applies committed appends in log order, wakes
//! for changes with time alone, records every change as an event of the
//! profile, rebuilds on new definitions, and snapshots the state.

use super::{Cmd, Live, LiveError, RecentChange, Replaced, SNAPSHOT, build};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_engine::{Change, ChangeKind, Compiled, Observed, ProfileInput};
use tidings_model::time::format_time;
use tidings_model::{Clock, Internal, ProfileId, Subject};
use tidings_store::{AppendBatch, Outcome, Snapshot, Store};

/// How often the state is saved while running.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// Recent changes kept per segment for the API.
const RECENT: usize = 100;
/// The library named on the engine's events.
const LIBRARY: &str = "tidings-engine";

pub(super) struct EngineThread {
    live: Arc<Live>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    last_seq: i64,
    user_ids: HashMap<ProfileId, (Option<String>, Option<String>)>,
    last_snapshot: Instant,
    /// Under a simulated clock: appends waiting for the next sync.
    waiting: Vec<Cmd>,
}

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
            let cmd = match rx.recv_timeout(wait) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Disconnected) => Cmd::Stop,
                Err(RecvTimeoutError::Timeout) if self.live.manual => continue,
                Err(RecvTimeoutError::Timeout) => {
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
                    let changes = self.live.engine.write().advance(self.clock.now());
                    self.record(changes);
                    let _ = done.send(());
                }
                Cmd::Replace(rules, reply) => {
                    self.take_waiting();
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
        if changes.is_empty() {
            return;
        }
        let ws = self.live.workspace;
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
        let mut engine =
            build(&self.store, self.live.workspace, compiled, &tz, now, self.last_seq, &self.live.progress)?;
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
}
