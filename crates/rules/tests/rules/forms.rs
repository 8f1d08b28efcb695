//! Every form of the language parses to the tree it means.

use serde_json::json;
use tidings_rules::*;

use crate::{cond, shape};

fn dur(value: u64, unit: &str) -> serde_json::Value {
    json!({ "value": value, "unit": unit })
}

fn ever() -> serde_json::Value {
    json!({ "type": "ever" })
}

fn event(name: &str) -> serde_json::Value {
    json!({ "name": name, "predicate": null })
}

#[test]
fn did_with_defaults() {
    assert_eq!(
        shape(r#"did "Order Completed""#),
        json!({
            "type": "did",
            "event": event("Order Completed"),
            "count": { "op": "at_least", "n": 1 },
            "window": ever(),
        })
    );
}

#[test]
fn did_with_count_and_window_in_either_order() {
    let expected = json!({
        "type": "did",
        "event": event("Email Opened"),
        "count": { "op": "at_least", "n": 3 },
        "window": { "type": "in_last", "duration": dur(30, "d") },
    });
    assert_eq!(shape(r#"did "Email Opened" at least 3 times in last 30d"#), expected);
    assert_eq!(shape(r#"did "Email Opened" in last 30d at least 3 times"#), expected);
    let c = shape(r#"did "A" at most 1 time"#);
    assert_eq!(c["count"], json!({ "op": "at_most", "n": 1 }));
    let c = shape(r#"did "A" exactly 2 times ever"#);
    assert_eq!(c["count"], json!({ "op": "exactly", "n": 2 }));
    assert_eq!(c["window"], ever());
}

#[test]
fn did_with_a_where_predicate() {
    let c = shape(r#"did "Product Viewed" where category == "shoes" in last 7d"#);
    assert_eq!(
        c["event"]["predicate"],
        json!({
            "type": "test",
            "path": { "scope": "properties", "keys": ["category"] },
            "test": { "kind": "compare", "op": "eq", "value": "shoes" },
        })
    );
    let c = shape(
        r#"did "Order Completed" where (price > 50 and (category in ["shoes", "bags"] or not context.device.type exists))"#,
    );
    assert_eq!(
        c["event"]["predicate"],
        json!({
            "type": "and",
            "operands": [
                {
                    "type": "test",
                    "path": { "scope": "properties", "keys": ["price"] },
                    "test": { "kind": "compare", "op": "gt", "value": 50.0 },
                },
                {
                    "type": "or",
                    "operands": [
                        {
                            "type": "test",
                            "path": { "scope": "properties", "keys": ["category"] },
                            "test": { "kind": "in", "values": ["shoes", "bags"] },
                        },
                        {
                            "type": "not",
                            "operand": {
                                "type": "test",
                                "path": { "scope": "context", "keys": ["device", "type"] },
                                "test": { "kind": "exists" },
                            },
                        },
                    ],
                },
            ],
        })
    );
}

#[test]
fn a_single_comparison_leaves_and_to_the_rule() {
    let c = cond(r#"did "A" where x == 1 and did "B""#);
    let Condition::And { operands, .. } = c else { panic!("expected and, got {c:?}") };
    assert_eq!(operands.len(), 2);
}

#[test]
fn predicate_operators() {
    for (text, op) in [("==", "eq"), ("!=", "ne"), ("<", "lt"), ("<=", "le"), (">", "gt"), (">=", "ge")] {
        let c = shape(&format!(r#"did "A" where price {text} 5"#));
        assert_eq!(c["event"]["predicate"]["test"]["op"], op, "{text}");
    }
    let c = shape(r#"did "A" where tags contains "sale""#);
    assert_eq!(c["event"]["predicate"]["test"], json!({ "kind": "contains", "value": "sale" }));
    let c = shape(r#"did "A" where product.brand exists"#);
    assert_eq!(c["event"]["predicate"]["path"], json!({ "scope": "properties", "keys": ["product", "brand"] }));
    // A quoted "context" is a property, not the context scope.
    let c = shape(r#"did "A" where "context".x exists"#);
    assert_eq!(c["event"]["predicate"]["path"]["scope"], "properties");
    let c = shape(r#"did "A" where "product id" == true"#);
    assert_eq!(c["event"]["predicate"]["path"]["keys"], json!(["product id"]));
    assert_eq!(c["event"]["predicate"]["test"]["value"], json!(true));
}

#[test]
fn sequences() {
    assert_eq!(
        shape(r#"did "Product Added" then not "Order Completed" within 1h in last 3d"#),
        json!({
            "type": "sequence",
            "first": event("Product Added"),
            "then": event("Order Completed"),
            "negated": true,
            "within": dur(1, "h"),
            "matching": null,
            "window": { "type": "in_last", "duration": dur(3, "d") },
        })
    );
    let c = shape(r#"did "Checkout Started" where total > 10 then "Order Completed" within 30m matching order_id"#);
    assert_eq!(c["negated"], false);
    assert_eq!(c["matching"], json!({ "scope": "properties", "keys": ["order_id"] }));
    assert_eq!(c["window"], ever());
    assert_eq!(c["first"]["predicate"]["test"]["value"], json!(10.0));
}

#[test]
fn recency_and_seen() {
    assert_eq!(
        shape(r#"last "Order Completed" more than 90d ago"#),
        json!({
            "type": "recency",
            "which": "last",
            "event": event("Order Completed"),
            "relation": "more_than",
            "ago": dur(90, "d"),
        })
    );
    let c = shape(r#"first "Email Opened" where campaign == "x" less than 2w ago"#);
    assert_eq!((c["which"].clone(), c["relation"].clone()), (json!("first"), json!("less_than")));
    assert_eq!(
        shape("first seen less than 14d ago"),
        json!({ "type": "seen", "which": "first", "relation": "less_than", "ago": dur(14, "d") })
    );
    assert_eq!(shape("last seen more than 60s ago")["which"], "last");
}

#[test]
fn aggregates() {
    assert_eq!(
        shape(r#"total revenue of "Order Completed" in last 365d >= 500"#),
        json!({
            "type": "aggregate",
            "function": "total",
            "property": { "scope": "properties", "keys": ["revenue"] },
            "event": event("Order Completed"),
            "window": { "type": "in_last", "duration": dur(365, "d") },
            "op": "ge",
            "value": 500.0,
        })
    );
    for f in ["average", "min", "max", "distinct"] {
        let c = shape(&format!(r#"{f} price of "A" where x == "y" < 12.5"#));
        assert_eq!(c["function"], f);
        assert_eq!(c["window"], ever());
        assert_eq!(c["value"], json!(12.5));
    }
}

#[test]
fn shares() {
    assert_eq!(
        shape(r#"share of "Order Completed" on weekends in last 180d >= 60%"#),
        json!({
            "type": "share",
            "event": event("Order Completed"),
            "days": { "type": "weekends" },
            "window": { "type": "in_last", "duration": dur(180, "d") },
            "op": "ge",
            "value": 0.6,
        })
    );
    assert_eq!(shape(r#"share of "A" on weekdays > 0.5"#)["days"], json!({ "type": "weekdays" }));
    for (i, day) in
        ["mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays", "sundays"].iter().enumerate()
    {
        let c = shape(&format!(r#"share of "A" on {day} > 0"#));
        assert_eq!(c["days"]["day"], json!(day.trim_end_matches('s')), "{i}");
    }
    assert_eq!(
        shape(r#"share of "Email Opened" on hours 22 to 6 between 7d and 30d ago < 10%"#)["days"],
        json!({ "type": "hours", "from": 22, "to": 6 })
    );
}

#[test]
fn active_days() {
    assert_eq!(
        shape("active on at least 3 days in last 30d"),
        json!({
            "type": "active_days",
            "count": { "op": "at_least", "n": 3 },
            "window": { "type": "in_last", "duration": dur(30, "d") },
        })
    );
    assert_eq!(shape("active on exactly 1 day")["count"]["op"], "exactly");
    assert_eq!(shape("active on at most 0 days ever")["count"]["n"], 0);
}

#[test]
fn traits() {
    assert_eq!(
        shape(r#"trait address.country == "DE""#),
        json!({
            "type": "trait",
            "path": { "keys": ["address", "country"] },
            "test": { "kind": "compare", "op": "eq", "value": "DE" },
        })
    );
    assert_eq!(shape(r#"trait plan in ["pro", "team",]"#)["test"], json!({ "kind": "in", "values": ["pro", "team"] }));
    assert_eq!(shape(r#"trait tags contains "vip""#)["test"], json!({ "kind": "contains", "value": "vip" }));
    assert_eq!(shape("trait email exists")["test"], json!({ "kind": "exists" }));
    assert_eq!(shape("trait age >= -1.5")["test"]["value"], json!(-1.5));
}

#[test]
fn references_and_subscriptions() {
    assert_eq!(shape("in segment loyal"), json!({ "type": "in_segment", "key": "loyal" }));
    assert_eq!(
        shape("in stage lifecycle.power_user"),
        json!({ "type": "in_stage", "set": "lifecycle", "stage": "power_user" })
    );
    assert_eq!(shape("subscribed"), json!({ "type": "subscribed", "topic": null }));
    assert_eq!(shape(r#"subscribed to "news""#)["topic"], "news");
}

#[test]
fn windows() {
    let w = |text: &str| shape(&format!(r#"did "A" {text}"#))["window"].clone();
    assert_eq!(w("in last 15m"), json!({ "type": "in_last", "duration": dur(15, "m") }));
    assert_eq!(
        w("between 0d and 7d ago"),
        json!({ "type": "between", "min_age": dur(0, "d"), "max_age": dur(7, "d") })
    );
    assert_eq!(w(r#"since last "Email Clicked" where link == "a""#)["event"]["name"], "Email Clicked");
    assert_eq!(w("ever"), ever());
}

#[test]
fn durations_in_every_unit() {
    for (unit, micros) in
        [("s", 1_000_000i64), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000), ("w", 604_800_000_000)]
    {
        let Condition::Seen(s) = cond(&format!("first seen more than 2{unit} ago")) else { panic!() };
        assert_eq!(s.ago.micros(), 2 * micros);
    }
}

#[test]
fn precedence_is_or_then_and_then_not() {
    let c = cond(r#"not did "A" and did "B" or did "C""#);
    let Condition::Or { operands, .. } = &c else { panic!("{c:?}") };
    let Condition::And { operands: inner, .. } = &operands[0] else { panic!("{c:?}") };
    assert!(matches!(inner[0], Condition::Not { .. }));
    assert!(matches!(operands[1], Condition::Did(_)));

    let c = cond(r#"did "A" and (did "B" or did "C") and did "D""#);
    let Condition::And { operands, .. } = &c else { panic!() };
    assert_eq!(operands.len(), 3);
    assert!(matches!(operands[1], Condition::Or { .. }));

    // Nested parentheses keep their structure.
    let c = cond(r#"did "A" and (did "B" and did "C")"#);
    let Condition::And { operands, .. } = &c else { panic!() };
    assert_eq!(operands.len(), 2);
}

#[test]
fn strings_numbers_comments() {
    let c = shape("# leading comment\ntrait name == \"say \\\"hi\\\" \\\\ bye\" # trailing");
    assert_eq!(c["test"]["value"], "say \"hi\" \\ bye");
    assert_eq!(shape("trait x == 12")["test"]["value"], json!(12.0));
    assert_eq!(shape("trait x == 12.5%")["test"]["value"], json!(0.125));
    assert_eq!(shape("trait x == false")["test"]["value"], json!(false));
}

#[test]
fn spans_point_at_the_text() {
    let text = r#"did "Order Completed" at least 2 times in last 30d"#;
    let Condition::Did(d) = cond(text) else { panic!() };
    let at = |s: Span| &text[s.start..s.end];
    assert_eq!(at(d.span), text);
    assert_eq!(at(d.event.name_span), "\"Order Completed\"");
    assert_eq!(at(d.count.span), "at least 2 times");
    assert_eq!(at(d.window.span()), "in last 30d");
    let Window::InLast { duration, .. } = &d.window else { panic!() };
    assert_eq!(at(duration.span), "30d");

    let text = r#"(did "A" or in segment x) and in stage s.t"#;
    let at = |s: Span| &text[s.start..s.end];
    let Condition::And { operands, span } = cond(text) else { panic!() };
    assert_eq!(at(span), text);
    assert_eq!(at(operands[0].span()), r#"(did "A" or in segment x)"#);
    let Condition::InStage(r) = &operands[1] else { panic!() };
    assert_eq!((at(r.set_span), at(r.stage_span)), ("s", "t"));
}

#[test]
fn definitions_and_stage_labels() {
    let text = r#"
segment a "Display \"A\"" { did "X" }
stages life {
  ever: did "X"
  between: did "Y" ever
  in: subscribed
  rest: otherwise
}
"#;
    let (file, diags) = parse_file("f", text);
    assert!(diags.is_empty(), "{diags:#?}");
    let [Definition::Segment(a), Definition::Stages(life)] = &file.definitions[..] else { panic!("{file:#?}") };
    assert_eq!(a.display_name.as_deref(), Some("Display \"A\""));
    let names: Vec<&str> = life.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ever", "between", "in", "rest"]);
    let Condition::Did(d) = &life.stages[1].condition else { panic!() };
    assert!(matches!(d.window, Window::Ever { .. }));
}

#[test]
fn the_spec_example_parses_cleanly() {
    let text = include_str!("../spec_example.tidings");
    let (file, diags) = parse_file("spec.tidings", text);
    assert!(diags.is_empty(), "{diags:#?}");
    let keys: Vec<&str> = file.definitions.iter().map(Definition::key).collect();
    assert_eq!(
        keys,
        ["browse_abandoners", "cart_abandoners", "weekend_buyers", "loyal", "opens_no_clicks", "lifecycle"]
    );
    let reprinted = file.to_string();
    let (again, diags) = parse_file("spec.tidings", &reprinted);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(again.without_spans(), file.without_spans());
}

#[test]
fn canonical_printing() {
    let cases = [
        (r#"did "A" at least 1 time ever"#, r#"did "A""#),
        (r#"did "A" in last 7d exactly 1 times"#, r#"did "A" exactly 1 time in last 7d"#),
        (r#"share of "A" on saturday in last 1w >= 60%"#, r#"share of "A" on saturdays in last 1w >= 0.6"#),
        (r#"not (did "A" or did "B") and not not subscribed"#, r#"not (did "A" or did "B") and not not subscribed"#),
        (r#"did "A" where ((x == 1)) or ((did "B"))"#, r#"did "A" where x == 1 or did "B""#),
        (
            r#"did "A" where (not (a == 1 or b == 2) and c exists)"#,
            r#"did "A" where (not (a == 1 or b == 2) and c exists)"#,
        ),
        (r#"trait "first name" == "Zoë""#, r#"trait "first name" == "Zoë""#),
    ];
    for (input, canonical) in cases {
        assert_eq!(cond(input).to_string(), canonical, "{input}");
        assert_eq!(cond(canonical).without_spans(), cond(input).without_spans());
    }
}

#[test]
fn json_round_trips() {
    let text = include_str!("../spec_example.tidings");
    let (file, _) = parse_file("spec.tidings", text);
    let json = serde_json::to_string(&file).unwrap();
    let back: File = serde_json::from_str(&json).unwrap();
    assert_eq!(back, file);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["definitions"][0]["kind"], "segment");
    assert_eq!(v["definitions"][0]["condition"]["type"], "and");
}

#[test]
fn parse_condition_rejects_otherwise_and_trailing_text() {
    let e = parse_condition("otherwise").unwrap_err();
    assert_eq!(e.diagnostics[0].code, Code::OtherwiseOutsideStages);
    assert_eq!(e.to_string(), "invalid condition: `otherwise` is only allowed in a `stages` block");
    let e = parse_condition(r#"did "A" }"#).unwrap_err();
    assert_eq!(e.diagnostics[0].code, Code::UnexpectedToken);
}

#[test]
fn evaluator_helpers() {
    let c = cond(
        r#"did "A" since last "B" and (share of "C" on weekends > 0 or in segment s) and in stage l.x and in segment t"#,
    );
    let names: Vec<&str> = c.event_matchers().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    let segs: Vec<&str> = c.segment_refs().iter().map(|r| r.key.as_str()).collect();
    assert_eq!(segs, ["s", "t"]);
    assert_eq!(c.stage_refs()[0].stage, "x");

    let hours = Days::Hours { from: 22, to: 6, span: Span::default() };
    assert!(hours.matches(Weekday::Monday, 23));
    assert!(hours.matches(Weekday::Monday, 0));
    assert!(!hours.matches(Weekday::Monday, 6));
    assert!(Days::Weekends { span: Span::default() }.matches(Weekday::Sunday, 3));
    assert!(CmpOp::Ge.holds(&2.0, &2.0));
    assert!(CountOp::AtMost.holds(0, 0));
    assert!(Relation::MoreThan.holds(100, 10, 50));
}
