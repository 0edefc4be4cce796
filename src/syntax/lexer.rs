//! The lexer: query text to [`Token`]s, each with the byte [`Span`] it
//! covers.
//!
//! Words (identifiers and keywords alike) are one token kind; the parser
//! decides which words are keywords, case-insensitively. `[bracketed]` and
//! `"double quoted"` identifiers and `'string'` literals carry their
//! unescaped value. `--` line comments and `/* */` block comments are
//! skipped. The lexer never panics: a character it cannot read, or an
//! unterminated string, identifier or comment, ends the token stream with a
//! [`LexError`] that the parser reports if it gets that far.

use crate::diag::{codes, Diagnostic, Span};

/// What kind of token, with the unescaped value of quoted forms.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// A bare word: an identifier or a keyword (the text is in the span).
    Word,
    /// `[name]`, with `]]` unescaped to `]`.
    BracketIdent(String),
    /// `"name"`, with `""` unescaped to `"`.
    QuotedIdent(String),
    /// `'text'`, with `''` unescaped to `'`.
    String(String),
    /// Digits only (the text is in the span).
    Integer,
    /// A number with a decimal point or an exponent (the text is in the span).
    Float,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `,`.
    Comma,
    /// `.`.
    Dot,
    /// `;`.
    Semicolon,
    /// `*`.
    Star,
    /// `+`.
    Plus,
    /// `-`.
    Minus,
    /// `/`.
    Slash,
    /// `%`.
    Percent,
    /// `&`.
    Amp,
    /// `|`.
    Pipe,
    /// `^`.
    Caret,
    /// `~`.
    Tilde,
    /// `?`.
    Question,
    /// `=`.
    Eq,
    /// `<>` or `!=`.
    NotEq,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
    /// `!<` (not less than, i.e. `>=`).
    NotLt,
    /// `!>` (not greater than, i.e. `<=`).
    NotGt,
    /// The end of the text (an empty span at its end).
    Eof,
}

/// One token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// The bytes it covers in the source.
    pub span: Span,
}

/// The result of lexing: the tokens read (always ending with
/// [`TokenKind::Eof`]) and the error that stopped the lexer, if any. On an
/// error the `Eof` token sits where the bad text starts.
#[derive(Clone, Debug)]
pub struct Lexed {
    /// Tokens in order, the last one `Eof`.
    pub tokens: Vec<Token>,
    /// Why lexing stopped early.
    pub error: Option<Diagnostic>,
}

/// Splits `source` into tokens.
pub fn tokenize(source: &str) -> Lexed {
    let mut lexer = Lexer {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
    };
    let error = lexer.run().err();
    let end = if error.is_some() {
        lexer.pos
    } else {
        source.len()
    };
    lexer.tokens.push(Token {
        kind: TokenKind::Eof,
        span: Span::new(end, end),
    });
    Lexed {
        tokens: lexer.tokens,
        error,
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
}

fn is_word_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Lexer<'_> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.src.get(at..).and_then(|s| s.chars().next())
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.pos),
        });
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(codes::SYNTAX, Span::new(start, end), message)
    }

    fn run(&mut self) -> Result<(), Diagnostic> {
        while let Some(c) = self.char_at(self.pos) {
            let start = self.pos;
            match c {
                // A byte-order mark counts as whitespace.
                c if c.is_whitespace() || c == '\u{feff}' => self.pos += c.len_utf8(),
                '-' if self.byte(start + 1) == Some(b'-') => {
                    while let Some(c) = self.char_at(self.pos) {
                        if c == '\n' {
                            break;
                        }
                        self.pos += c.len_utf8();
                    }
                }
                '/' if self.byte(start + 1) == Some(b'*') => self.block_comment()?,
                '\'' => {
                    let value = self.quoted(b'\'', "unterminated string literal")?;
                    self.push(TokenKind::String(value), start);
                }
                '"' => {
                    let value = self.quoted(b'"', "unterminated quoted identifier")?;
                    self.push(TokenKind::QuotedIdent(value), start);
                }
                '[' => {
                    let value = self.quoted(b']', "unterminated bracketed identifier")?;
                    self.push(TokenKind::BracketIdent(value), start);
                }
                '0'..='9' => self.number(),
                '.' if matches!(self.byte(start + 1), Some(b'0'..=b'9'))
                    && !self.after_operand() =>
                {
                    self.number()
                }
                c if is_word_start(c) => {
                    while let Some(c) = self.char_at(self.pos) {
                        if !is_word_char(c) {
                            break;
                        }
                        self.pos += c.len_utf8();
                    }
                    self.push(TokenKind::Word, start);
                }
                _ => self.punct(c, start)?,
            }
        }
        Ok(())
    }

    /// True when the previous token ends an operand, so that `.` must be a
    /// path separator rather than the start of a number like `.5`.
    fn after_operand(&self) -> bool {
        matches!(
            self.tokens.last(),
            Some(Token {
                kind: TokenKind::Word
                    | TokenKind::BracketIdent(_)
                    | TokenKind::QuotedIdent(_)
                    | TokenKind::RParen,
                span,
            }) if span.end == self.pos
        )
    }

    fn block_comment(&mut self) -> Result<(), Diagnostic> {
        let start = self.pos;
        self.pos += 2;
        loop {
            match self.byte(self.pos) {
                None => {
                    self.pos = start;
                    return Err(self
                        .error(start, start + 2, "unterminated block comment")
                        .with_help("Close the comment with `*/`."));
                }
                Some(b'*') if self.byte(self.pos + 1) == Some(b'/') => {
                    self.pos += 2;
                    return Ok(());
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Reads a quoted form that starts at `self.pos` and ends with `close`;
    /// a doubled `close` stands for one.
    fn quoted(&mut self, close: u8, unterminated: &str) -> Result<String, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut piece_start = self.pos;
        loop {
            match self.byte(self.pos) {
                None => {
                    self.pos = start;
                    return Err(self.error(start, start + 1, unterminated));
                }
                Some(b) if b == close => {
                    value.push_str(self.src.get(piece_start..self.pos).unwrap_or(""));
                    self.pos += 1;
                    if self.byte(self.pos) == Some(close) {
                        // A doubled quote: keep one and go on.
                        piece_start = self.pos;
                        self.pos += 1;
                    } else {
                        return Ok(value);
                    }
                }
                // Quote characters are ASCII, so stepping bytewise over
                // multi-byte characters is safe.
                Some(_) => self.pos += 1,
            }
        }
    }

    fn digits(&mut self) {
        while matches!(self.byte(self.pos), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn number(&mut self) {
        let start = self.pos;
        let mut float = false;
        self.digits();
        if self.byte(self.pos) == Some(b'.') && matches!(self.byte(self.pos + 1), Some(b'0'..=b'9'))
        {
            float = true;
            self.pos += 1;
            self.digits();
        }
        if matches!(self.byte(self.pos), Some(b'e' | b'E')) {
            let digits_at = match self.byte(self.pos + 1) {
                Some(b'+' | b'-') => self.pos + 2,
                _ => self.pos + 1,
            };
            if matches!(self.byte(digits_at), Some(b'0'..=b'9')) {
                float = true;
                self.pos = digits_at;
                self.digits();
            }
        }
        let kind = if float {
            TokenKind::Float
        } else {
            TokenKind::Integer
        };
        self.push(kind, start);
    }

    fn punct(&mut self, c: char, start: usize) -> Result<(), Diagnostic> {
        let next = self.byte(start + 1);
        let (kind, len) = match (c, next) {
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            ('{', _) => (TokenKind::LBrace, 1),
            ('}', _) => (TokenKind::RBrace, 1),
            (',', _) => (TokenKind::Comma, 1),
            ('.', _) => (TokenKind::Dot, 1),
            (';', _) => (TokenKind::Semicolon, 1),
            ('*', _) => (TokenKind::Star, 1),
            ('+', _) => (TokenKind::Plus, 1),
            ('-', _) => (TokenKind::Minus, 1),
            ('/', _) => (TokenKind::Slash, 1),
            ('%', _) => (TokenKind::Percent, 1),
            ('&', _) => (TokenKind::Amp, 1),
            ('|', _) => (TokenKind::Pipe, 1),
            ('^', _) => (TokenKind::Caret, 1),
            ('~', _) => (TokenKind::Tilde, 1),
            ('?', _) => (TokenKind::Question, 1),
            ('=', _) => (TokenKind::Eq, 1),
            ('<', Some(b'>')) => (TokenKind::NotEq, 2),
            ('<', Some(b'=')) => (TokenKind::LtEq, 2),
            ('<', _) => (TokenKind::Lt, 1),
            ('>', Some(b'=')) => (TokenKind::GtEq, 2),
            ('>', _) => (TokenKind::Gt, 1),
            ('!', Some(b'=')) => (TokenKind::NotEq, 2),
            ('!', Some(b'<')) => (TokenKind::NotLt, 2),
            ('!', Some(b'>')) => (TokenKind::NotGt, 2),
            _ => {
                let end = start + c.len_utf8();
                let message = if c.is_control() {
                    format!("unexpected character U+{:04X}", c as u32)
                } else {
                    format!("unexpected character '{c}'")
                };
                return Err(self.error(start, end, message));
            }
        };
        self.pos = start + len;
        self.push(kind, start);
        Ok(())
    }
}

/// The source text of a span (empty if the span does not fit the text).
pub fn text(source: &str, span: Span) -> &str {
    source.get(span.start..span.end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let lexed = tokenize(src);
        assert!(lexed.error.is_none(), "{:?}", lexed.error);
        lexed.tokens.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn words_numbers_and_operators() {
        use TokenKind::*;
        assert_eq!(
            kinds("a.b <> 1.5e3 !< 2 != x -- c\n/* d */ !>"),
            vec![Word, Dot, Word, NotEq, Float, NotLt, Integer, NotEq, Word, NotGt, Eof]
        );
    }

    #[test]
    fn quoted_forms_unescape() {
        assert_eq!(
            kinds("'it''s' [a]]b] \"x\"\"y\""),
            vec![
                TokenKind::String("it's".into()),
                TokenKind::BracketIdent("a]b".into()),
                TokenKind::QuotedIdent("x\"y".into()),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn spans_are_byte_ranges() {
        let src = "SELECT '茶' AS t";
        let lexed = tokenize(src);
        let texts: Vec<&str> = lexed.tokens.iter().map(|t| text(src, t.span)).collect();
        assert_eq!(texts, vec!["SELECT", "'茶'", "AS", "t", ""]);
    }

    #[test]
    fn byte_order_mark_and_crlf_are_whitespace() {
        use TokenKind::*;
        assert_eq!(
            kinds("\u{feff}SELECT\r\n a -- x\r\n"),
            vec![Word, Word, Eof]
        );
    }

    #[test]
    fn leading_dot_numbers_only_where_no_path() {
        use TokenKind::*;
        assert_eq!(kinds("x + .5"), vec![Word, Plus, Float, Eof]);
        assert_eq!(
            kinds("rec.[0]"),
            vec![Word, Dot, BracketIdent("0".into()), Eof]
        );
    }

    #[test]
    fn errors_stop_the_stream() {
        let lexed = tokenize("SELECT 'abc");
        let err = lexed.error.expect("error");
        assert_eq!(err.message, "unterminated string literal");
        assert_eq!(err.span(), Some(Span::new(7, 8)));
        assert_eq!(lexed.tokens.last().map(|t| t.span), Some(Span::new(7, 7)));
        let lexed = tokenize("SELECT a # b");
        assert_eq!(
            lexed.error.map(|e| e.message),
            Some("unexpected character '#'".to_string())
        );
        let lexed = tokenize("SELECT /* a");
        assert_eq!(
            lexed.error.map(|e| e.message),
            Some("unterminated block comment".to_string())
        );
    }
}
