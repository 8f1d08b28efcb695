//! Checks across files: keys, references, cycles, events, dependency order.

use tidings_rules::*;

fn known(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn codes(diags: &[Diagnostic]) -> Vec<&str> {
    diags.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn definitions_come_in_dependency_order_across_files() {
    let files = [
        SourceFile::new(
            "b.tidings",
            "segment vip { in segment loyal and in stage lifecycle.customer }\n\
             stages lifecycle { customer: in segment buyers\n other: otherwise }",
        ),
        SourceFile::new(
            "a.tidings",
            "segment loyal { in segment buyers and did \"Order Completed\" at least 3 times }\n\
             segment buyers { did \"Order Completed\" }",
        ),
    ];
    let (ws, diags) = check_workspace(&files, Some(&known(&["Order Completed"])));
    assert!(diags.is_empty(), "{}", render_diagnostics(&diags, &files));
    let order: Vec<&str> = ws.definitions.iter().map(|r| r.definition.key()).collect();
    assert_eq!(order, ["buyers", "loyal", "lifecycle", "vip"]);
    let vip = ws.get("vip").unwrap();
    assert_eq!(vip.file, "b.tidings");
    assert_eq!(vip.depends_on, ["loyal", "lifecycle"]);
    assert_eq!(ws.segments().count(), 3);
    assert_eq!(ws.stage_sets().next().unwrap().key, "lifecycle");
    assert!(ws.segment("lifecycle").is_none());
    assert!(ws.stage_set("lifecycle").is_some());
}

#[test]
fn broken_definitions_and_their_dependents_are_left_out() {
    let files = [SourceFile::new(
        "f",
        "segment bad { did \"A\" in last 0d }\n\
         segment syntax { did did }\n\
         segment on_bad { in segment bad }\n\
         segment on_syntax { in segment syntax }\n\
         segment on_on_bad { in segment on_bad or subscribed }\n\
         segment good { subscribed }",
    )];
    let (ws, diags) = check_workspace(&files, None);
    // One error each for `bad` and `syntax`; references to them are not
    // reported again.
    assert_eq!(codes(&diags), ["E0201", "E0100"]);
    let keys: Vec<&str> = ws.definitions.iter().map(|r| r.definition.key()).collect();
    assert_eq!(keys, ["good"]);
}

#[test]
fn duplicate_keys_across_files_and_kinds() {
    let files =
        [SourceFile::new("one", "segment x { subscribed }"), SourceFile::new("two", "stages x { a: otherwise }")];
    let (ws, diags) = check_workspace(&files, None);
    assert_eq!(codes(&diags), ["E0300"]);
    assert_eq!(diags[0].file, "two");
    assert_eq!(diags[0].notes, ["first defined as segment `x` at one:1:9"]);
    assert_eq!(ws.definitions.len(), 1);
}

#[test]
fn cycles_are_reported_once_with_their_path() {
    let files = [SourceFile::new(
        "f",
        "segment a { in segment b }\nsegment b { in segment c }\nsegment c { in segment a }\n\
         segment d { in segment a }\nsegment e { subscribed }",
    )];
    let (ws, diags) = check_workspace(&files, None);
    assert_eq!(codes(&diags), ["E0304"]);
    assert_eq!(diags[0].message, "cycle between definitions: `a` → `b` → `c` → `a`");
    assert_eq!(diags[0].notes.len(), 2);
    let keys: Vec<&str> = ws.definitions.iter().map(|r| r.definition.key()).collect();
    assert_eq!(keys, ["e"]);
}

#[test]
fn unknown_events_are_warnings_with_suggestions() {
    let files =
        [SourceFile::new("f", "segment s { did \"order completed\" and did \"Email Opened\" since last \"Zzz\" }")];
    let (ws, diags) = check_workspace(&files, Some(&known(&["Order Completed"])));
    assert_eq!(codes(&diags), ["W0001", "W0001"]);
    assert_eq!(diags[0].help.as_deref(), Some("did you mean \"Order Completed\"?"));
    assert_eq!(diags[0].fix, Some(Fix { span: Span::new(16, 33), replacement: "\"Order Completed\"".into() }));
    assert!(diags[1].help.is_none());
    // Warnings do not keep a definition out.
    assert_eq!(ws.definitions.len(), 1);
    // Without a list of known events, event names are not checked.
    let (_, diags) = check_workspace(&files, None);
    assert!(diags.is_empty());
}

#[test]
fn conditions_outside_files_are_checked_against_the_workspace() {
    let files = [SourceFile::new("f", "segment loyal { subscribed }\nstages l { a: otherwise }")];
    let (ws, _) = check_workspace(&files, None);
    let c = parse_condition("in segment loyal and in stage l.a and did \"Order Completed\"").unwrap();
    assert!(ws.check_condition(&c, "journey", Some(&known(&["Order Completed"]))).is_empty());
    let c = parse_condition("in segment loyl or in stage l.b or did \"Nope\"").unwrap();
    let diags = ws.check_condition(&c, "journey", Some(&known(&["Order Completed"])));
    assert_eq!(codes(&diags), ["E0301", "E0303", "W0001"]);
    assert!(diags.iter().all(|d| d.file == "journey"));
}

#[test]
fn rendering_several_files() {
    let files = [
        SourceFile::new("one.tidings", "segment a { did \"A\" in last 7 }"),
        SourceFile::new("two.tidings", "\n\nsegment b { in segment c }"),
    ];
    let (_, diags) = check_workspace(&files, None);
    let text = render_diagnostics(&diags, &files);
    assert!(text.contains(" --> one.tidings:1:29\n"), "{text}");
    assert!(text.contains(" --> two.tidings:3:24\n"), "{text}");
    // A file the renderer was not given still gets a header.
    let text = render_diagnostics(&diags, &[]);
    assert!(text.contains(" --> two.tidings\n"), "{text}");
}

#[test]
fn diagnostics_serialize_for_the_api() {
    let (_, diags) = parse_file("f", "segment s { did \"A\" in last 7 }");
    let v = serde_json::to_value(&diags[0]).unwrap();
    assert_eq!(v["code"], "E0102");
    assert_eq!(v["severity"], "error");
    assert_eq!(v["fix"]["replacement"], "7d");
    let back: Diagnostic = serde_json::from_value(v).unwrap();
    assert_eq!(back, diags[0]);
}
