//! The plain-text part generated from the HTML when a template has no text
//! body: paragraphs and headings as blocks, lists as `- ` items, links as
//! `text (url)`, hidden parts (the preheader, `display:none`), the head,
//! styles, scripts and Outlook conditional comments left out.

use crate::html::{Token, attr, decode_entities, is_void, tokenize};

/// Converts rendered email HTML into a readable text part.
pub fn html_to_text(html: &str) -> String {
    let mut w = TextWriter::default();
    let mut skip: Option<(String, usize)> = None;
    let mut lists: Vec<Option<u32>> = Vec::new();
    let mut links: Vec<Link> = Vec::new();
    for token in tokenize(html) {
        if let Some((name, depth)) = &mut skip {
            match token {
                Token::Start { name: n, self_closing: false, .. } if n.eq_ignore_ascii_case(name) && !is_void(n) => {
                    *depth += 1
                }
                Token::End { name: n } if n.eq_ignore_ascii_case(name) => {
                    *depth -= 1;
                    if *depth == 0 {
                        skip = None;
                    }
                }
                _ => {}
            }
            continue;
        }
        match token {
            Token::Text(t) => w.text(&decode_entities(t)),
            Token::RawText(_) | Token::Comment | Token::Other => {}
            Token::Start { name, attrs, self_closing } => {
                let lower = name.to_ascii_lowercase();
                let hidden = attr(&attrs, "style")
                    .and_then(|a| a.value)
                    .is_some_and(|s| s.replace(char::is_whitespace, "").to_ascii_lowercase().contains("display:none"))
                    || attr(&attrs, "hidden").is_some();
                let skipped = matches!(lower.as_str(), "head" | "title" | "script" | "style" | "template");
                if (hidden || skipped) && !self_closing && !is_void(&lower) {
                    skip = Some((lower, 1));
                    continue;
                }
                match lower.as_str() {
                    "br" => w.line_break(),
                    "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "hr" | "blockquote" | "pre" => w.block(2),
                    "ul" => {
                        w.block(if lists.is_empty() { 2 } else { 1 });
                        lists.push(None);
                    }
                    "ol" => {
                        w.block(if lists.is_empty() { 2 } else { 1 });
                        lists.push(Some(0));
                    }
                    "li" => {
                        w.block(1);
                        let indent = "  ".repeat(lists.len().saturating_sub(1));
                        let marker = match lists.last_mut() {
                            Some(Some(n)) => {
                                *n += 1;
                                format!("{indent}{n}. ")
                            }
                            _ => format!("{indent}- "),
                        };
                        w.raw(&marker);
                    }
                    "div" | "table" | "tr" | "td" | "th" | "section" | "article" | "header" | "footer" | "center"
                    | "dt" | "dd" => w.block(1),
                    "a" if !self_closing => {
                        let href =
                            attr(&attrs, "href").and_then(|a| a.value).map(|v| decode_entities(v).trim().to_string());
                        links.push(Link { href, text_start: w.out.len() });
                    }
                    "img" if !links.is_empty() => {
                        if let Some(alt) = attr(&attrs, "alt").and_then(|a| a.value) {
                            w.text(&decode_entities(alt));
                        }
                    }
                    _ => {}
                }
            }
            Token::End { name } => {
                let lower = name.to_ascii_lowercase();
                match lower.as_str() {
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                        w.underline(if lower == "h1" { '=' } else { '-' });
                        w.block(2);
                    }
                    "p" | "blockquote" | "pre" => w.block(2),
                    "ul" | "ol" => {
                        lists.pop();
                        w.block(if lists.is_empty() { 2 } else { 1 });
                    }
                    "li" | "div" | "table" | "tr" | "td" | "th" | "section" | "article" | "header" | "footer"
                    | "center" | "dt" | "dd" => w.block(1),
                    "a" => {
                        if let Some(link) = links.pop() {
                            w.close_link(link);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    w.finish()
}

struct Link {
    href: Option<String>,
    text_start: usize,
}

#[derive(Default)]
struct TextWriter {
    out: String,
    /// Newlines owed before the next visible text.
    pending: usize,
    /// A space is owed before the next word on the same line.
    space: bool,
}

impl TextWriter {
    fn text(&mut self, t: &str) {
        for (i, word) in t.split(|c: char| c.is_whitespace()).enumerate() {
            if i > 0 {
                self.space = true;
            }
            if word.is_empty() {
                continue;
            }
            self.flush();
            if self.space && !self.out.is_empty() && !self.out.ends_with(['\n', ' ']) {
                self.out.push(' ');
            }
            self.space = false;
            self.out.push_str(word);
        }
    }

    /// Text that must appear as written (list markers).
    fn raw(&mut self, t: &str) {
        self.flush();
        self.out.push_str(t);
        self.space = false;
    }

    fn flush(&mut self) {
        if self.pending > 0 && !self.out.is_empty() {
            let trimmed = self.out.trim_end_matches([' ', '\t']).len();
            self.out.truncate(trimmed);
            let have = self.out.len() - self.out.trim_end_matches('\n').len();
            for _ in have..self.pending {
                self.out.push('\n');
            }
            self.space = false;
        }
        self.pending = 0;
    }

    fn block(&mut self, lines: usize) {
        self.pending = self.pending.max(lines);
    }

    fn line_break(&mut self) {
        self.pending = (self.pending + 1).min(2);
        if self.out.is_empty() {
            self.pending = 0;
        }
    }

    fn underline(&mut self, c: char) {
        let line = self.out.rsplit('\n').next().unwrap_or("");
        let width = line.chars().count();
        if width > 0 && self.pending == 0 {
            self.out.push('\n');
            self.out.extend(std::iter::repeat_n(c, width));
        }
    }

    fn close_link(&mut self, link: Link) {
        let Some(href) = link.href else { return };
        let lower = href.to_ascii_lowercase();
        let shown = if let Some(addr) = lower.strip_prefix("mailto:") {
            href[href.len() - addr.len()..].to_string()
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            href.clone()
        } else {
            return;
        };
        let text = self.out.get(link.text_start..).unwrap_or("").trim();
        if text.is_empty() {
            self.text(&shown);
        } else if text != shown && text != href {
            self.out.push_str(" (");
            self.out.push_str(&shown);
            self.out.push(')');
        }
    }

    fn finish(mut self) -> String {
        let mut out = String::with_capacity(self.out.len() + 1);
        let mut blank = 0;
        for line in std::mem::take(&mut self.out).lines() {
            let line = line.trim_end();
            if line.trim().is_empty() {
                blank += 1;
                continue;
            }
            if !out.is_empty() {
                out.push_str(if blank > 0 { "\n\n" } else { "\n" });
            }
            blank = 0;
            out.push_str(line);
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_headings_lists_and_links() {
        let html = r#"<html><head><title>T</title><style>p{color:red}</style></head><body>
            <div style="display: none">preheader text</div>
            <h1>Your cart</h1>
            <p>Hi   <b>Ada</b>,<br>still thinking?</p>
            <ul><li>Red shoes</li><li><a href="https://shop.example/p/1?a=1&amp;b=2">Blue hat</a></li></ul>
            <ol><li>one</li><li>two</li></ol>
            <p><a href="https://shop.example/">https://shop.example/</a> or
               <a href="mailto:help@shop.example">write to us</a></p>
            <!--[if mso]><p>outlook only</p><![endif]-->
        </body></html>"#;
        let text = html_to_text(html);
        assert_eq!(
            text,
            "Your cart\n=========\n\nHi Ada,\nstill thinking?\n\n- Red shoes\n- Blue hat (https://shop.example/p/1?a=1&b=2)\n\n1. one\n2. two\n\nhttps://shop.example/ or write to us (help@shop.example)\n"
        );
    }

    #[test]
    fn image_links_use_alt_text() {
        let text = html_to_text(r#"<a href="https://x.example/"><img src="logo.png" alt="Shop"></a>"#);
        assert_eq!(text, "Shop (https://x.example/)\n");
    }
}
