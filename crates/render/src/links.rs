//! Link tracking: every `http(s)` link of a rendered message is rewritten to
//! `{base}/t/c/{token}`, an open pixel `{base}/t/o/{token}` is appended to
//! the HTML, and the unsubscribe and preference-center URLs are signed the
//! same way. See [`crate::tokens`] for what a token carries.
//!
//! Invariants:
//! - Only `http` and `https` links are rewritten; `mailto:`, `tel:`,
//!   anchors, links to our own base URL and links marked `data-notrack` are
//!   left exactly as written.
//! - The URL signed is the one a mail client would follow: the `href` with
//!   its character references decoded, so `&amp;` in HTML is `&` in the
//!   redirect.
//! - Link numbers are positions in the HTML, in document order; a text-part
//!   link to the same URL shares its number, so clicks from either part
//!   count for the same link.

use tidings_model::{ProfileId, WorkspaceId};

use crate::html::{Token, attr, decode_entities, escape_html, rfind_ci, tokenize};
use crate::tokens::{Action, Claims, SigningKeys};

/// Builds the signed URLs of one message to one recipient.
#[derive(Debug, Clone)]
pub struct LinkSigner<'k> {
    base_url: String,
    keys: &'k SigningKeys,
    workspace: WorkspaceId,
    message: String,
    profile: ProfileId,
}

impl<'k> LinkSigner<'k> {
    /// `base_url` is where the tracking endpoints are served, like
    /// `https://t.shop.example`; a trailing slash is ignored.
    pub fn new(
        base_url: &str,
        keys: &'k SigningKeys,
        workspace: WorkspaceId,
        message: &str,
        profile: ProfileId,
    ) -> Self {
        LinkSigner {
            base_url: base_url.trim_end_matches('/').to_string(),
            keys,
            workspace,
            message: message.to_string(),
            profile,
        }
    }

    fn token(&self, action: Action) -> String {
        self.keys.sign(&Claims {
            workspace: self.workspace,
            message: self.message.clone(),
            profile: self.profile,
            action,
        })
    }

    /// The tracking URL for link number `link`, which points to `url`.
    pub fn click_url(&self, link: u32, url: &str) -> String {
        format!("{}/t/c/{}", self.base_url, self.token(Action::Click { link, url: url.to_string() }))
    }

    /// The open pixel's URL.
    pub fn open_url(&self) -> String {
        format!("{}/t/o/{}", self.base_url, self.token(Action::Open))
    }

    /// The one-click unsubscribe URL (RFC 8058): a POST unsubscribes, a GET
    /// shows a confirmation page.
    pub fn unsubscribe_url(&self) -> String {
        format!("{}/u/{}", self.base_url, self.token(Action::Unsubscribe))
    }

    /// The preference center's URL.
    pub fn preferences_url(&self) -> String {
        format!("{}/p/{}", self.base_url, self.token(Action::Preferences))
    }

    /// Whether `url` points at our own endpoints (never tracked twice).
    pub fn is_own(&self, url: &str) -> bool {
        url.len() > self.base_url.len()
            && url.as_bytes()[..self.base_url.len()].eq_ignore_ascii_case(self.base_url.as_bytes())
            && url.as_bytes()[self.base_url.len()] == b'/'
    }
}

/// The links of a message, by number: `urls[i]` is where link `i` goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTable {
    pub urls: Vec<String>,
}

impl LinkTable {
    fn push(&mut self, url: &str) -> u32 {
        self.urls.push(url.to_string());
        (self.urls.len() - 1) as u32
    }

    fn find_or_push(&mut self, url: &str) -> u32 {
        match self.urls.iter().position(|u| u == url) {
            Some(i) => i as u32,
            None => self.push(url),
        }
    }
}

fn is_trackable(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") && url.len() > 7) || (lower.starts_with("https://") && url.len() > 8)
}

/// Rewrites every trackable `<a href>` of `html`, numbering links in
/// document order into `table`.
pub fn rewrite_html_links(html: &str, signer: &LinkSigner<'_>, table: &mut LinkTable) -> String {
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for token in tokenize(html) {
        let Token::Start { name, attrs, .. } = token else { continue };
        if !name.eq_ignore_ascii_case("a") || attr(&attrs, "data-notrack").is_some() {
            continue;
        }
        let Some(href) = attr(&attrs, "href") else { continue };
        let (Some(value), Some(span)) = (href.value, href.value_span.clone()) else { continue };
        let url = decode_entities(value);
        let url = url.trim();
        if !is_trackable(url) || signer.is_own(url) {
            continue;
        }
        let index = table.push(url);
        edits.push((span, format!("\"{}\"", escape_html(&signer.click_url(index, url)))));
    }
    apply_edits(html, edits)
}

fn apply_edits(text: &str, edits: Vec<(std::ops::Range<usize>, String)>) -> String {
    let mut out = String::with_capacity(text.len() + edits.len() * 160);
    let mut at = 0;
    for (span, replacement) in edits {
        out.push_str(&text[at..span.start]);
        out.push_str(&replacement);
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Rewrites bare `http(s)://` URLs in a text part. A URL already in `table`
/// (from the HTML) keeps its number.
pub fn rewrite_text_links(text: &str, signer: &LinkSigner<'_>, table: &mut LinkTable) -> String {
    let mut edits = Vec::new();
    for span in find_text_urls(text) {
        let url = &text[span.clone()];
        if signer.is_own(url) {
            continue;
        }
        let index = table.find_or_push(url);
        edits.push((span, signer.click_url(index, url)));
    }
    apply_edits(text, edits)
}

/// Finds URLs in plain text: `http://` or `https://` at a word start, up to
/// whitespace or `<>"`, without trailing punctuation or an unbalanced
/// closing bracket.
fn find_text_urls(text: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let scheme = if rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"https://") {
            8
        } else if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"http://") {
            7
        } else {
            i += 1;
            continue;
        };
        let boundary =
            i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b'<' | b'[' | b'"' | b'\'');
        if !boundary {
            i += scheme;
            continue;
        }
        let mut end = i + scheme;
        while end < bytes.len() && !bytes[end].is_ascii_whitespace() && !matches!(bytes[end], b'<' | b'>' | b'"') {
            end += 1;
        }
        while let Some(&last) = bytes.get(end - 1) {
            let unbalanced = |open: u8, close: u8| {
                last == close && {
                    let s = &bytes[i..end];
                    s.iter().filter(|&&b| b == close).count() > s.iter().filter(|&&b| b == open).count()
                }
            };
            if matches!(last, b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'')
                || unbalanced(b'(', b')')
                || unbalanced(b'[', b']')
            {
                end -= 1;
            } else {
                break;
            }
        }
        if end > i + scheme {
            found.push(i..end);
        }
        i = end.max(i + scheme);
    }
    found
}

/// Appends the open pixel just before `</body>` (or at the end).
pub fn append_open_pixel(html: &str, signer: &LinkSigner<'_>) -> String {
    let pixel = format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px;\" />",
        escape_html(&signer.open_url())
    );
    let at = rfind_ci(html, "</body").unwrap_or(html.len());
    let mut out = String::with_capacity(html.len() + pixel.len());
    out.push_str(&html[..at]);
    out.push_str(&pixel);
    out.push_str(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::verify;

    fn keys() -> SigningKeys {
        SigningKeys::new(vec![b"links-test-key-0123456789".to_vec()]).unwrap()
    }

    #[test]
    fn finds_text_urls_without_trailing_punctuation() {
        let text = "See https://a.example/x. Or (http://b.example/y) and https://c.example/(z), nohttp://d";
        let urls: Vec<&str> = find_text_urls(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(urls, ["https://a.example/x", "http://b.example/y", "https://c.example/(z)"]);
    }

    #[test]
    fn own_links_are_recognised() {
        let k = keys();
        let s = LinkSigner::new("https://t.example/", &k, WorkspaceId(1), "m", ProfileId(2));
        assert!(s.is_own("https://t.example/u/abc"));
        assert!(s.is_own("HTTPS://T.EXAMPLE/u/abc"));
        assert!(!s.is_own("https://t.example.evil/u/abc"));
        assert!(!s.is_own("https://t.example"));
    }

    #[test]
    fn html_and_text_links_share_numbers() {
        let k = keys();
        let s = LinkSigner::new("https://t.example", &k, WorkspaceId(1), "m", ProfileId(2));
        let mut table = LinkTable::default();
        let html = rewrite_html_links(
            r#"<a href='https://shop.example/a?x=1&amp;y=2'>A</a><a href=https://shop.example/b>B</a>"#,
            &s,
            &mut table,
        );
        let text = rewrite_text_links("B: https://shop.example/b and new https://shop.example/c", &s, &mut table);
        assert_eq!(table.urls, ["https://shop.example/a?x=1&y=2", "https://shop.example/b", "https://shop.example/c"]);
        let token = text.split("/t/c/").nth(1).unwrap().split(' ').next().unwrap();
        let claims = verify(token, &k).unwrap();
        assert_eq!(claims.action, Action::Click { link: 1, url: "https://shop.example/b".into() });
        assert_eq!(html.matches("https://t.example/t/c/").count(), 2);
        assert!(!html.contains("shop.example"));
    }
}
