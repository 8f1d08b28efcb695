//! `tidings profile show|explain USER_ID`: a profile as the data folder holds
//! it, and what Tidings did with it: messages sent, deferred or skipped (with
//! the policy's reason), and journeys.

use crate::config::Config;
use crate::open::{open_store, workspace};
use anyhow::{Result, bail};
use std::path::PathBuf;
use tidings_model::time::format_time;
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub command: ProfileCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ProfileCommand {
    /// Ids, traits, first and last seen, and the latest events.
    Show(Target),
    /// Why messages were or were not sent: the outbox, policy decisions and journeys.
    Explain(Target),
}

#[derive(clap::Args, Debug)]
pub struct Target {
    /// A user id or an anonymous id.
    pub user_id: String,
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// The workspace [default: the configured default workspace].
    #[arg(long)]
    pub workspace: Option<String>,
}

pub fn run(a: ProfileArgs) -> Result<()> {
    let (t, explain) = match &a.command {
        ProfileCommand::Show(t) => (t, false),
        ProfileCommand::Explain(t) => (t, true),
    };
    let config = Config::load(&t.data)?;
    let store = open_store(&t.data, &config, Mode::ReadOnly)?;
    let ws = workspace(store.as_ref(), t.workspace.as_deref().unwrap_or(config.workspace_name()))?;
    let Some(p) = store.find_profile(ws, &t.user_id)? else {
        bail!("no profile with user id or anonymous id {:?}; check the id and --workspace", t.user_id);
    };
    println!("profile {}", p.user_id.as_deref().unwrap_or("(anonymous)"));
    println!("  user ids:      {}", p.user_ids.join(", "));
    println!("  anonymous ids: {}", p.anonymous_ids.join(", "));
    if let Some((first, last)) = store.activity_bounds(ws, p.id)? {
        println!("  first seen {}, last seen {}", format_time(first), format_time(last));
    }
    if !explain {
        println!("  traits:");
        for (k, v) in &p.traits.values {
            println!("    {k} = {v}");
        }
        println!("  latest events:");
        for e in store.profile_events(ws, p.id, None, 20)? {
            println!("    {}  {:<9} {}", format_time(e.timestamp), e.kind.as_str(), e.event.as_deref().unwrap_or(""));
        }
        return Ok(());
    }
    let outbox = store.outbox_for_profile(ws, p.id, 100)?;
    println!("\nmessages ({}):", outbox.len());
    for m in &outbox {
        let when = m.sent_at.map_or_else(|| format!("due {}", format_time(m.not_before)), format_time);
        println!(
            "  {:<8} {:<24} {:<34} {} (attempts {}){}",
            m.status.as_str(),
            m.template,
            m.source,
            when,
            m.attempts,
            m.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        );
    }
    let decisions = store.decisions_for_profile(ws, p.id, 100)?;
    println!("\npolicy decisions ({}), newest first:", decisions.len());
    for d in &decisions {
        println!("  {}  {:<6} {:<40} {}", format_time(d.at), d.decision, d.key, d.reason);
    }
    let journeys = store.instances_for_profile(ws, p.id)?;
    println!("\njourneys ({}):", journeys.len());
    for j in &journeys {
        let state = if j.done { "done" } else { "running" };
        println!("  {:<24} entry {} since {}  {state}", j.journey, j.entry, format_time(j.entered_at));
    }
    Ok(())
}
