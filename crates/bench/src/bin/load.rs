//! A steady ingest load from a real load generator (`wrk`, Debian's
//! package), with idle connections held open beside it, against `tidings
//! serve`: the acknowledgement latency per window, the server's memory
//! sampled every window, and at the end every acknowledged message counted
//! back from the store.
//!
//! wrk cannot pace by itself; its Lua script waits between requests
//! (`delay`), so C connections at D ms apart send C * 1000 / D requests a
//! second. Each request is a batch of B `track` messages with unique ids.
//! The run is cut into windows (one wrk run each, back to back), so that
//! the p99 of each window shows whether latency stays steady.
//!
//! cargo build --release -p tidings -p tidings-bench
//! target/release/load                                  # 5 minutes, 1,000 idle connections
//! target/release/load --windows 3 --window 5 --idle 200   # what CI runs

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tidings_bench::tidings_binary;
use tidings_testkit::http::{Client, bearer};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Steady ingest under wrk, with idle connections held open, memory sampled, every message counted back.
#[derive(Parser, Debug)]
struct Args {
    /// Windows of the run (one wrk run each).
    #[arg(long, default_value_t = 30)]
    windows: u32,
    /// Seconds per window.
    #[arg(long, default_value_t = 10)]
    window: u32,
    /// wrk connections.
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Requests per second in all.
    #[arg(long, default_value_t = 400)]
    rate: u32,
    /// Messages per request.
    #[arg(long, default_value_t = 10)]
    batch: u32,
    /// Idle connections held open beside the load (reopened when the server closes them).
    #[arg(long, default_value_t = 1_000)]
    idle: usize,
}

const WRITE_KEY: &str = "load-write-key";
const ADMIN_KEY: &str = "load-admin-key";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The wrk script: a batch of unique messages per request, paced by `delay`.
fn script(window: u32, batch: u32, delay_ms: u32) -> String {
    let auth = base64_basic(WRITE_KEY);
    format!(
        r#"
local threads = {{}}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
function init(args)
  counter = 0
end
function request()
  counter = counter + 1
  local parts = {{}}
  for i = 1, {batch} do
    parts[i] = string.format('{{"type":"track","userId":"u%d-%d","event":"Load","messageId":"w{window}-t%d-c%d-i%d","properties":{{"n":%d}}}}', tid, counter % 500, tid, counter, i, i)
  end
  local body = '{{"batch":[' .. table.concat(parts, ",") .. ']}}'
  return wrk.format("POST", "/v1/batch", {{["Content-Type"] = "application/json", ["Authorization"] = "Basic {auth}"}}, body)
end
function delay()
  return {delay_ms}
end
"#
    )
}

fn base64_basic(user: &str) -> String {
    use std::fmt::Write as _;
    let input = format!("{user}:").into_bytes();
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The server's resident memory, from /proc.
fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A wrk latency figure (`1.23ms`, `456.00us`, `1.2s`) in milliseconds.
fn ms(text: &str) -> Option<f64> {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

struct Window {
    requests: u64,
    non_2xx: u64,
    p50: f64,
    p99: f64,
    rss: f64,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let bin = tidings_binary()?;
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed: apt-get install wrk");
    }
    let dir = std::env::temp_dir().join(format!("tidings-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(&bin)
        .args(["serve", "--data", dir.to_str().unwrap_or("."), "--listen", &addr.to_string()])
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .env("TIDINGS_PREDICT__EVERY", "off")
        .env("TIDINGS_SERVER__INGEST_REQUESTS_PER_SECOND", "0")
        // Every idle connection and the load come from this one address.
        .env("TIDINGS_SERVER__MAX_CONNECTIONS_PER_CLIENT", "4096")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start tidings serve")?;
    let pid = child.id();
    let _server = Server(child);
    let mut c = Client::new(addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
        if Instant::now() > deadline {
            bail!("tidings serve did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    // Idle connections, kept at the count as the server closes them.
    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicUsize::new(0));
    let keeper = {
        let (stop, reopened) = (stop.clone(), reopened.clone());
        let n = a.idle;
        std::thread::spawn(move || {
            let mut conns: Vec<TcpStream> = (0..n).filter_map(|_| TcpStream::connect(addr).ok()).collect();
            for s in &conns {
                let _ = s.set_nonblocking(true);
            }
            while !stop.load(Ordering::Relaxed) {
                let mut buf = [0u8; 64];
                conns.retain(|s| {
                    use std::io::Read;
                    let mut s = s;
                    match s.read(&mut buf) {
                        Ok(0) => false,
                        Ok(_) => true,
                        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                    }
                });
                while conns.len() < n {
                    match TcpStream::connect(addr) {
                        Ok(s) => {
                            let _ = s.set_nonblocking(true);
                            conns.push(s);
                            reopened.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => break,
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let delay_ms = (a.connections * 1000 / a.rate.max(1)).max(1);
    println!(
        "wrk: {} connections, {} requests/s ({} ms apart each) of {} messages, {} windows of {} s; {} idle connections beside",
        a.connections,
        a.connections * 1000 / delay_ms,
        delay_ms,
        a.batch,
        a.windows,
        a.window,
        a.idle
    );
    println!("{:>6} {:>9} {:>8} {:>9} {:>9} {:>9}", "window", "requests", "non-2xx", "p50 ms", "p99 ms", "RSS MB");
    let lua = dir.join("load.lua");
    let mut windows = Vec::new();
    let started = Instant::now();
    for w in 0..a.windows {
        std::fs::File::create(&lua)?.write_all(script(w, a.batch, delay_ms).as_bytes())?;
        let out = Command::new("wrk")
            .args(["-t", "2", "-c", &a.connections.to_string(), "-d", &format!("{}s", a.window), "--latency"])
            .args(["-s", lua.to_str().unwrap_or("")])
            .arg(format!("http://{addr}"))
            .output()
            .context("run wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |prefix: &str| -> Option<String> {
            text.lines().find(|l| l.trim_start().starts_with(prefix)).map(|l| l.trim().to_string())
        };
        let pct = |p: &str| field(p).and_then(|l| l.split_whitespace().nth(1).and_then(ms)).unwrap_or(f64::NAN);
        let requests = text
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let non_2xx = field("Non-2xx").and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0u64);
        let win = Window { requests, non_2xx, p50: pct("50%"), p99: pct("99%"), rss: rss_mb(pid) };
        println!(
            "{:>6} {:>9} {:>8} {:>9.2} {:>9.2} {:>9.1}",
            w + 1,
            win.requests,
            win.non_2xx,
            win.p50,
            win.p99,
            win.rss
        );
        windows.push(win);
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = keeper.join();

    // Everything acknowledged is stored, once.
    let ok_requests: u64 = windows.iter().map(|w| w.requests - w.non_2xx).sum();
    let acknowledged = ok_requests * u64::from(a.batch);
    std::thread::sleep(Duration::from_millis(500));
    let stats = c.get("/api/stats", Some(&bearer(ADMIN_KEY)))?.json();
    let stored = stats["events"].as_u64().unwrap_or(0);
    let p99: Vec<f64> = windows.iter().map(|w| w.p99).collect();
    let rss: Vec<f64> = windows.iter().map(|w| w.rss).collect();
    let span = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        (lo, hi)
    };
    println!(
        "{:.0} s: {} requests acknowledged ({} messages), {} non-2xx; {} stored; idle connections reopened {} times",
        took.as_secs_f64(),
        ok_requests,
        acknowledged,
        windows.iter().map(|w| w.non_2xx).sum::<u64>(),
        stored,
        reopened.load(Ordering::Relaxed)
    );
    let (p_lo, p_hi) = span(&p99);
    let (m_lo, m_hi) = span(&rss);
    println!("p99 per window {p_lo:.2}-{p_hi:.2} ms; RSS {m_lo:.0}-{m_hi:.0} MB");
    let _ = std::fs::remove_dir_all(&dir);
    // wrk stops each window with requests in flight: the server may have
    // stored (and answered) them after wrk stopped reading, so more can be
    // stored than wrk saw acknowledged, at most one request per connection
    // per window; fewer would be a loss.
    let in_flight = u64::from(a.connections) * u64::from(a.windows) * u64::from(a.batch);
    if stored < acknowledged {
        bail!("{acknowledged} messages were acknowledged but only {stored} are stored");
    }
    if stored > acknowledged + in_flight {
        bail!("{stored} stored is more than {acknowledged} acknowledged and {in_flight} in flight");
    }
    println!(
        "every acknowledged message is stored ({} more were stored whose answer wrk did not wait for)",
        stored - acknowledged
    );
    Ok(())
}
