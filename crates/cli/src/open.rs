//! Opening the store a data folder's configuration names, and making sure
//! the default workspace and its keys exist.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::Arc;
use tidings_model::{Clock, KeyKind, WorkspaceId, keys};
use tidings_store::Store;
use tidings_store_sqlite::{Durability, Mode, SqliteStore};

/// Opens the configured store: PostgreSQL when a URL is set, else SQLite in `dir`.
pub fn open_store(dir: &Path, config: &Config, mode: Mode) -> Result<Arc<dyn Store>> {
    if let Some(url) = &config.storage.postgres_url {
        let store = tidings_store_postgres::PostgresStore::open(url, config.storage.postgres_schema.as_deref())
            .context("check [storage] postgres_url in tidings.toml (or TIDINGS_STORAGE__POSTGRES_URL)")?;
        return Ok(Arc::new(store));
    }
    let durability = match config.storage.durability.as_deref() {
        None | Some("full") => Durability::Full,
        Some("process") => Durability::Process,
        Some(other) => bail!("[storage] durability = {other:?}: use \"full\" or \"process\""),
    };
    if mode == Mode::ReadOnly && !dir.join("tidings.db").exists() {
        bail!("{} holds no Tidings data yet; import events or run `tidings serve --data {0}` first", dir.display());
    }
    Ok(Arc::new(SqliteStore::open(dir, mode, durability)?))
}

/// Keys generated at this start, to be shown once.
pub struct NewKeys {
    pub write: String,
    pub admin: String,
}

/// The default workspace, created (with keys from the configuration, or new
/// ones) when missing; configured keys are added when not yet known.
pub fn ensure_workspace(
    store: &dyn Store,
    config: &Config,
    clock: &dyn Clock,
) -> Result<(WorkspaceId, Option<NewKeys>)> {
    let name = config.workspace_name();
    let now = clock.now();
    let (ws, created) = match store.workspace_by_name(name)? {
        Some(w) => (w.id, false),
        None => (store.create_workspace(name, now)?.id, true),
    };
    let configured = [(KeyKind::Write, &config.workspace.write_key), (KeyKind::Admin, &config.workspace.admin_key)];
    let mut any_configured = false;
    for (kind, key) in configured {
        if let Some(key) = key {
            check_strength(kind, key)?;
            any_configured = true;
            let hash = keys::hash(key);
            match store.find_key(&hash)? {
                Some(k) if k.workspace == ws && k.kind == kind => {}
                Some(_) => bail!(
                    "the configured {} key belongs to another workspace or kind; configure a different key",
                    kind.as_str()
                ),
                None => {
                    store.add_key(ws, kind, &hash, "configured", now)?;
                }
            }
        }
    }
    if created && !any_configured {
        let write = keys::generate(KeyKind::Write);
        let admin = keys::generate(KeyKind::Admin);
        store.add_key(ws, KeyKind::Write, &keys::hash(&write), "generated at first start", now)?;
        store.add_key(ws, KeyKind::Admin, &keys::hash(&admin), "generated at first start", now)?;
        return Ok((ws, Some(NewKeys { write, admin })));
    }
    Ok((ws, None))
}

/// The shortest configured key accepted, and the fewest distinct characters in it.
pub const MIN_KEY_LENGTH: usize = 12;
pub const MIN_KEY_DISTINCT: usize = 8;

/// Refuses a configured key that is easy to guess: shorter than
/// [`MIN_KEY_LENGTH`], or made of fewer than [`MIN_KEY_DISTINCT`] different
/// characters. (Generated keys are 64 random hex digits.)
pub fn check_strength(kind: KeyKind, key: &str) -> Result<()> {
    let distinct = key.chars().collect::<std::collections::HashSet<_>>().len();
    if key.chars().count() < MIN_KEY_LENGTH || distinct < MIN_KEY_DISTINCT {
        bail!(
            "the configured {} key is too weak ({} characters, {distinct} different): use at least {MIN_KEY_LENGTH} \
             characters, {MIN_KEY_DISTINCT} of them different, or leave it unset and let tidings generate one \
             (`tidings keys create --kind {}` makes another)",
            kind.as_str(),
            key.chars().count(),
            kind.as_str()
        );
    }
    Ok(())
}

/// The workspace named `name`, or an error that says how to list them.
pub fn workspace(store: &dyn Store, name: &str) -> Result<WorkspaceId> {
    match store.workspace_by_name(name)? {
        Some(w) => Ok(w.id),
        None => bail!("no workspace named {name:?}; `tidings keys workspaces` lists them"),
    }
}
