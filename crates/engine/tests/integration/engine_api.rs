//! The engine's API around the evaluation: snapshots, loading stored
//! histories, identity merges, removal, explanations, errors.

use jiff::tz::TimeZone;
use serde_json::json;
use tidings_engine::{
    ChangeKind, Compiled, Engine, EngineError, Observed, ProfileInput, Snapshot, build_state, evaluate, explain,
};
use tidings_model::time::{DAY, HOUR, MINUTE};
use tidings_model::{MessageType, ProfileId, StoredEvent};

use crate::support::{t, workspace};

const RULES: &str = r#"
segment browsers { did "Product Viewed" in last 2d and not did "Order Completed" in last 2d }
segment buyers { did "Order Completed" }
stages life {
  customer: in segment buyers
  visitor: otherwise
}
"#;

fn stored(seq: i64, kind: MessageType, event: Option<&str>, at: &str, body: serde_json::Value) -> StoredEvent {
    StoredEvent {
        seq,
        profile: ProfileId(1),
        message_id: format!("m{seq}"),
        kind,
        event: event.map(str::to_string),
        user_id: Some("u1".into()),
        anonymous_id: None,
        timestamp: t(at),
        received_at: t(at),
        body: body.to_string().into(),
    }
}

#[test]
fn stored_history_backfills_like_the_reference() {
    let ws = workspace(RULES);
    let history = [
        stored(1, MessageType::Identify, None, "2026-03-01T00:00:00Z", json!({"traits": {"plan": "pro"}})),
        stored(
            2,
            MessageType::Track,
            Some("Product Viewed"),
            "2026-03-01T10:00:00Z",
            json!({"properties": {"sku": "a"}}),
        ),
    ];
    let input = ProfileInput::from_stored(&history);
    let now = t("2026-03-02T00:00:00Z");
    let mut engine = Engine::new(&ws, TimeZone::UTC).unwrap();
    engine.backfill(ProfileId(1), &input, now).unwrap();
    assert_eq!(engine.segments_of(ProfileId(1)), ["browsers"]);
    assert_eq!(engine.stage_of(ProfileId(1), "life"), Some("visitor"));
    assert!(evaluate(&ws, &input, now, &TimeZone::UTC).is_member("browsers"));
    // The window slides past the view 2 days after it.
    assert_eq!(engine.next_wake(), Some(t("2026-03-03T10:00:00Z")));
    // Built on another thread, installed here: the same.
    let state = build_state(engine.compiled(), &TimeZone::UTC, &input, now);
    let mut other = Engine::with_compiled(engine.compiled().clone(), TimeZone::UTC);
    other.install(ProfileId(1), state).unwrap();
    assert_eq!(other.segments_of(ProfileId(1)), ["browsers"]);
}

#[test]
fn snapshots_restore_and_refuse_other_definitions() {
    let ws = workspace(RULES);
    let t0 = t("2026-03-02T12:00:00Z");
    let mut engine = Engine::new(&ws, TimeZone::UTC).unwrap();
    engine.apply(ProfileId(7), Observed::track(1, "Product Viewed", t0, json!({})), t0).unwrap();
    engine.apply(ProfileId(8), Observed::track(2, "Order Completed", t0 + HOUR, json!({})), t0).unwrap();
    let json = serde_json::to_string(&engine.snapshot()).unwrap();
    let snapshot: Snapshot = serde_json::from_str(&json).unwrap();

    let mut restored = Engine::restore(&ws, TimeZone::UTC, snapshot.clone()).unwrap();
    assert_eq!(restored.members("browsers").unwrap().iter().collect::<Vec<_>>(), [7]);
    assert_eq!(restored.next_wake(), Some(t0 + HOUR), "the future-stamped order is still held");
    let changes = restored.advance(t0 + HOUR);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().all(|c| c.at == t0 + HOUR && c.profile == ProfileId(8)));

    let other = workspace(r#"segment browsers { did "Product Viewed" in last 3d }"#);
    let err = Engine::restore(&other, TimeZone::UTC, snapshot).unwrap_err();
    assert!(matches!(err, EngineError::StaleSnapshot { .. }), "{err}");
}

#[test]
fn merge_and_remove_report_what_changed() {
    let ws = workspace(RULES);
    let t0 = t("2026-03-02T12:00:00Z");
    let (anon, user) = (ProfileId(1), ProfileId(2));
    let mut engine = Engine::new(&ws, TimeZone::UTC).unwrap();
    let view = Observed::track(1, "Product Viewed", t0, json!({}));
    let order = Observed::track(2, "Order Completed", t0 - 10 * DAY, json!({}));
    engine.apply(anon, view.clone(), t0).unwrap();
    engine.apply(user, order.clone(), t0).unwrap();
    assert_eq!(engine.segments_of(user), ["buyers"]);

    let merged = ProfileInput::new(vec![view, order]);
    let changes = engine.merge(anon, user, &merged, t0 + MINUTE).unwrap();
    let kinds: Vec<(ProfileId, ChangeKind)> = changes.into_iter().map(|c| (c.profile, c.kind)).collect();
    assert_eq!(
        kinds,
        [
            (anon, ChangeKind::Exited { segment: "browsers".into() }),
            (anon, ChangeKind::StageChanged { set: "life".into(), from: Some("visitor".into()), to: None }),
            (user, ChangeKind::Entered { segment: "browsers".into() }),
        ]
    );
    assert_eq!(engine.profile_count(), 1);
    assert_eq!(engine.segments_of(user), ["browsers", "buyers"]);
    assert!(!engine.members("browsers").unwrap().contains(1));
    assert_eq!(engine.stage_members("life", "customer").unwrap().iter().collect::<Vec<_>>(), [2]);

    let gone = engine.remove_profile(user, t0 + 2 * MINUTE);
    assert_eq!(gone.len(), 3);
    assert!(engine.members("buyers").unwrap().is_empty());
    assert_eq!(engine.next_wake(), None, "its timers went with it");
}

#[test]
fn profile_numbers_must_fit_the_bitmaps() {
    let ws = workspace(RULES);
    let mut engine = Engine::new(&ws, TimeZone::UTC).unwrap();
    let m = Observed::track(1, "Product Viewed", 0, json!({}));
    assert_eq!(engine.apply(ProfileId(-1), m.clone(), 0), Err(EngineError::ProfileOutOfRange(ProfileId(-1))));
    assert!(engine.apply(ProfileId(1 << 32), m.clone(), 0).is_err());
    assert!(engine.apply(ProfileId(u32::MAX.into()), m, 0).is_ok());
}

#[test]
fn explain_shows_the_evidence() {
    let ws = workspace(RULES);
    let t0 = t("2026-03-02T12:00:00Z");
    let input = ProfileInput::new(vec![
        Observed::track(1, "Product Viewed", t0 - HOUR, json!({})),
        Observed::track(2, "Product Viewed", t0 - 3 * DAY, json!({})),
    ]);
    let e = explain(&ws, "browsers", &input, t0, &TimeZone::UTC).unwrap();
    assert!(e.holds);
    let text = e.to_string();
    let expected = "\
yes segment browsers
  yes all of
    yes did \"Product Viewed\" in last 2d
          1 matching event in (2026-02-28T12:00:00Z, 2026-03-02T12:00:00Z]; newest at 2026-03-02T11:00:00Z (1h ago)
    yes not
      no  did \"Order Completed\" in last 2d
            0 matching events in (2026-02-28T12:00:00Z, 2026-03-02T12:00:00Z]
";
    assert_eq!(text, expected);

    let stages = explain(&ws, "life", &input, t0, &TimeZone::UTC).unwrap().to_string();
    assert!(stages.contains("current stage: visitor"), "{stages}");
    assert!(stages.contains("no  customer: in segment buyers"), "{stages}");

    let before = explain(&ws, "browsers", &input, t0 - 4 * DAY, &TimeZone::UTC).unwrap();
    assert!(!before.holds);
    assert!(before.to_string().contains("no message at or before"), "{before}");
    assert!(explain(&ws, "nope", &input, t0, &TimeZone::UTC).is_none());
}

/// Conditions compiled beside the definitions answer as the reference
/// evaluator does, as time passes, and are never announced as changes.
#[test]
fn compiled_conditions_answer_without_changes() {
    let ws = workspace(RULES);
    let parse = |r: &str| tidings_rules::parse_condition(r).unwrap();
    let conditions =
        [parse(r#"did "Order Completed" in last 1d"#), parse("in segment buyers and trait plan == \"pro\"")];
    let compiled = std::sync::Arc::new(Compiled::with_conditions(&ws, &conditions).unwrap());
    assert_eq!(compiled.segment_keys().collect::<Vec<_>>(), ["browsers", "buyers"]);
    assert_ne!(compiled.fingerprint(), Compiled::new(&ws).unwrap().fingerprint());
    let mut engine = Engine::with_compiled(compiled, TimeZone::UTC);
    let p = ProfileId(1);
    let t0 = t("2026-03-01T10:00:00Z");
    let mut changes = engine.apply(p, Observed::identify(1, t0, json!({"plan": "pro"})), t0).unwrap();
    changes.extend(engine.apply(p, Observed::track(2, "Order Completed", t0, json!({})), t0).unwrap());
    let recent = conditions[0].to_string();
    let vip = conditions[1].to_string();
    assert_eq!(engine.holds(p, &recent), Some(true));
    assert_eq!(engine.holds(p, &vip), Some(true));
    assert_eq!(engine.holds(ProfileId(9), &recent), Some(false), "an unknown profile satisfies nothing");
    assert_eq!(engine.holds(p, "did \"Never\""), None, "not compiled");
    assert!(changes.iter().all(|c| !matches!(&c.kind, ChangeKind::Entered { segment } if segment.contains(' '))));
    assert_eq!(engine.segments_of(p), ["buyers"]);
    // A day later the window has passed: the condition turns, silently.
    let later = engine.advance(t0 + DAY + HOUR);
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(engine.holds(p, &recent), Some(false));
    assert_eq!(engine.condition_members(&vip).map(|b| b.len()), Some(1));
}
