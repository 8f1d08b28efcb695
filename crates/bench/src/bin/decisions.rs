//! The journey runner's work per decision as a person's history grows.
//!
//! For each history length L: a data folder with the starter segments, one
//! journey (`ping`: on every `Ping`, a branch on the person's behaviour,
//! then a transactional email) and its template; one person with L product
//! views over the last 20 days, loaded with `tidings import`; then
//! `tidings serve`, and K `Ping` events in one batch. Timed: from the batch's
//! acknowledgement to the K-th `.eml` file (each a decision: the branch, the
//! policies, the render context, the send). With `--compare OTHER` the same
//! runs are made with another `tidings` binary (an older build), alternating,
//! and the ratio printed: a runner whose decisions read the whole history
//! slows down with L, one that asks the engine does not.
//!
//! cargo build --release -p tidings -p tidings-bench
//! target/release/decisions [--history 10,1000,10000] [--decisions 200] [--compare /path/to/old/tidings]

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tidings_bench::tidings_binary;
use tidings_testkit::http::{Client, basic};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Journey decisions per second as a person's history grows.
#[derive(Parser, Debug)]
struct Args {
    /// History lengths to try (product views of the one person).
    #[arg(long, value_delimiter = ',', default_value = "10,1000,10000")]
    history: Vec<usize>,
    /// Decisions timed per run (journey entries, each ending in a send).
    #[arg(long, default_value_t = 200)]
    decisions: usize,
    /// Another `tidings` binary to run beside this build's, alternating (for before / after).
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Runs of each binary per history length.
    #[arg(long, default_value_t = 2)]
    runs: usize,
}

const WRITE_KEY: &str = "bench-write-key";
const ADMIN_KEY: &str = "bench-admin-key";

const JOURNEY: &str = r#"key = "ping"
[trigger]
event = "Ping"
[settings]
reentry = "always"
[[step]]
id = "check"
if = 'did "Product Viewed" at least 3 times in last 30d and not did "Order Completed" in last 7d'
then = "note"
else = "exit"
[[step]]
id = "note"
send = "ping_note"
"#;

const TEMPLATE: &str = "---\nsubject: \"Ping {{ profile.first_name }}\"\nkind: transactional\n---\n\
<p>Hello {{ profile.first_name }}. {% for p in recommendations.viewed limit: 3 %}{{ p.name }} {% endfor %}</p>\n";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A data folder with the starter rules, the ping journey and one person's history.
fn folder(dir: &Path, bin: &Path, history: usize) -> Result<()> {
    std::fs::create_dir_all(dir.join("journeys"))?;
    std::fs::create_dir_all(dir.join("templates"))?;
    std::fs::write(dir.join("segments.rules"), include_str!("../../../cli/playbook/segments.rules"))?;
    std::fs::write(dir.join("journeys/ping.toml"), JOURNEY)?;
    std::fs::write(dir.join("templates/ping_note.html"), TEMPLATE)?;
    let now = tidings_model::Clock::now(&tidings_model::WallClock);
    let day = 86_400_000_000i64;
    let time = |t: i64| jiff::Timestamp::from_microsecond(t).expect("in range").to_string();
    let path = dir.join("history.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let identify = json!({"type": "identify", "userId": "u1", "messageId": "id-0", "timestamp": time(now - 25 * day),
        "traits": {"email": "u1@example.com", "first_name": "Ada", "marketing_consent": true}});
    writeln!(f, "{identify}")?;
    for i in 0..history {
        let at = now - 20 * day + (i as i64) * (19 * day / history.max(1) as i64);
        let sku = format!("sku-{}", i % 40);
        let m = json!({"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": format!("v-{i}"),
            "timestamp": time(at), "properties": {"sku": sku, "name": format!("Product {}", i % 40), "price": 10}});
        writeln!(f, "{m}")?;
    }
    f.flush()?;
    drop(f);
    let out = Command::new(bin).args(["import", "--data"]).arg(dir).arg(&path).output()?;
    if !out.status.success() {
        bail!("tidings import: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn emails(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("mail")).map(|d| d.filter_map(|e| e.ok()).count()).unwrap_or(0)
}

/// One run: the time for `decisions` decisions on a person with `history` events.
fn run(bin: &Path, history: usize, decisions: usize) -> Result<Duration> {
    let dir = std::env::temp_dir().join(format!("tidings-decisions-{}-{history}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    folder(&dir, bin, history)?;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(bin)
        .args(["serve", "--data", dir.to_str().unwrap_or("."), "--listen", &addr.to_string()])
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .env("TIDINGS_PREDICT__EVERY", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start tidings serve")?;
    let _server = Server(child);
    let mut c = Client::new(addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
        if Instant::now() > deadline {
            bail!("tidings serve did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the runner read the imported history (its first round) before timing.
    std::thread::sleep(Duration::from_secs(3));
    let batch: Vec<serde_json::Value> = (0..decisions)
        .map(|i| json!({"type": "track", "userId": "u1", "event": "Ping", "messageId": format!("ping-{i}")}))
        .collect();
    let body = json!({ "batch": batch }).to_string();
    let started = Instant::now();
    let r = c.post("/v1/batch", Some(&basic(WRITE_KEY)), body.as_bytes())?;
    if r.status != 200 {
        bail!("the pings were refused: {}", r.text());
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while emails(&dir) < decisions {
        if Instant::now() > deadline {
            bail!("only {} of {decisions} emails after 10 minutes", emails(&dir));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed();
    let _ = ADMIN_KEY;
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(took)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let this = tidings_binary()?;
    let mut bins = vec![("this build", this)];
    if let Some(other) = &args.compare {
        bins.push(("compared", other.clone()));
    }
    println!(
        "{} decisions (a branch on behaviour, the policies, a rendered send) for one person, by history length",
        args.decisions
    );
    println!("{:<12} {:>8} {:>10} {:>14}", "binary", "history", "time", "decisions/s");
    for &h in &args.history {
        let mut best: Vec<Duration> = vec![Duration::MAX; bins.len()];
        for _ in 0..args.runs {
            for (i, (name, bin)) in bins.iter().enumerate() {
                let t = run(bin, h, args.decisions)?;
                best[i] = best[i].min(t);
                println!(
                    "{name:<12} {h:>8} {:>9.2}s {:>14.0}",
                    t.as_secs_f64(),
                    args.decisions as f64 / t.as_secs_f64()
                );
            }
        }
        if best.len() == 2 {
            println!(
                "history {h}: best of {} runs, compared / this build = {:.2}",
                args.runs,
                best[1].as_secs_f64() / best[0].as_secs_f64()
            );
        }
    }
    Ok(())
}
