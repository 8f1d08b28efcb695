//! Integration tests of the rule language, linked into one test binary.

mod forms;
mod golden;
mod robustness;
mod workspace;

use tidings_rules::{Condition, parse_condition};

/// Parses a condition that must be valid.
pub fn cond(text: &str) -> Condition {
    match parse_condition(text) {
        Ok(c) => c,
        Err(e) => panic!("{text:?} did not parse: {:#?}", e.diagnostics),
    }
}

/// The condition's JSON without spans, for compact assertions on its shape.
pub fn shape(text: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(cond(text).without_spans()).unwrap();
    strip_spans(&mut v);
    v
}

fn strip_spans(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| k != "span" && !k.ends_with("_span"));
            map.values_mut().for_each(strip_spans);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_spans),
        _ => {}
    }
}
