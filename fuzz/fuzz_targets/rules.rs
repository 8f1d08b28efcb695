//! Parses and checks arbitrary UTF-8: nothing may panic, hang or overflow the
//! stack, and whatever parses cleanly must print to text that parses to the
//! same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_rules::{SourceFile, check_workspace, parse_condition, parse_file, render_diagnostics};

fuzz_target!(|text: &str| {
    let files = [SourceFile::new("fuzz.tidings", text)];
    let known = vec!["Order Completed".to_string(), "Product Viewed".to_string()];
    let (_, diags) = check_workspace(&files, Some(&known));
    for d in &diags {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len());
    }
    let _ = render_diagnostics(&diags, &files);

    if let Ok(c) = parse_condition(text) {
        let printed = c.to_string();
        let again = parse_condition(&printed).expect("printed condition parses");
        assert_eq!(again.without_spans(), c.without_spans());
    }

    let (file, diags) = parse_file("fuzz.tidings", text);
    if diags.is_empty() {
        let printed = file.to_string();
        let (again, diags) = parse_file("printed.tidings", &printed);
        assert!(diags.is_empty(), "printed file has diagnostics: {diags:?}");
        assert_eq!(again.without_spans(), file.without_spans());
    }
});
