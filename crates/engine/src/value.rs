//! What one comparison means: `where` predicates on an event's properties
//! and context, `trait` tests, value equality for `matching` and `distinct`.
//!
//! Both evaluators use these; they are the language's definition of a single
//! test, checked by hand-written tests rather than by the differential ones.
//!
//! - A JSON `null` is the same as a missing value.
//! - Numbers compare as numbers, strings as strings (by Unicode code point),
//!   booleans only with `==` and `!=`. Any other pairing, or a missing
//!   value, makes every operator false, `!=` included.
//! - `in [..]` holds when the value `==` one of the list.
//! - `contains` is a substring of a string, or an element (`==`) of an array.

use serde_json::Value;
use tidings_rules::{CmpOp, EventMatcher, Predicate, PropertyPath, Scope, Test, Value as Literal};

use crate::input::Observed;

/// The value at `keys` under `root`, or `None` when missing or `null`.
pub(crate) fn lookup<'a>(root: &'a Value, keys: &[String]) -> Option<&'a Value> {
    let mut v = root;
    for k in keys {
        v = v.as_object()?.get(k)?;
    }
    (!v.is_null()).then_some(v)
}

/// An event's value at a property path (`price`, `context.device.type`).
pub(crate) fn property<'a>(e: &'a Observed, path: &PropertyPath) -> Option<&'a Value> {
    let root = match path.scope {
        Scope::Properties => &e.properties,
        Scope::Context => &e.context,
    };
    lookup(root, &path.keys)
}

/// Whether `value` passes `test`.
pub(crate) fn test(value: Option<&Value>, test: &Test) -> bool {
    let Some(v) = value else {
        return false;
    };
    match test {
        Test::Compare { op, value } => compare(v, *op, value),
        Test::In { values } => values.iter().any(|l| compare(v, CmpOp::Eq, l)),
        Test::Contains { value } => match (v, value) {
            (Value::String(s), Literal::String(sub)) => s.contains(sub.as_str()),
            (Value::Array(items), l) => items.iter().any(|i| compare(i, CmpOp::Eq, l)),
            _ => false,
        },
        Test::Exists => true,
    }
}

fn compare(v: &Value, op: CmpOp, literal: &Literal) -> bool {
    match (v, literal) {
        (Value::Number(n), Literal::Number(x)) => n.as_f64().is_some_and(|n| op.holds(&n, x)),
        (Value::String(s), Literal::String(x)) => op.holds(&s.as_str(), &x.as_str()),
        (Value::Bool(b), Literal::Bool(x)) => matches!(op, CmpOp::Eq | CmpOp::Ne) && op.holds(b, x),
        _ => false,
    }
}

pub(crate) fn predicate(e: &Observed, p: &Predicate) -> bool {
    match p {
        Predicate::Test(t) => test(property(e, &t.path), &t.test),
        Predicate::And { operands, .. } => operands.iter().all(|p| predicate(e, p)),
        Predicate::Or { operands, .. } => operands.iter().any(|p| predicate(e, p)),
        Predicate::Not { operand, .. } => !predicate(e, operand),
    }
}

/// Whether `e` is a `track` event named as `m` says and passes its `where`.
pub(crate) fn matches(e: &Observed, m: &EventMatcher) -> bool {
    e.event_name() == Some(m.name.as_str()) && m.predicate.as_ref().is_none_or(|p| predicate(e, p))
}

/// A JSON number as `f64`; nothing else is numeric.
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    v?.as_f64()
}

/// A value's identity for `distinct` and `matching`: equal keys, equal
/// values. Numbers are equal when their `f64`s are (`1` and `1.0`, `0` and
/// `-0`); other values when their JSON text is.
pub(crate) fn key(v: Option<&Value>) -> Option<String> {
    Some(match v? {
        Value::Number(n) => format!("n:{}", n.as_f64()? + 0.0),
        Value::String(s) => format!("s:{s}"),
        Value::Bool(b) => format!("b:{b}"),
        other => format!("j:{other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit_num(x: f64) -> Literal {
        Literal::Number(x)
    }

    #[test]
    fn comparisons_follow_the_spec() {
        let cmp = |v: Value, op, l: Literal| test(Some(&v), &Test::Compare { op, value: l });
        assert!(cmp(json!(5), CmpOp::Gt, lit_num(4.5)));
        assert!(cmp(json!(5.0), CmpOp::Eq, lit_num(5.0)));
        assert!(cmp(json!("b"), CmpOp::Gt, Literal::String("a".into())));
        // Different types: false, `!=` included.
        assert!(!cmp(json!("5"), CmpOp::Eq, lit_num(5.0)));
        assert!(!cmp(json!("5"), CmpOp::Ne, lit_num(5.0)));
        assert!(!cmp(json!([1]), CmpOp::Ne, lit_num(1.0)));
        // Booleans: equality only.
        assert!(cmp(json!(true), CmpOp::Ne, Literal::Bool(false)));
        assert!(!cmp(json!(true), CmpOp::Gt, Literal::Bool(false)));
        // Missing and null: false, `!=` and `exists` included.
        assert!(!test(None, &Test::Compare { op: CmpOp::Ne, value: lit_num(1.0) }));
        assert!(lookup(&json!({"a": null}), &["a".to_string()]).is_none());
        assert!(!test(None, &Test::Exists));
        assert!(test(Some(&json!(0)), &Test::Exists));
    }

    #[test]
    fn in_and_contains() {
        let v = json!("running shoes");
        assert!(test(Some(&v), &Test::Contains { value: Literal::String("shoes".into()) }));
        assert!(!test(Some(&v), &Test::Contains { value: lit_num(1.0) }));
        let arr = json!(["a", 2]);
        assert!(test(Some(&arr), &Test::Contains { value: lit_num(2.0) }));
        assert!(!test(Some(&arr), &Test::Contains { value: Literal::String("2".into()) }));
        let values = vec![Literal::String("x".into()), lit_num(3.0)];
        assert!(test(Some(&json!(3)), &Test::In { values: values.clone() }));
        assert!(!test(Some(&json!("3")), &Test::In { values }));
    }

    #[test]
    fn keys_identify_equal_values() {
        assert_eq!(key(Some(&json!(1))), key(Some(&json!(1.0))));
        assert_eq!(key(Some(&json!(0.0))), key(Some(&json!(-0.0))));
        assert_ne!(key(Some(&json!(1))), key(Some(&json!("1"))));
        assert_eq!(key(None), None);
        assert_eq!(number(Some(&json!("12"))), None);
    }
}
