//! The live engine in a running server: a segment whose rule is "added to
//! cart more than N seconds ago and no order since" flips exactly when the
//! time passes, with no further events from that profile; its state
//! survives a restart without recording anything twice.

use crate::{ADMIN_KEY, WRITE_KEY, free_addr, serve};
use std::time::{Duration, Instant};
use tidings_model::time::{SECOND, format_time, parse_time};
use tidings_testkit::http::{Client, basic, bearer};

fn now_micros() -> i64 {
    // The test reads the wall clock to talk to a real server; the product never does outside its Clock.
    #[allow(clippy::disallowed_methods)]
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    d.as_micros() as i64
}

fn events(c: &mut Client, user: &str) -> Vec<serde_json::Value> {
    let r = c.get(&format!("/api/profiles/{user}/events?limit=1000"), Some(&bearer(ADMIN_KEY))).unwrap();
    r.json()["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_cart_segment_flips_when_the_time_passes_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("segments.rules"),
        "segment cart_left { did \"Product Added\" then not \"Order Completed\" within 2s in last 1d }\n\
         stages life { buyer: did \"Order Completed\"  browsing: otherwise }\n",
    )
    .unwrap();
    let addr = free_addr();
    let mut server = serve(dir.path(), addr);
    let mut c = Client::new(addr);
    // Whole seconds, so the expected flip time is exact.
    let added = (now_micros() / SECOND) * SECOND;
    let body = format!(
        r#"{{"batch":[{{"type":"track","userId":"ada","event":"Product Added","timestamp":"{t}"}},
                      {{"type":"track","userId":"bob","event":"Product Added","timestamp":"{t}"}},
                      {{"type":"track","userId":"bob","event":"Order Completed","timestamp":"{t2}"}}]}}"#,
        t = format_time(added),
        t2 = format_time(added + SECOND)
    );
    assert_eq!(c.post("/v1/batch", Some(&basic(WRITE_KEY)), body.as_bytes()).unwrap().status, 200);
    let size =
        |c: &mut Client| c.get("/api/segments/cart_left", Some(&bearer(ADMIN_KEY))).unwrap().json()["size"].as_u64();
    assert_eq!(size(&mut c), Some(0), "not before the two seconds have passed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&mut c) != Some(1) {
        assert!(Instant::now() < deadline, "the segment did not flip");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The change event is appended just after the membership changes; wait for it too.
    let entered = loop {
        let entered: Vec<_> = events(&mut c, "ada").into_iter().filter(|e| e["event"] == "Segment Entered").collect();
        if !entered.is_empty() || Instant::now() > deadline {
            break entered;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(entered.len(), 1);
    assert_eq!(entered[0]["properties"]["segment"], "cart_left");
    let at = parse_time(entered[0]["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(at, added + 2 * SECOND, "recorded at the exact moment, not when the engine noticed");
    assert!(events(&mut c, "bob").iter().all(|e| e["event"] != "Segment Entered"), "bob bought within the window");
    let members = c.get("/api/segments/cart_left/members", Some(&bearer(ADMIN_KEY))).unwrap().json();
    assert_eq!(members["members"][0]["user_id"], "ada");
    let explain = c.get("/api/segments/cart_left/explain/ada", Some(&bearer(ADMIN_KEY))).unwrap().json();
    assert_eq!(explain["explanation"]["holds"], true);

    // A restart (SIGKILL, so no snapshot at exit) rebuilds the same state and records nothing twice.
    server.kill().unwrap();
    server.wait().unwrap();
    let addr = free_addr();
    let mut server = serve(dir.path(), addr);
    let mut c = Client::new(addr);
    assert_eq!(size(&mut c), Some(1));
    std::thread::sleep(Duration::from_millis(300));
    let entered = events(&mut c, "ada").into_iter().filter(|e| e["event"] == "Segment Entered").count();
    assert_eq!(entered, 1, "the change is recorded once");
    let list = c.get("/api/segments", Some(&bearer(ADMIN_KEY))).unwrap().json();
    assert_eq!(list["stage_sets"][0]["stages"][0]["size"], 1, "bob is a buyer");
    server.kill().unwrap();
    server.wait().unwrap();
}
