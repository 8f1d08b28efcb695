//! The small pieces: keys, values, numbers, counts, durations and day sets,
//! each with the checks and suggestions that belong to it.

use super::{Exp, Fatal, PResult, Parser};
use crate::ast::*;
use crate::diagnostic::Code;
use crate::lexer::Tok;

const UNITS: [&str; 5] = ["`s`", "`m`", "`h`", "`d`", "`w`"];

const DAYS: &[Exp] = &[
    Exp::Kw("weekends"),
    Exp::Kw("weekdays"),
    Exp::Kw("mondays"),
    Exp::Kw("tuesdays"),
    Exp::Kw("wednesdays"),
    Exp::Kw("thursdays"),
    Exp::Kw("fridays"),
    Exp::Kw("saturdays"),
    Exp::Kw("sundays"),
    Exp::Kw("hours"),
];

/// Whether `s` is a valid segment, stage-set or stage key: `[a-z][a-z0-9_]*`.
pub fn is_valid_key(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `BigSpenders` → `big_spenders`, `big-spenders` → `big_spenders`.
fn key_suggestion(s: &str) -> Option<String> {
    let mut k = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            k.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        k.push(if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' });
    }
    is_valid_key(&k).then_some(k)
}

/// A unit spelled out (`days`, `hours`, `D`) and the factor to apply, for
/// suggestions. Months and years become days, as durations have fixed lengths.
fn unit_word(w: &str) -> Option<(TimeUnit, u64)> {
    Some(match w.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => (TimeUnit::Seconds, 1),
        "m" | "min" | "mins" | "minute" | "minutes" => (TimeUnit::Minutes, 1),
        "h" | "hr" | "hrs" | "hour" | "hours" => (TimeUnit::Hours, 1),
        "d" | "day" | "days" => (TimeUnit::Days, 1),
        "w" | "wk" | "wks" | "week" | "weeks" => (TimeUnit::Weeks, 1),
        "mo" | "mon" | "month" | "months" => (TimeUnit::Days, 30),
        "y" | "yr" | "yrs" | "year" | "years" => (TimeUnit::Days, 365),
        _ => return None,
    })
}

const VARIABLE_UNITS: &str = "months and years vary in length; durations are written in days";

impl<'a> Parser<'a> {
    /// A key, checked against `[a-z][a-z0-9_]*` where it is defined
    /// (`validate`); references are looked up as written.
    pub(crate) fn key(&mut self, what: &'static str, validate: bool) -> PResult<(String, Span)> {
        let key = match self.tok() {
            Tok::Word(w) => w.to_string(),
            Tok::Str(s) => {
                let s = s.clone();
                let Some(mut d) = self.unexpected(None, &[Exp::What(what)]) else {
                    return Err(Fatal);
                };
                if is_valid_key(&s) {
                    d = d.with_help(format!("keys are not quoted: write `{s}`")).with_fix(self.span(), s);
                }
                self.push(d);
                return Err(Fatal);
            }
            _ => return Err(self.fail(&[Exp::What(what)])),
        };
        let span = self.bump();
        if validate && !is_valid_key(&key) {
            let mut d = self
                .diag(Code::InvalidKey, span, format!("`{key}` is not a valid key"))
                .with_label("keys are lowercase letters, digits and `_`, starting with a letter");
            if let Some(k) = key_suggestion(&key) {
                d = d.with_help(format!("did you mean `{k}`?")).with_fix(span, k);
            }
            self.push(d);
        }
        Ok((key, span))
    }

    pub(crate) fn value(&mut self) -> PResult<Value> {
        let value = match self.tok() {
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Num(_) => return Ok(Value::Number(self.number()?.0)),
            Tok::Word("true") => Value::Bool(true),
            Tok::Word("false") => Value::Bool(false),
            Tok::Word(w) => {
                let w = w.to_string();
                let span = self.span();
                if let Some(d) = self.unexpected(None, &[Exp::What("a value")]) {
                    let d = d
                        .with_help(format!("strings are written in double quotes: \"{w}\""))
                        .with_fix(span, format!("\"{w}\""));
                    self.push(d);
                }
                return Err(Fatal);
            }
            _ => {
                return Err(self.fail_what(
                    "a value",
                    &[Exp::What("a string"), Exp::What("a number"), Exp::Kw("true"), Exp::Kw("false")],
                ));
            }
        };
        self.bump();
        Ok(value)
    }

    /// A number; `60%` is `0.6`.
    pub(crate) fn number(&mut self) -> PResult<(f64, Span)> {
        let Tok::Num(n) = *self.tok() else {
            return Err(self.fail(&[Exp::What("a number")]));
        };
        let span = self.bump();
        // The lexer only hands over `-?digits(.digits)?`, which always parses;
        // very long ones parse to infinity, caught below.
        let mut v: f64 = n.digits.parse().unwrap_or(f64::INFINITY);
        match n.suffix {
            "" => {}
            "%" => v /= 100.0,
            suffix => {
                let d = self
                    .diag(Code::InvalidNumber, span, format!("unexpected `{suffix}` after the number `{}`", n.digits))
                    .with_help("a number here is plain (`12.5`) or a percentage (`60%`)");
                self.push(d);
            }
        }
        if !v.is_finite() {
            let d = self.diag(Code::InvalidNumber, span, "this number is too large");
            self.push(d);
            v = 0.0;
        }
        Ok((v, span))
    }

    /// A whole number, with whatever letters stuck to it.
    fn integer(&mut self, what: &'static str) -> PResult<(u64, Span, &'a str)> {
        let Tok::Num(n) = *self.tok() else {
            return Err(self.fail(&[Exp::What(what)]));
        };
        let span = self.span();
        if !n.is_integer() {
            let d = self.diag(Code::InvalidNumber, span, format!("expected a whole number, found `{}`", n.digits));
            self.push(d);
            return Err(Fatal);
        }
        let Ok(v) = n.digits.parse::<u64>() else {
            let d = self.diag(Code::InvalidNumber, span, "this number is too large");
            self.push(d);
            return Err(Fatal);
        };
        self.bump();
        Ok((v, span, n.suffix))
    }

    /// `at least|at most|exactly N times` (or `days`, for `active on`).
    pub(crate) fn count(&mut self, days: bool) -> PResult<Count> {
        let start = self.span().start;
        let op = if self.eat_kw("exactly").is_some() {
            CountOp::Exactly
        } else {
            self.expect_kw("at")?;
            if self.eat_kw("least").is_some() {
                CountOp::AtLeast
            } else if self.eat_kw("most").is_some() {
                CountOp::AtMost
            } else {
                return Err(self.fail(&[Exp::Kw("least"), Exp::Kw("most")]));
            }
        };
        let (n, n_span, suffix) = self.integer("a count")?;
        let units: [&'static str; 2] = if days { ["day", "days"] } else { ["time", "times"] };
        let plural = units[1];
        if !suffix.is_empty() {
            if !units.contains(&suffix) {
                let d = self
                    .diag(Code::InvalidNumber, n_span, format!("unexpected `{suffix}` after the count `{n}`"))
                    .with_help(format!("write `{n} {plural}`"));
                self.push(d);
                return Err(Fatal);
            }
        } else if units.iter().any(|u| self.at_kw(u)) {
            self.bump();
        } else if let Some(mut d) = self.unexpected(None, &[Exp::Kw(plural)]) {
            if d.help.is_some() {
                // A near miss (`tims`): take it for the word it resembles.
                self.bump();
            } else {
                d = d.with_help(format!("write `{n} {plural}`")).with_fix(Span::at(n_span.end), format!(" {plural}"));
            }
            self.push(d);
        }
        let span = Span::new(start, self.prev_end());
        if op == CountOp::AtLeast && n == 0 {
            let d = self
                .diag(Code::AlwaysHolds, span, "`at least 0` always holds")
                .with_help("to require none, write `at most 0`; to require some, `at least 1`");
            self.push(d);
        }
        Ok(Count { op, n, span })
    }

    /// An integer with a unit: `7d`. Zero is allowed only where it means
    /// "now" (the near end of `between`).
    pub(crate) fn duration(&mut self, allow_zero: bool) -> PResult<Duration> {
        let Tok::Num(n) = *self.tok() else {
            return Err(self.fail_what("a duration (like `7d`)", &[Exp::What("a duration")]));
        };
        let num_span = self.bump();
        if n.digits.starts_with('-') {
            let d = self.diag(Code::InvalidNumber, num_span, "a duration cannot be negative");
            self.push(d);
            return Err(Fatal);
        }
        if n.digits.contains('.') {
            return self.fractional_duration(n.digits, n.suffix, num_span);
        }
        let Ok(value) = n.digits.parse::<u64>() else {
            let d = self.diag(Code::DurationTooLong, num_span, "this duration is too long");
            self.push(d);
            return Err(Fatal);
        };
        let (unit, factor) = match (n.suffix, TimeUnit::from_suffix(n.suffix)) {
            (_, Some(u)) => (u, 1),
            ("", None) => self.missing_unit(value, num_span),
            (suffix, None) => self.unknown_unit(value, suffix, num_span),
        };
        let value = value.saturating_mul(factor);
        let span = Span::new(num_span.start, self.prev_end());
        if value == 0 && !allow_zero {
            let d = self.diag(Code::ZeroDuration, span, "a duration must be longer than zero").with_label("zero");
            self.push(d);
        }
        if i128::from(value) * i128::from(unit.micros()) > i128::from(i64::MAX) {
            let d = self
                .diag(Code::DurationTooLong, span, "this duration is too long")
                .with_label("longer than 290,000 years");
            self.push(d);
        }
        Ok(Duration { value, unit, span })
    }

    fn missing_unit(&mut self, value: u64, num_span: Span) -> (TimeUnit, u64) {
        let spelled = match self.tok() {
            Tok::Word(w) => unit_word(w),
            _ => None,
        };
        let (unit, factor, span) = match spelled {
            Some((u, f)) => {
                let word = self.bump();
                (u, f, num_span.to(word))
            }
            None => (TimeUnit::Days, 1, num_span),
        };
        let fixed = format!("{}{}", value.saturating_mul(factor), unit.suffix());
        let mut d = self
            .diag(Code::MissingDurationUnit, span, format!("expected a duration unit after `{value}`"))
            .with_expected(UNITS.map(String::from).to_vec())
            .with_help(format!("did you mean `{fixed}`?"))
            .with_fix(span, fixed);
        if factor != 1 {
            d = d.with_note(VARIABLE_UNITS);
        }
        self.push(d);
        (unit, factor)
    }

    fn unknown_unit(&mut self, value: u64, suffix: &str, span: Span) -> (TimeUnit, u64) {
        let mut d = self
            .diag(Code::UnknownDurationUnit, span, format!("unknown duration unit `{suffix}`"))
            .with_expected(UNITS.map(String::from).to_vec());
        let guess = match unit_word(suffix) {
            Some((u, f)) => {
                let fixed = format!("{}{}", value.saturating_mul(f), u.suffix());
                d = d.with_help(format!("did you mean `{fixed}`?")).with_fix(span, fixed);
                if f != 1 {
                    d = d.with_note(VARIABLE_UNITS);
                }
                (u, f)
            }
            None => (TimeUnit::Days, 1),
        };
        self.push(d);
        guess
    }

    /// `1.5h`: suggests the same length in a smaller unit, and reads on with
    /// it when there is one.
    fn fractional_duration(&mut self, digits: &str, suffix: &str, span: Span) -> PResult<Duration> {
        let v: f64 = digits.parse().unwrap_or(0.0);
        let exact = TimeUnit::from_suffix(suffix).and_then(|u| {
            TimeUnit::ALL.iter().rev().find_map(|&smaller| {
                if smaller.micros() >= u.micros() {
                    return None;
                }
                let x = v * (u.micros() / smaller.micros()) as f64;
                (x.fract() == 0.0 && x > 0.0 && x < 1e15).then_some((x as u64, smaller))
            })
        });
        let mut d = self.diag(Code::InvalidNumber, span, format!("durations are whole numbers, found `{digits}`"));
        match exact {
            Some((value, unit)) => {
                let fixed = format!("{value}{}", unit.suffix());
                d = d.with_help(format!("write `{fixed}`")).with_fix(span, fixed);
                self.push(d);
                Ok(Duration { value, unit, span })
            }
            None => {
                d = d.with_help("write a whole number of a smaller unit");
                self.push(d);
                Err(Fatal)
            }
        }
    }

    pub(crate) fn days(&mut self) -> PResult<Days> {
        let Tok::Word(w) = *self.tok() else {
            return Err(self.fail(DAYS));
        };
        let span = self.span();
        let days = match w {
            "weekends" | "weekend" => Days::Weekends { span },
            "weekdays" | "weekday" => Days::Weekdays { span },
            "hours" => return self.hours(),
            _ => match Weekday::ALL.into_iter().find(|d| d.plural() == w || d.plural().strip_suffix('s') == Some(w)) {
                Some(day) => Days::Day { day, span },
                None => return Err(self.fail(DAYS)),
            },
        };
        self.bump();
        Ok(days)
    }

    /// `hours FROM to TO`, local hours on a 24-hour clock.
    fn hours(&mut self) -> PResult<Days> {
        let start = self.bump().start;
        let (from, from_span, from_suffix) = self.integer("an hour (0 to 23)")?;
        let from_suffix = from_suffix.to_string();
        self.expect_kw("to")?;
        let (to, to_span, to_suffix) = self.integer("an hour (1 to 24)")?;
        let to_suffix = to_suffix.to_string();
        let span = Span::new(start, self.prev_end());
        let clock_help = "hours are written on a 24-hour clock: `hours 9 to 17`";
        for (suffix, s) in [(from_suffix, from_span), (to_suffix, to_span)] {
            if !suffix.is_empty() {
                let d = self
                    .diag(Code::InvalidHours, s, format!("unexpected `{suffix}` after an hour"))
                    .with_help(clock_help);
                self.push(d);
            }
        }
        if from > 23 {
            let d = self
                .diag(Code::InvalidHours, from_span, format!("hour `{from}` is out of range"))
                .with_label("the first hour runs from 0 to 23")
                .with_help(clock_help);
            self.push(d);
        } else if to > 24 {
            let d = self
                .diag(Code::InvalidHours, to_span, format!("hour `{to}` is out of range"))
                .with_label("the last hour runs from 1 to 24")
                .with_help(clock_help);
            self.push(d);
        } else if from == to {
            let d = self
                .diag(Code::InvalidHours, span, format!("the hours `{from} to {to}` are empty"))
                .with_help("the first hour is included and the second excluded: `hours 9 to 17`");
            self.push(d);
        }
        let clamp = |h: u64| u8::try_from(h).unwrap_or(u8::MAX);
        Ok(Days::Hours { from: clamp(from), to: clamp(to), span })
    }

    pub(crate) fn share_out_of_range(&mut self, value: f64, span: Span) {
        let text = self.text[span.start..span.end].to_string();
        let mut d = self
            .diag(Code::ShareOutOfRange, span, format!("a share is between 0% and 100%, found `{text}`"))
            .with_label("out of range");
        if value > 1.0 && value <= 100.0 && !text.ends_with('%') {
            d = d.with_help(format!("did you mean `{text}%`?")).with_fix(span, format!("{text}%"));
        }
        self.push(d);
    }
}
