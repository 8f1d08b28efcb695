//! Databases made by older releases upgrade in place.
//!
//! [`fill`] writes a small store holding every kind of record Tidings keeps.
//! Each backend keeps, under `tests/upgrade/`, a dump of a store `fill` made
//! under each released schema (`v5.sql` for schema version 5, ...). Its
//! upgrade test loads every dump into an empty database, opens it with
//! today's code (which applies the newer migrations), and [`check`]s that
//! everything reads back and can still be written. A dump is made once,
//! when its schema is the newest (`TIDINGS_BLESS=1`), and never made again:
//! adding a migration adds a dump, it does not replace one.

use std::path::{Path, PathBuf};

use crate::{AppendBatch, Delivery, InstanceRecord, NewOutbox, NewTimer, Outcome, SendDecision, Snapshot, Store};
use tidings_model::{KeyKind, Message, ProfileId, keys};

const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000_000;
const WRITE_KEY: &str = "upgrade-write-key-1";
const ADMIN_KEY: &str = "upgrade-admin-key-1";
const REVOKED_KEY: &str = "upgrade-revoked-key";

/// The dumps (`*.sql`) in a backend's `tests/upgrade` folder, oldest first.
pub fn dumps(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut dumps: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "sql")).collect();
    dumps.sort();
    assert!(!dumps.is_empty(), "no dumps in {}", dir.display());
    dumps
}

fn msg(json: &str, minute: i64) -> Message {
    let mut m = crate::conformance::msg(json);
    m.timestamp = T0 + minute * MIN;
    m
}

fn stored(o: &Outcome) -> ProfileId {
    match o {
        Outcome::Stored { profile, .. } => *profile,
        Outcome::Duplicate => panic!("a fresh message was reported a duplicate"),
    }
}

/// Writes the records [`check`] reads back.
pub fn fill(s: &dyn Store) {
    let shop = s.create_workspace("shop", T0).unwrap().id;
    let other = s.create_workspace("other", T0).unwrap().id;
    s.add_key(shop, KeyKind::Write, &keys::hash(WRITE_KEY), "site", T0).unwrap();
    s.add_key(shop, KeyKind::Admin, &keys::hash(ADMIN_KEY), "ops", T0).unwrap();
    let revoked = s.add_key(other, KeyKind::Write, &keys::hash(REVOKED_KEY), "old", T0).unwrap();
    s.revoke_key(revoked.id, T0 + MIN).unwrap();

    let shop_log = vec![
        msg(
            r#"{"type":"track","anonymousId":"anon-1","event":"Product Viewed","properties":{"sku":"A-1","price":12.5},"messageId":"up-1"}"#,
            1,
        ),
        msg(
            r#"{"type":"identify","anonymousId":"anon-1","userId":"u1","traits":{"email":"u1@example.com","plan":"pro"},"messageId":"up-2"}"#,
            2,
        ),
        msg(
            r#"{"type":"track","userId":"u1","event":"Order Completed","properties":{"revenue":40,"products":[{"sku":"A-1"}]},"messageId":"up-3"}"#,
            3,
        ),
        msg(r#"{"type":"page","userId":"u2","name":"Home","messageId":"up-4"}"#, 4),
    ];
    let out = s.append(&[AppendBatch { workspace: shop, messages: shop_log }]).unwrap();
    let u1 = stored(&out.outcomes[0][2]);
    s.append(&[AppendBatch {
        workspace: other,
        messages: vec![msg(r#"{"type":"track","userId":"u1","event":"Signed Up","messageId":"up-1"}"#, 5)],
    }])
    .unwrap();

    let last = s.stats(shop).unwrap().last_seq;
    s.save_snapshot(shop, "engine", &Snapshot { seq: last, taken_at: T0 + 5 * MIN, data: vec![7, 0, 255, 1] }).unwrap();
    let timer = |key: &str, minute: i64| NewTimer {
        workspace: shop,
        key: key.into(),
        due_at: T0 + minute * MIN,
        payload: format!(r#"{{"timer":"{key}"}}"#),
        profile: None,
    };
    s.schedule_timers(&[timer("journey:welcome:u1:1:wait", 60), timer("broadcast:spring", 120)]).unwrap();
    let item = |key: &str, kind: &str| NewOutbox {
        workspace: shop,
        key: key.into(),
        profile: u1,
        message_id: format!("<{key}@tidings.test>"),
        kind: kind.into(),
        template: "welcome".into(),
        source: "journey:welcome:hello".into(),
        payload: r#"{"first":"u1"}"#.into(),
        not_before: T0 + 6 * MIN,
    };
    s.enqueue(&[item("welcome:u1:1:hello", "marketing"), item("order:u1:1:receipt", "transactional")], T0 + 6 * MIN)
        .unwrap();
    let claimed = s.claim_outbox(Some(shop), T0 + 7 * MIN, T0 + 8 * MIN, 1, None).unwrap();
    s.finish_outbox(claimed[0].id, &Delivery::Sent { at: T0 + 7 * MIN, detail: "250 ok".into() }).unwrap();
    s.record_decision(
        shop,
        u1,
        &SendDecision {
            key: "welcome:u1:1:hello".into(),
            at: T0 + 7 * MIN,
            decision: "send".into(),
            reason: "ok".into(),
        },
    )
    .unwrap();
    s.save_instance(&instance(shop, u1)).unwrap();
}

fn instance(ws: tidings_model::WorkspaceId, profile: ProfileId) -> InstanceRecord {
    InstanceRecord {
        workspace: ws,
        journey: "welcome".into(),
        profile,
        entry: 1,
        entry_key: Some("u1".into()),
        entered_at: T0 + 2 * MIN,
        done: false,
        state: r#"{"step":1,"visits":{}}"#.into(),
        updated_at: T0 + 7 * MIN,
    }
}

/// Reads back everything [`fill`] wrote, then writes to the store: panics
/// on any difference.
pub fn check(s: &dyn Store) {
    let shop = s.workspace_by_name("shop").unwrap().expect("workspace shop").id;
    let other = s.workspace_by_name("other").unwrap().expect("workspace other").id;
    let key = s.find_key(&keys::hash(WRITE_KEY)).unwrap().expect("the write key");
    assert_eq!((key.workspace, key.kind, key.label.as_str()), (shop, KeyKind::Write, "site"));
    assert_eq!(s.find_key(&keys::hash(ADMIN_KEY)).unwrap().map(|k| k.kind), Some(KeyKind::Admin));
    assert!(s.find_key(&keys::hash(REVOKED_KEY)).unwrap().is_none(), "a revoked key stays revoked");
    assert_eq!(s.keys(None).unwrap().len(), 3);

    let u1 = s.find_profile(shop, "u1").unwrap().expect("profile u1");
    assert_eq!(s.find_profile(shop, "anon-1").unwrap().map(|p| p.id), Some(u1.id), "the merge holds");
    assert_eq!(u1.anonymous_ids, ["anon-1"]);
    assert_eq!(u1.traits.values["email"], "u1@example.com");
    assert_eq!(u1.traits.values["plan"], "pro");
    let history = s.profile_history(shop, u1.id).unwrap();
    let names: Vec<_> = history.iter().map(|e| e.event.as_deref().unwrap_or("-")).collect();
    assert_eq!(names, ["Product Viewed", "-", "Order Completed"]);
    assert_eq!(history[0].body.properties()["price"], 12.5);
    assert_eq!(history[2].body.properties()["products"][0]["sku"], "A-1");
    assert_eq!(history[0].timestamp, T0 + MIN);
    assert_eq!(s.scan(shop, 0, 100).unwrap().len(), 4);
    assert_eq!(s.scan(other, 0, 100).unwrap().len(), 1);
    assert!(s.event_names(shop).unwrap().contains(&"Order Completed".to_string()));

    let snapshot = s.load_snapshot(shop, "engine").unwrap().expect("the engine snapshot");
    assert_eq!((snapshot.seq, snapshot.data.as_slice()), (s.stats(shop).unwrap().last_seq, &[7u8, 0, 255, 1][..]));

    assert_eq!(s.pending_timers(shop).unwrap(), 2);
    let due = s.claim_due_timers(Some(shop), T0 + 60 * MIN, T0 + 61 * MIN, 10, None).unwrap();
    assert_eq!(due.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["journey:welcome:u1:1:wait"]);
    assert_eq!(due[0].payload, r#"{"timer":"journey:welcome:u1:1:wait"}"#);
    s.complete_timers(&due, &[]).unwrap();
    assert_eq!(s.pending_timers(shop).unwrap(), 1);

    let outbox = s.outbox_for_profile(shop, u1.id, 10).unwrap();
    assert_eq!(outbox.len(), 2);
    let sent = outbox.iter().find(|o| o.status == crate::OutboxStatus::Sent).expect("the sent message");
    assert_eq!((sent.attempts, sent.sent_at, sent.detail.as_deref()), (1, Some(T0 + 7 * MIN), Some("250 ok")));
    assert_eq!(s.marketing_sent_since(shop, u1.id, T0).unwrap().len(), usize::from(sent.kind == "marketing"));
    let decisions = s.decisions_for_profile(shop, u1.id, 10).unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, "send");
    assert_eq!(s.instances_for_profile(shop, u1.id).unwrap(), [instance(shop, u1.id)]);

    // And it takes writes: deduplication still knows the old messages.
    let again = msg(r#"{"type":"track","userId":"u1","event":"Order Completed","messageId":"up-3"}"#, 9);
    let fresh = msg(r#"{"type":"track","userId":"u1","event":"Product Viewed","messageId":"up-9"}"#, 9);
    let out = s.append(&[AppendBatch { workspace: shop, messages: vec![again, fresh] }]).unwrap();
    assert_eq!(out.outcomes[0][0], Outcome::Duplicate);
    assert_eq!(stored(&out.outcomes[0][1]), u1.id);
    assert!(s.enqueue(&[], T0).unwrap().is_empty());
    // What later migrations added works on the upgraded store.
    assert_eq!(s.acquire_partition(shop, 0, "node-a", T0, T0 + MIN).unwrap().map(|l| l.token), Some(1));
}
