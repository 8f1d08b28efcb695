//! `tidings report`: what email did, read back from the event log, by
//! journey (or broadcast), step, template, segment and stage at send time,
//! experiment arm and day:
//! sent, human opens (machine opens apart), clicks, click-to-open,
//! unsubscribes, conversions and revenue by last-touch attribution (the
//! latest click, else human open, within the window before the order), and
//! revenue per email. The demo prints the same tables; `GET /api/report`
//! serves them as JSON.

use crate::config::Config;
use crate::open::{open_store, workspace};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use tidings_store::Store;
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// Attribution window: an order this long after a click (else a human open) counts for that email.
    #[arg(long, default_value = "5d")]
    pub window: String,
    /// Signal analysis: behaviour this long before the cut-off counts as a signal.
    #[arg(long, default_value = "30d")]
    pub lookback: String,
    /// Signal analysis: an order this long after the cut-off is a conversion; the cut-off is --as-of minus this.
    #[arg(long, default_value = "7d")]
    pub horizon: String,
    /// Signal analysis: the smallest relative lift a segment must be big enough to test (0.1 = +10%).
    #[arg(long, default_value_t = 0.1)]
    pub min_lift: f64,
    /// Signal analysis as of this time (RFC 3339) [default: the newest event in the log].
    #[arg(long)]
    pub as_of: Option<String>,
}

pub fn run(a: ReportArgs) -> Result<()> {
    let window = duration("window", &a.window)?;
    if !(a.min_lift > 0.0 && a.min_lift.is_finite()) {
        anyhow::bail!("--min-lift {}: give a relative lift above 0, like 0.1 for +10%", a.min_lift);
    }
    let config = Config::load(&a.data)?;
    let store = open_store(&a.data, &config, Mode::ReadOnly)?;
    let ws = workspace(store.as_ref(), config.workspace_name())?;
    let as_of = match &a.as_of {
        Some(t) => tidings_model::time::parse_time(t)
            .with_context(|| format!("--as-of {t:?}: give an RFC 3339 time like 2026-03-01T00:00:00Z"))?,
        None => newest_event(store.as_ref(), ws)?,
    };
    let query = tidings_insights_log::SignalQuery {
        as_of,
        lookback: duration("lookback", &a.lookback)?,
        horizon: duration("horizon", &a.horizon)?,
        outcome: "Order Completed".into(),
        options: tidings_insights::signals::SignalOptions { min_relative_lift: a.min_lift, ..Default::default() },
    };
    // One read of the log for both the email tables and the signals.
    let (o, signals) = tidings_insights_log::email_outcomes_and_signals(store.as_ref(), ws, window, &query)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Email by journey (rates per email sent; human opens only, machine opens apart).\nConversions and revenue, {}:",
        o.method
    );
    rates_table(&mut out, "sent by", &o.by_journey);
    let _ = writeln!(out, "\nBy journey step:");
    rates_table(&mut out, "step", &o.by_step);
    let _ = writeln!(out, "\nBy template:");
    rates_table(&mut out, "template", &o.by_template);
    let _ = writeln!(out, "\nBy the segments the recipient was in when the email was sent:");
    rates_table(&mut out, "segment", &o.by_segment);
    let _ = writeln!(out, "\nBy the recipient's stage when it was sent:");
    rates_table(&mut out, "stage", &o.by_stage);
    let _ = writeln!(out, "\nBy experiment arm (emails of the journey that assigned it):");
    rates_table(&mut out, "arm", &o.by_variant);
    let _ = writeln!(out, "\nBy day sent (UTC):");
    rates_table(&mut out, "day", &o.by_day);
    let _ = writeln!(
        out,
        "\nSegments over the whole log: members against everyone never in the segment\n\
         (conversion = share of people with an order; members: while in the segment;\n\
         pred.CLV: mean predicted lifetime value of today's members, from `tidings predict --write-traits`):"
    );
    let _ = writeln!(
        out,
        "  {:<34} {:>9} {:>9} {:>11} {:>9} {:>8} {:>8} {:>9}",
        "segment", "members", "conv", "non-member", "conv", "AOV", "now", "pred.CLV"
    );
    let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.1}%", 100.0 * r));
    for (k, s) in &o.segments {
        let _ = writeln!(
            out,
            "  {k:<34} {:>9} {:>9} {:>11} {:>9} {:>8} {:>8} {:>9}",
            s.members_ever,
            pct(s.member_conversion()),
            s.non_members,
            pct(s.non_member_conversion()),
            s.average_order_value().map_or("-".into(), |v| format!("{v:.2}")),
            s.members_now,
            s.predicted_clv_mean.map_or("-".into(), |v| format!("{v:.2}")),
        );
    }
    let _ = writeln!(out, "\nSegment movement over the log (entries, exits):");
    for (k, (entered, exited)) in &o.segment_movement {
        let _ = writeln!(out, "  {k:<34} {entered:>8} {exited:>8}");
    }
    signals_table(&mut out, &signals);
    print!("{out}");
    Ok(())
}

/// A positive duration flag (`5d`, `72h`).
fn duration(flag: &str, text: &str) -> Result<tidings_model::Micros> {
    tidings_journeys::definition::parse_duration(text)
        .filter(|&d| d > 0)
        .with_context(|| format!("--{flag} {text:?}: give a number and a unit, like 5d or 72h"))
}

/// The timestamp of the log's newest entry (by position), or 0 when it is empty.
fn newest_event(store: &dyn Store, ws: tidings_model::WorkspaceId) -> Result<tidings_model::Micros> {
    let last = store.stats(ws)?.last_seq;
    Ok(store.scan(ws, (last - 1).max(0), 1)?.first().map_or(0, |e| e.timestamp))
}

/// The signal analysis of `GET /api/signals`, as text.
pub fn signals_table(out: &mut String, v: &serde_json::Value) {
    let _ = writeln!(
        out,
        "\nSignals: which behaviour before {} goes with an order in the {} days after it\n\
         ({} people, base rate {}; ranked by the lower bound of the ratio's interval).",
        v["cut"].as_str().unwrap_or("-"),
        v["horizon_days"],
        v["population"],
        v["base_rate"].as_f64().map_or("-".into(), |r| format!("{:.1}%", 100.0 * r)),
    );
    if let Some(e) = v["error"].as_str() {
        let _ = writeln!(out, "  not computed: {e}");
        return;
    }
    let _ = writeln!(
        out,
        "  {:<44} {:>8} {:>7} {:>7} {:>21} {:>9}",
        "signal", "coverage", "with", "without", "ratio [95% CI]", "p (Holm)"
    );
    let pct = |x: &serde_json::Value| x.as_f64().map_or("-".to_string(), |r| format!("{:.1}%", 100.0 * r));
    let num = |x: &serde_json::Value| x.as_f64().map_or("-".to_string(), |r| format!("{r:.2}"));
    let signals = v["signals"].as_array().cloned().unwrap_or_default();
    for s in signals.iter().take(20) {
        let c = &s["comparison"];
        let ratio = if c.is_null() {
            "-".to_string()
        } else {
            format!("{} [{}, {}]", num(&c["ratio"]), num(&c["ratio_ci_low"]), num(&c["ratio_ci_high"]))
        };
        let p = c["p_holm"].as_f64().map_or("-".to_string(), |p| format!("{p:.3}"));
        let name: String = s["name"].as_str().unwrap_or("").chars().take(44).collect();
        let _ = writeln!(
            out,
            "  {name:<44} {:>8} {:>7} {:>7} {ratio:>21} {p:>9}",
            pct(&s["coverage"]),
            pct(&s["rate_with"]),
            pct(&s["rate_without"])
        );
    }
    if signals.len() > 20 {
        let _ = writeln!(out, "  ... {} more in GET /api/signals", signals.len() - 20);
    }
    let required = v["required_segment_size"].as_u64();
    let population = v["population"].as_u64().unwrap_or(0);
    if required.is_some_and(|r| r > population / 2) {
        let _ = writeln!(
            out,
            "\nAt this size no split of these {population} people can test a lift this small; \
             see which lift can be tested with --min-lift 0.3."
        );
    }
    let small: Vec<&str> =
        signals.iter().filter(|s| s["too_small"] == true).filter_map(|s| s["name"].as_str()).collect();
    let _ = writeln!(
        out,
        "\nPruning: segments too small to test a {}% lift (fewer than {} people per arm): {}",
        v["options"]["min_relative_lift"].as_f64().map_or(10.0, |l| 100.0 * l),
        v["required_segment_size"].as_u64().map_or("-".into(), |n| n.to_string()),
        if small.is_empty() { "none".to_string() } else { small.join(", ") }
    );
    let overlaps = v["overlaps"].as_array().cloned().unwrap_or_default();
    if overlaps.is_empty() {
        let _ = writeln!(out, "Segments that nearly coincide (Jaccard >= {}): none", v["options"]["jaccard_threshold"]);
    } else {
        let _ = writeln!(out, "Segments that nearly coincide (consider merging):");
        for o in overlaps {
            let _ = writeln!(
                out,
                "  {} and {}: Jaccard {:.3}, {} in both",
                o["a"].as_str().unwrap_or(""),
                o["b"].as_str().unwrap_or(""),
                o["jaccard"].as_f64().unwrap_or(0.0),
                o["intersection"]
            );
        }
    }
}

pub use tidings_insights::email::{EmailOutcomes as Outcomes, EmailRates as Rates};

/// One pass over the log (see [`tidings_insights::email`]).
pub fn outcomes(store: &dyn Store, ws: tidings_model::WorkspaceId, attribution: i64) -> Result<Outcomes> {
    Ok(tidings_insights_log::email_outcomes(store, ws, attribution)?)
}

pub fn rates_table(out: &mut String, label: &str, rows: &BTreeMap<String, Rates>) {
    let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.1}%", 100.0 * r));
    let _ = writeln!(
        out,
        "  {label:<34} {:>6} {:>7} {:>8} {:>7} {:>6} {:>6} {:>7} {:>10} {:>8}",
        "sent", "opens", "machine", "clicks", "CTOR", "unsub", "conv", "revenue", "rev/email"
    );
    for (k, r) in rows {
        let _ = writeln!(
            out,
            "  {k:<34} {:>6} {:>7} {:>8} {:>7} {:>6} {:>6} {:>7} {:>10.2} {:>8.3}",
            r.sent,
            pct(r.open_rate()),
            pct((r.sent > 0).then(|| r.machine_opens as f64 / r.sent as f64)),
            pct(r.click_rate()),
            pct(r.click_to_open()),
            pct(r.unsubscribe_rate()),
            pct(r.conversion_rate()),
            r.revenue,
            r.revenue_per_email().unwrap_or(0.0),
        );
    }
}
