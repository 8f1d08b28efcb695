//! Several `tidings serve` nodes on one PostgreSQL, the starter playbook
//! loaded: ingest and live apply with 1, 2 and 3 nodes, and how long a
//! killed node's partitions take to be served again.
//!
//! Throughput: for each node count a fresh schema; the nodes start and
//! share the 64 partitions; the same simulated shop's messages are sent
//! over HTTP (`--connections`, batches to the nodes in turn). "ingest" is
//! until the last batch is acknowledged; "apply" until every node's engine
//! has taken in the whole log (`engine_applied` of `/api/stats` reaching
//! `last_seq`), so it includes ingest.
//!
//! Failover: `--failover-profiles` people's history is imported with
//! `tidings import`, three nodes start (the time until the union of their
//! segments answers `complete` is the cold start), then one is killed with
//! SIGKILL. Measured from the kill: until the survivors hold all 64
//! partitions (the lease expiring), and until `/api/segments` answers
//! `complete` again (the gained partitions built from the log).
//!
//! cargo build --release -p tidings -p tidings-bench
//! target/release/cluster                                  # the figures in BENCHMARKS.md
//! target/release/cluster --events 20000 --failover-profiles 5000   # a quick look

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tidings_bench::{SPAN, START, tidings_binary};
use tidings_testkit::bench_events;
use tidings_testkit::http::{Client, basic, bearer};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Several nodes on one PostgreSQL: ingest and apply with 1..N nodes, and failover after kill -9.
#[derive(Parser, Debug)]
struct Args {
    /// Simulated messages for the throughput runs.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// People those messages come from.
    #[arg(long, default_value_t = 20_000)]
    profiles: u32,
    /// The largest node count of the throughput runs (each of 1..=N is run; 0 skips them).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Concurrent HTTP connections, spread over the nodes.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Messages per HTTP batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// People whose history the failover run imports (0 skips it); five messages each.
    #[arg(long, default_value_t = 100_000)]
    failover_profiles: u32,
    /// The PostgreSQL database (a schema of its own per run, dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Seed of the simulated shop.
    #[arg(long, default_value_t = 11)]
    seed: u64,
}

const WRITE_KEY: &str = "bench-write-key";
const ADMIN_KEY: &str = "bench-admin-key";
const PARTITIONS: i64 = 64;

/// One run's data folder (the starter playbook) and PostgreSQL schema.
struct Deployment {
    bin: PathBuf,
    dir: PathBuf,
    url: String,
    schema: String,
    nodes: Vec<(String, SocketAddr, Option<Child>)>,
}

impl Deployment {
    fn new(bin: &Path, url: &str, tag: &str) -> Result<Deployment> {
        let dir = std::env::temp_dir().join(format!("tidings-bench-cluster-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(bin).args(["init", dir.to_str().unwrap_or(".")]).output()?;
        if !out.status.success() {
            bail!("tidings init: {}", String::from_utf8_lossy(&out.stderr));
        }
        let schema = format!("tidings_bench_cluster_{tag}");
        let d = Deployment { bin: bin.to_path_buf(), dir, url: url.to_string(), schema, nodes: Vec::new() };
        d.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", d.schema))?;
        Ok(d)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TIDINGS_STORAGE__POSTGRES_URL", self.url.clone()),
            ("TIDINGS_STORAGE__POSTGRES_SCHEMA", self.schema.clone()),
            ("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY.into()),
            ("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY.into()),
            ("TIDINGS_PREDICT__EVERY", "off".into()),
            // One address sends everything here.
            ("TIDINGS_SERVER__INGEST_REQUESTS_PER_SECOND", "0".into()),
        ]
    }

    fn sql(&self, sql: &str) -> Result<()> {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).context("connect to PostgreSQL")?;
        c.batch_execute(sql)?;
        Ok(())
    }

    fn import(&self, file: &Path) -> Result<()> {
        let out = Command::new(&self.bin)
            .args(["import", "--quiet", "--data", self.dir.to_str().unwrap_or("."), file.to_str().unwrap_or(".")])
            .envs(self.env())
            .output()?;
        if !out.status.success() {
            bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn start(&mut self, id: &str) -> Result<()> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log = std::fs::File::create(self.dir.join(format!("{id}.log")))?;
        let child = Command::new(&self.bin)
            .args(["serve", "--data", self.dir.to_str().unwrap_or("."), "--listen", &addr.to_string()])
            .envs(self.env())
            .env("TIDINGS_CLUSTER__NODE", id)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start tidings serve")?;
        self.nodes.push((id.to_string(), addr, Some(child)));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut c = Client::new(addr);
        while !c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
            if Instant::now() > deadline {
                bail!("node {id} did not start; see {}", self.dir.join(format!("{id}.log")).display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill(&mut self, id: &str) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.0 == id)
            && let Some(mut c) = n.2.take()
        {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn up(&self) -> Vec<SocketAddr> {
        self.nodes.iter().filter(|n| n.2.is_some()).map(|n| n.1).collect()
    }

    /// Waits until the nodes `ids` hold all 64 partitions between them (and each holds some).
    fn wait_owned(&self, ids: &[&str], limit: Duration) -> Result<()> {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls)?;
        let deadline = Instant::now() + limit;
        loop {
            let now = tidings_model::Clock::now(&tidings_model::WallClock);
            let rows = c.query(
                &format!(
                    "SELECT owner, count(*) FROM {}.partition_leases
                     WHERE owner IS NOT NULL AND expires_at > $1 GROUP BY owner",
                    self.schema
                ),
                &[&now],
            );
            if let Ok(rows) = rows {
                let owners: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                let all = owners.iter().filter(|o| ids.contains(&o.0.as_str())).map(|o| o.1).sum::<i64>();
                if all == PARTITIONS && ids.iter().all(|id| owners.iter().any(|o| o.0 == *id)) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the partitions never settled on {ids:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `/api/segments` through `addr` answers for every partition.
    fn wait_complete(&self, addr: SocketAddr, limit: Duration) -> Result<()> {
        let mut c = Client::new(addr);
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(r) = c.get("/api/segments", Some(&bearer(ADMIN_KEY)))
                && r.status == 200
                && r.json()["complete"] == true
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the segments never answered complete through {addr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every node's engine has taken in the whole log.
    fn wait_applied(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        for addr in self.up() {
            let mut c = Client::new(addr);
            loop {
                let s = c.get("/api/stats", Some(&bearer(ADMIN_KEY)))?.json();
                let (applied, last) = (s["engine_applied"].as_i64(), s["last_seq"].as_i64());
                if applied.is_some() && applied >= last {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the engine of {addr} never caught up with the log: {s}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(c) = n.2.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = self.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = tidings_binary()?;
    postgres::Client::connect(&args.postgres, postgres::NoTls)
        .with_context(|| format!("this benchmark needs PostgreSQL at {} (--postgres)", args.postgres))?;

    let t = Instant::now();
    let values: Vec<serde_json::Value> =
        bench_events(args.seed, args.profiles, args.events, START, SPAN).map(|m| m.to_json()).collect();
    let bodies: Vec<Vec<u8>> = values
        .chunks(args.batch)
        .map(|c| serde_json::to_vec(&serde_json::json!({ "batch": c })).expect("serializable"))
        .collect();
    println!(
        "{} simulated messages from {} people in {} batches, generated in {:.1}s",
        values.len(),
        args.profiles,
        bodies.len(),
        t.elapsed().as_secs_f64()
    );
    if args.nodes > 0 {
        println!("| nodes | ingest s | ingest msg/s | apply s | apply msg/s | CPU s, nodes | CPU s, PostgreSQL |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
    }
    for n in 1..=args.nodes {
        let run = throughput(&bin, &args, &bodies, n)?;
        let rate = |s: f64| values.len() as f64 / s;
        println!(
            "| {n} | {:.1} | {:.0} | {:.1} | {:.0} | {:.1} | {:.1} |",
            run.ingest,
            rate(run.ingest),
            run.apply,
            rate(run.apply),
            run.node_cpu,
            run.postgres_cpu
        );
    }
    if args.failover_profiles > 0 {
        failover(&bin, &args)?;
    }
    Ok(())
}

struct Throughput {
    /// Seconds until the last batch was acknowledged.
    ingest: f64,
    /// Seconds until every node's engine had taken in the whole log.
    apply: f64,
    /// CPU seconds (user + system) the nodes and PostgreSQL's processes spent meanwhile.
    node_cpu: f64,
    postgres_cpu: f64,
}

/// CPU seconds (user + system) of a process, from `/proc` (0 where there is none).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of every `postgres` process on this machine (the server and its backends).
fn postgres_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(cpu_seconds)
        .sum()
}

/// Ingest and apply of the messages through `n` nodes.
fn throughput(bin: &Path, args: &Args, bodies: &[Vec<u8>], n: usize) -> Result<Throughput> {
    let mut d = Deployment::new(bin, &args.postgres, &format!("n{n}"))?;
    let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
    for id in &ids {
        d.start(id)?;
    }
    d.wait_owned(&ids.iter().map(String::as_str).collect::<Vec<_>>(), Duration::from_secs(60))?;
    let up = d.up();
    let nodes_cpu =
        |d: &Deployment| d.nodes.iter().filter_map(|n| n.2.as_ref()).map(|c| cpu_seconds(c.id())).sum::<f64>();
    let cpu_before = (nodes_cpu(&d), postgres_cpu());
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for k in 0..args.connections {
            let (up, next, failed) = (&up, &next, &failed);
            s.spawn(move || {
                let mut clients: Vec<Client> = up.iter().map(|&a| Client::new(a)).collect();
                let auth = basic(WRITE_KEY);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let c = &mut clients[(i + k) % up.len()];
                    if !c.post("/v1/batch", Some(&auth), body).is_ok_and(|r| r.status == 200) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let ingest = started.elapsed().as_secs_f64();
    if failed.load(Ordering::Relaxed) > 0 {
        bail!("{} batches failed", failed.load(Ordering::Relaxed));
    }
    d.wait_applied(Duration::from_secs(600))?;
    let apply = started.elapsed().as_secs_f64();
    Ok(Throughput {
        ingest,
        apply,
        node_cpu: nodes_cpu(&d) - cpu_before.0,
        postgres_cpu: postgres_cpu() - cpu_before.1,
    })
}

fn failover(bin: &Path, args: &Args) -> Result<()> {
    let mut d = Deployment::new(bin, &args.postgres, "failover")?;
    let n = u64::from(args.failover_profiles) * 5;
    let file = d.dir.join("history.ndjson");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for m in bench_events(args.seed + 1, args.failover_profiles, n, START, SPAN) {
        serde_json::to_writer(&mut w, &m.to_json())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    let t = Instant::now();
    d.import(&file)?;
    println!(
        "\nfailover: {} messages of {} people imported in {:.1}s",
        n,
        args.failover_profiles,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for id in ["n1", "n2", "n3"] {
        d.start(id)?;
    }
    d.wait_owned(&["n1", "n2", "n3"], Duration::from_secs(120))?;
    let first = d.up()[0];
    d.wait_complete(first, Duration::from_secs(1800))?;
    println!("cold start of three nodes, until the segments answer complete: {:.1}s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    d.kill("n3");
    d.wait_owned(&["n1", "n2"], Duration::from_secs(120))?;
    let moved = t.elapsed().as_secs_f64();
    d.wait_complete(first, Duration::from_secs(1800))?;
    let serving = t.elapsed().as_secs_f64();
    println!("after kill -9 of n3: partitions owned by n1 and n2 in {moved:.1}s, served (complete) in {serving:.1}s");
    Ok(())
}
