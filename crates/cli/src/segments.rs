//! `tidings segments eval|explain|members`: segments evaluated from stored
//! events as of any time, by the reference evaluator (the definition, read
//! directly), without touching live state. `eval` prints one
//! `segment_key,user_id` line per member, sorted, and nothing else on
//! standard output (the contract in spec/segments.md).

use crate::check::rule_files;
use crate::config::Config;
use crate::history::for_each_profile;
use crate::open::{open_store, workspace};
use anyhow::{Context, Result, bail};
use jiff::tz::TimeZone;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use tidings_engine::ProfileInput;
use tidings_model::time::parse_time;
use tidings_model::{Clock, Micros, WallClock};
use tidings_rules::{check_workspace, has_errors, render_diagnostics};
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct SegmentsArgs {
    #[command(subcommand)]
    pub command: SegmentsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SegmentsCommand {
    /// Print `segment_key,user_id` for every member as of a time, sorted, from stored events.
    Eval(EvalArgs),
    /// Show, part by part, whether a profile meets a segment's rule and the evidence.
    Explain(ExplainArgs),
    /// List a segment's members now (or as of a time), one user id per line.
    Members(MembersArgs),
}

#[derive(clap::Args, Debug)]
pub struct Common {
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// The definitions: a *.rules file or a folder of them [default: the data folder].
    #[arg(long)]
    pub definitions: Option<PathBuf>,
    /// Evaluate as of this time (RFC 3339): later events and traits do not exist yet [default: now].
    #[arg(long)]
    pub as_of: Option<String>,
    /// The workspace [default: the configured default workspace].
    #[arg(long)]
    pub workspace: Option<String>,
    /// The time zone for profiles without a `timezone` trait.
    #[arg(long, default_value = "UTC")]
    pub default_tz: String,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only these segments (repeatable) [default: all].
    #[arg(long = "segment")]
    pub segments: Vec<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The segment (or stage set) key.
    pub key: String,
    /// A user id or an anonymous id.
    pub user_id: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
pub struct MembersArgs {
    /// The segment key.
    pub key: String,
    #[command(flatten)]
    pub common: Common,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: SegmentsArgs) -> Result<()> {
    match a.command {
        SegmentsCommand::Eval(e) => eval(e.common, e.segments, e.quiet),
        SegmentsCommand::Members(m) => members(m),
        SegmentsCommand::Explain(x) => explain(x),
    }
}

struct Setup {
    store: std::sync::Arc<dyn tidings_store::Store>,
    ws: tidings_model::WorkspaceId,
    rules: tidings_rules::Workspace,
    now: Micros,
    tz: TimeZone,
}

fn setup(c: &Common) -> Result<Setup> {
    let now = match &c.as_of {
        Some(t) => parse_time(t).with_context(|| format!("--as-of {t:?} is not an RFC 3339 time"))?,
        None => WallClock.now(),
    };
    let tz = TimeZone::get(&c.default_tz)
        .with_context(|| format!("--default-tz {:?} is not an IANA time zone (e.g. Europe/Berlin)", c.default_tz))?;
    let config = Config::load(&c.data)?;
    let store = open_store(&c.data, &config, Mode::ReadOnly)?;
    let ws = workspace(store.as_ref(), c.workspace.as_deref().unwrap_or(config.workspace_name()))?;
    let defs: &Path = c.definitions.as_deref().unwrap_or(&c.data);
    if !defs.exists() {
        bail!("{} does not exist; give --definitions FILE", defs.display());
    }
    let files = rule_files(defs)?;
    if files.is_empty() {
        bail!("no *.rules files under {}; give --definitions FILE", defs.display());
    }
    let known = store.event_names(ws)?;
    let (rules, diags) = check_workspace(&files, Some(&known));
    if !diags.is_empty() {
        eprintln!("{}", render_diagnostics(&diags, &files));
    }
    if has_errors(&diags) {
        bail!("the definitions have errors; fix them (see above) and run again");
    }
    Ok(Setup { store, ws, rules, now, tz })
}

fn eval(c: Common, only: Vec<String>, quiet: bool) -> Result<()> {
    let s = setup(&c)?;
    for k in &only {
        if s.rules.segment(k).is_none() {
            let known: Vec<&str> = s.rules.segments().map(|x| x.key.as_str()).collect();
            bail!("no segment {k:?} in the definitions; they have {}", known.join(", "));
        }
    }
    let (rules, now, tz) = (&s.rules, s.now, &s.tz);
    let mut lines: Vec<String> = for_each_profile(&s.store, s.ws, quiet, |p, history| {
        let id = p.display_id()?;
        let input = ProfileInput::from_stored(history);
        let e = tidings_engine::reference::evaluate(rules, &input, now, tz);
        let keys: Vec<String> = e
            .members()
            .filter(|k| only.is_empty() || only.iter().any(|o| o == k))
            .map(|k| format!("{k},{id}"))
            .collect();
        Some(keys)
    })?
    .into_iter()
    .flatten()
    .collect();
    lines.sort_unstable();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(())
}

fn members(m: MembersArgs) -> Result<()> {
    let s = setup(&m.common)?;
    if s.rules.segment(&m.key).is_none() {
        bail!("no segment {:?} in the definitions", m.key);
    }
    let (rules, now, tz, key) = (&s.rules, s.now, &s.tz, m.key.as_str());
    let mut ids: Vec<String> = for_each_profile(&s.store, s.ws, m.quiet, |p, history| {
        let e = tidings_engine::reference::evaluate(rules, &ProfileInput::from_stored(history), now, tz);
        if !e.is_member(key) {
            return None;
        }
        p.display_id()
    })?;
    ids.sort_unstable();
    for id in &ids {
        println!("{id}");
    }
    eprintln!("{} members", ids.len());
    Ok(())
}

fn explain(x: ExplainArgs) -> Result<()> {
    let s = setup(&x.common)?;
    let Some(p) = s.store.find_profile(s.ws, &x.user_id)? else {
        bail!("no profile with user id or anonymous id {:?}", x.user_id);
    };
    let history = s.store.profile_history(s.ws, p.id)?;
    let input = ProfileInput::from_stored(&history);
    let Some(e) = tidings_engine::explain::explain(&s.rules, &x.key, &input, s.now, &s.tz) else {
        let known: Vec<String> = s.rules.definitions.iter().map(|d| d.definition.key().to_string()).collect();
        bail!("no segment or stage set {:?}; the definitions have {}", x.key, known.join(", "));
    };
    print!("{e}");
    Ok(())
}
