//! Durable timers: one million pending, then all due at once. Tidings'
//! timer store (SQLite, and PostgreSQL) beside a plain PostgreSQL job table
//! polled with `FOR UPDATE SKIP LOCKED`, doing the same wake-ups.
//!
//! cargo build --release -p tidings-bench && target/release/timers [--timers 1000000]

use anyhow::{Context, Result};
use clap::Parser;
use std::time::Instant;
use tidings_model::WorkspaceId;
use tidings_store::{NewTimer, Store};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Timer benchmark: schedule N timers, make them all due, fire them all.
#[derive(Parser, Debug)]
struct Args {
    /// Pending timers.
    #[arg(long, default_value_t = 1_000_000)]
    timers: usize,
    /// Timers claimed per round trip.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// PostgreSQL ("" skips the PostgreSQL runs).
    #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=postgres")]
    postgres: String,
}

const T0: i64 = 1_767_225_600_000_000;
const MIN: i64 = 60_000_000;

fn payload(i: usize) -> String {
    format!(r#"{{"journey":"cart_abandonment","profile":{},"entry":1,"step":2}}"#, i % 100_000)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Schedules, then fires everything; returns (schedule s, fire s, fired).
fn run_store(store: &dyn Store, ws: WorkspaceId, n: usize, batch: usize) -> Result<(f64, f64, usize)> {
    let t = Instant::now();
    let mut chunk = Vec::with_capacity(10_000);
    for i in 0..n {
        // Due times spread over a week, in no particular order.
        let due = T0 + ((i as i64 * 7_919) % (7 * 24 * 60)) * MIN;
        chunk.push(NewTimer {
            workspace: ws,
            key: format!("j:cart_abandonment:{i}:1:2"),
            due_at: due,
            payload: payload(i),
            profile: None,
        });
        if chunk.len() == 10_000 {
            store.schedule_timers(&chunk)?;
            chunk.clear();
        }
    }
    store.schedule_timers(&chunk)?;
    let schedule = t.elapsed().as_secs_f64();
    // All due: a week later.
    let now = T0 + 8 * 24 * 60 * MIN;
    let t = Instant::now();
    let mut fired = 0;
    let mut last_due = i64::MIN;
    loop {
        let due = store.claim_due_timers(None, now, now + 5 * MIN, batch, None)?;
        if due.is_empty() {
            break;
        }
        for d in &due {
            anyhow::ensure!(d.due_at >= last_due || batch > 1, "out of order");
            last_due = last_due.max(d.due_at);
        }
        fired += due.len();
        store.complete_timers(&due, &[])?;
    }
    Ok((schedule, t.elapsed().as_secs_f64(), fired))
}

fn job_table(url: &str, n: usize, batch: usize) -> Result<(f64, f64, usize)> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).context("connect to PostgreSQL")?;
    c.batch_execute(
        "DROP SCHEMA IF EXISTS tidings_bench_jobs CASCADE; CREATE SCHEMA tidings_bench_jobs;
         SET search_path TO tidings_bench_jobs;
         CREATE TABLE jobs (id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, run_at timestamptz NOT NULL,
                            payload jsonb NOT NULL);
         CREATE INDEX ON jobs (run_at);",
    )?;
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let keys: Vec<String> = (i..end).map(|k| format!("j:cart_abandonment:{k}:1:2")).collect();
        let mins: Vec<i64> = (i..end).map(|k| (k as i64 * 7_919) % (7 * 24 * 60)).collect();
        let payloads: Vec<String> = (i..end).map(payload).collect();
        c.execute(
            "INSERT INTO jobs (key, run_at, payload)
             SELECT k, timestamptz '2026-01-01 00:00:00+00' + m * interval '1 minute', p::jsonb
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS t(k, m, p)",
            &[&keys, &mins, &payloads],
        )?;
        i = end;
    }
    let schedule = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut fired = 0;
    loop {
        // The classic worker loop: lock a batch of due jobs, do them, delete them, commit.
        let mut tx = c.transaction()?;
        let rows = tx.query(
            "SELECT id, payload FROM jobs WHERE run_at <= timestamptz '2026-01-09 00:00:00+00'
             ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&(batch as i64)],
        )?;
        if rows.is_empty() {
            break;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        tx.execute("DELETE FROM jobs WHERE id = ANY($1)", &[&ids])?;
        tx.commit()?;
        fired += ids.len();
    }
    let fire = t.elapsed().as_secs_f64();
    c.batch_execute("DROP SCHEMA tidings_bench_jobs CASCADE")?;
    Ok((schedule, fire, fired))
}

fn report(name: &str, n: usize, (schedule, fire, fired): (f64, f64, usize)) -> f64 {
    println!(
        "{name:<44} schedule {:>8.0}/s   fire {:>8.0}/s  ({fired} fired in {fire:.1}s)",
        n as f64 / schedule,
        fired as f64 / fire
    );
    fire
}

fn main() -> Result<()> {
    let a = Args::parse();
    println!("{} pending timers, due over a week, then all due; {} claimed per round trip\n", a.timers, a.batch);
    let dir = std::env::temp_dir().join(format!("tidings-bench-timers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rss0 = rss_kib();
    let sqlite = tidings_store_sqlite::SqliteStore::open(
        &dir,
        tidings_store_sqlite::Mode::ReadWrite,
        tidings_store_sqlite::Durability::Full,
    )?;
    let ws = sqlite.create_workspace("bench", T0)?.id;
    let r = run_store(&sqlite, ws, a.timers, a.batch)?;
    let rss = rss_kib().saturating_sub(rss0);
    let ours = report("tidings timers, SQLite (durable)", a.timers, r);
    drop(sqlite);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "  memory: timers live in the store, not in RAM; process RSS grew {:.0} MiB (SQLite page cache), {:.1} bytes per timer",
        rss as f64 / 1024.0,
        rss as f64 * 1024.0 / a.timers as f64
    );
    if !a.postgres.is_empty() {
        let schema = format!("tidings_bench_timers_{}", std::process::id());
        let pg = tidings_store_postgres::PostgresStore::temporary(&a.postgres, &schema)?;
        let ws = pg.create_workspace("bench", T0)?.id;
        let on_pg = report("tidings timers, PostgreSQL", a.timers, run_store(&pg, ws, a.timers, a.batch)?);
        drop(pg);
        let plain =
            report("plain PostgreSQL job table, SKIP LOCKED", a.timers, job_table(&a.postgres, a.timers, a.batch)?);
        println!("\nratio of fire time, tidings (SQLite) / job table: {:.2}", ours / plain);
        println!("ratio of fire time, tidings (PostgreSQL) / job table: {:.2}", on_pg / plain);
    }
    Ok(())
}
