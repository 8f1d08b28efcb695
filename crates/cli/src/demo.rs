//! `tidings demo`: the product on a simulated shop. Everything here is a
//! SIMULATION: the people, their behaviour and their reactions come from the
//! deterministic simulator in `tidings-testkit`, driven by a simulated clock
//! that runs weeks in seconds through the same ingest path as the server.
//!
//! What runs today: the simulated shop, ingest (validation, idempotency,
//! identity joins, traits by event time) into a fresh data folder, and the
//! report of what was stored. Segments, journeys and email delivery join the
//! demo as they are built (see `issues`); the report says so.

use crate::config;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use tidings_model::message::{Envelope, parse_message};
use tidings_model::time::format_time;
use tidings_model::{KeyKind, Message, keys};
use tidings_store::{AppendBatch, Outcome, Store};
use tidings_store_sqlite::{Durability, Mode, SqliteStore};
use tidings_testkit::{HOUR, SimConfig, Simulation};

/// The demo's keys: fixed, so the report is the same on every run. Demo data only.
pub const DEMO_WRITE_KEY: &str = "demo-write-key";
pub const DEMO_ADMIN_KEY: &str = "demo-admin-key";
/// Marks a folder the demo made, so that it may replace it.
const MARKER: &str = ".tidings-demo";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Simulated people.
    #[arg(long, default_value_t = 10_000)]
    pub profiles: u32,
    /// Simulated days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed of the simulation: the same seed gives the same shop, people and report.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The data folder to create (replaced if an earlier demo made it).
    #[arg(long, default_value = "./tidings-demo")]
    pub data: PathBuf,
    /// Also write every simulated message to this NDJSON file (for tests and benchmarks).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: DemoArgs) -> Result<()> {
    if a.profiles == 0 || a.days == 0 {
        bail!("--profiles and --days must be at least 1");
    }
    prepare_folder(&a.data)?;
    let store = SqliteStore::open(&a.data, Mode::ReadWrite, Durability::Process)?;
    let cfg = SimConfig::new(a.seed, a.profiles, tidings_testkit::DEFAULT_START, a.days);
    let mut sim = Simulation::new(cfg);
    let start = sim.clock();
    let ws = store.create_workspace("default", start)?.id;
    store.add_key(ws, KeyKind::Write, &keys::hash(DEMO_WRITE_KEY), "demo", start)?;
    store.add_key(ws, KeyKind::Admin, &keys::hash(DEMO_ADMIN_KEY), "demo", start)?;
    let mut export = match &a.export {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };

    let hours = u64::from(a.days) * 24;
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(hours) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} simulating [{bar:30}] day {msg} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let (mut stored, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let mut line = Vec::new();
    for h in 1..=hours {
        let until = start + h as i64 * HOUR;
        let msgs = sim.advance_to(until);
        let mut batch: Vec<Message> = Vec::with_capacity(msgs.len());
        for m in &msgs {
            line.clear();
            m.write_line(&mut line);
            if let Some(w) = export.as_mut() {
                w.write_all(&line)?;
            }
            let text = std::str::from_utf8(&line).context("the simulator wrote invalid UTF-8")?.trim_end();
            // Received when it happened: the simulated clock is the server's clock.
            let env = Envelope { received_at: m.timestamp, sent_at: None, default_type: None };
            match parse_message(text, &env, &mut tidings_model::message::new_message_id) {
                Ok(msg) => {
                    let name = msg.event.clone().unwrap_or_else(|| msg.kind.as_str().to_string());
                    *counts.entry(format!("{} {name}", msg.kind.as_str())).or_default() += 1;
                    batch.push(msg);
                }
                Err(_) => rejected += 1,
            }
        }
        if !batch.is_empty() {
            let r = store.append(&[AppendBatch { workspace: ws, messages: batch }])?;
            for o in r.outcomes.iter().flatten() {
                match o {
                    Outcome::Stored { .. } => stored += 1,
                    Outcome::Duplicate => duplicates += 1,
                }
            }
        }
        bar.set_position(h);
        bar.set_message(format!("{}/{}", h / 24 + 1, a.days));
    }
    bar.finish_and_clear();
    if let Some(mut w) = export {
        w.flush()?;
    }
    let stats = store.stats(ws)?;
    print!("{}", report(&a, &sim, start, &counts, stats, stored, duplicates, rejected));
    Ok(())
}

/// Creates an empty data folder, replacing one an earlier demo made.
fn prepare_folder(dir: &std::path::Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!("{} exists and was not made by `tidings demo`; choose another folder with --data", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(MARKER), "made by `tidings demo`; it replaces this folder on its next run\n")?;
    config::write_example(dir)?;
    let path = dir.join(config::FILE_NAME);
    let mut text = std::fs::read_to_string(&path)?;
    text = text.replacen(
        "[workspace]\n",
        &format!("[workspace]\n# Demo keys (a simulation; never use these for real data).\nwrite_key = \"{DEMO_WRITE_KEY}\"\nadmin_key = \"{DEMO_ADMIN_KEY}\"\n"),
        1,
    );
    std::fs::write(&path, text)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &DemoArgs,
    sim: &Simulation,
    start: i64,
    counts: &BTreeMap<String, u64>,
    stats: tidings_store::StoreStats,
    stored: u64,
    duplicates: u64,
    rejected: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Tidings demo: a SIMULATED shop (seed {}), not real people or data", a.seed);
    let _ = writeln!(
        out,
        "{} simulated people over {} days, {} to {}\n",
        a.profiles,
        a.days,
        format_time(start),
        format_time(sim.clock())
    );
    let _ = writeln!(out, "Ingest (validation, idempotency by messageId, identity joins, traits by event time):");
    let _ = writeln!(out, "  {stored} messages stored, {duplicates} duplicates, {rejected} rejected");
    let _ = writeln!(out, "  {} profiles after joining anonymous visits to known people\n", stats.profiles);
    let _ = writeln!(out, "{:<48} {:>10}", "messages by type and event", "count");
    for (k, v) in counts {
        let _ = writeln!(out, "{k:<48} {v:>10}");
    }
    let _ = writeln!(
        out,
        "\nNot in the demo yet (being built; see `issues`): segments and stages, journeys, rendering and\n\
         delivery of email, and the behavioural-vs-newsletter experiment. This report covers ingest only."
    );
    let _ = writeln!(out, "\nWhere to look next:");
    let _ = writeln!(out, "  tidings serve --data {}", a.data.display());
    let _ = writeln!(out, "  curl -H 'Authorization: Bearer {DEMO_ADMIN_KEY}' localhost:7411/api/profiles/u000001");
    let _ = writeln!(
        out,
        "  tidings predict --data {} --horizon 30d     (purchase predictions on the simulated orders)",
        a.data.display()
    );
    out
}
