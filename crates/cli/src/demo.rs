//! `tidings demo`: the product on a simulated shop. Everything here is a
//! SIMULATION: the people, their behaviour and their reactions come from the
//! deterministic simulator in `tidings-testkit`, driven by a simulated clock
//! that runs weeks in seconds through the same ingest path as the server.
//!
//! The real parts run on it, in one process: the server (ingest, tracking
//! endpoints, admin API) on a local port, the live segment engine, the
//! automation runner (journeys, policies, rendering, delivery to .eml files
//! or an SMTP server), all on a simulated clock that moves an hour at a time.
//! Each hour: the people's reactions to earlier email go through the
//! tracking endpoints (open pixel, signed click links, one-click
//! unsubscribe) at their own times; the hour's behaviour is ingested; the
//! engine catches up ([`tidings_node::Node::sync`]); the runner does its round
//! ([`tidings_node::Node::step`]) and what it sent is handed to the
//! simulated people, who react later.
//!
//! The experiment: half the known people (by a hash of their id) get the
//! behavioural journeys, the other half one generic newsletter a week
//! (Tuesdays 10:00 UTC). Each person's arm is a trait (`experiment_arm`)
//! and an `Experiment Viewed` exposure, so `tidings experiments report`
//! measures it like any other experiment.

use crate::config;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use tidings_model::SimClock;
use tidings_model::message::{Envelope, parse_message};
use tidings_model::time::format_time;
use tidings_model::{KeyKind, Message, keys};
use tidings_render::SigningKeys;
use tidings_server::AppState;
use tidings_store::{Outcome, Store};
use tidings_store_sqlite::{Durability, Mode, SqliteStore};
use tidings_testkit::{HOUR, SimConfig, Simulation};

/// The demo's keys: fixed, so the report is the same on every run. Demo data only.
pub const DEMO_WRITE_KEY: &str = "demo-write-key";
pub const DEMO_ADMIN_KEY: &str = "demo-admin-key";
/// Marks a folder the demo made, so that it may replace it.
const MARKER: &str = ".tidings-demo";
/// The PostgreSQL schema of `--postgres` runs.
const PG_SCHEMA: &str = "tidings_demo";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Simulated people.
    #[arg(long, default_value_t = 10_000)]
    pub profiles: u32,
    /// Simulated days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed of the simulation: the same seed gives the same shop, people and report.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The data folder to create (replaced if an earlier demo made it).
    #[arg(long, default_value = "./tidings-demo")]
    pub data: PathBuf,
    /// Also write every simulated message to this NDJSON file (for tests and benchmarks).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Deliver to this SMTP server (smtp://host:port) instead of .eml files in DATA/mail.
    #[arg(long)]
    pub smtp: Option<String>,
    /// Run on PostgreSQL (a URL like postgres://postgres@127.0.0.1:5432/postgres) instead of
    /// SQLite in the data folder. The demo's data goes to the schema `tidings_demo` of that
    /// database, which is dropped and made again on each run; the folder's tidings.toml
    /// points there, so `tidings serve --data DATA` and the reports read it.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The demo's tracking-link key: fixed, so the .eml files are the same on every run. Demo data only.
const DEMO_SIGNING_KEY: &str = "demo-signing-key-for-simulated-data-only-0001";
/// The demo's experiment: behavioural journeys vs one generic weekly newsletter.
pub const EXPERIMENT: &str = "behavioural_vs_newsletter";
/// Attribution: an order within this long after a click (else a human open) counts for that email (last touch).
const ATTRIBUTION: i64 = 5 * tidings_testkit::DAY;

/// The arm of a simulated person in the demo's experiment: half get the
/// behavioural journeys, half the weekly newsletter, by a hash of their id.
fn arm(user_id: &str) -> &'static str {
    let d = sha2::Sha256::digest(format!("{EXPERIMENT}:{user_id}").as_bytes());
    if d[0] & 1 == 0 { "journeys" } else { "newsletter" }
}

/// What the demo remembers of a sent message, to send its reactions through the tracking endpoints.
struct Outgoing {
    profile: tidings_model::ProfileId,
    message_id: String,
    links: Vec<String>,
}

pub fn run(a: DemoArgs) -> Result<()> {
    if a.profiles == 0 || a.days == 0 {
        bail!("--profiles and --days must be at least 1");
    }
    prepare_folder(&a.data, a.postgres.as_deref())?;
    let started = std::time::Instant::now();
    let store: Arc<dyn Store> = match &a.postgres {
        Some(url) => Arc::new(tidings_store_postgres::PostgresStore::recreate(url, PG_SCHEMA).with_context(|| {
            format!("--postgres {url}: is PostgreSQL running there, and may this user create a schema?")
        })?),
        None => Arc::new(SqliteStore::open(&a.data, Mode::ReadWrite, Durability::Process)?),
    };
    let cfg = SimConfig::new(a.seed, a.profiles, tidings_testkit::DEFAULT_START, a.days);
    let mut sim = Simulation::new(cfg);
    let start = sim.clock();
    let clock = Arc::new(SimClock::new(start));
    let ws = store.create_workspace("default", start)?.id;
    store.add_key(ws, KeyKind::Write, &keys::hash(DEMO_WRITE_KEY), "demo", start)?;
    store.add_key(ws, KeyKind::Admin, &keys::hash(DEMO_ADMIN_KEY), "demo", start)?;
    let mut export = match &a.export {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let defs = crate::workspace::load(&a.data, None)?;
    let signing = SigningKeys::new(vec![DEMO_SIGNING_KEY.as_bytes().to_vec()])
        .map_err(|e| anyhow::anyhow!("the demo signing key: {e}"))?;
    let config = crate::config::Config::load(&a.data)?;
    let (transport, described) = crate::mail::transport(&a.data, &config, clock.clone(), a.smtp.as_deref())?;
    // Links point where `tidings serve --data DIR` listens by default, and the
    // folder keeps the demo's signing key, so the .eml files' links work there.
    let public = "http://127.0.0.1:7411".to_string();
    std::fs::write(a.data.join("tracking.key"), DEMO_SIGNING_KEY)?;
    let sender = tidings_automation::Sender {
        from: tidings_render::Mailbox::new(Some("Example Shop (simulated)"), "shop@example.com")?,
        envelope_from: None,
        tracking_base: public.clone(),
        keys: Arc::new(signing.clone()),
        dkim: None,
        message_id_domain: "shop.example.com".into(),
    };
    let parse = |rule: &str| tidings_rules::parse_condition(rule).map_err(|e| anyhow::anyhow!("{rule}: {e:?}"));
    let assets = defs.assets(Some(parse(r#"trait experiment_arm == "journeys""#)?));
    let newsletter_audience = parse(r#"trait experiment_arm == "newsletter""#)?;
    // The whole product under the simulated clock: the engine takes in what
    // was appended when the loop syncs it, the runner does a round when the
    // loop steps it.
    let tenant = tidings_node::TenantSettings {
        workspace: ws,
        rules: Some(defs.rules.clone()),
        default_tz: jiff::tz::TimeZone::UTC,
        journeys: Some(tidings_node::Journeys { assets, sender, transport, webhooks: Default::default() }),
        topics: defs.topics(),
        definitions: None,
        predictions: None,
        signing: None,
    };
    let node = tidings_node::Node::start(
        tidings_node::Settings { tenants: vec![tenant], manual: true, cluster: None },
        store.clone(),
        clock.clone(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = AppState::new(node.clone()).with_signing(signing.clone());
    let ingest = node.ingest().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(tidings_server::serve(listener, app, async {
        let _ = stop_rx.await;
    }));
    let step = |now| node.step(ws, now).unwrap_or_else(|| Ok(Default::default()));
    let mut client = tidings_testkit::http::Client::new(addr);

    let hours = u64::from(a.days) * 24;
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(hours) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} simulating [{bar:30}] day {msg} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let (mut stored, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let mut line = Vec::new();
    let mut reactions: std::collections::BinaryHeap<std::cmp::Reverse<(i64, u64, usize)>> = Default::default();
    let mut pending: Vec<Option<(tidings_testkit::Reaction, usize)>> = Vec::new();
    let mut outgoing: Vec<Outgoing> = Vec::new();
    let mut arms: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut tally = Tally::default();
    let mut phases = Phases::default();
    for h in 1..=hours {
        let mut lap = std::time::Instant::now();
        let until = start + h as i64 * HOUR;
        // Reactions to earlier email, at their own times, through the tracking endpoints.
        while let Some(std::cmp::Reverse((at, _, i))) = reactions.peek().copied() {
            if at > until {
                break;
            }
            reactions.pop();
            clock.advance_to(at);
            if let Some((r, o)) = pending[i].take() {
                react(&mut client, &signing, &public, ws, &outgoing[o], &r, &mut tally)?;
            }
        }
        phases.add(0, &mut lap);
        clock.advance_to(until);
        let msgs = sim.advance_to(until);
        phases.add(1, &mut lap);
        let mut batch: Vec<Message> = Vec::with_capacity(msgs.len());
        for m in &msgs {
            line.clear();
            m.write_line(&mut line);
            if let Some(w) = export.as_mut() {
                w.write_all(&line)?;
            }
            let mut value: serde_json::Value =
                serde_json::from_slice(&line).context("the simulator wrote invalid JSON")?;
            // The experiment: each known person's arm, as a trait and as an exposure.
            if let Some(uid) = m.user_id() {
                let arm = *arms.entry(uid.clone()).or_insert_with(|| arm(&uid));
                if value["type"] == "identify" {
                    value["traits"]["experiment_arm"] = serde_json::Value::String(arm.into());
                    if tally.exposed.insert(uid.clone()) {
                        let exposure = tidings_model::Internal::ExperimentViewed {
                            experiment_id: EXPERIMENT.into(),
                            variation_id: arm.into(),
                            journey: None,
                            broadcast: None,
                            phase: None,
                        };
                        let who = tidings_model::Subject { user_id: Some(&uid), anonymous_id: None };
                        let id = format!("demo-exposure-{uid}");
                        let msg = exposure.into_message(who, id, m.timestamp, m.timestamp, "tidings-demo")?;
                        add(msg, &mut batch, &mut counts);
                    }
                }
            }
            push(&value.to_string(), m.timestamp, &mut batch, &mut counts, &mut rejected);
        }
        for chunk in batch.chunks(5_000) {
            let outcomes = ingest.append_blocking(ws, chunk.to_vec()).map_err(|e| anyhow::anyhow!(e))?;
            for o in &outcomes {
                match o {
                    Outcome::Stored { .. } => stored += 1,
                    Outcome::Duplicate => duplicates += 1,
                }
            }
        }
        phases.add(2, &mut lap);
        node.sync();
        phases.add(3, &mut lap);
        // The control arm: one generic newsletter a week, Tuesdays 10:00 UTC.
        let t = jiff::Timestamp::from_microsecond(until)?.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let mut report = tidings_automation::StepReport::default();
        if t.weekday() == jiff::civil::Weekday::Tuesday && t.hour() == 10 {
            let name = format!("newsletter-{}", t.date());
            let options = tidings_automation::BroadcastOptions::default();
            node.with_runner(ws, |a| {
                a.broadcast(&name, "newsletter", &newsletter_audience, &options, until, &mut report)
            })
            .transpose()?;
        }
        phases.add(6, &mut lap);
        for _ in 0..4 {
            let r = step(until)?;
            let idle = r.events == 0 && r.timers == 0 && r.sent.is_empty();
            merge(&mut report, r);
            node.sync();
            if idle {
                break;
            }
        }
        phases.add(4, &mut lap);
        for s in std::mem::take(&mut report.sent) {
            let email = sim_email(&s, sim.catalog());
            let o = outgoing.len();
            outgoing.push(Outgoing {
                profile: s.profile,
                message_id: s.message_id.clone(),
                links: s.email.links.urls.clone(),
            });
            tally.sent_by_source.entry(s.source.clone()).and_modify(|n| *n += 1).or_insert(1);
            if email.user_id.is_empty() {
                continue;
            }
            for r in sim.deliver(&email) {
                let i = pending.len();
                reactions.push(std::cmp::Reverse((r.at, i as u64, i)));
                pending.push(Some((r, o)));
            }
        }
        for (decision, source, reason) in report.reasons.drain(..) {
            *tally.reasons.entry((source, decision, generalize(&reason))).or_default() += 1;
        }
        phases.add(5, &mut lap);
        bar.set_position(h);
        bar.set_message(format!("{}/{}", h / 24 + 1, a.days));
    }
    bar.finish_and_clear();
    if let Some(mut w) = export {
        w.flush()?;
    }
    let _ = stop_tx.send(());
    let _ = runtime.block_on(server);
    node.sync();
    let sizes: Vec<(String, u64)> = {
        let live = &node.tenant(ws).context("the demo's workspace runs")?.live;
        let engine = live.engine.read();
        defs.rules.segments().map(|s| (s.key.clone(), engine.members(&s.key).map_or(0, |b| b.len()))).collect()
    };
    let automation_timing = node.with_runner(ws, |a| a.timing).unwrap_or_default();
    node.shutdown();
    drop(node);
    let stats = store.stats(ws)?;
    let outcomes = crate::report::outcomes(store.as_ref(), ws, ATTRIBUTION)?;
    let elapsed = started.elapsed();
    print!(
        "{}",
        report(&a, &sim, start, &counts, stats, stored, duplicates, rejected, &sizes, &tally, &outcomes, &described)
    );
    drop(store);
    drop(runtime);
    println!(
        "\nThe experiment ({EXPERIMENT}): orders within 30 days of joining, behavioural journeys vs the weekly newsletter"
    );
    crate::experiments::run(crate::experiments::ExperimentsArgs {
        command: crate::experiments::ExperimentsCommand::Report(crate::experiments::ReportArgs {
            experiment: EXPERIMENT.into(),
            data: a.data.clone(),
            workspace: None,
            control: Some("newsletter".into()),
            metric: "Order Completed".into(),
            window: "30d".into(),
            value: Some("revenue".into()),
            by: Vec::new(),
            by_segment: false,
            format: "text".into(),
            quiet: true,
        }),
    })?;
    if !a.quiet {
        eprintln!("(the demo took {:.0} s: {})", elapsed.as_secs_f64(), phases.describe());
        let t = automation_timing;
        eprintln!(
            "(automation: log and journeys {:.1} s, timers {:.1} s, delivery {:.1} s, recording {:.1} s)",
            t[0].as_secs_f64(),
            t[1].as_secs_f64(),
            t[2].as_secs_f64(),
            t[3].as_secs_f64()
        );
    }
    Ok(())
}

/// Parses one simulated message and adds it to `batch`.
fn push(text: &str, at: i64, batch: &mut Vec<Message>, counts: &mut BTreeMap<String, u64>, rejected: &mut u64) {
    // Received when it happened: the simulated clock is the server's clock.
    let env = Envelope { received_at: at, sent_at: None, default_type: None };
    match parse_message(text, &env, &mut tidings_model::message::new_message_id) {
        Ok(msg) => add(msg, batch, counts),
        Err(_) => *rejected += 1,
    }
}

/// Counts one message by type and name and adds it to `batch`.
fn add(msg: Message, batch: &mut Vec<Message>, counts: &mut BTreeMap<String, u64>) {
    let name = msg.event.clone().unwrap_or_else(|| msg.kind.as_str().to_string());
    *counts.entry(format!("{} {name}", msg.kind.as_str())).or_default() += 1;
    batch.push(msg);
}

fn merge(into: &mut tidings_automation::StepReport, r: tidings_automation::StepReport) {
    into.events += r.events;
    into.entered += r.entered;
    into.timers += r.timers;
    into.enqueued += r.enqueued;
    into.skipped += r.skipped;
    into.deferred += r.deferred;
    into.retried += r.retried;
    into.failed += r.failed;
    into.sent.extend(r.sent);
    into.reasons.extend(r.reasons);
}

/// A reason without its particulars (time zones, counts), for counting.
fn generalize(reason: &str) -> String {
    match reason.find(" in ") {
        Some(i) if reason.starts_with("quiet hours") => reason[..i].to_string(),
        _ => reason.to_string(),
    }
}

/// The email as the simulated person sees it: the products its links show, in link order.
fn sim_email(s: &tidings_automation::Sent, catalog: &tidings_testkit::Catalog) -> tidings_testkit::Email {
    let products: Vec<String> = s
        .email
        .links
        .urls
        .iter()
        .filter_map(|u| u.split("/products/").nth(1))
        .map(|id| id.trim_end_matches('/').to_string())
        .collect();
    let mut categories: Vec<String> =
        products.iter().filter_map(|id| catalog.product(id)).map(|p| p.category.to_string()).collect();
    categories.sort();
    categories.dedup();
    let incentive = ["COMEBACK10", "WELCOME10", "THANKYOU10", "VIP10"].iter().any(|c| s.email.html.contains(c));
    tidings_testkit::Email {
        user_id: s.user_id.clone().unwrap_or_default(),
        at: s.at,
        label: s.template.clone(),
        topic: s.email.topic.clone().unwrap_or_default(),
        products,
        categories,
        incentive,
    }
}

/// Sends one reaction through the tracking endpoints, as a mail client would.
fn react(
    client: &mut tidings_testkit::http::Client,
    keys: &SigningKeys,
    public: &str,
    ws: tidings_model::WorkspaceId,
    o: &Outgoing,
    r: &tidings_testkit::Reaction,
    tally: &mut Tally,
) -> Result<()> {
    use tidings_testkit::ReactionKind;
    let signer = tidings_render::LinkSigner::new(public, keys, ws, &o.message_id, o.profile);
    let path = |url: String| url.strip_prefix(public).map(str::to_string).unwrap_or(url);
    let response = match &r.kind {
        ReactionKind::Open { user_agent, .. } => {
            client.request("GET", &path(signer.open_url()), None, &[("User-Agent", user_agent)], b"")?
        }
        ReactionKind::Click { product_id, .. } => {
            let target = match product_id {
                Some(p) => o.links.iter().position(|u| u.contains(&format!("/products/{p}"))),
                None => o
                    .links
                    .iter()
                    .position(|u| u.trim_end_matches('/') == tidings_testkit::SHOP_URL.trim_end_matches('/')),
            }
            .or(if o.links.is_empty() { None } else { Some(0) });
            let Some(i) = target else { return Ok(()) };
            client.get(&path(signer.click_url(i as u32, &o.links[i])), None)?
        }
        ReactionKind::Unsubscribe => client.request(
            "POST",
            &path(signer.unsubscribe_url()),
            None,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"List-Unsubscribe=One-Click",
        )?,
        ReactionKind::Purchase { .. } => return Ok(()),
    };
    if response.status >= 400 {
        tally.refused += 1;
    }
    Ok(())
}

/// Where the demo's time goes, for `--verbose` runs and profiling.
#[derive(Default)]
struct Phases([std::time::Duration; 7]);

impl Phases {
    fn add(&mut self, i: usize, lap: &mut std::time::Instant) {
        self.0[i] += lap.elapsed();
        *lap = std::time::Instant::now();
    }
    fn describe(&self) -> String {
        let names = ["reactions over HTTP", "simulation", "ingest", "engine", "automation", "hand-over", "broadcasts"];
        names.iter().zip(self.0).map(|(n, d)| format!("{n} {:.1} s", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
    }
}

/// What the demo counts while it runs.
#[derive(Default)]
struct Tally {
    exposed: std::collections::BTreeSet<String>,
    sent_by_source: BTreeMap<String, u64>,
    /// (source, decision, reason) → count.
    reasons: BTreeMap<(String, String, String), u64>,
    /// Tracking requests the server refused (should be none).
    refused: u64,
}

/// Creates an empty data folder, replacing one an earlier demo made; with
/// `postgres`, its configuration names the demo's schema there.
fn prepare_folder(dir: &std::path::Path, postgres: Option<&str>) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!("{} exists and was not made by `tidings demo`; choose another folder with --data", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    config::create_private_dir(dir)?;
    std::fs::write(dir.join(MARKER), "made by `tidings demo`; it replaces this folder on its next run\n")?;
    for (path, text) in crate::init::PLAYBOOK {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, text)?;
    }
    config::write_example(dir)?;
    let path = dir.join(config::FILE_NAME);
    let mut text = std::fs::read_to_string(&path)?;
    text = text.replacen(
        "[workspace]\n",
        &format!("[workspace]\n# Demo keys (a simulation; never use these for real data).\nwrite_key = \"{DEMO_WRITE_KEY}\"\nadmin_key = \"{DEMO_ADMIN_KEY}\"\n"),
        1,
    );
    if let Some(url) = postgres {
        let url = toml::Value::String(url.to_string());
        text = text.replacen(
            "[storage]\n",
            &format!("[storage]\n# The demo's data (`tidings demo --postgres`).\npostgres_url = {url}\npostgres_schema = \"{PG_SCHEMA}\"\n"),
            1,
        );
    }
    std::fs::write(&path, text)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &DemoArgs,
    sim: &Simulation,
    start: i64,
    counts: &BTreeMap<String, u64>,
    stats: tidings_store::StoreStats,
    stored: u64,
    duplicates: u64,
    rejected: u64,
    sizes: &[(String, u64)],
    tally: &Tally,
    o: &crate::report::Outcomes,
    mail: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Tidings demo: a SIMULATED shop (seed {}), not real people or data", a.seed);
    let _ = writeln!(
        out,
        "{} simulated people over {} days, {} to {}\n",
        a.profiles,
        a.days,
        format_time(start),
        format_time(sim.clock())
    );
    let _ = writeln!(
        out,
        "Ingest: {stored} messages stored ({} of them experiment exposures), {duplicates} duplicates, {rejected} rejected; {} profiles after identity joins",
        tally.exposed.len(),
        stats.profiles
    );
    let activity: u64 =
        counts.iter().filter(|(k, _)| k.starts_with("track ") || k.starts_with("page")).map(|(_, v)| v).sum();
    let _ = writeln!(
        out,
        "  {activity} simulated page views and events; {} log entries in all (with the engine's and the sender's)\n",
        stats.events
    );

    let _ = writeln!(out, "Segments (live, exact; size now, and how many entered and left over the run):");
    let _ = writeln!(out, "  {:<22} {:>8} {:>9} {:>8}", "segment", "members", "entered", "exited");
    for (key, size) in sizes {
        let (entered, exited) = o.segment_movement.get(key).copied().unwrap_or_default();
        let _ = writeln!(out, "  {key:<22} {size:>8} {entered:>9} {exited:>8}");
    }

    let _ = writeln!(
        out,
        "\nEmail by journey (rates per email sent; human opens only, machine opens apart).\nConversions and revenue, {}:",
        o.method
    );
    crate::report::rates_table(&mut out, "sent by", &o.by_journey);
    let _ = writeln!(out, "\nThe same by the segments the recipient was in when the email was sent:");
    crate::report::rates_table(&mut out, "segment", &o.by_segment);

    let _ = writeln!(out, "\nSends not made now, and why (journey, decision, reason):");
    let mut reasons: Vec<(&(String, String, String), &u64)> = tally.reasons.iter().collect();
    reasons.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    for ((source, decision, reason), n) in reasons.iter().take(14) {
        let _ = writeln!(out, "  {n:>6}  {source:<38} {decision:<5} {reason}");
    }
    if reasons.len() > 14 {
        let _ = writeln!(
            out,
            "  ... and {} more kinds (tidings profile explain USER_ID shows each person's)",
            reasons.len() - 14
        );
    }
    if tally.refused > 0 {
        let _ = writeln!(
            out,
            "  {} tracking requests were refused (a bug: every link the demo follows is signed)",
            tally.refused
        );
    }
    let _ = writeln!(out, "\nMail went to {mail}.");
    let _ = writeln!(out, "\nWhere to look next:");
    let _ = writeln!(
        out,
        "  tidings serve --data {} --clock {}   (the API as of the simulation's end; admin key {DEMO_ADMIN_KEY})",
        a.data.display(),
        format_time(sim.clock())
    );
    let _ = writeln!(out, "  curl -H 'Authorization: Bearer {DEMO_ADMIN_KEY}' localhost:7411/api/segments");
    let _ = writeln!(
        out,
        "  tidings profile explain u000001 --data {}   (what was sent to one person, and why not)",
        a.data.display()
    );
    let _ = writeln!(out, "  ls {}/mail   (the .eml files: real, personal emails with signed links)", a.data.display());
    out
}
