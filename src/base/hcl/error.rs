//! HCL syntax errors, and the two ways of wording them.

use super::lex::{Pos, Token};

/// How syntax errors read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// As HashiCorp's HCL 1 library (so Vault) words them: `At 1:19: object expected closing
    /// RBRACE got: EOF`, the end of input one column past the last character; JSON errors bare.
    Hcl1,
    /// Plain English: `invalid HCL at 1:18: expected '}' but found end of input`, `invalid JSON: …`.
    Plain,
}

pub(super) struct Error {
    pub pos: Pos,
    /// Whether `pos` is where the input ends.
    pub at_end: bool,
    pub kind: Kind,
}

pub(super) enum Kind {
    IllegalChar(char),
    UnterminatedComment,
    UnterminatedString,
    InvalidEscape,
    /// End of input inside `{ … }`.
    UnclosedObject,
    /// End of input inside `[ … ]`.
    UnclosedList,
    ExpectedKey(Token),
    /// After the key (and labels) of an item.
    ExpectedAssign {
        key: String,
        found: Token,
    },
    ExpectedValue(Token),
    InvalidNumber(String),
    TooDeep,
}

impl Wording {
    pub(super) fn json(self, e: &serde_json::Error) -> String {
        match self {
            Wording::Hcl1 => e.to_string(),
            Wording::Plain => format!("invalid JSON: {e}"),
        }
    }

    fn token(self, t: &Token) -> String {
        let hcl1 = self == Wording::Hcl1;
        let (a, b) = match t {
            Token::Ident(s) if hcl1 => return format!("IDENT {s}"),
            Token::Ident(s) => return format!("identifier {s:?}"),
            Token::Num(n) if hcl1 => return format!("NUMBER {n}"),
            Token::Num(n) => return format!("number {n}"),
            Token::Str(_) => ("STRING", "string"),
            Token::LBrace => ("LBRACE", "'{'"),
            Token::RBrace => ("RBRACE", "'}'"),
            Token::LBrack => ("LBRACK", "'['"),
            Token::RBrack => ("RBRACK", "']'"),
            Token::Assign => ("ASSIGN", "'='"),
            Token::Comma => ("COMMA", "','"),
            Token::Eof => ("EOF", "end of input"),
        };
        (if hcl1 { a } else { b }).to_string()
    }
}

impl Error {
    pub(super) fn render(&self, wording: Wording) -> String {
        let t = |tok: &Token| wording.token(tok);
        let (line, col) = (self.pos.line, self.pos.col);
        let msg = match (wording, &self.kind) {
            (_, Kind::UnterminatedComment) => "comment not terminated".to_string(),
            (_, Kind::InvalidEscape) => "invalid escape sequence".to_string(),
            (_, Kind::InvalidNumber(n)) => format!("invalid number {n:?}"),
            (_, Kind::TooDeep) => "nesting too deep".to_string(),
            (Wording::Hcl1, Kind::IllegalChar(c)) => format!("illegal char {c:?}"),
            (Wording::Plain, Kind::IllegalChar(c)) => format!("illegal character {c:?}"),
            (Wording::Hcl1, Kind::UnterminatedString) => "literal not terminated".to_string(),
            (Wording::Plain, Kind::UnterminatedString) => "string not terminated".to_string(),
            (Wording::Hcl1, Kind::UnclosedObject) => "object expected closing RBRACE got: EOF".to_string(),
            (Wording::Plain, Kind::UnclosedObject) => "expected '}' but found end of input".to_string(),
            (Wording::Hcl1, Kind::UnclosedList) => "list expected closing RBRACK got: EOF".to_string(),
            (Wording::Plain, Kind::UnclosedList) => "expected ']' but found end of input".to_string(),
            (Wording::Hcl1, Kind::ExpectedKey(found)) => format!("expected: IDENT | STRING got: {}", t(found)),
            (Wording::Plain, Kind::ExpectedKey(found)) => format!("expected a key but found {}", t(found)),
            (Wording::Hcl1, Kind::ExpectedAssign { key, found }) => {
                format!("key '{key}' expected start of object ('{{') or assignment ('=') got: {}", t(found))
            }
            (Wording::Plain, Kind::ExpectedAssign { key, found }) => {
                format!("key {key:?}: expected '=' or '{{' but found {}", t(found))
            }
            (Wording::Hcl1, Kind::ExpectedValue(found)) => format!("Unknown token: {}", t(found)),
            (Wording::Plain, Kind::ExpectedValue(found)) => format!("expected a value but found {}", t(found)),
        };
        match wording {
            Wording::Hcl1 if self.at_end => format!("At {line}:{}: {msg}", col + 1),
            Wording::Hcl1 => format!("At {line}:{col}: {msg}"),
            Wording::Plain => format!("invalid HCL at {line}:{col}: {msg}"),
        }
    }
}
