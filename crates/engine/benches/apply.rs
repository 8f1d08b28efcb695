//! Event apply throughput: ~1M generated events for 20,000 profiles against
//! 50 segments and a stage set, with 5% of events arriving late and timers
//! fired as time passes. Prints events per second.
//!
//! `cargo bench -p tidings-engine --bench apply` (`TIDINGS_BENCH_EVENTS`
//! changes the number of events).

use std::time::Instant;

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

fn main() {
    let n_events: usize = std::env::var("TIDINGS_BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let profiles: u32 = std::env::var("TIDINGS_BENCH_PROFILES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let files = [SourceFile::new("bench.tidings", rules())];
    let (ws, diags) = check_workspace(&files, None);
    assert!(!has_errors(&diags), "{}", render_diagnostics(&diags, &files));

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = parse_time("2026-01-01T00:00:00Z").unwrap();
    // Spread over 60 days; every event for a random profile.
    let step = (60 * DAY) / n_events as i64;
    let names =
        ["Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Order Completed", "Email Opened"];
    let mut events = Vec::with_capacity(n_events);
    for i in 0..n_events {
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
        events.push((profile, m, now));
    }

    let mut engine = Engine::new(&ws, TimeZone::UTC).unwrap();
    let mut changes = 0usize;
    let mut timer_changes = 0usize;
    let mut in_timers = std::time::Duration::ZERO;
    let began = Instant::now();
    for (i, (profile, m, now)) in events.into_iter().enumerate() {
        changes += engine.apply(profile, m, now).unwrap().len();
        if i % 1_000 == 999 {
            let t = Instant::now();
            timer_changes += engine.advance(now).len();
            in_timers += t.elapsed();
        }
    }
    timer_changes += engine.advance(start + 61 * DAY).len();
    let elapsed = began.elapsed();
    println!("timers: {:.2} s, {timer_changes} changes", in_timers.as_secs_f64());
    changes += timer_changes;
    let per_second = n_events as f64 / elapsed.as_secs_f64();
    println!(
        "apply: {n_events} events, {profiles} profiles, 50 segments + 1 stage set: {:.2} s, {:.0} events/s, {changes} changes",
        elapsed.as_secs_f64(),
        per_second
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
