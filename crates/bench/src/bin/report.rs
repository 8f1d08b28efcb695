//! The email report over a large log: per-segment sent, human opens, clicks,
//! conversions and revenue (segment at send time, last-touch attribution),
//! by Tidings' one-pass accumulator and by DuckDB in SQL, on the same CSV of
//! generated events, in the same run; the answers must agree.
//!
//! cargo build --release -p tidings-bench && target/release/report [--events 10000000 --profiles 1000000]

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tidings_insights::email::{Accumulator, Props};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Report benchmark: Tidings beside DuckDB on the same events.
#[derive(Parser, Debug)]
struct Args {
    /// Events in the log (about).
    #[arg(long, default_value_t = 10_000_000)]
    events: usize,
    /// Profiles.
    #[arg(long, default_value_t = 1_000_000)]
    profiles: usize,
    /// Where the CSV goes (deleted after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

const SEGMENTS: [&str; 6] = ["new_visitors", "browse_abandoners", "cart_abandoners", "loyal", "dormant", "wishlisters"];
const SOURCES: [(&str, &str); 4] = [
    ("journey:cart_abandonment:remind", "cart_reminder"),
    ("journey:welcome:hello", "welcome_1"),
    ("journey:browse_abandonment:viewed", "browse_reminder"),
    ("broadcast:newsletter", "newsletter"),
];
const WINDOW: i64 = 5 * 86_400_000_000;

/// Writes the log, sorted by time: profile,name,ts,message_id,segment,source,template,machine,revenue.
fn generate(path: &Path, events: usize, profiles: usize) -> Result<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let per = (events / profiles).max(4);
    let mut rows: Vec<(i64, String)> = Vec::with_capacity(events + profiles);
    let start: i64 = 1_767_225_600_000_000;
    for p in 0..profiles {
        let mut t = start + rng.random_range(0..86_400_000_000i64);
        let mut inside: Vec<&str> = Vec::new();
        let mut sent: Vec<String> = Vec::new();
        for k in 0..per {
            t += rng.random_range(1..40 * 3_600_000_000i64);
            let roll: u32 = rng.random_range(0..100);
            let row = if roll < 20 {
                let s = SEGMENTS[rng.random_range(0..SEGMENTS.len())];
                if let Some(i) = inside.iter().position(|x| *x == s) {
                    inside.remove(i);
                    format!("{p},Segment Exited,{t},,{s},,,,")
                } else {
                    inside.push(s);
                    format!("{p},Segment Entered,{t},,{s},,,,")
                }
            } else if roll < 55 || sent.is_empty() {
                let (source, template) = SOURCES[rng.random_range(0..SOURCES.len())];
                let id = format!("m{p}-{k}");
                let r = format!("{p},Email Sent,{t},{id},,{source},{template},,");
                sent.push(id);
                r
            } else if roll < 80 {
                let id = &sent[rng.random_range(0..sent.len())];
                let machine = rng.random_bool(0.3);
                format!("{p},Email Opened,{t},{id},,,,{machine},")
            } else if roll < 90 {
                let id = &sent[rng.random_range(0..sent.len())];
                format!("{p},Email Clicked,{t},{id},,,,,")
            } else {
                let revenue = rng.random_range(5..300);
                format!("{p},Order Completed,{t},,,,,,{revenue}")
            };
            rows.push((t, row));
        }
    }
    rows.sort_unstable_by_key(|r| r.0);
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(f, "profile,name,ts,message_id,segment,source,template,machine,revenue")?;
    for (_, r) in &rows {
        writeln!(f, "{r}")?;
    }
    f.flush()?;
    Ok(rows.len())
}

/// Per segment: (sent, human opens, clicks, conversions, revenue).
type Table = std::collections::BTreeMap<String, (u64, u64, u64, u64, f64)>;

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn tidings(path: &Path) -> Result<Table> {
    let mut acc = Accumulator::new(WINDOW);
    let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut line = String::new();
    f.read_line(&mut line)?; // the header
    loop {
        line.clear();
        if f.read_line(&mut line)? == 0 {
            break;
        }
        let mut c = [""; 9];
        for (slot, field) in c.iter_mut().zip(line.trim_end().split(',')) {
            *slot = field;
        }
        // The columns the report reads, as a typed parse of the stored JSON would give them.
        let props = Props {
            message_id: nonempty(c[3]),
            segment: nonempty(c[4]),
            source: nonempty(c[5]),
            template: nonempty(c[6]),
            machine: c[7] == "true",
            revenue: c[8].parse::<f64>().ok(),
            ..Props::default()
        };
        acc.add_props(c[0].parse()?, c[1], c[2].parse()?, &props);
    }
    let t = Instant::now();
    let out = acc.finish();
    eprintln!("(finish: {:.2} s)", t.elapsed().as_secs_f64());
    Ok(out
        .by_segment
        .iter()
        .map(|(k, r)| (k.clone(), (r.sent, r.human_opens, r.clicks, r.conversions, r.revenue)))
        .collect())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir =
        args.dir.clone().unwrap_or_else(std::env::temp_dir).join(format!("tidings-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join("events.csv");
    let t = Instant::now();
    let n = generate(&csv, args.events, args.profiles)?;
    println!(
        "{n} events of {} profiles ({} MB CSV) generated in {:.1} s",
        args.profiles,
        std::fs::metadata(&csv)?.len() / 1_000_000,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let ours = tidings(&csv)?;
    let our_s = t.elapsed().as_secs_f64();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/report_duckdb.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&csv)
        .arg(WINDOW.to_string())
        .output()
        .context("python3 (pip install duckdb)")?;
    ensure!(out.status.success(), "DuckDB side failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let (load_s, query_s) =
        (v["load_seconds"].as_f64().unwrap_or(f64::NAN), v["query_seconds"].as_f64().unwrap_or(f64::NAN));
    let mut theirs = Table::new();
    for r in v["rows"].as_array().context("rows")? {
        let u = |i: usize| r[i].as_u64().unwrap_or(0);
        theirs.insert(r[0].as_str().unwrap_or("").to_string(), (u(1), u(2), u(3), u(4), r[5].as_f64().unwrap_or(0.0)));
    }
    println!("{:<20} {:>9} {:>9} {:>9} {:>9} {:>12}", "segment", "sent", "opens", "clicks", "conv", "revenue");
    for (k, r) in &ours {
        println!("{k:<20} {:>9} {:>9} {:>9} {:>9} {:>12.0}", r.0, r.1, r.2, r.3, r.4);
    }
    let same = ours.len() == theirs.len()
        && ours.iter().all(|(k, a)| {
            theirs.get(k).is_some_and(|b| {
                (a.0, a.1, a.2, a.3) == (b.0, b.1, b.2, b.3) && (a.4 - b.4).abs() < 1e-6 * a.4.max(1.0)
            })
        });
    println!("answers agree with DuckDB: {}", if same { "yes" } else { "NO" });
    if !same {
        println!("DuckDB: {theirs:?}");
    }
    println!("Tidings (read CSV, build events, one pass):     {our_s:>7.2} s");
    println!("DuckDB (load CSV {load_s:.2} s + SQL {query_s:.2} s):        {:>7.2} s", load_s + query_s);
    println!(
        "ratio Tidings / DuckDB (load + query): {:.2}; / query alone: {:.2}",
        our_s / (load_s + query_s),
        our_s / query_s
    );
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(same, "the two disagree");
    Ok(())
}
