//! `tidings serve` refreshes the prediction traits by itself: after orders
//! are ingested, every buyer gets predicted_clv, p_alive, expected_orders
//! and rfm as traits, usable in rules, without running `tidings predict`.

use crate::{ADMIN_KEY, Stopped, WRITE_KEY, free_addr, serve};
use tidings_model::time::{DAY, format_time};
use tidings_testkit::http::{Client, basic, bearer};

#[test]
fn the_server_stores_predictions_as_traits_on_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    // Refresh every 2 s, so that the test sees a run after its orders arrive.
    std::fs::write(dir.path().join("tidings.toml"), "[predict]\nevery = \"2s\"\nhorizon = \"30d\"\n").unwrap();
    std::fs::write(
        dir.path().join("segments.rules"),
        "segment valuable { trait predicted_clv >= 1 }\nsegment buyers { did \"Order Completed\" }\n",
    )
    .unwrap();
    let addr = free_addr();
    let _server = Stopped(serve(dir.path(), addr));
    let mut c = Client::new(addr);
    // 60 buyers over the last 300 days, 1 to 6 orders each; each buyer spends around their own mean
    // (Gamma-Gamma needs spend that differs between buyers).
    // The test reads the wall clock to talk to a real server.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    let mut batch = Vec::new();
    for u in 0..60i64 {
        let orders = 1 + u % 6;
        let mean = 15 + (u * 37) % 80;
        for k in 0..orders {
            let revenue = mean as f64 * (0.6 + ((u * 31 + k * 17) % 9) as f64 / 10.0);
            let t = now - (300 - u * 3 - k * 40).max(1) * DAY;
            batch.push(serde_json::json!({"type": "track", "userId": format!("b{u}"), "event": "Order Completed",
                "timestamp": format_time(t), "properties": {"revenue": revenue}}));
        }
    }
    let body = serde_json::json!({ "batch": batch }).to_string();
    assert_eq!(c.post("/v1/batch", Some(&basic(WRITE_KEY)), body.as_bytes()).unwrap().status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let traits = loop {
        let p = c.get("/api/profiles/b5", Some(&bearer(ADMIN_KEY))).unwrap().json();
        if p["traits"]["predicted_clv"].is_number() {
            break p["traits"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no predictions after 30 s: {p}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let p_alive = traits["p_alive"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p_alive), "{traits}");
    assert!(traits["expected_orders_30d"].as_f64().unwrap() >= 0.0, "{traits}");
    assert_eq!(traits["rfm"].as_str().unwrap().len(), 3, "{traits}");
    // Rules see them: the live segment on the trait fills up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let size = c.get("/api/segments/valuable", Some(&bearer(ADMIN_KEY))).unwrap().json()["size"].as_u64();
        if size.is_some_and(|s| s > 0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the segment on predicted_clv stayed empty");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
