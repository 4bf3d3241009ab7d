//! Tokens → the tree of a whole HCL document (an object).

use super::error::{Error, Kind};
use super::lex::{self, Pos, Token};
use super::{Dialect, Entry, Node};

/// Parses a whole HCL document: the items of its top-level object.
pub(super) fn document(text: &str, dialect: &Dialect) -> Result<Node, Error> {
    let toks = lex::tokens(text)?;
    let end = toks.last().map_or(Pos { line: 1, col: 1 }, |(_, p)| *p);
    let mut p = Parser { toks, i: 0, end, dialect };
    Ok(Node::Obj(p.items(0, false)?))
}

struct Parser<'a> {
    toks: Vec<(Token, Pos)>,
    i: usize,
    /// Where the input ends (the position of `Eof`).
    end: Pos,
    dialect: &'a Dialect,
}

impl Parser<'_> {
    fn fail(&self, pos: Pos, kind: Kind) -> Error {
        Error { pos, at_end: pos == self.end, kind }
    }

    fn peek(&self) -> (&Token, Pos) {
        match self.toks.get(self.i).or_else(|| self.toks.last()) {
            Some((t, p)) => (t, *p),
            None => (&Token::Eof, Pos { line: 1, col: 1 }),
        }
    }

    fn advance(&mut self) -> (Token, Pos) {
        let (t, p) = self.peek();
        let out = (t.clone(), p);
        self.i += 1;
        out
    }

    /// The items of an object body, up to `}` (when `closing`) or the end of input.
    fn items(&mut self, depth: usize, closing: bool) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        loop {
            let (tok, pos) = self.peek();
            match tok {
                Token::Eof if closing => return Err(self.fail(pos, Kind::UnclosedObject)),
                Token::Eof => return Ok(out),
                Token::RBrace if closing => {
                    self.advance();
                    return Ok(out);
                }
                Token::Comma => {
                    self.advance();
                }
                Token::Ident(_) | Token::Str(_) => out.push(self.item(depth)?),
                other => return Err(self.fail(pos, Kind::ExpectedKey(other.clone()))),
            }
        }
    }

    /// `key ["label"…] = value` or `key ["label"…] { … }`; labels nest objects, as in HCL 1.
    fn item(&mut self, depth: usize) -> Result<Entry, Error> {
        let mut keys: Vec<(String, usize)> = Vec::new();
        let mut value = loop {
            let (tok, pos) = self.advance();
            match tok {
                Token::Ident(k) | Token::Str(k) => keys.push((k, pos.line)),
                Token::Assign if !keys.is_empty() => break self.value(depth + 1)?,
                Token::LBrace if !keys.is_empty() => break self.object(depth + 1, pos)?,
                found => {
                    let key = keys.first().map(|(k, _)| k.clone()).unwrap_or_default();
                    return Err(self.fail(pos, Kind::ExpectedAssign { key, found }));
                }
            }
        };
        // `path "x" { … }` is `path = { "x" = { … } }`.
        while keys.len() > 1 {
            if let Some((key, line)) = keys.pop() {
                value = Node::Obj(vec![Entry { key, line, value }]);
            }
        }
        let (key, line) = keys.pop().unwrap_or_default();
        Ok(Entry { key, line, value })
    }

    fn object(&mut self, depth: usize, pos: Pos) -> Result<Node, Error> {
        if depth > self.dialect.max_depth {
            return Err(self.fail(pos, Kind::TooDeep));
        }
        Ok(Node::Obj(self.items(depth, true)?))
    }

    fn value(&mut self, depth: usize) -> Result<Node, Error> {
        let (tok, pos) = self.advance();
        if depth > self.dialect.max_depth {
            return Err(self.fail(pos, Kind::TooDeep));
        }
        match tok {
            Token::Str(s) => Ok(Node::Str(s)),
            Token::Num(n) if self.dialect.json_numbers && n.parse::<serde_json::Number>().is_err() => {
                Err(self.fail(pos, Kind::InvalidNumber(n)))
            }
            Token::Num(n) => Ok(Node::Num(n)),
            Token::Ident(b) if b == "true" => Ok(Node::Bool(true)),
            Token::Ident(b) if b == "false" => Ok(Node::Bool(false)),
            Token::LBrace => self.object(depth, pos),
            Token::LBrack => self.list(depth),
            other => Err(self.fail(pos, Kind::ExpectedValue(other))),
        }
    }

    /// The rest of a list, after its `[`.
    fn list(&mut self, depth: usize) -> Result<Node, Error> {
        let mut items = Vec::new();
        loop {
            let (tok, pos) = self.peek();
            match tok {
                Token::RBrack => {
                    self.advance();
                    return Ok(Node::List(items));
                }
                Token::Comma => {
                    self.advance();
                }
                Token::Eof => return Err(self.fail(pos, Kind::UnclosedList)),
                _ => items.push(self.value(depth + 1)?),
            }
        }
    }
}
