//! The headers of a message: From, To, Subject, Date, Message-ID and, on
//! marketing email, RFC 8058 one-click unsubscribe (`List-Unsubscribe` with
//! an HTTPS URL and optionally a mailto, plus `List-Unsubscribe-Post`).
//!
//! Invariants:
//! - No text given here can add a header: control characters (CR, LF, NUL,
//!   TAB, C1 and Unicode line separators) in a subject or display name are
//!   replaced by spaces before anything else happens, and non-ASCII text is
//!   written as RFC 2047 encoded-words, so every physical line of
//!   [`Headers::to_rfc5322`] is either a `Name: value` line we wrote or a
//!   fold starting with a space.
//! - Marketing email cannot be built without an unsubscribe URL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use tidings_model::Micros;

use crate::template::MessageKind;

/// An address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name, already free of control characters.
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    /// Checks the address and cleans the display name (control characters
    /// become spaces; an empty name is no name).
    pub fn new(name: Option<&str>, address: &str) -> Result<Mailbox, HeaderError> {
        let address = address.trim();
        if !is_valid_address(address) {
            return Err(HeaderError::InvalidAddress(address.chars().take(200).collect()));
        }
        let name = name.map(sanitize_text).filter(|n| !n.is_empty());
        Ok(Mailbox { name, address: address.to_string() })
    }

    /// The mailbox as a header value: `"Name" <address>` with the name
    /// quoted or encoded as needed.
    pub fn encode(&self) -> String {
        match &self.name {
            None => format!("<{}>", self.address),
            Some(name) => format!("{} <{}>", encode_phrase(name), self.address),
        }
    }
}

/// An addr-spec we are willing to put in a header: one `@`, printable
/// ASCII without spaces, quotes, brackets, commas or semicolons, and a
/// dotted domain part. Deliberately stricter than RFC 5322.
fn is_valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else { return false };
    let ok_char = |c: char| {
        c.is_ascii_graphic() && !matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '"' | '\\' | '@')
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.is_empty()
        && a.len() <= 254
        && local.chars().all(ok_char)
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// Why headers could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// An address that is not a plain `local@domain`.
    #[error("invalid email address {0:?}")]
    InvalidAddress(String),
    /// A Message-ID that is not `<left@right>` in printable ASCII.
    #[error("invalid Message-ID {0:?}")]
    InvalidMessageId(String),
    /// Marketing email needs a one-click unsubscribe URL (RFC 8058).
    #[error("marketing email needs an unsubscribe URL")]
    MissingUnsubscribe,
    /// The unsubscribe URL must be HTTPS and the mailto a plain `mailto:`.
    #[error("invalid unsubscribe target {0:?}")]
    InvalidUnsubscribe(String),
    /// A date outside what an email header can say.
    #[error("date {0} cannot be written in a Date header")]
    InvalidDate(Micros),
}

/// What the caller knows about a message's headers.
#[derive(Debug, Clone)]
pub struct HeaderSpec<'a> {
    pub from: &'a Mailbox,
    pub to: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    pub subject: &'a str,
    pub date: Micros,
    /// Stable across retries, so a resend after a crash is recognisably the
    /// same message. Angle brackets are optional.
    pub message_id: &'a str,
    pub kind: MessageKind,
    /// The one-click URL (`{base}/u/{token}`); required for marketing.
    pub unsubscribe_url: Option<&'a str>,
    /// An extra `mailto:` target for clients that do not do one-click.
    pub unsubscribe_mailto: Option<&'a str>,
}

/// The headers of one message, values clean and ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub from: Mailbox,
    pub to: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The subject with control characters replaced; not yet encoded.
    pub subject: String,
    pub date: Micros,
    /// With angle brackets: `<left@right>`.
    pub message_id: String,
    /// `<https://...>` or `<https://...>, <mailto:...>`.
    pub list_unsubscribe: Option<String>,
    /// `List-Unsubscribe=One-Click` whenever `list_unsubscribe` is set.
    pub list_unsubscribe_post: Option<String>,
}

/// Builds and checks the headers of a message.
pub fn build_headers(spec: &HeaderSpec<'_>) -> Result<Headers, HeaderError> {
    let message_id = normalize_message_id(spec.message_id)?;
    if format_date(spec.date).is_none() {
        return Err(HeaderError::InvalidDate(spec.date));
    }
    let list_unsubscribe = match (spec.kind, spec.unsubscribe_url) {
        (MessageKind::Marketing, None) => return Err(HeaderError::MissingUnsubscribe),
        (_, None) => None,
        (_, Some(url)) => {
            if !(url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) || is_loopback_http(url))
                || !is_header_safe_uri(url)
            {
                return Err(HeaderError::InvalidUnsubscribe(url.chars().take(200).collect()));
            }
            let mut value = format!("<{url}>");
            if let Some(mailto) = spec.unsubscribe_mailto {
                if !mailto.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("mailto:")) || !is_header_safe_uri(mailto) {
                    return Err(HeaderError::InvalidUnsubscribe(mailto.chars().take(200).collect()));
                }
                value.push_str(&format!(", <{mailto}>"));
            }
            Some(value)
        }
    };
    let list_unsubscribe_post = list_unsubscribe.as_ref().map(|_| "List-Unsubscribe=One-Click".to_string());
    Ok(Headers {
        from: spec.from.clone(),
        to: spec.to.clone(),
        reply_to: spec.reply_to.cloned(),
        subject: sanitize_text(spec.subject),
        date: spec.date,
        message_id,
        list_unsubscribe,
        list_unsubscribe_post,
    })
}

/// RFC 8058 wants HTTPS; plain HTTP is allowed only to this machine
/// (`localhost`, `127.0.0.1`, `[::1]`), for trying things out and tests.
pub fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.get(..7).filter(|s| s.eq_ignore_ascii_case("http://")).map(|_| &url[7..]) else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    matches!(host.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "::1")
}

fn is_header_safe_uri(u: &str) -> bool {
    u.len() <= 900 && u.chars().all(|c| c.is_ascii_graphic() && c != '<' && c != '>' && c != ',')
}

fn normalize_message_id(id: &str) -> Result<String, HeaderError> {
    let bare = id.trim();
    let bare = bare.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(bare);
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let valid = bare.split_once('@').is_some_and(|(l, r)| {
        !l.is_empty() && !r.is_empty() && l.chars().all(atext) && r.chars().all(atext) && bare.len() <= 250
    });
    if valid { Ok(format!("<{bare}>")) } else { Err(HeaderError::InvalidMessageId(id.chars().take(200).collect())) }
}

/// RFC 5322 date in UTC, like `Thu, 1 Jan 2026 10:00:00 +0000`.
fn format_date(micros: Micros) -> Option<String> {
    let ts = Timestamp::from_microsecond(micros).ok()?;
    let zoned = ts.to_zoned_datetime(TimeZone::UTC);
    jiff::fmt::rfc2822::to_string(&zoned).ok()
}

impl Headers {
    /// The Date header's value.
    pub fn date_value(&self) -> String {
        format_date(self.date).expect("checked when built")
    }

    /// `(name, encoded value)` pairs in the order they are written. Values
    /// are RFC 2047 encoded where needed but not folded.
    pub fn encoded(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("From", self.from.encode()),
            ("To", self.to.encode()),
            ("Subject", encode_unstructured(&self.subject)),
            ("Date", self.date_value()),
            ("Message-ID", self.message_id.clone()),
        ];
        if let Some(r) = &self.reply_to {
            out.push(("Reply-To", r.encode()));
        }
        if let Some(v) = &self.list_unsubscribe {
            out.push(("List-Unsubscribe", v.clone()));
        }
        if let Some(v) = &self.list_unsubscribe_post {
            out.push(("List-Unsubscribe-Post", v.clone()));
        }
        out
    }

    /// The header block, folded at 78 columns where there is whitespace to
    /// fold at, lines ending in CRLF.
    pub fn to_rfc5322(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.encoded() {
            out.push_str(&fold(name, &value));
            out.push_str("\r\n");
        }
        out
    }
}

/// Replaces control characters (and Unicode line breaks) by spaces,
/// collapses runs of whitespace and trims: what is left fits on one line.
pub fn sanitize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() || matches!(c, '\u{2028}' | '\u{2029}') {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Encoded-words are used for non-ASCII text, for text that looks like an
/// encoded-word, and for words too long to fit a line unfolded.
fn needs_encoding(text: &str) -> bool {
    !text.chars().all(|c| c == ' ' || c.is_ascii_graphic())
        || text.contains("=?")
        || text.split(' ').any(|w| w.len() > 70)
}

/// An unstructured value (Subject): as is when printable ASCII, otherwise
/// UTF-8 B encoded-words of at most 75 characters each (RFC 2047 §2).
pub fn encode_unstructured(text: &str) -> String {
    if needs_encoding(text) { encoded_words(text) } else { text.to_string() }
}

/// A display name: an atom sequence, a quoted string, or encoded-words.
fn encode_phrase(name: &str) -> String {
    if needs_encoding(name) {
        return encoded_words(name);
    }
    let atext = |c: char| c == ' ' || c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if name.chars().all(atext) {
        return name.to_string();
    }
    let mut q = String::with_capacity(name.len() + 2);
    q.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn encoded_words(text: &str) -> String {
    // 36 bytes are 48 base64 characters, 60 with the "=?UTF-8?B?...?="
    // wrapper: short enough that even the first word, after "Subject: ",
    // keeps its line within RFC 2047's 76 characters.
    const MAX_BYTES: usize = 36;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX_BYTES {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk.as_bytes())));
    }
    words.join(" ")
}

/// Writes `Name: value`, folding before a space when a line would pass 78
/// characters. Never splits a word, so a long word makes a long line (at
/// most an encoded-word's 75 characters for encoded text).
fn fold(name: &str, value: &str) -> String {
    let mut out = format!("{name}:");
    let mut line = out.len();
    for word in value.split(' ') {
        if line + 1 + word.len() > 78 && line > name.len() + 1 {
            out.push_str("\r\n");
            line = 0;
        }
        out.push(' ');
        out.push_str(word);
        line += 1 + word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(from: &'a Mailbox, to: &'a Mailbox, subject: &'a str) -> HeaderSpec<'a> {
        HeaderSpec {
            from,
            to,
            reply_to: None,
            subject,
            date: 1_767_261_600_000_000,
            message_id: "abc.1@shop.example",
            kind: MessageKind::Marketing,
            unsubscribe_url: Some("https://t.shop.example/u/TOKEN"),
            unsubscribe_mailto: Some("mailto:unsub@shop.example?subject=unsubscribe"),
        }
    }

    #[test]
    fn builds_marketing_headers() {
        let from = Mailbox::new(Some("Shop, Inc."), "news@shop.example").unwrap();
        let to = Mailbox::new(Some("Zoë Ada"), "zoe@example.com").unwrap();
        let h = build_headers(&spec(&from, &to, "Hello\r\nBcc: x@evil.example")).unwrap();
        assert_eq!(h.subject, "Hello Bcc: x@evil.example");
        let block = h.to_rfc5322();
        assert_eq!(
            block,
            "From: \"Shop, Inc.\" <news@shop.example>\r\n\
             To: =?UTF-8?B?Wm/DqyBBZGE=?= <zoe@example.com>\r\n\
             Subject: Hello Bcc: x@evil.example\r\n\
             Date: Thu, 1 Jan 2026 10:00:00 +0000\r\n\
             Message-ID: <abc.1@shop.example>\r\n\
             List-Unsubscribe: <https://t.shop.example/u/TOKEN>,\r\n <mailto:unsub@shop.example?subject=unsubscribe>\r\n\
             List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        );
    }

    #[test]
    fn marketing_needs_an_https_unsubscribe_url() {
        let m = Mailbox::new(None, "a@b.example").unwrap();
        let mut s = spec(&m, &m, "x");
        s.unsubscribe_url = None;
        assert_eq!(build_headers(&s), Err(HeaderError::MissingUnsubscribe));
        s.unsubscribe_url = Some("http://t.example/u/x");
        assert!(matches!(build_headers(&s), Err(HeaderError::InvalidUnsubscribe(_))));
        for bad in ["http://127.0.0.1.evil.example/u/x", "http://localhost@evil.example/u/x", "ftp://localhost/u/x"] {
            s.unsubscribe_url = Some(bad);
            assert!(matches!(build_headers(&s), Err(HeaderError::InvalidUnsubscribe(_))), "{bad}");
        }
        for local in ["http://127.0.0.1:7411/u/x", "http://localhost/u/x", "http://[::1]:80/u/x"] {
            s.unsubscribe_url = Some(local);
            assert!(build_headers(&s).is_ok(), "{local}");
        }
        s.kind = MessageKind::Transactional;
        s.unsubscribe_url = None;
        let h = build_headers(&s).unwrap();
        assert_eq!(h.list_unsubscribe, None);
        assert_eq!(h.list_unsubscribe_post, None);
    }

    #[test]
    fn rejects_bad_addresses_and_ids() {
        for bad in ["", "a", "a@", "@b", "a b@c.example", "a@b.example>\r\nBcc: x", "a@b..example", "a<b@c.example"] {
            assert!(Mailbox::new(None, bad).is_err(), "{bad:?}");
        }
        let m = Mailbox::new(None, "a@b.example").unwrap();
        let mut s = spec(&m, &m, "x");
        for bad in ["", "no-at", "<a b@c>", "a@b>\r\nX: y"] {
            s.message_id = bad;
            assert!(matches!(build_headers(&s), Err(HeaderError::InvalidMessageId(_))), "{bad:?}");
        }
    }

    #[test]
    fn long_subjects_fold_and_encode_in_short_words() {
        let subject = "Ünïcödé ".repeat(20);
        let encoded = encode_unstructured(&sanitize_text(&subject));
        assert!(encoded.split(' ').all(|w| w.len() <= 75));
        let folded = fold("Subject", &encoded);
        assert!(folded.split("\r\n").all(|l| l.len() <= 76), "{folded}");
    }
}
