//! A hand-written recursive-descent parser over the lexer's tokens.
//!
//! Errors come in two kinds. A *fatal* one ([`Fatal`]) means the parser cannot
//! tell what the text meant: it unwinds to the enclosing definition (or stage)
//! and skips to where the next one starts, so one mistake costs one message
//! and the rest of the file is still checked. A *recoverable* one (a missing
//! duration unit, a zero duration, an hour out of range) is reported and the
//! parser reads on as if the text were right, so that the same definition can
//! yield more findings. Definitions with fatal errors are left out of the
//! [`File`]; those with recoverable errors stay in it, and the workspace
//! checks leave out every definition that has an error inside its span.
//!
//! Nesting (parentheses, `not`) is limited to [`MAX_DEPTH`] so that no input
//! can exhaust the stack.

mod condition;
mod terms;

pub use terms::is_valid_key;

use std::collections::HashMap;

use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic, Location};
use crate::lexer::{Punct, Tok, Token, lex};
use crate::suggest::closest;

/// How deep parentheses and `not` may nest, in conditions and predicates.
pub const MAX_DEPTH: usize = 64;

/// A syntax error that was already reported; the caller recovers.
pub(crate) struct Fatal;

pub(crate) type PResult<T> = Result<T, Fatal>;

/// Something the parser would have accepted, for "expected …" messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exp {
    /// A keyword; also the candidates for "did you mean".
    Kw(&'static str),
    /// Punctuation or an operator.
    P(&'static str),
    /// A description such as "a string".
    What(&'static str),
}

impl Exp {
    fn display(self) -> String {
        match self {
            Exp::Kw(s) | Exp::P(s) => format!("`{s}`"),
            Exp::What(s) => s.to_string(),
        }
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    }
}

pub(crate) struct Parser<'a> {
    toks: Vec<Token<'a>>,
    pos: usize,
    text: &'a str,
    file: &'a str,
    pub diags: Vec<Diagnostic>,
    depth: usize,
    /// Whether the current definition's `{` has been read, for recovery.
    block_open: bool,
    /// Where the last `where` of the current definition was, for the hint
    /// that a predicate of several tests needs parentheses.
    pub(crate) last_where: Option<usize>,
    /// Keys of definitions left out for syntax errors, so that references to
    /// them are not reported as unknown as well.
    pub broken: Vec<String>,
}

impl<'a> Parser<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Parser<'a> {
        let mut diags = Vec::new();
        let toks = lex(text, file, &mut diags);
        Parser { toks, pos: 0, text, file, diags, depth: 0, block_open: false, last_where: None, broken: Vec::new() }
    }

    // ---- token access -------------------------------------------------

    fn tok(&self) -> &Tok<'a> {
        &self.toks[self.pos].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos].span
    }

    fn nth(&self, n: usize) -> &Tok<'a> {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn prev(&self) -> Option<&Tok<'a>> {
        self.pos.checked_sub(1).map(|i| &self.toks[i].tok)
    }

    /// Moves past the current token (never past the end) and returns its span.
    fn bump(&mut self) -> Span {
        let span = self.span();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        span
    }

    fn prev_end(&self) -> usize {
        self.pos.checked_sub(1).map_or(0, |i| self.toks[i].span.end)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.tok(), Tok::Word(x) if *x == w)
    }

    /// The keyword `kw`, unless it labels a stage (`ever: …`): a word before
    /// `:` always names a stage, so stage names may be any word.
    fn at_kw(&self, kw: &str) -> bool {
        self.is_word(kw) && !matches!(self.nth(1), Tok::Punct(Punct::Colon))
    }

    fn eat_kw(&mut self, kw: &str) -> Option<Span> {
        self.at_kw(kw).then(|| self.bump())
    }

    fn at_punct(&self, p: Punct) -> bool {
        matches!(self.tok(), Tok::Punct(x) if *x == p)
    }

    fn eat_punct(&mut self, p: Punct) -> Option<Span> {
        self.at_punct(p).then(|| self.bump())
    }

    fn expect_kw(&mut self, kw: &'static str) -> PResult<Span> {
        match self.eat_kw(kw) {
            Some(s) => Ok(s),
            None => Err(self.fail(&[Exp::Kw(kw)])),
        }
    }

    fn expect_punct(&mut self, p: Punct, exp: &[Exp]) -> PResult<Span> {
        match self.eat_punct(p) {
            Some(s) => Ok(s),
            None => Err(self.fail(exp)),
        }
    }

    fn at_stage_label(&self) -> bool {
        matches!(self.tok(), Tok::Word(_)) && matches!(self.nth(1), Tok::Punct(Punct::Colon))
    }

    /// `segment KEY` or `stages KEY`, but not `in segment KEY`.
    fn at_definition_start(&self) -> bool {
        (self.is_word("segment") || self.is_word("stages"))
            && matches!(self.nth(1), Tok::Word(_))
            && !matches!(self.prev(), Some(Tok::Word("in")))
    }

    // ---- diagnostics --------------------------------------------------

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn diag(&self, code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, self.file, span, message)
    }

    fn describe_current(&self) -> String {
        let span = self.span();
        match self.tok() {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Str(s) => {
                let short: String = s.chars().take(40).collect();
                let more = if short.len() < s.len() { "…" } else { "" };
                format!("the string \"{short}{more}\"")
            }
            Tok::Num(_) => format!("`{}`", &self.text[span.start..span.end]),
            Tok::Punct(p) => format!("`{}`", p.as_str()),
            Tok::Cmp(op) => format!("`{}`", op.symbol()),
            Tok::Error => "invalid input".to_string(),
            Tok::Eof => "the end of the file".to_string(),
        }
    }

    /// "expected X, found Y" at the current token, with a near-miss keyword
    /// suggestion; `None` when the token is a lexer error (already reported).
    fn unexpected(&self, what: Option<&str>, exp: &[Exp]) -> Option<Diagnostic> {
        if matches!(self.tok(), Tok::Error) {
            return None;
        }
        let expected: Vec<String> = exp.iter().map(|e| e.display()).collect();
        let what = what.map_or_else(|| join_or(&expected), str::to_string);
        let mut d = self
            .diag(Code::UnexpectedToken, self.span(), format!("expected {what}, found {}", self.describe_current()))
            .with_expected(expected);
        if exp.len() > 6 {
            d = d.with_label(format!("expected {what}"));
        }
        if let Tok::Word(w) = self.tok() {
            let kws = exp.iter().filter_map(|e| match e {
                Exp::Kw(k) => Some(*k),
                _ => None,
            });
            if let Some(k) = closest(w, kws) {
                d = d.with_help(format!("did you mean `{k}`?")).with_fix(self.span(), k);
            }
        }
        Some(d)
    }

    /// Reports an unexpected token and returns the fatal marker.
    fn fail(&mut self, exp: &[Exp]) -> Fatal {
        if let Some(d) = self.unexpected(None, exp) {
            self.push(d);
        }
        Fatal
    }

    fn fail_what(&mut self, what: &str, exp: &[Exp]) -> Fatal {
        if let Some(d) = self.unexpected(Some(what), exp) {
            self.push(d);
        }
        Fatal
    }

    /// Runs `f` one level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            let d = self
                .diag(Code::NestingTooDeep, self.span(), format!("conditions nest more than {MAX_DEPTH} levels deep"))
                .with_label("too deep here")
                .with_help("split the rule into segments and refer to them with `in segment KEY`");
            self.push(d);
            return Err(Fatal);
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    // ---- files and definitions ----------------------------------------

    pub fn file(&mut self) -> File {
        let mut definitions = Vec::new();
        loop {
            let before = self.pos;
            match self.tok() {
                Tok::Eof => break,
                Tok::Word("segment") => definitions.extend(self.definition(true)),
                Tok::Word("stages") => definitions.extend(self.definition(false)),
                _ => {
                    let _ = self.fail(&[Exp::Kw("segment"), Exp::Kw("stages")]);
                    self.bump();
                    while !matches!(self.tok(), Tok::Eof) && !self.at_definition_start() {
                        self.bump();
                    }
                }
            }
            if self.pos == before {
                self.bump();
            }
        }
        self.diags.sort_by_key(|d| d.span.start);
        File { definitions, span: Span::new(0, self.text.len()) }
    }

    fn definition(&mut self, segment: bool) -> Option<Definition> {
        let start = self.bump().start;
        self.block_open = false;
        self.last_where = None;
        self.depth = 0;
        let mut key = None;
        let result = if segment {
            self.segment(start, &mut key).map(|s| Some(Definition::Segment(s)))
        } else {
            self.stages(start, &mut key).map(|s| s.map(Definition::Stages))
        };
        match result {
            Ok(Some(def)) => Some(def),
            Ok(None) => {
                self.broken.extend(key);
                None
            }
            Err(Fatal) => {
                self.broken.extend(key);
                self.recover_definition();
                None
            }
        }
    }

    /// Skips to the end of the current block, or to the next definition when
    /// the block was never closed.
    fn recover_definition(&mut self) {
        let mut depth: i32 = i32::from(self.block_open);
        loop {
            match self.tok() {
                Tok::Eof => break,
                Tok::Punct(Punct::LBrace) => {
                    depth += 1;
                    self.bump();
                }
                Tok::Punct(Punct::RBrace) => {
                    self.bump();
                    depth -= 1;
                    if depth <= 0 {
                        break;
                    }
                }
                _ if self.at_definition_start() => break,
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn segment(&mut self, start: usize, key_out: &mut Option<String>) -> PResult<Segment> {
        let (key, key_span) = self.key("a segment key", true)?;
        *key_out = Some(key.clone());
        let display_name = match self.tok() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Some(s)
            }
            _ => None,
        };
        let exp: &[Exp] = if display_name.is_some() {
            &[Exp::P("{")]
        } else {
            &[Exp::What("a display name (a string)"), Exp::P("{")]
        };
        self.expect_punct(Punct::LBrace, exp)?;
        self.block_open = true;
        let condition = self.condition()?;
        if self.eat_punct(Punct::RBrace).is_none() {
            if matches!(self.tok(), Tok::Eof) || self.at_definition_start() {
                return Err(self.unclosed("segment", &key, start));
            }
            return Err(self.fail_after_condition(&[Exp::Kw("and"), Exp::Kw("or"), Exp::P("}")]));
        }
        self.forbid_otherwise(&condition);
        Ok(Segment { key, key_span, display_name, condition, span: Span::new(start, self.prev_end()) })
    }

    /// A stages block. `Ok(None)`: a stage failed, was reported and skipped,
    /// and the block was read to its end.
    fn stages(&mut self, start: usize, key_out: &mut Option<String>) -> PResult<Option<StageSet>> {
        let (key, key_span) = self.key("a stage set key", true)?;
        *key_out = Some(key.clone());
        self.expect_punct(Punct::LBrace, &[Exp::P("{")])?;
        self.block_open = true;
        let mut stages: Vec<Stage> = Vec::new();
        let mut failed = false;
        loop {
            let before = self.pos;
            if self.eat_punct(Punct::RBrace).is_some() {
                break;
            }
            if matches!(self.tok(), Tok::Eof) || self.at_definition_start() {
                return Err(self.unclosed("stages", &key, start));
            }
            self.depth = 0;
            match self.stage() {
                Ok(s) => stages.push(s),
                Err(Fatal) => {
                    failed = true;
                    self.recover_stage();
                }
            }
            if self.pos == before {
                self.bump();
            }
        }
        let span = Span::new(start, self.prev_end());
        if failed {
            return Ok(None);
        }
        self.check_stages(&key, key_span, &stages);
        Ok(Some(StageSet { key, key_span, stages, span }))
    }

    fn stage(&mut self) -> PResult<Stage> {
        let start = self.span().start;
        let (name, name_span) = self.key("a stage name", true)?;
        self.expect_punct(Punct::Colon, &[Exp::P(":")])?;
        let condition = self.condition()?;
        let at_end = matches!(self.tok(), Tok::Punct(Punct::RBrace) | Tok::Eof)
            || self.at_stage_label()
            || self.at_definition_start();
        if !at_end {
            return Err(self.fail_after_condition(&[
                Exp::Kw("and"),
                Exp::Kw("or"),
                Exp::What("the next stage"),
                Exp::P("}"),
            ]));
        }
        Ok(Stage { name, name_span, condition, span: Span::new(start, self.prev_end()) })
    }

    /// Skips to the next stage label or the block's `}`.
    fn recover_stage(&mut self) {
        let mut depth = 0i32;
        loop {
            match self.tok() {
                Tok::Eof => break,
                Tok::Punct(Punct::LBrace | Punct::LParen | Punct::LBracket) => depth += 1,
                Tok::Punct(Punct::RParen | Punct::RBracket) => depth = (depth - 1).max(0),
                Tok::Punct(Punct::RBrace) if depth == 0 => break,
                Tok::Punct(Punct::RBrace) => depth -= 1,
                _ if depth == 0 && (self.at_stage_label() || self.at_definition_start()) => break,
                _ => {}
            }
            self.bump();
        }
    }

    fn check_stages(&mut self, key: &str, key_span: Span, stages: &[Stage]) {
        if stages.is_empty() {
            let d = self
                .diag(Code::EmptyStages, key_span, format!("the stages block `{key}` has no stages"))
                .with_help("add stages as `NAME: CONDITION`, one per line, ending with `NAME: otherwise`");
            self.push(d);
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for s in stages {
            if let Some(first) = seen.get(s.name.as_str()) {
                let line = Location::of(self.text, first.start).line;
                let d = self
                    .diag(
                        Code::DuplicateStage,
                        s.name_span,
                        format!("the stage `{}` is defined twice in `{key}`", s.name),
                    )
                    .with_label("defined again here")
                    .with_note(format!("first defined on line {line}"));
                self.push(d);
            } else {
                seen.insert(&s.name, s.name_span);
            }
        }
        let last = stages.len().saturating_sub(1);
        for (i, s) in stages.iter().enumerate() {
            let root_is_otherwise = matches!(s.condition, Condition::Otherwise { .. });
            if root_is_otherwise && i != last {
                let rest: Vec<String> = stages[i + 1..].iter().map(|s| format!("`{}`", s.name)).collect();
                let d = self
                    .diag(Code::OtherwiseNotLast, s.condition.span(), "`otherwise` must be the last stage")
                    .with_label("everyone left is in this stage")
                    .with_note(format!("so these stages can never be reached: {}", rest.join(", ")));
                self.push(d);
            }
            if !root_is_otherwise {
                for span in otherwise_spans(&s.condition) {
                    let d = self
                        .diag(Code::OtherwiseNotAlone, span, "`otherwise` must stand alone")
                        .with_help("write `NAME: otherwise` as the whole condition of the last stage");
                    self.push(d);
                }
            }
        }
    }

    /// A single condition filling the whole text (for journeys and the API).
    pub fn lone_condition(&mut self) -> Option<Condition> {
        let c = self.condition().ok()?;
        if !matches!(self.tok(), Tok::Eof) {
            let _ = self.fail_after_condition(&[Exp::Kw("and"), Exp::Kw("or"), Exp::What("the end of the condition")]);
            return None;
        }
        self.forbid_otherwise(&c);
        Some(c)
    }

    /// A block that runs into the next definition or the end of the file.
    fn unclosed(&mut self, kind: &str, key: &str, start: usize) -> Fatal {
        if let Some(d) = self.unexpected(None, &[Exp::Kw("and"), Exp::Kw("or"), Exp::P("}")]) {
            let line = Location::of(self.text, start).line;
            let d = d
                .with_label("expected `}`")
                .with_help(format!("close `{kind} {key}` (opened on line {line}) with `}}`"));
            self.push(d);
        }
        Fatal
    }

    fn forbid_otherwise(&mut self, c: &Condition) {
        for span in otherwise_spans(c) {
            let d = self
                .diag(Code::OtherwiseOutsideStages, span, "`otherwise` is only allowed in a `stages` block")
                .with_help("`otherwise` is the last stage of a `stages` block, for everyone else");
            self.push(d);
        }
    }
}

fn otherwise_spans(c: &Condition) -> Vec<Span> {
    let mut spans = Vec::new();
    c.walk(&mut |c| {
        if let Condition::Otherwise { span } = c {
            spans.push(*span);
        }
    });
    spans
}
