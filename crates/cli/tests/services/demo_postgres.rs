//! The whole product on PostgreSQL: the demo (ingest, the live engine with
//! the starter playbook, every journey, delivery, tracking, broadcasts, the
//! report and the experiment read back from the store) prints the same
//! report on PostgreSQL as on SQLite, line for line; and every command that
//! reads a data folder (`segments`, `profile`, `report`, `experiments`,
//! `predict`, `import`) prints the same on the two folders the demo left.

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
    commands_read_the_same(&dir.path().join("sqlite"), &dir.path().join("postgres"));
    crate::drop_schema("tidings_demo");
}

/// What a command printed: its output, or its error (the same on both
/// backends either way; five days of demo are too few for `predict`).
fn run(args: &[&str], data: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("NO_COLOR", "1")
        .output()
        .expect("run tidings");
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).to_string()
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr.lines().filter(|l| l.starts_with("error")).collect::<Vec<_>>().join("\n");
        assert!(!error.is_empty(), "tidings {} failed without an error line: {stderr}", args.join(" "));
        assert!(args[0] == "predict", "tidings {}: {stderr}", args.join(" "));
        error
    };
    // Times and rates are the machine's, not the data's.
    let text: String = text
        .lines()
        .map(|l| match (l.starts_with("imported "), l.split_once("): ")) {
            (true, Some((_, counts))) => format!("imported: {counts}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    text.replace(data.to_str().unwrap(), "DATA")
}

/// The commands a user runs on a data folder, on each backend's folder.
fn commands_read_the_same(sqlite: &std::path::Path, postgres: &std::path::Path) {
    // A known person in a segment: `segments eval` prints SEGMENT,ID lines.
    let eval = run(&["segments", "eval", "--quiet"], sqlite);
    let (segment, someone) = eval
        .lines()
        .filter_map(|l| l.split_once(','))
        .find(|(_, id)| id.starts_with('u'))
        .map(|(s, id)| (s.to_string(), id.to_string()))
        .expect("a known member of some segment");
    let import = sqlite.parent().unwrap().join("late.ndjson");
    std::fs::write(
        &import,
        format!(
            "{}\n{}\n",
            r#"{"type":"identify","userId":"late-1","traits":{"email":"late@example.com"},"timestamp":"2026-01-02T00:00:00Z","messageId":"late-a"}"#,
            r#"{"type":"track","userId":"late-1","event":"Order Completed","properties":{"revenue":12},"timestamp":"2026-01-02T01:00:00Z","messageId":"late-b"}"#
        ),
    )
    .unwrap();
    let import = import.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["segments", "eval", "--quiet"],
        vec!["segments", "members", &segment, "--quiet"],
        vec!["segments", "explain", &segment, &someone],
        vec!["profile", "show", &someone],
        vec!["profile", "explain", &someone],
        vec!["report"],
        vec!["experiments", "report", "behavioural_vs_newsletter", "--control", "newsletter"],
        vec!["experiments", "learnings"],
        vec!["predict"],
        vec!["import", "--quiet", import],
        vec!["import", "--quiet", import],
        vec!["profile", "show", "late-1"],
    ];
    for args in commands {
        let (a, b) = (run(&args, sqlite), run(&args, postgres));
        for (x, y) in a.lines().zip(b.lines()) {
            assert_eq!(x, y, "tidings {}: the first line that differs between SQLite and PostgreSQL", args.join(" "));
        }
        assert_eq!(a.lines().count(), b.lines().count(), "tidings {}:\n{a}\n---\n{b}", args.join(" "));
    }
}
