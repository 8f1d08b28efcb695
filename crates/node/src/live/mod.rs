//! The live engine of one workspace: segments, stages and the conditions
//! journeys ask about, kept exact as events are stored and as time passes,
//! and every segment or stage change recorded once as an event (`Segment
//! Entered`, `Segment Exited`, `Stage Changed`) in the profile's history,
//! where journeys, rules and the timeline see it.
//!
//! One thread owns the engine ([`thread`]). Committed appends reach it
//! through the ingest writer's [`AppendObserver`]; between messages it
//! sleeps until the engine's next wake-up, so a change with time alone (a
//! window sliding out, a deadline passing) is recorded at its exact time
//! without another event. Change events carry deterministic message ids, so
//! replaying after a restart records nothing twice. The engine's state is
//! snapshotted into the store; a restart restores it and replays only the
//! log after it. Under a simulated clock (`manual`) the thread takes in
//! what was appended only on [`Live::sync`], so a driver that syncs
//! between steps gets the same run every time.
//!
//! [`Live`] is also the runner's read handle ([`tidings_automation::Segments`]):
//! the one truth of membership and conditions.

mod build;
mod cluster;
mod thread;

use crate::ingest::AppendObserver;
use crossbeam_channel::{Sender, unbounded};
use jiff::tz::TimeZone;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tidings_engine::{Compiled, Engine, EngineError, Observed};
use tidings_model::{Clock, Message, Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_rules::Condition;
use tidings_store::{AppendBatch, AppendResult, Outcome, Store, StoreError};

pub(crate) use build::{Baseline, build, build_into};
pub use cluster::Cluster;

/// The snapshot's name in the store.
const SNAPSHOT: &str = "engine";
/// Log entries read per page when catching up.
const PAGE: usize = 5_000;
/// How long the runner waits for the engine to take in what it has read
/// before it decides anyway (the engine is then far behind, or the log was
/// written by another process, and it says so).
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(2);

/// Why the live engine could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The definitions do not compile (a reference `tidings check` would refuse).
    #[error("the segment engine: {0}")]
    Engine(#[from] EngineError),
    #[error("cannot start the engine thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The engine thread is gone (the node is shutting down).
    #[error("the segment engine has stopped")]
    Stopped,
}

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
    /// Take in what waits, advance to the clock's time, record, then answer.
    Sync(Sender<()>),
    /// New definitions: rebuild every profile's state from its history, swap.
    Replace(Box<tidings_rules::Workspace>, Sender<Result<Replaced, LiveError>>),
    Stop,
}

/// The log position the engine has taken in, for readers that must wait for it.
#[derive(Default)]
struct Applied {
    seq: Mutex<i64>,
    moved: Condvar,
}

impl Applied {
    fn set(&self, seq: i64) {
        let mut s = self.seq.lock();
        if seq > *s {
            *s = seq;
            self.moved.notify_all();
        }
    }
}

/// The running engine of one workspace, shared with the API and the runner.
pub struct Live {
    pub workspace: WorkspaceId,
    rules: RwLock<Arc<tidings_rules::Workspace>>,
    /// Compiled beside the rules: what the runner asks about.
    conditions: Vec<Condition>,
    pub engine: Arc<RwLock<Engine>>,
    /// The rebuild under way, if any (at start or after new definitions).
    pub progress: Arc<Progress>,
    /// Held while new definitions are checked and rebuilt, one at a time.
    pub replacing: Mutex<()>,
    pub recent: Arc<Mutex<HashMap<String, VecDeque<RecentChange>>>>,
    pub default_tz: TimeZone,
    /// Time moves only on [`Live::sync`] (a simulated clock), never by itself.
    manual: bool,
    /// When several nodes share the database: the engine holds only the
    /// partitions its node owns and tails the log ([`cluster`]).
    cluster: Option<Cluster>,
    /// With several nodes: the partitions whose profiles the engine has built.
    serving: Mutex<std::collections::BTreeSet<u32>>,
    applied: Applied,
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
        let merged: HashSet<ProfileId> =
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

/// A committed message as the log holds it.
pub(crate) fn stored(m: &Message, seq: i64, profile: ProfileId) -> StoredEvent {
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
        body: m.body.clone().into(),
    }
}

impl Live {
    /// Builds the engine of `rules` and `conditions` (from its snapshot and
    /// the log after it, or from the whole log) and starts its thread.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        workspace: WorkspaceId,
        rules: tidings_rules::Workspace,
        conditions: Vec<Condition>,
        default_tz: TimeZone,
        manual: bool,
        cluster: Option<Cluster>,
    ) -> Result<(Arc<Live>, Arc<dyn AppendObserver>), LiveError> {
        let started = Instant::now();
        let now = clock.now();
        let compiled = Arc::new(Compiled::with_conditions(&rules, &conditions)?);
        if cluster.is_some() {
            // Nothing is held yet: partitions are built as the node gains them.
            let last_seq = store.stats(workspace)?.last_seq;
            let engine = Engine::with_compiled(compiled, default_tz.clone());
            let progress = Arc::new(Progress::default());
            let started = (engine, last_seq, progress, Vec::new());
            return Live::run(store, clock, workspace, rules, conditions, default_tz, manual, cluster, started);
        }
        let restored = match store.load_snapshot(workspace, SNAPSHOT)? {
            Some(s) => match serde_json::from_slice::<tidings_engine::Snapshot>(&s.data) {
                Ok(snap) => match Engine::restore_compiled(compiled.clone(), default_tz.clone(), snap) {
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
            for e in page {
                replayed += 1;
                pending_changes.extend(engine.apply(e.profile, Observed::from_stored_owned(e, true), now)?);
            }
        }
        pending_changes.extend(engine.advance(now));
        if replayed > 0 {
            tracing::info!(events = replayed, "replayed the log after the engine snapshot");
        }
        let started = (engine, last_seq, progress, pending_changes);
        Live::run(store, clock, workspace, rules, conditions, default_tz, manual, None, started)
    }

    /// Starts the engine's thread over `engine`, which has taken in the log
    /// up to `last_seq`, and records `pending_changes` first.
    #[allow(clippy::too_many_arguments)]
    fn run(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        workspace: WorkspaceId,
        rules: tidings_rules::Workspace,
        conditions: Vec<Condition>,
        default_tz: TimeZone,
        manual: bool,
        cluster: Option<Cluster>,
        (engine, last_seq, progress, pending_changes): (Engine, i64, Arc<Progress>, Vec<tidings_engine::Change>),
    ) -> Result<(Arc<Live>, Arc<dyn AppendObserver>), LiveError> {
        let (tx, rx) = unbounded();
        let live = Arc::new(Live {
            workspace,
            rules: RwLock::new(Arc::new(rules)),
            conditions,
            engine: Arc::new(RwLock::new(engine)),
            progress,
            replacing: Mutex::new(()),
            recent: Arc::default(),
            default_tz,
            manual,
            cluster,
            serving: Mutex::default(),
            applied: Applied::default(),
            tx: tx.clone(),
            thread: Mutex::new(None),
        });
        live.applied.set(last_seq);
        let mut runner = thread::EngineThread::new(live.clone(), store, clock, last_seq);
        runner.record(pending_changes);
        let handle = std::thread::Builder::new().name("segment-engine".into()).spawn(move || runner.run(rx))?;
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
    pub fn replace(&self, rules: tidings_rules::Workspace) -> Result<Replaced, LiveError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.tx.send(Cmd::Replace(Box::new(rules), tx)).map_err(|_| LiveError::Stopped)?;
        rx.recv().map_err(|_| LiveError::Stopped)?
    }

    /// Stops the thread after it saved a snapshot.
    pub fn stop(&self) {
        let _ = self.tx.send(Cmd::Stop);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }

    /// The node this engine works for, when several share the database.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// With several nodes: the partitions the engine has built and answers
    /// for (a partition just gained is not among them until its profiles
    /// are built from the log).
    pub fn serving(&self) -> std::collections::BTreeSet<u32> {
        self.serving.lock().clone()
    }

    /// The log position the engine has taken in.
    pub fn applied(&self) -> i64 {
        *self.applied.seq.lock()
    }
}

impl tidings_automation::Segments for Live {
    fn caught_up(&self, seq: i64) {
        if self.manual {
            return;
        }
        let deadline = Instant::now() + CATCH_UP_PATIENCE;
        let mut at = self.applied.seq.lock();
        while *at < seq {
            if self.applied.moved.wait_until(&mut at, deadline).timed_out() {
                tracing::warn!(
                    engine_at = *at,
                    runner_at = seq,
                    "the segment engine is behind the log; deciding anyway"
                );
                return;
            }
        }
    }

    fn holds(&self, profile: ProfileId, condition: &Condition) -> Option<bool> {
        let engine = self.engine.read();
        if let Condition::InSegment(r) = condition
            && engine.compiled().segment_keys().any(|k| k == r.key)
        {
            return Some(engine.is_member(profile, &r.key));
        }
        engine.holds(profile, &condition.to_string())
    }

    fn membership(&self, profile: ProfileId) -> (Vec<String>, Option<String>) {
        let engine = self.engine.read();
        let mut segments: Vec<String> = engine.segments_of(profile).into_iter().map(str::to_string).collect();
        segments.sort_unstable();
        let mut sets: Vec<&str> = engine.compiled().stage_set_keys().collect();
        sets.sort_unstable();
        let stage = sets.into_iter().find_map(|set| engine.stage_of(profile, set)).map(str::to_string);
        (segments, stage)
    }
}
