//! The live engine against the reference evaluator, on random rule sets
//! from the whole grammar and random histories: late, out-of-order,
//! duplicate-timestamp and future-stamped messages, trait changes (time
//! zones included), several profiles, time moving with and without
//! messages, snapshots taken and restored midway.
//!
//! At every step the engine's memberships and stages must equal the
//! reference's, and the changes it reported must be exactly the flips of
//! the reference's answer: for a message, at its arrival; with time alone,
//! at the exact microsecond. To know when the reference's answer flips with
//! time alone, the test evaluates it at every candidate instant `t + d` and
//! `t + d + 1µs` for each message time `t` and each duration `d` written in
//! the rules (and checks that nothing changes between candidates).
//!
//! Cases: `TIDINGS_PROPTEST_CASES` scales them (default: a run of well
//! under a minute in debug); `TIDINGS_PROPTEST_SEED` picks the seed.

use std::collections::BTreeSet;

use jiff::tz::TimeZone;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{RngSeed, TestCaseError};
use serde_json::{Map, Value, json};
use tidings_engine::{Change, ChangeKind, Engine, Evaluation, Observed, ProfileInput, Snapshot, evaluate};
use tidings_model::time::{DAY, HOUR, MINUTE, SECOND};
use tidings_model::{Micros, ProfileId};
use tidings_rules::arbitrary::{self, Vocabulary};
use tidings_rules::{Condition, SourceFile, Window, Workspace, check_workspace, has_errors, render_diagnostics};

use crate::support::t;

fn config(default_cases: u32) -> ProptestConfig {
    let scale: f64 = std::env::var("TIDINGS_PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let seed = std::env::var("TIDINGS_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x7d1d_1165);
    let mut c = ProptestConfig::with_cases(((default_cases as f64) * scale).max(1.0) as u32);
    c.rng_seed = RngSeed::Fixed(seed);
    c.max_shrink_iters = 4096;
    c
}

fn vocabulary() -> Vocabulary {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    Vocabulary {
        events: s(&["Product Viewed", "Product Added", "Order Completed", "Email Opened", "Unsubscribed"]),
        properties: s(&["category", "price", "revenue", "product.brand", "topic"]),
        context: s(&["device.type", "locale"]),
        traits: s(&["plan", "age", "address.country", "vip", "email", "marketing_consent"]),
        strings: s(&["shoes", "bags", "pro", "DE", "news"]),
        numbers: vec![0.0, 1.0, 2.5, 10.0, 50.0, 99.99, -3.0],
        segments: s(&["s1", "s2", "s3", "s4"]),
        stage_sets: vec![("life".to_string(), s(&["a", "b", "c"]))],
        topics: s(&["news", "offers"]),
    }
}

/// When a message is stamped, relative to the engine's `now`.
#[derive(Debug, Clone)]
enum When {
    Now,
    /// `n` time units ago.
    Late(i64),
    /// `n` time units ahead (held until then).
    Ahead(i64),
    /// The same timestamp as an earlier message (by index, wrapping).
    Same(usize),
}

#[derive(Debug, Clone)]
enum Action {
    Track {
        name: &'static str,
        props: Value,
        context: Value,
    },
    Page,
    Identify {
        traits: Value,
    },
    /// Time passes.
    Wait,
    /// Snapshot the engine to JSON and restore it.
    Snapshot,
}

#[derive(Debug, Clone)]
struct Op {
    /// Time units the engine moves forward first.
    step: i64,
    profile: usize,
    when: When,
    action: Action,
    /// Fire every timer before a message (else only the profile's own fire).
    advance_first: bool,
}

#[derive(Debug, Clone)]
struct Case {
    rules: String,
    unit: Micros,
    start: Micros,
    default_tz: &'static str,
    profiles: usize,
    ops: Vec<Op>,
}

fn props() -> impl Strategy<Value = (Value, Value)> {
    let opt = |s: BoxedStrategy<Value>| proptest::option::weighted(0.6, s);
    let strings = || select(vec!["shoes", "bags", "DE", "pro", "news"]).prop_map(Value::from).boxed();
    let numbers = || select(vec![0.0, 1.0, 2.5, 10.0, 50.0, 99.99, -3.0]).prop_map(|x| json!(x)).boxed();
    (
        opt(prop_oneof![3 => strings(), 1 => Just(json!(10))].boxed()),
        opt(prop_oneof![4 => numbers(), 1 => Just(json!("10")), 1 => Just(Value::Null)].boxed()),
        opt(prop_oneof![4 => numbers(), 1 => Just(json!("99.99"))].boxed()),
        opt(prop_oneof![3 => strings().prop_map(|b| json!({ "brand": b })), 1 => Just(json!("flat"))].boxed()),
        opt(select(vec!["news", "offers"]).prop_map(Value::from).boxed()),
        opt(select(vec!["mobile", "desktop"]).prop_map(|d| json!({ "type": d })).boxed()),
        opt(select(vec!["DE", "en"]).prop_map(Value::from).boxed()),
    )
        .prop_map(|(category, price, revenue, product, topic, device, locale)| {
            let mut p = Map::new();
            let mut c = Map::new();
            for (k, v) in
                [("category", category), ("price", price), ("revenue", revenue), ("product", product), ("topic", topic)]
            {
                if let Some(v) = v {
                    p.insert(k.to_string(), v);
                }
            }
            if let Some(d) = device {
                c.insert("device".to_string(), d);
            }
            if let Some(l) = locale {
                c.insert("locale".to_string(), l);
            }
            (Value::Object(p), Value::Object(c))
        })
}

fn traits() -> impl Strategy<Value = Value> {
    let opt = |s: BoxedStrategy<Value>| proptest::option::weighted(0.45, s);
    (
        opt(select(vec!["pro", "shoes", "DE"]).prop_map(Value::from).boxed()),
        opt(select(vec![json!(0), json!(10), json!(50), json!("50")]).boxed()),
        opt(select(vec!["DE", "FR"]).prop_map(|c| json!({ "country": c })).boxed()),
        opt(any::<bool>().prop_map(Value::from).boxed()),
        opt(select(vec![json!("a@example.com"), json!(""), Value::Null]).boxed()),
        opt(any::<bool>().prop_map(Value::from).boxed()),
        opt(any::<bool>().prop_map(Value::from).boxed()),
        opt(select(vec![
            json!("Europe/Berlin"),
            json!("America/New_York"),
            json!("Asia/Kolkata"),
            json!("Australia/Lord_Howe"),
            json!("Not/AZone"),
            json!(5),
        ])
        .boxed()),
    )
        .prop_map(|(plan, age, address, vip, email, consent, unsub, tz)| {
            let mut m = Map::new();
            let fields = [
                ("plan", plan),
                ("age", age),
                ("address", address),
                ("vip", vip),
                ("email", email),
                ("marketing_consent", consent),
                ("unsubscribed", unsub),
                ("timezone", tz),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            }
            Value::Object(m)
        })
}

fn op() -> impl Strategy<Value = Op> {
    let names = prop_oneof![
        8 => select(vec!["Product Viewed", "Product Added", "Order Completed", "Email Opened", "Unsubscribed"]),
        1 => select(vec!["Email Sent", "Something Else"]),
    ];
    let action = prop_oneof![
        10 => (names, props()).prop_map(|(name, (props, context))| Action::Track { name, props, context }),
        1 => Just(Action::Page),
        2 => traits().prop_map(|traits| Action::Identify { traits }),
        3 => Just(Action::Wait),
        1 => Just(Action::Snapshot),
    ];
    let when = prop_oneof![
        6 => Just(When::Now),
        2 => (1i64..6).prop_map(When::Late),
        2 => (6i64..200).prop_map(When::Late),
        1 => (1i64..40).prop_map(When::Ahead),
        2 => (0usize..64).prop_map(When::Same),
    ];
    let step = prop_oneof![3 => Just(0i64), 5 => 1i64..6, 2 => 6i64..60, 1 => 60i64..500];
    (step, 0usize..3, when, action, any::<bool>()).prop_map(|(step, profile, when, action, advance_first)| Op {
        step,
        profile,
        when,
        action,
        advance_first,
    })
}

fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    case_with(arbitrary::definitions(&vocabulary()), max_ops)
}

/// Workspaces of four segments that are each one leaf condition (no `and`,
/// `or`, `not`, references), so that every form decides a membership on its
/// own and its boundaries show.
fn leaf_case(max_ops: usize) -> impl Strategy<Value = Case> {
    let vocab = Vocabulary { segments: Vec::new(), stage_sets: Vec::new(), ..vocabulary() };
    // The first leaf of a random condition (filtering would reject most).
    let leaf = arbitrary::condition(&vocab).prop_map(|c| {
        let mut first = None;
        c.walk(&mut |x| {
            if first.is_none() && x.children().is_empty() {
                first = Some(x.clone());
            }
        });
        first.unwrap_or(c)
    });
    let file = vec(leaf, 4).prop_map(|conditions| {
        let text: String =
            conditions.iter().enumerate().map(|(i, c)| format!("segment s{} {{ {c} }}\n", i + 1)).collect();
        tidings_rules::parse_file("leaves.tidings", &text).0
    });
    case_with(file.boxed(), max_ops)
}

fn case_with(file: BoxedStrategy<tidings_rules::File>, max_ops: usize) -> impl Strategy<Value = Case> {
    let unit = select(vec![(SECOND, "s"), (MINUTE, "m"), (HOUR, "h"), (6 * HOUR, ""), (DAY, "d")]);
    let start = select(vec![t("2026-03-28T20:00:00Z"), t("2026-10-24T21:30:00Z"), t("2026-01-02T23:30:00Z")]);
    let tz = select(vec!["UTC", "Europe/Berlin", "Pacific/Chatham"]);
    (file, unit, proptest::bool::weighted(0.75), start, tz, 1usize..=3, vec(op(), 1..max_ops)).prop_map(
        |(file, (unit, suffix), align, start, default_tz, profiles, ops)| {
            let mut file = serde_json::to_value(&file).unwrap();
            if align && !suffix.is_empty() {
                align_durations(&mut file, suffix);
            }
            let file: tidings_rules::File = serde_json::from_value(file).unwrap();
            Case { rules: file.to_string(), unit, start, default_tz, profiles, ops }
        },
    )
}

/// Rewrites every duration in a syntax tree (in its JSON form) to 1 to 4
/// of `unit`, so that windows, deadlines and ages line up with the times
/// messages are stamped at and boundaries are hit exactly. `between`
/// windows stay non-empty.
fn align_durations(v: &mut Value, unit: &str) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("between") {
                let (min, max) = (duration_value(m.get("min_age")), duration_value(m.get("max_age")));
                let new_min = if min == 0 { 0 } else { 1 + min % 3 };
                let new_max = new_min + 1 + (max - min) % 3;
                m.insert("min_age".into(), json!({ "value": new_min, "unit": unit, "span": { "start": 0, "end": 0 } }));
                m.insert("max_age".into(), json!({ "value": new_max, "unit": unit, "span": { "start": 0, "end": 0 } }));
                return;
            }
            if m.len() == 3 && m.contains_key("value") && m.contains_key("unit") && m.contains_key("span") {
                let n = duration_value(Some(&Value::Object(m.clone())));
                m.insert("value".into(), json!(1 + n % 4));
                m.insert("unit".into(), json!(unit));
                return;
            }
            m.values_mut().for_each(|v| align_durations(v, unit));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| align_durations(v, unit)),
        _ => {}
    }
}

fn duration_value(d: Option<&Value>) -> u64 {
    d.and_then(|d| d.get("value")).and_then(Value::as_u64).unwrap_or(1)
}

/// Every duration written in the rules: where a time-driven flip can fall,
/// relative to a message time.
fn durations(ws: &Workspace) -> Vec<Micros> {
    let mut out = BTreeSet::from([0]);
    let window = |w: &Window, out: &mut BTreeSet<Micros>| match w {
        Window::InLast { duration, .. } => {
            out.insert(duration.micros());
        }
        Window::Between { min_age, max_age, .. } => {
            out.insert(min_age.micros());
            out.insert(max_age.micros());
        }
        _ => {}
    };
    for r in &ws.definitions {
        for c in r.definition.conditions() {
            c.walk(&mut |c| match c {
                Condition::Did(d) => window(&d.window, &mut out),
                Condition::Sequence(s) => {
                    out.insert(s.within.micros());
                    window(&s.window, &mut out);
                }
                Condition::Recency(r) => {
                    out.insert(r.ago.micros());
                }
                Condition::Seen(s) => {
                    out.insert(s.ago.micros());
                }
                Condition::Aggregate(a) => window(&a.window, &mut out),
                Condition::Share(s) => window(&s.window, &mut out),
                Condition::ActiveDays(a) => window(&a.window, &mut out),
                _ => {}
            });
        }
    }
    out.into_iter().collect()
}

/// The changes that turn `before` into `after`, at `at`, in definition
/// order (the order the engine evaluates in).
fn flips(ws: &Workspace, profile: ProfileId, before: &Evaluation, after: &Evaluation, at: Micros) -> Vec<Change> {
    let mut out = Vec::new();
    for r in &ws.definitions {
        let key = r.definition.key();
        match &r.definition {
            tidings_rules::Definition::Segment(_) => {
                let (a, b) = (before.is_member(key), after.is_member(key));
                if a != b {
                    let segment = key.to_string();
                    let kind = if b { ChangeKind::Entered { segment } } else { ChangeKind::Exited { segment } };
                    out.push(Change { profile, kind, at });
                }
            }
            tidings_rules::Definition::Stages(_) => {
                let (a, b) = (before.stage(key), after.stage(key));
                if a != b {
                    let kind = ChangeKind::StageChanged {
                        set: key.to_string(),
                        from: a.map(str::to_string),
                        to: b.map(str::to_string),
                    };
                    out.push(Change { profile, kind, at });
                }
            }
        }
    }
    out
}

/// What the test knows of one profile.
struct Model {
    known: ProfileInput,
    /// Changes are checked up to here.
    settled: Micros,
    /// The reference answer at `settled`.
    answer: Evaluation,
}

struct Harness {
    ws: Workspace,
    tz: TimeZone,
    engine: Engine,
    deltas: Vec<Micros>,
    models: Vec<Model>,
    seq: i64,
    /// Reference evaluations done, for the record.
    evaluations: usize,
}

type Check = Result<(), TestCaseError>;

impl Harness {
    fn new(ws: Workspace, tz: TimeZone, profiles: usize, start: Micros) -> Harness {
        let engine = Engine::new(&ws, tz.clone()).unwrap();
        let deltas = durations(&ws);
        let empty = evaluate(&ws, &ProfileInput::default(), start, &tz);
        let models = (0..profiles)
            .map(|_| Model { known: ProfileInput::default(), settled: start, answer: empty.clone() })
            .collect();
        Harness { ws, tz, engine, deltas, models, seq: 0, evaluations: 0 }
    }

    fn evaluate(&mut self, p: usize, now: Micros) -> Evaluation {
        self.evaluations += 1;
        evaluate(&self.ws, &self.models[p].known, now, &self.tz)
    }

    /// The reference's flips for profile `p` with time alone, over
    /// `(settled, until]`, and its answer at `until`.
    fn time_flips(&mut self, p: usize, until: Micros) -> Result<(Vec<Change>, Evaluation), TestCaseError> {
        let settled = self.models[p].settled;
        let mut candidates = BTreeSet::new();
        for m in &self.models[p].known.messages {
            for d in &self.deltas {
                for e in [0, 1] {
                    let c = m.timestamp.saturating_add(*d).saturating_add(e);
                    if c > settled && c <= until {
                        candidates.insert(c);
                    }
                }
            }
        }
        let profile = ProfileId(p as i64);
        let mut current = self.models[p].answer.clone();
        let mut out = Vec::new();
        for c in candidates {
            let next = self.evaluate(p, c);
            out.extend(flips(&self.ws, profile, &current, &next, c));
            current = next;
        }
        let end = self.evaluate(p, until);
        prop_assert_eq!(&end, &current, "the reference changed between candidate instants (up to {})", until);
        Ok((out, current))
    }

    fn settle(&mut self, p: usize, until: Micros, actual: &[Change]) -> Check {
        let (expected, answer) = self.time_flips(p, until)?;
        prop_assert_eq!(actual, &expected[..], "changes with time alone for profile {} up to {}", p, until);
        self.models[p].settled = until;
        self.models[p].answer = answer;
        Ok(())
    }

    fn advance(&mut self, now: Micros) -> Check {
        let changes = self.engine.advance(now);
        prop_assert!(self.engine.next_wake().is_none_or(|w| w > now), "a timer is still due after advance({})", now);
        let mut at = Micros::MIN;
        for c in &changes {
            prop_assert!(c.at >= at && c.at <= now, "changes out of time order: {:?}", changes);
            at = c.at;
        }
        for p in 0..self.models.len() {
            let mine: Vec<Change> = changes.iter().filter(|c| c.profile == ProfileId(p as i64)).cloned().collect();
            self.settle(p, now, &mine)?;
        }
        Ok(())
    }

    fn message(&mut self, p: usize, m: Observed, now: Micros) -> Check {
        let (mut expected, before) = self.time_flips(p, now)?;
        let changes =
            self.engine.apply(ProfileId(p as i64), m.clone(), now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        self.models[p].known.push(m);
        let after = self.evaluate(p, now);
        expected.extend(flips(&self.ws, ProfileId(p as i64), &before, &after, now));
        prop_assert_eq!(&changes, &expected, "changes when a message for profile {} arrived at {}", p, now);
        self.models[p].settled = now;
        self.models[p].answer = after;
        Ok(())
    }

    /// The engine's answers equal the reference's for every profile checked
    /// up to `now`.
    fn check_members(&self, now: Micros) -> Check {
        for (p, model) in self.models.iter().enumerate().filter(|(_, m)| m.settled == now) {
            let id = ProfileId(p as i64);
            for (key, &member) in &model.answer.segments {
                prop_assert_eq!(self.engine.is_member(id, key), member, "profile {} segment {} at {}", p, key, now);
                let bit = self.engine.members(key).unwrap().contains(p as u32);
                prop_assert_eq!(bit, member, "bitmap of {} at {}", key, now);
            }
            for (key, stage) in &model.answer.stages {
                prop_assert_eq!(
                    self.engine.stage_of(id, key),
                    stage.as_deref(),
                    "profile {} stages {} at {}",
                    p,
                    key,
                    now
                );
            }
        }
        Ok(())
    }

    fn snapshot_round_trip(&mut self) -> Check {
        let json = serde_json::to_string(&self.engine.snapshot()).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        let restored =
            Engine::restore(&self.ws, self.tz.clone(), back).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(restored.next_wake(), self.engine.next_wake());
        self.engine = restored;
        Ok(())
    }
}

fn run(case: &Case, check_wakes: bool) -> Check {
    let files = [SourceFile::new("generated.tidings", case.rules.clone())];
    let (ws, diags) = check_workspace(&files, None);
    prop_assert!(!has_errors(&diags), "{}", render_diagnostics(&diags, &files));
    let tz = TimeZone::get(case.default_tz).unwrap();
    let mut h = Harness::new(ws.clone(), tz.clone(), case.profiles, case.start - 1);
    let mut now = case.start;
    let mut stamps: Vec<Micros> = Vec::new();
    for op in &case.ops {
        now += op.step * case.unit;
        let p = op.profile % case.profiles;
        let at = match op.when {
            When::Now => now,
            When::Late(n) => now - n * case.unit,
            When::Ahead(n) => now + n * case.unit,
            When::Same(i) if !stamps.is_empty() => stamps[i % stamps.len()],
            When::Same(_) => now,
        };
        h.seq += 1;
        let message = match &op.action {
            Action::Track { name, props, context } => {
                Some(Observed::track(h.seq, name, at, props.clone()).with_context(context.clone()))
            }
            Action::Page => Some(Observed::page(h.seq, Some("Home"), at)),
            Action::Identify { traits } => Some(Observed::identify(h.seq, at, traits.clone())),
            Action::Wait | Action::Snapshot => None,
        };
        match message {
            Some(m) => {
                stamps.push(at);
                if !check_wakes {
                    h.engine
                        .apply(ProfileId(p as i64), m.clone(), now)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    h.models[p].known.push(m);
                } else {
                    if op.advance_first {
                        h.advance(now)?;
                    }
                    h.message(p, m, now)?;
                }
            }
            None if check_wakes => h.advance(now)?,
            None => {
                h.engine.advance(now);
            }
        }
        if matches!(op.action, Action::Snapshot) {
            h.snapshot_round_trip()?;
        }
        if !check_wakes {
            // Memberships only: the engine against a fresh reference answer.
            h.engine.advance(now);
            for p in 0..case.profiles {
                h.models[p].answer = h.evaluate(p, now);
                h.models[p].settled = now;
            }
        }
        h.check_members(now)?;
    }
    // Loading from history gives the same answers as living through it.
    let mut loaded = Engine::new(&ws, tz).unwrap();
    for p in 0..case.profiles {
        loaded.backfill(ProfileId(p as i64), &h.models[p].known, now).unwrap();
    }
    h.engine.advance(now);
    for p in 0..case.profiles {
        let id = ProfileId(p as i64);
        let answer = h.evaluate(p, now);
        for (key, &member) in &answer.segments {
            prop_assert_eq!(loaded.is_member(id, key), member, "backfilled profile {} segment {}", p, key);
        }
        for (key, stage) in &answer.stages {
            prop_assert_eq!(loaded.stage_of(id, key), stage.as_deref(), "backfilled profile {} stages {}", p, key);
        }
    }
    prop_assert_eq!(loaded.next_wake().is_none_or(|w| w > now), true);
    Ok(())
}

proptest! {
    #![proptest_config(config(400))]

    /// Memberships, stages and every change, with exact wake times.
    #[test]
    fn live_engine_matches_reference_with_exact_changes(case in case(24)) {
        run(&case, true)?;
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// The same, one form at a time.
    #[test]
    fn each_form_matches_reference_with_exact_changes(case in leaf_case(24)) {
        run(&case, true)?;
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Memberships and stages after every step, on longer histories.
    #[test]
    fn live_engine_matches_reference_memberships(case in case(40)) {
        run(&case, false)?;
    }
}

proptest! {
    #![proptest_config(config(600))]

    /// The order messages arrive in does not matter: any arrival order of
    /// the same history gives the same answers at the end.
    #[test]
    fn arrival_order_does_not_matter(case in case(30), seed in any::<u64>()) {
        let files = [SourceFile::new("generated.tidings", case.rules.clone())];
        let (ws, _) = check_workspace(&files, None);
        let tz = TimeZone::get(case.default_tz).unwrap();
        let mut messages = Vec::new();
        let mut now = case.start;
        for (i, op) in case.ops.iter().enumerate() {
            now += op.step * case.unit;
            let at = match op.when { When::Late(n) => now - n * case.unit, _ => now };
            match &op.action {
                Action::Track { name, props, .. } => messages.push(Observed::track(i as i64, name, at, props.clone())),
                Action::Identify { traits } => messages.push(Observed::identify(i as i64, at, traits.clone())),
                Action::Page => messages.push(Observed::page(i as i64, None, at)),
                _ => {}
            }
        }
        let mut shuffled = messages.clone();
        let mut r = seed | 1;
        for i in (1..shuffled.len()).rev() {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            shuffled.swap(i, (r % (i as u64 + 1)) as usize);
        }
        let mut engine = Engine::new(&ws, tz.clone()).unwrap();
        for m in shuffled {
            engine.apply(ProfileId(0), m, now).unwrap();
        }
        let answer = evaluate(&ws, &ProfileInput::new(messages), now, &tz);
        for (key, &member) in &answer.segments {
            prop_assert_eq!(engine.is_member(ProfileId(0), key), member, "segment {}", key);
        }
        for (key, stage) in &answer.stages {
            prop_assert_eq!(engine.stage_of(ProfileId(0), key), stage.as_deref(), "stages {}", key);
        }
    }
}
