//! Connection settings and migrations.

use crate::{Durability, db_err};
use rusqlite::{Connection, OptionalExtension};
use tidings_store::{Result, StoreError};

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_snapshots.sql"),
    include_str!("../migrations/0003_timers.sql"),
    include_str!("../migrations/0004_outbox.sql"),
    include_str!("../migrations/0005_journey_instances.sql"),
    include_str!("../migrations/0006_partitions.sql"),
    include_str!("../migrations/0007_cluster.sql"),
];

pub fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Process => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {sync};
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -32768;
         PRAGMA mmap_size = 1073741824;
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 0;"
    ))
    .map_err(db_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_err)?;
    Ok(())
}

fn version(conn: &Connection) -> Result<i64> {
    let has_meta: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'", [], |r| r.get(0))
        .optional()
        .map_err(db_err)?;
    if has_meta.is_none() {
        return Ok(0);
    }
    conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get::<_, String>(0))
        .optional()
        .map_err(db_err)
        .map(|v| v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// For read-only use: the schema must be exactly this binary's (a read-only
/// store cannot migrate an older one).
pub fn check_current(conn: &Connection) -> Result<()> {
    check_version(conn)?;
    let found = version(conn)?;
    if found < MIGRATIONS.len() as i64 {
        return Err(StoreError::Database(format!(
            "the data folder has schema version {found}, older than this binary's {}; run a command that writes \
             (`tidings serve`, `tidings import`) once to upgrade it",
            MIGRATIONS.len()
        )));
    }
    Ok(())
}

pub fn check_version(conn: &Connection) -> Result<()> {
    let found = version(conn)?;
    if found > MIGRATIONS.len() as i64 {
        return Err(StoreError::SchemaTooNew { found, supported: MIGRATIONS.len() as i64 });
    }
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> Result<()> {
    check_version(conn)?;
    let current = version(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            .map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(i + 1).to_string()],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        tracing::info!(version = i + 1, "applied sqlite migration");
    }
    Ok(())
}
