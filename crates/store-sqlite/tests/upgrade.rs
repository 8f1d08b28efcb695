//! A data folder made by an older release opens, migrates in place and reads
//! back whole: each `tests/upgrade/vN.sql` is a `sqlite3 .dump` of a store
//! `tidings_store::upgrade::fill` made when schema N was the newest. Never
//! make an old dump again; a new migration adds a dump beside them
//! (`TIDINGS_BLESS=1 cargo test -p tidings-store-sqlite --test upgrade`
//! writes the one for today's schema, with the `sqlite3` command).

use std::path::Path;
use tidings_store::Store;
use tidings_store_sqlite::{Durability, Mode, SqliteStore};

#[test]
fn every_older_schema_upgrades_in_place() {
    if std::env::var_os("TIDINGS_BLESS").is_some() {
        bless();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upgrade");
    for dump in tidings_store::upgrade::dumps(&dir) {
        let dir = tempfile::tempdir().unwrap();
        let sql = std::fs::read_to_string(&dump).unwrap();
        rusqlite::Connection::open(dir.path().join("tidings.db")).unwrap().execute_batch(&sql).unwrap();
        let store = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Process)
            .unwrap_or_else(|e| panic!("{} does not open: {e}", dump.display()));
        tidings_store::upgrade::check(&store);
        drop(store);
        // And again, now that it is migrated.
        let store = SqliteStore::open(dir.path(), Mode::ReadOnly, Durability::Process).unwrap();
        assert!(store.workspace_by_name("shop").unwrap().is_some());
    }
}

fn bless() {
    let dir = tempfile::tempdir().unwrap();
    let version = {
        let store = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).unwrap();
        tidings_store::upgrade::fill(&store);
        rusqlite::Connection::open(dir.path().join("tidings.db"))
            .unwrap()
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get::<_, String>(0))
            .unwrap()
    };
    let out = std::process::Command::new("sqlite3")
        .arg(dir.path().join("tidings.db"))
        .arg(".dump")
        .output()
        .expect("blessing needs the sqlite3 command (apt-get install sqlite3)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/upgrade/v{version}.sql"));
    if !path.exists() {
        std::fs::write(&path, out.stdout).unwrap();
        eprintln!("wrote {}", path.display());
    }
}
