//! The live engine of the default workspace: segments and stages kept exact
//! as events are stored and as time passes, and every change recorded once
//! as an event (`Segment Entered`, `Segment Exited`, `Stage Changed`) in the
//! profile's history, where journeys, rules and the timeline see it.
//!
//! One thread owns the engine. Committed appends reach it through the ingest
//! writer's [`AppendObserver`]; between messages it sleeps until the
//! engine's next wake-up, so a change with time alone (a window sliding
//! out, a deadline passing) is recorded at its exact time without another
//! event. Change events carry deterministic message ids, so replaying after
//! a restart records nothing twice. The engine's state is snapshotted into
//! the store; a restart restores it and replays only the log after it.

use crate::ingest::AppendObserver;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use jiff::tz::TimeZone;
use parking_lot::{Mutex, RwLock};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tidings_engine::{Change, ChangeKind, Engine, Observed, ProfileInput};
use tidings_model::event::{SEGMENT_ENTERED, SEGMENT_EXITED, STAGE_CHANGED};
use tidings_model::message::{Envelope, parse_message};
use tidings_model::time::format_time;
use tidings_model::{Clock, Message, Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_store::{AppendBatch, AppendResult, Outcome, Snapshot, Store, StoreError};

/// The snapshot's name in the store.
const SNAPSHOT: &str = "engine";
/// How often the state is saved while running.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// Recent changes kept per segment for the API.
const RECENT: usize = 100;
/// Log entries read per page when catching up.
const PAGE: usize = 5_000;

/// A change as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentChange {
    pub profile: i64,
    pub user_id: Option<String>,
    pub change: String,
    pub at: String,
}

/// How far a rebuild of the engine from the log has come.
#[derive(Debug, Default)]
pub struct Progress {
    /// Profiles built so far, and in all; `total` is 0 when none is running.
    pub done: AtomicU64,
    pub total: AtomicU64,
}

impl Progress {
    /// `(done, total)` while a rebuild runs.
    pub fn running(&self) -> Option<(u64, u64)> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done.load(Ordering::Relaxed), total))
    }
}

/// What replacing the definitions did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replaced {
    pub segments: usize,
    pub stage_sets: usize,
    /// Profiles whose state was rebuilt from their stored history.
    pub profiles: usize,
    pub took_ms: u64,
}

enum Cmd {
    /// Stored messages to apply, and the newest log position of their append
    /// (some of it may be covered by a merge's rebuild instead).
    Events(Vec<StoredEvent>, i64),
    /// `from` was folded into `into` by the append that ends at log position
    /// `upto`, which arrived by `at`.
    Merge {
        from: ProfileId,
        into: ProfileId,
        upto: i64,
        at: Micros,
    },
    /// Advance to the clock's time, record, then answer.
    Sync(Sender<()>),
    /// New definitions: rebuild every profile's state from its history, swap.
    Replace(Box<tidings_rules::Workspace>, Sender<Result<Replaced, String>>),
    Stop,
}

/// The running engine, shared with the API.
pub struct Live {
    pub workspace: WorkspaceId,
    rules: RwLock<Arc<tidings_rules::Workspace>>,
    pub engine: Arc<RwLock<Engine>>,
    /// The rebuild under way, if any (at start or after new definitions).
    pub progress: Arc<Progress>,
    /// Held while new definitions are checked and rebuilt, one at a time.
    pub replacing: Mutex<()>,
    pub recent: Arc<Mutex<HashMap<String, VecDeque<RecentChange>>>>,
    pub default_tz: TimeZone,
    /// Time moves only on [`Live::sync`] (a simulated clock), never by itself.
    manual: bool,
    tx: Sender<Cmd>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Sends committed appends of the live workspace to the engine thread.
pub struct LiveObserver {
    workspace: WorkspaceId,
    tx: Sender<Cmd>,
}

impl AppendObserver for LiveObserver {
    fn appended(&self, batches: &[AppendBatch], result: &AppendResult) {
        // A merge rebuilds the surviving profile from its whole history, which
        // already holds this append's messages of both profiles: applying them
        // again would count them twice, and applying a merged-away profile's
        // messages would bring it back as a ghost.
        let merged: std::collections::HashSet<ProfileId> =
            result.merges.iter().filter(|m| m.0 == self.workspace).flat_map(|&(_, from, into)| [from, into]).collect();
        let mut events = Vec::new();
        let mut newest = 0;
        let mut arrived = Micros::MIN;
        for (batch, outcomes) in batches.iter().zip(&result.outcomes) {
            if batch.workspace != self.workspace {
                continue;
            }
            for (m, o) in batch.messages.iter().zip(outcomes) {
                if let Outcome::Stored { seq, profile } = o {
                    newest = newest.max(*seq);
                    arrived = arrived.max(m.received_at);
                    if !merged.contains(profile) {
                        events.push(stored(m, *seq, *profile));
                    }
                }
            }
        }
        // Merges first: the engine rebuilds the surviving profile from its whole history.
        for &(ws, from, into) in &result.merges {
            if ws == self.workspace {
                let _ = self.tx.send(Cmd::Merge { from, into, upto: newest, at: arrived });
            }
        }
        if newest > 0 {
            let _ = self.tx.send(Cmd::Events(events, newest));
        }
    }
}

fn stored(m: &Message, seq: i64, profile: ProfileId) -> StoredEvent {
    StoredEvent {
        seq,
        profile,
        message_id: m.message_id.clone(),
        kind: m.kind,
        event: m.event.clone(),
        user_id: m.user_id.clone(),
        anonymous_id: m.anonymous_id.clone(),
        timestamp: m.timestamp,
        received_at: m.received_at,
        body: m.body.clone(),
    }
}

impl Live {
    /// Builds the engine (from its snapshot and the log after it, or from
    /// the whole log) before the server accepts requests, and starts its thread.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        workspace: WorkspaceId,
        rules: tidings_rules::Workspace,
        default_tz: TimeZone,
        manual: bool,
    ) -> Result<(Arc<Live>, Arc<dyn AppendObserver>), StoreError> {
        let started = Instant::now();
        let now = clock.now();
        let err = |e: tidings_engine::EngineError| StoreError::Database(format!("the segment engine: {e}"));
        let restored = match store.load_snapshot(workspace, SNAPSHOT)? {
            Some(s) => match serde_json::from_slice::<tidings_engine::Snapshot>(&s.data) {
                Ok(snap) => match Engine::restore(&rules, default_tz.clone(), snap) {
                    Ok(e) => Some((e, s.seq)),
                    Err(e) => {
                        tracing::info!(reason = %e, "the definitions changed since the snapshot; rebuilding from the log");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable engine snapshot; rebuilding from the log");
                    None
                }
            },
            None => None,
        };
        let progress = Arc::new(Progress::default());
        let (mut engine, mut last_seq) = match restored {
            Some(x) => x,
            None => {
                let compiled = Arc::new(tidings_engine::Compiled::new(&rules).map_err(err)?);
                let last = store.stats(workspace)?.last_seq;
                let engine = build(&store, workspace, compiled, &default_tz, now, last, &progress)?;
                tracing::info!(
                    profiles = engine.profile_count(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "segments built from the log"
                );
                (engine, last)
            }
        };
        // Whatever came after the snapshot.
        let mut replayed = 0usize;
        let mut pending_changes = Vec::new();
        loop {
            let page = store.scan(workspace, last_seq, PAGE)?;
            let Some(last) = page.last() else { break };
            last_seq = last.seq;
            for e in &page {
                pending_changes.extend(engine.apply(e.profile, Observed::from_stored(e), now).map_err(err)?);
                replayed += 1;
            }
        }
        pending_changes.extend(engine.advance(now));
        if replayed > 0 {
            tracing::info!(events = replayed, "replayed the log after the engine snapshot");
        }
        let (tx, rx) = unbounded();
        let live = Arc::new(Live {
            workspace,
            rules: RwLock::new(Arc::new(rules)),
            engine: Arc::new(RwLock::new(engine)),
            progress,
            replacing: Mutex::new(()),
            recent: Arc::default(),
            default_tz,
            manual,
            tx: tx.clone(),
            thread: Mutex::new(None),
        });
        let mut runner = Runner {
            live: live.clone(),
            store,
            clock,
            last_seq,
            user_ids: HashMap::new(),
            last_snapshot: Instant::now(),
        };
        runner.record(pending_changes);
        let handle = std::thread::Builder::new()
            .name("segment-engine".into())
            .spawn(move || runner.run(rx))
            .map_err(|e| StoreError::Database(format!("cannot start the engine thread: {e}")))?;
        *live.thread.lock() = Some(handle);
        let observer: Arc<dyn AppendObserver> = Arc::new(LiveObserver { workspace, tx });
        Ok((live, observer))
    }

    /// Returns once everything appended before the call is applied, the
    /// engine has advanced to the clock's time, and the changes are recorded.
    pub fn sync(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.tx.send(Cmd::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// The definitions the engine runs.
    pub fn rules(&self) -> Arc<tidings_rules::Workspace> {
        self.rules.read().clone()
    }

    /// Runs new definitions (already checked): every profile's state is
    /// rebuilt from its stored history in parallel, with progress in
    /// [`Live::progress`], while the old state keeps answering; then the
    /// new state takes over and continues with what arrived meanwhile.
    /// Memberships at the switch are set without entry or exit events;
    /// changes after it are recorded as usual.
    pub fn replace(&self, rules: tidings_rules::Workspace) -> Result<Replaced, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.tx.send(Cmd::Replace(Box::new(rules), tx)).map_err(|_| "the segment engine has stopped".to_string())?;
        rx.recv().map_err(|_| "the segment engine stopped while rebuilding".to_string())?
    }

    /// Stops the thread after it saved a snapshot.
    pub fn stop(&self) {
        let _ = self.tx.send(Cmd::Stop);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }
}

struct Runner {
    live: Arc<Live>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    last_seq: i64,
    user_ids: HashMap<ProfileId, (Option<String>, Option<String>)>,
    last_snapshot: Instant,
}

impl Runner {
    fn run(mut self, rx: Receiver<Cmd>) {
        loop {
            let now = self.clock.now();
            let wake = self.live.engine.read().next_wake();
            let wait = match wake {
                _ if self.live.manual => Duration::from_secs(3600),
                Some(w) if w <= now => Duration::ZERO,
                Some(w) => Duration::from_micros((w - now) as u64).min(Duration::from_secs(1)),
                None => Duration::from_secs(1),
            };
            let changes = match rx.recv_timeout(wait) {
                Ok(Cmd::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.save();
                    return;
                }
                Ok(Cmd::Events(events, newest)) => {
                    self.last_seq = self.last_seq.max(newest);
                    let mut engine = self.live.engine.write();
                    let mut changes = Vec::new();
                    for e in &events {
                        self.last_seq = self.last_seq.max(e.seq);
                        // The engine is at the time the message arrived, not the
                        // time this thread got to it: the same answer however far
                        // behind it runs (and a simulated clock gives the same run twice).
                        match engine.apply(e.profile, Observed::from_stored(e), e.received_at) {
                            Ok(c) => changes.extend(c),
                            Err(err) => {
                                tracing::error!(error = %err, profile = e.profile.0, "the engine refused an event")
                            }
                        }
                    }
                    changes
                }
                Ok(Cmd::Merge { from, into, upto, at }) => {
                    self.user_ids.remove(&into);
                    // As for events: the time the append arrived.
                    let now = at;
                    match self.store.profile_history(self.live.workspace, into) {
                        Ok(mut h) => {
                            // Later appends reach the engine as their own events.
                            h.retain(|e| e.seq <= upto);
                            match self.live.engine.write().merge(from, into, &ProfileInput::from_stored(&h), now) {
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
                Ok(Cmd::Replace(rules, reply)) => match self.replace(*rules) {
                    Ok((r, changes)) => {
                        let _ = reply.send(Ok(r));
                        changes
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        Vec::new()
                    }
                },
                Ok(Cmd::Sync(done)) => {
                    let changes = self.live.engine.write().advance(self.clock.now());
                    self.record(changes);
                    let _ = done.send(());
                    Vec::new()
                }
                Err(RecvTimeoutError::Timeout) if self.live.manual => Vec::new(),
                Err(RecvTimeoutError::Timeout) => self.live.engine.write().advance(self.clock.now()),
            };
            self.record(changes);
            if self.last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                self.save();
            }
        }
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
    fn record(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let ws = self.live.workspace;
        // Recorded as arriving when the engine was at (every change is at or before it).
        let arrived = self.live.engine.read().now();
        let mut messages = Vec::with_capacity(changes.len());
        for c in &changes {
            let (user_id, anonymous_id) = self.ids_of(c.profile);
            if user_id.is_none() && anonymous_id.is_none() {
                continue;
            }
            let (event, props, label, key) = match &c.kind {
                ChangeKind::Entered { segment } => {
                    (SEGMENT_ENTERED, json!({"segment": segment}), "entered", segment.clone())
                }
                ChangeKind::Exited { segment } => {
                    (SEGMENT_EXITED, json!({"segment": segment}), "exited", segment.clone())
                }
                ChangeKind::StageChanged { set, from, to } => (
                    STAGE_CHANGED,
                    json!({"stage_set": set, "from": from, "to": to}),
                    "stage",
                    format!("{set}.{}", to.as_deref().unwrap_or("-")),
                ),
            };
            let text = json!({
                "type": "track",
                "userId": user_id,
                "anonymousId": if user_id.is_none() { anonymous_id.clone() } else { None },
                "event": event,
                "messageId": format!("engine-{}-{}-{label}-{key}-{}", ws.0, c.profile.0, c.at),
                "timestamp": format_time(c.at),
                "properties": props,
                "context": {"library": {"name": "tidings-engine"}},
            })
            .to_string();
            let env = Envelope { received_at: arrived, sent_at: None, default_type: None };
            match parse_message(&text, &env, &mut tidings_model::message::new_message_id) {
                Ok(m) => messages.push(m),
                Err(e) => tracing::error!(error = %e, "could not form a change event"),
            }
            if let ChangeKind::Entered { segment } | ChangeKind::Exited { segment } = &c.kind {
                let mut recent = self.live.recent.lock();
                let q = recent.entry(segment.clone()).or_default();
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
        match self.store.append_derived(&[AppendBatch { workspace: ws, messages: messages.clone() }]) {
            Ok(r) => {
                let now = arrived;
                let mut engine = self.live.engine.write();
                let mut more = Vec::new();
                for (m, o) in messages.iter().zip(r.outcomes.into_iter().flatten()) {
                    if let Outcome::Stored { seq, profile } = o {
                        self.last_seq = self.last_seq.max(seq);
                        if let Ok(c) = engine.apply(profile, Observed::from_stored(&stored(m, seq, profile)), now) {
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
    fn replace(&mut self, rules: tidings_rules::Workspace) -> Result<(Replaced, Vec<Change>), String> {
        let started = Instant::now();
        let compiled = Arc::new(tidings_engine::Compiled::new(&rules).map_err(|e| e.to_string())?);
        let now = self.clock.now();
        let tz = self.live.default_tz.clone();
        let mut engine =
            build(&self.store, self.live.workspace, compiled, &tz, now, self.last_seq, &self.live.progress)
                .map_err(|e| format!("could not read the event log: {e}"))?;
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

/// Profiles handed to a builder thread at a time.
const CHUNK: usize = 256;

/// An engine for `compiled` with every profile's state built from its
/// stored history up to log position `upto`, as of `now`. Profiles are read
/// and built on as many threads as there are cores; progress is counted in
/// `progress` and logged every few seconds.
fn build(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    compiled: Arc<tidings_engine::Compiled>,
    tz: &TimeZone,
    now: tidings_model::Micros,
    upto: i64,
    progress: &Progress,
) -> Result<Engine, StoreError> {
    let started = Instant::now();
    let mut ids = Vec::new();
    let mut after = ProfileId(0);
    loop {
        let page = store.profile_ids(ws, after, PAGE)?;
        let Some(&l) = page.last() else { break };
        after = l;
        ids.extend(page);
    }
    progress.done.store(0, Ordering::Relaxed);
    progress.total.store(ids.len() as u64, Ordering::Relaxed);
    let mut engine = Engine::with_compiled(compiled.clone(), tz.clone());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let next = AtomicUsize::new(0);
    let (tx, rx) =
        crossbeam_channel::bounded::<Result<Vec<(ProfileId, tidings_engine::ProfileState)>, StoreError>>(workers * 2);
    let result = std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, ids, next, compiled) = (tx.clone(), &ids, &next, &compiled);
            scope.spawn(move || {
                loop {
                    let from = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if from >= ids.len() {
                        return;
                    }
                    let chunk = &ids[from..(from + CHUNK).min(ids.len())];
                    let built: Result<Vec<_>, StoreError> = chunk
                        .iter()
                        .map(|&id| {
                            let mut history = store.profile_history(ws, id)?;
                            history.retain(|e| e.seq <= upto);
                            let input = ProfileInput::from_stored(&history);
                            Ok((id, tidings_engine::build_state(compiled, tz, &input, now)))
                        })
                        .collect();
                    let failed = built.is_err();
                    if tx.send(built).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut logged = Instant::now();
        for built in rx {
            for (id, state) in built? {
                engine.install(id, state).map_err(|e| StoreError::Database(format!("the segment engine: {e}")))?;
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            if logged.elapsed() >= Duration::from_secs(2) {
                logged = Instant::now();
                let done = progress.done.load(Ordering::Relaxed);
                tracing::info!(
                    done,
                    total = ids.len(),
                    percent = (done * 100).checked_div(ids.len() as u64).unwrap_or(100),
                    elapsed_s = started.elapsed().as_secs(),
                    "building segments from the log"
                );
            }
        }
        Ok(())
    });
    progress.total.store(0, Ordering::Relaxed);
    result.map(|()| engine)
}
