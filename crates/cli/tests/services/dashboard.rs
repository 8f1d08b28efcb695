//! The dashboard in a real browser: headless Chromium opens
//! `/dashboard#key=ADMIN_KEY` on `tidings serve` over a small hand-made
//! history, runs the script against the admin API, and the DOM it leaves
//! holds every chart, with the numbers that history implies.

use crate::{ADMIN_KEY, Stopped, WRITE_KEY, free_addr, serve};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tidings_model::time::{DAY, HOUR, format_time};
use tidings_testkit::http::{Client, basic, bearer};
use tidings_testkit::services;

/// The DOM after the page's script has run, as headless Chromium dumps it.
fn rendered_dom(browser: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = profile.path().join("dom.html");
    let mut child = Command::new(browser)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=10000"])
        .arg(format!("--user-data-dir={}", profile.path().join("profile").display()))
        .args(["--dump-dom", url])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium exited with {status}");
    std::fs::read_to_string(out).unwrap()
}

/// The status line's element, as rendered: `<p id="status" class=... >text`.
fn status(dom: &str) -> &str {
    let at = dom.find("<p id=\"status\"").expect("a status line");
    &dom[at..at + dom[at..].find("</p>").expect("a closed status line")]
}

fn now_micros() -> i64 {
    // The test reads the wall clock to talk to a real server; the product never does outside its Clock.
    #[allow(clippy::disallowed_methods)]
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    d.as_micros() as i64
}

/// Five people over ten days: four emails from a journey and a broadcast,
/// two of them opened by a person (one more by a machine), one clicked;
/// two orders they led to (40 + 60), two later ones no email led to.
///
/// The live engine records the segment changes these events cause when
/// they arrive, now, which is after the signal analysis' cut; so the log
/// also holds entries into `vip`, a segment of an earlier definition, ten
/// days ago, for the analysis to compare.
fn history(now: i64) -> String {
    let email = |user: &str, id: &str, source: &str, template: &str, at: i64| {
        let journey = source.strip_prefix("journey:").and_then(|j| j.split(':').next());
        serde_json::json!({"type": "track", "userId": user, "event": "Email Sent", "timestamp": format_time(at),
            "properties": {"message_id": id, "source": source, "template": template, "journey": journey}})
    };
    let track = |user: &str, event: &str, at: i64, properties: serde_json::Value| serde_json::json!({"type": "track", "userId": user, "event": event, "timestamp": format_time(at), "properties": properties});
    let none = serde_json::json!({});
    let t = |days: i64, hours: i64| now - days * DAY + hours * HOUR;
    let batch = vec![
        track("ada", "Product Viewed", t(10, 0), none.clone()),
        track("bob", "Product Viewed", t(10, 0), none.clone()),
        track("ada", "Segment Entered", t(10, 0), serde_json::json!({"segment": "vip"})),
        track("bob", "Segment Entered", t(10, 0), serde_json::json!({"segment": "vip"})),
        email("ada", "m-ada", "journey:welcome:hello", "welcome_1", t(9, 0)),
        email("bob", "m-bob", "journey:welcome:hello", "welcome_1", t(9, 0)),
        track("ada", "Email Opened", t(9, 1), serde_json::json!({"message_id": "m-ada"})),
        track("bob", "Email Opened", t(9, 1), serde_json::json!({"message_id": "m-bob", "machine": true})),
        track(
            "ada",
            "Email Clicked",
            t(9, 2),
            serde_json::json!({"message_id": "m-ada", "url": "https://shop.example/"}),
        ),
        track("ada", "Order Completed", t(9, 3), serde_json::json!({"order_id": "o1", "revenue": 40.0})),
        email("cy", "m-cy", "broadcast:newsletter-1", "newsletter", t(8, 0)),
        email("dee", "m-dee", "broadcast:newsletter-1", "newsletter", t(8, 0)),
        track("cy", "Email Opened", t(8, 1), serde_json::json!({"message_id": "m-cy"})),
        track("cy", "Order Completed", t(8, 5), serde_json::json!({"order_id": "o2", "revenue": 60.0})),
        track("eve", "Product Viewed", t(3, 0), none.clone()),
        // After the signal analysis' cut (7 days ago), and no email within 5 days before them.
        track("ada", "Order Completed", t(2, 0), serde_json::json!({"order_id": "o3", "revenue": 30.0})),
        track("cy", "Order Completed", t(1, 0), serde_json::json!({"order_id": "o4", "revenue": 25.0})),
    ];
    serde_json::json!({ "batch": batch }).to_string()
}

/// Waits until the engine has recorded the segment entries the report reads.
fn wait_for_segments(addr: SocketAddr) {
    let mut c = Client::new(addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c.get("/api/report", Some(&bearer(ADMIN_KEY))).unwrap().json();
        let segments = &r["segments"];
        if segments["viewers"]["members_now"] == 3 && segments["buyers"]["members_now"] == 2 {
            return;
        }
        assert!(Instant::now() < deadline, "the segment entries were not recorded: {segments}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn a_browser_draws_every_chart_from_the_admin_api() {
    let browser = services::chromium().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("segments.rules"),
        "segment viewers \"Viewed a product\" { did \"Product Viewed\" in last 30d }\n\
         segment buyers \"Bought something\" { did \"Order Completed\" in last 30d }\n\
         stages lifecycle { customer: did \"Order Completed\"  visitor: otherwise }\n",
    )
    .unwrap();
    let addr = free_addr();
    // Stopped however the test ends, so a failed assertion leaves no server behind.
    let _server = Stopped(serve(dir.path(), addr));
    let mut c = Client::new(addr);

    // Before any event: no charts of email, and saying so is not an error.
    let dom = rendered_dom(&browser, &format!("http://{addr}/dashboard#key={ADMIN_KEY}"));
    assert!(status(&dom).contains("No email sent yet") && !status(&dom).contains("error"), "{dom}");
    assert!(!dom.contains("data-chart=\"days\"") && !dom.contains("could not"), "{dom}");

    let r = c.post("/v1/batch", Some(&basic(WRITE_KEY)), history(now_micros()).as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for_segments(addr);

    let dom = rendered_dom(&browser, &format!("http://{addr}/dashboard#key={ADMIN_KEY}"));
    assert!(status(&dom).contains("Loaded at") && !status(&dom).contains("error"), "{dom}");
    // One SVG per chart.
    for chart in [
        "journeys-conversion",
        "journeys-revenue",
        "days",
        "segment-sizes",
        "segment-now",
        "segment-conversion",
        "signals",
        "stages-lifecycle",
    ] {
        assert!(dom.contains(&format!("<svg class=\"chart\" data-chart=\"{chart}\"")), "no {chart} chart in\n{dom}");
    }
    assert!(!dom.contains("could not be drawn"), "{dom}");
    // The headline numbers: 4 sent, 2 opened by a person, 1 click, 2 orders worth 100 led by email.
    for (tile, value) in [
        ("sent", "4"),
        ("open_rate", "50.0%"),
        ("click_rate", "25.0%"),
        ("conversions", "2"),
        ("revenue", "100.00"),
        ("revenue_per_email", "25.00"),
        ("profiles", "5"),
    ] {
        assert!(dom.contains(&format!("data-tile=\"{tile}\">{value}<")), "{tile} is not {value} in\n{dom}");
    }
    // Names from the data, each chart's method, and what the signals flag.
    for text in [
        ">welcome<",
        ">newsletter (broadcast)<",
        "Viewed a product",
        "Bought something",
        ">customer<",
        ">visitor<",
        "Attribution: last touch",
        "association, not causation",
        "in segment vip<tspan class=\"muted\"> (too small)</tspan>",
    ] {
        assert!(dom.contains(text), "{text:?} is not in\n{dom}");
    }

    // A wrong key draws nothing and says what to do.
    let dom = rendered_dom(&browser, &format!("http://{addr}/dashboard#key=not-the-key"));
    let line = status(&dom);
    assert!(
        line.contains("class=\"status error\"") && line.contains("401") && line.contains("Paste the admin key"),
        "{dom}"
    );
    assert!(!dom.contains("<svg class=\"chart\""), "{dom}");
}
