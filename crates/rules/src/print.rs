//! Canonical rule text: `Display` for every node.
//!
//! The printed text parses back to the same tree (spans aside). Canonical
//! means: defaults left out (`at least 1 time`, `ever`), `and`/`or` chains
//! parenthesised only where the tree nests them, durations in the unit they
//! were written in, numbers as plain decimals (`60%` prints as `0.6`), path
//! segments quoted only when they are not words.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;

impl Display for File {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, d) in self.definitions.iter().enumerate() {
            if i > 0 {
                f.write_char('\n')?;
            }
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Display for Definition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Definition::Segment(s) => s.fmt(f),
            Definition::Stages(s) => s.fmt(f),
        }
    }
}

impl Display for Segment {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "segment {}", self.key)?;
        if let Some(name) = &self.display_name {
            write!(f, " {}", Quoted(name))?;
        }
        f.write_str(" {\n")?;
        // A top-level chain reads best one operand per line, as in the spec.
        match &self.condition {
            Condition::And { operands, .. } => chain_lines(f, operands, "and", true)?,
            Condition::Or { operands, .. } => chain_lines(f, operands, "or", false)?,
            c => writeln!(f, "  {c}")?,
        }
        f.write_char('}')
    }
}

fn chain_lines(f: &mut Formatter<'_>, ops: &[Condition], word: &str, and: bool) -> fmt::Result {
    for (i, c) in ops.iter().enumerate() {
        let sep = if i == 0 { "" } else { word };
        f.write_str("  ")?;
        if i > 0 {
            write!(f, "{sep} ")?;
        }
        operand(f, c, and)?;
        f.write_char('\n')?;
    }
    Ok(())
}

impl Display for StageSet {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "stages {} {{", self.key)?;
        for s in &self.stages {
            writeln!(f, "  {s}")?;
        }
        f.write_char('}')
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.condition)
    }
}

/// Writes an operand of an `and` (`in_and`) or `or` chain, in parentheses
/// where the parser would otherwise read it differently.
fn operand(f: &mut Formatter<'_>, c: &Condition, in_and: bool) -> fmt::Result {
    let paren = match c {
        Condition::Or { .. } => true,
        Condition::And { .. } => in_and,
        _ => false,
    };
    if paren { write!(f, "({c})") } else { c.fmt(f) }
}

fn join_conditions(f: &mut Formatter<'_>, ops: &[Condition], word: &str, and: bool) -> fmt::Result {
    for (i, c) in ops.iter().enumerate() {
        if i > 0 {
            write!(f, " {word} ")?;
        }
        operand(f, c, and)?;
    }
    Ok(())
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::And { operands, .. } => join_conditions(f, operands, "and", true),
            Condition::Or { operands, .. } => join_conditions(f, operands, "or", false),
            Condition::Not { operand, .. } => match **operand {
                Condition::And { .. } | Condition::Or { .. } => write!(f, "not ({operand})"),
                _ => write!(f, "not {operand}"),
            },
            Condition::Did(d) => {
                write!(f, "did {}", d.event)?;
                if !(d.count.op == CountOp::AtLeast && d.count.n == 1) {
                    write!(f, " {}", CountText(&d.count, "time"))?;
                }
                opt_window(f, &d.window)
            }
            Condition::Sequence(s) => {
                let not = if s.negated { "not " } else { "" };
                write!(f, "did {} then {not}{} within {}", s.first, s.then, s.within)?;
                if let Some(m) = &s.matching {
                    write!(f, " matching {m}")?;
                }
                opt_window(f, &s.window)
            }
            Condition::Recency(r) => {
                write!(f, "{} {} {} {} ago", which(r.which), r.event, relation(r.relation), r.ago)
            }
            Condition::Aggregate(a) => {
                write!(f, "{} {} of {}", a.function.keyword(), a.property, a.event)?;
                opt_window(f, &a.window)?;
                write!(f, " {} {}", a.op.symbol(), Number(a.value))
            }
            Condition::Share(s) => {
                write!(f, "share of {} on {}", s.event, s.days)?;
                opt_window(f, &s.window)?;
                write!(f, " {} {}", s.op.symbol(), Number(s.value))
            }
            Condition::ActiveDays(a) => {
                write!(f, "active on {}", CountText(&a.count, "day"))?;
                opt_window(f, &a.window)
            }
            Condition::Seen(s) => {
                write!(f, "{} seen {} {} ago", which(s.which), relation(s.relation), s.ago)
            }
            Condition::Trait(t) => write!(f, "trait {} {}", t.path, t.test),
            Condition::InSegment(r) => write!(f, "in segment {}", r.key),
            Condition::InStage(r) => write!(f, "in stage {}.{}", r.set, r.stage),
            Condition::Subscribed(s) => match &s.topic {
                Some(t) => write!(f, "subscribed to {}", Quoted(t)),
                None => f.write_str("subscribed"),
            },
            Condition::Otherwise { .. } => f.write_str("otherwise"),
        }
    }
}

fn opt_window(f: &mut Formatter<'_>, w: &Window) -> fmt::Result {
    match w {
        Window::Ever { .. } => Ok(()),
        w => write!(f, " {w}"),
    }
}

fn which(w: Which) -> &'static str {
    match w {
        Which::First => "first",
        Which::Last => "last",
    }
}

fn relation(r: Relation) -> &'static str {
    match r {
        Relation::MoreThan => "more than",
        Relation::LessThan => "less than",
    }
}

struct CountText<'a>(&'a Count, &'static str);

impl Display for CountText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let CountText(c, unit) = self;
        let op = match c.op {
            CountOp::AtLeast => "at least",
            CountOp::AtMost => "at most",
            CountOp::Exactly => "exactly",
        };
        let s = if c.n == 1 { "" } else { "s" };
        write!(f, "{op} {} {unit}{s}", c.n)
    }
}

impl Display for Count {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        CountText(self, "time").fmt(f)
    }
}

impl Display for EventMatcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Quoted(&self.name).fmt(f)?;
        match &self.predicate {
            None => Ok(()),
            Some(Predicate::Test(t)) => write!(f, " where {t}"),
            Some(p) => write!(f, " where ({p})"),
        }
    }
}

impl Display for Predicate {
    /// Without the outer parentheses that a `where` needs around anything
    /// but a single test.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut Formatter<'_>, p: &Predicate, in_and: bool) -> fmt::Result {
            let paren = match p {
                Predicate::Or { .. } => true,
                Predicate::And { .. } => in_and,
                _ => false,
            };
            if paren { write!(f, "({p})") } else { p.fmt(f) }
        }
        let (ops, word, in_and) = match self {
            Predicate::Test(t) => return t.fmt(f),
            Predicate::Not { operand: p, .. } => {
                return match **p {
                    Predicate::And { .. } | Predicate::Or { .. } => write!(f, "not ({p})"),
                    _ => write!(f, "not {p}"),
                };
            }
            Predicate::And { operands, .. } => (operands, "and", true),
            Predicate::Or { operands, .. } => (operands, "or", false),
        };
        for (i, p) in ops.iter().enumerate() {
            if i > 0 {
                write!(f, " {word} ")?;
            }
            operand(f, p, in_and)?;
        }
        Ok(())
    }
}

impl Display for PropertyTest {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.test)
    }
}

impl Display for Test {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Test::Compare { op, value } => write!(f, "{} {value}", op.symbol()),
            Test::In { values } => {
                f.write_str("in [")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    v.fmt(f)?;
                }
                f.write_char(']')
            }
            Test::Contains { value } => write!(f, "contains {value}"),
            Test::Exists => f.write_str("exists"),
        }
    }
}

impl Display for PropertyPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.scope == Scope::Context {
            f.write_str("context.")?;
        }
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            // A leading property literally named "context" is quoted so it is
            // not read as the context scope.
            let force_quote = i == 0 && self.scope == Scope::Properties && k == "context" && self.keys.len() > 1;
            PathKey(k, force_quote).fmt(f)?;
        }
        Ok(())
    }
}

impl Display for TraitPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            PathKey(k, false).fmt(f)?;
        }
        Ok(())
    }
}

struct PathKey<'a>(&'a str, bool);

impl Display for PathKey<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        let word = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if word && !self.1 { f.write_str(self.0) } else { Quoted(self.0).fmt(f) }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => b.fmt(f),
            Value::Number(n) => Number(*n).fmt(f),
            Value::String(s) => Quoted(s).fmt(f),
        }
    }
}

/// A number as plain decimal digits. Rust's `f64` display is the shortest
/// text that reads back to the same value and never uses an exponent, which
/// the lexer does not read.
struct Number(f64);

impl Display for Number {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A string literal with `\"` and `\\` escaped.
pub(crate) struct Quoted<'a>(pub &'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            if matches!(c, '"' | '\\') {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Window::Ever { .. } => f.write_str("ever"),
            Window::InLast { duration, .. } => write!(f, "in last {duration}"),
            Window::Between { min_age, max_age, .. } => write!(f, "between {min_age} and {max_age} ago"),
            Window::SinceLast { event, .. } => write!(f, "since last {event}"),
        }
    }
}

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.unit.suffix())
    }
}

impl Display for Days {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Days::Weekends { .. } => f.write_str("weekends"),
            Days::Weekdays { .. } => f.write_str("weekdays"),
            Days::Day { day, .. } => f.write_str(day.plural()),
            Days::Hours { from, to, .. } => write!(f, "hours {from} to {to}"),
        }
    }
}
