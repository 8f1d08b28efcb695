//! Replacing segment definitions through the admin API of a running server:
//! a broken file is refused with located diagnostics and changes nothing; a
//! good one is written to the data folder, backfilled from the stored
//! history, answers at once, and is still there after a restart.

use crate::{ADMIN_KEY, Stopped, WRITE_KEY, free_addr, serve};
use tidings_testkit::http::{Client, basic, bearer};

fn put(c: &mut Client, name: &str, text: &str) -> tidings_testkit::http::Response {
    c.request("PUT", &format!("/api/definitions/{name}"), Some(&bearer(ADMIN_KEY)), &[], text.as_bytes()).unwrap()
}

fn size(c: &mut Client, key: &str) -> Option<u64> {
    c.get(&format!("/api/segments/{key}"), Some(&bearer(ADMIN_KEY))).unwrap().json()["size"].as_u64()
}

#[test]
fn definitions_are_replaced_through_the_api_with_checks_and_a_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let original = "segment viewers { did \"Product Viewed\" }\n";
    std::fs::write(dir.path().join("segments.rules"), original).unwrap();
    let addr = free_addr();
    let server = Stopped(serve(dir.path(), addr));
    let mut c = Client::new(addr);
    // 30 people viewed; the ten with an even number also ordered, 3 times those divisible by 6.
    let mut batch = Vec::new();
    for i in 0..30 {
        batch.push(serde_json::json!({"type": "track", "userId": format!("u{i}"), "event": "Product Viewed"}));
        if i % 2 == 0 && i < 20 {
            let orders = if i % 6 == 0 { 3 } else { 1 };
            for _ in 0..orders {
                batch.push(serde_json::json!({"type": "track", "userId": format!("u{i}"), "event": "Order Completed"}));
            }
        }
    }
    let body = serde_json::json!({ "batch": batch }).to_string();
    assert_eq!(c.post("/v1/batch", Some(&basic(WRITE_KEY)), body.as_bytes()).unwrap().status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size(&mut c, "viewers") != Some(30) {
        assert!(std::time::Instant::now() < deadline, "the engine did not take the events");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let list = c.get("/api/definitions", Some(&bearer(ADMIN_KEY))).unwrap().json();
    assert_eq!(list["files"][0]["name"], "segments.rules");
    assert_eq!(list["files"][0]["text"], original);

    // A typo: refused with where and why, nothing changed on disk or in the engine.
    let broken =
        "segment viewers { did \"Product Viewed\" }\nsegment buyers { did \"Order Completed\" at lest 2 times }\n";
    let r = put(&mut c, "segments.rules", broken);
    assert_eq!(r.status, 422, "{}", r.text());
    let j = r.json();
    assert_eq!(j["error"]["code"], "invalid_definitions");
    let d = &j["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "segments.rules");
    assert!(d["rendered"].as_str().unwrap().contains("segments.rules:2:"), "{d}");
    assert_eq!(std::fs::read_to_string(dir.path().join("segments.rules")).unwrap(), original);
    assert_eq!(c.get("/api/segments/buyers", Some(&bearer(ADMIN_KEY))).unwrap().status, 404);

    // Unknown segment references are errors too; names with folders are refused.
    let r = put(&mut c, "segments.rules", "segment x { in segment nowhere }\n");
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(put(&mut c, "..%2Fescape.rules", "segment y { did \"Product Viewed\" }").status, 400);
    assert_eq!(c.request("PUT", "/api/definitions/segments.rules", None, &[], b"x").unwrap().status, 401);

    // A good file: written, backfilled from history, live at once.
    let good = "segment viewers { did \"Product Viewed\" }\n\
                segment repeat_buyers { did \"Order Completed\" at least 2 times }\n\
                segment browsers { in segment viewers and not did \"Order Completed\" }\n";
    let r = put(&mut c, "segments.rules", good);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["live"]["segments"], 3);
    assert_eq!(j["live"]["profiles"], 30);
    assert_eq!(std::fs::read_to_string(dir.path().join("segments.rules")).unwrap(), good);
    assert_eq!(size(&mut c, "repeat_buyers"), Some(4), "u0, u6, u12, u18 ordered 3 times");
    assert_eq!(size(&mut c, "browsers"), Some(20));
    assert_eq!(size(&mut c, "viewers"), Some(30));

    // It stays live: a new order moves u1 from browsers.
    let one = serde_json::json!({"type": "track", "userId": "u1", "event": "Order Completed"}).to_string();
    assert_eq!(c.post("/v1/track", Some(&basic(WRITE_KEY)), one.as_bytes()).unwrap().status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size(&mut c, "browsers") != Some(19) {
        assert!(std::time::Instant::now() < deadline, "the new definitions did not stay live");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // A second file adds to the workspace; a restart keeps everything.
    let r = put(&mut c, "vip.rules", "segment vip { in segment repeat_buyers }\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(size(&mut c, "vip"), Some(4));
    drop(server);
    let addr = free_addr();
    let _server = Stopped(serve(dir.path(), addr));
    let mut c = Client::new(addr);
    assert_eq!(size(&mut c, "vip"), Some(4));
    assert_eq!(size(&mut c, "browsers"), Some(19));
}
