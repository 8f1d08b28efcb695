//! `tidings serve` on a folder made by `tidings init` (the starter segments,
//! journeys and templates loaded), on SQLite and on PostgreSQL: it starts,
//! ingests, keeps segments live, records their changes in the profile's
//! history, serves the definitions, the preference center (a page read and
//! a choice saved through a signed link) and the dashboard, and after a
//! kill -9 starts again with the same memberships. (On PostgreSQL this once panicked at start: the
//! runner was built inside the async runtime.)

use crate::{ADMIN_KEY, BIN, Stopped, WRITE_KEY, drop_schema, free_addr, serve_with};
use serde_json::json;
use std::time::{Duration, Instant};
use tidings_testkit::http::{Client, basic, bearer};
use tidings_testkit::services::postgres_url;

pub fn the_starter_playbook_serves_on_sqlite() {
    run(&[]);
}

pub fn the_starter_playbook_serves_on_postgres() {
    let schema = format!("serve_playbook_{}", std::process::id());
    let url = postgres_url();
    run(&[("TIDINGS_STORAGE__POSTGRES_URL", url.as_str()), ("TIDINGS_STORAGE__POSTGRES_SCHEMA", schema.as_str())]);
    drop_schema(&schema);
}

fn browse_abandoners(c: &mut Client) -> Option<u64> {
    let v = c.get("/api/segments", Some(&bearer(ADMIN_KEY))).ok()?.json();
    v["segments"].as_array()?.iter().find(|s| s["key"] == "browse_abandoners")?["size"].as_u64()
}

fn run(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    let init = std::process::Command::new(BIN).args(["init", data.to_str().unwrap()]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let addr = free_addr();
    let server = Stopped(serve_with(&data, addr, env));
    let mut c = Client::new(addr);
    let post = |c: &mut Client, path: &str, body: serde_json::Value| {
        let r = c.post(path, Some(&basic(WRITE_KEY)), body.to_string().as_bytes()).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    };
    post(
        &mut c,
        "/v1/identify",
        json!({"userId": "ada", "traits": {"email": "ada@example.com", "marketing_consent": true}}),
    );
    for sku in ["a", "b"] {
        post(&mut c, "/v1/track", json!({"userId": "ada", "event": "Product Viewed", "properties": {"sku": sku}}));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while browse_abandoners(&mut c) != Some(1) {
        assert!(Instant::now() < deadline, "browse_abandoners: {:?}", browse_abandoners(&mut c));
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = c.get("/api/profiles/ada/events", Some(&bearer(ADMIN_KEY))).unwrap().json();
    let names: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(names.contains(&"Segment Entered"), "{names:?}");
    let defs = c.get("/api/definitions", Some(&bearer(ADMIN_KEY))).unwrap();
    assert_eq!(defs.status, 200, "{}", defs.text());
    assert!(defs.text().contains("browse_abandoners"));
    preference_center(&mut c, &data, env);
    let dashboard = c.get("/dashboard", None).unwrap();
    assert_eq!(dashboard.status, 200);
    for path in ["/api/report", "/api/signals", "/api/stats"] {
        let r = c.get(path, Some(&bearer(ADMIN_KEY))).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    // Killed, and started again: the same memberships, from the snapshot or the log.
    drop(server);
    let _server = Stopped(serve_with(&data, addr, env));
    let mut c = Client::new(addr);
    assert_eq!(browse_abandoners(&mut c), Some(1));
}

/// Ada's preference link, signed with the folder's key as an email's would
/// be: the page shows her choices; saving "at most weekly" is recorded.
fn preference_center(c: &mut Client, data: &std::path::Path, env: &[(&str, &str)]) {
    // Ada's ids, as the runner would put them in her email's links.
    let setting = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let store: Box<dyn tidings_store::Store> = match setting("TIDINGS_STORAGE__POSTGRES_URL") {
        Some(url) => Box::new(
            tidings_store_postgres::PostgresStore::open(url, setting("TIDINGS_STORAGE__POSTGRES_SCHEMA")).unwrap(),
        ),
        None => Box::new(
            tidings_store_sqlite::SqliteStore::open(
                data,
                tidings_store_sqlite::Mode::ReadOnly,
                tidings_store_sqlite::Durability::Full,
            )
            .unwrap(),
        ),
    };
    let ws = store.workspace_by_name("default").unwrap().unwrap().id.0;
    let id = store.find_profile(tidings_model::WorkspaceId(ws), "ada").unwrap().unwrap().id.0;
    drop(store);
    let key = std::fs::read_to_string(data.join("tracking.key")).unwrap();
    let keys = tidings_render::tokens::SigningKeys::new(vec![key.trim().as_bytes().to_vec()]).unwrap();
    let signer = tidings_render::links::LinkSigner::new(
        "",
        &keys,
        tidings_model::WorkspaceId(ws),
        "<test@tidings.test>",
        tidings_model::ProfileId(id),
    );
    let path = signer.preferences_url();
    let page = c.get(&path, None).unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Email preferences"), "{html}");
    let cookie = page.header("set-cookie").and_then(|v| v.split(';').next()).expect("a form cookie").to_string();
    let csrf = html.split("name=csrf value=\"").nth(1).and_then(|r| r.split('"').next()).expect("a csrf field");
    let form = format!("csrf={csrf}&frequency=weekly&action=save");
    let headers = [("Cookie", cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    let saved = c.request("POST", &path, None, &headers, form.as_bytes()).unwrap();
    assert_eq!(saved.status, 200, "{}", saved.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = c.get("/api/profiles/ada", Some(&bearer(ADMIN_KEY))).unwrap().json();
        if p["traits"].to_string().contains("weekly") {
            break;
        }
        assert!(Instant::now() < deadline, "the weekly choice is not in ada's traits: {p}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
