//! Text to tokens. The lexer never fails: what it cannot read becomes a
//! diagnostic and, where the parser could not go on sensibly, an `Error`
//! token that makes the enclosing definition fail without a second message.

use crate::ast::{CmpOp, Span};
use crate::diagnostic::{Code, Diagnostic};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    /// `[A-Za-z_][A-Za-z0-9_]*`: keywords, keys and path segments alike; the
    /// parser decides by position.
    Word(&'a str),
    /// A string literal, unescaped.
    Str(String),
    /// `-?[0-9]+(\.[0-9]+)?` with whatever letters or `%` follow it directly
    /// (`7d`, `60%`, `7days`); the parser reads it as a duration, a count or a
    /// number depending on where it stands.
    Num(Num<'a>),
    Punct(Punct),
    Cmp(CmpOp),
    Error,
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Num<'a> {
    pub digits: &'a str,
    pub suffix: &'a str,
}

impl Num<'_> {
    pub fn is_integer(&self) -> bool {
        !self.digits.contains('.') && !self.digits.starts_with('-')
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Punct {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Dot,
}

impl Punct {
    pub fn as_str(self) -> &'static str {
        match self {
            Punct::LBrace => "{",
            Punct::RBrace => "}",
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::LBracket => "[",
            Punct::RBracket => "]",
            Punct::Comma => ",",
            Punct::Colon => ":",
            Punct::Dot => ".",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub span: Span,
}

/// Splits `text` into tokens, ending with exactly one `Eof`.
pub(crate) fn lex<'a>(text: &'a str, file: &str, diags: &mut Vec<Diagnostic>) -> Vec<Token<'a>> {
    let mut lx = Lexer { text, pos: 0, file, diags, out: Vec::new() };
    lx.run();
    // "Found the end of the file" points just past the last text, not at an
    // empty line after it.
    let last = lx.out.last().map_or(0, |t| t.span.end);
    let end = text.trim_end().len().max(last);
    lx.out.push(Token { tok: Tok::Eof, span: Span::at(end) });
    lx.out
}

struct Lexer<'a, 'd> {
    text: &'a str,
    pos: usize,
    file: &'d str,
    diags: &'d mut Vec<Diagnostic>,
    out: Vec<Token<'a>>,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a, '_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn eat_while(&mut self, f: impl Fn(char) -> bool) {
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn push(&mut self, tok: Tok<'a>, start: usize) {
        self.out.push(Token { tok, span: Span::new(start, self.pos) });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                _ if c.is_whitespace() => self.eat_while(char::is_whitespace),
                '#' => self.eat_while(|c| c != '\n'),
                '"' => self.string(),
                _ if c.is_ascii_digit() => self.number(),
                '-' if self.peek2().is_some_and(|c| c.is_ascii_digit()) => self.number(),
                _ if is_word_start(c) => {
                    self.eat_while(is_word_char);
                    self.push(Tok::Word(&self.text[start..self.pos]), start);
                }
                '=' | '!' | '<' | '>' => self.operator(c),
                _ => {
                    if let Some(p) = punct(c) {
                        self.pos += 1;
                        self.push(Tok::Punct(p), start);
                    } else {
                        self.unexpected(c);
                    }
                }
            }
        }
    }

    fn operator(&mut self, c: char) {
        let start = self.pos;
        self.pos += 1;
        let eq = self.peek() == Some('=');
        if eq {
            self.pos += 1;
        }
        let op = match (c, eq) {
            ('=', true) => CmpOp::Eq,
            ('!', true) => CmpOp::Ne,
            ('<', false) => CmpOp::Lt,
            ('<', true) => CmpOp::Le,
            ('>', false) => CmpOp::Gt,
            ('>', true) => CmpOp::Ge,
            ('=', false) => {
                let span = Span::new(start, self.pos);
                self.diags.push(
                    Diagnostic::new(Code::SingleEquals, self.file, span, "`=` is not an operator")
                        .with_label("expected `==`")
                        .with_help("compare with `==`")
                        .with_fix(span, "=="),
                );
                // Read on as the comparison that was surely meant.
                CmpOp::Eq
            }
            _ => {
                let span = Span::new(start, self.pos);
                self.diags.push(
                    Diagnostic::new(Code::UnexpectedCharacter, self.file, span, "unexpected character `!`")
                        .with_help("write `!=` for \"not equal\", or `not` to negate a condition"),
                );
                self.push(Tok::Error, start);
                return;
            }
        };
        self.push(Tok::Cmp(op), start);
    }

    fn number(&mut self) {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        self.eat_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') && self.peek2().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.eat_while(|c| c.is_ascii_digit());
        }
        let digits = &self.text[start..self.pos];
        let suffix_start = self.pos;
        match self.peek() {
            Some('%') => self.pos += 1,
            Some(c) if is_word_start(c) => self.eat_while(is_word_char),
            _ => {}
        }
        let suffix = &self.text[suffix_start..self.pos];
        self.push(Tok::Num(Num { digits, suffix }), start);
    }

    fn string(&mut self) {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => {
                    let span = Span::new(start, self.pos);
                    self.diags.push(
                        Diagnostic::new(Code::UnterminatedString, self.file, span, "unterminated string")
                            .with_label("this string has no closing `\"`")
                            .with_help("strings end on the line they start; close it with `\"`"),
                    );
                    self.push(Tok::Error, start);
                    return;
                }
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    let esc_start = self.pos;
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('"' | '\\')) => {
                            value.push(c);
                            self.pos += 1;
                        }
                        Some(c) if c != '\n' => {
                            self.pos += c.len_utf8();
                            let span = Span::new(esc_start, self.pos);
                            self.diags.push(
                                Diagnostic::new(
                                    Code::InvalidEscape,
                                    self.file,
                                    span,
                                    format!("unknown escape `\\{c}`"),
                                )
                                .with_help("the only escapes are `\\\"` and `\\\\`"),
                            );
                            value.push(c);
                        }
                        // A backslash at the end of the line: the string is
                        // unterminated, reported above on the next turn.
                        _ => {}
                    }
                }
                Some(c) => {
                    value.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        // A bad escape was reported above; the string still reads on so that
        // the rest of the definition gets checked.
        self.push(Tok::Str(value), start);
    }

    fn unexpected(&mut self, first: char) {
        let start = self.pos;
        // One message for a run of junk, not one per character.
        self.eat_while(|c| {
            !(c.is_whitespace()
                || c == '"'
                || c == '#'
                || c.is_ascii_alphanumeric()
                || c == '_'
                || punct(c).is_some()
                || matches!(c, '=' | '!' | '<' | '>' | '-'))
        });
        if self.pos == start {
            // A lone `-` not followed by a digit.
            self.pos += first.len_utf8();
        }
        let span = Span::new(start, self.pos);
        let mut d = Diagnostic::new(
            Code::UnexpectedCharacter,
            self.file,
            span,
            format!("unexpected character `{}`", first.escape_debug()),
        );
        d = match first {
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => {
                d.with_help("strings use straight double quotes: `\"`")
            }
            '&' => d.with_help("write `and`"),
            '|' => d.with_help("write `or`"),
            '\'' => d.with_help("strings use double quotes: `\"`"),
            '-' => d.with_help("keys use `_` rather than `-`; a negative number is written `-5`"),
            _ => d,
        };
        self.diags.push(d);
        self.push(Tok::Error, start);
    }
}

fn punct(c: char) -> Option<Punct> {
    Some(match c {
        '{' => Punct::LBrace,
        '}' => Punct::RBrace,
        '(' => Punct::LParen,
        ')' => Punct::RParen,
        '[' => Punct::LBracket,
        ']' => Punct::RBracket,
        ',' => Punct::Comma,
        ':' => Punct::Colon,
        '.' => Punct::Dot,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> (Vec<Tok<'_>>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let t = lex(text, "t", &mut d).into_iter().map(|t| t.tok).collect();
        (t, d)
    }

    #[test]
    fn words_numbers_strings() {
        let (t, d) = toks(r#"did "A \"b\" \\" in last 7d >= 60% -1.5 # comment"#);
        assert!(d.is_empty());
        assert_eq!(
            t,
            vec![
                Tok::Word("did"),
                Tok::Str("A \"b\" \\".into()),
                Tok::Word("in"),
                Tok::Word("last"),
                Tok::Num(Num { digits: "7", suffix: "d" }),
                Tok::Cmp(CmpOp::Ge),
                Tok::Num(Num { digits: "60", suffix: "%" }),
                Tok::Num(Num { digits: "-1.5", suffix: "" }),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn errors_are_reported_once_and_lexing_goes_on() {
        let (t, d) = toks("a @@@ b \"open\nc");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].code, Code::UnexpectedCharacter);
        assert_eq!(d[1].code, Code::UnterminatedString);
        assert_eq!(t.last(), Some(&Tok::Eof));
        assert!(t.contains(&Tok::Word("c")));
    }
}
