use crate::Server;
use serde_json::json;
use tidings_testkit::http::{basic, bearer};

#[test]
fn identify_track_and_batch_build_one_profile() {
    let s = Server::start();
    // Anonymous browsing first, then sign-up joins it to the known profile.
    let r = s.post(
        "/v1/track",
        &json!({"anonymousId": "anon-1", "event": "Product Viewed",
        "properties": {"sku": "A1", "price": 12.5}, "timestamp": "2026-01-01T10:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.post(
        "/v1/identify",
        &json!({"anonymousId": "anon-1", "userId": "u1",
        "traits": {"email": "a@example.com", "plan": "free"}, "timestamp": "2026-01-02T10:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // An older identify must not overwrite the newer trait; a newer one does.
    let r = s.post(
        "/v1/batch",
        &json!({"batch": [
            {"type": "identify", "userId": "u1", "traits": {"plan": "trial"}, "timestamp": "2026-01-01T00:00:00Z"},
            {"type": "identify", "userId": "u1", "traits": {"name": "Ada"}, "timestamp": "2026-01-03T00:00:00Z"},
            {"type": "track", "anonymousId": "anon-2", "event": "Product Added", "timestamp": "2026-01-03T01:00:00Z"},
            {"type": "alias", "previousId": "anon-2", "userId": "u1", "timestamp": "2026-01-03T02:00:00Z"},
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stored"], 4);

    let p = s.admin_get("/api/profiles/u1");
    assert_eq!(p.status, 200, "{}", p.text());
    let p = p.json();
    assert_eq!(p["traits"], json!({"email": "a@example.com", "plan": "free", "name": "Ada"}));
    let mut anon: Vec<String> = serde_json::from_value(p["anonymous_ids"].clone()).unwrap();
    anon.sort();
    assert_eq!(anon, ["anon-1", "anon-2"]);
    assert_eq!(p["first_seen"], "2026-01-01T10:00:00Z");
    assert_eq!(p["last_seen"], "2026-01-03T01:00:00Z");
    // The anonymous id now finds the same profile.
    assert_eq!(s.admin_get("/api/profiles/anon-2").json()["user_id"], "u1");

    let ev = s.admin_get("/api/profiles/u1/events?limit=1000").json();
    let events = ev["events"].as_array().unwrap();
    assert_eq!(events.len(), 6);
    let times: Vec<&str> = events.iter().map(|e| e["timestamp"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let viewed = events.iter().find(|e| e["event"] == "Product Viewed").unwrap();
    assert_eq!(viewed["properties"]["sku"], "A1");
    for key in ["messageId", "type", "timestamp", "receivedAt", "properties", "context"] {
        assert!(viewed.get(key).is_some(), "event lacks {key}: {viewed}");
    }
}

#[test]
fn pages_of_events_follow_the_cursor() {
    let s = Server::start();
    let batch: Vec<_> = (0..25)
        .map(|i| {
            json!({"type": "track", "userId": "u", "event": "E", "messageId": format!("m{i}"),
            "timestamp": format!("2026-01-01T00:00:{:02}Z", i / 2)})
        })
        .collect();
    assert_eq!(s.post("/v1/batch", &json!({"batch": batch})).status, 200);
    let mut seen = Vec::new();
    let mut path = "/api/profiles/u/events?limit=10".to_string();
    loop {
        let page = s.admin_get(&path).json();
        for e in page["events"].as_array().unwrap() {
            seen.push(e["messageId"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/profiles/u/events?limit=10&before={c}"),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25, "every event once across pages");
    assert_eq!(s.admin_get("/api/profiles/u/events?limit=0").status, 400);
    assert_eq!(s.admin_get("/api/profiles/u/events?limit=10001").status, 400);
    assert_eq!(s.admin_get("/api/profiles/u/events?before=nonsense").status, 400);
}

#[test]
fn a_message_id_is_stored_once_however_often_it_is_sent() {
    let s = Server::start();
    let m = json!({"type": "track", "userId": "u", "event": "Order Completed", "messageId": "order-1"});
    assert_eq!(s.post("/v1/track", &m).json()["duplicates"], 0);
    assert_eq!(s.post("/v1/track", &m).json()["duplicates"], 1);
    let r = s.post("/v1/batch", &json!({"batch": [m, m]}));
    assert_eq!((r.json()["stored"].as_i64(), r.json()["duplicates"].as_i64()), (Some(0), Some(2)));
    assert_eq!(s.events_stored(), 1);
}

/// What the store could not give back exactly is refused with its place,
/// and what is acknowledged reads back as it was sent (issue 16).
#[test]
fn what_cannot_be_read_back_exactly_is_refused() {
    let s = Server::start();
    let mut c = s.client();
    let auth = basic(&s.write);
    let deep =
        format!(r#"{{"userId": "u", "event": "E", "properties": {}1{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(String, &str)> = vec![
        (deep, "too_deep"),
        (r#"{"userId": "u", "event": "E", "properties": {"s": "\ud800"}}"#.to_string(), "invalid_unicode"),
        (r#"{"userId": "u", "event": "E", "unknown": 5477775E419}"#.to_string(), "number_out_of_range"),
        (r#"{"userId": "u", "event": "E", "timestamp": "9999-12-30T00:00:00Z"}"#.to_string(), "timestamp_out_of_range"),
        (
            r#"{"userId": "u", "event": "E", "timestamp": "9999-12-30T00:00:00Z", "sentAt": "0001-01-01T00:00:00Z"}"#
                .to_string(),
            "timestamp_out_of_range",
        ),
    ];
    for (body, code) in cases {
        let r = c.post("/v1/track", Some(&auth), body.as_bytes()).unwrap();
        assert_eq!(r.status, 400, "{}: {}", &body[..body.len().min(80)], r.text());
        assert_eq!(r.json()["error"]["code"], code, "{}", r.text());
    }
    assert_eq!(s.events_stored(), 0, "nothing was stored");
    // As deep as allowed, a real emoji, an escaped backslash: stored, and read back exactly.
    let nested = (0..60).fold(json!("leaf"), |v, _| json!([v]));
    let props = json!({"n": nested, "s": "\u{1F600} \\ud800"});
    let r = s.post("/v1/track", &json!({"userId": "u", "event": "E", "messageId": "ok-1", "properties": props}));
    assert_eq!(r.status, 200, "{}", r.text());
    let events = s.admin_get("/api/profiles/u/events").json();
    assert_eq!(events["events"][0]["properties"], props);
    assert_eq!(events["events"][0]["userId"], "u");
}

#[test]
fn bad_input_gets_a_located_json_error_and_stores_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let auth = basic(&s.write);
    let big_prop = "x".repeat(33 * 1024);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/v1/track", b"{not json".to_vec(), 400, "malformed_json"),
        ("/v1/track", b"[1,2]".to_vec(), 400, "not_an_object"),
        ("/v1/track", br#"{"userId": {"id": 5}, "event": "E"}"#.to_vec(), 400, "wrong_type"),
        ("/v1/track", br#"{"userId": "u", "event": "E", "properties": [1]}"#.to_vec(), 400, "wrong_type"),
        ("/v1/track", br#"{"userId": "u", "event": 7}"#.to_vec(), 400, "wrong_type"),
        ("/v1/track", br#"{"userId": "u"}"#.to_vec(), 400, "missing_event"),
        ("/v1/track", br#"{"event": "E"}"#.to_vec(), 400, "missing_user_id"),
        ("/v1/track", br#"{"userId": "u", "event": "E", "timestamp": "yesterday"}"#.to_vec(), 400, ""),
        (
            "/v1/track",
            json!({"userId": "u", "event": "E", "properties": {"p": big_prop}}).to_string().into_bytes(),
            413,
            "",
        ),
        ("/v1/batch", br#"{"batch": 3}"#.to_vec(), 400, ""),
        ("/v1/batch", br#"{"batch": [{"event": "E"}]}"#.to_vec(), 400, "all_rejected"),
    ];
    for (path, body, status, code) in cases {
        let r = c.post(path, Some(&auth), &body).unwrap();
        assert_eq!(r.status, status, "{path} {}: {}", String::from_utf8_lossy(&body[..body.len().min(80)]), r.text());
        let err = &r.json()["error"];
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "no JSON error: {}", r.text());
        if !code.is_empty() {
            assert_eq!(err["code"], code, "{}", r.text());
        }
    }
    // A 600 KB batch of individually valid messages.
    let batch: Vec<_> =
        (0..600).map(|i| json!({"type": "track", "userId": "u", "event": "E", "properties": {"pad": "y".repeat(1000)}, "messageId": format!("b{i}")})).collect();
    let r = c.post("/v1/batch", Some(&auth), json!({"batch": batch}).to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(s.events_stored(), 0, "nothing partial was stored");
}

#[test]
fn a_batch_with_some_bad_messages_stores_the_good_ones_and_reports_the_rest() {
    let s = Server::start();
    let r = s.post(
        "/v1/batch",
        &json!({"batch": [
            {"type": "track", "userId": "u", "event": "Good", "messageId": "g1"},
            {"type": "track", "userId": "u", "messageId": "bad-1"},
            {"type": "identify", "messageId": "bad-2"},
            {"type": "page", "anonymousId": "a", "name": "Home", "messageId": "g2"},
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["stored"], 2);
    let rejected = body["rejected"].as_array().unwrap();
    let ids: Vec<_> = rejected.iter().map(|x| (x["index"].as_i64().unwrap(), x["messageId"].clone())).collect();
    assert_eq!(ids, [(1, json!("bad-1")), (2, json!("bad-2"))]);
    assert_eq!(s.events_stored(), 2);
}

#[test]
fn keys_open_only_their_own_workspace() {
    let s = Server::start();
    let (other, other_write, other_admin) = s.other_workspace();
    let mut c = s.client();
    let m = json!({"userId": "shared-id", "event": "E"}).to_string();
    assert_eq!(c.post("/v1/track", Some(&basic(&other_write)), m.as_bytes()).unwrap().status, 200);
    // No key, a wrong key, an admin key used for ingest.
    assert_eq!(c.post("/v1/track", None, m.as_bytes()).unwrap().status, 401);
    assert_eq!(c.post("/v1/track", Some(&basic("tdw_nope")), m.as_bytes()).unwrap().status, 401);
    assert!(matches!(c.post("/v1/track", Some(&basic(&s.admin)), m.as_bytes()).unwrap().status, 401 | 403));
    // The write key in the body works like Basic auth.
    let with_key = json!({"userId": "x", "event": "E", "writeKey": s.write}).to_string();
    assert_eq!(c.post("/v1/track", None, with_key.as_bytes()).unwrap().status, 200);
    // Admin: no key, a write key, another workspace's admin key.
    assert_eq!(c.get("/api/profiles/shared-id", None).unwrap().status, 401);
    assert!(matches!(c.get("/api/profiles/shared-id", Some(&bearer(&s.write))).unwrap().status, 401 | 403));
    assert_eq!(s.admin_get("/api/profiles/shared-id").status, 404, "the other workspace's profile is invisible");
    assert_eq!(c.get("/api/profiles/shared-id", Some(&bearer(&other_admin))).unwrap().status, 200);
    assert_eq!(s.store.stats(other).unwrap().events, 1);
    assert_eq!(s.events_stored(), 1);
    // A revoked key stops working at once.
    let id =
        s.store.keys(Some(other)).unwrap().into_iter().find(|k| k.kind == tidings_model::KeyKind::Write).unwrap().id;
    s.store.revoke_key(id, 0).unwrap();
    assert_eq!(c.post("/v1/track", Some(&basic(&other_write)), m.as_bytes()).unwrap().status, 401);
}

#[test]
fn gzip_bodies_skew_correction_health_and_metrics() {
    use std::io::Write;
    let s = Server::start();
    // sentAt an hour behind the server's clock moves the timestamp an hour forward.
    let body = json!({"sentAt": "2026-01-01T11:00:00Z", "batch": [
        {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-01-01T10:00:00Z"}]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut c = s.client();
    let r = c.request("POST", "/v1/batch", Some(&basic(&s.write)), &[("Content-Encoding", "gzip")], &gz).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let ev = s.admin_get("/api/profiles/u/events").json();
    let e = &ev["events"][0];
    let ts = tidings_model::time::parse_time(e["timestamp"].as_str().unwrap()).unwrap();
    let received = tidings_model::time::parse_time(e["receivedAt"].as_str().unwrap()).unwrap();
    assert!((received - ts - tidings_model::time::HOUR).abs() < 5 * tidings_model::time::SECOND, "{e}");

    let h = c.get("/healthz", None).unwrap();
    assert_eq!((h.status, h.json()["status"].clone()), (200, json!("ok")));
    let m = c.get("/metrics", None).unwrap().text();
    assert!(m.contains("tidings_ingest_messages_total{outcome=\"stored\"} 1"), "{m}");
    assert_eq!(c.get("/nope", None).unwrap().json()["error"]["code"], "not_found");
}

/// Every error body carries its code's type and link, and its status is
/// the code's; extra keys stay at the top level beside `error`.
#[test]
fn errors_say_their_type_and_link() {
    use tidings_server::ErrorCode;
    let s = Server::start();
    let mut c = s.client();
    let cases = [
        (c.post("/v1/track", None, br#"{"userId": "u", "event": "E"}"#).unwrap(), ErrorCode::Unauthorized, "auth"),
        (c.get("/api/stats", Some(&basic(&s.write))).unwrap(), ErrorCode::Unauthorized, "auth"),
        (c.get("/api/stats", Some(&bearer(&s.write))).unwrap(), ErrorCode::Forbidden, "auth"),
        (c.post("/v1/track", Some(&basic(&s.write)), br#"{"userId": "u"}"#).unwrap(), ErrorCode::MissingEvent, "user"),
        (
            c.post("/v1/batch", Some(&basic(&s.write)), br#"{"batch": [{"type": "track", "event": "E"}]}"#).unwrap(),
            ErrorCode::AllRejected,
            "user",
        ),
        (c.get("/nope", None).unwrap(), ErrorCode::NotFound, "user"),
    ];
    for (r, code, kind) in cases {
        let body = r.json();
        assert_eq!(r.status, code.status().as_u16(), "{body}");
        assert_eq!(body["error"]["code"], code.as_str(), "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert_eq!(body["error"]["link"], format!("docs/errors.md#{}", code.as_str()), "{body}");
        if code == ErrorCode::AllRejected {
            assert_eq!(body["rejected"][0]["code"], "missing_user_id", "{body}");
        }
    }
}

#[test]
fn the_messages_api_says_what_was_sent_and_why_not() {
    use tidings_store::{Delivery, InstanceRecord, NewOutbox, SendDecision};
    let s = Server::start();
    s.post("/v1/identify", &json!({"userId": "ada", "traits": {"email": "ada@example.com"}}));
    let p = s.store.find_profile(s.ws, "ada").unwrap().unwrap().id;
    let t0 = tidings_model::time::parse_time("2026-03-01T10:00:00Z").unwrap();
    let item = NewOutbox {
        workspace: s.ws,
        key: "cart:1:1:remind".into(),
        profile: p,
        message_id: "<cart.1.1.remind@shop.example>".into(),
        kind: "marketing".into(),
        template: "cart_reminder".into(),
        source: "journey:cart_abandonment:remind".into(),
        payload: "{}".into(),
        not_before: t0,
    };
    s.store.enqueue(&[item], t0).unwrap();
    let claimed = s.store.claim_outbox(None, t0, t0 + 60_000_000, 10, None).unwrap();
    s.store.finish_outbox(claimed[0].id, &Delivery::Sent { at: t0 + 1, detail: "250 ok".into() }).unwrap();
    let why = SendDecision {
        key: "cart:1:1:offer".into(),
        at: t0 + 3_600_000_000,
        decision: "defer".into(),
        reason: "quiet hours 21:00-08:00 in Europe/Berlin".into(),
    };
    s.store.record_decision(s.ws, p, &why).unwrap();
    let inst = InstanceRecord {
        workspace: s.ws,
        journey: "cart_abandonment".into(),
        profile: p,
        entry: 1,
        entry_key: None,
        entered_at: t0,
        done: false,
        state: r#"{"step":2}"#.into(),
        updated_at: t0,
    };
    s.store.save_instance(&inst).unwrap();
    let r = s.admin_get("/api/profiles/ada/messages");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["messages"][0]["status"], "sent");
    assert_eq!(v["messages"][0]["message_id"], "<cart.1.1.remind@shop.example>");
    assert_eq!(v["decisions"][0]["reason"], "quiet hours 21:00-08:00 in Europe/Berlin");
    assert_eq!(v["journeys"][0]["state"]["step"], 2);
    let (_, _, other_admin) = s.other_workspace();
    let r = s.client().get("/api/profiles/ada/messages", Some(&bearer(&other_admin))).unwrap();
    assert_eq!(r.status, 404, "another workspace sees nothing");
}

#[test]
fn an_identity_merge_counts_each_event_once_and_leaves_no_ghost() {
    let s = Server::start_live(
        "segment once { did \"Order Completed\" exactly 1 time }\n\
         segment twice { did \"Order Completed\" at least 2 times }\n\
         segment anyone { did \"Page Viewed\" }\n",
    );
    // Ada is known; then she orders anonymously on another device and signs in,
    // in one batch: the anonymous profile is merged into hers.
    assert_eq!(s.post("/v1/identify", &json!({"userId": "ada", "traits": {"email": "ada@example.com"}})).status, 200);
    let batch = json!({"batch": [
        {"type": "track", "anonymousId": "anon-1", "event": "Page Viewed"},
        {"type": "track", "anonymousId": "anon-1", "event": "Order Completed", "properties": {"revenue": 10}},
        {"type": "identify", "anonymousId": "anon-1", "userId": "ada", "traits": {"email": "ada@example.com"}},
    ]});
    assert_eq!(s.post("/v1/batch", &batch).status, 200);
    let size = |seg: &str| s.admin_get(&format!("/api/segments/{seg}")).json()["size"].as_u64();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size("once") != Some(1) {
        assert!(std::time::Instant::now() < deadline, "once: {:?}, twice: {:?}", size("once"), size("twice"));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(size("once"), Some(1), "the order counts once after the merge");
    assert_eq!(size("twice"), Some(0), "not twice");
    assert_eq!(size("anyone"), Some(1), "one profile: the merged-away one is gone");
}
