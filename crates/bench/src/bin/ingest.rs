//! HTTP ingest and `tidings import` of the same simulated track events,
//! beside PostgreSQL `COPY` of them into an indexed events table.
//!
//! cargo build --release -p tidings -p tidings-bench
//! target/release/ingest [--events 1000000] [--batch 500] [--connections 4] [--backend postgres]
//!
//! With `--backend postgres` Tidings itself stores in the `--postgres`
//! database (a schema of its own per run, dropped after), so the HTTP run,
//! the import and `COPY` all write to the same PostgreSQL.

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tidings_bench::{quantile, tidings_binary, track_events};
use tidings_testkit::http::{Client, basic, bearer};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ingest benchmark: Tidings over HTTP and `tidings import`, beside PostgreSQL COPY.
#[derive(Parser, Debug)]
struct Args {
    /// Track events to send.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Messages per HTTP batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// The paced run's target rate, events/s (0 skips the paced run).
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// PostgreSQL for the COPY comparison ("" skips it).
    #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=postgres")]
    postgres: String,
    /// Seed of the simulated shop.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Where Tidings stores: `sqlite` (a data folder) or `postgres` (the `--postgres` database).
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    backend: String,
}

/// Tidings' storage for a run: nothing (SQLite in the data folder), or a
/// PostgreSQL schema, emptied before and dropped after.
struct Backend {
    postgres: Option<String>,
}

impl Backend {
    fn env(&self, tag: &str) -> Result<Vec<(String, String)>> {
        let Some(url) = &self.postgres else { return Ok(Vec::new()) };
        let schema = format!("tidings_bench_{tag}");
        drop_schema(url, &schema)?;
        Ok(vec![
            ("TIDINGS_STORAGE__POSTGRES_URL".into(), url.clone()),
            ("TIDINGS_STORAGE__POSTGRES_SCHEMA".into(), schema),
        ])
    }
    fn done(&self, tag: &str) {
        if let Some(url) = &self.postgres {
            let _ = drop_schema(url, &format!("tidings_bench_{tag}"));
        }
    }
}

fn drop_schema(url: &str, schema: &str) -> Result<()> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).context("connect to PostgreSQL")?;
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    Ok(())
}

const WRITE_KEY: &str = "bench-write-key";
const ADMIN_KEY: &str = "bench-admin-key";

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = tidings_binary()?;
    let t = Instant::now();
    let events = track_events(args.seed, (args.events / 50).max(100) as u32, args.events);
    let values: Vec<serde_json::Value> = events.iter().map(|m| m.to_json()).collect();
    println!("generated {} simulated track events in {:.1}s", values.len(), t.elapsed().as_secs_f64());

    let bodies: Vec<Vec<u8>> = values
        .chunks(args.batch)
        .map(|c| serde_json::to_vec(&serde_json::json!({ "batch": c })).expect("serializable"))
        .collect();
    let mb = bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    println!("{} batches of {} ({mb:.0} MB of JSON)", bodies.len(), args.batch);

    let backend = Backend { postgres: (args.backend == "postgres").then(|| args.postgres.clone()) };
    println!("Tidings stores in {}", args.backend);
    let full = http_run(&bin, &backend, &bodies, args.connections, None, values.len())?;
    println!(
        "tidings HTTP, {} connections, durable: {:.2}s = {:.0} events/s; batch ack p50 {:.1} ms, p99 {:.1} ms",
        args.connections,
        full.secs,
        values.len() as f64 / full.secs,
        full.p50_ms,
        full.p99_ms
    );
    if args.rate > 0 {
        let paced = http_run(&bin, &backend, &bodies, args.connections, Some(args.rate), values.len())?;
        println!(
            "tidings HTTP paced at {} events/s: achieved {:.0} events/s; batch ack p50 {:.1} ms, p99 {:.1} ms",
            args.rate,
            values.len() as f64 / paced.secs,
            paced.p50_ms,
            paced.p99_ms
        );
    }

    let import_secs = import_run(&bin, &backend, &values)?;
    println!("tidings import: {:.2}s = {:.0} events/s", import_secs, values.len() as f64 / import_secs);

    if !args.postgres.is_empty() {
        match copy_run(&args.postgres, &values) {
            Ok(copy_secs) => {
                println!(
                    "PostgreSQL COPY into an indexed table: {:.2}s = {:.0} events/s",
                    copy_secs,
                    values.len() as f64 / copy_secs
                );
                println!("ratio tidings HTTP / COPY: {:.2}", full.secs / copy_secs);
                println!("ratio tidings import / COPY: {:.2}", import_secs / copy_secs);
            }
            Err(e) => println!("PostgreSQL COPY skipped: {e:#}"),
        }
    }
    Ok(())
}

struct RunResult {
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    _dir: tempdir::Dir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempdir {
    /// A folder under the system temp dir, removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> std::io::Result<Dir> {
            let p = std::env::temp_dir().join(format!("tidings-bench-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p)?;
            Ok(Dir(p))
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start_server(bin: &std::path::Path, env: Vec<(String, String)>, tag: &str) -> Result<Server> {
    let dir = tempdir::Dir::new(tag)?;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(bin)
        .args(["serve", "--data", dir.0.to_str().unwrap_or("."), "--listen", &addr.to_string()])
        .envs(env)
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::null())
        .spawn()
        .context("start tidings serve")?;
    let server = Server { child, addr, _dir: dir };
    let mut c = Client::new(addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
        if Instant::now() > deadline {
            bail!("tidings serve did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

fn http_run(
    bin: &std::path::Path,
    backend: &Backend,
    bodies: &[Vec<u8>],
    connections: usize,
    rate: Option<u64>,
    n: usize,
) -> Result<RunResult> {
    let server = start_server(bin, backend.env("http")?, "http")?;
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(bodies.len()));
    let failures = AtomicUsize::new(0);
    let per_batch = n as f64 / bodies.len() as f64;
    // Paced: batch i is due at start + i * interval, spread across connections.
    let interval = rate.map(|r| Duration::from_secs_f64(per_batch / r as f64));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..connections {
            s.spawn(|| {
                let mut c = Client::new(server.addr);
                let auth = basic(WRITE_KEY);
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    if let Some(iv) = interval {
                        let due = started + iv * i as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let t = Instant::now();
                    match c.post("/v1/batch", Some(&auth), body) {
                        Ok(r) if r.status == 200 => mine.push(t.elapsed()),
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies.lock().expect("not poisoned").extend(mine);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    if failures.load(Ordering::Relaxed) > 0 {
        bail!("{} batches failed", failures.load(Ordering::Relaxed));
    }
    let stats = Client::new(server.addr).get("/api/stats", Some(&bearer(ADMIN_KEY)))?.json();
    let stored = stats["events"].as_u64().unwrap_or(0);
    if stored != n as u64 {
        bail!("the server holds {stored} events, expected {n}");
    }
    drop(server);
    backend.done("http");
    let mut l = latencies.into_inner().expect("not poisoned");
    l.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(RunResult { secs, p50_ms: ms(quantile(&l, 0.5)), p99_ms: ms(quantile(&l, 0.99)) })
}

fn import_run(bin: &std::path::Path, backend: &Backend, values: &[serde_json::Value]) -> Result<f64> {
    let dir = tempdir::Dir::new("import")?;
    let file = dir.0.join("events.ndjson");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for v in values {
        serde_json::to_writer(&mut w, v)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    let data = dir.0.join("data");
    let env = backend.env("import")?;
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["import", "--quiet", "--data", data.to_str().unwrap_or("."), file.to_str().unwrap_or(".")])
        .envs(env)
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    backend.done("import");
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let summary = String::from_utf8_lossy(&out.stdout);
    if !summary.contains(&format!("{} stored", values.len())) {
        bail!("import stored the wrong number: {summary}");
    }
    Ok(secs)
}

fn csv_field(out: &mut Vec<u8>, v: Option<&str>) {
    if let Some(s) = v {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    }
}

fn copy_run(url: &str, values: &[serde_json::Value]) -> Result<f64> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).context("connect to PostgreSQL")?;
    c.batch_execute(
        "DROP SCHEMA IF EXISTS tidings_bench_copy CASCADE; CREATE SCHEMA tidings_bench_copy;
         SET search_path TO tidings_bench_copy;
         CREATE TABLE events (
           seq bigserial PRIMARY KEY, message_id text NOT NULL, user_id text, anonymous_id text,
           event text, ts timestamptz NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
           properties jsonb, context jsonb);
         CREATE UNIQUE INDEX ON events (message_id);
         CREATE INDEX ON events (user_id, ts);
         CREATE INDEX ON events (event, ts);",
    )?;
    // Serializing the CSV is part of what a loader does; it is counted.
    let t = Instant::now();
    let mut tx = c.transaction()?;
    let mut w = tx.copy_in(
        "COPY events (message_id, user_id, anonymous_id, event, ts, properties, context) FROM STDIN (FORMAT csv)",
    )?;
    let mut buf = Vec::with_capacity(1 << 20);
    for v in values {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str());
        csv_field(&mut buf, s("messageId"));
        buf.push(b',');
        csv_field(&mut buf, s("userId"));
        buf.push(b',');
        csv_field(&mut buf, s("anonymousId"));
        buf.push(b',');
        csv_field(&mut buf, s("event"));
        buf.push(b',');
        csv_field(&mut buf, s("timestamp"));
        buf.push(b',');
        csv_field(&mut buf, v.get("properties").map(|p| p.to_string()).as_deref());
        buf.push(b',');
        csv_field(&mut buf, v.get("context").map(|p| p.to_string()).as_deref());
        buf.push(b'\n');
        if buf.len() > 1 << 20 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    w.finish()?;
    tx.commit()?;
    let secs = t.elapsed().as_secs_f64();
    c.batch_execute("DROP SCHEMA tidings_bench_copy CASCADE")?;
    Ok(secs)
}
