use crate::tidings;

#[test]
fn segments_eval_prints_sorted_members_as_of_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = [
        r#"{"type":"identify","userId":"b","traits":{"country":"DE"},"timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"type":"track","userId":"b","event":"Product Added","timestamp":"2026-01-01T10:00:00Z"}"#,
        r#"{"type":"track","userId":"a","event":"Product Added","timestamp":"2026-01-01T10:30:00Z"}"#,
        r#"{"type":"track","userId":"a","event":"Order Completed","properties":{"revenue":30},"timestamp":"2026-01-01T10:40:00Z"}"#,
        r#"{"type":"track","anonymousId":"anon-c","event":"Product Added","timestamp":"2026-01-03T09:00:00Z"}"#,
    ];
    std::fs::write(d.join("e.ndjson"), events.join("\n")).unwrap();
    let data = d.join("data");
    assert!(
        tidings(&["import", "-q", "--data", data.to_str().unwrap(), d.join("e.ndjson").to_str().unwrap()])
            .status
            .success()
    );
    let rules = d.join("r.rules");
    std::fs::write(
        &rules,
        "segment abandoned { did \"Product Added\" then not \"Order Completed\" within 1h in last 3d }\n\
         segment germans { trait country == \"DE\" }\n",
    )
    .unwrap();
    let eval = |as_of: &str, extra: &[&str]| {
        let mut args = vec![
            "segments",
            "eval",
            "-q",
            "--data",
            data.to_str().unwrap(),
            "--definitions",
            rules.to_str().unwrap(),
            "--as-of",
            as_of,
        ];
        args.extend(extra);
        let out = tidings(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // Before the hour has passed, b's cart is not yet abandoned; the trait exists from the start.
    assert_eq!(eval("2026-01-01T10:59:59Z", &[]), "germans,b\n");
    // Exactly an hour later it is; a bought within the hour.
    assert_eq!(eval("2026-01-01T11:00:00Z", &[]), "abandoned,b\ngermans,b\n");
    // Later: the anonymous visitor's cart counts too, by its anonymous id; b's falls out of the 3-day window.
    assert_eq!(eval("2026-01-05T12:00:00Z", &["--segment", "abandoned"]), "abandoned,anon-c\n");
    // Before anything happened, nobody is anything.
    assert_eq!(eval("2025-12-31T00:00:00Z", &[]), "");
    let bad = tidings(&[
        "segments",
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--definitions",
        rules.to_str().unwrap(),
        "--segment",
        "nope",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no segment \"nope\""));
    let explain = tidings(&[
        "segments",
        "explain",
        "abandoned",
        "b",
        "--data",
        data.to_str().unwrap(),
        "--definitions",
        rules.to_str().unwrap(),
        "--as-of",
        "2026-01-01T11:00:00Z",
    ]);
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(text.starts_with("yes segment abandoned"), "{text}");
}
