//! Segment freshness on a running server: the time from an event's
//! acknowledgement (the ingest writer committed it) to the segment change it
//! causes being recorded in the log (the engine thread committed the
//! `Segment Entered` event), under the starter playbook's segments and
//! lifecycle stages, over SQLite with full durability, as `tidings serve`
//! runs. One new person at a time, alone and under a background load.
//!
//! cargo build --release -p tidings-bench && target/release/latency [--events 2000 --load 2000]

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tidings_model::message::{Envelope, parse_message};
use tidings_model::time::format_time;
use tidings_model::{Clock, WallClock};
use tidings_node::Node;
use tidings_store::{Outcome, Store};
use tidings_store_sqlite::{Durability, Mode, SqliteStore};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Segment-change latency on a live engine.
#[derive(Parser, Debug)]
struct Args {
    /// Measured events (each a new person's first product view).
    #[arg(long, default_value_t = 2_000)]
    events: usize,
    /// Background events per second from other people during the second run (0: none).
    #[arg(long, default_value_t = 2_000)]
    load: u32,
}

fn message(user: &str, event: &str, now: i64) -> Result<tidings_model::Message> {
    let text = serde_json::json!({
        "type": "track", "userId": user, "event": event, "timestamp": format_time(now),
        "properties": {"product_id": "p1", "category": "shoes"},
    })
    .to_string();
    let env = Envelope { received_at: now, sent_at: None, default_type: None };
    Ok(parse_message(&text, &env, &mut tidings_model::message::new_message_id)?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Measures `n` events; returns the latencies in milliseconds, sorted.
fn measure(
    node: &Node,
    store: &Arc<dyn Store>,
    ws: tidings_model::WorkspaceId,
    tag: &str,
    n: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let user = format!("{tag}{i}");
        let m = message(&user, "Product Viewed", WallClock.now())?;
        let outcome = node.ingest().append_blocking(ws, vec![m]).map_err(|e| anyhow::anyhow!(e))?;
        let acked = Instant::now();
        let Some(Outcome::Stored { profile, .. }) = outcome.first() else { bail!("not stored: {outcome:?}") };
        // The change is recorded when the profile's history holds it.
        let deadline = acked + Duration::from_secs(5);
        loop {
            let h = store.profile_history(ws, *profile)?;
            if h.iter().any(|e| e.event.as_deref() == Some("Segment Entered")) {
                break;
            }
            if Instant::now() > deadline {
                bail!("{user}: no segment change within 5 s");
            }
            // Not a spin: on two cores a spinning reader would take the CPU
            // from the threads being measured.
            std::thread::sleep(Duration::from_micros(50));
        }
        out.push(acked.elapsed().as_secs_f64() * 1e3);
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn report(what: &str, l: &[f64]) {
    println!(
        "{what:<44} n={:<5} p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        l.len(),
        percentile(l, 0.5),
        percentile(l, 0.9),
        percentile(l, 0.99),
        l[l.len() - 1]
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("tidings-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, Mode::ReadWrite, Durability::Full)?);
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let now = clock.now();
    let ws = store.create_workspace("bench", now)?.id;
    let rules_text = include_str!("../../../cli/playbook/segments.rules");
    let files = [tidings_rules::SourceFile::new("segments.rules", rules_text)];
    let (rules, diags) = tidings_rules::check_workspace(&files, None);
    if tidings_rules::has_errors(&diags) {
        bail!("{}", tidings_rules::render_diagnostics(&diags, &files));
    }
    let segments = rules.segments().count();
    // The node as `tidings serve` runs it for a workspace with the starter rules.
    let tenant = tidings_node::TenantSettings {
        workspace: ws,
        rules: Some(rules),
        default_tz: jiff::tz::TimeZone::UTC,
        journeys: None,
        topics: Vec::new(),
        definitions: None,
        predictions: None,
        signing: None,
    };
    let node = tidings_node::Node::start(
        tidings_node::Settings { tenants: vec![tenant], manual: false, cluster: None },
        store.clone(),
        clock.clone(),
    )
    .context("starting the node")?;
    println!(
        "{segments} starter segments + lifecycle stages, SQLite with full durability; \
         latency = event acknowledged -> its Segment Entered committed to the log"
    );
    let quiet = measure(&node, &store, ws, "q", args.events)?;
    report("alone", &quiet);

    let stop = Arc::new(AtomicBool::new(false));
    let background = (args.load > 0).then(|| {
        let (ingest, stop) = (node.ingest().clone(), stop.clone());
        let per_batch = 50u32;
        std::thread::spawn(move || {
            let mut i = 0u64;
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<_> = (0..per_batch)
                    .filter_map(|k| {
                        message(&format!("bg{}", (i + u64::from(k)) % 50_000), "Product Viewed", WallClock.now()).ok()
                    })
                    .collect();
                i += u64::from(per_batch);
                let _ = ingest.append_blocking(ws, batch);
                let due = started + Duration::from_secs_f64(i as f64 / f64::from(args.load));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            (i, started.elapsed())
        })
    });
    if let Some(handle) = background {
        std::thread::sleep(Duration::from_secs(2));
        let loaded = measure(&node, &store, ws, "l", args.events)?;
        stop.store(true, Ordering::Relaxed);
        let (sent, took) = handle.join().expect("the load thread");
        report(&format!("under {:.0} other events/s", sent as f64 / took.as_secs_f64()), &loaded);
    }
    node.shutdown();
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
