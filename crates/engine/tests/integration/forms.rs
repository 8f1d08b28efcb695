//! Every condition form at its edges: window boundaries, deadlines, ages,
//! local time, missing and mistyped values. Each question is answered by
//! both evaluators (see `Scenario::eval`), and must match the expectation.

use serde_json::json;
use tidings_model::time::{DAY, HOUR, MINUTE};

use crate::support::{Scenario, t};

const T: &str = "2026-03-02T12:00:00Z"; // a Monday

#[test]
fn in_last_is_half_open() {
    let t0 = t(T);
    let mut s = Scenario::new(r#"segment s { did "A" in last 2d }"#);
    s.track("A", t0, json!({}));
    assert!(!s.member("s", t0 - 1), "before the event");
    assert!(s.member("s", t0));
    assert!(s.member("s", t0 + 2 * DAY - 1));
    assert!(!s.member("s", t0 + 2 * DAY), "(now - 2d, now] excludes now - 2d");
}

#[test]
fn between_is_half_open_at_both_ends() {
    let t0 = t(T);
    let mut s = Scenario::new(r#"segment s { did "A" between 1d and 3d ago }"#);
    s.track("A", t0, json!({}));
    assert!(!s.member("s", t0 + DAY - 1));
    assert!(s.member("s", t0 + DAY));
    assert!(s.member("s", t0 + 3 * DAY - 1));
    assert!(!s.member("s", t0 + 3 * DAY));
}

#[test]
fn counts_at_most_and_exactly() {
    let t0 = t(T);
    let mut s = Scenario::new(
        r#"segment most { did "A" at most 1 time in last 1h }
           segment exactly { did "A" exactly 2 times in last 1h }
           segment none { did "A" exactly 0 times }"#,
    );
    s.track("B", t0 - HOUR, json!({}));
    assert!(s.member("most", t0) && s.member("none", t0) && !s.member("exactly", t0));
    s.track("A", t0, json!({})).track("A", t0 + MINUTE, json!({}));
    assert!(!s.member("most", t0 + MINUTE) && s.member("exactly", t0 + MINUTE));
    // The first leaves the window: one left.
    assert!(s.member("most", t0 + HOUR) && !s.member("exactly", t0 + HOUR));
    assert!(!s.member("none", t0 + HOUR));
}

#[test]
fn since_last_without_such_event_is_the_whole_history() {
    let t0 = t(T);
    let mut s = Scenario::new(r#"segment s { did "A" at least 2 times since last "Reset" }"#);
    s.track("A", t0 - 10 * DAY, json!({})).track("A", t0, json!({}));
    assert!(s.member("s", t0));
    // An event at the same time as the reset is not after it.
    s.track("Reset", t0, json!({}));
    assert!(!s.member("s", t0));
    s.track("A", t0 + 1, json!({})).track("A", t0 + 2, json!({}));
    assert!(s.member("s", t0 + 2));
    // A late, older reset changes nothing: the newest one counts.
    s.track_late("Reset", t0 - DAY, t0 + 3, json!({}));
    assert!(s.member("s", t0 + 3));
}

#[test]
fn then_not_deadline_is_exactly_t_plus_d() {
    let t0 = t(T);
    let rules = r#"segment s { did "Product Added" then not "Order Completed" within 1h in last 3d }"#;
    let mut s = Scenario::new(rules);
    s.track("Product Added", t0, json!({}));
    assert!(!s.member("s", t0 + HOUR - 1));
    assert!(s.member("s", t0 + HOUR), "t + D <= now");
    assert!(s.member("s", t0 + 3 * DAY - 1));
    assert!(!s.member("s", t0 + 3 * DAY), "the first event left the window");

    // An order exactly at the deadline is within (t, t + D].
    let mut s = Scenario::new(rules);
    s.track("Product Added", t0, json!({})).track("Order Completed", t0 + HOUR, json!({}));
    assert!(!s.member("s", t0 + HOUR));
    // One a microsecond later is not.
    let mut s = Scenario::new(rules);
    s.track("Product Added", t0, json!({})).track("Order Completed", t0 + HOUR + 1, json!({}));
    assert!(s.member("s", t0 + HOUR) && s.member("s", t0 + 2 * HOUR));
    // One at the same time is not after it.
    let mut s = Scenario::new(rules);
    s.track("Order Completed", t0, json!({})).track("Product Added", t0, json!({}));
    assert!(s.member("s", t0 + HOUR));
    // A late order, arriving after the deadline, takes it back.
    let mut s = Scenario::new(rules);
    s.track("Product Added", t0, json!({})).track_late("Order Completed", t0 + 30 * MINUTE, t0 + 2 * HOUR, json!({}));
    assert!(s.member("s", t0 + 2 * HOUR - 1));
    assert!(!s.member("s", t0 + 2 * HOUR));
}

#[test]
fn then_within_and_matching() {
    let t0 = t(T);
    let rules = r#"segment s { did "Viewed" then "Added" within 10m matching product_id }
                   segment any { did "Viewed" then "Added" within 10m }"#;
    let mut s = Scenario::new(rules);
    s.track("Viewed", t0, json!({"product_id": 7})).track("Added", t0 + MINUTE, json!({"product_id": 8})).track(
        "Added",
        t0 + 2 * MINUTE,
        json!({}),
    );
    assert!(!s.member("s", t0 + 3 * MINUTE), "different or missing values do not pair");
    assert!(s.member("any", t0 + 3 * MINUTE));
    s.track("Added", t0 + 10 * MINUTE, json!({"product_id": 7.0}));
    assert!(s.member("s", t0 + 10 * MINUTE), "7 and 7.0 are equal; t + D is within");
    // Both missing: never equal.
    let mut s = Scenario::new(rules);
    s.track("Viewed", t0, json!({})).track("Added", t0 + MINUTE, json!({}));
    assert!(!s.member("s", t0 + MINUTE) && s.member("any", t0 + MINUTE));
}

#[test]
fn recency_ages() {
    let t0 = t(T);
    let mut s = Scenario::new(
        r#"segment old { last "A" more than 1d ago }
           segment fresh { last "A" less than 1d ago }
           segment early { first "A" more than 6d ago }"#,
    );
    assert!(!s.member("old", t0) && !s.member("fresh", t0), "no such event: neither");
    s.track("A", t0, json!({}));
    assert!(s.member("fresh", t0 + DAY - 1) && !s.member("fresh", t0 + DAY));
    assert!(!s.member("old", t0 + DAY), "now - t > D, not >=");
    assert!(s.member("old", t0 + DAY + 1));
    // A newer one makes `last` young again; a late older one moves `first`.
    s.track("A", t0 + 5 * DAY, json!({}));
    assert!(!s.member("old", t0 + 5 * DAY) && s.member("fresh", t0 + 5 * DAY));
    assert!(!s.member("early", t0 + 5 * DAY + 1));
    s.track_late("A", t0 - 10 * DAY, t0 + 5 * DAY + 1, json!({}));
    assert!(s.member("early", t0 + 5 * DAY + 1));
}

#[test]
fn aggregates_skip_missing_and_mistyped_values() {
    let t0 = t(T);
    let mut s = Scenario::new(
        r#"segment total { total revenue of "Order" in last 7d >= 100 }
           segment avg_ne { average revenue of "Order" != 5 }
           segment low { min revenue of "Order" < 10 }
           segment high { max revenue of "Order" >= 60 }
           segment kinds { distinct category of "Order" >= 2 }
           segment zero { total revenue of "Order" == 0 }"#,
    );
    s.track("Order", t0, json!({"revenue": "90", "category": "shoes"}));
    s.track("Order", t0, json!({"category": "bags"}));
    let e = s.eval(t0);
    assert!(!e.is_member("avg_ne"), "average over no numeric values is false for every CMP, != included");
    assert!(!e.is_member("low") && !e.is_member("high"));
    assert!(e.is_member("kinds") && e.is_member("zero"), "a total over nothing is 0");
    s.track("Order", t0 + HOUR, json!({"revenue": 60.5, "category": "shoes"}));
    s.track("Order", t0 + 2 * HOUR, json!({"revenue": 39.5}));
    let e = s.eval(t0 + 2 * HOUR);
    assert!(e.is_member("total") && e.is_member("avg_ne") && !e.is_member("low") && e.is_member("high"));
    // The first paid order leaves the 7-day window.
    assert!(!s.member("total", t0 + HOUR + 7 * DAY));
    // 0.1 + 0.2 + 0.3 totals exactly 0.6, in any order.
    let mut s = Scenario::new(r#"segment s { total x of "E" == 0.6 }"#);
    s.track("E", t0 + 2, json!({"x": 0.3})).track("E", t0, json!({"x": 0.1})).track("E", t0 + 1, json!({"x": 0.2}));
    assert!(s.member("s", t0 + 2));
}

#[test]
fn share_on_weekends_in_the_profiles_zone() {
    // Friday 23:30 UTC is Saturday 00:30 in Berlin; Sunday 23:30 UTC is
    // Monday 00:30 there.
    let fri = t("2026-03-06T23:30:00Z");
    let sun = t("2026-03-08T23:30:00Z");
    let rules = r#"segment s { share of "Order" on weekends >= 50% }"#;
    let mut s = Scenario::new(rules);
    s.track("Order", fri, json!({})).track("Order", sun, json!({}));
    assert!(s.member("s", sun), "UTC: Friday, Sunday: 1 of 2 = 50%");
    s.identify(sun + 1, json!({"timezone": "Europe/Berlin"}));
    assert!(s.member("s", sun + 1), "Berlin: Saturday, Monday: still 1 of 2");
    // The workspace default applies without a valid trait.
    let mut s = Scenario::new(r#"segment s { share of "Order" on saturdays == 1 }"#).default_tz("Europe/Berlin");
    s.track("Order", fri, json!({}));
    assert!(s.member("s", fri));
    s.identify(fri + 1, json!({"timezone": "Mars/Olympus"}));
    assert!(s.member("s", fri + 1), "an unknown zone falls back to the default");
    s.identify(fri + 2, json!({"timezone": "UTC"}));
    assert!(!s.member("s", fri + 2), "UTC: a Friday");
    // A zone set by a message stamped later does not exist yet.
    s.identify_late(fri + DAY, fri + 3, json!({"timezone": "Europe/Berlin"}));
    assert!(!s.member("s", fri + 3));
    assert!(s.member("s", fri + DAY), "from its timestamp on it does");
    // No matching events: false whatever the comparison.
    let mut s = Scenario::new(r#"segment s { share of "Order" on weekends <= 100% }"#);
    s.page(fri);
    assert!(!s.member("s", fri));
}

#[test]
fn share_in_hours_wraps_midnight() {
    let mut s = Scenario::new(
        r#"segment night { share of "Open" on hours 22 to 6 == 1 }
           segment day { share of "Open" on hours 9 to 17 > 0 }"#,
    );
    s.identify(t("2026-03-02T00:00:00Z"), json!({"timezone": "Asia/Kolkata"}));
    // 17:00 UTC is 22:30 in Kolkata; 00:29 UTC is 05:59 there.
    s.track("Open", t("2026-03-02T17:00:00Z"), json!({})).track("Open", t("2026-03-03T00:29:00Z"), json!({}));
    let e = s.eval(t("2026-03-03T01:00:00Z"));
    assert!(e.is_member("night") && !e.is_member("day"));
    // 00:30 UTC is 06:00 there: outside `22 to 6`.
    s.track("Open", t("2026-03-03T00:30:00Z"), json!({}));
    assert!(!s.member("night", t("2026-03-03T01:00:00Z")));
}

#[test]
fn active_days_are_local_calendar_days() {
    // 18:00 and 19:00 UTC fall on two days in Kolkata (23:30, 00:30).
    let mut s = Scenario::new(
        r#"segment two { active on at least 2 days in last 7d }
           segment quiet { active on at most 0 days in last 1d }"#,
    );
    s.track("Viewed", t("2026-03-05T18:00:00Z"), json!({})).page(t("2026-03-05T19:00:00Z"));
    let now = t("2026-03-05T20:00:00Z");
    assert!(!s.member("two", now), "one UTC day");
    s.identify(now, json!({"timezone": "Asia/Kolkata"}));
    assert!(s.member("two", now), "two days in Kolkata");
    // Engine events and identify calls are not activity.
    let mut s = Scenario::new(r#"segment quiet { active on at most 0 days in last 1d }"#);
    s.track("Email Sent", t(T), json!({})).identify(t(T), json!({"plan": "pro"}));
    assert!(s.member("quiet", t(T)));
    s.track("Email Opened", t(T), json!({}));
    assert!(!s.member("quiet", t(T)), "an open is activity");
}

#[test]
fn first_and_last_seen() {
    let t0 = t(T);
    let mut s = Scenario::new(
        r#"segment new { first seen less than 14d ago }
           segment lapsed { last seen more than 30d ago }"#,
    );
    s.identify(t0 - 40 * DAY, json!({"email": "a@example.com"}));
    s.track("Email Delivered", t0 - 40 * DAY, json!({}));
    assert!(!s.member("new", t0) && !s.member("lapsed", t0), "no activity yet");
    s.page(t0 - 31 * DAY);
    assert!(!s.member("new", t0) && s.member("lapsed", t0));
    assert!(!s.member("lapsed", t0 - DAY), "exactly 30d: not more than");
    assert!(s.member("lapsed", t0 - DAY + 1));
}

#[test]
fn traits_as_of_the_evaluation_time() {
    let t0 = t(T);
    let mut s = Scenario::new(
        r#"segment pro { trait plan == "pro" }
           segment not_free { trait plan != "free" }
           segment german { trait address.country == "DE" }
           segment older { trait age > 30 }
           segment tagged { trait tags contains "vip" }
           segment listed { trait plan in ["pro", "team"] }"#,
    );
    s.page(t0 - HOUR);
    assert!(!s.member("not_free", t0), "!= is false without the trait");
    s.identify(t0, json!({"plan": "pro", "address": {"country": "DE"}, "age": "40", "tags": ["vip"]}));
    let e = s.eval(t0);
    assert!(e.is_member("pro") && e.is_member("not_free") && e.is_member("german") && e.is_member("listed"));
    assert!(!e.is_member("older"), "a string is not a number");
    assert!(e.is_member("tagged"));
    // A value set by a later message does not exist yet; an older one
    // arriving late does not overwrite a newer one.
    s.identify_late(t0 + DAY, t0 + HOUR, json!({"plan": "free"}));
    s.identify_late(t0 - DAY, t0 + 2 * HOUR, json!({"plan": "team"}));
    assert!(s.member("pro", t0 + 2 * HOUR));
    assert!(!s.member("pro", t0 + DAY) && !s.member("not_free", t0 + DAY));
    // Same timestamp: the later arrival wins.
    s.identify(t0 + DAY, json!({"plan": "pro"}));
    assert!(s.member("pro", t0 + DAY));
}

#[test]
fn subscription() {
    let t0 = t(T);
    let rules = r#"segment any { subscribed }
                   segment news { subscribed to "news" }"#;
    let mut s = Scenario::new(rules);
    s.identify(t0, json!({"email": "a@example.com"}));
    assert!(s.member("any", t0) && s.member("news", t0));
    s.track("Unsubscribed", t0 + HOUR, json!({"topic": "news"}));
    let e = s.eval(t0 + HOUR);
    assert!(e.is_member("any") && !e.is_member("news"), "a topic ends only that topic");
    s.track("Unsubscribed", t0 + 2 * HOUR, json!({}));
    assert!(!s.member("any", t0 + 2 * HOUR));
    // Consent given again after the unsubscribe.
    s.identify(t0 + 3 * HOUR, json!({"marketing_consent": true}));
    let e = s.eval(t0 + 3 * HOUR);
    assert!(e.is_member("any") && e.is_member("news"));
    // Refused consent, the `unsubscribed` trait, a missing email: not subscribed.
    for traits in [json!({"marketing_consent": false}), json!({"unsubscribed": true}), json!({"email": ""})] {
        let mut s = Scenario::new(rules);
        s.identify(t0, json!({"email": "a@example.com"})).identify(t0 + 1, traits);
        assert!(!s.member("any", t0 + 1));
    }
}

#[test]
fn segments_and_stages_depend_on_each_other() {
    let t0 = t(T);
    let mut s = Scenario::new(
        r#"segment buyer { did "Order" }
           segment recent_buyer { in segment buyer and did "Order" in last 1d }
           stages life {
             hot: in segment recent_buyer
             customer: in segment buyer
             other: otherwise
           }
           segment was_hot { not in stage life.hot and in segment buyer }"#,
    );
    assert_eq!(s.stage("life", t0), None, "no profile yet");
    s.page(t0);
    assert_eq!(s.stage("life", t0).as_deref(), Some("other"));
    s.track("Order", t0 + HOUR, json!({}));
    assert_eq!(s.stage("life", t0 + HOUR).as_deref(), Some("hot"));
    assert!(!s.member("was_hot", t0 + HOUR));
    assert_eq!(s.stage("life", t0 + HOUR + DAY).as_deref(), Some("customer"));
    assert!(s.member("was_hot", t0 + HOUR + DAY));
}

#[test]
fn nothing_before_the_first_message() {
    let t0 = t(T);
    let mut s = Scenario::new(r#"segment s { not did "Order" }"#);
    s.identify_late(t0 + HOUR, t0, json!({"plan": "pro"}));
    assert!(!s.member("s", t0), "its first message is stamped later");
    assert!(s.member("s", t0 + HOUR));
}
