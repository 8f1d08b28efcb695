//! The segment rule language (the contract is `spec/segments.md` in the
//! shared folder): lexer, parser, syntax tree with spans, canonical printer,
//! workspace checks and rustc-style diagnostics.
//!
//! Architecture invariant: this crate does no I/O and reads no clock. Callers
//! hand it text and names; it hands back trees and diagnostics.
//!
//! # Using it
//!
//! ```
//! use tidings_rules::{check_workspace, parse_condition, render_diagnostics, SourceFile};
//!
//! let files = [SourceFile::new(
//!     "segments.tidings",
//!     "segment buyers { did \"Order Completed\" at least 2 times in last 30d }",
//! )];
//! let known = vec!["Order Completed".to_string()];
//! let (workspace, diagnostics) = check_workspace(&files, Some(&known));
//! assert!(diagnostics.is_empty(), "{}", render_diagnostics(&diagnostics, &files));
//! let buyers = workspace.segment("buyers").unwrap();
//! assert_eq!(buyers.condition.to_string(), "did \"Order Completed\" at least 2 times in last 30d");
//!
//! let rule = parse_condition("trait plan in [\"pro\", \"team\"] and subscribed").unwrap();
//! assert_eq!(rule.to_string(), "trait plan in [\"pro\", \"team\"] and subscribed");
//! ```
//!
//! - [`parse_file`] reads one file: the definitions that parsed, and every
//!   diagnostic. A definition with a syntax error is left out of the [`File`];
//!   one with only semantic errors (a zero duration, say) stays in it, so a
//!   caller must look at the diagnostics before trusting the tree.
//! - [`check_workspace`] parses every file and checks them together:
//!   duplicate keys, unknown `in segment` / `in stage` references, cycles,
//!   and (when the caller passes the event names the workspace has received)
//!   event names never seen. Its [`Workspace`] holds only the definitions
//!   free of errors, each after the definitions it refers to, which is the
//!   order an evaluator computes them in.
//! - [`parse_condition`] reads one condition on its own (journeys use it);
//!   [`Workspace::check_condition`] checks its references and events.
//! - [`render_diagnostics`] renders diagnostics like rustc, with 1-based
//!   `line:column` where columns count characters.
//! - Every node prints as canonical rule text through `Display`, which parses
//!   back to the same tree ([`File::without_spans`] compares trees by shape).
//!
//! The syntax tree serializes with serde in the shape the API serves:
//! internally tagged enums (`"type": "did"`), snake_case names, and spans as
//! `{"start": 0, "end": 5}` byte offsets. Durations keep the unit they were
//! written in (`{"value": 7, "unit": "d"}`); evaluators use
//! [`Duration::micros`], microseconds as `i64`.
//!
//! # Grammar
//!
//! In EBNF; keywords are lowercase words in quotes. A `#` starts a comment to
//! the end of the line. A word followed by `:` always names a stage, so the
//! optional parts of a condition never swallow the next stage's label.
//!
//! ```ebnf
//! file        = { definition } ;
//! definition  = segment | stages ;
//! segment     = "segment" key [ string ] "{" condition "}" ;
//! stages      = "stages" key "{" { key ":" condition } "}" ;
//! key         = word ;                    (* checked: [a-z][a-z0-9_]* *)
//!
//! condition   = and_cond { "or" and_cond } ;
//! and_cond    = not_cond { "and" not_cond } ;
//! not_cond    = "not" not_cond | atom ;
//! atom        = "(" condition ")"
//!             | "did" event [ count ] [ window ]        (* count and window in either order *)
//!             | "did" event "then" [ "not" ] event "within" duration
//!                   [ "matching" property ] [ window ]
//!             | ( "first" | "last" ) event age
//!             | ( "first" | "last" ) "seen" age
//!             | aggregate property "of" event [ window ] cmp number
//!             | "share" "of" event "on" days [ window ] cmp number
//!             | "active" "on" count_op integer ( "day" | "days" ) [ window ]
//!             | "trait" path test
//!             | "in" "segment" key
//!             | "in" "stage" key "." key
//!             | "subscribed" [ "to" string ]
//!             | "otherwise" ;                        (* only as the last stage *)
//! age         = ( "more" | "less" ) "than" duration "ago" ;
//! aggregate   = "total" | "average" | "min" | "max" | "distinct" ;
//! days        = "weekends" | "weekdays" | "mondays" | "tuesdays" | "wednesdays"
//!             | "thursdays" | "fridays" | "saturdays" | "sundays"
//!             | "hours" integer "to" integer ;      (* singulars accepted too *)
//! count       = count_op integer ( "time" | "times" ) ;
//! count_op    = "at" "least" | "at" "most" | "exactly" ;
//! window      = "in" "last" duration
//!             | "between" duration "and" duration "ago"
//!             | "since" "last" event
//!             | "ever" ;
//!
//! event       = string [ "where" predicate ] ;
//! predicate   = property test | "(" pred_or ")" ;
//! pred_or     = pred_and { "or" pred_and } ;
//! pred_and    = pred_not { "and" pred_not } ;
//! pred_not    = "not" pred_not | "(" pred_or ")" | property test ;
//! test        = cmp value
//!             | "in" "[" [ value { "," value } [ "," ] ] "]"
//!             | "contains" value
//!             | "exists" ;
//! property    = path ;                    (* a leading unquoted `context.` selects the event context *)
//! path        = name { "." name } ;
//! name        = word | string ;
//!
//! cmp         = "==" | "!=" | "<" | "<=" | ">" | ">=" ;
//! value       = string | number | "true" | "false" ;
//! duration    = digits unit ;             (* no space: 7d *)
//! unit        = "s" | "m" | "h" | "d" | "w" ;
//! number      = [ "-" ] digits [ "." digits ] [ "%" ] ;   (* 60% = 0.6 *)
//! integer     = digits ;
//! string      = '"' { char | '\"' | '\\' } '"' ;          (* on one line *)
//! word        = ( letter | "_" ) { letter | digit | "_" } ;
//! ```
//!
//! Beyond the spec, and not changing what it says: `true`/`false` values,
//! quoted path names (`"product id"`), `did E [WINDOW] [COUNT]` in either
//! order, singular day names, `hours 22 to 6` wrapping past midnight, and a
//! trailing comma in lists.
//!
//! # Robustness
//!
//! No input makes the parser panic, hang or overflow the stack: nesting is
//! limited to [`MAX_DEPTH`] levels, every loop consumes input, and the
//! workspace checks walk graphs without recursion. Property tests feed it
//! arbitrary strings and token soups; a cargo-fuzz target lives in `fuzz/`
//! (see the crate's README for how to run it).
//!
//! # Generating rules
//!
//! With the `arbitrary` feature, the `arbitrary` module provides proptest strategies
//! for random valid conditions and whole definition sets over a small
//! vocabulary, for differential tests of evaluators.

mod ast;
mod check;
mod diagnostic;
mod lexer;
mod parser;
mod print;
mod suggest;
mod visit;

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;

#[cfg(test)]
mod tests;

pub use ast::*;
pub use check::{ENGINE_EVENTS, Resolved, SourceFile, Workspace, check_workspace};
pub use diagnostic::{Code, Diagnostic, Fix, Location, Severity};
pub use parser::MAX_DEPTH;
pub use parser::is_valid_key;

/// The file name diagnostics from [`parse_condition`] carry.
pub const CONDITION_FILE: &str = "<condition>";

/// Parses one definitions file. See the crate docs for what the [`File`]
/// holds when there are errors.
pub fn parse_file(name: &str, text: &str) -> (File, Vec<Diagnostic>) {
    let mut parser = parser::Parser::new(name, text);
    let file = parser.file();
    (file, parser.diags)
}

/// A condition that does not parse, or breaks a rule of the language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid condition: {}", first_message(.diagnostics))]
pub struct RuleError {
    /// The errors, located in a file named [`CONDITION_FILE`].
    pub diagnostics: Vec<Diagnostic>,
}

fn first_message(diags: &[Diagnostic]) -> &str {
    diags.first().map_or("no details", |d| d.message.as_str())
}

/// Parses a condition on its own, as journeys and the API use them. Warnings
/// are dropped; references and event names are not checked here (see
/// [`Workspace::check_condition`]).
pub fn parse_condition(text: &str) -> Result<Condition, RuleError> {
    let mut parser = parser::Parser::new(CONDITION_FILE, text);
    let condition = parser.lone_condition();
    let errors: Vec<Diagnostic> = parser.diags.into_iter().filter(Diagnostic::is_error).collect();
    match condition {
        Some(c) if errors.is_empty() => Ok(c),
        _ => Err(RuleError { diagnostics: errors }),
    }
}

impl std::str::FromStr for Condition {
    type Err = RuleError;

    /// Same as [`parse_condition`].
    fn from_str(text: &str) -> Result<Condition, RuleError> {
        parse_condition(text)
    }
}

/// Renders diagnostics one after another, each against the text of the file
/// it names (a file not among `sources` gets its header only).
pub fn render_diagnostics(diagnostics: &[Diagnostic], sources: &[SourceFile]) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let text = sources.iter().find(|s| s.name == d.file).map(|s| s.text.as_str());
        out.push_str(&d.render(text));
    }
    out
}

/// Whether any diagnostic is an error (rather than a warning).
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}
