//! The learnings log: every concluded experiment with its hypothesis, who
//! was in it, the result and the decision, so that a team can search what
//! it has already tried. Kept as one record per workspace among the
//! store's snapshots; entries are only ever added.

use serde::{Deserialize, Serialize};
use tidings_model::{Micros, WorkspaceId};

use crate::{Result, Snapshot, Store};

/// The snapshot name of the log.
pub const LEARNINGS: &str = "learnings";

/// One concluded experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learning {
    pub experiment: String,
    /// The journey whose split ran it, if one did.
    #[serde(default)]
    pub journey: Option<String>,
    #[serde(default)]
    pub hypothesis: Option<String>,
    /// Who took part (e.g. "entered segment cart_abandoners").
    #[serde(default)]
    pub segment: Option<String>,
    /// The conversion event and its window.
    pub metric: String,
    /// The result in one line, with the test that decided it.
    pub result: String,
    /// What was done about it.
    pub decision: String,
    /// The variation rolled out, if any.
    #[serde(default)]
    pub winner: Option<String>,
    pub concluded_at: Micros,
    /// `automatic` (the runner's sequential test) or `manual` (the API).
    pub source: String,
    /// The per-variation figures at the time, as the analysis gave them.
    #[serde(default)]
    pub details: serde_json::Value,
}

impl Learning {
    /// Whether every word of `query` appears in one of its text fields
    /// (case-insensitive).
    pub fn matches(&self, query: &str) -> bool {
        let text = [
            Some(self.experiment.as_str()),
            self.journey.as_deref(),
            self.hypothesis.as_deref(),
            self.segment.as_deref(),
            Some(self.metric.as_str()),
            Some(self.result.as_str()),
            Some(self.decision.as_str()),
            self.winner.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
        query.split_whitespace().all(|w| text.contains(&w.to_lowercase()))
    }
}

/// Every entry, oldest first.
pub fn load(store: &dyn Store, ws: WorkspaceId) -> Result<Vec<Learning>> {
    Ok(match store.load_snapshot(ws, LEARNINGS)? {
        Some(s) => serde_json::from_slice(&s.data).unwrap_or_default(),
        None => Vec::new(),
    })
}

/// Adds an entry. Writers in one process take turns; an experiment is
/// concluded once (a second entry for it is refused with `false`).
pub fn append(store: &dyn Store, ws: WorkspaceId, entry: Learning) -> Result<bool> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = load(store, ws)?;
    if all.iter().any(|l| l.experiment == entry.experiment) {
        return Ok(false);
    }
    let at = entry.concluded_at;
    all.push(entry);
    let data = serde_json::to_vec(&all).map_err(|e| crate::StoreError::Database(format!("learnings: {e}")))?;
    store.save_snapshot(ws, LEARNINGS, &Snapshot { seq: 0, taken_at: at, data })?;
    Ok(true)
}
