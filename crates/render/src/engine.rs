//! Compiling templates and rendering them for one recipient.
//!
//! Compiling parses every Liquid part, checks the MJML, and when it can,
//! compiles the MJML to HTML once: if `mrml` carries every Liquid tag
//! through unchanged and in order, each message renders Liquid over the
//! precompiled HTML; otherwise each message renders Liquid over the MJML and
//! compiles the result. Either way the output is the same.
//!
//! Invariant: a render either returns a complete message or an error; a
//! missing variable, a Liquid error or a sandbox limit in any part fails
//! the whole message.

use std::sync::Arc;
use std::time::Instant;

use liquid_core::runtime::RuntimeBuilder;
use liquid_core::{Language, Object, Renderable, Runtime};
use mrml::prelude::render::RenderOptions;

use crate::context::{Context, escape_strings};
use crate::headers::{HeaderError, sanitize_text};
use crate::html::{escape_html, find_ci};
use crate::sandbox::{BoundedWriter, Lenient, Limit, Limits, RenderState, language, state};
use crate::template::{BodyFormat, Location, MessageKind, Part, TemplateError, TemplateSource};

/// Why a message could not be rendered for a recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template uses a variable this recipient has no value for, and no
    /// `default` filter supplies one.
    #[error(
        "{at}: `{variable}` has no value for this recipient; give it one or write `{{{{ {variable} | default: ... }}}}`"
    )]
    MissingVariable { at: Location, variable: String },
    /// Liquid failed while rendering: a filter got a value it cannot use,
    /// an unknown time zone, a division by zero.
    #[error("{at}: {message}")]
    Liquid { at: Location, message: String },
    /// The render ran into a sandbox limit.
    #[error("{at}: rendering stopped: {limit}")]
    Limit { at: Location, limit: Limit },
    /// The MJML that Liquid produced is not valid MJML.
    #[error("{at}: the rendered MJML is invalid: {message}")]
    Mjml { at: Location, message: String },
    /// The message's headers could not be built.
    #[error(transparent)]
    Headers(#[from] HeaderError),
}

/// Compiles templates; holds the Liquid language and the sandbox limits.
#[derive(Clone)]
pub struct Renderer {
    language: Arc<Language>,
    limits: Limits,
    precompile: bool,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").field("limits", &self.limits).finish()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new(Limits::default())
    }
}

#[derive(Debug)]
enum Body {
    /// Liquid over HTML that `mrml` produced at compile time (kept as text too).
    Precompiled(liquid_core::Template, String),
    /// Liquid over MJML, compiled per message.
    Mjml(liquid_core::Template),
    /// Liquid over HTML as written.
    Html(liquid_core::Template),
}

/// A compiled template, ready to render for any number of recipients (it is
/// `Send + Sync`).
#[derive(Debug)]
pub struct Template {
    source: TemplateSource,
    subject: liquid_core::Template,
    preheader: Option<liquid_core::Template>,
    body: Body,
    text: Option<liquid_core::Template>,
    limits: Limits,
}

/// A message rendered for one recipient, before link tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// On one line: control characters replaced by spaces.
    pub subject: String,
    pub preheader: Option<String>,
    /// Complete HTML with the preheader as its first, hidden, element.
    pub html: String,
    /// The text body when the template has one; generated later otherwise.
    pub text: Option<String>,
}

impl Renderer {
    pub fn new(limits: Limits) -> Renderer {
        Renderer { language: Arc::new(language()), limits, precompile: true }
    }

    /// Compile MJML once per template when possible (the default), or, with
    /// `false`, after Liquid for every message (slower; for comparisons).
    pub fn with_precompile(mut self, precompile: bool) -> Renderer {
        self.precompile = precompile;
        self
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Parses and checks every part of `source`; errors say where.
    pub fn compile(&self, source: &TemplateSource) -> Result<Template, TemplateError> {
        for (text, part) in [
            (Some(source.subject.as_str()), Part::Subject),
            (source.preheader.as_deref(), Part::Preheader),
            (Some(source.body.as_str()), Part::Body),
            (source.text.as_deref(), Part::Text),
        ] {
            if let Some((offset, what)) = text.and_then(too_deep) {
                let (line, column) = line_col(text.unwrap_or(""), offset);
                return Err(TemplateError::TooDeep { at: location(source, part, Some(line), Some(column)), what });
            }
            if let Some((offset, number)) = text.and_then(integer_out_of_range) {
                let (line, column) = line_col(text.unwrap_or(""), offset);
                return Err(TemplateError::Liquid {
                    at: location(source, part, Some(line), Some(column)),
                    message: format!(
                        "the number {number} is beyond a 64-bit integer; write it as a string or with a decimal point"
                    ),
                });
            }
        }
        let parse = |text: &str, part: Part| {
            liquid_core::parser::parse(text, &self.language).map(liquid_core::Template::new).map_err(|e| {
                let e = LiquidError::parse(&e);
                let (line, column) = e.offset_in(text).map_or((None, None), |o| {
                    let (l, c) = line_col(text, o);
                    (Some(l), Some(c))
                });
                TemplateError::Liquid { at: location(source, part, line, column), message: e.describe() }
            })
        };
        let subject = parse(&source.subject, Part::Subject)?;
        let preheader = source.preheader.as_deref().map(|p| parse(p, Part::Preheader)).transpose()?;
        let text = source.text.as_deref().map(|t| parse(t, Part::Text)).transpose()?;
        let checked = parse(&source.body, Part::Body)?;
        let body = match source.format {
            BodyFormat::Html => Body::Html(checked),
            BodyFormat::Mjml => {
                // Liquid tags between MJML elements ride through mrml as
                // comments, then become tags again.
                let html = compile_mjml(&protect_tags(&source.body)).map_err(|(message, pos)| TemplateError::Mjml {
                    at: location(source, Part::Body, pos.map(|p| p.0), pos.map(|p| p.1)),
                    message,
                })?;
                let html = html.replace("<!--{%", "{%").replace("%}-->", "%}");
                if self.precompile && same_liquid(&html, &source.body) {
                    match liquid_core::parser::parse(&html, &self.language) {
                        Ok(t) => Body::Precompiled(liquid_core::Template::new(t), html),
                        Err(_) => Body::Mjml(checked),
                    }
                } else {
                    Body::Mjml(checked)
                }
            }
        };
        Ok(Template { source: source.clone(), subject, preheader, body, text, limits: self.limits })
    }
}

/// `file:line:col` of a part; `line` and `column` are within the part's text.
fn location(source: &TemplateSource, part: Part, line: Option<u32>, column: Option<u32>) -> Location {
    let (file, line, column) = match part {
        Part::Subject => (source.file.clone(), Some(source.subject_line), None),
        Part::Preheader => (source.file.clone(), Some(source.preheader_line), None),
        Part::Body => (source.file.clone(), line.map(|l| l + source.body_offset), column),
        Part::Text => (source.text_file(), line, column),
    };
    Location { file, part, line, column }
}

/// Compiles MJML; on error, the message and the line and column (in
/// `mjml`) it points at when mrml says.
fn compile_mjml(mjml: &str) -> Result<String, (String, Option<(u32, u32)>)> {
    use mrml::prelude::parser::Error as E;
    let parsed = mrml::parse(mjml).map_err(|e| {
        let mut pos = match &e {
            E::UnexpectedElement { position, .. }
            | E::UnexpectedToken { position, .. }
            | E::MissingAttribute { position, .. }
            | E::InvalidAttribute { position, .. }
            | E::InvalidFormat { position, .. }
            | E::IncludeLoaderError { position, .. } => Some(line_col(mjml, position.start)),
            _ => None,
        };
        let message = match &e {
            E::IncludeLoaderError { .. } => "mj-include is not available: templates cannot read files".to_string(),
            E::EndOfStream { .. } => "unexpected end of the document: an element is not closed".to_string(),
            E::ParserError { source, .. } => {
                // htmlparser says "... at LINE:COL cause ..."; keep the first position.
                let text = source.to_string();
                pos = text.split(" at ").nth(1).and_then(|p| {
                    let mut it = p.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
                    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
                });
                let mut words: Vec<&str> = text.split(' ').collect();
                // Drop the "at L:C" pairs, which the location replaces.
                while let Some(i) = words.iter().position(|w| *w == "at") {
                    words.drain(i..(i + 2).min(words.len()));
                }
                words.join(" ").replace(" cause ", ": ")
            }
            _ => e.to_string(),
        };
        let message = message.split(" at position ").next().unwrap_or(&message).replace(" in root template", "");
        (message, pos)
    })?;
    parsed.element.render(&RenderOptions::default()).map_err(|e| (e.to_string(), None))
}

/// The Liquid tags and outputs of `text`, in order.
/// `body` with every Liquid tag (`{% ... %}`) that stands outside an
/// element's `<...>` wrapped in an HTML comment, which mrml keeps where it
/// stands (text between MJML elements it would drop).
fn protect_tags(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 256);
    let bytes = body.as_bytes();
    let (mut i, mut copied) = (0, 0);
    let mut in_element = false;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if in_element {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' => quote = Some(b),
                None if b == b'>' => in_element = false,
                None => {}
            }
            i += 1;
            continue;
        }
        if b == b'<' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'/' || *c == b'!') {
            in_element = true;
            i += 1;
            continue;
        }
        if b == b'{'
            && bytes.get(i + 1) == Some(&b'%')
            && let Some(len) = body[i + 2..].find("%}")
        {
            let end = i + 2 + len + 2;
            out.push_str(&body[copied..i]);
            out.push_str("<!--");
            out.push_str(&body[i..end]);
            out.push_str("-->");
            copied = end;
            i = end;
            continue;
        }
        i += 1;
    }
    out.push_str(&body[copied..]);
    out
}

/// Whether `html` holds the same Liquid as `mjml`: the same tags in the same
/// order, and between each two tags the same outputs (`{{ ... }}`), in any
/// order (mrml may reorder an element's attributes; outputs have no effects).
fn same_liquid(html: &str, mjml: &str) -> bool {
    fn shape(text: &str) -> Vec<(Vec<&str>, &str)> {
        let mut out = Vec::new();
        let mut outputs = Vec::new();
        for m in liquid_markup(text) {
            if m.starts_with("{{") {
                outputs.push(m);
            } else {
                outputs.sort_unstable();
                out.push((std::mem::take(&mut outputs), m));
            }
        }
        outputs.sort_unstable();
        out.push((outputs, ""));
        out
    }
    shape(html) == shape(mjml)
}

fn liquid_markup(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(i) = text[rest..].find('{').map(|i| rest + i) {
        let close = match text.as_bytes().get(i + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                rest = i + 1;
                continue;
            }
        };
        match text[i + 2..].find(close) {
            Some(j) => {
                out.push(&text[i..i + 2 + j + 2]);
                rest = i + 2 + j + 2;
            }
            None => break,
        }
    }
    out
}

/// 1-based line and column (in characters) of byte `offset`.
/// Deepest nesting of Liquid blocks (`if`, `for`, ...) and of markup
/// elements a template may have. Both parsers descend recursively; a
/// template nested deeper would exhaust the stack instead of being refused.
pub const MAX_TEMPLATE_DEPTH: usize = 100;

/// Where Liquid markup in `text` first holds an integer literal beyond
/// `i64`, and the literal. Liquid's parser panics on one (its grammar
/// promises every integer parses); found by fuzzing, refused here instead.
fn integer_out_of_range(text: &str) -> Option<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(open) = text[i..].find('{').map(|o| i + o) {
        let close = match bytes.get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let end = text[open + 2..].find(close).map_or(text.len(), |e| open + 2 + e);
        let markup = &text[open + 2..end];
        let word = markup.trim_start_matches('-').trim_start();
        // What `raw` and `comment` enclose is not parsed: go on after it.
        let enclosed = [("raw", "endraw"), ("comment", "endcomment")]
            .into_iter()
            .find(|(tag, _)| close == "%}" && word.starts_with(tag));
        if let Some((_, end_tag)) = enclosed {
            i = text[end..].find(end_tag).map_or(text.len(), |e| end + e);
            continue;
        }
        let m = markup.as_bytes();
        let (mut j, mut quote) = (0, None);
        while j < m.len() {
            match (quote, m[j]) {
                (Some(q), b) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(m[j]),
                (None, b'0'..=b'9') if j == 0 || !(m[j - 1].is_ascii_alphanumeric() || m[j - 1] == b'_') => {
                    let start = if j > 0 && m[j - 1] == b'-' { j - 1 } else { j };
                    let digits = m[j..].iter().take_while(|b| b.is_ascii_digit()).count();
                    let float =
                        m.get(j + digits) == Some(&b'.') && m.get(j + digits + 1).is_some_and(u8::is_ascii_digit);
                    let literal = &markup[start..j + digits];
                    if !float && literal.parse::<i64>().is_err() {
                        return Some((open + 2 + start, literal));
                    }
                    j += digits;
                    continue;
                }
                _ => {}
            }
            j += 1;
        }
        i = end.max(open + 2);
    }
    None
}

/// Where `text` first nests Liquid blocks or elements deeper than
/// [`MAX_TEMPLATE_DEPTH`], and which of the two. A scan, not a parse: it
/// only has to be an upper bound of what the parsers will descend.
fn too_deep(text: &str) -> Option<(usize, &'static str)> {
    const BLOCKS: &[&str] = &["if", "unless", "for", "case", "capture", "tablerow", "comment", "raw", "ifchanged"];
    let (mut blocks, mut elements) = (0usize, 0usize);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Only ASCII bytes are looked at, so every slice starts on a character.
        if bytes[i..].starts_with(b"{%") {
            // The close is looked for after the open: in `{%}` they share the `%`.
            let end = text[i + 2..].find("%}").map_or(text.len(), |e| i + 2 + e);
            let tag = text[i + 2..end].trim_start_matches('-').trim_start();
            let word = tag.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or("");
            if BLOCKS.contains(&word) {
                blocks += 1;
                if blocks > MAX_TEMPLATE_DEPTH {
                    return Some((i, "Liquid blocks"));
                }
            } else if word.starts_with("end") {
                blocks = blocks.saturating_sub(1);
            }
            i = end.max(i + 2);
            continue;
        }
        if bytes[i] == b'<' {
            match bytes.get(i + 1) {
                Some(b'/') => elements = elements.saturating_sub(1),
                Some(c) if c.is_ascii_alphabetic() => {
                    const VOID: &[&str] = &[
                        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                        "wbr",
                    ];
                    let end = text[i..].find('>').map_or(text.len(), |e| i + e);
                    let name = text[i + 1..end].split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
                    if !text[i..end].ends_with('/') && !VOID.contains(&name.to_ascii_lowercase().as_str()) {
                        elements += 1;
                        if elements > MAX_TEMPLATE_DEPTH * 2 {
                            return Some((i, "elements"));
                        }
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line as u32, col as u32)
}

/// Where `variable` (a dotted path) is first written in `text`.
fn find_variable(text: &str, variable: &str) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut from = 0;
    while let Some(i) = text[from..].find(variable).map(|i| from + i) {
        let before = text[..i].chars().next_back();
        let after = text[i + variable.len()..].chars().next();
        if !before.is_some_and(|c| ident(c) || c == '.') && !after.is_some_and(ident) {
            return Some(i);
        }
        from = i + variable.len();
    }
    None
}

/// Liquid's error, taken apart: liquid-core only offers it as text.
#[derive(Debug, Default)]
struct LiquidError {
    message: String,
    /// From the parser's ` --> line:col`.
    pos: Option<(u32, u32)>,
    /// `with:` pairs, in order.
    context: Vec<(String, String)>,
    /// `from:` lines, innermost first.
    traces: Vec<String>,
}

impl LiquidError {
    fn parse(e: &liquid_core::Error) -> LiquidError {
        let text = e.to_string();
        let mut out = LiquidError::default();
        for line in text.lines() {
            let t = line.trim();
            if let Some(first) = t.strip_prefix("liquid:") {
                out.message = first.trim().to_string();
            } else if let Some(p) = t.strip_prefix("--> ") {
                let mut nums = p.split(':').map(|n| n.trim().parse::<u32>().ok());
                if let (Some(Some(l)), Some(Some(c))) = (nums.next(), nums.next()) {
                    out.pos = Some((l, c));
                }
            } else if let Some(m) = t.strip_prefix("= ") {
                out.message = m.to_string();
            } else if let Some(f) = t.strip_prefix("from: ") {
                out.traces.push(f.to_string());
            } else if let Some((k, v)) = t.split_once('=').filter(|_| !t.starts_with('|') && t != "with:") {
                out.context.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if out.message.starts_with("-->") {
            out.message.clear();
        }
        out
    }

    /// The message with the context worth showing (not the long lists of
    /// everything available).
    fn describe(&self) -> String {
        let shown: Vec<String> = self
            .context
            .iter()
            .filter(|(k, _)| !k.starts_with("available") && k != "input")
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        if shown.is_empty() { self.message.clone() } else { format!("{} ({})", self.message, shown.join(", ")) }
    }

    /// Where in `source` the error most likely is: the parser's position,
    /// else the filter or tag it names, else a trace found verbatim.
    fn offset_in(&self, source: &str) -> Option<usize> {
        if let Some((line, col)) = self.pos {
            let start: usize = source.split_inclusive('\n').take(line as usize - 1).map(str::len).sum();
            let line_text = source[start.min(source.len())..].split('\n').next().unwrap_or("");
            let col_bytes: usize = line_text.chars().take(col as usize - 1).map(char::len_utf8).sum();
            return Some(start + col_bytes);
        }
        for (k, v) in &self.context {
            let name = v.split([' ', ':']).next().unwrap_or("");
            if matches!(k.as_str(), "requested filter" | "filter")
                && !name.is_empty()
                && let Some(i) = find_variable(source, name)
            {
                return Some(i);
            }
        }
        self.traces.iter().find_map(|t| source.find(t.as_str()))
    }
}

impl Template {
    pub fn name(&self) -> &str {
        &self.source.name
    }
    pub fn kind(&self) -> MessageKind {
        self.source.kind
    }
    pub fn topic(&self) -> Option<&str> {
        self.source.topic.as_deref()
    }
    pub fn source(&self) -> &TemplateSource {
        &self.source
    }
    /// Whether the MJML was compiled once, ahead of all renders.
    pub fn is_precompiled(&self) -> bool {
        matches!(self.body, Body::Precompiled(..))
    }

    /// The Liquid-bearing HTML `mrml` produced at compile time, when the
    /// MJML could be compiled once for every recipient.
    pub fn precompiled_html(&self) -> Option<&str> {
        match &self.body {
            Body::Precompiled(_, html) => Some(html),
            _ => None,
        }
    }

    /// Renders every part for one recipient.
    pub fn render(&self, ctx: &Context) -> Result<Rendered, RenderError> {
        let deadline = Instant::now() + self.limits.time_budget;
        let raw_json = ctx.to_json();
        let raw = to_object(&raw_json);
        let html_vars = to_object(&escape_strings(&raw_json));
        let run = |t: &liquid_core::Template, vars: &Object, part: Part, source: &str| {
            self.run(t, vars, part, source, ctx.now, deadline)
        };
        let subject = sanitize_text(&run(&self.subject, &raw, Part::Subject, &self.source.subject)?);
        let preheader = match (&self.preheader, &self.source.preheader) {
            (Some(t), Some(src)) => Some(sanitize_text(&run(t, &raw, Part::Preheader, src)?)),
            _ => None,
        };
        let body_src = &self.source.body;
        let html = match &self.body {
            Body::Precompiled(t, _) | Body::Html(t) => run(t, &html_vars, Part::Body, body_src)?,
            Body::Mjml(t) => {
                let mjml = run(t, &html_vars, Part::Body, body_src)?;
                compile_mjml(&mjml).map_err(|(message, pos)| RenderError::Mjml {
                    at: location(&self.source, Part::Body, pos.map(|p| p.0), pos.map(|p| p.1)),
                    message,
                })?
            }
        };
        let html = match &preheader {
            Some(p) if !p.is_empty() => insert_preheader(&html, p),
            _ => html,
        };
        let text = match (&self.text, &self.source.text) {
            (Some(t), Some(src)) => Some(run(t, &raw, Part::Text, src)?),
            _ => None,
        };
        Ok(Rendered { subject, preheader, html, text })
    }

    fn run(
        &self,
        template: &liquid_core::Template,
        vars: &Object,
        part: Part,
        source: &str,
        now: tidings_model::Micros,
        deadline: Instant,
    ) -> Result<String, RenderError> {
        let runtime = Lenient(RuntimeBuilder::new().set_globals(vars).build());
        {
            let mut st = state(&runtime);
            st.limits = self.limits;
            st.deadline = Some(deadline);
            st.now = now;
        }
        let mut out = BoundedWriter::new(self.limits.max_output_bytes, Some(deadline), self.limits.time_budget);
        let result = template.render_to(&mut out, &runtime);
        let st = std::mem::take(&mut *runtime.registers().get_mut::<RenderState>());
        let at = |offset: Option<usize>| {
            let (line, column) = offset.map_or((None, None), |o| {
                let (l, c) = line_col(source, o);
                (Some(l), Some(c))
            });
            location(&self.source, part, line, column)
        };
        if let Some(limit) = out.exceeded.or(st.exceeded) {
            return Err(RenderError::Limit { at: at(None), limit });
        }
        if let Some(missing) = st.missing.first() {
            return Err(RenderError::MissingVariable {
                at: at(find_variable(source, &missing.path)),
                variable: missing.path.clone(),
            });
        }
        if let Err(e) = result {
            let e = LiquidError::parse(&e);
            return Err(RenderError::Liquid { at: at(e.offset_in(source)), message: e.describe() });
        }
        String::from_utf8(out.buf)
            .map_err(|_| RenderError::Liquid { at: at(None), message: "rendered text is not UTF-8".into() })
    }
}

fn to_object(v: &serde_json::Value) -> Object {
    liquid_core::model::to_object(v).unwrap_or_default()
}

/// The hidden preview text, first thing in the body. Padding after it keeps
/// clients from filling the preview with the start of the body.
fn insert_preheader(html: &str, preheader: &str) -> String {
    let div = format!(
        "<div style=\"display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;max-width:0px;opacity:0;overflow:hidden;\">{}{}</div>",
        escape_html(preheader),
        "&#847;&zwnj;&nbsp;".repeat(40)
    );
    let at = find_ci(html, 0, "<body").and_then(|b| html[b..].find('>').map(|e| b + e + 1)).unwrap_or(0);
    let mut out = String::with_capacity(html.len() + div.len());
    out.push_str(&html[..at]);
    out.push_str(&div);
    out.push_str(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markup_and_variables() {
        assert_eq!(liquid_markup("a {{ x }} b {% if y %}{ c }{% endif %}"), ["{{ x }}", "{% if y %}", "{% endif %}"]);
        let src = "profile.first\n{{ profile.first_name }}";
        assert_eq!(find_variable(src, "profile.first_name"), Some(17));
        assert_eq!(line_col(src, 17), (2, 4));
        assert_eq!(find_variable("my_profile.x profile.x", "profile.x"), Some(13));
    }
}
