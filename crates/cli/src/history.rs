//! Reading stored histories for the segment commands: every live profile
//! of a workspace with its events in time order, in parallel, with a
//! progress bar; and the progress bar of the insights commands, which read
//! the log once instead (`tidings-insights-log`).

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use tidings_model::{ProfileId, StoredEvent, WorkspaceId};
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

/// A progress bar over a read of the whole log (its positions up to the
/// newest), hidden when `quiet`.
pub fn log_bar(store: &dyn Store, ws: WorkspaceId, quiet: bool) -> Result<ProgressBar> {
    let last = store.stats(ws)?.last_seq.max(0) as u64;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(last) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} reading the log [{bar:30}] {pos}/{len} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    Ok(bar)
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
