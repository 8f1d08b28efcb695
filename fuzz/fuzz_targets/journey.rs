//! Journey files from arbitrary text: parsing and checking against a
//! workspace's rules may report diagnostics inside the file, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_rules::{SourceFile, check_workspace};

fuzz_target!(|text: &str| {
    let rules = [SourceFile::new("s.rules", "segment loyal { did \"Order Completed\" at least 3 times }\n")];
    let (workspace, _) = check_workspace(&rules, None);
    let file = SourceFile::new("j.toml", text);
    let names = vec!["welcome".to_string()];
    let (_, diags) = tidings_journeys::check_journeys(&[file], &workspace, Some(&names), None);
    for d in diags.iter().filter(|d| d.file == "j.toml") {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?}");
    }
});
