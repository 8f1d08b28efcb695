//! `explain`: why a profile is or is not in a segment (or in its stage), as a
//! tree that mirrors the rule. Each part says whether it holds and what
//! decided it: the counts, the times, the values. Computed by the reference
//! evaluator, so it always agrees with it.

use std::fmt::{self, Display, Formatter, Write};

use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::Value;
use tidings_model::Micros;
use tidings_model::time::{DAY, HOUR, MINUTE, SECOND, format_time};
use tidings_rules::{Condition, Definition, Workspace};

use crate::input::ProfileInput;
use crate::reference::{Bounds, Evidence, Profile};

/// One part of a rule and whether it holds, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The part, as rule text; `all of`, `any of` and `not` for the
    /// connectives, whose parts are the children.
    pub rule: String,
    pub holds: bool,
    /// What decided it, one fact per line.
    pub evidence: Vec<String>,
    pub children: Vec<Explanation>,
}

/// Explains the segment or stage set `key` for one profile as of `now`;
/// `None` when the workspace has no such definition.
pub fn explain(
    workspace: &Workspace,
    key: &str,
    input: &ProfileInput,
    now: Micros,
    default_tz: &TimeZone,
) -> Option<Explanation> {
    let definition = &workspace.get(key)?.definition;
    let mut p = Profile::new(input, now, default_tz);
    p.evaluate_all(workspace);
    let missing = || vec![format!("the profile has no message at or before {}", format_time(now))];
    Some(match definition {
        Definition::Segment(s) => {
            let holds = p.segments.get(key).copied().unwrap_or(false);
            let (evidence, children) =
                if p.exists { (Vec::new(), vec![node(&p, &s.condition)]) } else { (missing(), Vec::new()) };
            Explanation { rule: format!("segment {key}"), holds, evidence, children }
        }
        Definition::Stages(set) => {
            let current = p.stages.get(key).cloned().flatten();
            let mut evidence = vec![match &current {
                Some(name) => format!("current stage: {name} (the first whose condition holds)"),
                None => "in no stage".to_string(),
            }];
            let children = if p.exists {
                set.stages
                    .iter()
                    .map(|st| {
                        let mut e = node(&p, &st.condition);
                        e.rule = format!("{}: {}", st.name, e.rule);
                        e
                    })
                    .collect()
            } else {
                evidence = missing();
                Vec::new()
            };
            Explanation { rule: format!("stages {key}"), holds: current.is_some(), evidence, children }
        }
    })
}

fn node(p: &Profile<'_>, c: &Condition) -> Explanation {
    let (rule, children): (&str, Vec<Explanation>) = match c {
        Condition::And { operands, .. } => ("all of", operands.iter().map(|c| node(p, c)).collect()),
        Condition::Or { operands, .. } => ("any of", operands.iter().map(|c| node(p, c)).collect()),
        Condition::Not { operand, .. } => ("not", vec![node(p, operand)]),
        leaf => {
            let (holds, evidence) = p.leaf(leaf);
            return Explanation {
                rule: leaf.to_string(),
                holds,
                evidence: render(p, leaf, &evidence),
                children: Vec::new(),
            };
        }
    };
    let holds = match c {
        Condition::And { .. } => children.iter().all(|e| e.holds),
        Condition::Or { .. } => children.iter().any(|e| e.holds),
        _ => !children[0].holds,
    };
    Explanation { rule: rule.to_string(), holds, evidence: Vec::new(), children }
}

fn render(p: &Profile<'_>, c: &Condition, e: &Evidence) -> Vec<String> {
    let now = p.now;
    let at = |t: Micros| format!("{} ({})", format_time(t), ago(now - t));
    match (c, e) {
        (Condition::Did(_), Evidence::Count { n, bounds, newest }) => {
            let mut s = format!("{n} matching event{} {}", plural(*n), window(*bounds));
            if let Some(t) = newest {
                let _ = write!(s, "; newest at {}", at(*t));
            }
            vec![s]
        }
        (Condition::Sequence(s), Evidence::Sequence { bounds, firsts, witness }) => {
            let mut out =
                vec![format!("{firsts} {} event{} {}", quoted(&s.first.name), plural(*firsts), window(*bounds))];
            match witness {
                Some((t, Some(b))) => out.push(format!(
                    "the one at {} was followed by {} at {}",
                    format_time(*t),
                    quoted(&s.then.name),
                    format_time(*b)
                )),
                Some((t, None)) => {
                    let end = t.saturating_add(s.within.micros());
                    let state = if end <= now { "had" } else { "has so far" };
                    out.push(format!(
                        "the one at {} {state} no {} within {} (until {})",
                        format_time(*t),
                        quoted(&s.then.name),
                        s.within,
                        format_time(end)
                    ));
                }
                None => {}
            }
            out
        }
        (Condition::Recency(r), Evidence::Time { at: t }) => vec![match t {
            Some(t) => format!("{} matching event at {}", which(r.which), at(*t)),
            None => "no matching event".to_string(),
        }],
        (Condition::Seen(s), Evidence::Time { at: t }) => vec![match t {
            Some(t) => format!("{} activity at {}", which(s.which), at(*t)),
            None => "no activity".to_string(),
        }],
        (Condition::Aggregate(a), Evidence::Aggregate { bounds, n, result }) => {
            let what = match result {
                Some(r) => format!("{} = {}", a.function.keyword(), number(*r)),
                None => format!("no numeric `{}` to take the {} of", a.property, a.function.keyword()),
            };
            vec![format!("{what} over {n} value{} {}", plural(*n), window(*bounds))]
        }
        (Condition::Share(_), Evidence::Share { bounds, k, n, zone }) => {
            let fraction = if *n > 0 { number(*k as f64 / *n as f64) } else { "undefined".to_string() };
            vec![format!(
                "{k} of {n} matching events on those days ({fraction}) {}, local time in {zone}",
                window(*bounds)
            )]
        }
        (Condition::ActiveDays(_), Evidence::Days { bounds, days, zone }) => {
            vec![format!("active on {days} day{} {}, local days in {zone}", plural(*days), window(*bounds))]
        }
        (Condition::Trait(t), Evidence::Trait { value }) => vec![match value {
            Some(v) => format!("trait {} is {v}", t.path),
            None => format!("trait {} is not set", t.path),
        }],
        (Condition::InSegment(r), Evidence::Member) => {
            let member = p.segments.get(&r.key).copied().unwrap_or(false);
            vec![format!("{} of segment {}", if member { "a member" } else { "not a member" }, r.key)]
        }
        (Condition::InStage(r), Evidence::Stage { current }) => vec![match current {
            Some(s) => format!("current stage of {}: {s}", r.set),
            None => format!("in no stage of {}", r.set),
        }],
        (Condition::Subscribed(_), Evidence::Subscription { email, consent, unsubscribed, ended_at }) => {
            let show = |v: &Option<Value>| v.as_ref().map_or("not set".to_string(), Value::to_string);
            let mut out = vec![format!(
                "email: {}; marketing_consent: {}; unsubscribed: {}",
                show(email),
                show(consent),
                show(unsubscribed)
            )];
            if let Some(t) = ended_at {
                out.push(format!("newest Unsubscribed at {}", at(*t)));
            }
            out
        }
        _ => Vec::new(),
    }
}

fn window(b: Bounds) -> String {
    match b.after {
        None => format!("up to {}", format_time(b.until)),
        Some(a) => format!("in ({}, {}]", format_time(a), format_time(b.until)),
    }
}

fn which(w: tidings_rules::Which) -> &'static str {
    match w {
        tidings_rules::Which::First => "first",
        tidings_rules::Which::Last => "last",
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

fn number(x: f64) -> String {
    let r = (x * 1e6).round() / 1e6;
    if r == r.trunc() && r.abs() < 1e15 { format!("{}", r as i64) } else { format!("{r}") }
}

/// `3d 4h ago`, `in 2h` for a time after now.
fn ago(d: Micros) -> String {
    let (future, d) = (d < 0, d.unsigned_abs());
    let parts: Vec<String> = [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (SECOND, "s")]
        .iter()
        .scan(d, |rest, &(unit, suffix)| {
            let unit = unit.unsigned_abs();
            let n = *rest / unit;
            *rest %= unit;
            Some((n, suffix))
        })
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, s)| format!("{n}{s}"))
        .collect();
    let text = if parts.is_empty() { "0s".to_string() } else { parts.join(" ") };
    if future { format!("in {text}") } else { format!("{text} ago") }
}

impl Display for Explanation {
    /// An indented tree: `yes`/`no` and the rule part, its evidence below.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        fn go(e: &Explanation, depth: usize, f: &mut Formatter<'_>) -> fmt::Result {
            let pad = "  ".repeat(depth);
            writeln!(f, "{pad}{} {}", if e.holds { "yes" } else { "no " }, e.rule)?;
            for line in &e.evidence {
                writeln!(f, "{pad}      {line}")?;
            }
            e.children.iter().try_for_each(|c| go(c, depth + 1, f))
        }
        go(self, 0, f)
    }
}
