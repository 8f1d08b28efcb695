//! Send policies: caps, quiet hours, suppression, tolerance, send time.

use jiff::tz::TimeZone;
use tidings_journeys::policy::{
    Decision, Frequency, Kind, Policy, Recipient, SendTime, Suppression, decide, effective_cap, hour_of_week_counts,
};
use tidings_model::Micros;
use tidings_model::time::{DAY, HOUR, parse_time};

fn t(s: &str) -> Micros {
    parse_time(s).unwrap()
}

fn subscribed(sent: &[&str]) -> Recipient {
    Recipient { subscribed: true, marketing_sent: sent.iter().map(|s| t(s)).collect(), ..Recipient::default() }
}

#[test]
fn caps_defer_until_a_slot_frees_and_transactional_mail_is_exempt() {
    let p = Policy::default(); // 3 in 7 days, 16 h apart, quiet 21-08
    let utc = TimeZone::UTC;
    let r = subscribed(&["2026-03-01T10:00:00Z", "2026-03-03T10:00:00Z", "2026-03-05T10:00:00Z"]);
    let now = t("2026-03-06T12:00:00Z");
    match decide(&p, &r, Kind::Marketing, now, &utc) {
        Decision::Defer { until, reason } => {
            assert_eq!(until, t("2026-03-08T10:00:00Z") + 1, "when the first send leaves the window");
            assert!(reason.contains("frequency cap: 3 in 7 days"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
    assert_eq!(decide(&p, &r, Kind::Transactional, now, &utc), Decision::Send);
    // Two in the window, but the last only 6 hours ago.
    let r = subscribed(&["2026-03-03T10:00:00Z", "2026-03-06T06:00:00Z"]);
    assert!(
        matches!(decide(&p, &r, Kind::Marketing, now, &utc), Decision::Defer { until, .. } if until == t("2026-03-06T22:00:00Z"))
    );
    let r = subscribed(&["2026-03-03T10:00:00Z"]);
    assert_eq!(decide(&p, &r, Kind::Marketing, now, &utc), Decision::Send);
}

#[test]
fn suppression_and_consent() {
    let p = Policy::default();
    let utc = TimeZone::UTC;
    let now = t("2026-03-06T12:00:00Z");
    let mut r = subscribed(&[]);
    r.suppressed = Some(Suppression::Unsubscribed);
    assert!(matches!(decide(&p, &r, Kind::Marketing, now, &utc), Decision::Skip { .. }));
    assert_eq!(decide(&p, &r, Kind::Transactional, now, &utc), Decision::Send, "receipts still go to the unsubscribed");
    r.suppressed = Some(Suppression::HardBounce);
    assert!(
        matches!(decide(&p, &r, Kind::Transactional, now, &utc), Decision::Skip { .. }),
        "nothing goes to a dead address"
    );
    let no_consent = Recipient::default();
    assert!(
        matches!(decide(&p, &no_consent, Kind::Marketing, now, &utc), Decision::Skip { reason } if reason.contains("consent"))
    );
}

#[test]
fn quiet_hours_defer_to_the_local_morning() {
    let p = Policy::default();
    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    // 14:00 UTC = 23:00 in Tokyo: quiet until 08:00 Tokyo = 23:00 UTC.
    let r = subscribed(&[]);
    match decide(&p, &r, Kind::Marketing, t("2026-03-06T14:00:00Z"), &tokyo) {
        Decision::Defer { until, reason } => {
            assert_eq!(until, t("2026-03-06T23:00:00Z"));
            assert!(reason.contains("Asia/Tokyo"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
    // 02:00 local after midnight: the same morning.
    assert!(
        matches!(decide(&p, &r, Kind::Marketing, t("2026-03-06T17:00:00Z"), &tokyo), Decision::Defer { until, .. } if until == t("2026-03-06T23:00:00Z"))
    );
    // 10:00 local: fine.
    assert_eq!(decide(&p, &r, Kind::Marketing, t("2026-03-06T01:00:00Z"), &tokyo), Decision::Send);
}

#[test]
fn tolerance_lowers_the_cap_for_people_who_ignore_mail() {
    let p = Policy::default();
    let mut r = subscribed(&[]);
    (r.sent_30d, r.engaged_30d) = (10, 5);
    assert_eq!(effective_cap(&p, &r), 3);
    (r.sent_30d, r.engaged_30d) = (10, 2);
    assert_eq!(effective_cap(&p, &r), 2);
    (r.sent_30d, r.engaged_30d) = (10, 0);
    assert_eq!(effective_cap(&p, &r), 1);
    (r.sent_30d, r.engaged_30d) = (3, 0);
    assert_eq!(effective_cap(&p, &r), 3, "too few sends to judge");
    r.marketing_sent = vec![t("2026-03-03T10:00:00Z")];
    (r.sent_30d, r.engaged_30d) = (10, 0);
    match decide(&p, &r, Kind::Marketing, t("2026-03-06T12:00:00Z"), &TimeZone::UTC) {
        Decision::Defer { reason, .. } => assert!(reason.contains("lowered from 3"), "{reason}"),
        d => panic!("{d:?}"),
    }
}

#[test]
fn a_weekend_buyer_gets_weekend_mail_and_a_newcomer_the_workspace_best() {
    let utc = TimeZone::UTC;
    let p = Policy::default();
    // The workspace reads mail on weekday evenings at 19:00.
    let mut everyone = Vec::new();
    for week in 0..8 {
        for day in 0..5 {
            everyone.push(t("2026-01-05T19:00:00Z") + week * 7 * DAY + day * DAY);
        }
    }
    let ws = hour_of_week_counts(&everyone, &utc);
    // This person buys and opens on Saturday mornings at 10:00.
    let own: Vec<Micros> = (0..6).map(|w| t("2026-01-10T10:00:00Z") + w * 7 * DAY).collect();
    let st = SendTime::learn(&hour_of_week_counts(&own, &utc), &ws, 5.0);
    let from = t("2026-03-02T09:00:00Z"); // a Monday
    let best = st.best_time(from, 7 * DAY, &utc, &p);
    assert_eq!(best, t("2026-03-07T10:00:00Z"), "Saturday 10:00");
    // Someone with no history gets the workspace's habit: the next weekday 19:00.
    let newcomer = SendTime::learn(&[0.0; 168], &ws, 5.0);
    assert_eq!(newcomer.best_time(from, 7 * DAY, &utc, &p), t("2026-03-02T19:00:00Z"));
    // One stray open does not outweigh the workspace.
    let stray = SendTime::learn(&hour_of_week_counts(&[t("2026-01-07T03:00:00Z")], &utc), &ws, 5.0);
    assert_eq!(stray.best_time(from, 7 * DAY, &utc, &p), t("2026-03-02T19:00:00Z"));
    // Never in quiet hours, even when that is when they read.
    let night_owl: Vec<Micros> = (0..20).map(|d| t("2026-01-05T23:00:00Z") + d * DAY).collect();
    let owl = SendTime::learn(&hour_of_week_counts(&night_owl, &utc), &ws, 5.0);
    let b = owl.best_time(from, 7 * DAY, &utc, &p);
    let hour = (b / HOUR) % 24;
    assert!((8..21).contains(&hour), "{hour}");
}

#[test]
fn a_topic_opt_out_skips_and_a_chosen_frequency_narrows_the_caps() {
    let p = Policy::default();
    let utc = TimeZone::UTC;
    let now = t("2026-03-10T12:00:00Z");
    let mut r = subscribed(&["2026-03-06T10:00:00Z"]);
    assert_eq!(decide(&p, &r, Kind::Marketing, now, &utc), Decision::Send);
    r.frequency = Frequency::Weekly;
    assert_eq!(
        decide(&p, &r, Kind::Marketing, now, &utc),
        Decision::Defer {
            until: t("2026-03-13T10:00:00Z") + 1,
            reason: "the recipient asked for at most one email a week".into()
        }
    );
    r.frequency = Frequency::Monthly;
    let Decision::Defer { until, .. } = decide(&p, &r, Kind::Marketing, now, &utc) else { panic!() };
    assert_eq!(until, t("2026-04-05T10:00:00Z") + 1);
    // Receipts are not marketing: neither limit applies.
    r.unsubscribed_topic = Some("cart".into());
    assert_eq!(decide(&p, &r, Kind::Transactional, now, &utc), Decision::Send);
    assert_eq!(
        decide(&p, &r, Kind::Marketing, now, &utc),
        Decision::Skip { reason: "unsubscribed from the topic \"cart\"".into() }
    );
    assert_eq!(Frequency::from_trait(Some(&serde_json::json!("weekly"))), Frequency::Weekly);
    assert_eq!(Frequency::from_trait(Some(&serde_json::json!("hourly"))), Frequency::Usual);
}
