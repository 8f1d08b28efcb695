//! Reading stored histories for the analytical commands: every live
//! profile of a workspace with its events in time order, in parallel, with
//! a progress bar.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::sync::Arc;
use tidings_model::traits::Traits;
use tidings_model::{MessageType, Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_store::{Profile, Store};

/// Profile ids fetched per page.
const PAGE: usize = 2_000;

/// Calls `f` with every live profile and its history (oldest first), from
/// two threads; `f` results are returned in profile order.
pub fn for_each_profile<T, F>(store: &Arc<dyn Store>, ws: WorkspaceId, quiet: bool, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(&Profile, &[StoredEvent]) -> Option<T> + Sync,
{
    let total = store.stats(ws)?.profiles.max(0) as u64;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} reading profiles [{bar:30}] {pos}/{len} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut ids = Vec::new();
    let mut after = ProfileId(0);
    loop {
        let page = store.profile_ids(ws, after, PAGE)?;
        let Some(&last) = page.last() else { break };
        after = last;
        ids.extend(page);
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let chunk = ids.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<T>>> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let (store, bar, f) = (store.clone(), bar.clone(), &f);
                s.spawn(move || -> Result<Vec<T>> {
                    let mut out = Vec::new();
                    for &id in part {
                        if let Some(p) = store.profile(ws, id)? {
                            let history = store.profile_history(ws, id)?;
                            out.extend(f(&p, &history));
                        }
                        bar.inc(1);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a reader thread panicked"))))
            .collect()
    });
    bar.finish_and_clear();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// The JSON body of a stored event.
pub fn body(e: &StoredEvent) -> Map<String, Value> {
    match serde_json::from_str(&e.body) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The traits a profile had at `at`: identify and group messages up to then, by event time.
pub fn traits_as_of(history: &[StoredEvent], at: Micros) -> Traits {
    let mut t = Traits::default();
    for e in history.iter().filter(|e| e.timestamp <= at) {
        if matches!(e.kind, MessageType::Identify | MessageType::Group)
            && let Some(Value::Object(new)) = body(e).remove("traits")
        {
            t.apply(&new, e.timestamp);
        }
    }
    t
}

/// Parses a duration like `14d`, `12h`, `30m`, `2w`, `45s` (the journeys' format).
pub use tidings_journeys::definition::parse_duration;

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        use tidings_model::time::{DAY, HOUR};
        assert_eq!(super::parse_duration("14d"), Some(14 * DAY));
        assert_eq!(super::parse_duration("3h"), Some(3 * HOUR));
        assert_eq!(super::parse_duration("3"), None);
        assert_eq!(super::parse_duration("d"), None);
        assert_eq!(super::parse_duration("3y"), None);
    }
}
