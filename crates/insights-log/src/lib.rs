//! Insights from the event log: the one loop that pages through a store's
//! log ([`scan`]) and hands each entry to the collectors of
//! `tidings-insights` ([`tidings_insights::feed::Feed`]), and the questions
//! the admin API and the CLI ask of it: what email did
//! ([`email_outcomes`]), which behaviour goes with conversion
//! ([`signal_report`]), both from one read ([`email_outcomes_and_signals`]),
//! an experiment's exposures ([`experiment_exposures`]) and every buyer's
//! purchases ([`purchase_histories`]).
//!
//! Why a crate of its own: `tidings-insights` stays pure (no I/O, its
//! statistics tested on plain data), and the store crate stays free of
//! statistics (every backend and the engine build on it, and would compile
//! `statrs` for nothing). This crate is the small seam between the two: the
//! server and the CLI depend on it, nothing else does, and it compiles in a
//! few seconds.
//!
//! Architecture invariant: insights read the log only through [`scan`],
//! each entry's body parsed at most once however many collectors read it.

pub mod predict;

use serde_json::{Value, json};
use tidings_insights::btyd::PurchaseLog;
use tidings_insights::email::{Accumulator, EmailOutcomes};
use tidings_insights::exposure::{ExperimentExposures, ExperimentLog, ExperimentQuery};
use tidings_insights::feed::{Entry, Feed};
use tidings_insights::signal_log::SignalLog;
use tidings_insights::signals::{SignalOptions, analyze_signals};
use tidings_model::time::{DAY, format_time};
use tidings_model::{Micros, WorkspaceId};
use tidings_store::{Result, Store};

/// Log entries read per page.
const PAGE: usize = 10_000;

/// Reads the whole log of `ws` once, in order, handing each entry to `feed`
/// (a tuple or slice of collectors feeds them all from one read).
pub fn scan(store: &dyn Store, ws: WorkspaceId, feed: &mut dyn Feed) -> Result<()> {
    scan_with_progress(store, ws, feed, &mut |_| {})
}

/// [`scan`], calling `progress` with the log position reached after each page.
pub fn scan_with_progress(
    store: &dyn Store,
    ws: WorkspaceId,
    feed: &mut dyn Feed,
    progress: &mut dyn FnMut(i64),
) -> Result<()> {
    let mut after = 0;
    loop {
        let page = store.scan(ws, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            feed.feed(&Entry::new(e));
        }
        progress(after);
    }
    Ok(())
}

/// The email report's accumulator for `ws`, knowing its population.
fn accumulator(store: &dyn Store, ws: WorkspaceId, window: Micros) -> Result<Accumulator> {
    let mut acc = Accumulator::new(window);
    acc.population(store.stats(ws)?.profiles.max(0) as u64);
    Ok(acc)
}

/// What email did, from the event log in one pass: see [`tidings_insights::email`].
/// `window`: how long after a click or open an order counts for it.
pub fn email_outcomes(store: &dyn Store, ws: WorkspaceId, window: Micros) -> Result<EmailOutcomes> {
    let mut acc = accumulator(store, ws, window)?;
    scan(store, ws, &mut acc)?;
    Ok(acc.finish())
}

/// The email report and the signal analysis from one read of the log
/// (`tidings report` shows both).
pub fn email_outcomes_and_signals(
    store: &dyn Store,
    ws: WorkspaceId,
    window: Micros,
    q: &SignalQuery,
) -> Result<(EmailOutcomes, Value)> {
    let mut both = (accumulator(store, ws, window)?, q.signal_log());
    scan(store, ws, &mut both)?;
    let (acc, log) = both;
    Ok((acc.finish(), q.to_json(log)))
}

/// What the signal analysis looks at: behaviour in the `lookback` before
/// `as_of - horizon`, conversion (`outcome`) in the `horizon` after it.
#[derive(Debug, Clone)]
pub struct SignalQuery {
    pub as_of: Micros,
    pub lookback: Micros,
    pub horizon: Micros,
    pub outcome: String,
    pub options: SignalOptions,
}

impl SignalQuery {
    /// The cut-off: behaviour before it, conversion after it.
    pub fn cut(&self) -> Micros {
        self.as_of.saturating_sub(self.horizon)
    }

    /// The collector of the log for this query.
    pub fn signal_log(&self) -> SignalLog {
        SignalLog::new(self.cut(), self.lookback, self.horizon, &self.outcome)
    }

    /// The analysis of what `log` collected, with the windows it used, as
    /// `GET /api/signals` shows it. An analysis that cannot be made is
    /// reported in `error` beside an empty list.
    pub fn to_json(&self, log: SignalLog) -> Value {
        let c = log.finish();
        let population = u32::try_from(c.profiles.len()).unwrap_or(u32::MAX);
        let mut v = match analyze_signals(population, &c.converters, &c.signals, &self.options) {
            Ok(r) => serde_json::to_value(r).unwrap_or_default(),
            Err(e) => json!({"population": population, "signals": [], "overlaps": [], "error": e.to_string()}),
        };
        v["as_of"] = json!(format_time(self.as_of));
        v["cut"] = json!(format_time(self.cut()));
        v["lookback_days"] = json!(self.lookback as f64 / DAY as f64);
        v["horizon_days"] = json!(self.horizon as f64 / DAY as f64);
        v["outcome"] = json!(self.outcome);
        v
    }
}

/// Signal analysis and segment pruning over the event log (see
/// [`tidings_insights::signal_log`]): the
/// [`SignalReport`](tidings_insights::signals::SignalReport) as JSON with
/// the windows it used.
pub fn signal_report(store: &dyn Store, ws: WorkspaceId, q: &SignalQuery) -> Result<Value> {
    let mut log = q.signal_log();
    scan(store, ws, &mut log)?;
    Ok(q.to_json(log))
}

/// An experiment's exposures, conversions and breakdown facts over the
/// whole log (see [`tidings_insights::exposure`]); `progress` as in
/// [`scan_with_progress`].
pub fn experiment_exposures(
    store: &dyn Store,
    ws: WorkspaceId,
    query: ExperimentQuery,
    progress: &mut dyn FnMut(i64),
) -> Result<ExperimentExposures> {
    let mut log = ExperimentLog::new(query);
    scan_with_progress(store, ws, &mut log, progress)?;
    Ok(log.finish())
}

/// A buyer: the id the profile shows, and its purchases as (UTC day
/// number, value), oldest first.
pub type Buyer = (String, Vec<(i32, f64)>);

/// Every buyer's purchases (`event`, worth its `value` property) up to
/// `until`, by profile id, each under the id the profile shows (its user
/// id, else its first anonymous id; profiles with neither are left out).
/// `progress` as in [`scan_with_progress`].
pub fn purchase_histories(
    store: &dyn Store,
    ws: WorkspaceId,
    event: &str,
    value: &str,
    until: Micros,
    progress: &mut dyn FnMut(i64),
) -> Result<Vec<Buyer>> {
    let mut log = PurchaseLog::new(event, value, until);
    scan_with_progress(store, ws, &mut log, progress)?;
    let mut out = Vec::new();
    for h in log.finish() {
        if let Some(id) = store.profile(ws, h.profile)?.and_then(|p| p.display_id()) {
            out.push((id, h.purchases));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_model::message::{Envelope, new_message_id, parse_message};
    use tidings_store::AppendBatch;
    use tidings_store_sqlite::{Durability, Mode, SqliteStore};

    #[test]
    fn one_read_of_many_pages_feeds_every_collector() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Process).unwrap();
        let ws = store.create_workspace("w", 0).unwrap().id;
        let env = Envelope { received_at: 0, sent_at: None, default_type: None };
        // More than one page, so the loop must continue after the first.
        let n = PAGE + 5;
        let messages: Vec<_> = (0..n)
            .map(|i| {
                let text = json!({
                    "type": "track", "userId": format!("u{}", i % 20), "event": "Order Completed",
                    "timestamp": format_time(i as i64 * 1_000_000), "properties": {"revenue": 1.0},
                })
                .to_string();
                parse_message(&text, &env, &mut new_message_id).unwrap()
            })
            .collect();
        store.append(&[AppendBatch { workspace: ws, messages }]).unwrap();
        let mut pages = 0;
        let histories =
            purchase_histories(&store, ws, "Order Completed", "revenue", Micros::MAX, &mut |_| pages += 1).unwrap();
        assert_eq!(pages, 2);
        assert_eq!(histories.len(), 20);
        assert_eq!(histories.iter().map(|(_, p)| p.len()).sum::<usize>(), n);
        assert!(histories.iter().all(|(id, _)| id.starts_with('u')));
        let mut both = (accumulator(&store, ws, DAY).unwrap(), PurchaseLog::new("Order Completed", "revenue", 0));
        scan(&store, ws, &mut both).unwrap();
        assert_eq!(both.1.finish().iter().map(|h| h.purchases.len()).sum::<usize>(), 1, "only the first second");
    }
}
