//! The scheduled refresh of prediction traits: every `every` of the clock,
//! the purchase models are fitted again on the log and each buyer's
//! predictions (`predicted_clv`, `p_alive`, `expected_orders_<horizon>`,
//! `rfm`) stored as traits through the ingest queue, so the live engine and
//! rules see them at once. A run with too few buyers is skipped and logged
//! (and tried again the next period); message ids are stable per buyer and
//! day, so nothing is stored twice. The time of the last refresh survives
//! restarts, so a restart does not refit everything again. With several
//! nodes, the node holding partition 0 of the workspace refreshes it (the
//! fit needs every buyer), having read the time of the last refresh again.

use crate::IngestQueue;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tidings_insights_log::predict::{Model, predict, trait_messages};
use tidings_model::{Clock, Micros, WorkspaceId};
use tidings_store::Store;

/// The store record of the last scheduled refresh (its time is what counts).
const REFRESHED: &str = "predictions-refreshed";

/// How often predictions are refreshed, and how far ahead they look.
#[derive(Debug, Clone)]
pub struct PredictionSchedule {
    pub every: Micros,
    pub horizon: Micros,
    /// The horizon as the user wrote it (`90d`): it names the trait.
    pub horizon_text: String,
}

pub(crate) fn spawn(
    store: Arc<dyn Store>,
    ws: WorkspaceId,
    ingest: IngestQueue,
    clock: Arc<dyn Clock>,
    schedule: PredictionSchedule,
    stop: Arc<AtomicBool>,
    cluster: Option<crate::Cluster>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("predictions-{}", ws.0)).spawn(move || {
        let model = Model { event: "Order Completed".into(), value: "revenue".into(), clv_months: 12, discount: 0.01 };
        let mut last: Option<Micros> = store.load_snapshot(ws, REFRESHED).ok().flatten().map(|s| s.taken_at);
        while !stop.load(Ordering::Relaxed) {
            let now = clock.now();
            if let Some(c) = &cluster {
                if c.ownership.token(ws, 0, now).is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    continue;
                }
                // Another node may have refreshed before this one took partition 0.
                last = store.load_snapshot(ws, REFRESHED).ok().flatten().map(|s| s.taken_at);
            }
            if last.is_none_or(|l| now >= l.saturating_add(schedule.every)) {
                last = Some(now);
                refresh(store.as_ref(), ws, &ingest, &model, &schedule, now);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    })
}

fn refresh(
    store: &dyn Store,
    ws: WorkspaceId,
    ingest: &IngestQueue,
    model: &Model,
    s: &PredictionSchedule,
    now: Micros,
) {
    let started = std::time::Instant::now();
    let predictions = match predict(store, ws, model, now, s.horizon, &mut |_| {}) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(workspace = ws.0, reason = %e, "prediction traits not refreshed");
            return;
        }
    };
    let messages = match trait_messages(&predictions.profiles, &s.horizon_text, now, now) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(workspace = ws.0, error = %e, "prediction traits could not be formed");
            return;
        }
    };
    for chunk in messages.chunks(5_000) {
        if let Err(e) = ingest.append_blocking(ws, chunk.to_vec()) {
            tracing::warn!(workspace = ws.0, error = %e, "prediction traits not stored; tried again next period");
            return;
        }
    }
    let mark = tidings_store::Snapshot { seq: 0, taken_at: now, data: b"{}".to_vec() };
    if let Err(e) = store.save_snapshot(ws, REFRESHED, &mark) {
        tracing::warn!(error = %e, "could not note the prediction refresh");
    }
    tracing::info!(
        workspace = ws.0,
        buyers = messages.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "prediction traits refreshed (predicted_clv, p_alive, expected_orders, rfm)"
    );
}
