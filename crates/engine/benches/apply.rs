//! Event apply throughput: ~1M generated events for 20,000 profiles against
//! 50 segments and a stage set, with 5% of events arriving late and timers
//! fired as time passes. Prints events per second.
//!
//! `cargo bench -p tidings-engine --bench apply` (`TIDINGS_BENCH_EVENTS`
//! changes the number of events).

use std::time::Instant;

/// The product's allocator, as in the `tidings` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use jiff::tz::TimeZone;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tidings_engine::{Engine, Observed};
use tidings_model::ProfileId;
use tidings_model::time::{DAY, HOUR, MINUTE, parse_time};
use tidings_rules::{SourceFile, check_workspace, has_errors, render_diagnostics};

const CATEGORIES: [&str; 5] = ["shoes", "bags", "hats", "socks", "coats"];

/// 50 segments in the shapes shops write, with varied parameters.
fn rules() -> String {
    let mut out = String::new();
    for i in 0..50 {
        let d = 1 + i % 7;
        let c = CATEGORIES[i % CATEGORIES.len()];
        let body = match i % 10 {
            0 => format!(r#"did "Product Viewed" in last {d}d and not did "Order Completed" in last {d}d"#),
            1 => format!(r#"did "Product Viewed" where category == "{c}" at least {} times in last {d}d"#, 1 + i % 3),
            2 => format!(r#"did "Product Added" then not "Order Completed" within {}h in last 3d"#, 1 + i % 4),
            3 => format!(r#"total revenue of "Order Completed" in last {}d >= {}"#, 30 * d, 50 * d),
            4 => format!(r#"share of "Order Completed" on weekends in last 180d >= {}%"#, 30 + 5 * d),
            5 => format!(r#"last "Order Completed" more than {}d ago and did "Email Opened" in last 14d"#, 10 * d),
            6 => format!(r#"active on at least {} days in last 30d"#, 1 + d),
            7 => format!(r#"first seen less than {}d ago or trait plan == "pro""#, 7 * d),
            8 => format!(r#"did "Product Viewed" then "Product Added" within {}h matching product_id in last 7d"#, d),
            _ => format!(r#"in segment s{} and not did "Email Clicked" in last {d}d"#, i - 1),
        };
        out.push_str(&format!("segment s{i} {{ {body} }}\n"));
    }
    out.push_str(
        r#"stages lifecycle {
  power_user: in segment s3
  customer: did "Order Completed"
  engaged: did "Email Clicked" in last 30d
  new: first seen less than 14d ago
  dormant: otherwise
}
"#,
    );
    out
}

/// The resident set size, from /proc (0 where there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn main() {
    let n_events: usize = std::env::var("TIDINGS_BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let profiles: u32 = std::env::var("TIDINGS_BENCH_PROFILES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    // TIDINGS_BENCH_STARTER=1: the starter playbook's segments and stages instead of the 50.
    let starter = std::env::var_os("TIDINGS_BENCH_STARTER").is_some();
    let text = if starter { include_str!("../../cli/playbook/segments.rules").to_string() } else { rules() };
    let files = [SourceFile::new("bench.tidings", text)];
    let (ws, diags) = check_workspace(&files, None);
    assert!(!has_errors(&diags), "{}", render_diagnostics(&diags, &files));

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = parse_time("2026-01-01T00:00:00Z").unwrap();
    // Spread over 60 days; every event for a random profile.
    let step = (60 * DAY) / n_events as i64;
    let names =
        ["Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Order Completed", "Email Opened"];
    let mut event = |i: usize| {
        let now = start + i as i64 * step;
        let late = rng.random_bool(0.05);
        let at = if late { now - rng.random_range(MINUTE..2 * DAY) } else { now };
        let profile = ProfileId(i64::from(rng.random_range(0..profiles)));
        let m = match rng.random_range(0..20) {
            0 => Observed::page(i as i64, Some("Home"), at),
            1 => Observed::track(i as i64, "Email Clicked", at, json!({})),
            2 => Observed::identify(i as i64, at, json!({"plan": if rng.random_bool(0.2) { "pro" } else { "free" }})),
            _ => {
                let name = names[rng.random_range(0..names.len())];
                let props = json!({
                    "category": CATEGORIES[rng.random_range(0..CATEGORIES.len())],
                    "product_id": rng.random_range(0..50),
                    "revenue": rng.random_range(5..200),
                });
                Observed::track(i as i64, name, at, props)
            }
        };
        (profile, m, now)
    };
    // Generated a chunk at a time, outside the timing, so that memory holds
    // the engine and one chunk, never the whole stream.
    const CHUNK: usize = 100_000;
    let rss_before = rss_bytes();
    let mut engine = Engine::new(&ws, TimeZone::UTC).unwrap();
    let mut changes = 0usize;
    let mut timer_changes = 0usize;
    let mut in_timers = std::time::Duration::ZERO;
    let mut elapsed = std::time::Duration::ZERO;
    let mut chunk = Vec::with_capacity(CHUNK);
    for from in (0..n_events).step_by(CHUNK) {
        chunk.clear();
        chunk.extend((from..(from + CHUNK).min(n_events)).map(&mut event));
        let began = Instant::now();
        for (k, (profile, m, now)) in chunk.drain(..).enumerate() {
            changes += engine.apply(profile, m, now).unwrap().len();
            if (from + k) % 1_000 == 999 {
                let t = Instant::now();
                timer_changes += engine.advance(now).len();
                in_timers += t.elapsed();
            }
        }
        elapsed += began.elapsed();
    }
    let began = Instant::now();
    timer_changes += engine.advance(start + 61 * DAY).len();
    elapsed += began.elapsed();
    println!("timers: {:.2} s, {timer_changes} changes", in_timers.as_secs_f64());
    changes += timer_changes;
    let per_second = n_events as f64 / elapsed.as_secs_f64();
    println!(
        "apply: {n_events} events, {profiles} profiles, {} segments + stages: {:.2} s, {:.0} events/s, {changes} changes",
        ws.segments().count(),
        elapsed.as_secs_f64(),
        per_second
    );
    let grown = rss_bytes().saturating_sub(rss_before);
    println!(
        "memory: the process grew by {} MB (the engine, allocator slack and one {CHUNK}-event chunk): {} bytes per profile ({} profiles)",
        grown >> 20,
        grown / engine.profile_count().max(1) as u64,
        engine.profile_count()
    );
    let members: u64 = (0..50).map(|i| engine.members(&format!("s{i}")).map_or(0, |b| b.len())).sum();
    println!(
        "memberships at the end: {members}; next wake in {} h",
        engine.next_wake().map_or(0, |w| (w - start - 61 * DAY) / HOUR)
    );
    let snapshot = serde_json::to_string(&engine.snapshot()).unwrap();
    println!(
        "state: a JSON snapshot of {} MB, {} bytes per profile",
        snapshot.len() >> 20,
        snapshot.len() / profiles as usize
    );
}
