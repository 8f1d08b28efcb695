//! The whole product on PostgreSQL: the demo (ingest, the live engine with
//! the starter playbook, every journey, delivery, tracking, broadcasts, the
//! report and the experiment read back from the store) prints the same
//! report on PostgreSQL as on SQLite, line for line.

use std::process::Command;
use tidings_testkit::services::postgres_url;

fn demo(data: &std::path::Path, postgres: Option<&str>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tidings"));
    c.args(["demo", "--quiet", "--profiles", "400", "--days", "5", "--seed", "3", "--data"]).arg(data);
    if let Some(url) = postgres {
        c.args(["--postgres", url]);
    }
    let out = c.env("NO_COLOR", "1").output().expect("run tidings demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).replace(data.to_str().unwrap(), "DATA")
}

pub fn the_demo_reports_the_same_on_postgres_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let on_sqlite = demo(&dir.path().join("sqlite"), None);
    let on_postgres = demo(&dir.path().join("postgres"), Some(&postgres_url()));
    assert!(on_sqlite.contains("journey:cart_abandonment"), "{on_sqlite}");
    for (a, b) in on_sqlite.lines().zip(on_postgres.lines()) {
        assert_eq!(a, b, "the first line that differs");
    }
    assert_eq!(on_sqlite.lines().count(), on_postgres.lines().count());
    crate::drop_schema("tidings_demo");
}
