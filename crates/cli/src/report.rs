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
}

pub fn run(a: ReportArgs) -> Result<()> {
    let window = tidings_journeys::definition::parse_duration(&a.window)
        .with_context(|| format!("--window {:?}: give a number and a unit, like 5d or 72h", a.window))?;
    let config = Config::load(&a.data)?;
    let store = open_store(&a.data, &config, Mode::ReadOnly)?;
    let ws = workspace(store.as_ref(), config.workspace_name())?;
    let o = outcomes(store.as_ref(), ws, window)?;
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
    print!("{out}");
    Ok(())
}

pub use tidings_insights::email::{EmailOutcomes as Outcomes, EmailRates as Rates};

/// One pass over the log (see [`tidings_insights::email`]).
pub fn outcomes(store: &dyn Store, ws: tidings_model::WorkspaceId, attribution: i64) -> Result<Outcomes> {
    Ok(tidings_server::api::email_outcomes(store, ws, attribution)?)
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
