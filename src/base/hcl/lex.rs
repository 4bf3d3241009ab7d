//! HCL text → tokens, each with the position it starts at.

use super::error::{Error, Kind};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Ident(String),
    Str(String),
    Num(String),
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    Assign,
    Comma,
    Eof,
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// All the tokens of `text`, ending with one `Eof` (placed where the input ends).
pub(super) fn tokens(text: &str) -> Result<Vec<(Token, Pos)>, Error> {
    let mut lexer = Lexer { chars: text.chars().peekable(), pos: Pos { line: 1, col: 1 } };
    let mut toks = Vec::new();
    loop {
        let (tok, pos) = lexer.next_token()?;
        let end = tok == Token::Eof;
        toks.push((tok, pos));
        if end {
            return Ok(toks);
        }
    }
}

fn fail(pos: Pos, kind: Kind) -> Error {
    Error { pos, at_end: false, kind }
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Pos,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn skip_blank_and_comments(&mut self) -> Result<(), Error> {
        loop {
            match self.chars.peek().copied() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                Some('/') => {
                    let start = self.pos;
                    self.bump();
                    match self.bump() {
                        Some('/') => self.skip_line(),
                        Some('*') => loop {
                            match self.bump() {
                                Some('*') if self.chars.peek() == Some(&'/') => {
                                    self.bump();
                                    break;
                                }
                                Some(_) => {}
                                None => return Err(fail(start, Kind::UnterminatedComment)),
                            }
                        },
                        _ => return Err(fail(start, Kind::IllegalChar('/'))),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn string(&mut self, start: Pos) -> Result<String, Error> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(fail(start, Kind::UnterminatedString)),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some(u @ ('u' | 'U')) => {
                        let len = if u == 'u' { 4 } else { 8 };
                        let mut code = 0u32;
                        for _ in 0..len {
                            let d = self.bump().and_then(|c| c.to_digit(16));
                            code = code * 16 + d.ok_or_else(|| fail(start, Kind::InvalidEscape))?;
                        }
                        out.push(char::from_u32(code).ok_or_else(|| fail(start, Kind::InvalidEscape))?);
                    }
                    _ => return Err(fail(start, Kind::InvalidEscape)),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// `first` and the characters after it that `more` accepts.
    fn word(&mut self, first: char, more: impl Fn(char) -> bool) -> String {
        let mut s = String::from(first);
        while let Some(&d) = self.chars.peek() {
            if !more(d) {
                break;
            }
            s.push(d);
            self.bump();
        }
        s
    }

    fn next_token(&mut self) -> Result<(Token, Pos), Error> {
        self.skip_blank_and_comments()?;
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok((Token::Eof, start));
        };
        let tok = match c {
            '{' => Token::LBrace,
            '}' => Token::RBrace,
            '[' => Token::LBrack,
            ']' => Token::RBrack,
            '=' => Token::Assign,
            ',' => Token::Comma,
            '"' => Token::Str(self.string(start)?),
            c if c.is_ascii_digit() || c == '-' => {
                Token::Num(self.word(c, |d| d.is_ascii_alphanumeric() || matches!(d, '.' | '+' | '-')))
            }
            c if c.is_alphabetic() || c == '_' => {
                Token::Ident(self.word(c, |d| d.is_alphanumeric() || matches!(d, '_' | '-' | '.')))
            }
            other => return Err(fail(start, Kind::IllegalChar(other))),
        };
        Ok((tok, start))
    }
}
