//! Template files and their front matter.
//!
//! A template is a file `templates/NAME.mjml` (or `NAME.html`) that starts
//! with a front-matter block, optionally beside a `templates/NAME.txt` text
//! body. Everything but `kind` and `topic` is Liquid.
//!
//! ```text
//! ---
//! subject: "{{ profile.first_name | default: 'Hi' }}, you left something behind"
//! preheader: Your cart is waiting
//! topic: cart
//! kind: marketing
//! ---
//! <mjml>
//!   <mj-body> ... </mj-body>
//! </mjml>
//! ```
//!
//! Front-matter keys: `subject` (required), `preheader`, `topic` (the
//! subscription topic a preference center can turn off) and `kind`
//! (`marketing`, the default, or `transactional`). Values are the rest of
//! the line, optionally in single or double quotes; `#` starts a comment
//! line. Unknown keys are errors, so a typo is never silently ignored.

use std::fmt;

/// Marketing email carries one-click unsubscribe and obeys consent;
/// transactional email (receipts, password resets) does neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Marketing,
    Transactional,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Marketing => "marketing",
            MessageKind::Transactional => "transactional",
        }
    }
}

/// How the body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// MJML, compiled to responsive HTML with `mrml`.
    Mjml,
    /// HTML used as written.
    Html,
}

/// Which part of a template something refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Subject,
    Preheader,
    Body,
    Text,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Preheader => "preheader",
            Part::Body => "body",
            Part::Text => "text",
        }
    }
}

/// Where in a template's files something is: `file:line:column`, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file name, like `cart.mjml` or `cart.txt`.
    pub file: String,
    pub part: Part,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if matches!(self.part, Part::Subject | Part::Preheader) {
            write!(f, " ({})", self.part.as_str())?;
        }
        Ok(())
    }
}

/// A template that cannot be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The file name is not `NAME.mjml`, `NAME.html` or `NAME.htm` with a
    /// name of letters, digits, `-` and `_`.
    #[error("{file}: template files are named NAME.mjml or NAME.html (letters, digits, - and _)")]
    FileName { file: String },
    /// The front-matter block is missing, unterminated, or has a bad line.
    #[error("{at}: {message}")]
    FrontMatter { at: Location, message: String },
    /// Liquid syntax the parser refused.
    #[error("{at}: {message}")]
    Liquid { at: Location, message: String },
    /// MJML that `mrml` refused.
    #[error("{at}: invalid MJML: {message}")]
    Mjml { at: Location, message: String },
    /// Blocks or elements nested deeper than [`crate::engine::MAX_TEMPLATE_DEPTH`] (elements: twice that).
    #[error(
        "{at}: {what} nest too deep (the limit is {} levels); split the template",
        crate::engine::MAX_TEMPLATE_DEPTH
    )]
    TooDeep { at: Location, what: &'static str },
}

/// A parsed template file, not yet compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    pub name: String,
    /// The body's file name (`cart.mjml`), for locations.
    pub file: String,
    pub subject: String,
    pub preheader: Option<String>,
    pub topic: Option<String>,
    pub kind: MessageKind,
    pub format: BodyFormat,
    pub body: String,
    pub text: Option<String>,
    /// Line numbers in the file of the subject and preheader values.
    pub(crate) subject_line: u32,
    pub(crate) preheader_line: u32,
    /// The file line of the body's first line, minus one.
    pub(crate) body_offset: u32,
}

impl TemplateSource {
    /// Parses `contents`, the file called `file_name`, with `text` the
    /// contents of its optional `.txt` companion.
    pub fn parse(file_name: &str, contents: &str, text: Option<&str>) -> Result<TemplateSource, TemplateError> {
        let (name, format) = split_file_name(file_name)?;
        let at = |line: usize, column: Option<usize>| Location {
            file: file_name.to_string(),
            part: Part::Body,
            line: Some(line as u32),
            column: column.map(|c| c as u32),
        };
        let fm_error = |line, column, message: &str| TemplateError::FrontMatter {
            at: at(line, column),
            message: message.to_string(),
        };
        let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
        let mut lines = contents.split_inclusive('\n');
        let first = lines.next().unwrap_or("");
        if first.trim_end() != "---" {
            return Err(fm_error(
                1,
                Some(1),
                "a template starts with a front-matter block: a line `---`, `key: value` lines, and a closing `---`",
            ));
        }
        let mut offset = first.len();
        let mut subject = None;
        let mut preheader = None;
        let mut topic = None;
        let mut kind = None;
        let mut closed = false;
        let mut line_no = 1;
        for line in lines {
            line_no += 1;
            offset += line.len();
            let trimmed = line.trim();
            if trimmed == "---" {
                closed = true;
                break;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((key, raw)) = line.split_once(':') else {
                return Err(fm_error(line_no, Some(1), "expected `key: value`"));
            };
            let key = key.trim();
            let value_col = key.len() + 2 + (raw.len() - raw.trim_start().len());
            let value =
                unquote(raw.trim()).ok_or_else(|| fm_error(line_no, Some(value_col), "unterminated quoted value"))?;
            let slot = match key {
                "subject" => &mut subject,
                "preheader" => &mut preheader,
                "topic" => &mut topic,
                "kind" => &mut kind,
                _ => {
                    return Err(fm_error(
                        line_no,
                        Some(1),
                        &format!("unknown key `{key}`; expected subject, preheader, topic or kind"),
                    ));
                }
            };
            if slot.is_some() {
                return Err(fm_error(line_no, Some(1), &format!("`{key}` is given twice")));
            }
            *slot = Some((value, line_no, value_col));
        }
        if !closed {
            return Err(fm_error(line_no, None, "the front-matter block is not closed with a `---` line"));
        }
        let Some((subject, subject_line, _)) = subject.filter(|(s, _, _)| !s.trim().is_empty()) else {
            return Err(fm_error(1, None, "the front matter has no `subject`"));
        };
        let kind = match kind {
            None => MessageKind::Marketing,
            Some((k, _, _)) if k == "marketing" => MessageKind::Marketing,
            Some((k, _, _)) if k == "transactional" => MessageKind::Transactional,
            Some((k, line, col)) => {
                return Err(fm_error(line, Some(col), &format!("kind is `marketing` or `transactional`, not `{k}`")));
            }
        };
        if let Some((t, line, col)) = &topic
            && (t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(fm_error(*line, Some(*col), "a topic is letters, digits, - and _"));
        }
        let body = contents[offset..].to_string();
        if body.trim().is_empty() {
            return Err(fm_error(line_no, None, "the template has no body after its front matter"));
        }
        Ok(TemplateSource {
            name,
            file: file_name.to_string(),
            subject,
            preheader_line: preheader.as_ref().map(|p| p.1 as u32).unwrap_or(0),
            preheader: preheader.map(|p| p.0),
            topic: topic.map(|t| t.0),
            kind,
            format,
            body,
            text: text.map(str::to_string),
            subject_line: subject_line as u32,
            body_offset: line_no as u32,
        })
    }

    /// The file name of the text body.
    pub fn text_file(&self) -> String {
        format!("{}.txt", self.name)
    }
}

fn split_file_name(file_name: &str) -> Result<(String, BodyFormat), TemplateError> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let err = || TemplateError::FileName { file: file_name.to_string() };
    let (name, ext) = base.rsplit_once('.').ok_or_else(err)?;
    let format = match ext.to_ascii_lowercase().as_str() {
        "mjml" => BodyFormat::Mjml,
        "html" | "htm" => BodyFormat::Html,
        _ => return Err(err()),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(err());
    }
    Ok((name.to_string(), format))
}

/// Strips matching quotes; `\"` and `\\` are escapes inside double quotes,
/// `''` inside single quotes. `None` for an unterminated quote.
fn unquote(v: &str) -> Option<String> {
    let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Some(v.to_string());
    };
    let inner = v.strip_prefix(q)?.strip_suffix(q)?;
    if v.len() < 2 {
        return None;
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (q, c) {
            ('"', '\\') => out.push(chars.next()?),
            ('\'', '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CART: &str = "---\n# the cart reminder\nsubject: \"Hi {{ profile.first_name }}, \\\"still\\\" there?\"\npreheader: 'It''s waiting'\ntopic: cart\nkind: marketing\n---\n<mjml><mj-body></mj-body></mjml>\n";

    #[test]
    fn parses_front_matter() {
        let t = TemplateSource::parse("cart.mjml", CART, Some("Hi")).unwrap();
        assert_eq!(t.name, "cart");
        assert_eq!(t.subject, "Hi {{ profile.first_name }}, \"still\" there?");
        assert_eq!(t.preheader.as_deref(), Some("It's waiting"));
        assert_eq!(t.topic.as_deref(), Some("cart"));
        assert_eq!(t.kind, MessageKind::Marketing);
        assert_eq!(t.format, BodyFormat::Mjml);
        assert_eq!(t.body, "<mjml><mj-body></mj-body></mjml>\n");
        assert_eq!((t.subject_line, t.preheader_line, t.body_offset), (3, 4, 7));
    }

    #[test]
    fn errors_are_located() {
        let err = |file: &str, src: &str| TemplateSource::parse(file, src, None).unwrap_err().to_string();
        assert_eq!(
            err("x.mjml", "<mjml/>"),
            "x.mjml:1:1: a template starts with a front-matter block: a line `---`, `key: value` lines, and a closing `---`"
        );
        assert_eq!(
            err("x.mjml", "---\nsubject: a\nsubjet: b\n---\nbody"),
            "x.mjml:3:1: unknown key `subjet`; expected subject, preheader, topic or kind"
        );
        assert_eq!(
            err("x.html", "---\nsubject: a\nkind: promo\n---\nbody"),
            "x.html:3:7: kind is `marketing` or `transactional`, not `promo`"
        );
        assert_eq!(err("x.html", "---\nsubject: \"a\n---\nbody"), "x.html:2:10: unterminated quoted value");
        assert_eq!(
            err("x.html", "---\nsubject: a\n"),
            "x.html:2: the front-matter block is not closed with a `---` line"
        );
        assert_eq!(err("x.html", "---\ntopic: a\n---\nbody"), "x.html:1: the front matter has no `subject`");
        assert!(err("../x.txt", "---\n").contains("template files are named"));
    }
}
