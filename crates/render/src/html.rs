//! A small, forgiving HTML tokenizer: enough to find links, skip hidden
//! parts and turn a rendered email into text. It never fails: anything it
//! does not recognise is text. Attribute values keep their byte spans so a
//! caller can replace them in place without reserializing the document.

use std::borrow::Cow;
use std::ops::Range;

/// One piece of an HTML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Character data, entities still encoded.
    Text(&'a str),
    /// The contents of `<script>` or `<style>`, never parsed as markup.
    RawText(&'a str),
    /// `<name attr=...>`; `self_closing` for `<name ... />`.
    Start { name: &'a str, attrs: Vec<Attr<'a>>, self_closing: bool },
    /// `</name>`.
    End { name: &'a str },
    /// `<!-- ... -->`, including conditional comments for Outlook.
    Comment,
    /// `<!DOCTYPE ...>`, `<?...>` and other declarations.
    Other,
}

/// An attribute of a start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr<'a> {
    pub name: &'a str,
    /// The value as written (entities encoded), without quotes.
    pub value: Option<&'a str>,
    /// Where the value sits in the document, quotes included when quoted.
    pub value_span: Option<Range<usize>>,
}

impl<'a> Attr<'a> {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Finds an attribute by (case-insensitive) name.
pub(crate) fn attr<'t, 'a>(attrs: &'t [Attr<'a>], name: &str) -> Option<&'t Attr<'a>> {
    attrs.iter().find(|a| a.is(name))
}

/// Splits `html` into tokens, in document order.
pub(crate) fn tokenize(html: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let bytes = html.as_bytes();
    let mut pos = 0;
    let mut text_start = 0;
    while pos < bytes.len() {
        if bytes[pos] != b'<' {
            pos += 1;
            continue;
        }
        let Some((token, end)) = markup_at(html, pos) else {
            pos += 1;
            continue;
        };
        if text_start < pos {
            tokens.push(Token::Text(&html[text_start..pos]));
        }
        let raw_element = match &token {
            Token::Start { name, self_closing: false, .. }
                if name.eq_ignore_ascii_case("script") || name.eq_ignore_ascii_case("style") =>
            {
                Some(*name)
            }
            _ => None,
        };
        tokens.push(token);
        pos = end;
        if let Some(name) = raw_element {
            let close = find_ci(html, pos, &format!("</{name}")).unwrap_or(html.len());
            if close > pos {
                tokens.push(Token::RawText(&html[pos..close]));
            }
            pos = close;
        }
        text_start = pos;
    }
    if text_start < html.len() {
        tokens.push(Token::Text(&html[text_start..]));
    }
    tokens
}

/// Parses the markup starting at `start` (a `<`); `None` when it is just a `<` in text.
fn markup_at(html: &str, start: usize) -> Option<(Token<'_>, usize)> {
    let bytes = html.as_bytes();
    let rest = &html[start..];
    if rest.starts_with("<!--") {
        let end = html[start + 4..].find("-->").map(|i| start + 4 + i + 3).unwrap_or(html.len());
        return Some((Token::Comment, end));
    }
    let next = *bytes.get(start + 1)?;
    if next == b'!' || next == b'?' {
        let end = html[start..].find('>').map(|i| start + i + 1).unwrap_or(html.len());
        return Some((Token::Other, end));
    }
    if next == b'/' {
        let name_start = start + 2;
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let name_end = scan(bytes, name_start, is_name_byte);
        let end = html[name_end..].find('>').map(|i| name_end + i + 1).unwrap_or(html.len());
        return Some((Token::End { name: &html[name_start..name_end] }, end));
    }
    if !next.is_ascii_alphabetic() {
        return None;
    }
    let name_start = start + 1;
    let name_end = scan(bytes, name_start, is_name_byte);
    let name = &html[name_start..name_end];
    let mut attrs = Vec::new();
    let mut pos = name_end;
    loop {
        pos = scan(bytes, pos, |b| b.is_ascii_whitespace());
        match bytes.get(pos) {
            None => return Some((Token::Start { name, attrs, self_closing: false }, html.len())),
            Some(b'>') => return Some((Token::Start { name, attrs, self_closing: false }, pos + 1)),
            Some(b'/') if bytes.get(pos + 1) == Some(&b'>') => {
                return Some((Token::Start { name, attrs, self_closing: true }, pos + 2));
            }
            Some(b'/') => {
                pos += 1;
                continue;
            }
            _ => {}
        }
        let attr_start = pos;
        pos = scan(bytes, pos, |b| !b.is_ascii_whitespace() && b != b'=' && b != b'>' && b != b'/');
        if pos == attr_start {
            // A stray `=`: skip it so the loop always advances.
            pos += 1;
            continue;
        }
        let attr_name = &html[attr_start..pos];
        let after_name = scan(bytes, pos, |b| b.is_ascii_whitespace());
        if bytes.get(after_name) != Some(&b'=') {
            attrs.push(Attr { name: attr_name, value: None, value_span: None });
            continue;
        }
        pos = scan(bytes, after_name + 1, |b| b.is_ascii_whitespace());
        match bytes.get(pos) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let value_start = pos + 1;
                let value_end = html[value_start..].find(q as char).map(|i| value_start + i).unwrap_or(html.len());
                let span_end = (value_end + 1).min(html.len());
                attrs.push(Attr {
                    name: attr_name,
                    value: Some(&html[value_start..value_end]),
                    value_span: Some(pos..span_end),
                });
                pos = span_end;
            }
            _ => {
                let value_start = pos;
                pos = scan(bytes, pos, |b| !b.is_ascii_whitespace() && b != b'>');
                attrs.push(Attr {
                    name: attr_name,
                    value: Some(&html[value_start..pos]),
                    value_span: Some(value_start..pos),
                });
            }
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b':' || b == b'_'
}

fn scan(bytes: &[u8], mut pos: usize, keep: impl Fn(u8) -> bool) -> usize {
    while pos < bytes.len() && keep(bytes[pos]) {
        pos += 1;
    }
    pos
}

/// Case-insensitive (ASCII) search for `needle` from `from`.
pub(crate) fn find_ci(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (from..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Case-insensitive (ASCII) search for the last `needle`.
pub(crate) fn rfind_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).rev().find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Elements that never have content or an end tag.
pub(crate) fn is_void(name: &str) -> bool {
    const VOID: [&str; 14] =
        ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"];
    VOID.iter().any(|v| v.eq_ignore_ascii_case(name))
}

/// Escapes text for use in HTML content or a quoted attribute value.
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Decodes character references: the numeric forms and the named ones that
/// email HTML actually uses. Unknown names are left as written.
pub fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match decode_one(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes the reference at the start of `s` (which starts with `&`).
fn decode_one(s: &str) -> Option<(char, usize)> {
    let end = s[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '#')).map(|i| i + 1).unwrap_or(s.len());
    let body = &s[1..end];
    let len = if s[end..].starts_with(';') { end + 1 } else { end };
    if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return Some((char::from_u32(code).filter(|&c| c != '\0').unwrap_or('\u{FFFD}'), len));
    }
    let c = match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "zwnj" => '\u{200C}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "middot" => '·',
        "bull" => '•',
        _ => return None,
    };
    Some((c, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_tags_attributes_and_text() {
        let html = r#"<p class=x>Hi <a href="https://a.example/?a=1&amp;b=2" data-x>there</a><br/></p>"#;
        let tokens = tokenize(html);
        assert_eq!(tokens.len(), 7, "{tokens:?}");
        let Token::Start { name, attrs, .. } = &tokens[2] else { panic!() };
        assert_eq!(*name, "a");
        assert_eq!(attrs[0].value, Some("https://a.example/?a=1&amp;b=2"));
        let span = attrs[0].value_span.clone().unwrap();
        assert_eq!(&html[span], "\"https://a.example/?a=1&amp;b=2\"");
        assert_eq!(attrs[1].value, None);
        assert!(matches!(tokens[5], Token::Start { self_closing: true, .. }));
    }

    #[test]
    fn comments_and_raw_text_hide_markup() {
        let html = "<!--[if mso]><a href=\"x\">no</a><![endif]--><style>a>b{}</style><b>ok</b>";
        let tokens = tokenize(html);
        assert_eq!(tokens[0], Token::Comment);
        assert_eq!(tokens[2], Token::RawText("a>b{}"));
        assert_eq!(tokens[5], Token::Text("ok"));
    }

    #[test]
    fn stray_angle_brackets_are_text() {
        let tokens = tokenize("1 < 2 and 3 > 2 <");
        assert_eq!(tokens, vec![Token::Text("1 < 2 and 3 > 2 <")]);
    }

    #[test]
    fn entities_round_trip() {
        assert_eq!(decode_entities("a &amp; b &lt;&#39;&#x41;&nbsp;&bogus; &"), "a & b <'A\u{A0}&bogus; &");
        assert_eq!(escape_html("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
    }
}
