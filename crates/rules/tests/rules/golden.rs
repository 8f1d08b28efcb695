//! Golden diagnostics: each `tests/golden/NAME.rules` is checked as a
//! one-file workspace and its rendered diagnostics compared with
//! `NAME.txt`. Run with `BLESS=1` to rewrite the expected files after a
//! deliberate change, then review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use tidings_rules::{SourceFile, check_workspace, render_diagnostics};

/// The event names the golden workspace has received.
const KNOWN_EVENTS: &[&str] = &["Product Viewed", "Product Added", "Checkout Started", "Order Completed"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The rendered diagnostics for one file.
fn render(name: &str, text: &str) -> String {
    let files = [SourceFile::new(name, text)];
    let known: Vec<String> = KNOWN_EVENTS.iter().map(|s| s.to_string()).collect();
    let (_, diags) = check_workspace(&files, Some(&known));
    render_diagnostics(&diags, &files)
}

#[test]
fn golden_diagnostics() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} golden cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(case).unwrap();
        let actual = render(&name, &text);
        assert!(!actual.is_empty(), "{name} produced no diagnostics");
        let expected_path = case.with_extension("txt");
        if bless {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!("--- {name}: expected ---\n{expected}\n--- {name}: actual ---\n{actual}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (rerun with BLESS=1 to accept):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
