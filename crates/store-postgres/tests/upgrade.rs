//! A database made by an older release opens, migrates in place and reads
//! back whole: each `tests/upgrade/vN.sql` is a `pg_dump --inserts` of a
//! store `tidings_store::upgrade::fill` made in the schema `upgrade_vN` when
//! schema version N was the newest. Never make an old dump again; a new
//! migration adds a dump beside them (`TIDINGS_BLESS=1 cargo test -p
//! tidings-store-postgres --test upgrade` writes the one for today's
//! schema, with `pg_dump`). `harness = false`: see `tidings_testkit::services`.

use std::path::Path;
use tidings_store_postgres::PostgresStore;
use tidings_testkit::services::{self, Harness, Need};

/// The dump without psql's meta-commands (`\\restrict`, ...): plain SQL.
fn sql_only(dump: &str) -> String {
    dump.lines().filter(|l| !l.starts_with('\\')).map(|l| format!("{l}\n")).collect()
}

fn client() -> postgres::Client {
    postgres::Client::connect(&services::postgres_url(), postgres::NoTls).expect("PostgreSQL is required")
}

fn every_older_schema_upgrades_in_place() {
    if std::env::var_os("TIDINGS_BLESS").is_some() {
        bless();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upgrade");
    for dump in tidings_store::upgrade::dumps(&dir) {
        let version = dump.file_stem().unwrap().to_str().unwrap().to_string();
        let schema = format!("upgrade_{version}");
        let mut c = client();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).unwrap();
        c.batch_execute(&sql_only(&std::fs::read_to_string(&dump).unwrap()))
            .unwrap_or_else(|e| panic!("{} does not load: {e:?}", dump.display()));
        let store = PostgresStore::open(&services::postgres_url(), Some(&schema))
            .unwrap_or_else(|e| panic!("{} does not open: {e}", dump.display()));
        tidings_store::upgrade::check(&store);
        drop(store);
        c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
    }
}

fn bless() {
    let version = PostgresStore::SCHEMA_VERSION;
    let schema = format!("upgrade_v{version}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/upgrade/v{version}.sql"));
    if path.exists() {
        return;
    }
    client().batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).unwrap();
    {
        let store = PostgresStore::open(&services::postgres_url(), Some(&schema)).unwrap();
        tidings_store::upgrade::fill(&store);
    }
    let out = std::process::Command::new("pg_dump")
        .args(["--schema", &schema, "--inserts", "--no-owner", "--no-privileges", &services::postgres_url()])
        .output()
        .expect("blessing needs pg_dump (apt-get install postgresql-client)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&path, sql_only(&String::from_utf8_lossy(&out.stdout))).unwrap();
    client().batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
    eprintln!("wrote {}", path.display());
}

fn main() -> std::process::ExitCode {
    let mut tests = Harness::from_args();
    tests.add("every_older_schema_upgrades_in_place", Need::Postgres, every_older_schema_upgrades_in_place);
    tests.run()
}
