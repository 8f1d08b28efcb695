//! Backfill: every profile's segment memberships built from its whole
//! history as of a time T, for 20 segments over a generated log, by the
//! segment engine (`build_state` on every core, then `Engine::install`, as
//! the server rebuilds at start) and by DuckDB answering the same 20
//! questions in SQL, on the same CSV, in the same run; the member sets must
//! be equal.
//!
//! cargo build --release -p tidings-bench && target/release/backfill [--events 10000000 --profiles 1000000]

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use jiff::tz::TimeZone;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tidings_engine::{Compiled, Engine, Observed, ProfileInput, ProfileState, build_state};
use tidings_model::ProfileId;
use tidings_rules::{SourceFile, Workspace, check_workspace};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Backfill benchmark: the segment engine beside DuckDB on the same events.
#[derive(Parser, Debug)]
struct Args {
    /// Messages in the log (about; identify rows included).
    #[arg(long, default_value_t = 10_000_000)]
    events: usize,
    /// Profiles.
    #[arg(long, default_value_t = 1_000_000)]
    profiles: usize,
    /// Where the CSV and DuckDB's answers go (deleted after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The as-of time T: 2026-11-29T12:00:00Z. Every event is at or before it.
const T: i64 = 1_795_953_600_000_000;
const SECOND: i64 = 1_000_000;
const DAY_S: i64 = 86_400;
const YEAR_S: i64 = 365 * DAY_S;

/// The 20 segments. `crates/bench/python/backfill_duckdb.py` asks the same
/// questions in SQL, by the same keys.
const RULES: &str = r#"
segment frequent_viewers { did "Product Viewed" at least 5 times in last 30d }
segment mid_window_buyers { did "Order Completed" at least 2 times between 30d and 120d ago }
segment big_spenders { total revenue of "Order Completed" in last 365d >= 1000 }
segment high_aov { average revenue of "Order Completed" in last 180d > 150 }
segment small_baskets { max revenue of "Order Completed" in last 90d < 60 }
segment pricey_taste { min price of "Product Viewed" where category == "electronics" in last 60d >= 200 }
segment explorers { distinct category of "Product Viewed" in last 90d >= 4 }
segment lapsed_buyers { last "Order Completed" more than 90d ago }
segment first_order_recent { first "Order Completed" less than 30d ago and did "Order Completed" exactly 1 time }
segment new_visitors { first seen less than 14d ago and not did "Order Completed" }
segment dormant { last seen more than 60d ago }
segment weekend_shoppers {
  did "Order Completed" at least 2 times in last 180d
  and share of "Order Completed" on weekends in last 180d >= 50%
}
segment night_owls { share of "Product Viewed" on hours 22 to 6 in last 90d > 40% }
segment regulars { active on at least 8 days in last 60d }
segment quick_repeat { did "Order Completed" then "Order Completed" within 14d in last 180d }
segment cart_abandoners { did "Product Added" then not "Order Completed" within 1h in last 7d }
segment viewed_then_bought {
  did "Product Viewed" where price >= 100 then "Order Completed" within 2d matching product_id in last 60d
}
segment abandoned_items { did "Product Added" then not "Order Completed" within 1d matching product_id in last 30d }
segment engaged_pros { trait plan in ["pro", "team"] and did "Email Clicked" where campaign <= 5 in last 30d }
segment loyal_europeans {
  in segment big_spenders and trait country in ["DE", "FR", "NL"] and not in segment lapsed_buyers
}
"#;

const CATEGORIES: [&str; 8] = ["electronics", "books", "fashion", "home", "garden", "toys", "sports", "beauty"];
const COUNTRIES: [&str; 10] = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL", "BR"];
const PLANS: [&str; 3] = ["free", "pro", "team"];
const PRODUCTS: f64 = 5_000.0;
const NONE: u8 = u8::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SignedUp,
    Viewed,
    Added,
    Ordered,
    Opened,
    Clicked,
    Identify,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SignedUp => "Signed Up",
            Kind::Viewed => "Product Viewed",
            Kind::Added => "Product Added",
            Kind::Ordered => "Order Completed",
            Kind::Opened => "Email Opened",
            Kind::Clicked => "Email Clicked",
            Kind::Identify => "identify",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::SignedUp, Kind::Viewed, Kind::Added, Kind::Ordered, Kind::Opened, Kind::Clicked, Kind::Identify]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// One line of the CSV, typed: what a typed parse of the stored message
/// gives. `amount` is the price (views, adds) or the revenue (orders), NaN
/// when absent; `seq` is the arrival order (the line's byte offset).
#[derive(Debug, Clone, Copy)]
struct Row {
    seq: i64,
    ts: i64,
    amount: f64,
    profile: u32,
    product: u32,
    kind: Kind,
    category: u8,
    campaign: u8,
    country: u8,
    plan: u8,
}

/// Products are skewed towards low ids; a product's category and price
/// follow from its id. Prices are multiples of 0.25, so that every total
/// and average is exact in both engines and a tie at a threshold compares
/// the same on both sides.
fn product(rng: &mut impl Rng) -> u32 {
    let u: f64 = rng.random();
    1 + (u * u * PRODUCTS) as u32
}

fn category_of(product: u32) -> u8 {
    (product * 7 % CATEGORIES.len() as u32) as u8
}

fn price_of(product: u32) -> f64 {
    5.0 + (u64::from(product) * 7919 % 1996) as f64 * 0.25
}

fn blank(kind: Kind, profile: u32, ts: i64) -> Row {
    Row {
        seq: 0,
        ts,
        amount: f64::NAN,
        profile,
        product: 0,
        kind,
        category: NONE,
        campaign: 0,
        country: NONE,
        plan: NONE,
    }
}

/// One profile's history: sessions of a few seconds to half an hour apart,
/// separated by hours to weeks, ending at some time in the year before T;
/// timestamps in whole seconds (so that ties and events on a window's edge
/// happen). Identify rows of one profile never share a timestamp, so which
/// trait value is the latest never depends on the order of arrival.
fn profile_rows(rng: &mut impl Rng, p: u32, avg: usize, out: &mut Vec<Row>) {
    let n = rng.random_range(1..=2 * avg - 1);
    let mut offsets = Vec::with_capacity(n);
    let mut t = 0i64;
    for i in 0..n {
        if i > 0 {
            t += match rng.random_range(0..100) {
                0..3 => 0,
                3..55 => rng.random_range(1..=1_800),
                55..80 => rng.random_range(3_600..=2 * DAY_S),
                _ => rng.random_range(2 * DAY_S..=30 * DAY_S),
            };
        }
        offsets.push(t);
    }
    let start = T / SECOND - t - rng.random_range(0..=(YEAR_S - t).max(0));
    let (mut viewed, mut added, mut campaign) = (None, None, None);
    let first = out.len();
    for (i, &o) in offsets.iter().enumerate() {
        let ts = (start + o) * SECOND;
        let roll = if i == 0 { if rng.random_bool(0.25) { 100 } else { 0 } } else { rng.random_range(0..100) };
        let row = match roll {
            0..48 => {
                let id = product(rng);
                viewed = Some(id);
                Row { product: id, category: category_of(id), amount: price_of(id), ..blank(Kind::Viewed, p, ts) }
            }
            48..62 => {
                let id = match viewed {
                    Some(v) if rng.random_bool(0.8) => v,
                    _ => product(rng),
                };
                added = Some(id);
                Row { product: id, category: category_of(id), amount: price_of(id), ..blank(Kind::Added, p, ts) }
            }
            62..72 => {
                let id = match added {
                    Some(a) if rng.random_bool(0.7) => a,
                    _ => product(rng),
                };
                let revenue =
                    if rng.random_bool(0.03) { f64::NAN } else { price_of(id) * f64::from(rng.random_range(1..=3)) };
                Row { product: id, category: category_of(id), amount: revenue, ..blank(Kind::Ordered, p, ts) }
            }
            72..90 => {
                let c = rng.random_range(1..=20);
                campaign = Some(c);
                Row { campaign: c, ..blank(Kind::Opened, p, ts) }
            }
            90..100 => {
                let c = match campaign {
                    Some(c) if rng.random_bool(0.7) => c,
                    _ => rng.random_range(1..=20),
                };
                Row { campaign: c, ..blank(Kind::Clicked, p, ts) }
            }
            _ => blank(Kind::SignedUp, p, ts),
        };
        out.push(row);
    }
    let mut stamps: Vec<i64> = Vec::new();
    let mut identify = |out: &mut Vec<Row>, at: usize, country: u8, plan: u8| {
        let ts = out[at].ts;
        if !stamps.contains(&ts) {
            stamps.push(ts);
            out.push(Row { country, plan, ..blank(Kind::Identify, p, ts) });
        }
    };
    if rng.random_bool(0.6) {
        let (country, plan) = (rng.random_range(0..COUNTRIES.len()) as u8, plan(rng));
        identify(out, first, country, plan);
    }
    if n > 1 && rng.random_bool(0.3) {
        let (at, plan) = (first + rng.random_range(1..n), plan(rng));
        identify(out, at, NONE, plan);
    }
    if n > 1 && rng.random_bool(0.1) {
        let (at, country) = (first + rng.random_range(1..n), rng.random_range(0..COUNTRIES.len()) as u8);
        identify(out, at, country, NONE);
    }
}

fn plan(rng: &mut impl Rng) -> u8 {
    match rng.random_range(0..10) {
        0..7 => 0,
        7..9 => 1,
        _ => 2,
    }
}

/// Writes the log, sorted by time: profile,name,ts,product_id,category,price,revenue,campaign,country,plan.
fn generate(path: &Path, events: usize, profiles: usize) -> Result<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    // About one identify row per profile; the rest are track events.
    let avg = (events / profiles.max(1)).max(2) - 1;
    let mut rows: Vec<Row> = Vec::with_capacity(events + events / 10);
    for p in 1..=profiles {
        profile_rows(&mut rng, p as u32, avg, &mut rows);
        if p % 200_000 == 0 {
            eprintln!("generating: {p} of {profiles} profiles");
        }
    }
    // The log's order: by time; the generator's own order breaks ties.
    let mut order: Vec<(i64, u32)> = rows.iter().enumerate().map(|(i, r)| (r.ts, i as u32)).collect();
    order.sort_unstable();
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(f, "profile,name,ts,product_id,category,price,revenue,campaign,country,plan")?;
    let mut line = String::new();
    for &(_, i) in &order {
        let r = &rows[i as usize];
        line.clear();
        let (p, name, ts) = (r.profile, r.kind.name(), r.ts);
        let opt = |v: u8, names: &[&'static str]| if v == NONE { "" } else { names[v as usize] };
        let _ = match r.kind {
            Kind::Viewed | Kind::Added => {
                writeln!(line, "{p},{name},{ts},{},{},{},,,,", r.product, CATEGORIES[r.category as usize], r.amount)
            }
            Kind::Ordered if r.amount.is_nan() => {
                writeln!(line, "{p},{name},{ts},{},{},,,,,", r.product, CATEGORIES[r.category as usize])
            }
            Kind::Ordered => {
                writeln!(line, "{p},{name},{ts},{},{},,{},,,", r.product, CATEGORIES[r.category as usize], r.amount)
            }
            Kind::Opened | Kind::Clicked => writeln!(line, "{p},{name},{ts},,,,,{},,", r.campaign),
            Kind::SignedUp => writeln!(line, "{p},{name},{ts},,,,,,,"),
            Kind::Identify => {
                writeln!(line, "{p},{name},{ts},,,,,,{},{}", opt(r.country, &COUNTRIES), opt(r.plan, &PLANS))
            }
        };
        f.write_all(line.as_bytes())?;
    }
    f.flush()?;
    Ok(rows.len())
}

fn index(s: &str, names: &[&str]) -> Result<u8> {
    if s.is_empty() {
        return Ok(NONE);
    }
    names.iter().position(|n| *n == s).map(|i| i as u8).with_context(|| format!("unknown value {s:?}"))
}

/// Parses the lines of `text`, which starts at byte `offset` of the file.
fn parse(text: &str, offset: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::with_capacity(text.len() / 60);
    let mut at = offset;
    for line in text.split_terminator('\n') {
        let seq = at as i64;
        at += line.len() + 1;
        let mut c = [""; 10];
        for (slot, field) in c.iter_mut().zip(line.split(',')) {
            *slot = field;
        }
        let kind = Kind::parse(c[1]).with_context(|| format!("unknown event {:?}", c[1]))?;
        let num = |s: &str| if s.is_empty() { Ok(0) } else { s.parse::<u32>() };
        let amount = [c[5], c[6]].into_iter().find(|s| !s.is_empty()).map_or(Ok(f64::NAN), str::parse)?;
        rows.push(Row {
            seq,
            ts: c[2].parse()?,
            amount,
            profile: c[0].parse()?,
            product: num(c[3])?,
            kind,
            category: index(c[4], &CATEGORIES)?,
            campaign: num(c[7])? as u8,
            country: index(c[8], &COUNTRIES)?,
            plan: index(c[9], &PLANS)?,
        });
    }
    Ok(rows)
}

/// The profiles' rows, each profile's together in log order: `rows[starts[i]..starts[i + 1]]` is profile `ids[i]`'s.
struct Grouped {
    rows: Vec<Row>,
    ids: Vec<u32>,
    starts: Vec<usize>,
}

impl Grouped {
    fn history(&self, i: usize) -> &[Row] {
        &self.rows[self.starts[i]..self.starts[i + 1]]
    }
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8)
}

/// Reads the CSV on every core and groups the rows by profile (a counting
/// sort, stable, so each profile's rows stay in log order).
fn read_grouped(path: &Path) -> Result<Grouped> {
    let bytes = std::fs::read(path)?;
    let text = std::str::from_utf8(&bytes)?;
    let body = text.find('\n').map_or(text.len(), |i| i + 1);
    let w = workers();
    let mut cuts = vec![body];
    for k in 1..w {
        let at = (body + (text.len() - body) * k / w).max(*cuts.last().unwrap_or(&body));
        cuts.push(text[at..].find('\n').map_or(text.len(), |i| at + i + 1));
    }
    cuts.push(text.len());
    let parts: Vec<Vec<Row>> = std::thread::scope(|s| {
        let handles: Vec<_> = cuts.windows(2).map(|r| s.spawn(move || parse(&text[r[0]..r[1]], r[0]))).collect();
        handles.into_iter().map(|h| h.join().expect("a parser panicked")).collect::<Result<Vec<_>>>()
    })?;
    drop(bytes);
    let max = parts.iter().flatten().map(|r| r.profile as usize).max().unwrap_or(0);
    let mut count = vec![0usize; max + 2];
    for r in parts.iter().flatten() {
        count[r.profile as usize + 1] += 1;
    }
    for i in 1..count.len() {
        count[i] += count[i - 1];
    }
    let n = count[max + 1];
    let mut next = count.clone();
    let mut rows = vec![blank(Kind::SignedUp, 0, 0); n];
    for r in parts.into_iter().flatten() {
        let slot = &mut next[r.profile as usize];
        rows[*slot] = r;
        *slot += 1;
    }
    let mut ids = Vec::new();
    let mut starts = Vec::new();
    for p in 0..=max {
        if count[p + 1] > count[p] {
            ids.push(p as u32);
            starts.push(count[p]);
        }
    }
    starts.push(n);
    Ok(Grouped { rows, ids, starts })
}

/// A row as the engine reads a stored message: its properties (or traits) as JSON.
fn observed(r: &Row) -> Observed {
    let category = || Value::from(CATEGORIES[r.category as usize]);
    match r.kind {
        Kind::Identify => {
            let mut traits = Map::new();
            if r.country != NONE {
                traits.insert("country".into(), COUNTRIES[r.country as usize].into());
            }
            if r.plan != NONE {
                traits.insert("plan".into(), PLANS[r.plan as usize].into());
            }
            Observed::identify(r.seq, r.ts, Value::Object(traits))
        }
        Kind::Viewed | Kind::Added => Observed::track(
            r.seq,
            r.kind.name(),
            r.ts,
            json!({"product_id": r.product, "category": category(), "price": r.amount}),
        ),
        Kind::Ordered => {
            let mut props = Map::new();
            props.insert("product_id".into(), r.product.into());
            props.insert("category".into(), category());
            if !r.amount.is_nan() {
                props.insert("revenue".into(), r.amount.into());
            }
            Observed::track(r.seq, r.kind.name(), r.ts, Value::Object(props))
        }
        Kind::Opened | Kind::Clicked => Observed::track(r.seq, r.kind.name(), r.ts, json!({"campaign": r.campaign})),
        Kind::SignedUp => Observed::track(r.seq, r.kind.name(), r.ts, Value::Null),
    }
}

fn input(rows: &[Row]) -> ProfileInput {
    ProfileInput::new(rows.iter().map(observed).collect())
}

/// Where the build's time went, summed over the threads.
#[derive(Default)]
struct Split {
    /// Turning rows into messages with JSON properties (as a read of the log does).
    messages: AtomicU64,
    /// `build_state`.
    states: AtomicU64,
    /// Dropping the messages.
    drops: AtomicU64,
    /// `Engine::install`, on the main thread.
    install: AtomicU64,
}

impl Split {
    fn add(counter: &AtomicU64, since: Instant) -> Instant {
        let now = Instant::now();
        counter.fetch_add((now - since).as_nanos() as u64, Ordering::Relaxed);
        now
    }

    fn seconds(counter: &AtomicU64) -> f64 {
        counter.load(Ordering::Relaxed) as f64 / 1e9
    }
}

/// Builds every profile's state as of T on every core and installs them in
/// one engine, as the server's rebuild does.
fn build(compiled: &std::sync::Arc<Compiled>, tz: &TimeZone, g: &Grouped, split: &Split) -> Result<Engine> {
    const CHUNK: usize = 1_024;
    let mut engine = Engine::with_compiled(compiled.clone(), tz.clone());
    let next = AtomicUsize::new(0);
    let total = g.ids.len();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(u32, ProfileState)>>(workers() * 2);
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..workers() {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move || {
                loop {
                    let from = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if from >= total {
                        return;
                    }
                    let built = (from..(from + CHUNK).min(total))
                        .map(|i| {
                            let t = Instant::now();
                            let history = input(g.history(i));
                            let t = Split::add(&split.messages, t);
                            let state = build_state(compiled, tz, &history, T);
                            let t = Split::add(&split.states, t);
                            drop(history);
                            Split::add(&split.drops, t);
                            (g.ids[i], state)
                        })
                        .collect();
                    if tx.send(built).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let (mut done, mut logged) = (0usize, Instant::now());
        for built in rx {
            let t = Instant::now();
            for (id, state) in built {
                engine.install(ProfileId(i64::from(id)), state)?;
                done += 1;
            }
            Split::add(&split.install, t);
            if logged.elapsed() >= Duration::from_secs(5) {
                logged = Instant::now();
                eprintln!("building: {done} of {total} profiles");
            }
        }
        Ok(())
    })?;
    Ok(engine)
}

fn workspace() -> Result<Workspace> {
    let (ws, diags) = check_workspace(&[SourceFile::new("backfill.tidings", RULES)], None);
    ensure!(diags.is_empty(), "the rules do not check: {diags:?}");
    Ok(ws)
}

fn memory(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let kb: u64 = s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.2} GB", kb as f64 / 1e6))
        })
        .unwrap_or_else(|| "?".into())
}

/// The process's CPU time so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name: the state (field 3), ..., utime (14), stime (15), in clock ticks.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn read_ids(path: &Path) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut ids = text.lines().map(str::parse).collect::<Result<Vec<u32>, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// Why a profile differs: its history and what the reference evaluator says.
fn explain_difference(ws: &Workspace, g: &Grouped, key: &str, id: u32) {
    let Ok(i) = g.ids.binary_search(&id) else {
        println!("  profile {id}: not in the log");
        return;
    };
    let history = input(g.history(i));
    let reference = tidings_engine::evaluate(ws, &history, T, &TimeZone::UTC);
    println!("  profile {id}: the reference evaluator says member = {}; history:", reference.is_member(key));
    for m in &history.messages {
        let at = jiff::Timestamp::from_microsecond(m.timestamp).map_or(m.timestamp.to_string(), |t| t.to_string());
        let body = if m.properties.is_null() { serde_json::to_string(&m.traits) } else { Ok(m.properties.to_string()) };
        println!("    {at} {:?} {} {}", m.kind, m.name.as_deref().unwrap_or(""), body.unwrap_or_default());
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir =
        args.dir.clone().unwrap_or_else(std::env::temp_dir).join(format!("tidings-backfill-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join("events.csv");
    let t = Instant::now();
    let n = generate(&csv, args.events, args.profiles)?;
    println!(
        "{n} messages of {} profiles ({} MB CSV) generated in {:.1} s; as of {}",
        args.profiles,
        std::fs::metadata(&csv)?.len() / 1_000_000,
        t.elapsed().as_secs_f64(),
        jiff::Timestamp::from_microsecond(T)?
    );

    let ws = workspace()?;
    let compiled = std::sync::Arc::new(Compiled::new(&ws)?);
    let keys: Vec<String> = compiled.segment_keys().map(str::to_string).collect();
    let tz = TimeZone::UTC;
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let grouped = read_grouped(&csv)?;
    let (read_s, read_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let rss_read = memory("VmRSS:");
    eprintln!("read and grouped {} profiles in {read_s:.2} s", grouped.ids.len());
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let split = Split::default();
    let engine = build(&compiled, &tz, &grouped, &split)?;
    let (build_s, build_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let our_s = read_s + build_s;
    let rss = memory("VmRSS:");
    let ours: Vec<Vec<u32>> =
        keys.iter().map(|k| engine.members(k).map(|b| b.iter().collect()).unwrap_or_default()).collect();
    drop(engine);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/backfill_duckdb.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&csv)
        .arg(T.to_string())
        .arg(&dir)
        .output()
        .context("python3 (pip install duckdb)")?;
    ensure!(out.status.success(), "DuckDB side failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let seconds = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let (load_s, query_s) = (seconds("load_seconds"), seconds("query_seconds"));
    let answered: Vec<&str> = v["segments"].as_array().context("segments")?.iter().filter_map(Value::as_str).collect();
    ensure!(answered == keys, "DuckDB answered {answered:?}, the rules are {keys:?}");

    println!("{:<20} {:>9} {:>9}  agree", "segment", "Tidings", "DuckDB");
    let mut disagree = 0;
    for (key, ours) in keys.iter().zip(&ours) {
        let theirs = read_ids(&dir.join(format!("{key}.csv")))?;
        let same = *ours == theirs;
        println!("{key:<20} {:>9} {:>9}  {}", ours.len(), theirs.len(), if same { "yes" } else { "NO" });
        if !same {
            disagree += 1;
            let only_ours: Vec<u32> = ours.iter().filter(|i| theirs.binary_search(i).is_err()).copied().collect();
            let only_theirs: Vec<u32> = theirs.iter().filter(|i| ours.binary_search(i).is_err()).copied().collect();
            println!("  only Tidings: {} {:?}", only_ours.len(), &only_ours[..only_ours.len().min(5)]);
            println!("  only DuckDB:  {} {:?}", only_theirs.len(), &only_theirs[..only_theirs.len().min(5)]);
            for &id in only_ours.iter().take(1).chain(only_theirs.iter().take(1)) {
                explain_difference(&ws, &grouped, key, id);
            }
        }
    }
    println!(
        "answers agree with DuckDB: {}",
        if disagree == 0 { "yes, all 20 segments".to_string() } else { format!("NO, {disagree} segments differ") }
    );
    println!(
        "Tidings: read + group {read_s:.2} s, build + install {build_s:.2} s:  {our_s:>7.2} s  \
         (CPU {read_cpu:.1} + {build_cpu:.1} s; RSS after reading {rss_read}, after building {rss}, peak {})",
        memory("VmHWM:")
    );
    println!(
        "  build, summed over threads: messages {:.1} s, build_state {:.1} s, dropping messages {:.1} s; install {:.1} s",
        Split::seconds(&split.messages),
        Split::seconds(&split.states),
        Split::seconds(&split.drops),
        Split::seconds(&split.install)
    );
    println!(
        "DuckDB: load CSV {load_s:.2} s + SQL {query_s:.2} s:              {:>7.2} s  (CPU {:.1} + {:.1} s; peak RSS {:.2} GB)",
        load_s + query_s,
        seconds("load_cpu_seconds"),
        seconds("query_cpu_seconds"),
        seconds("peak_rss_gb")
    );
    println!(
        "ratio Tidings / DuckDB (load + query): {:.2}; / query alone: {:.2}; build alone / query alone: {:.2}",
        our_s / (load_s + query_s),
        our_s / query_s,
        build_s / query_s
    );
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(disagree == 0, "the two disagree");
    Ok(())
}
