//! `tidings keys`: workspaces and their keys.

use crate::config::Config;
use crate::open::{open_store, workspace};
use anyhow::{Result, bail};
use std::path::PathBuf;
use tidings_model::time::format_time;
use tidings_model::{Clock, KeyKind, WallClock, keys};
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    /// The data folder.
    #[arg(long, default_value = "./tidings-data", global = true)]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// List keys (never the keys themselves, which are stored hashed).
    List {
        /// Only this workspace's keys.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Create a key and print it once.
    Create {
        /// `write` (ingest only) or `admin` (the admin API).
        #[arg(long, value_parser = ["write", "admin"])]
        kind: String,
        /// The workspace [default: the configured default workspace].
        #[arg(long)]
        workspace: Option<String>,
        /// A note to recognise the key by.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke a key by the id `keys list` shows; it stops working at once.
    Revoke {
        /// The key's id, from `tidings keys list`.
        id: i64,
    },
    /// List workspaces.
    Workspaces,
    /// Create a workspace with a new write key and admin key.
    CreateWorkspace {
        /// Lower-case letters, digits and _, starting with a letter.
        name: String,
    },
}

pub fn run(args: KeysArgs) -> Result<()> {
    let config = Config::load(&args.data)?;
    let store = open_store(&args.data, &config, Mode::ReadWrite)?;
    let now = WallClock.now();
    match args.command {
        KeysCommand::List { workspace: name } => {
            let ws = name.map(|n| workspace(store.as_ref(), &n)).transpose()?;
            let names: std::collections::HashMap<_, _> =
                store.workspaces()?.into_iter().map(|w| (w.id, w.name)).collect();
            println!("{:>5}  {:<12} {:<6} {:<22} {:<10} label", "id", "workspace", "kind", "created", "state");
            for k in store.keys(ws)? {
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                let ws_name = names.get(&k.workspace).map_or("?", String::as_str);
                let created = format_time(k.created_at);
                println!(
                    "{:>5}  {:<12} {:<6} {:<22} {:<10} {}",
                    k.id,
                    ws_name,
                    k.kind.as_str(),
                    created,
                    state,
                    k.label
                );
            }
        }
        KeysCommand::Create { kind, workspace: name, label } => {
            let kind = KeyKind::parse(&kind).expect("clap checked the kind");
            let ws = workspace(store.as_ref(), name.as_deref().unwrap_or(config.workspace_name()))?;
            let key = keys::generate(kind);
            let rec = store.add_key(ws, kind, &keys::hash(&key), &label, now)?;
            println!("{} key {} (shown this once): {key}", kind.as_str(), rec.id);
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_key(id, now)? {
                bail!("no active key with id {id}; `tidings keys list` shows them");
            }
            println!("revoked key {id}");
        }
        KeysCommand::Workspaces => {
            for w in store.workspaces()? {
                println!("{:>5}  {:<20} created {}", w.id, w.name, format_time(w.created_at));
            }
        }
        KeysCommand::CreateWorkspace { name } => {
            if !tidings_rules::is_valid_key(&name) {
                bail!("workspace names are lower-case letters, digits and _, starting with a letter");
            }
            let w = store.create_workspace(&name, now)?;
            let write = keys::generate(KeyKind::Write);
            let admin = keys::generate(KeyKind::Admin);
            store.add_key(w.id, KeyKind::Write, &keys::hash(&write), "created with the workspace", now)?;
            store.add_key(w.id, KeyKind::Admin, &keys::hash(&admin), "created with the workspace", now)?;
            println!("created workspace {name:?} (id {}); keys shown this once:", w.id);
            println!("  write key: {write}");
            println!("  admin key: {admin}");
            let dir = args.data.join(crate::serve::WORKSPACES_DIR).join(&name);
            println!(
                "its definitions, mail settings and link key go in {} (`tidings init {0}` writes the starter set); \
                 `tidings serve` runs it as a workspace of its own",
                dir.display()
            );
        }
    }
    Ok(())
}
