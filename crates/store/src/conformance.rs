//! The storage conformance suite. Every backend runs it through
//! [`conformance_tests!`](crate::conformance_tests), so both behave the same.
//!
//! Each case gets a fresh, empty store.

use crate::{AppendBatch, Outcome, Store, StoreError};
use tidings_model::message::{Envelope, parse_message};
use tidings_model::{KeyKind, Message, ProfileId, StoredEvent, WorkspaceId, keys};

/// Generates one `#[test]` per conformance case. `$make` is an expression
/// yielding a fresh `Box<dyn Store>`. `conformance_tests!(@cases)` is the same
/// list as [`CASES`], for a backend whose harness registers its own tests.
#[macro_export]
macro_rules! conformance_tests {
    // The one list of cases, handed on to `@tests` or `@cases`.
    (@list $mode:ident [$($arg:tt)*]) => {
        $crate::conformance_tests! { @$mode [$($arg)*];
            workspaces_and_keys, dedupe_by_message_id, dedupe_is_per_workspace, identity_joins_history,
            merge_moves_events_and_traits, traits_merge_by_event_time, events_newest_first_with_paging,
            scan_in_arrival_order, activity_bounds_and_names, workspaces_are_isolated, alias_merges_users,
            large_batch_round_trips, snapshots_replace_and_stay_in_their_workspace, stats_track_the_log, profile_ids_page_through_live_profiles,
            timers_fire_in_order_under_leases, timers_move_cancel_and_follow_up, claims_stay_in_their_workspace,
            outbox_enqueues_once_and_tracks_attempts, send_decisions_are_kept_per_profile,
            journey_instances_round_trip, derived_appends_join_the_log, partitions_are_leased_with_fencing_tokens,
            nodes_are_seen_by_heartbeat, nodes_racing_for_partitions_never_share_one,
            fenced_appends_commit_only_under_the_current_token, claims_stay_in_their_partitions,
            recorded_positions_follow_the_lease }
    };
    (@tests [$make:expr]; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case(&*$make)
            }
        )*
    };
    (@cases []; $($case:ident),*) => {
        &[$((stringify!($case), $crate::conformance::$case as $crate::conformance::Case)),*]
    };
    (@cases) => {
        $crate::conformance_tests! { @list cases [] }
    };
    ($make:expr) => {
        $crate::conformance_tests! { @list tests [$make] }
    };
}

/// One conformance case: it panics when the store behaves otherwise.
pub type Case = fn(&dyn Store);

/// Every conformance case by name, for a test binary with its own harness.
pub const CASES: &[(&str, Case)] = crate::conformance_tests!(@cases);

const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

pub fn msg(json: &str) -> Message {
    let env = Envelope { received_at: T0 + 86_400_000_000, sent_at: None, default_type: None };
    let mut n = 0;
    parse_message(json, &env, &mut || {
        n += 1;
        format!("generated-{n}")
    })
    .expect("test message is valid")
}

fn track(user: &str, event: &str, id: &str, minute: i64) -> Message {
    let mut m = msg(&format!(r#"{{"type":"track","userId":"{user}","event":"{event}","messageId":"{id}"}}"#));
    m.timestamp = T0 + minute * 60_000_000;
    m
}

fn append(s: &dyn Store, ws: WorkspaceId, messages: Vec<Message>) -> Vec<Outcome> {
    let mut r = s.append(&[AppendBatch { workspace: ws, messages }]).expect("append");
    r.outcomes.remove(0)
}

fn ws(s: &dyn Store, name: &str) -> WorkspaceId {
    s.create_workspace(name, T0).expect("create workspace").id
}

fn stored(o: &Outcome) -> ProfileId {
    match o {
        Outcome::Stored { profile, .. } => *profile,
        Outcome::Duplicate => panic!("expected Stored, got Duplicate"),
    }
}

fn stored_seq(o: &Outcome) -> i64 {
    match o {
        Outcome::Stored { seq, .. } => *seq,
        Outcome::Duplicate => panic!("expected Stored, got Duplicate"),
    }
}

pub fn workspaces_and_keys(s: &dyn Store) {
    let a = s.create_workspace("shop", T0).unwrap();
    assert_eq!(s.workspace_by_name("shop").unwrap(), Some(a.clone()));
    assert!(matches!(s.create_workspace("shop", T0), Err(StoreError::Conflict(_))));
    let b = s.create_workspace("other", T0).unwrap();
    assert_eq!(s.workspaces().unwrap().len(), 2);
    let h = keys::hash("secret-write");
    let k = s.add_key(a.id, KeyKind::Write, &h, "test", T0).unwrap();
    s.add_key(b.id, KeyKind::Admin, &keys::hash("secret-admin"), "test", T0).unwrap();
    let found = s.find_key(&h).unwrap().unwrap();
    assert_eq!((found.workspace, found.kind), (a.id, KeyKind::Write));
    assert_eq!(s.keys(Some(a.id)).unwrap().len(), 1);
    assert_eq!(s.keys(None).unwrap().len(), 2);
    assert!(s.find_key(&keys::hash("unknown")).unwrap().is_none());
    assert!(s.revoke_key(k.id, T0 + 1).unwrap());
    assert!(s.find_key(&h).unwrap().is_none());
    assert!(!s.revoke_key(k.id, T0 + 2).unwrap(), "revoking twice reports nothing revoked");
}

pub fn dedupe_by_message_id(s: &dyn Store) {
    let w = ws(s, "shop");
    let out = append(s, w, vec![track("u1", "A", "m1", 0), track("u1", "A", "m2", 1), track("u1", "A", "m1", 2)]);
    assert!(matches!(out[0], Outcome::Stored { .. }));
    assert!(matches!(out[1], Outcome::Stored { .. }));
    assert_eq!(out[2], Outcome::Duplicate, "a repeat inside one batch is stored once");
    let out = append(s, w, vec![track("u1", "A", "m1", 5), track("u1", "A", "m3", 6)]);
    assert_eq!(out[0], Outcome::Duplicate, "a later resend is stored once");
    assert!(matches!(out[1], Outcome::Stored { .. }));
    assert_eq!(s.stats(w).unwrap().events, 3);
}

/// The engine's derived appends: the same log, deduplication and ordering
/// as any append, and durable appends after them still work.
pub fn derived_appends_join_the_log(s: &dyn Store) {
    let w = ws(s, "shop");
    append(s, w, vec![track("u", "Product Viewed", "a", 1)]);
    let derived = |id: &str| AppendBatch { workspace: w, messages: vec![track("u", "Segment Entered", id, 2)] };
    let r = s.append_derived(&[derived("engine-1")]).expect("derived append");
    assert!(matches!(r.outcomes[0][0], Outcome::Stored { .. }), "{:?}", r.outcomes);
    let again = s.append_derived(&[derived("engine-1")]).expect("derived append");
    assert_eq!(again.outcomes[0][0], Outcome::Duplicate);
    append(s, w, vec![track("u", "Order Completed", "b", 3)]);
    let names: Vec<String> = s.scan(w, 0, 10).unwrap().into_iter().filter_map(|e| e.event).collect();
    assert_eq!(names, ["Product Viewed", "Segment Entered", "Order Completed"]);
}

pub fn dedupe_is_per_workspace(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    assert!(matches!(append(s, a, vec![track("u", "A", "same", 0)])[0], Outcome::Stored { .. }));
    assert!(matches!(append(s, b, vec![track("u", "A", "same", 0)])[0], Outcome::Stored { .. }));
}

pub fn identity_joins_history(s: &dyn Store) {
    let w = ws(s, "shop");
    let mut viewed = msg(r#"{"type":"track","anonymousId":"anon-1","event":"Product Viewed","messageId":"v1"}"#);
    viewed.timestamp = T0;
    let anon = stored(&append(s, w, vec![viewed])[0]);
    let mut ident = msg(
        r#"{"type":"identify","anonymousId":"anon-1","userId":"u1","traits":{"email":"u1@example.com"},"messageId":"i1"}"#,
    );
    ident.timestamp = T0 + 1;
    let user = stored(&append(s, w, vec![ident])[0]);
    assert_eq!(anon, user, "the anonymous profile becomes the user's");
    let p = s.find_profile(w, "u1").unwrap().expect("profile by user id");
    assert_eq!(p.user_id.as_deref(), Some("u1"));
    assert_eq!(p.anonymous_ids, vec!["anon-1".to_string()]);
    assert_eq!(p.traits.values["email"], "u1@example.com");
    assert_eq!(s.find_profile(w, "anon-1").unwrap().map(|p| p.id), Some(p.id));
    let hist = s.profile_history(w, p.id).unwrap();
    assert_eq!(hist.iter().map(|e| e.message_id.as_str()).collect::<Vec<_>>(), ["v1", "i1"]);
    assert!(s.find_profile(w, "nobody").unwrap().is_none());
}

pub fn merge_moves_events_and_traits(s: &dyn Store) {
    let w = ws(s, "shop");
    let mut a =
        msg(r#"{"type":"identify","anonymousId":"anon-2","traits":{"color":"red","size":"m"},"messageId":"a1"}"#);
    a.timestamp = T0 + 10;
    let mut v = msg(r#"{"type":"page","anonymousId":"anon-2","name":"Home","messageId":"a2"}"#);
    v.timestamp = T0 + 20;
    let anon = stored(&append(s, w, vec![a, v])[0]);
    let mut u = msg(r#"{"type":"identify","userId":"u2","traits":{"color":"blue"},"messageId":"u1"}"#);
    u.timestamp = T0 + 5; // older than the anonymous color
    let user = stored(&append(s, w, vec![u])[0]);
    assert_ne!(anon, user);
    let mut join = msg(r#"{"type":"identify","userId":"u2","anonymousId":"anon-2","messageId":"j1"}"#);
    join.timestamp = T0 + 30;
    let res = s.append(&[AppendBatch { workspace: w, messages: vec![join] }]).unwrap();
    assert_eq!(res.merges, vec![(w, anon, user)]);
    let at = stored_seq(&res.outcomes[0][0]);
    assert_eq!(
        s.merges_between(w, 0, at).unwrap(),
        [crate::Merge { seq: at, from: anon, into: user }],
        "the merge is in the log at its append's position"
    );
    assert!(s.merges_between(w, at, i64::MAX).unwrap().is_empty());
    let p = s.find_profile(w, "anon-2").unwrap().unwrap();
    assert_eq!(p.id, user);
    assert_eq!(p.traits.values["color"], "red", "the later-set value wins across a merge");
    assert_eq!(p.traits.values["size"], "m");
    assert_eq!(s.profile_history(w, user).unwrap().len(), 4);
    let both = s.profile_histories(w, &[anon, user, ProfileId(i64::MAX)]).unwrap();
    let ids = |h: &[StoredEvent]| h.iter().map(|e| e.message_id.clone()).collect::<Vec<_>>();
    assert_eq!(both.len(), 3, "one history per id asked, in order");
    assert!(both[0].is_empty() && both[2].is_empty(), "no history for a merged-away or unknown profile");
    assert_eq!(ids(&both[1]), ids(&s.profile_history(w, user).unwrap()), "as profile_history orders it");
    assert!(s.profile(w, anon).unwrap().is_none(), "the merged profile is gone");
    assert_eq!(s.stats(w).unwrap().profiles, 1);
}

pub fn traits_merge_by_event_time(s: &dyn Store) {
    let w = ws(s, "shop");
    let mut late = msg(r#"{"type":"identify","userId":"u3","traits":{"plan":"pro"},"messageId":"t2"}"#);
    late.timestamp = T0 + 200;
    let mut early = msg(r#"{"type":"identify","userId":"u3","traits":{"plan":"free","city":"Oslo"},"messageId":"t1"}"#);
    early.timestamp = T0 + 100;
    append(s, w, vec![late]);
    let res = s.append(&[AppendBatch { workspace: w, messages: vec![early] }]).unwrap();
    assert_eq!(res.trait_changes.len(), 1, "city changed");
    let p = s.find_profile(w, "u3").unwrap().unwrap();
    assert_eq!(p.traits.values["plan"], "pro");
    assert_eq!(p.traits.values["city"], "Oslo");
}

pub fn events_newest_first_with_paging(s: &dyn Store) {
    let w = ws(s, "shop");
    // Arrive out of order; the API orders by event time.
    let msgs = (0..25).map(|i| track("u4", "E", &format!("e{i}"), (i * 7) % 25)).collect();
    let p = stored(&append(s, w, msgs)[0]);
    let first = s.profile_events(w, p, None, 10).unwrap();
    assert_eq!(first.len(), 10);
    assert!(first.windows(2).all(|x| x[0].timestamp >= x[1].timestamp));
    let last = first.last().unwrap();
    let rest = s.profile_events(w, p, Some((last.timestamp, last.seq)), 100).unwrap();
    assert_eq!(rest.len(), 15);
    assert!(rest[0].timestamp <= last.timestamp);
    let mut ids: Vec<_> = first.iter().chain(&rest).map(|e| e.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    let e = &first[0];
    assert_eq!(e.event.as_deref(), Some("E"));
    assert_eq!(e.user_id.as_deref(), Some("u4"));
    assert!(e.body.contains("\"messageId\""));
}

pub fn scan_in_arrival_order(s: &dyn Store) {
    let w = ws(s, "shop");
    append(s, w, vec![track("a", "E", "s1", 9), track("b", "E", "s2", 1)]);
    append(s, w, vec![track("c", "E", "s3", 5)]);
    let all = s.scan(w, 0, 100).unwrap();
    assert_eq!(all.iter().map(|e| e.message_id.as_str()).collect::<Vec<_>>(), ["s1", "s2", "s3"]);
    assert!(all.windows(2).all(|x| x[0].seq < x[1].seq));
    let after = s.scan(w, all[0].seq, 1).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].message_id, "s2");
    assert_eq!(s.stats(w).unwrap().last_seq, all[2].seq);
}

pub fn activity_bounds_and_names(s: &dyn Store) {
    let w = ws(s, "shop");
    let mut ident = msg(r#"{"type":"identify","userId":"u5","messageId":"x0"}"#);
    ident.timestamp = T0 - 1_000_000;
    let mut sent = track("u5", "Email Sent", "x3", 100);
    sent.timestamp = T0 + 100 * 60_000_000;
    let p = stored(
        &append(
            s,
            w,
            vec![ident, track("u5", "Product Viewed", "x1", 3), track("u5", "Order Completed", "x2", 8), sent],
        )[0],
    );
    assert_eq!(s.activity_bounds(w, p).unwrap(), Some((T0 + 3 * 60_000_000, T0 + 8 * 60_000_000)));
    let mut names = s.event_names(w).unwrap();
    names.sort();
    assert_eq!(names, ["Email Sent", "Order Completed", "Product Viewed"]);
}

pub fn workspaces_are_isolated(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    let pa = stored(&append(s, a, vec![track("same-user", "A", "i1", 0)])[0]);
    let pb = stored(&append(s, b, vec![track("same-user", "B", "i2", 0)])[0]);
    assert_ne!(pa, pb);
    assert_eq!(s.find_profile(b, "same-user").unwrap().unwrap().id, pb);
    assert!(s.profile(b, pa).unwrap().is_none(), "a profile id from another workspace reads nothing");
    assert!(s.profile_events(b, pa, None, 10).unwrap().is_empty());
    assert_eq!(s.scan(b, 0, 10).unwrap().len(), 1);
}

pub fn alias_merges_users(s: &dyn Store) {
    let w = ws(s, "shop");
    let old = stored(&append(s, w, vec![track("old-id", "A", "al1", 0)])[0]);
    let new = stored(&append(s, w, vec![track("new-id", "A", "al2", 1)])[0]);
    let out = append(s, w, vec![msg(r#"{"type":"alias","userId":"new-id","previousId":"old-id","messageId":"al3"}"#)]);
    assert_eq!(stored(&out[0]), new);
    let p = s.find_profile(w, "old-id").unwrap().unwrap();
    assert_eq!(p.id, new);
    assert!(p.user_ids.contains(&"old-id".to_string()) && p.user_ids.contains(&"new-id".to_string()));
    assert!(s.profile(w, old).unwrap().is_none());
}

pub fn large_batch_round_trips(s: &dyn Store) {
    let w = ws(s, "shop");
    let msgs: Vec<_> = (0..2000).map(|i| track(&format!("user{}", i % 97), "Bulk", &format!("bulk{i}"), i)).collect();
    let out = append(s, w, msgs.clone());
    assert!(out.iter().all(|o| matches!(o, Outcome::Stored { .. })));
    let again = append(s, w, msgs);
    assert!(again.iter().all(|o| *o == Outcome::Duplicate));
    let st = s.stats(w).unwrap();
    assert_eq!((st.events, st.profiles), (2000, 97));
}

pub fn snapshots_replace_and_stay_in_their_workspace(s: &dyn Store) {
    use crate::Snapshot;
    let a = ws(s, "a");
    let b = ws(s, "b");
    assert_eq!(s.load_snapshot(a, "engine").unwrap(), None);
    let first = Snapshot { seq: 10, taken_at: T0, data: vec![1, 2, 3] };
    s.save_snapshot(a, "engine", &first).unwrap();
    assert_eq!(s.load_snapshot(a, "engine").unwrap(), Some(first));
    let second = Snapshot { seq: 20, taken_at: T0 + 1, data: vec![0; 100_000] };
    s.save_snapshot(a, "engine", &second).unwrap();
    assert_eq!(s.load_snapshot(a, "engine").unwrap(), Some(second));
    assert_eq!(s.load_snapshot(b, "engine").unwrap(), None);
    assert_eq!(s.load_snapshot(a, "other").unwrap(), None);
}

pub fn stats_track_the_log(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    assert_eq!(s.stats(a).unwrap().last_seq, 0);
    let out = append(s, a, vec![track("u1", "E", "m1", 1), track("u2", "E", "m2", 2)]);
    let last = match out[1] {
        Outcome::Stored { seq, .. } => seq,
        Outcome::Duplicate => panic!("fresh message reported duplicate"),
    };
    append(s, b, vec![track("u1", "E", "m9", 1)]);
    append(s, a, vec![track("u1", "E", "m1", 1)]);
    let st = s.stats(a).unwrap();
    assert_eq!((st.events, st.profiles, st.last_seq), (2, 2, last));
    let scanned = s.scan(a, 0, 100).unwrap();
    assert_eq!(scanned.last().map(|e| e.seq), Some(last));
}

pub fn profile_ids_page_through_live_profiles(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    let msgs: Vec<Message> = (0..7).map(|i| track(&format!("u{i}"), "E", &format!("m{i}"), i)).collect();
    append(s, a, msgs);
    append(s, b, vec![track("other", "E", "x", 1)]);
    // u5 is merged into u6 by an alias: one live profile fewer.
    append(s, a, vec![msg(r#"{"type":"alias","previousId":"u5","userId":"u6","messageId":"al"}"#)]);
    let mut all = Vec::new();
    let mut after = ProfileId(0);
    loop {
        let page = s.profile_ids(a, after, 2).unwrap();
        let Some(&last) = page.last() else { break };
        assert!(page.len() <= 2);
        all.extend(page);
        after = last;
    }
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ascending: {all:?}");
    let mut users: Vec<String> =
        all.iter().map(|&p| s.profile(a, p).unwrap().expect("live").user_id.unwrap_or_default()).collect();
    users.sort();
    assert_eq!(users.len(), 6, "{users:?}");
    assert!(!users.contains(&"other".to_string()));
}

fn timer(ws: WorkspaceId, key: &str, minute: i64) -> crate::NewTimer {
    crate::NewTimer {
        workspace: ws,
        key: key.into(),
        due_at: T0 + minute * 60_000_000,
        payload: format!("{{\"k\":\"{key}\"}}"),
        profile: None,
    }
}

pub fn timers_fire_in_order_under_leases(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    let min = 60_000_000;
    assert_eq!(s.next_timer_due().unwrap(), None);
    s.schedule_timers(&[timer(a, "late", 30), timer(a, "early", 10), timer(b, "other", 20), timer(a, "future", 500)])
        .unwrap();
    assert_eq!(s.next_timer_due().unwrap(), Some(T0 + 10 * min));
    assert_eq!((s.pending_timers(a).unwrap(), s.pending_timers(b).unwrap()), (3, 1));
    // Nothing is due before its time.
    assert!(s.claim_due_timers(None, T0, T0 + min, 10, None).unwrap().is_empty());
    let now = T0 + 60 * min;
    let got = s.claim_due_timers(None, now, now + 5 * min, 2, None).unwrap();
    let keys: Vec<&str> = got.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["early", "other"], "earliest first, every workspace");
    assert_eq!(got[0].payload, r#"{"k":"early"}"#);
    // Leased timers are not claimed again while the lease holds...
    let more = s.claim_due_timers(None, now, now + 5 * min, 10, None).unwrap();
    assert_eq!(more.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["late"]);
    assert!(s.claim_due_timers(None, now + min, now + 6 * min, 10, None).unwrap().is_empty());
    // ...and are due again once it runs out (the runner died).
    let again = s.claim_due_timers(None, now + 6 * min, now + 7 * min, 10, None).unwrap();
    assert_eq!(again.len(), 3);
    s.complete_timers(&again, &[]).unwrap();
    assert!(s.claim_due_timers(None, now + 100 * min, now + 101 * min, 10, None).unwrap().is_empty());
    assert_eq!(s.pending_timers(a).unwrap(), 1, "only the future timer is left");
}

pub fn timers_move_cancel_and_follow_up(s: &dyn Store) {
    let a = ws(s, "a");
    let min = 60_000_000;
    s.schedule_timers(&[timer(a, "k", 10), timer(a, "k", 20)]).unwrap();
    assert_eq!(s.pending_timers(a).unwrap(), 1, "one pending timer per key");
    assert!(
        s.claim_due_timers(None, T0 + 15 * min, T0 + 16 * min, 10, None).unwrap().is_empty(),
        "the last schedule wins"
    );
    s.schedule_timers(&[timer(a, "k", 5)]).unwrap();
    let got = s.claim_due_timers(None, T0 + 6 * min, T0 + 7 * min, 10, None).unwrap();
    assert_eq!(got.len(), 1);
    // Completing and scheduling the next step happen together.
    s.complete_timers(&got, &[timer(a, "k-next", 8)]).unwrap();
    let next = s.claim_due_timers(None, T0 + 9 * min, T0 + 10 * min, 10, None).unwrap();
    assert_eq!(next.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["k-next"]);
    // Rescheduling a leased key moves it and frees the lease; completing the stale claim leaves it.
    s.schedule_timers(&[timer(a, "k-next", 12)]).unwrap();
    s.complete_timers(&next, &[]).unwrap();
    assert_eq!(s.claim_due_timers(None, T0 + 12 * min, T0 + 13 * min, 10, None).unwrap().len(), 1);
    assert!(s.cancel_timer(a, "k-next").unwrap());
    assert!(!s.cancel_timer(a, "k-next").unwrap());
    assert_eq!(s.pending_timers(a).unwrap(), 0);
}

fn outbox_item(ws: WorkspaceId, key: &str, profile: ProfileId, minute: i64, kind: &str) -> crate::NewOutbox {
    crate::NewOutbox {
        workspace: ws,
        key: key.into(),
        profile,
        message_id: format!("<{key}@tidings.test>"),
        kind: kind.into(),
        template: "cart_reminder".into(),
        source: "journey:cart:remind".into(),
        payload: "{}".into(),
        not_before: T0 + minute * 60_000_000,
    }
}

/// A workspace's runner claims only its own timers and messages: another
/// workspace's due work is neither taken nor leased by it.
pub fn claims_stay_in_their_workspace(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    let min = 60_000_000;
    s.schedule_timers(&[timer(a, "a1", 1), timer(b, "b1", 1), timer(b, "b2", 2)]).unwrap();
    let now = T0 + 10 * min;
    let got = s.claim_due_timers(Some(a), now, now + 5 * min, 10, None).unwrap();
    assert_eq!(got.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["a1"]);
    let got = s.claim_due_timers(Some(b), now, now + 5 * min, 10, None).unwrap();
    assert_eq!(got.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["b1", "b2"], "a's claim leased none of b's");
    let profile = |w, user: &str| match append(s, w, vec![track(user, "E", user, 0)])[0] {
        Outcome::Stored { profile, .. } => profile,
        Outcome::Duplicate => panic!("fresh"),
    };
    let (pa, pb) = (profile(a, "pa"), profile(b, "pb"));
    s.enqueue(&[outbox_item(a, "a:1", pa, 0, "marketing"), outbox_item(b, "b:1", pb, 0, "marketing")], T0).unwrap();
    let due = s.claim_outbox(Some(a), T0 + min, T0 + 2 * min, 10, None).unwrap();
    assert_eq!(due.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["a:1"]);
    let due = s.claim_outbox(Some(b), T0 + min, T0 + 2 * min, 10, None).unwrap();
    assert_eq!((due.len(), due[0].key.as_str(), due[0].attempts), (1, "b:1", 1), "b's message was not touched by a");
}

pub fn outbox_enqueues_once_and_tracks_attempts(s: &dyn Store) {
    use crate::{Delivery, OutboxStatus};
    let a = ws(s, "a");
    let p = match append(s, a, vec![track("u1", "E", "m1", 0)])[0] {
        Outcome::Stored { profile, .. } => profile,
        Outcome::Duplicate => panic!("fresh"),
    };
    let min = 60_000_000;
    let new = s
        .enqueue(
            &[
                outbox_item(a, "cart:1:1:remind", p, 0, "marketing"),
                outbox_item(a, "cart:1:1:offer", p, 60, "marketing"),
            ],
            T0,
        )
        .unwrap();
    assert_eq!(new, [true, true]);
    // The same step again (a replay after a crash) adds nothing.
    assert_eq!(s.enqueue(&[outbox_item(a, "cart:1:1:remind", p, 5, "marketing")], T0).unwrap(), [false]);
    let due = s.claim_outbox(None, T0 + min, T0 + 2 * min, 10, None).unwrap();
    assert_eq!(due.len(), 1, "the offer is not due yet");
    assert_eq!((due[0].key.as_str(), due[0].attempts, due[0].status), ("cart:1:1:remind", 1, OutboxStatus::Pending));
    assert_eq!(due[0].message_id, "<cart:1:1:remind@tidings.test>");
    // Leased: not claimed twice; after the lease, claimed again with the same Message-ID.
    assert!(s.claim_outbox(None, T0 + min, T0 + 2 * min, 10, None).unwrap().is_empty());
    let again = s.claim_outbox(None, T0 + 3 * min, T0 + 4 * min, 10, None).unwrap();
    assert_eq!((again[0].id, again[0].attempts), (due[0].id, 2));
    s.finish_outbox(again[0].id, &Delivery::Retry { at: T0 + 10 * min, detail: "451 try later".into() }).unwrap();
    assert!(
        s.claim_outbox(None, T0 + 9 * min, T0 + 20 * min, 10, None).unwrap().is_empty(),
        "not before the retry time"
    );
    let third = s.claim_outbox(None, T0 + 10 * min, T0 + 20 * min, 10, None).unwrap();
    assert_eq!(third[0].attempts, 3);
    s.finish_outbox(third[0].id, &Delivery::Sent { at: T0 + 11 * min, detail: "250 ok".into() }).unwrap();
    let offer = s.claim_outbox(None, T0 + 61 * min, T0 + 70 * min, 10, None).unwrap();
    s.finish_outbox(offer[0].id, &Delivery::Failed { detail: "550 no such user".into() }).unwrap();
    assert!(
        s.claim_outbox(None, T0 + 1000 * min, T0 + 1001 * min, 10, None).unwrap().is_empty(),
        "nothing left to send"
    );
    let rows = s.outbox_for_profile(a, p, 10).unwrap();
    let states: Vec<(String, OutboxStatus)> = rows.iter().map(|r| (r.key.clone(), r.status)).collect();
    assert!(states.contains(&("cart:1:1:remind".into(), OutboxStatus::Sent)));
    assert!(states.contains(&("cart:1:1:offer".into(), OutboxStatus::Failed)));
    assert_eq!(s.marketing_sent_since(a, p, T0).unwrap(), [T0 + 11 * min]);
    assert!(s.marketing_sent_since(a, p, T0 + 12 * min).unwrap().is_empty());
    // Another workspace may use the same key.
    let b = ws(s, "b");
    assert_eq!(s.enqueue(&[outbox_item(b, "cart:1:1:remind", p, 0, "marketing")], T0).unwrap(), [true]);
}

pub fn send_decisions_are_kept_per_profile(s: &dyn Store) {
    use crate::SendDecision;
    let a = ws(s, "a");
    let d = |k: &str, at: i64, dec: &str| SendDecision {
        key: k.into(),
        at: T0 + at,
        decision: dec.into(),
        reason: format!("because {k}"),
    };
    s.record_decision(a, ProfileId(1), &d("x", 1, "defer")).unwrap();
    s.record_decision(a, ProfileId(1), &d("y", 2, "skip")).unwrap();
    s.record_decision(a, ProfileId(2), &d("z", 3, "send")).unwrap();
    let got = s.decisions_for_profile(a, ProfileId(1), 10).unwrap();
    assert_eq!(got.iter().map(|x| x.key.as_str()).collect::<Vec<_>>(), ["y", "x"], "newest first, this profile only");
    assert_eq!(got[0].reason, "because y");
}

pub fn journey_instances_round_trip(s: &dyn Store) {
    use crate::InstanceRecord;
    let a = ws(s, "a");
    let rec = |journey: &str, entry: i64, done: bool, state: &str| InstanceRecord {
        workspace: a,
        journey: journey.into(),
        profile: ProfileId(5),
        entry,
        entry_key: Some("cart-9".into()),
        entered_at: T0,
        done,
        state: state.into(),
        updated_at: T0 + entry,
    };
    s.save_instance(&rec("cart", 1, false, r#"{"step":0}"#)).unwrap();
    s.save_instance(&rec("cart", 1, true, r#"{"step":3}"#)).unwrap();
    s.save_instance(&rec("cart", 2, false, r#"{"step":0}"#)).unwrap();
    s.save_instance(&rec("welcome", 1, false, "{}")).unwrap();
    let got = s.instances_for_profile(a, ProfileId(5)).unwrap();
    assert_eq!(got.len(), 3, "saving again replaces");
    assert_eq!(got[0], rec("cart", 1, true, r#"{"step":3}"#));
    assert_eq!((got[1].journey.as_str(), got[1].entry), ("cart", 2));
    assert!(s.instances_for_profile(a, ProfileId(6)).unwrap().is_empty());
}

/// A partition has at most one live lease; every change of owner raises
/// the fencing token and is recorded; a node that lost its lease can
/// neither renew nor release it.
pub fn partitions_are_leased_with_fencing_tokens(s: &dyn Store) {
    let a = ws(s, "a");
    let b = ws(s, "b");
    let sec = 1_000_000;
    let lease =
        |n: &str, p: u32, now: i64| s.acquire_partition(a, p, n, T0 + now * sec, T0 + (now + 10) * sec).unwrap();
    let first = lease("n1", 3, 0).expect("a new partition is free");
    assert_eq!((first.token, first.owner.as_deref(), first.expires_at), (1, Some("n1"), T0 + 10 * sec));
    assert!(lease("n2", 3, 5).is_none(), "held by a live lease");
    assert_eq!(lease("n1", 3, 5).map(|l| l.token), Some(1), "the owner extends, keeping the token");
    assert!(s.acquire_partition(b, 3, "n2", T0, T0 + 10 * sec).unwrap().is_some(), "another workspace's partition 3");
    // n1 stops renewing; after its lease runs out n2 takes over with a new token.
    let taken = lease("n2", 3, 16).expect("an expired lease is free");
    assert_eq!(taken.token, 2);
    assert!(s.renew_partitions(a, "n1", &[(3, 1)], T0 + 17 * sec, T0 + 27 * sec).unwrap().is_empty(), "fenced");
    s.release_partitions(a, "n1", &[(3, 1)], T0 + 17 * sec).unwrap();
    assert_eq!(s.partition_leases(a).unwrap()[0].owner.as_deref(), Some("n2"), "a stale release changes nothing");
    assert_eq!(s.renew_partitions(a, "n2", &[(3, 2)], T0 + 17 * sec, T0 + 30 * sec).unwrap(), [3]);
    // n2 hands it back; the next owner gets a new token at once.
    s.release_partitions(a, "n2", &[(3, 2)], T0 + 18 * sec).unwrap();
    assert_eq!(s.partition_leases(a).unwrap()[0].owner, None);
    assert!(s.renew_partitions(a, "n2", &[(3, 2)], T0 + 18 * sec, T0 + 30 * sec).unwrap().is_empty());
    assert_eq!(lease("n1", 3, 19).map(|l| l.token), Some(3));
    lease("n1", 9, 19).expect("another partition");
    let leases = s.partition_leases(a).unwrap();
    assert_eq!(leases.iter().map(|l| (l.partition, l.token)).collect::<Vec<_>>(), [(3, 3), (9, 1)]);
    let changes = s.lease_changes(a, 0).unwrap();
    let seen: Vec<_> = changes
        .iter()
        .map(|c| (c.partition, c.owner.as_deref(), c.previous.as_deref(), c.token, c.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (3, Some("n1"), None, 1, "new"),
            (3, Some("n2"), Some("n1"), 2, "expired"),
            (3, None, Some("n2"), 2, "released"),
            (3, Some("n1"), None, 3, "free"),
            (9, Some("n1"), None, 1, "new"),
        ]
    );
    assert_eq!(s.lease_changes(a, changes[2].id).unwrap().len(), 2, "read on from a change");
    assert_eq!(s.lease_changes(b, 0).unwrap().len(), 1);
}

pub fn nodes_are_seen_by_heartbeat(s: &dyn Store) {
    let sec = 1_000_000;
    assert_eq!(s.node_heartbeat("n2", None, T0, T0 - 10 * sec).unwrap(), ["n2"]);
    assert_eq!(s.node_heartbeat("n1", Some("http://a:1"), T0 + 5 * sec, T0 - 5 * sec).unwrap(), ["n1", "n2"]);
    assert_eq!(
        s.node_heartbeat("n1", Some("http://a:2"), T0 + 12 * sec, T0 + 2 * sec).unwrap(),
        ["n1"],
        "n2 went quiet"
    );
    let seen = s.nodes(T0 - 100 * sec).unwrap();
    assert_eq!(
        seen.iter().map(|n| (n.id.as_str(), n.address.as_deref(), n.seen_at)).collect::<Vec<_>>(),
        [("n1", Some("http://a:2"), T0 + 12 * sec), ("n2", None, T0)],
        "the newest address is kept"
    );
    s.node_leave("n1").unwrap();
    assert_eq!(s.node_heartbeat("n3", None, T0 + 13 * sec, T0 - 100 * sec).unwrap(), ["n2", "n3"]);
    // Even over consecutive ids, and over ids 64 apart (PostgreSQL's blocks).
    for stride in [1, 64] {
        let mut counts = [0u32; crate::PARTITIONS as usize];
        for i in 0..6400 {
            counts[crate::partition_of(tidings_model::ProfileId(1 + i * stride)) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (60..=140).contains(&c)), "stride {stride}: {counts:?}");
    }
}

/// Nodes taking the same new partitions at once: each goes to exactly one.
pub fn nodes_racing_for_partitions_never_share_one(s: &dyn Store) {
    let a = ws(s, "a");
    let won: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..4)
            .map(|n| {
                scope.spawn(move || {
                    let node = format!("n{n}");
                    (0..16u32)
                        .filter(|&p| s.acquire_partition(a, p, &node, T0, T0 + 10_000_000).unwrap().is_some())
                        .collect()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut all: Vec<u32> = won.concat();
    all.sort_unstable();
    assert_eq!(all, (0..16).collect::<Vec<_>>(), "each partition won once: {won:?}");
    assert!(s.partition_leases(a).unwrap().iter().all(|l| l.token == 1));
}

/// A write under a fence commits while the node holds its partitions with
/// those tokens, and is refused (storing nothing) once one moved on.
pub fn fenced_appends_commit_only_under_the_current_token(s: &dyn Store) {
    let a = ws(s, "a");
    let sec = 1_000_000;
    let t1 = s.acquire_partition(a, 1, "n1", T0, T0 + 10 * sec).unwrap().unwrap().token;
    let t2 = s.acquire_partition(a, 2, "n1", T0, T0 + 10 * sec).unwrap().unwrap().token;
    let fence = |held: Vec<(u32, i64)>, now: i64| crate::Fence { workspace: a, node: "n1".into(), held, now };
    let batch = |id: &str| vec![AppendBatch { workspace: a, messages: vec![track("u1", "E", id, 0)] }];
    let ok = s.append_fenced(&batch("f1"), &fence(vec![(1, t1), (2, t2)], T0 + sec)).unwrap();
    assert!(matches!(ok.outcomes[0][0], Outcome::Stored { .. }));
    let stale = s.append_fenced(&batch("f2"), &fence(vec![(1, t1 + 1)], T0 + sec));
    assert!(matches!(stale, Err(StoreError::Fenced(_))), "a wrong token: {stale:?}");
    let late = s.append_fenced(&batch("f3"), &fence(vec![(2, t2)], T0 + 11 * sec));
    assert!(matches!(late, Err(StoreError::Fenced(_))), "an expired lease: {late:?}");
    // n2 takes partition 2 over once n1's lease ran out: n1's token is dead.
    s.acquire_partition(a, 2, "n2", T0 + 11 * sec, T0 + 21 * sec).unwrap().unwrap();
    let other = crate::Fence { workspace: a, node: "n1".into(), held: vec![(2, t2)], now: T0 + 12 * sec };
    let Err(StoreError::Fenced(why)) = s.append_fenced(&batch("f4"), &other) else { panic!("n1 wrote after losing 2") };
    assert!(why.contains("partition(s) 2"), "{why}");
    let stored: Vec<String> = s.scan(a, 0, 10).unwrap().into_iter().map(|e| e.message_id).collect();
    assert_eq!(stored, ["f1"], "a refused write stores nothing");
}

/// How far an owner has recorded its changes is noted on its leases, only
/// under the current token, and survives a change of owner for the next.
pub fn recorded_positions_follow_the_lease(s: &dyn Store) {
    let a = ws(s, "a");
    let sec = 1_000_000;
    assert!(s.recorded_positions(a).unwrap().is_empty());
    let t1 = s.acquire_partition(a, 1, "n1", T0, T0 + 10 * sec).unwrap().unwrap().token;
    let t2 = s.acquire_partition(a, 2, "n1", T0, T0 + 10 * sec).unwrap().unwrap().token;
    let fence = |held: Vec<(u32, i64)>, now: i64| crate::Fence { workspace: a, node: "n1".into(), held, now };
    assert_eq!(s.mark_recorded(&fence(vec![(1, t1), (2, t2)], T0 + sec), 40, T0 + sec).unwrap(), 2);
    assert_eq!(s.mark_recorded(&fence(vec![(2, t2 + 1)], T0 + 2 * sec), 50, T0 + 2 * sec).unwrap(), 0, "wrong token");
    assert_eq!(s.mark_recorded(&fence(vec![(1, t1)], T0 + 11 * sec), 60, T0 + 11 * sec).unwrap(), 0, "expired");
    assert_eq!(s.recorded_positions(a).unwrap(), [(1, (40, T0 + sec)), (2, (40, T0 + sec))].into_iter().collect());
    // The next owner reads where n1 stopped; its own marks replace it.
    let t = s.acquire_partition(a, 1, "n2", T0 + 11 * sec, T0 + 21 * sec).unwrap().unwrap().token;
    assert_eq!(s.recorded_positions(a).unwrap()[&1], (40, T0 + sec));
    let n2 = crate::Fence { workspace: a, node: "n2".into(), held: vec![(1, t)], now: T0 + 12 * sec };
    assert_eq!(s.mark_recorded(&n2, 70, T0 + 12 * sec).unwrap(), 1);
    assert_eq!(s.recorded_positions(a).unwrap()[&1], (70, T0 + 12 * sec));
    let b = ws(s, "b");
    assert!(s.recorded_positions(b).unwrap().is_empty(), "per workspace");
}

/// A node claims only the timers and messages of the partitions it names:
/// a person's by their profile's partition, a workspace-wide timer with
/// partition 0.
pub fn claims_stay_in_their_partitions(s: &dyn Store) {
    let a = ws(s, "a");
    let min = 60_000_000;
    let profiles: Vec<ProfileId> =
        (0..4).map(|i| stored(&append(s, a, vec![track(&format!("u{i}"), "E", &format!("m{i}"), 0)])[0])).collect();
    let parts: Vec<u32> = profiles.iter().map(|&p| crate::partition_of(p)).collect();
    let mut timers: Vec<crate::NewTimer> = profiles
        .iter()
        .enumerate()
        .map(|(i, &p)| crate::NewTimer { profile: Some(p), ..timer(a, &format!("t{i}"), 1) })
        .collect();
    timers.push(timer(a, "broadcast", 1));
    s.schedule_timers(&timers).unwrap();
    let items: Vec<_> =
        profiles.iter().enumerate().map(|(i, &p)| outbox_item(a, &format!("o{i}"), p, 0, "marketing")).collect();
    s.enqueue(&items, T0).unwrap();
    let now = T0 + 10 * min;
    let mine = crate::partition_mask([parts[1], parts[2]]);
    let got = s.claim_due_timers(Some(a), now, now + 5 * min, 10, Some(mine)).unwrap();
    let mut keys: Vec<&str> = got.iter().map(|t| t.key.as_str()).collect();
    keys.sort_unstable();
    let mut want = vec!["t1", "t2"];
    if parts[1] == 0 || parts[2] == 0 {
        want.insert(0, "broadcast");
    }
    assert_eq!(keys, want);
    let due = s.claim_outbox(Some(a), now, now + 5 * min, 10, Some(mine)).unwrap();
    let mut keys: Vec<&str> = due.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["o1", "o2"]);
    let zero = s.claim_due_timers(Some(a), now, now + 5 * min, 10, Some(crate::partition_mask([0]))).unwrap();
    assert!(zero.iter().all(|t| t.key == "broadcast" || parts[t.key[1..].parse::<usize>().unwrap()] == 0));
    assert!(parts[1] == 0 || parts[2] == 0 || zero.iter().any(|t| t.key == "broadcast"), "partition 0 fires it");
    let rest = s.claim_outbox(Some(a), now, now + 5 * min, 10, None).unwrap();
    assert_eq!(rest.len(), 2, "the other two messages were left for their owners");
    assert_eq!(crate::partition_mask([0, 63]), (1u64 | 1 << 63) as i64);
}
