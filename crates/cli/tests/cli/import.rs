use crate::{ADMIN_KEY, free_addr, serve, tidings};
use std::io::Write;
use tidings_testkit::http::{Client, bearer};

#[test]
fn import_reports_bad_lines_with_file_and_line_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plain = dir.path().join("events.ndjson");
    std::fs::write(
        &plain,
        concat!(
            r#"{"type":"identify","userId":"u1","traits":{"email":"a@example.com"},"timestamp":"2026-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"type":"track","userId":"u1","event":"Order Completed","properties":{"revenue":20}}"#,
            "\n\n",
            "{oops\n",
            r#"{"type":"track","userId":"u1"}"#,
            "\n",
            r#"{"type":"track","anonymousId":"a9","event":"Product Viewed","messageId":"pv-1"}"#,
            "\n",
        ),
    )
    .unwrap();
    let gz = dir.path().join("more.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    writeln!(enc, r#"{{"type":"alias","previousId":"a9","userId":"u1","timestamp":"2026-01-02T00:00:00Z"}}"#).unwrap();
    enc.finish().unwrap();

    let args = ["import", "--quiet", "--data", data.to_str().unwrap(), plain.to_str().unwrap(), gz.to_str().unwrap()];
    let out = tidings(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("events.ndjson:4:"), "bad JSON line located: {stderr}");
    assert!(stderr.contains("events.ndjson:5:") && stderr.contains("missing_event"), "{stderr}");
    assert!(stdout.contains("4 stored, 0 duplicates, 2 rejected"), "{stdout}");

    // Again: lines without a messageId get one derived from their text, so nothing is stored twice.
    let out = tidings(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 stored, 4 duplicates, 2 rejected"), "{stdout}");

    // The server sees the joined profile.
    let addr = free_addr();
    let mut server = serve(&data, addr);
    let mut c = Client::new(addr);
    let p = c.get("/api/profiles/a9", Some(&bearer(ADMIN_KEY))).unwrap().json();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(p["user_id"], "u1", "{p}");
    assert_eq!(p["traits"]["email"], "a@example.com");
}

#[test]
fn import_refuses_missing_files_and_a_folder_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = tidings(&["import", "--data", dir.path().to_str().unwrap(), "/nonexistent.ndjson"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a file"));

    let addr = free_addr();
    let mut server = serve(dir.path(), addr);
    let f = dir.path().join("e.ndjson");
    std::fs::write(&f, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"}\n").unwrap();
    let out = tidings(&["import", "--data", dir.path().to_str().unwrap(), f.to_str().unwrap()]);
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another tidings process"));
}
