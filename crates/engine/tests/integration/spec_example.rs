//! The spec's example definitions on a small scripted shop: who is in what,
//! by both evaluators, and the change a timer makes.

use jiff::tz::TimeZone;
use serde_json::json;
use tidings_engine::{ChangeKind, Engine, Observed, ProfileInput, evaluate};
use tidings_model::time::{DAY, HOUR, MINUTE};
use tidings_model::{Micros, ProfileId};

use crate::support::{t, workspace};

const SPEC_EXAMPLE: &str = include_str!("../../../rules/tests/spec_example.tidings");

/// Monday 2026-03-02, noon UTC.
fn now() -> Micros {
    t("2026-03-02T12:00:00Z")
}

/// Profile number → its messages.
fn shop() -> Vec<(i64, Vec<Observed>)> {
    let n = now();
    let seq = std::cell::Cell::new(0);
    let next = || {
        seq.set(seq.get() + 1);
        seq.get()
    };
    let track = |name: &str, at: Micros, props| Observed::track(next(), name, at, props);
    let browser = vec![track("Product Viewed", n - DAY, json!({"product_id": 1}))];
    let cart = vec![track("Product Added", n - 2 * HOUR, json!({"product_id": 2}))];
    // Wednesday, Sunday, and Friday 23:30 UTC, which is Saturday in Berlin.
    let weekender = vec![
        track("Order Completed", t("2026-02-18T10:00:00Z"), json!({"revenue": 40})),
        track("Order Completed", t("2026-02-22T10:00:00Z"), json!({"revenue": 40})),
        track("Order Completed", t("2026-02-27T23:30:00Z"), json!({"revenue": 40})),
    ];
    let opener = vec![
        Observed::page(next(), Some("Home"), n - 40 * DAY),
        track("Email Opened", n - 20 * DAY, json!({})),
        track("Email Opened", n - 10 * DAY, json!({})),
        track("Email Opened", n - DAY, json!({})),
    ];
    let big_spender = vec![track("Order Completed", n - 100 * DAY, json!({"revenue": 600}))];
    let clicker = vec![Observed::page(next(), None, n - 60 * DAY), track("Email Clicked", n - 5 * DAY, json!({}))];
    let buyer = vec![
        track("Product Viewed", n - DAY, json!({"product_id": 3})),
        track("Order Completed", n - HOUR, json!({"revenue": 20})),
    ];
    let fresh_cart = vec![track("Product Added", n - 30 * MINUTE, json!({"product_id": 4}))];
    let identified = vec![Observed::identify(next(), n - DAY, json!({"email": "p9@example.com"}))];
    let later = vec![track("Product Viewed", n + HOUR, json!({}))];
    let mut weekender = weekender;
    weekender.insert(0, Observed::identify(next(), t("2026-02-01T00:00:00Z"), json!({"timezone": "Europe/Berlin"})));
    vec![
        (1, browser),
        (2, cart),
        (3, weekender),
        (4, opener),
        (5, big_spender),
        (6, clicker),
        (7, buyer),
        (8, fresh_cart),
        (9, identified),
        (10, later),
    ]
}

/// A profile's answers: its number, its segments, its stage per set.
type Answers = (i64, Vec<String>, Vec<(String, Option<String>)>);

/// `segment,profile` lines, sorted, as `tidings segments eval` prints them,
/// then `stages:profile=stage` lines.
fn listing(answers: &[Answers]) -> Vec<String> {
    let mut lines: Vec<String> =
        answers.iter().flat_map(|(p, segments, _)| segments.iter().map(move |s| format!("{s},{p}"))).collect();
    lines.sort();
    for (p, _, stages) in answers {
        for (set, stage) in stages {
            if let Some(stage) = stage {
                lines.push(format!("{set}:{p}={stage}"));
            }
        }
    }
    lines
}

#[test]
fn spec_example_members() {
    let ws = workspace(SPEC_EXAMPLE);
    let tz = TimeZone::UTC;
    let n = now();

    let mut reference = Vec::new();
    for (p, messages) in shop() {
        let e = evaluate(&ws, &ProfileInput::new(messages), n, &tz);
        let stages = e.stages.clone().into_iter().collect();
        reference.push((p, e.members().map(str::to_string).collect(), stages));
    }

    // The live engine, fed every message at its own time, in time order.
    let mut engine = Engine::new(&ws, tz).unwrap();
    let mut all: Vec<(i64, Observed)> =
        shop().into_iter().flat_map(|(p, ms)| ms.into_iter().map(move |m| (p, m))).collect();
    all.sort_by_key(|(_, m)| (m.timestamp, m.seq));
    for (p, m) in all {
        let at = m.timestamp.min(n);
        engine.advance(at);
        engine.apply(ProfileId(p), m, at).unwrap();
    }
    engine.advance(n);
    let live: Vec<_> = (1..=10)
        .map(|p| {
            let id = ProfileId(p);
            let segments = engine.segments_of(id).into_iter().map(str::to_string).collect();
            let stage = engine.stage_of(id, "lifecycle").map(str::to_string);
            (p, segments, vec![("lifecycle".to_string(), stage)])
        })
        .collect();

    let expected = [
        "browse_abandoners,1",
        "cart_abandoners,2",
        "loyal,3",
        "loyal,5",
        "opens_no_clicks,4",
        "weekend_buyers,3",
        "lifecycle:1=new",
        "lifecycle:2=new",
        "lifecycle:3=power_user",
        "lifecycle:4=dormant",
        "lifecycle:5=power_user",
        "lifecycle:6=engaged",
        "lifecycle:7=customer",
        "lifecycle:8=new",
        "lifecycle:9=dormant",
    ];
    assert_eq!(listing(&reference), expected);
    assert_eq!(listing(&live), expected);

    // Half an hour later, profile 8's cart is abandoned: the timer fires at
    // exactly the deadline.
    assert_eq!(engine.next_wake(), Some(n + 30 * MINUTE));
    let changes = engine.advance(n + 2 * HOUR);
    let cart = changes
        .iter()
        .find(|c| {
            c.profile == ProfileId(8)
                && matches!(&c.kind, ChangeKind::Entered { segment } if segment == "cart_abandoners")
        })
        .expect("profile 8 enters cart_abandoners");
    assert_eq!(cart.at, n + 30 * MINUTE);
    // Profile 10's first message comes due and it appears, at its timestamp.
    let born = changes.iter().find(|c| c.profile == ProfileId(10)).expect("profile 10 appears");
    assert_eq!(born.at, n + HOUR);
    assert!(engine.members("browse_abandoners").unwrap().contains(10));
}
