//! Journey files: parsing, located diagnostics, and the state machine under
//! simulated time.

use jiff::tz::TimeZone;
use std::cell::RefCell;
use tidings_journeys::machine::{Input, next_local_time};
use tidings_journeys::{
    Effect, Instance, InstanceState, Outcome, StepKind, World, advance, arm_bucket, check_journeys, parse_journey,
};
use tidings_model::time::{DAY, HOUR, MINUTE, parse_time};
use tidings_model::{Micros, ProfileId};
use tidings_rules::{Condition, SourceFile, check_workspace, render_diagnostics};

const CART: &str = r#"
key = "cart_abandonment"
name = "Cart abandonment"

[trigger]
segment_entered = "cart_abandoners"

[settings]
exit_when = 'did "Order Completed" in last 1h'
reentry = "after 7d"
entry_key = "cart_id"

[[step]]
id = "wait"
wait = "1h"

[[step]]
id = "remind"
send = "cart_reminder"

[[step]]
id = "bought"
wait_for = { event = "Order Completed", timeout = "1d", on_event = "exit", on_timeout = "offer" }

[[step]]
id = "offer"
if = 'in segment loyal'
then = "vip"
else = "plain"

[[step]]
id = "vip"
send = "cart_vip_offer"
next = "exit"

[[step]]
id = "plain"
send = "cart_offer"
"#;

const RULES: &str = r#"
segment cart_abandoners { did "Product Added" then not "Order Completed" within 1h in last 3d }
segment loyal { did "Order Completed" at least 3 times in last 90d }
stages lifecycle { customer: did "Order Completed"  new: otherwise }
"#;

fn rules() -> tidings_rules::Workspace {
    let (ws, d) = check_workspace(&[SourceFile::new("segments.rules", RULES)], None);
    assert!(d.is_empty(), "{d:?}");
    ws
}

fn t(s: &str) -> Micros {
    parse_time(s).unwrap()
}

/// A profile whose conditions hold when their text contains one of `truths`.
struct Fake {
    truths: RefCell<Vec<String>>,
    tz: TimeZone,
}

impl Fake {
    fn new(truths: &[&str]) -> Fake {
        Fake { truths: RefCell::new(truths.iter().map(|s| s.to_string()).collect()), tz: TimeZone::UTC }
    }
}

impl World for Fake {
    fn holds(&self, c: &Condition, _now: Micros) -> bool {
        let text = c.to_string();
        self.truths.borrow().iter().any(|x| text.contains(x.as_str()))
    }
    fn time_zone(&self) -> TimeZone {
        self.tz.clone()
    }
}

fn sends(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| if let Effect::Send { template, .. } = e { Some(template.clone()) } else { None })
        .collect()
}

fn wake(fx: &[Effect]) -> Option<Micros> {
    fx.iter().find_map(|e| if let Effect::Wake { at } = e { Some(*at) } else { None })
}

#[test]
fn a_journey_file_parses_into_steps() {
    let (j, d) = parse_journey("journeys/cart.toml", CART);
    assert!(d.is_empty(), "{d:?}");
    let j = j.unwrap();
    assert_eq!(j.key, "cart_abandonment");
    assert_eq!(j.steps.len(), 6);
    assert!(matches!(j.steps[0].kind, StepKind::Wait(d) if d == HOUR));
    assert!(matches!(&j.steps[2].kind, StepKind::WaitFor { on_event: None, on_timeout: Some(3), .. }));
    assert!(matches!(&j.steps[3].kind, StepKind::Branch { then: Some(4), otherwise: Some(5), .. }));
    assert_eq!(j.steps[4].next, None, "next = \"exit\" ends the journey");
    assert_eq!(j.reentry, tidings_journeys::Reentry::After(7 * DAY));
    let (js, d) = check_journeys(
        &[SourceFile::new("journeys/cart.toml", CART)],
        &rules(),
        Some(&["cart_reminder".into(), "cart_vip_offer".into(), "cart_offer".into()]),
        None,
    );
    assert_eq!(js.len(), 1);
    assert!(d.is_empty(), "{d:?}");
}

fn diagnose(text: &str, templates: &[&str]) -> String {
    let file = SourceFile::new("journeys/j.toml", text);
    let t: Vec<String> = templates.iter().map(|s| s.to_string()).collect();
    let (_, d) = check_journeys(std::slice::from_ref(&file), &rules(), Some(&t), Some(&["Order Completed".into()]));
    render_diagnostics(&d, &[file])
}

#[test]
fn broken_journeys_get_located_diagnostics() {
    let unknown_step = CART.replace("on_timeout = \"offer\"", "on_timeout = \"ofer\"");
    let out = diagnose(&unknown_step, &["cart_reminder", "cart_vip_offer", "cart_offer"]);
    assert!(out.contains("error[E0402]: no step with id \"ofer\""), "{out}");
    assert!(out.contains("j.toml:23:89"), "located on the line: {out}");

    let bad_rule = CART.replace("if = 'in segment loyal'", "if = 'did \"Order Completed\" in last 7'");
    let out = diagnose(&bad_rule, &["cart_reminder", "cart_vip_offer", "cart_offer"]);
    assert!(out.contains("E0102"), "{out}");
    let line = out.lines().find(|l| l.contains("j.toml:")).unwrap();
    assert!(line.ends_with(":27:37"), "the caret is under the 7 inside the string: {out}");

    let out = diagnose(
        &CART.replace("segment_entered = \"cart_abandoners\"", "segment_entered = \"cart_abandoner\""),
        &["cart_reminder", "cart_vip_offer", "cart_offer"],
    );
    assert!(out.contains("E0301") && out.contains("`cart_abandoners`"), "{out}");

    let out = diagnose(CART, &["cart_reminder"]);
    assert!(out.contains("error[E0403]: no template \"cart_vip_offer\""), "{out}");

    let out = diagnose(&CART.replace("wait = \"1h\"", "wait = \"1 hour\""), &[]);
    assert!(out.contains("\"1 hour\" is not a duration"), "{out}");

    let split = "key = \"s\"\n[trigger]\napi = true\n[[step]]\nsplit = [{ to = \"a\", percent = 50 }, { holdout = true, percent = 40 }]\n[[step]]\nid = \"a\"\nsend = \"x\"\n";
    let out = diagnose(split, &["x"]);
    assert!(out.contains("E0404") && out.contains("add up to 90"), "{out}");

    let out = diagnose(
        "key = \"s\"\n[trigger]\napi = true\n[[step]]\nexit = true\n[[step]]\nid = \"lost\"\nsend = \"x\"\n",
        &["x"],
    );
    assert!(out.contains("warning[W0101]: no path reaches step \"lost\""), "{out}");

    let out = diagnose("key = \"s\"\n[trigger\napi = true\n", &[]);
    assert!(out.contains("E0400") && out.contains("j.toml:2:"), "{out}");

    let out = diagnose("key = \"s\"\n[trigger]\napi = true\n[[step]]\nsend = \"x\"\nwait = \"1h\"\n", &["x"]);
    assert!(out.contains("exactly one action"), "{out}");

    let out = diagnose("key = \"s\"\n[trigger]\napi = true\n[[step]]\nwait = \"1h\"\nbest_hour = \"24h\"\n", &[]);
    assert!(out.contains("`best_hour` belongs to a `send` step") && out.contains("j.toml:6:"), "{out}");
    let out = diagnose("key = \"s\"\n[trigger]\napi = true\n[[step]]\nsend = \"x\"\nbest_hour = \"soon\"\n", &["x"]);
    assert!(out.contains("best_hour \"soon\" is not a duration"), "{out}");

    // Experiment settings belong to a split, and a rollout needs two arms to choose from.
    let out = diagnose("key = \"s\"\n[trigger]\napi = true\n[[step]]\nsend = \"x\"\nrollout = true\n", &["x"]);
    assert!(out.contains("`rollout` and `window` belong to a `split` step") && out.contains("j.toml:6:"), "{out}");
    let one_arm = "key = \"s\"\n[trigger]\napi = true\n[[step]]\nsplit = [{ to = \"a\", percent = 90 }, { holdout = true, percent = 10 }]\nrollout = true\nwindow = \"a week\"\n[[step]]\nid = \"a\"\nsend = \"x\"\n";
    let out = diagnose(one_arm, &["x"]);
    assert!(out.contains("`rollout` needs at least two arms"), "{out}");
    assert!(out.contains("window \"a week\" is not a duration"), "{out}");
}

#[test]
fn a_send_at_the_best_hour_says_so_in_its_effect() {
    let text = "key = \"s\"\n[trigger]\napi = true\n[[step]]\nsend = \"x\"\nbest_hour = \"24h\"\n";
    let (j, d) = parse_journey("journeys/s.toml", text);
    assert!(d.is_empty(), "{d:?}");
    let j = j.unwrap();
    assert_eq!(j.steps[0].kind, StepKind::Send { template: "x".into(), best_hour_within: Some(24 * HOUR) });
}

#[test]
fn the_cart_journey_runs_on_time_and_never_early() {
    let (j, _) = parse_journey("cart.toml", CART);
    let j = j.unwrap();
    let world = Fake::new(&[]);
    let start = t("2026-03-02T10:00:00Z");
    let mut inst = Instance::new(&j, ProfileId(7), 1, Some("cart-1".into()), start);
    let fx = advance(&j, &mut inst, Input::Start, start, &world);
    assert_eq!(wake(&fx), Some(start + HOUR));
    assert!(sends(&fx).is_empty());
    // A timer that fires early only re-arms.
    let fx = advance(&j, &mut inst, Input::Timer, start + HOUR - 1, &world);
    assert_eq!(fx, vec![Effect::Wake { at: start + HOUR }]);
    let fx = advance(&j, &mut inst, Input::Timer, start + HOUR, &world);
    assert_eq!(sends(&fx), ["cart_reminder"]);
    let key = fx.iter().find_map(|e| if let Effect::Send { key, .. } = e { Some(key.clone()) } else { None });
    assert_eq!(key.as_deref(), Some("cart_abandonment:7:1:remind"));
    assert_eq!(wake(&fx), Some(start + HOUR + DAY));
    // Other events do not move it; the timeout leads to the offer.
    assert!(advance(&j, &mut inst, Input::Event("Product Viewed"), start + 2 * HOUR, &world).is_empty());
    let fx = advance(&j, &mut inst, Input::Timer, start + HOUR + DAY, &world);
    assert_eq!(sends(&fx), ["cart_offer"]);
    assert!(matches!(inst.state, InstanceState::Done { outcome: Outcome::Completed, .. }));
    // Done is done.
    assert!(advance(&j, &mut inst, Input::Timer, start + 9 * DAY, &world).is_empty());

    // A loyal customer gets the VIP offer.
    let loyal = Fake::new(&["in segment loyal"]);
    let mut inst = Instance::new(&j, ProfileId(8), 1, None, start);
    advance(&j, &mut inst, Input::Start, start, &loyal);
    advance(&j, &mut inst, Input::Timer, start + HOUR, &loyal);
    let fx = advance(&j, &mut inst, Input::Timer, start + HOUR + DAY, &loyal);
    assert_eq!(sends(&fx), ["cart_vip_offer"]);

    // Buying while it waits ends it (on_event = exit), with no offer.
    let mut inst = Instance::new(&j, ProfileId(9), 1, None, start);
    advance(&j, &mut inst, Input::Start, start, &world);
    advance(&j, &mut inst, Input::Timer, start + HOUR, &world);
    let fx = advance(&j, &mut inst, Input::Event("Order Completed"), start + 3 * HOUR, &world);
    assert!(sends(&fx).is_empty());
    assert!(matches!(inst.state, InstanceState::Done { outcome: Outcome::Completed, .. }));
}

#[test]
fn the_exit_rule_stops_an_instance_at_its_next_step() {
    let (j, _) = parse_journey("cart.toml", CART);
    let j = j.unwrap();
    let world = Fake::new(&[]);
    let start = t("2026-03-02T10:00:00Z");
    let mut inst = Instance::new(&j, ProfileId(7), 1, None, start);
    advance(&j, &mut inst, Input::Start, start, &world);
    world.truths.borrow_mut().push("Order Completed".into());
    let fx = advance(&j, &mut inst, Input::Timer, start + HOUR, &world);
    assert_eq!(fx, vec![Effect::Done { outcome: Outcome::ExitRule }]);
}

#[test]
fn splits_are_deterministic_and_proportional() {
    let text = "key = \"exp\"\n[trigger]\napi = true\n[[step]]\nsplit = [{ to = \"a\", percent = 45 }, { to = \"b\", percent = 45 }, { holdout = true, percent = 10 }]\nexperiment = \"subject_test\"\n[[step]]\nid = \"a\"\nsend = \"ta\"\nnext = \"exit\"\n[[step]]\nid = \"b\"\nsend = \"tb\"\n";
    let (j, d) = parse_journey("exp.toml", text);
    assert!(d.is_empty(), "{d:?}");
    let j = j.unwrap();
    let world = Fake::new(&[]);
    let mut counts = std::collections::BTreeMap::new();
    for p in 0..20_000 {
        let mut inst = Instance::new(&j, ProfileId(p), 1, None, 0);
        let fx = advance(&j, &mut inst, Input::Start, 0, &world);
        let arm = fx
            .iter()
            .find_map(|e| if let Effect::Assigned { variation, .. } = e { Some(variation.clone()) } else { None });
        let arm = arm.unwrap();
        *counts.entry(arm.clone()).or_insert(0) += 1;
        // The same profile always gets the same arm.
        let mut again = Instance::new(&j, ProfileId(p), 2, None, 0);
        let fx2 = advance(&j, &mut again, Input::Start, 0, &world);
        assert!(fx2.iter().any(|e| matches!(e, Effect::Assigned { variation, .. } if *variation == arm)));
        if arm == "holdout" {
            assert!(sends(&fx).is_empty(), "the holdout gets nothing");
            assert!(matches!(inst.state, InstanceState::Done { outcome: Outcome::Holdout, .. }));
        }
    }
    let share = |k: &str| f64::from(counts[k]) / 20_000.0;
    assert!((share("a") - 0.45).abs() < 0.015 && (share("b") - 0.45).abs() < 0.015, "{counts:?}");
    assert!((share("holdout") - 0.10).abs() < 0.01, "{counts:?}");
    assert_ne!(arm_bucket("one", ProfileId(1)), arm_bucket("two", ProfileId(1)), "experiments are independent");
}

#[test]
fn wait_until_uses_the_profiles_local_time() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    // Wednesday 2026-03-04 20:00 UTC = 21:00 in Berlin; next Saturday 09:00 Berlin is 08:00 UTC.
    let now = t("2026-03-04T20:00:00Z");
    assert_eq!(next_local_time(now, 9 * 60, &[5], &berlin), Some(t("2026-03-07T08:00:00Z")));
    // Any day: tomorrow 09:00 Berlin.
    assert_eq!(next_local_time(now, 9 * 60, &[], &berlin), Some(t("2026-03-05T08:00:00Z")));
    // Across the spring DST change (29 March 2026), 09:00 is 07:00 UTC.
    assert_eq!(next_local_time(t("2026-03-28T12:00:00Z"), 9 * 60, &[6], &berlin), Some(t("2026-03-29T07:00:00Z")));
    // Exactly at the time: now.
    assert_eq!(next_local_time(t("2026-03-05T08:00:00Z"), 9 * 60, &[], &berlin), Some(t("2026-03-05T08:00:00Z")));

    let text = "key = \"weekend\"\n[trigger]\napi = true\n[[step]]\nwait_until = { time = \"09:00\", days = [\"saturday\", \"sunday\"] }\n[[step]]\nsend = \"weekend_picks\"\n";
    let (j, d) = parse_journey("w.toml", text);
    assert!(d.is_empty(), "{d:?}");
    let j = j.unwrap();
    let mut world = Fake::new(&[]);
    world.tz = berlin;
    let mut inst = Instance::new(&j, ProfileId(1), 1, None, now);
    let fx = advance(&j, &mut inst, Input::Start, now, &world);
    assert_eq!(wake(&fx), Some(t("2026-03-07T08:00:00Z")));
    let fx = advance(&j, &mut inst, Input::Timer, t("2026-03-07T08:00:00Z"), &world);
    assert_eq!(sends(&fx), ["weekend_picks"]);
}

#[test]
fn loops_get_a_key_per_visit_and_a_loop_without_waits_is_stopped() {
    let weekly = "key = \"weekly\"\n[trigger]\napi = true\n[[step]]\nid = \"news\"\nsend = \"newsletter\"\n[[step]]\nwait = \"7d\"\nnext = \"news\"\n";
    let (j, _) = parse_journey("weekly.toml", weekly);
    let j = j.unwrap();
    let world = Fake::new(&[]);
    let mut inst = Instance::new(&j, ProfileId(3), 1, None, 0);
    let mut keys = Vec::new();
    let mut now = 0;
    for _ in 0..3 {
        let fx = advance(&j, &mut inst, if now == 0 { Input::Start } else { Input::Timer }, now, &world);
        keys.extend(fx.iter().filter_map(|e| if let Effect::Send { key, .. } = e { Some(key.clone()) } else { None }));
        now = wake(&fx).unwrap();
    }
    assert_eq!(keys, ["weekly:3:1:news", "weekly:3:1:news:2", "weekly:3:1:news:3"]);
    assert_eq!(now, 3 * 7 * DAY);

    let tight = "key = \"tight\"\n[trigger]\napi = true\n[[step]]\nid = \"a\"\nset_trait = { key = \"x\", value = 1 }\nnext = \"a\"\n";
    let (j, _) = parse_journey("tight.toml", tight);
    let j = j.unwrap();
    let mut inst = Instance::new(&j, ProfileId(3), 1, None, 0);
    let fx = advance(&j, &mut inst, Input::Start, MINUTE, &world);
    assert_eq!(fx.last(), Some(&Effect::Done { outcome: Outcome::Looping }));
}
