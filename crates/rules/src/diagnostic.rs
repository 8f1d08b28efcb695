//! Diagnostics: what went wrong, where, what was expected, what to do; and a
//! renderer in the style of rustc.
//!
//! Codes are stable: the API, the dashboard and users' scripts may match on
//! them. Add new codes; never renumber or reuse one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ast::Span;

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, )*) => {
        /// A diagnostic's stable code. `E…` codes are errors, `W…` warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $name, )*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $( Code::$name => $code, )*
                }
            }

            pub fn parse(s: &str) -> Option<Code> {
                match s {
                    $( $code => Some(Code::$name), )*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// A character that starts no token.
    UnexpectedCharacter = "E0001",
    /// A string without its closing quote on the same line.
    UnterminatedString = "E0002",
    /// A backslash escape other than `\"` and `\\`.
    InvalidEscape = "E0003",
    /// A single `=` where a comparison was meant.
    SingleEquals = "E0004",
    /// A token that does not fit the grammar here.
    UnexpectedToken = "E0100",
    /// Parentheses or `not` nested deeper than the parser allows.
    NestingTooDeep = "E0101",
    /// A number without a unit where a duration was expected.
    MissingDurationUnit = "E0102",
    /// A duration with a unit other than `s`, `m`, `h`, `d`, `w`.
    UnknownDurationUnit = "E0103",
    /// A number that is malformed, too large, or not whole where it must be.
    InvalidNumber = "E0104",
    /// A segment or stage key that is not `[a-z][a-z0-9_]*`.
    InvalidKey = "E0200",
    /// A duration of zero.
    ZeroDuration = "E0201",
    /// A duration too long to represent.
    DurationTooLong = "E0202",
    /// `hours H to H` with an hour outside 0..24 or an empty range.
    InvalidHours = "E0203",
    /// A share compared with a number outside 0%..100%.
    ShareOutOfRange = "E0204",
    /// `otherwise` outside a stages block.
    OtherwiseOutsideStages = "E0205",
    /// `otherwise` as a stage other than the last.
    OtherwiseNotLast = "E0206",
    /// `otherwise` combined with other conditions.
    OtherwiseNotAlone = "E0207",
    /// `between D1 and D2 ago` with D1 not shorter than D2.
    EmptyWindow = "E0208",
    /// Two stages of one set with the same name.
    DuplicateStage = "E0209",
    /// A stages block without stages.
    EmptyStages = "E0210",
    /// `did ""`.
    EmptyEventName = "E0211",
    /// Two definitions with the same key.
    DuplicateKey = "E0300",
    /// `in segment KEY` naming no segment.
    UnknownSegment = "E0301",
    /// `in stage KEY.NAME` naming no stage set.
    UnknownStageSet = "E0302",
    /// `in stage KEY.NAME` naming no stage of that set.
    UnknownStage = "E0303",
    /// Definitions that depend on each other.
    Cycle = "E0304",
    /// A journey file that is not valid TOML.
    JourneySyntax = "E0400",
    /// A journey field that is missing, unknown or of the wrong type.
    JourneyField = "E0401",
    /// A step that names a step id the journey does not have.
    UnknownStep = "E0402",
    /// A send step naming no template.
    UnknownTemplate = "E0403",
    /// Split percentages that do not add up to 100.
    SplitPercent = "E0404",
    /// Two steps with the same id, or two journeys with the same key.
    DuplicateStepId = "E0405",
    /// A trigger naming no segment, stage or event it could fire on.
    BadTrigger = "E0406",
    /// A time of day or weekday that does not parse.
    BadLocalTime = "E0407",
    /// An event name the workspace has never received.
    UnknownEvent = "W0001",
    /// `in []`, which never holds.
    EmptyList = "W0002",
    /// A count that every profile satisfies (`at least 0 times`).
    AlwaysHolds = "W0003",
    /// A journey step that no path reaches.
    UnreachableStep = "W0101",
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') { Severity::Warning } else { Severity::Error }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = String::deserialize(d)?;
        Code::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown code `{s}`")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A machine-applicable fix: replace the text at `span` with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub span: Span,
    pub replacement: String,
}

/// One finding about one place in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// One line, lowercase, no trailing period.
    pub message: String,
    /// The file name as passed to the parser.
    pub file: String,
    /// The offending text; empty at the end of the input.
    pub span: Span,
    /// Shown under the caret; when absent the expected list is shown instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What would have been accepted here, each already quoted for display
    /// (`` `least` ``, `a duration`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<String>,
    /// What to do about it (`did you mean `7d`?`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: Code, file: &str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            file: file.to_string(),
            span,
            label: None,
            expected: Vec::new(),
            help: None,
            fix: None,
            notes: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_expected(mut self, expected: Vec<String>) -> Self {
        self.expected = expected;
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_fix(mut self, span: Span, replacement: impl Into<String>) -> Self {
        self.fix = Some(Fix { span, replacement: replacement.into() });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The text under the caret: the label, else the expected list.
    pub fn caret_label(&self) -> Option<String> {
        if let Some(label) = &self.label {
            return Some(label.clone());
        }
        match self.expected.as_slice() {
            [] => None,
            [one] => Some(format!("expected {one}")),
            [a, b] => Some(format!("expected {a} or {b}")),
            many => Some(format!("expected one of {}", many.join(", "))),
        }
    }

    /// Renders this diagnostic against the text of its file; without the text
    /// only the header and the notes are shown.
    pub fn render(&self, text: Option<&str>) -> String {
        let mut out = format!("{}[{}]: {}\n", self.severity, self.code, self.message);
        let Some(text) = text else {
            out.push_str(&format!(" --> {}\n", self.file));
            self.render_footer(&mut out, 1);
            return out;
        };
        let loc = Location::of(text, self.span.start);
        let width = loc.line.to_string().len();
        let pad = " ".repeat(width);
        out.push_str(&format!("{pad}--> {}:{}:{}\n", self.file, loc.line, loc.column));
        out.push_str(&format!("{pad} |\n"));
        let line_text = &text[loc.line_start..loc.line_end];
        out.push_str(&format!("{} | {}\n", loc.line, expand_tabs(line_text)).replace(" | \n", " |\n"));
        let start = loc.byte.min(loc.line_end);
        let end = clamp_to_boundary(text, self.span.end.max(start).min(loc.line_end));
        let before = display_width(&text[loc.line_start..start]);
        let carets = display_width(&text[start..end]).max(1);
        let mut caret_line = format!("{pad} | {}{}", " ".repeat(before), "^".repeat(carets));
        if let Some(label) = self.caret_label() {
            caret_line.push(' ');
            caret_line.push_str(&label);
        }
        out.push_str(&caret_line);
        out.push('\n');
        self.render_footer(&mut out, width);
        out
    }

    fn render_footer(&self, out: &mut String, width: usize) {
        let pad = " ".repeat(width);
        for note in &self.notes {
            out.push_str(&format!("{pad} = note: {note}\n"));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)
    }
}

/// A 1-based line and column; columns count characters, so a tab or an `é`
/// is one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    #[serde(skip)]
    byte: usize,
    #[serde(skip)]
    line_start: usize,
    #[serde(skip)]
    line_end: usize,
}

impl Location {
    /// Where byte offset `offset` of `text` is; offsets past the end or inside
    /// a character are moved back to the nearest character boundary.
    pub fn of(text: &str, offset: usize) -> Location {
        let byte = clamp_to_boundary(text, offset);
        let line_start = text[..byte].rfind('\n').map_or(0, |i| i + 1);
        let mut line_end = text[byte..].find('\n').map_or(text.len(), |i| byte + i);
        if text[line_start..line_end].ends_with('\r') {
            line_end -= 1;
        }
        let line = text[..line_start].matches('\n').count() + 1;
        let column = text[line_start..byte].chars().count() + 1;
        Location { line, column, byte, line_start, line_end }
    }
}

fn clamp_to_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

const TAB_WIDTH: usize = 4;

fn expand_tabs(s: &str) -> String {
    s.replace('\t', &" ".repeat(TAB_WIDTH))
}

/// Terminal columns of `s` with tabs expanded, so carets line up under the
/// text. East Asian wide characters and emoji take two columns, combining
/// marks none: an approximation of Unicode's East Asian Width that covers
/// what event names and comments contain in practice.
fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let u = c as u32;
    match c {
        '\t' => TAB_WIDTH,
        _ if c.is_control() => 0,
        _ if matches!(u, 0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F | 0x20D0..=0x20FF) => 0,
        _ if matches!(u,
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF
            | 0x20000..=0x3FFFD) =>
        {
            2
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert_eq!(Code::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn locations_count_characters() {
        let text = "ab\n\tçd\r\nx";
        let l = Location::of(text, text.find('d').unwrap());
        assert_eq!((l.line, l.column), (2, 3));
        let l = Location::of(text, text.len());
        assert_eq!((l.line, l.column), (3, 2));
        // Inside a multibyte character: moved back to its start.
        let l = Location::of(text, text.find('ç').unwrap() + 1);
        assert_eq!((l.line, l.column), (2, 2));
    }

    #[test]
    fn renders_like_rustc() {
        let text = "segment a {\n  did \"Product Viewed\" in last 7\n}\n";
        let at = text.find("7\n").unwrap();
        let d = Diagnostic::new(
            Code::MissingDurationUnit,
            "rules/segments.tidings",
            Span::new(at, at + 1),
            "expected a duration unit after `7`",
        )
        .with_expected(["s", "m", "h", "d", "w"].map(|u| format!("`{u}`")).to_vec())
        .with_help("did you mean `7d`?");
        assert_eq!(
            d.render(Some(text)),
            "error[E0102]: expected a duration unit after `7`\n \
             --> rules/segments.tidings:2:32\n  |\n\
             2 |   did \"Product Viewed\" in last 7\n  \
             |                                ^ expected one of `s`, `m`, `h`, `d`, `w`\n  \
             = help: did you mean `7d`?\n"
        );
    }
}
