//! Building an engine from the log: every profile's state from its stored
//! history, on every core, with progress (at start without a usable
//! snapshot, and when definitions are replaced).

use super::cluster::Recorded;
use super::{LiveError, PAGE, Progress};
use jiff::tz::TimeZone;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tidings_engine::{Compiled, Engine, ProfileInput, ProfileState};
use tidings_model::{Micros, ProfileId, WorkspaceId};
use tidings_store::{Store, StoreError};

/// Profiles handed to a builder thread at a time.
const CHUNK: usize = 256;

/// An engine for `compiled` with every profile's state built from its
/// stored history up to log position `upto`, as of `now`. Profiles are read
/// and built on as many threads as there are cores; progress is counted in
/// `progress` and logged every few seconds.
pub(crate) fn build(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    compiled: Arc<Compiled>,
    tz: &TimeZone,
    now: Micros,
    upto: i64,
    progress: &Progress,
) -> Result<Engine, LiveError> {
    let mut engine = Engine::with_compiled(compiled.clone(), tz.clone());
    let all = |_: ProfileId| true;
    build_into(store, ws, &compiled, tz, now, upto, progress, &all, &|_| Baseline::None, |id, state, _| {
        engine.install(id, state)?;
        Ok(())
    })?;
    Ok(engine)
}

/// What a build hands on beside a profile's state: what the last owner of
/// its partition recorded (see [`super::cluster`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Baseline {
    /// Nothing: the partition is built as a node alone starts.
    None,
    /// The memberships its history's segment events record.
    Events,
    /// Its memberships at this log position and time, computed from its
    /// history: the last owner recorded every change up to there.
    At(i64, Micros),
}

/// Builds the state of every profile for which `keep` holds (asked when
/// listing them and again before each is built), from its
/// history up to `upto` as of `now`, and hands each to `install` with
/// what `baseline` asks for it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_into(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    compiled: &Arc<Compiled>,
    tz: &TimeZone,
    now: Micros,
    upto: i64,
    progress: &Progress,
    keep: &(dyn Fn(ProfileId) -> bool + Sync),
    baseline: &(dyn Fn(ProfileId) -> Baseline + Sync),
    mut install: impl FnMut(ProfileId, ProfileState, Option<Recorded>) -> Result<(), LiveError>,
) -> Result<(), LiveError> {
    let started = Instant::now();
    let mut ids = Vec::new();
    let mut after = ProfileId(0);
    loop {
        let page = store.profile_ids(ws, after, PAGE)?;
        let Some(&l) = page.last() else { break };
        after = l;
        ids.extend(page.into_iter().filter(|&p| keep(p)));
    }
    progress.done.store(0, Ordering::Relaxed);
    progress.total.store(ids.len() as u64, Ordering::Relaxed);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let next = AtomicUsize::new(0);
    let (tx, rx) = crossbeam_channel::bounded::<Result<Vec<Built>, StoreError>>(workers * 2);
    let result: Result<(), LiveError> = std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, ids, next) = (tx.clone(), &ids, &next);
            scope.spawn(move || {
                loop {
                    let from = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if from >= ids.len() {
                        return;
                    }
                    let chunk = &ids[from..(from + CHUNK).min(ids.len())];
                    // `keep` is asked again as the build goes: a node that lost
                    // a partition meanwhile stops building it.
                    let wanted: Vec<ProfileId> = chunk.iter().copied().filter(|&id| keep(id)).collect();
                    let built: Result<Vec<_>, StoreError> = store.profile_histories(ws, &wanted).map(|histories| {
                        wanted
                            .iter()
                            .zip(histories)
                            .map(|(&id, mut history)| {
                                history.retain(|e| e.seq <= upto);
                                let input = ProfileInput::from_stored(&history);
                                let then = match baseline(id) {
                                    Baseline::None => None,
                                    Baseline::Events => Some(Recorded::of(&history)),
                                    Baseline::At(seq, at) => {
                                        let before = input.messages.iter().filter(|m| m.seq <= seq).cloned().collect();
                                        let state =
                                            tidings_engine::build_state(compiled, tz, &ProfileInput::new(before), at);
                                        Some(Recorded::held_in(compiled, &state))
                                    }
                                };
                                (id, tidings_engine::build_state(compiled, tz, &input, now), then)
                            })
                            .collect()
                    });
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
            for (id, state, recorded) in built? {
                install(id, state, recorded)?;
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
    result
}

type Built = (ProfileId, ProfileState, Option<Recorded>);
