//! `tidings report`: what email did, read back from the event log. Per
//! journey (or broadcast) and per segment the recipient was in when the
//! email was sent: sent, human opens (machine opens apart), clicks,
//! click-to-open, unsubscribes, conversions and revenue by last-touch
//! attribution (the latest click, else human open, within the window
//! before the order), and revenue per email. The demo prints the same tables.

use crate::config::Config;
use crate::open::{open_store, workspace};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use tidings_model::event::{SEGMENT_ENTERED, SEGMENT_EXITED};
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
        "Email by journey (rates per email sent; human opens only, machine opens apart;\n\
         conversions and revenue: orders within {} of a click, else of a human open, last touch):",
        a.window
    );
    rates_table(&mut out, "sent by", &o.by_source);
    let _ = writeln!(out, "\nThe same by the segments the recipient was in when the email was sent:");
    rates_table(&mut out, "segment", &o.by_segment);
    let _ = writeln!(out, "\nSegment movement over the log (entries, exits):");
    for (k, (entered, exited)) in &o.segment_entries {
        let _ = writeln!(out, "  {k:<34} {entered:>8} {exited:>8}");
    }
    print!("{out}");
    Ok(())
}

/// Email outcomes read back from the store: per source and per segment.
#[derive(Default)]
pub struct Outcomes {
    pub by_source: BTreeMap<String, Rates>,
    pub by_segment: BTreeMap<String, Rates>,
    pub segment_entries: BTreeMap<String, (u64, u64)>,
}

#[derive(Default, Clone)]
pub struct Rates {
    sent: u64,
    human_opens: u64,
    machine_opens: u64,
    clicks: u64,
    unsubscribes: u64,
    conversions: u64,
    revenue: f64,
}

/// One pass over the log: every email's opens (human and machine apart),
/// clicks, unsubscribes and the orders attributed to it (last touch: the
/// latest click, else human open, within `attribution` before the order), by what
/// sent it and by the segments its recipient was in when it was sent.
pub fn outcomes(store: &dyn Store, ws: tidings_model::WorkspaceId, attribution: i64) -> Result<Outcomes> {
    struct Msg {
        source: String,
        segments: Vec<String>,
        opened: bool,
        machine: bool,
        clicked: bool,
        unsubscribed: bool,
        converted: bool,
        revenue: f64,
    }
    let mut out = Outcomes::default();
    let mut msgs: BTreeMap<String, Msg> = BTreeMap::new();
    let mut current: std::collections::HashMap<i64, std::collections::BTreeSet<String>> = Default::default();
    // Per profile: touches (time, message id, is click).
    let mut touches: std::collections::HashMap<i64, Vec<(i64, String, bool)>> = Default::default();
    let mut after = 0;
    loop {
        let page = store.scan(ws, after, 10_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            let Some(name) = e.event.as_deref() else { continue };
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            let p = &body["properties"];
            let mid = p["message_id"].as_str().unwrap_or("").to_string();
            match name {
                SEGMENT_ENTERED | SEGMENT_EXITED => {
                    let seg = p["segment"].as_str().unwrap_or("").to_string();
                    let set = current.entry(e.profile.0).or_default();
                    let entry = out.segment_entries.entry(seg.clone()).or_default();
                    if name == SEGMENT_ENTERED {
                        entry.0 += 1;
                        set.insert(seg);
                    } else {
                        entry.1 += 1;
                        set.remove(&seg);
                    }
                }
                "Email Sent" => {
                    let segments = current.get(&e.profile.0).map(|s| s.iter().cloned().collect()).unwrap_or_default();
                    let source = p["source"].as_str().unwrap_or("").to_string();
                    msgs.insert(
                        mid,
                        Msg {
                            source,
                            segments,
                            opened: false,
                            machine: false,
                            clicked: false,
                            unsubscribed: false,
                            converted: false,
                            revenue: 0.0,
                        },
                    );
                }
                "Email Opened" => {
                    if let Some(m) = msgs.get_mut(&mid) {
                        if p["machine"] == true {
                            m.machine = true;
                        } else {
                            m.opened = true;
                            touches.entry(e.profile.0).or_default().push((e.timestamp, mid, false));
                        }
                    }
                }
                "Email Clicked" => {
                    if let Some(m) = msgs.get_mut(&mid) {
                        m.clicked = true;
                        touches.entry(e.profile.0).or_default().push((e.timestamp, mid, true));
                    }
                }
                "Unsubscribed" => {
                    if let Some(m) = msgs.get_mut(&mid) {
                        m.unsubscribed = true;
                    }
                }
                "Order Completed" => {
                    let t = touches.get(&e.profile.0).map(Vec::as_slice).unwrap_or_default();
                    let window = |x: &&(i64, String, bool)| x.0 <= e.timestamp && e.timestamp - x.0 <= attribution;
                    let touch = t
                        .iter()
                        .filter(window)
                        .filter(|x| x.2)
                        .max_by_key(|x| x.0)
                        .or_else(|| t.iter().filter(window).max_by_key(|x| x.0));
                    if let Some((_, id, _)) = touch
                        && let Some(m) = msgs.get_mut(id)
                    {
                        m.converted = true;
                        m.revenue += p["revenue"].as_f64().unwrap_or(0.0);
                    }
                }
                _ => {}
            }
        }
    }
    for m in msgs.values() {
        let add = |r: &mut Rates| {
            r.sent += 1;
            r.human_opens += u64::from(m.opened || m.clicked);
            r.machine_opens += u64::from(m.machine);
            r.clicks += u64::from(m.clicked);
            r.unsubscribes += u64::from(m.unsubscribed);
            r.conversions += u64::from(m.converted);
            r.revenue += m.revenue;
        };
        let source = match m.source.strip_prefix("broadcast:") {
            Some(name) => format!("broadcast:{}", name.split('-').next().unwrap_or(name)),
            None => m.source.split(':').take(2).collect::<Vec<_>>().join(":"),
        };
        add(out.by_source.entry(source).or_default());
        for s in &m.segments {
            add(out.by_segment.entry(s.clone()).or_default());
        }
    }
    Ok(out)
}

pub fn rates_table(out: &mut String, label: &str, rows: &BTreeMap<String, Rates>) {
    let pct = |n: u64, d: u64| if d == 0 { "-".to_string() } else { format!("{:.1}%", 100.0 * n as f64 / d as f64) };
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
            pct(r.human_opens, r.sent),
            pct(r.machine_opens, r.sent),
            pct(r.clicks, r.sent),
            pct(r.clicks, r.human_opens),
            pct(r.unsubscribes, r.sent),
            pct(r.conversions, r.sent),
            r.revenue,
            if r.sent == 0 { 0.0 } else { r.revenue / r.sent as f64 },
        );
    }
}
