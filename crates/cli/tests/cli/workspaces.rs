//! Two workspaces on one server are two tenants (issue 16): each its own
//! definitions, engine, runner, mail and link keys; every route answers
//! each with its own and nothing of the other's.

use crate::{ADMIN_KEY, Stopped, WRITE_KEY, free_addr, tidings};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tidings_testkit::http::{Client, basic, bearer};

fn keys_of(out: &std::process::Output) -> (String, String) {
    let text = String::from_utf8_lossy(&out.stdout);
    let key = |p: &str| text.split_whitespace().find(|w| w.starts_with(p)).unwrap().to_string();
    (key("tdw_"), key("tda_"))
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn emails(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
        .unwrap_or_default()
}

#[test]
fn every_route_keeps_two_workspaces_apart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    assert!(tidings(&["init", data.to_str().unwrap()]).status.success());
    let out = tidings(&["keys", "create-workspace", "outlet", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let (b_write, b_admin) = keys_of(&out);
    let b_dir = data.join("workspaces/outlet");
    std::fs::create_dir_all(b_dir.join("journeys")).unwrap();
    std::fs::create_dir_all(b_dir.join("templates")).unwrap();
    std::fs::write(b_dir.join("outlet.rules"), "segment outlet_viewers { did \"Product Viewed\" }\n").unwrap();
    std::fs::write(
        b_dir.join("journeys/hello.toml"),
        "key = \"hello\"\n[trigger]\napi = true\n[[step]]\nid = \"hi\"\nsend = \"hello\"\n",
    )
    .unwrap();
    std::fs::write(
        b_dir.join("templates/hello.html"),
        "---\nsubject: Hello from the outlet\nkind: transactional\n---\n<p>Hi {{ profile.first_name }}</p>\n",
    )
    .unwrap();
    let addr = free_addr();
    let _server = Stopped(crate::serve(&data, addr));
    let mut c = Client::new(addr);
    let (a_write, a_admin) = (basic(WRITE_KEY), bearer(ADMIN_KEY));
    let (b_write, b_admin) = (basic(&b_write), bearer(&b_admin));
    let get = |c: &mut Client, path: &str, key: &str| c.get(path, Some(key)).unwrap();

    // Definitions: each its own files.
    let a_files = get(&mut c, "/api/definitions", &a_admin).json();
    let b_files = get(&mut c, "/api/definitions", &b_admin).json();
    let names = |v: &Value| {
        v["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&a_files), ["segments.rules"]);
    assert_eq!(names(&b_files), ["outlet.rules"]);
    assert_eq!(get(&mut c, "/api/definitions/segments.rules", &b_admin).status, 404, "B reads nothing of A's");
    let r = c
        .request(
            "PUT",
            "/api/definitions/outlet.rules",
            Some(&b_admin),
            &[],
            b"segment outlet_viewers { did \"Product Viewed\" }\nsegment outlet_buyers { did \"Order Completed\" }\n",
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        get(&mut c, "/api/definitions/segments.rules", &a_admin).text().contains("cart_abandoners"),
        "A's untouched"
    );

    // Segments: each its own engine.
    let keys = |v: Value| {
        v["segments"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(keys(get(&mut c, "/api/segments", &b_admin).json()), ["outlet_viewers", "outlet_buyers"]);
    assert!(keys(get(&mut c, "/api/segments", &a_admin).json()).contains(&"cart_abandoners".to_string()));

    // Ingest: each its own profiles.
    for (key, user) in [(&a_write, "ada"), (&b_write, "bo")] {
        let r = c.post("/v1/identify", Some(key), json!({"userId": user, "traits": {"email": format!("{user}@example.com"), "first_name": user, "marketing_consent": true}}).to_string().as_bytes()).unwrap();
        assert_eq!(r.status, 200);
        let r = c
            .post(
                "/v1/track",
                Some(key),
                json!({"userId": user, "event": "Product Viewed", "properties": {"sku": "s"}}).to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(get(&mut c, "/api/profiles/bo", &a_admin).status, 404);
    assert_eq!(get(&mut c, "/api/profiles/ada", &b_admin).status, 404);
    assert_eq!(get(&mut c, "/api/profiles/bo", &b_admin).status, 200);
    wait_for("B's segment holds B's person", || {
        get(&mut c, "/api/segments/outlet_viewers", &b_admin).json()["size"] == 1
    });
    assert_eq!(get(&mut c, "/api/stats", &b_admin).json()["profiles"], 1);

    // Journeys: B's runner runs B's journey, B's mail goes to B's folder.
    let r = c.post("/api/journeys/hello/enter", Some(&b_admin), br#"{"userId": "bo"}"#).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(c.post("/api/journeys/hello/enter", Some(&a_admin), br#"{"userId": "ada"}"#).unwrap().status, 404);
    wait_for("B's email", || emails(&b_dir.join("mail")).iter().any(|e| e.contains("Hello from the outlet")));
    // A broadcast planned with B's key runs, for B's audience.
    let plan = json!({"name": "b_sale", "template": "hello", "audience": "in segment outlet_viewers"});
    let r = c.post("/api/broadcasts", Some(&b_admin), plan.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for("B's broadcast ran: B's runner decided for B's person", || {
        let v = get(&mut c, "/api/profiles/bo/messages", &b_admin).json();
        v["decisions"].as_array().unwrap().iter().any(|d| d["key"].as_str().unwrap().starts_with("broadcast:b_sale:"))
    });
    assert!(!emails(&data.join("mail")).iter().any(|e| e.contains("outlet")), "nothing of B's went through A");

    // Tracking: B's links are signed with B's own key, and work.
    let eml = emails(&b_dir.join("mail")).into_iter().next().unwrap().replace("=\r\n", "").replace("=\n", "");
    let pixel = eml
        .split("/t/o/")
        .nth(1)
        .map(|t| t.split(['>', '"', '\r', '\n', ' ']).next().unwrap().to_string())
        .expect("an open pixel");
    let b_key = std::fs::read_to_string(b_dir.join("tracking.key")).unwrap();
    let a_key = std::fs::read_to_string(data.join("tracking.key")).unwrap();
    assert_ne!(a_key.trim(), b_key.trim(), "each workspace has its own link key");
    assert_eq!(c.get(&format!("/t/o/{pixel}"), None).unwrap().status, 200);
    wait_for("the open is recorded in B's person's history", || {
        let events = get(&mut c, "/api/profiles/bo/events", &b_admin).json();
        events["events"].as_array().unwrap().iter().any(|e| e["event"] == "Email Opened")
    });

    // Reports read each workspace's own log.
    for key in [&a_admin, &b_admin] {
        assert_eq!(get(&mut c, "/api/report", key).status, 200);
        assert_eq!(get(&mut c, "/api/signals", key).status, 200);
        assert_eq!(get(&mut c, "/api/learnings", key).status, 200);
    }
    assert_eq!(get(&mut c, "/api/profiles/bo/messages", &a_admin).status, 404);
}
