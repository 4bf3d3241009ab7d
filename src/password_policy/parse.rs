//! Password policy text → length and charset rules. JSON (first non-blank character `{`) goes
//! through serde_json; HCL through a small parser for the HCL 1 subset policies use (`key =
//! value`, labelled blocks, strings, integers, `#`, `//` and `/* */` comments). Both become the
//! same tree, which one decoder checks for unknown keys and wrong types.

use serde_json::Value;

/// Deepest nesting of blocks, lists and objects accepted.
const MAX_DEPTH: usize = 16;

/// What the text says, before the checks of `PasswordPolicy::build`.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Raw {
    pub length: Option<i64>,
    /// `(charset, min-chars)` per rule, in source order.
    pub rules: Vec<(String, i64)>,
}

/// Parses policy text. Errors carry no prefix; the caller adds one.
pub(super) fn parse(text: &str) -> Result<Raw, String> {
    let tree = if text.trim_start().starts_with('{') { json(text)? } else { hcl(text)? };
    decode(&tree)
}

/// A parsed value of either source form. Objects keep repeated keys and source order.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Str(String),
    /// The literal text of a number.
    Num(String),
    Bool(bool),
    List(Vec<Node>),
    Obj(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: String,
    /// 1-based source line (0 for JSON).
    line: usize,
    value: Node,
}

fn on_line(line: usize) -> String {
    if line > 0 {
        format!(" on line {line}")
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

fn json(text: &str) -> Result<Node, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(from_json(v))
}

fn from_json(v: Value) -> Node {
    match v {
        Value::Null => Node::List(Vec::new()),
        Value::Bool(b) => Node::Bool(b),
        Value::Number(n) => Node::Num(n.to_string()),
        Value::String(s) => Node::Str(s),
        Value::Array(a) => Node::List(a.into_iter().map(from_json).collect()),
        Value::Object(o) => {
            Node::Obj(o.into_iter().map(|(key, v)| Entry { key, line: 0, value: from_json(v) }).collect())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HCL lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Str(_) => "string".to_string(),
            Tok::Num(n) => format!("number {n}"),
            Tok::LBrace => "'{'".to_string(),
            Tok::RBrace => "'}'".to_string(),
            Tok::LBrack => "'['".to_string(),
            Tok::RBrack => "']'".to_string(),
            Tok::Assign => "'='".to_string(),
            Tok::Comma => "','".to_string(),
            Tok::Eof => "end of input".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pos {
    line: usize,
    col: usize,
}

fn at(pos: Pos, msg: impl std::fmt::Display) -> String {
    format!("invalid HCL at {}:{}: {msg}", pos.line, pos.col)
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

    fn skip_blank_and_comments(&mut self) -> Result<(), String> {
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
                                None => return Err(at(start, "comment not terminated")),
                            }
                        },
                        _ => return Err(at(start, "illegal character '/'")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn string(&mut self, start: Pos) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(at(start, "string not terminated")),
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
                            code = code * 16 + d.ok_or_else(|| at(start, "invalid escape sequence"))?;
                        }
                        out.push(char::from_u32(code).ok_or_else(|| at(start, "invalid escape sequence"))?);
                    }
                    _ => return Err(at(start, "invalid escape sequence")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn next_token(&mut self) -> Result<(Tok, Pos), String> {
        self.skip_blank_and_comments()?;
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok((Tok::Eof, start));
        };
        let tok = match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '[' => Tok::LBrack,
            ']' => Tok::RBrack,
            '=' => Tok::Assign,
            ',' => Tok::Comma,
            '"' => Tok::Str(self.string(start)?),
            c if c.is_ascii_digit() || c == '-' => {
                let mut s = String::from(c);
                while let Some(&d) = self.chars.peek() {
                    if d.is_ascii_alphanumeric() || matches!(d, '.' | '+' | '-') {
                        s.push(d);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Tok::Num(s)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                while let Some(&d) = self.chars.peek() {
                    if d.is_alphanumeric() || matches!(d, '_' | '-' | '.') {
                        s.push(d);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Tok::Ident(s)
            }
            other => return Err(at(start, format!("illegal character {other:?}"))),
        };
        Ok((tok, start))
    }
}

// ---------------------------------------------------------------------------------------------
// HCL parser

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
}

fn hcl(text: &str) -> Result<Node, String> {
    let mut lexer = Lexer { chars: text.chars().peekable(), pos: Pos { line: 1, col: 1 } };
    let mut toks = Vec::new();
    loop {
        let (tok, pos) = lexer.next_token()?;
        let end = tok == Tok::Eof;
        toks.push((tok, pos));
        if end {
            break;
        }
    }
    let mut p = Parser { toks, i: 0 };
    Ok(Node::Obj(p.items(0, false)?))
}

impl Parser {
    fn peek(&self) -> (&Tok, Pos) {
        match self.toks.get(self.i).or_else(|| self.toks.last()) {
            Some((t, p)) => (t, *p),
            None => (&Tok::Eof, Pos { line: 1, col: 1 }),
        }
    }

    fn advance(&mut self) -> (Tok, Pos) {
        let (t, p) = self.peek();
        let out = (t.clone(), p);
        self.i += 1;
        out
    }

    /// The items of an object body, up to `}` (when `closing`) or the end of input.
    fn items(&mut self, depth: usize, closing: bool) -> Result<Vec<Entry>, String> {
        let mut out = Vec::new();
        loop {
            let (tok, pos) = self.peek();
            match tok {
                Tok::Eof if closing => return Err(at(pos, "expected '}' but found end of input")),
                Tok::Eof => return Ok(out),
                Tok::RBrace if closing => {
                    self.advance();
                    return Ok(out);
                }
                Tok::Comma => {
                    self.advance();
                }
                Tok::Ident(_) | Tok::Str(_) => out.push(self.item(depth)?),
                other => return Err(at(pos, format!("expected a key but found {}", other.describe()))),
            }
        }
    }

    /// `key ["label"…] = value` or `key ["label"…] { … }`; labels nest objects, as in HCL 1.
    fn item(&mut self, depth: usize) -> Result<Entry, String> {
        let mut keys: Vec<(String, usize)> = Vec::new();
        let mut value = loop {
            let (tok, pos) = self.advance();
            match tok {
                Tok::Ident(k) | Tok::Str(k) => keys.push((k, pos.line)),
                Tok::Assign if !keys.is_empty() => break self.value(depth + 1)?,
                Tok::LBrace if !keys.is_empty() => break self.object(depth + 1, pos)?,
                other => {
                    let key = keys.first().map(|(k, _)| k.as_str()).unwrap_or_default();
                    return Err(at(pos, format!("key {key:?}: expected '=' or '{{' but found {}", other.describe())));
                }
            }
        };
        // `rule "charset" { … }` is `rule = { "charset" = { … } }`.
        while keys.len() > 1 {
            if let Some((key, line)) = keys.pop() {
                value = Node::Obj(vec![Entry { key, line, value }]);
            }
        }
        let (key, line) = keys.pop().unwrap_or_default();
        Ok(Entry { key, line, value })
    }

    fn object(&mut self, depth: usize, pos: Pos) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(at(pos, "nesting too deep"));
        }
        Ok(Node::Obj(self.items(depth, true)?))
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        let (tok, pos) = self.advance();
        if depth > MAX_DEPTH {
            return Err(at(pos, "nesting too deep"));
        }
        match tok {
            Tok::Str(s) => Ok(Node::Str(s)),
            Tok::Num(n) => Ok(Node::Num(n)),
            Tok::Ident(b) if b == "true" => Ok(Node::Bool(true)),
            Tok::Ident(b) if b == "false" => Ok(Node::Bool(false)),
            Tok::LBrace => self.object(depth, pos),
            Tok::LBrack => {
                let mut items = Vec::new();
                loop {
                    let (t, p) = self.peek();
                    match t {
                        Tok::RBrack => {
                            self.advance();
                            return Ok(Node::List(items));
                        }
                        Tok::Comma => {
                            self.advance();
                        }
                        Tok::Eof => return Err(at(p, "expected ']' but found end of input")),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            other => Err(at(pos, format!("expected a value but found {}", other.describe()))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tree → Raw

fn integer(key: &str, line: usize, v: &Node) -> Result<i64, String> {
    match v {
        Node::Num(n) => n.parse().map_err(|_| format!("{key}: expected an integer, got {n}{}", on_line(line))),
        _ => Err(format!("{key}: expected an integer{}", on_line(line))),
    }
}

fn decode(tree: &Node) -> Result<Raw, String> {
    let Node::Obj(top) = tree else {
        return Err("policy must be an object".to_string());
    };
    let mut raw = Raw::default();
    for e in top {
        match e.key.as_str() {
            "length" if raw.length.is_some() => return Err(format!("length given twice{}", on_line(e.line))),
            "length" => raw.length = Some(integer("length", e.line, &e.value)?),
            "rule" => rules(&e.value, e.line, &mut raw.rules)?,
            other => return Err(format!("invalid key {other:?}{}", on_line(e.line))),
        }
    }
    Ok(raw)
}

/// The value of `rule`: `{ <type> = <body> … }`, or a list of those (a repeated block, or JSON).
fn rules(v: &Node, line: usize, out: &mut Vec<(String, i64)>) -> Result<(), String> {
    match v {
        Node::Obj(entries) => {
            for e in entries {
                match e.key.as_str() {
                    "charset" => charset_rules(&e.value, e.line, out)?,
                    other => return Err(format!("unrecognized rule type {other:?}{}", on_line(e.line))),
                }
            }
            Ok(())
        }
        Node::List(items) => items.iter().try_for_each(|i| rules(i, line, out)),
        _ => Err(format!("rule: expected a block{}", on_line(line))),
    }
}

/// The body of a `rule "charset"`: one object, or a list of them.
fn charset_rules(v: &Node, line: usize, out: &mut Vec<(String, i64)>) -> Result<(), String> {
    let entries = match v {
        Node::Obj(entries) => entries,
        Node::List(items) => return items.iter().try_for_each(|i| charset_rules(i, line, out)),
        _ => return Err(format!("rule \"charset\": expected a block{}", on_line(line))),
    };
    let (mut charset, mut min_chars) = (None, None);
    for e in entries {
        match e.key.as_str() {
            "charset" if charset.is_some() => {
                return Err(format!("rule \"charset\": charset given twice{}", on_line(e.line)));
            }
            "charset" => match &e.value {
                Node::Str(s) => charset = Some(s.clone()),
                _ => return Err(format!("rule \"charset\": charset must be a string{}", on_line(e.line))),
            },
            "min-chars" if min_chars.is_some() => {
                return Err(format!("rule \"charset\": min-chars given twice{}", on_line(e.line)));
            }
            "min-chars" => min_chars = Some(integer("rule \"charset\": min-chars", e.line, &e.value)?),
            other => return Err(format!("rule \"charset\": invalid key {other:?}{}", on_line(e.line))),
        }
    }
    let charset = charset.ok_or_else(|| format!("rule \"charset\": missing charset{}", on_line(line)))?;
    out.push((charset, min_chars.unwrap_or(0)));
    Ok(())
}
