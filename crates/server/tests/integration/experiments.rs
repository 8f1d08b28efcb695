//! An experiment inside a journey, decided by the runner: a split with
//! `rollout = true` is reviewed each hour with the always-valid sequential
//! test; once it declares the better arm, later entrants outside the
//! holdout get that arm, and the decision is in the learnings log.

use crate::journeys::{START, Shop};
use serde_json::{Value, json};
use tidings_model::time::{DAY, HOUR, format_time};
use tidings_testkit::http::bearer;

const JOURNEY: &str = r#"
key = "trial_nudge"
[trigger]
event = "Trial Started"
[[step]]
id = "pick"
split = [{ to = "plain", percent = 45 }, { to = "bold", percent = 45 }, { holdout = true, percent = 10 }]
experiment = "trial_subject"
hypothesis = "A bold reward email gets more trial users to order than the plain newsletter"
rollout = true
window = "1d"
[[step]]
id = "plain"
send = "newsletter"
next = "exit"
[[step]]
id = "bold"
send = "loyalty_reward"
"#;

/// Whether `user` orders after an email: 40% after the bold one, 10% after the plain one.
fn orders_after(user: &str, template: &str) -> bool {
    let n: u32 = user.trim_start_matches('u').parse().unwrap();
    let bucket = n.wrapping_mul(2_654_435_761) % 100;
    bucket < if template == "loyalty_reward" { 40 } else { 10 }
}

fn exposures(shop: &Shop, user: &str) -> Vec<Value> {
    let p = shop.store.find_profile(shop.ws, user).unwrap().unwrap();
    shop.store
        .profile_history(shop.ws, p.id)
        .unwrap()
        .iter()
        .filter(|e| e.event.as_deref() == Some("Experiment Viewed"))
        .map(|e| e.to_json()["properties"].clone())
        .collect()
}

#[test]
fn a_journey_experiment_is_decided_by_the_sequential_test_and_rolled_out() {
    let mut shop = Shop::with_journeys(&[("trial.toml", JOURNEY)]);
    let mut seen = 0;
    // 40 people a day start a trial, from 09:00, at 20-minute steps: 600 over the first days.
    let starts = |t: i64| (t - START) % DAY >= 9 * HOUR && (t - START) % DAY < 22 * HOUR;
    let mut next_user = 0u32;
    let mut decided_at = None;
    shop.run(START + 6 * DAY, 20 * tidings_model::time::MINUTE, |s, t| {
        if starts(t) && t < START + 5 * DAY {
            for _ in 0..3 {
                let u = format!("u{next_user}");
                next_user += 1;
                s.person(&u, true, "UTC", t);
                s.track(&u, "Trial Started", json!({}), t);
            }
        }
        // React to what was sent since the last step.
        let new: Vec<(String, String)> =
            s.emails[seen..].iter().map(|e| (e.user_id.clone().unwrap_or_default(), e.template.clone())).collect();
        seen = s.emails.len();
        for (u, template) in new {
            if orders_after(&u, &template) {
                s.track(&u, "Order Completed", json!({"revenue": 30}), t);
            }
        }
        if decided_at.is_none() {
            let l = tidings_store::learnings::load(s.store.as_ref(), s.ws).unwrap();
            if !l.is_empty() {
                decided_at = Some((t, next_user));
            }
        }
    });
    let (when, first_after) = decided_at.expect("the experiment was decided within the run");
    assert!(when > START + DAY, "nothing is decided before any exposure's window has passed: {}", format_time(when));
    assert!(when < START + 4 * DAY, "a 40% vs 10% difference is found within days: {}", format_time(when));

    let log = tidings_store::learnings::load(shop.store.as_ref(), shop.ws).unwrap();
    assert_eq!(log.len(), 1);
    let l = &log[0];
    assert_eq!(l.experiment, "trial_subject");
    assert_eq!(l.winner.as_deref(), Some("bold"));
    assert_eq!(l.source, "automatic");
    assert_eq!(l.journey.as_deref(), Some("trial_nudge"));
    assert_eq!(l.segment.as_deref(), Some("did \"Trial Started\""));
    assert!(l.result.contains("bold beat plain") && l.result.contains("mSPRT"), "{}", l.result);
    assert!(l.decision.starts_with("rolled out bold"), "{}", l.decision);

    // Before the decision both arms and the holdout were drawn at random...
    let before: Vec<String> =
        (0..first_after.min(300)).map(|i| exposures(&shop, &format!("u{i}"))[0]["variation_id"].to_string()).collect();
    for arm in ["\"plain\"", "\"bold\"", "\"holdout\""] {
        assert!(before.iter().any(|v| v == arm), "{arm} was drawn before the decision");
    }
    // ...after it, everyone outside the holdout got the winner, marked as rollout; the holdout stayed.
    let mut after = (0, 0);
    for i in first_after + 3..next_user {
        let e = &exposures(&shop, &format!("u{i}"))[0];
        match e["variation_id"].as_str().unwrap() {
            "bold" => {
                assert_eq!(e["phase"], "rollout");
                after.0 += 1;
            }
            "holdout" => after.1 += 1,
            other => panic!("u{i} got {other} after the decision"),
        }
    }
    assert!(after.0 > 50 && after.1 > 0, "rolled out to {} people, {} held out", after.0, after.1);

    // The learnings log through the API: searchable; a manual conclusion is added once.
    let mut c = shop.client();
    let got = c.get("/api/learnings?q=bold%20reward", Some(&bearer("a"))).unwrap().json();
    assert_eq!(got["learnings"][0]["experiment"], "trial_subject");
    assert_eq!(got["learnings"][0]["hypothesis"], l.hypothesis.clone().unwrap());
    let none = c.get("/api/learnings?q=subject%20lines%20with%20emoji", Some(&bearer("a"))).unwrap().json();
    assert_eq!(none["learnings"].as_array().unwrap().len(), 0);
    let manual = json!({"experiment": "emoji_subjects", "hypothesis": "Emoji in subjects raise opens",
        "result": "no difference in human opens after 4 weeks", "decision": "keep plain subjects"});
    let r = c.post("/api/learnings", Some(&bearer("a")), manual.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let again = c.post("/api/learnings", Some(&bearer("a")), manual.to_string().as_bytes()).unwrap();
    assert_eq!(again.status, 409);
    let bad = c.post("/api/learnings", Some(&bearer("a")), br#"{"experiment": "x"}"#).unwrap();
    assert_eq!(bad.status, 400);
    let all = c.get("/api/learnings", Some(&bearer("a"))).unwrap().json();
    assert_eq!(all["learnings"][0]["experiment"], "emoji_subjects", "newest first");
    assert_eq!(all["learnings"][0]["source"], "manual");
}

/// A broadcast with variants and a holdout: everyone in the audience is
/// assigned by a hash of the name and the profile, the exposure recorded;
/// the holdout gets nothing; the report reads it like any experiment.
#[test]
fn a_broadcast_test_splits_its_audience_with_a_holdout() {
    let mut shop = Shop::new();
    let admin = bearer("a");
    for i in 0..400 {
        shop.person(&format!("v{i}"), true, "UTC", START);
    }
    shop.clock.advance_to(START + 10 * HOUR);
    let post = |s: &Shop, body: &str| {
        s.client()
            .request("POST", "/api/broadcasts", Some(&admin), &[("Content-Type", "application/json")], body.as_bytes())
            .unwrap()
    };
    for (bad, why) in [
        (
            r#"{"name": "ab", "audience": "subscribed", "variants": [{"name": "a", "template": "newsletter", "percent": 50}]}"#,
            "add up to 50 percent",
        ),
        (
            r#"{"name": "ab", "audience": "subscribed", "variants": [{"name": "a", "template": "nope", "percent": 100}]}"#,
            "unknown_template",
        ),
        (
            r#"{"name": "ab", "audience": "subscribed", "variants": [{"name": "holdout", "template": "newsletter", "percent": 100}]}"#,
            "not \\\"holdout\\\"",
        ),
        (r#"{"name": "ab", "audience": "subscribed", "variants": "a and b"}"#, "invalid_variants"),
    ] {
        let r = post(&shop, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.text().contains(why), "{bad}: {}", r.text());
    }
    let r = post(
        &shop,
        r#"{"name": "winter_ab", "audience": "subscribed", "holdout": 20, "variants": [
            {"name": "plain", "template": "newsletter", "percent": 40},
            {"name": "reward", "template": "loyalty_reward", "percent": 40}]}"#,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    shop.run(START + DAY, 10 * tidings_model::time::MINUTE, |_, _| {});
    let mut arms: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in 0..400 {
        let u = format!("v{i}");
        let p = shop.store.find_profile(shop.ws, &u).unwrap().unwrap();
        let history = shop.store.profile_history(shop.ws, p.id).unwrap();
        let exposures: Vec<Value> = history
            .iter()
            .filter(|e| e.event.as_deref() == Some("Experiment Viewed"))
            .map(|e| e.to_json()["properties"].clone())
            .collect();
        assert_eq!(exposures.len(), 1, "{u}: one exposure");
        assert_eq!(exposures[0]["experiment_id"], "winter_ab");
        let arm = exposures[0]["variation_id"].as_str().unwrap().to_string();
        let sent: Vec<String> = shop.sent_to(&u).into_iter().map(|s| s.1).collect();
        let expected: Vec<String> = match arm.as_str() {
            "plain" => vec!["newsletter".into()],
            "reward" => vec!["loyalty_reward".into()],
            _ => vec![],
        };
        assert_eq!(sent, expected, "{u} in {arm}");
        arms.entry(arm).or_default().push(u);
    }
    let n = |k: &str| arms.get(k).map_or(0, Vec::len);
    assert_eq!(n("plain") + n("reward") + n("holdout"), 400);
    // 40/40/20 within sampling error (3 standard deviations).
    assert!((n("holdout") as f64 - 80.0).abs() < 3.0 * (400.0f64 * 0.2 * 0.8).sqrt(), "{}", n("holdout"));
    assert!((n("plain") as f64 - 160.0).abs() < 3.0 * (400.0f64 * 0.4 * 0.6).sqrt(), "{}", n("plain"));
}
