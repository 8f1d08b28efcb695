//! Conditions, event matchers, `where` predicates and windows.

use super::{Exp, Fatal, PResult, Parser};
use crate::ast::*;
use crate::lexer::{Punct, Tok};
use crate::suggest::closest;

/// The words that can start a condition, for messages and suggestions.
const CONDITION_START: &[Exp] = &[
    Exp::Kw("did"),
    Exp::Kw("not"),
    Exp::P("("),
    Exp::Kw("last"),
    Exp::Kw("first"),
    Exp::Kw("total"),
    Exp::Kw("average"),
    Exp::Kw("min"),
    Exp::Kw("max"),
    Exp::Kw("distinct"),
    Exp::Kw("share"),
    Exp::Kw("active"),
    Exp::Kw("trait"),
    Exp::Kw("in"),
    Exp::Kw("subscribed"),
    Exp::Kw("otherwise"),
];

const CMP: &[Exp] = &[Exp::P("=="), Exp::P("!="), Exp::P("<"), Exp::P("<="), Exp::P(">"), Exp::P(">=")];

const TEST: &[Exp] = &[
    Exp::P("=="),
    Exp::P("!="),
    Exp::P("<"),
    Exp::P("<="),
    Exp::P(">"),
    Exp::P(">="),
    Exp::Kw("in"),
    Exp::Kw("contains"),
    Exp::Kw("exists"),
];

/// Words that may follow a complete condition's parts, for "did you mean"
/// when what follows a condition is none of them.
const CONTINUATIONS: &[&str] =
    &["and", "or", "where", "then", "within", "matching", "at", "exactly", "in", "between", "since", "ever"];

/// Words that end a run of unquoted words taken for an event name.
const STOP_WORDS: &[&str] = &[
    "where", "then", "within", "at", "exactly", "in", "between", "since", "ever", "and", "or", "not", "more", "less",
    "on", "of", "matching",
];

impl Parser<'_> {
    pub(crate) fn condition(&mut self) -> PResult<Condition> {
        let first = self.and_condition()?;
        if !self.at_kw("or") {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.eat_kw("or").is_some() {
            operands.push(self.and_condition()?);
        }
        let span = join(operands.iter().map(Condition::span));
        Ok(Condition::Or { operands, span })
    }

    fn and_condition(&mut self) -> PResult<Condition> {
        let first = self.not_condition()?;
        if !self.at_kw("and") {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.eat_kw("and").is_some() {
            operands.push(self.not_condition()?);
        }
        let span = join(operands.iter().map(Condition::span));
        Ok(Condition::And { operands, span })
    }

    fn not_condition(&mut self) -> PResult<Condition> {
        let Some(not) = self.eat_kw("not") else {
            return self.atom();
        };
        let operand = self.nested(|p| p.not_condition())?;
        Ok(Condition::Not { span: not.to(operand.span()), operand: Box::new(operand) })
    }

    fn atom(&mut self) -> PResult<Condition> {
        let start = self.span().start;
        if self.eat_punct(Punct::LParen).is_some() {
            let mut c = self.nested(|p| p.condition())?;
            let close = self.expect_punct(Punct::RParen, &[Exp::Kw("and"), Exp::Kw("or"), Exp::P(")")])?;
            *c.span_mut() = Span::new(start, close.end);
            return Ok(c);
        }
        let word = match self.tok() {
            Tok::Word(w) if !matches!(self.nth(1), Tok::Punct(Punct::Colon)) => *w,
            _ => return Err(self.fail_condition()),
        };
        match word {
            "did" => self.did(),
            "first" | "last" if matches!(self.nth(1), Tok::Word("seen")) => self.seen(),
            "first" | "last" => self.recency(),
            "total" | "average" | "min" | "max" | "distinct" => self.aggregate(),
            "share" => self.share(),
            "active" => self.active(),
            "trait" => self.trait_test(),
            "in" => self.reference(),
            "subscribed" => self.subscribed(),
            "otherwise" => Ok(Condition::Otherwise { span: self.bump() }),
            _ => Err(self.fail_condition()),
        }
    }

    fn fail_condition(&mut self) -> Fatal {
        let Some(mut d) = self.unexpected(Some("a condition"), CONDITION_START) else {
            return Fatal;
        };
        if d.help.is_none() {
            match self.tok() {
                Tok::Str(s) => {
                    d = d
                        .with_help(format!("to test for an event, write `did \"{s}\"`"))
                        .with_fix(Span::at(self.span().start), "did ");
                }
                Tok::Word(_)
                    if self.last_where.is_some()
                        && matches!(self.prev(), Some(Tok::Word("and" | "or")))
                        && matches!(self.nth(1), Tok::Cmp(_) | Tok::Word("in" | "contains" | "exists")) =>
                {
                    d = d.with_help(
                        "a `where` with several tests needs parentheses: \
                         `where (category == \"shoes\" and price > 50)`",
                    );
                }
                Tok::Word(_)
                    if matches!(self.nth(1), Tok::Cmp(_) | Tok::Word("in" | "contains" | "exists"))
                        || matches!(self.nth(1), Tok::Punct(Punct::Dot)) =>
                {
                    d = d.with_help(
                        "test a profile trait with `trait NAME ...`; to test an event's \
                         properties, write `where (...)` after the event name",
                    );
                }
                Tok::Word(_) if matches!(self.nth(1), Tok::Punct(Punct::Colon)) => {
                    d = d.with_help("this stage has no condition; write `NAME: CONDITION`");
                }
                _ => {}
            }
        }
        self.push(d);
        Fatal
    }

    /// The error after a complete condition, when what follows fits nothing.
    pub(crate) fn fail_after_condition(&mut self, exp: &[Exp]) -> Fatal {
        let Some(mut d) = self.unexpected(None, exp) else {
            return Fatal;
        };
        if let (None, Tok::Word(w)) = (&d.help, self.tok())
            && let Some(k) = closest(w, CONTINUATIONS.iter().copied())
        {
            d = d.with_help(format!("did you mean `{k}`?")).with_fix(self.span(), k);
        }
        if d.help.is_none() {
            match self.tok() {
                Tok::Num(_) => {
                    d = d.with_help("write a count as `at least N times`, `at most N times` or `exactly N times`");
                }
                Tok::Word(w) if CONDITION_START.iter().any(|e| matches!(e, Exp::Kw(k) if k == w)) => {
                    d = d.with_help("join conditions with `and` or `or`").with_fix(Span::at(self.span().start), "and ");
                }
                Tok::Word("then") => {
                    d = d.with_help("a sequence takes no count: `did A then B within D [WINDOW]`");
                }
                _ => {}
            }
        }
        self.push(d);
        Fatal
    }

    fn did(&mut self) -> PResult<Condition> {
        let start = self.bump().start;
        let first = self.event_matcher()?;
        if self.eat_kw("then").is_some() {
            let negated = self.eat_kw("not").is_some();
            let then = self.event_matcher()?;
            self.expect_kw("within")?;
            let within = self.duration(false)?;
            let matching = match self.eat_kw("matching") {
                Some(_) => Some(self.property_path()?),
                None => None,
            };
            let window = self.opt_window()?;
            return Ok(Condition::Sequence(Box::new(Sequence {
                first,
                then,
                negated,
                within,
                matching,
                window,
                span: Span::new(start, self.prev_end()),
            })));
        }
        // COUNT and WINDOW in either order: "in last 30d at least 3 times"
        // reads as naturally as the spec's order.
        let mut count = None;
        let mut window = None;
        loop {
            if count.is_none() && (self.at_kw("at") || self.at_kw("exactly")) {
                count = Some(self.count(false)?);
            } else if window.is_none() && self.at_window() {
                window = Some(self.window()?);
            } else {
                break;
            }
        }
        let end = self.prev_end();
        Ok(Condition::Did(Box::new(Did {
            event: first,
            count: count.unwrap_or(Count { op: CountOp::AtLeast, n: 1, span: Span::at(end) }),
            window: window.unwrap_or(Window::Ever { span: Span::at(end) }),
            span: Span::new(start, end),
        })))
    }

    fn which(&mut self) -> Which {
        if self.bump_word() == "first" { Which::First } else { Which::Last }
    }

    fn bump_word(&mut self) -> &str {
        let w = match self.tok() {
            Tok::Word(w) => *w,
            _ => "",
        };
        self.bump();
        w
    }

    fn recency(&mut self) -> PResult<Condition> {
        let start = self.span().start;
        let which = self.which();
        let event = self.event_matcher()?;
        let (relation, ago) = self.age()?;
        Ok(Condition::Recency(Box::new(Recency {
            which,
            event,
            relation,
            ago,
            span: Span::new(start, self.prev_end()),
        })))
    }

    fn seen(&mut self) -> PResult<Condition> {
        let start = self.span().start;
        let which = self.which();
        self.bump();
        let (relation, ago) = self.age()?;
        Ok(Condition::Seen(Seen { which, relation, ago, span: Span::new(start, self.prev_end()) }))
    }

    /// `more|less than D ago`
    fn age(&mut self) -> PResult<(Relation, Duration)> {
        let relation = if self.eat_kw("more").is_some() {
            Relation::MoreThan
        } else if self.eat_kw("less").is_some() {
            Relation::LessThan
        } else {
            return Err(self.fail(&[Exp::Kw("more"), Exp::Kw("less")]));
        };
        self.expect_kw("than")?;
        let ago = self.duration(false)?;
        self.expect_kw("ago")?;
        Ok((relation, ago))
    }

    fn aggregate(&mut self) -> PResult<Condition> {
        let start = self.span().start;
        let function = match self.bump_word() {
            "total" => AggregateFn::Total,
            "average" => AggregateFn::Average,
            "min" => AggregateFn::Min,
            "max" => AggregateFn::Max,
            _ => AggregateFn::Distinct,
        };
        let property = self.property_path()?;
        self.expect_kw("of")?;
        let event = self.event_matcher()?;
        let window = self.opt_window()?;
        let op = self.cmp_op()?;
        let (value, _) = self.number()?;
        Ok(Condition::Aggregate(Box::new(Aggregate {
            function,
            property,
            event,
            window,
            op,
            value,
            span: Span::new(start, self.prev_end()),
        })))
    }

    fn share(&mut self) -> PResult<Condition> {
        let start = self.bump().start;
        self.expect_kw("of")?;
        let event = self.event_matcher()?;
        self.expect_kw("on")?;
        let days = self.days()?;
        let window = self.opt_window()?;
        let op = self.cmp_op()?;
        let (value, value_span) = self.number()?;
        if !(0.0..=1.0).contains(&value) {
            self.share_out_of_range(value, value_span);
        }
        Ok(Condition::Share(Box::new(Share {
            event,
            days,
            window,
            op,
            value,
            span: Span::new(start, self.prev_end()),
        })))
    }

    fn active(&mut self) -> PResult<Condition> {
        let start = self.bump().start;
        self.expect_kw("on")?;
        let count = self.count(true)?;
        let window = self.opt_window()?;
        Ok(Condition::ActiveDays(ActiveDays { count, window, span: Span::new(start, self.prev_end()) }))
    }

    fn trait_test(&mut self) -> PResult<Condition> {
        let start = self.bump().start;
        let (keys, path_span) = self.path_keys("a trait name")?;
        let path = TraitPath { keys: keys.into_iter().map(|(k, _)| k).collect(), span: path_span };
        let test = self.test()?;
        Ok(Condition::Trait(TraitTest { path, test, span: Span::new(start, self.prev_end()) }))
    }

    fn reference(&mut self) -> PResult<Condition> {
        let start = self.bump().start;
        if self.eat_kw("segment").is_some() {
            let (key, key_span) = self.key("a segment key", false)?;
            return Ok(Condition::InSegment(SegmentRef { key, key_span, span: Span::new(start, self.prev_end()) }));
        }
        if self.eat_kw("stage").is_some() {
            let (set, set_span) = self.key("a stage set key", false)?;
            if self.eat_punct(Punct::Dot).is_none() {
                if let Some(d) = self.unexpected(None, &[Exp::P(".")]) {
                    let d = d.with_help(format!("name the stage too: `in stage {set}.NAME`"));
                    self.push(d);
                }
                return Err(Fatal);
            }
            let (stage, stage_span) = self.key("a stage name", false)?;
            return Ok(Condition::InStage(StageRef {
                set,
                set_span,
                stage,
                stage_span,
                span: Span::new(start, self.prev_end()),
            }));
        }
        Err(self.fail(&[Exp::Kw("segment"), Exp::Kw("stage")]))
    }

    fn subscribed(&mut self) -> PResult<Condition> {
        let start = self.bump().start;
        let topic = if self.eat_kw("to").is_some() {
            match self.tok() {
                Tok::Str(s) => {
                    let s = s.clone();
                    self.bump();
                    Some(s)
                }
                _ => return Err(self.fail(&[Exp::What("a topic (a string)")])),
            }
        } else {
            None
        };
        Ok(Condition::Subscribed(Subscribed { topic, span: Span::new(start, self.prev_end()) }))
    }

    // ---- events and predicates ----------------------------------------

    pub(crate) fn event_matcher(&mut self) -> PResult<EventMatcher> {
        let (name, name_span) = match self.tok() {
            Tok::Str(s) => {
                let s = s.clone();
                (s, self.bump())
            }
            Tok::Word(_) => return Err(self.fail_unquoted_event()),
            _ => return Err(self.fail(&[Exp::What("an event name (a string)")])),
        };
        if name.is_empty() {
            let d = self.diag(crate::Code::EmptyEventName, name_span, "the event name is empty");
            self.push(d);
        }
        let predicate = match self.eat_kw("where") {
            Some(s) => {
                self.last_where = Some(s.start);
                Some(self.predicate()?)
            }
            None => None,
        };
        Ok(EventMatcher { name, name_span, predicate, span: Span::new(name_span.start, self.prev_end()) })
    }

    fn fail_unquoted_event(&mut self) -> Fatal {
        let start = self.span().start;
        let mut words = Vec::new();
        let mut end = start;
        let mut i = 0;
        while let Tok::Word(w) = self.nth(i) {
            if STOP_WORDS.contains(w) || words.len() >= 6 {
                break;
            }
            words.push(*w);
            end = self.toks[(self.pos + i).min(self.toks.len() - 1)].span.end;
            i += 1;
        }
        let name = words.join(" ");
        let Some(d) = self.unexpected(None, &[Exp::What("an event name (a string)")]) else {
            return Fatal;
        };
        let d = d
            .with_help(format!("event names are strings: write \"{name}\""))
            .with_fix(Span::new(start, end), format!("\"{name}\""));
        self.push(d);
        Fatal
    }

    /// After `where`: one comparison, or a parenthesised combination, so that
    /// the rule's own `and` is never taken for the predicate's.
    fn predicate(&mut self) -> PResult<Predicate> {
        if self.at_punct(Punct::LParen) { self.predicate_group() } else { Ok(Predicate::Test(self.property_test()?)) }
    }

    fn predicate_group(&mut self) -> PResult<Predicate> {
        let start = self.bump().start;
        let mut p = self.nested(|p| p.predicate_or())?;
        let close = self.expect_punct(Punct::RParen, &[Exp::Kw("and"), Exp::Kw("or"), Exp::P(")")])?;
        *p.span_mut() = Span::new(start, close.end);
        Ok(p)
    }

    fn predicate_or(&mut self) -> PResult<Predicate> {
        let first = self.predicate_and()?;
        if !self.at_kw("or") {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.eat_kw("or").is_some() {
            operands.push(self.predicate_and()?);
        }
        let span = join(operands.iter().map(Predicate::span));
        Ok(Predicate::Or { operands, span })
    }

    fn predicate_and(&mut self) -> PResult<Predicate> {
        let first = self.predicate_not()?;
        if !self.at_kw("and") {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.eat_kw("and").is_some() {
            operands.push(self.predicate_not()?);
        }
        let span = join(operands.iter().map(Predicate::span));
        Ok(Predicate::And { operands, span })
    }

    fn predicate_not(&mut self) -> PResult<Predicate> {
        if let Some(not) = self.eat_kw("not") {
            let operand = self.nested(|p| p.predicate_not())?;
            return Ok(Predicate::Not { span: not.to(operand.span()), operand: Box::new(operand) });
        }
        if self.at_punct(Punct::LParen) {
            return self.predicate_group();
        }
        Ok(Predicate::Test(self.property_test()?))
    }

    fn property_test(&mut self) -> PResult<PropertyTest> {
        let path = self.property_path()?;
        let test = self.test()?;
        Ok(PropertyTest { span: Span::new(path.span.start, self.prev_end()), path, test })
    }

    pub(crate) fn property_path(&mut self) -> PResult<PropertyPath> {
        let (mut keys, span) = self.path_keys("a property name")?;
        // `context.x` selects the event context; a quoted "context" does not.
        let scope = if keys.len() > 1 && keys[0] == ("context".to_string(), false) {
            keys.remove(0);
            Scope::Context
        } else {
            Scope::Properties
        };
        Ok(PropertyPath { scope, keys: keys.into_iter().map(|(k, _)| k).collect(), span })
    }

    /// `seg(.seg)*` where a segment is a word or a string; each key comes
    /// with whether it was quoted.
    fn path_keys(&mut self, what: &'static str) -> PResult<(Vec<(String, bool)>, Span)> {
        let start = self.span().start;
        let mut keys = vec![self.path_segment(what)?];
        while self.eat_punct(Punct::Dot).is_some() {
            keys.push(self.path_segment("a name after `.`")?);
        }
        Ok((keys, Span::new(start, self.prev_end())))
    }

    fn path_segment(&mut self, what: &'static str) -> PResult<(String, bool)> {
        let seg = match self.tok() {
            Tok::Word(w) => (w.to_string(), false),
            Tok::Str(s) => (s.clone(), true),
            _ => return Err(self.fail(&[Exp::What(what)])),
        };
        self.bump();
        Ok(seg)
    }

    fn test(&mut self) -> PResult<Test> {
        if let Tok::Cmp(op) = *self.tok() {
            self.bump();
            let value = self.value()?;
            return Ok(Test::Compare { op, value });
        }
        if self.is_word("in") {
            let start = self.bump().start;
            self.expect_punct(Punct::LBracket, &[Exp::P("[")])?;
            let mut values = Vec::new();
            loop {
                if self.eat_punct(Punct::RBracket).is_some() {
                    break;
                }
                values.push(self.value()?);
                if self.eat_punct(Punct::Comma).is_none() {
                    self.expect_punct(Punct::RBracket, &[Exp::P(","), Exp::P("]")])?;
                    break;
                }
            }
            if values.is_empty() {
                let d = self
                    .diag(crate::Code::EmptyList, Span::new(start, self.prev_end()), "`in []` never holds")
                    .with_help("list the values to accept: `in [\"a\", \"b\"]`");
                self.push(d);
            }
            return Ok(Test::In { values });
        }
        if self.is_word("contains") {
            self.bump();
            let value = self.value()?;
            return Ok(Test::Contains { value });
        }
        if self.is_word("exists") {
            self.bump();
            return Ok(Test::Exists);
        }
        Err(self.fail(TEST))
    }

    pub(crate) fn cmp_op(&mut self) -> PResult<CmpOp> {
        if let Tok::Cmp(op) = *self.tok() {
            self.bump();
            return Ok(op);
        }
        Err(self.fail(CMP))
    }

    // ---- windows ------------------------------------------------------

    fn at_window(&self) -> bool {
        self.at_kw("in") || self.at_kw("between") || self.at_kw("since") || self.at_kw("ever")
    }

    fn opt_window(&mut self) -> PResult<Window> {
        if self.at_window() { self.window() } else { Ok(Window::Ever { span: Span::at(self.prev_end()) }) }
    }

    fn window(&mut self) -> PResult<Window> {
        let start = self.span().start;
        let word = self.bump_word().to_string();
        let window = match word.as_str() {
            "in" => {
                self.expect_kw("last")?;
                let duration = self.duration(false)?;
                Window::InLast { duration, span: Span::new(start, self.prev_end()) }
            }
            "between" => {
                let min_age = self.duration(true)?;
                self.expect_kw("and")?;
                let max_age = self.duration(false)?;
                self.expect_kw("ago")?;
                let span = Span::new(start, self.prev_end());
                if min_age.micros() >= max_age.micros() {
                    self.empty_window(&min_age, &max_age, span);
                }
                Window::Between { min_age, max_age, span }
            }
            "since" => {
                self.expect_kw("last")?;
                let event = self.event_matcher()?;
                Window::SinceLast { event: Box::new(event), span: Span::new(start, self.prev_end()) }
            }
            _ => Window::Ever { span: Span::new(start, self.prev_end()) },
        };
        Ok(window)
    }

    fn empty_window(&mut self, min_age: &Duration, max_age: &Duration, span: Span) {
        let text = |d: &Duration| format!("{}{}", d.value, d.unit.suffix());
        let mut d = self
            .diag(
                crate::Code::EmptyWindow,
                span,
                format!("the window `between {} and {} ago` is empty", text(min_age), text(max_age)),
            )
            .with_label("no time is in this window");
        if min_age.micros() > max_age.micros() {
            let fixed = format!("between {} and {} ago", text(max_age), text(min_age));
            d = d.with_help(format!("the nearer time comes first: `{fixed}`")).with_fix(span, fixed);
        } else {
            d = d.with_help("the two ages must differ");
        }
        self.push(d);
    }
}

fn join(spans: impl Iterator<Item = Span>) -> Span {
    spans.reduce(Span::to).unwrap_or_default()
}
