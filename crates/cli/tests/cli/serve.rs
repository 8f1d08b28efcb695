use crate::{BIN, free_addr, tidings};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tidings_testkit::http::{Client, basic, bearer};

#[test]
fn serve_starts_on_an_empty_folder_and_prints_new_keys_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let addr = free_addr();
    let start = || {
        Command::new(BIN)
            .args(["serve", "--data", data.to_str().unwrap(), "--listen", &addr.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut keys = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.split_whitespace().last().filter(|k| k.starts_with("tdw_") || k.starts_with("tda_")) {
            keys.push(k.to_string());
        }
        if line.contains("listening") {
            break;
        }
    }
    assert_eq!(keys.len(), 2, "a write key and an admin key are printed");
    let (write, admin) = (&keys[0], &keys[1]);
    let mut c = Client::new(addr);
    let r = c.post("/v1/identify", Some(&basic(write)), br#"{"userId":"u","traits":{"a":1}}"#).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/api/profiles/u", Some(&bearer(admin))).unwrap().json()["traits"]["a"], 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(data.join("tidings.toml").exists(), "a commented example configuration is written");

    // The second start prints no keys: they were shown once and are stored hashed.
    let mut child = start();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("listening"), "{first}");
    let db = std::fs::read(data.join("tidings.db")).unwrap();
    assert!(!db.windows(write.len()).any(|w| w == write.as_bytes()), "keys are stored hashed");
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["import", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["check", "--help"],
        vec!["render", "--help"],
        vec!["report", "--help"],
        vec!["send-test", "--help"],
        vec!["demo", "--help"],
        vec!["init", "--help"],
        vec!["segments", "eval", "--help"],
        vec!["profile", "explain", "--help"],
        vec!["predict", "--help"],
        vec!["experiments", "report", "--help"],
    ] {
        let out = tidings(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn keys_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = tidings(&["keys", "--data", d, "create-workspace", "shop2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tidings(&["keys", "--data", d, "create", "--kind", "write", "--workspace", "shop2", "--label", "ci"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("tdw_"), "{text}");
    let list = String::from_utf8_lossy(&tidings(&["keys", "--data", d, "list"]).stdout).to_string();
    assert!(list.contains("ci") && list.contains("shop2"), "{list}");
    assert!(!list.contains("tdw_"), "the list never shows keys");
    let id = text.split_whitespace().nth(2).unwrap();
    assert!(tidings(&["keys", "--data", d, "revoke", id]).status.success());
    let out = tidings(&["keys", "--data", d, "revoke", id]);
    assert!(!out.status.success(), "revoking twice says so");
    let out = tidings(&["keys", "--data", d, "create", "--kind", "write", "--workspace", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workspace named"));
}

#[test]
fn check_reports_located_errors_in_rules_and_journeys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("segments.rules"), "segment carts { did \"Product Added\" in last 2d }\n").unwrap();
    std::fs::create_dir_all(d.join("journeys")).unwrap();
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("templates/cart_reminder.mjml"),
        "---\nsubject: Your cart\n---\n<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>\n",
    )
    .unwrap();
    let journey = "key = \"cart\"\n[trigger]\nsegment_entered = \"carts\"\n[[step]]\nwait = \"1h\"\n[[step]]\nsend = \"cart_reminder\"\n";
    std::fs::write(d.join("journeys/cart.toml"), journey).unwrap();
    let out = tidings(&["check", d.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 segment(s), 0 stage set(s), 1 journey(s), 1 template(s)"));

    std::fs::write(
        d.join("journeys/cart.toml"),
        journey.replace("\"carts\"", "\"cartz\"").replace("cart_reminder", "cart_remind"),
    )
    .unwrap();
    let out = tidings(&["check", d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cart.toml:3:") && err.contains("no segment \"cartz\""), "{err}");
    assert!(err.contains("no template \"cart_remind\""), "{err}");
    assert!(err.contains("2 error(s)"), "{err}");

    // A template with a Liquid error is named, with the parser's message.
    std::fs::write(d.join("journeys/cart.toml"), journey).unwrap();
    std::fs::write(
        d.join("templates/broken.mjml"),
        "---\nsubject: Hi\n---\n<mjml><mj-body>\n{% if %}\n</mj-body></mjml>\n",
    )
    .unwrap();
    let out = tidings(&["check", d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("broken.mjml") && err.contains("Value expected"), "{err}");
}

#[test]
fn init_writes_a_playbook_that_checks_clean_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("ws");
    let out = tidings(&["init", d.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tidings(&["check", d.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "no warnings either: {stderr}");
    assert!(stdout.contains("10 segment(s), 1 stage set(s), 9 journey(s)"), "{stdout}");
    let again = tidings(&["init", d.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has segments.rules"));
}

#[test]
fn render_prints_a_personal_message_and_send_test_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(tidings(&["init", d]).status.success());
    let json = dir.path().join("p.json");
    std::fs::write(&json, r#"{"first_name": "Zoë", "email": "zoe@example.com", "segments": ["loyal"]}"#).unwrap();
    let out = tidings(&["render", "cart_reminder", "--data", d, "--profile-json", json.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eml = String::from_utf8_lossy(&out.stdout);
    for h in [
        "Subject: ",
        "List-Unsubscribe: <http://127.0.0.1:7411/u/",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ] {
        assert!(eml.contains(h), "{h} in {eml}");
    }
    let text =
        tidings(&["render", "cart_reminder", "--data", d, "--profile-json", json.to_str().unwrap(), "--part", "text"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("Zoë"));
    let missing = tidings(&["render", "no_such", "--data", d]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no template \"no_such\""));
    let sent = tidings(&["send-test", "welcome_1", "--to", "me@example.com", "--data", d]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail")).unwrap().collect();
    assert_eq!(files.len(), 1);
}
