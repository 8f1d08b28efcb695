//! The Liquid language templates are written in, and the sandbox it runs in.
//!
//! The language is liquid-rust's standard library minus everything that
//! reaches outside the template (`include`, `render`) or can run away
//! (`tablerow`), with `for`, `capture`, `default` and `date` replaced by
//! versions that know the sandbox, and `money` added.
//!
//! Invariants:
//! - No file, network or environment access: no partial store is
//!   configured and no tag that loads one is registered.
//! - Every loop iteration, every filter call and every write checks the
//!   budget: total loop iterations, output bytes (also for `capture` and for
//!   any value a filter builds), and a time budget. Ranges are never
//!   materialised, so `(1..1000000000)` costs only what is iterated.
//! - Strict variables: a lookup that finds nothing is recorded, renders as
//!   nil so `default` can replace it, and fails the render at the end unless
//!   `default` took it. Conditions (`if`, `unless`) may test for absence.

use std::io::Write;
use std::time::{Duration, Instant};

use liquid_core::error::ResultLiquidExt;
use liquid_core::model::{KString, Object, ScalarCow, State, Value, ValueCow, ValueView};
use liquid_core::parser::{BlockElement, FilterArguments, FilterReflection, ParameterReflection, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister, PartialStore, Registers, StackFrame};
use liquid_core::{
    BlockReflection, Error, Expression, Filter, Language, ParseBlock, ParseFilter, Renderable, Result, Runtime,
    TagBlock, TagTokenIter, Template,
};
use liquid_lib::stdlib;
use tidings_model::Micros;

use crate::filters::{DateFilter, MoneyFilter};

/// Bounds on one render. Each part of a message (subject, preheader, body,
/// text) gets the iteration and output limits; the time budget covers the
/// whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Loop iterations, summed over all loops of a part.
    pub max_loop_iterations: u64,
    /// Bytes of output of a part, and of any value built while rendering it.
    pub max_output_bytes: usize,
    /// Wall time for rendering one message, measured with a monotonic timer.
    pub time_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_loop_iterations: 10_000, max_output_bytes: 1024 * 1024, time_budget: Duration::from_millis(250) }
    }
}

/// Which limit a render ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    LoopIterations(u64),
    OutputBytes(usize),
    Time(Duration),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::LoopIterations(n) => write!(f, "more than {n} loop iterations"),
            Limit::OutputBytes(n) => write!(f, "more than {n} bytes of output"),
            Limit::Time(d) => write!(f, "more than {} ms of rendering", d.as_millis()),
        }
    }
}

/// A variable a template used that had no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missing {
    pub path: String,
    /// The lookup count when it was missed; `default` takes a miss only if
    /// nothing else was looked up since.
    at: u64,
}

/// Per-render state, kept in the runtime's registers.
#[derive(Debug, Default)]
pub(crate) struct RenderState {
    pub limits: Limits,
    pub deadline: Option<Instant>,
    /// The render's "now", for `date: "now"`; never the wall clock.
    pub now: Micros,
    pub iterations: u64,
    pub exceeded: Option<Limit>,
    lookups: u64,
    pub missing: Vec<Missing>,
}

impl RenderState {
    fn check_time(&mut self) -> Result<()> {
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(self.exceed(Limit::Time(self.limits.time_budget)));
        }
        Ok(())
    }

    fn exceed(&mut self, limit: Limit) -> Error {
        self.exceeded.get_or_insert(limit);
        Error::with_msg(format!("render limit exceeded: {limit}"))
    }
}

pub(crate) fn state(runtime: &dyn Runtime) -> std::cell::RefMut<'_, RenderState> {
    runtime.registers().get_mut::<RenderState>()
}

/// The template language: the safe part of liquid-rust's stdlib plus ours.
pub(crate) fn language() -> Language {
    let mut lang = Language::empty();
    macro_rules! tags { ($($t:expr),*) => { $( { let t: Box<dyn liquid_core::ParseTag> = Box::new($t); lang.tags.register(t.reflection().tag().to_owned(), t); } )* } }
    macro_rules! blocks { ($($b:expr),*) => { $( { let b: Box<dyn ParseBlock> = Box::new($b); lang.blocks.register(b.reflection().start_tag().to_owned(), b); } )* } }
    macro_rules! filters { ($($f:expr),*) => { $( { let f: Box<dyn ParseFilter> = Box::new(Guarded(Box::new($f))); lang.filters.register(f.reflection().name().to_owned(), f); } )* } }
    tags!(
        stdlib::AssignTag,
        stdlib::BreakTag,
        stdlib::ContinueTag,
        stdlib::CycleTag,
        stdlib::IncrementTag,
        stdlib::DecrementTag
    );
    blocks!(
        stdlib::RawBlock,
        stdlib::IfBlock,
        stdlib::UnlessBlock,
        stdlib::IfChangedBlock,
        stdlib::CommentBlock,
        stdlib::CaseBlock,
        ForBlock,
        CaptureBlock
    );
    filters!(
        stdlib::Abs,
        stdlib::Append,
        stdlib::AtLeast,
        stdlib::AtMost,
        stdlib::Capitalize,
        stdlib::Ceil,
        stdlib::Compact,
        stdlib::Concat,
        stdlib::DividedBy,
        stdlib::Downcase,
        stdlib::Escape,
        stdlib::EscapeOnce,
        stdlib::First,
        stdlib::Floor,
        stdlib::Join,
        stdlib::Last,
        stdlib::Lstrip,
        stdlib::Map,
        stdlib::Minus,
        stdlib::Modulo,
        stdlib::NewlineToBr,
        stdlib::Plus,
        stdlib::Prepend,
        stdlib::Remove,
        stdlib::RemoveFirst,
        stdlib::Replace,
        stdlib::ReplaceFirst,
        stdlib::Reverse,
        stdlib::Round,
        stdlib::Rstrip,
        stdlib::Size,
        stdlib::Slice,
        stdlib::Sort,
        stdlib::SortNatural,
        stdlib::Split,
        stdlib::Strip,
        stdlib::StripHtml,
        stdlib::StripNewlines,
        stdlib::Times,
        stdlib::Truncate,
        stdlib::TruncateWords,
        stdlib::Uniq,
        stdlib::Upcase,
        stdlib::UrlDecode,
        stdlib::UrlEncode,
        stdlib::Where,
        DefaultFilter,
        DateFilter,
        MoneyFilter
    );
    lang
}

/// A runtime whose failed lookups are recorded instead of raised; see the
/// module docs. Wraps every frame a template body runs in.
pub(crate) struct Lenient<R>(pub R);

impl<R: Runtime> Runtime for Lenient<R> {
    fn partials(&self) -> &dyn PartialStore {
        self.0.partials()
    }
    fn name(&self) -> Option<liquid_core::model::KStringRef<'_>> {
        self.0.name()
    }
    fn roots(&self) -> std::collections::BTreeSet<liquid_core::model::KStringCow<'_>> {
        self.0.roots()
    }
    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        self.0.try_get(path)
    }
    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        let found = self.0.try_get(path);
        let mut st = state(&self.0);
        st.lookups += 1;
        match found {
            Some(v) => Ok(v),
            None => {
                let at = st.lookups;
                st.missing.push(Missing { path: path_string(path), at });
                Ok(ValueCow::Owned(Value::Nil))
            }
        }
    }
    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.0.set_global(name, val)
    }
    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.0.set_index(name, val)
    }
    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.0.get_index(name)
    }
    fn registers(&self) -> &Registers {
        self.0.registers()
    }
}

/// `profile.traits.first_name`, `items[0].name`.
fn path_string(path: &[ScalarCow<'_>]) -> String {
    let mut out = String::new();
    for (i, part) in path.iter().enumerate() {
        let key = part.to_kstr();
        if i > 0 && part.type_name() == "whole number" {
            out.push_str(&format!("[{}]", key.as_str()));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(key.as_str());
        }
    }
    out
}

/// An output sink that refuses to grow past the limit or the deadline.
pub(crate) struct BoundedWriter {
    pub buf: Vec<u8>,
    max: usize,
    deadline: Option<Instant>,
    pub exceeded: Option<Limit>,
    budget: Duration,
}

impl BoundedWriter {
    pub fn new(max: usize, deadline: Option<Instant>, budget: Duration) -> Self {
        BoundedWriter { buf: Vec::new(), max, deadline, exceeded: None, budget }
    }
}

impl Write for BoundedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            self.exceeded = Some(Limit::OutputBytes(self.max));
            return Err(std::io::Error::other("output limit"));
        }
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            self.exceeded = Some(Limit::Time(self.budget));
            return Err(std::io::Error::other("time limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stdlib filter behind the budget: the deadline is checked before it
/// runs and the size of what it built after.
#[derive(Clone)]
struct Guarded(Box<dyn ParseFilter>);

impl ParseFilter for Guarded {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        Ok(Box::new(GuardedFilter(self.0.parse(arguments)?)))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        self.0.reflection()
    }
}

#[derive(Debug)]
struct GuardedFilter(Box<dyn Filter>);

impl std::fmt::Display for GuardedFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Filter for GuardedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        state(runtime).check_time()?;
        let out = self.0.evaluate(input, runtime)?;
        let max = state(runtime).limits.max_output_bytes;
        if size_over(&out, max) {
            return Err(state(runtime).exceed(Limit::OutputBytes(max)));
        }
        Ok(out)
    }
}

/// Whether `v` is bigger than `max` bytes, counting each value at least one
/// byte; stops counting as soon as it knows.
fn size_over(v: &dyn ValueView, max: usize) -> bool {
    fn walk(v: &dyn ValueView, left: &mut usize) -> bool {
        let here = if let Some(a) = v.as_array() {
            for item in a.values() {
                if walk(item, left) {
                    return true;
                }
            }
            1
        } else if let Some(o) = v.as_object() {
            for (k, item) in o.iter() {
                if k.len() > *left || walk(item, left) {
                    return true;
                }
                *left -= k.len();
            }
            1
        } else if let Some(s) = v.as_scalar() {
            s.to_kstr().len().max(1)
        } else {
            1
        };
        if here > *left {
            return true;
        }
        *left -= here;
        false
    }
    let mut left = max;
    walk(v, &mut left)
}

/// Reflection boilerplate for our filters.
pub(crate) struct Reflect {
    pub name: &'static str,
    pub description: &'static str,
    pub positional: &'static [ParameterReflection],
}

impl FilterReflection for Reflect {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        self.description
    }
    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        self.positional
    }
    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

/// Collects positional arguments, refusing keyword ones and extras.
pub(crate) fn positional(args: FilterArguments<'_>, name: &str, max: usize) -> Result<Vec<Expression>> {
    let FilterArguments { positional, mut keyword } = args;
    if let Some((k, _)) = keyword.next() {
        return Err(Error::with_msg(format!("`{name}` takes no keyword argument `{k}`")));
    }
    let args: Vec<Expression> = positional.collect();
    if args.len() > max {
        return Err(Error::with_msg(format!("`{name}` takes at most {max} arguments")));
    }
    Ok(args)
}

/// `default: fallback`: the fallback when the input is nil, false or empty
/// (Liquid's rule), and the one way to use a variable that may be missing.
#[derive(Clone)]
struct DefaultFilter;

const DEFAULT_REFLECT: Reflect = Reflect {
    name: "default",
    description: "The argument when the input is nil, false, empty or missing.",
    positional: &[ParameterReflection { name: "fallback", description: "value to use", is_optional: false }],
};

impl ParseFilter for DefaultFilter {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let mut args = positional(arguments, "default", 1)?;
        let fallback = args.pop().ok_or_else(|| Error::with_msg("`default` needs a fallback value"))?;
        Ok(Box::new(Default_ { fallback }))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        &DEFAULT_REFLECT
    }
}

#[derive(Debug)]
struct Default_ {
    fallback: Expression,
}

impl std::fmt::Display for Default_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "default: {}", self.fallback)
    }
}

impl Filter for Default_ {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        if !input.query_state(State::DefaultValue) {
            return Ok(input.to_value());
        }
        {
            // If the input came from a lookup that just missed, this default
            // answers for it: forget the miss.
            let mut st = state(runtime);
            if st.missing.last().is_some_and(|m| m.at == st.lookups) {
                st.missing.pop();
            }
        }
        Ok(self.fallback.evaluate(runtime)?.into_owned())
    }
}

/// `for item in collection [limit: n] [offset: n] [reversed]`, with
/// `{% else %}`, `forloop.*`, `break` and `continue`, counting iterations.
#[derive(Clone, Debug)]
struct ForBlock;

impl BlockReflection for ForBlock {
    fn start_tag(&self) -> &str {
        "for"
    }
    fn end_tag(&self) -> &str {
        "endfor"
    }
    fn description(&self) -> &str {
        "Repeats its body for each item of an array or each number of a range."
    }
}

#[derive(Debug)]
enum Source {
    Collection(Expression),
    Range(Expression, Expression),
}

#[derive(Debug)]
struct For {
    var: KString,
    source: Source,
    limit: Option<Expression>,
    offset: Option<Expression>,
    reversed: bool,
    body: Template,
    otherwise: Option<Template>,
}

fn attr_value(args: &mut TagTokenIter<'_>) -> Result<Expression> {
    args.expect_next("\":\" expected")?.expect_str(":").into_result_custom_msg("\":\" expected")?;
    args.expect_next("value expected")?.expect_value().into_result()
}

impl ParseBlock for ForBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let var = arguments.expect_next("identifier expected")?.expect_identifier().into_result()?;
        let var = KString::from_ref(var);
        arguments.expect_next("\"in\" expected")?.expect_str("in").into_result_custom_msg("\"in\" expected")?;
        let source = match arguments.expect_next("array or range expected")?.expect_value() {
            TryMatchToken::Matches(e) => Source::Collection(e),
            TryMatchToken::Fails(t) => match t.expect_range() {
                TryMatchToken::Matches((a, b)) => Source::Range(a, b),
                TryMatchToken::Fails(t) => return Err(t.raise_error()),
            },
        };
        let (mut limit, mut offset, mut reversed) = (None, None, false);
        while let Some(token) = arguments.next() {
            match token.as_str() {
                "limit" => limit = Some(attr_value(&mut arguments)?),
                "offset" => offset = Some(attr_value(&mut arguments)?),
                "reversed" => reversed = true,
                _ => return Err(token.raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected")),
            }
        }
        arguments.expect_nothing()?;
        let mut body = Vec::new();
        let mut otherwise = None;
        while let Some(element) = tokens.next()? {
            match element {
                BlockElement::Tag(mut tag) if tag.name() == "else" => {
                    tag.tokens().expect_nothing()?;
                    otherwise = Some(Template::new(tokens.parse_all(options)?));
                    break;
                }
                BlockElement::Tag(tag) => body.push(tag.parse(&mut tokens, options)?),
                element => body.push(element.parse(&mut tokens, options)?),
            }
        }
        tokens.assert_empty();
        Ok(Box::new(For { var, source, limit, offset, reversed, body: Template::new(body), otherwise }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

fn whole_number(e: &Expression, runtime: &dyn Runtime, what: &str) -> Result<i64> {
    let v = e.evaluate(runtime)?;
    v.as_scalar()
        .and_then(|s| s.to_integer())
        .ok_or_else(|| Error::with_msg(format!("for: {what} must be a whole number, not `{}`", v.source())))
}

impl For {
    fn trace(&self) -> String {
        let source = match &self.source {
            Source::Collection(e) => e.to_string(),
            Source::Range(a, b) => format!("({a}..{b})"),
        };
        format!("{{% for {} in {} %}}", self.var, source)
    }

    fn run(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let offset = match &self.offset {
            Some(e) => whole_number(e, runtime, "offset")?.max(0) as u64,
            None => 0,
        };
        let limit = match &self.limit {
            Some(e) => Some(whole_number(e, runtime, "limit")?.max(0) as u64),
            None => None,
        };
        enum Items {
            Values(Vec<Value>),
            Range(i64, i64),
        }
        let items = match &self.source {
            Source::Collection(e) => {
                let v = e.evaluate(runtime)?;
                Items::Values(if let Some(a) = v.as_array() {
                    a.values().map(|x| x.to_value()).collect()
                } else if let Some(o) = v.as_object() {
                    o.iter().map(|(k, x)| Value::array([Value::scalar(k.into_owned()), x.to_value()])).collect()
                } else if v.is_nil() {
                    Vec::new()
                } else {
                    vec![v.to_value()]
                })
            }
            Source::Range(a, b) => Items::Range(whole_number(a, runtime, "start")?, whole_number(b, runtime, "end")?),
        };
        let total = match &items {
            Items::Values(v) => v.len() as u64,
            Items::Range(a, b) => (i128::from(*b) - i128::from(*a) + 1).clamp(0, i128::from(u64::MAX)) as u64,
        };
        let start = offset.min(total);
        let len = limit.map_or(total - start, |l| l.min(total - start));
        if len == 0 {
            if let Some(t) = &self.otherwise {
                t.render_to(writer, runtime)?;
            }
            return Ok(());
        }
        let parent = runtime.try_get(&[ScalarCow::new("forloop")]).map(|v| v.into_owned());
        for i in 0..len {
            {
                let mut st = state(runtime);
                st.iterations += 1;
                if st.iterations > st.limits.max_loop_iterations {
                    let max = st.limits.max_loop_iterations;
                    return Err(st.exceed(Limit::LoopIterations(max)));
                }
                st.check_time()?;
            }
            let k = if self.reversed { start + len - 1 - i } else { start + i };
            let item = match &items {
                Items::Values(v) => v[k as usize].clone(),
                Items::Range(a, _) => Value::scalar(a + k as i64),
            };
            let mut forloop = Object::new();
            let n = len as i64;
            let i = i as i64;
            forloop.insert("length".into(), Value::scalar(n));
            forloop.insert("index".into(), Value::scalar(i + 1));
            forloop.insert("index0".into(), Value::scalar(i));
            forloop.insert("rindex".into(), Value::scalar(n - i));
            forloop.insert("rindex0".into(), Value::scalar(n - i - 1));
            forloop.insert("first".into(), Value::scalar(i == 0));
            forloop.insert("last".into(), Value::scalar(i == n - 1));
            forloop.insert("parentloop".into(), parent.clone().unwrap_or(Value::Nil));
            let mut frame = Object::new();
            frame.insert("forloop".into(), Value::Object(forloop));
            frame.insert(self.var.clone(), item);
            let scope = Lenient(StackFrame::new(runtime, &frame));
            self.body.render_to(writer, &scope).context_key("index").value_with(|| (i + 1).to_string().into())?;
            if let Some(Interrupt::Break) = scope.registers().get_mut::<InterruptRegister>().reset() {
                break;
            }
        }
        Ok(())
    }
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        self.run(writer, runtime).trace_with(|| self.trace().into())
    }
}

/// `capture name` ... `endcapture`, bounded like the output.
#[derive(Clone, Debug)]
struct CaptureBlock;

impl BlockReflection for CaptureBlock {
    fn start_tag(&self) -> &str {
        "capture"
    }
    fn end_tag(&self) -> &str {
        "endcapture"
    }
    fn description(&self) -> &str {
        "Renders its body into a variable."
    }
}

impl ParseBlock for CaptureBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let name = arguments.expect_next("identifier expected")?.expect_identifier().into_result()?;
        let name = KString::from_ref(name);
        arguments.expect_nothing()?;
        let body = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Capture { name, body }))
    }
    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Capture {
    name: KString,
    body: Template,
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let (max, deadline, budget) = {
            let st = state(runtime);
            (st.limits.max_output_bytes, st.deadline, st.limits.time_budget)
        };
        let mut buf = BoundedWriter::new(max, deadline, budget);
        let result = self.body.render_to(&mut buf, runtime);
        if let Some(limit) = buf.exceeded {
            return Err(state(runtime).exceed(limit));
        }
        result.trace_with(|| format!("{{% capture {} %}}", self.name).into())?;
        let text = String::from_utf8(buf.buf).map_err(|_| Error::with_msg("capture produced invalid UTF-8"))?;
        runtime.set_global(self.name.clone(), Value::scalar(text));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liquid_core::runtime::RuntimeBuilder;

    fn render(src: &str, globals: serde_json::Value, limits: Limits) -> std::result::Result<String, String> {
        let lang = language();
        let template = liquid_core::parser::parse(src, &lang).map(Template::new).map_err(|e| e.to_string())?;
        let globals = liquid_core::model::to_object(&globals).unwrap();
        let rt = Lenient(RuntimeBuilder::new().set_globals(&globals).build());
        {
            let mut st = state(&rt);
            st.limits = limits;
            st.deadline = Some(Instant::now() + limits.time_budget);
        }
        let mut w = BoundedWriter::new(limits.max_output_bytes, None, limits.time_budget);
        let r = template.render_to(&mut w, &rt);
        let st = state(&rt);
        if let Some(l) = w.exceeded.or(st.exceeded) {
            return Err(format!("limit: {l}"));
        }
        if let Some(m) = st.missing.first() {
            return Err(format!("missing: {}", m.path));
        }
        r.map_err(|e| e.to_string())?;
        Ok(String::from_utf8(w.buf).unwrap())
    }

    fn ok(src: &str, globals: serde_json::Value) -> String {
        render(src, globals, Limits::default()).unwrap()
    }

    #[test]
    fn loops_work_like_liquid() {
        let g = serde_json::json!({"xs": ["a", "b", "c", "d"]});
        assert_eq!(ok("{% for x in xs %}{{ forloop.index }}{{ x }}{% endfor %}", g.clone()), "1a2b3c4d");
        assert_eq!(ok("{% for x in xs limit: 2 offset: 1 reversed %}{{ x }}{% endfor %}", g.clone()), "cb");
        assert_eq!(ok("{% for x in xs %}{% if x == 'c' %}{% break %}{% endif %}{{ x }}{% endfor %}", g.clone()), "ab");
        assert_eq!(ok("{% for x in xs %}{% if x == 'b' %}{% continue %}{% endif %}{{ x }}{% endfor %}", g), "acd");
        assert_eq!(
            ok("{% for i in (1..3) %}{{ i }}{% if forloop.last %}!{% endif %}{% endfor %}", serde_json::json!({})),
            "123!"
        );
        assert_eq!(ok("{% for i in (3..1) %}x{% else %}none{% endfor %}", serde_json::json!({})), "none");
        assert_eq!(
            ok(
                "{% for a in (1..2) %}{% for b in (1..2) %}{{ forloop.parentloop.index }}{{ b }} {% endfor %}{% endfor %}",
                serde_json::json!({})
            ),
            "11 12 21 22 "
        );
    }

    #[test]
    fn huge_ranges_hit_the_iteration_limit_without_allocating() {
        let limits = Limits { max_loop_iterations: 100, ..Limits::default() };
        let err = render("{% for i in (1..1000000000000) %}{% endfor %}", serde_json::json!({}), limits).unwrap_err();
        assert_eq!(err, "limit: more than 100 loop iterations");
        let err = render(
            "{% for i in (1..20) %}{% for j in (1..20) %}{% endfor %}{% endfor %}",
            serde_json::json!({}),
            limits,
        )
        .unwrap_err();
        assert_eq!(err, "limit: more than 100 loop iterations");
    }

    #[test]
    fn output_and_built_values_are_bounded() {
        let limits = Limits { max_output_bytes: 1000, ..Limits::default() };
        let g = serde_json::json!({});
        let err = render("{% for i in (1..100) %}0123456789abcdef{% endfor %}", g.clone(), limits).unwrap_err();
        assert_eq!(err, "limit: more than 1000 bytes of output");
        let doubling = "{% assign s = 'xxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}";
        assert_eq!(render(doubling, g.clone(), limits).unwrap_err(), "limit: more than 1000 bytes of output");
        let captured = "{% assign s = 'xxxxxxxx' %}{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}";
        assert_eq!(render(captured, g, limits).unwrap_err(), "limit: more than 1000 bytes of output");
    }

    #[test]
    fn time_budget_stops_a_render() {
        let limits = Limits { time_budget: Duration::ZERO, ..Limits::default() };
        std::thread::sleep(Duration::from_millis(2));
        let err = render("{% for i in (1..10) %}{{ i }}{% endfor %}", serde_json::json!({}), limits).unwrap_err();
        assert_eq!(err, "limit: more than 0 ms of rendering");
    }

    #[test]
    fn includes_are_not_part_of_the_language() {
        let err = render("{% include 'secrets.txt' %}", serde_json::json!({}), Limits::default()).unwrap_err();
        assert!(err.contains("Unknown tag"), "{err}");
        let err = render("{% render 'x' %}", serde_json::json!({}), Limits::default()).unwrap_err();
        assert!(err.contains("Unknown tag"), "{err}");
    }

    #[test]
    fn missing_variables_fail_unless_defaulted() {
        let g = serde_json::json!({"profile": {"name": "Ada", "empty": ""}, "items": [{"a": 1}]});
        assert_eq!(render("Hi {{ profile.nme }}", g.clone(), Limits::default()).unwrap_err(), "missing: profile.nme");
        assert_eq!(render("{{ items[3].a }}", g.clone(), Limits::default()).unwrap_err(), "missing: items[3].a");
        assert_eq!(render("{{ nobody }}", g.clone(), Limits::default()).unwrap_err(), "missing: nobody");
        assert_eq!(ok("Hi {{ profile.nme | default: 'there' }}", g.clone()), "Hi there");
        assert_eq!(ok("Hi {{ profile.empty | default: profile.name }}", g.clone()), "Hi Ada");
        assert_eq!(ok("{% if profile.vip %}vip{% else %}regular{% endif %}", g.clone()), "regular");
        assert_eq!(ok("{% assign n = profile.nick | default: profile.name %}{{ n }}", g.clone()), "Ada");
        // A miss followed by another lookup is not the input of `default`.
        assert_eq!(
            render("{{ profile.nme | append: profile.name | default: 'x' }}", g.clone(), Limits::default())
                .unwrap_err(),
            "missing: profile.nme"
        );
        assert_eq!(
            render("{{ profile.nme | default: profile.also_missing }}", g, Limits::default()).unwrap_err(),
            "missing: profile.also_missing"
        );
    }
}
