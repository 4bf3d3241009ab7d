//! Policy source text → rules. JSON (first non-blank character `{`) goes through serde_json; HCL
//! through a small parser for the HCL 1 subset that policies use (blocks, `key = value`, strings,
//! numbers, booleans, lists, objects, `#`, `//` and `/* */` comments). Both forms become the same
//! tree, so one decoder gives them identical meaning.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Capabilities, Capability, PathRule, Permissions};
use crate::policy::pattern::Pattern;

/// Deepest nesting of lists and objects accepted in HCL (JSON stops at serde_json's 128).
const MAX_DEPTH: usize = 32;

/// A parsed value of either source form. Objects keep repeated keys and source order.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    List(Vec<Node>),
    Obj(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: String,
    /// 1-based source line (0 for JSON, which has none to report).
    line: usize,
    value: Node,
}

/// Parses policy text into its rules, in source order. Errors carry no `failed to parse policy`
/// prefix; the caller adds it.
pub(super) fn rules(text: &str) -> Result<Vec<PathRule>, String> {
    let tree = if text.trim_start().starts_with('{') { json(text)? } else { hcl(text)? };
    decode(&tree)
}

// ---------------------------------------------------------------------------------------------
// JSON

fn json(text: &str) -> Result<Node, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(from_json(v))
}

fn from_json(v: Value) -> Node {
    match v {
        Value::Null => Node::List(Vec::new()),
        Value::Bool(b) => Node::Bool(b),
        Value::Number(n) => Node::Num(n),
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
            Tok::Ident(s) => format!("IDENT {s}"),
            Tok::Str(_) => "STRING".to_string(),
            Tok::Num(n) => format!("NUMBER {n}"),
            Tok::LBrace => "LBRACE".to_string(),
            Tok::RBrace => "RBRACE".to_string(),
            Tok::LBrack => "LBRACK".to_string(),
            Tok::RBrack => "RBRACK".to_string(),
            Tok::Assign => "ASSIGN".to_string(),
            Tok::Comma => "COMMA".to_string(),
            Tok::Eof => "EOF".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pos {
    line: usize,
    col: usize,
}

fn at(pos: Pos, msg: impl std::fmt::Display) -> String {
    format!("At {}:{}: {msg}", pos.line, pos.col)
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
                        _ => return Err(at(start, "illegal char '/'")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn string(&mut self, start: Pos) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(at(start, "literal not terminated")),
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
            // HCL 1 reports the end of input one column past the last character.
            return Ok((Tok::Eof, Pos { line: start.line, col: start.col + 1 }));
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
            other => return Err(at(start, format!("illegal char {other:?}"))),
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
                Tok::Eof if closing => return Err(at(pos, "object expected closing RBRACE got: EOF")),
                Tok::Eof => return Ok(out),
                Tok::RBrace if closing => {
                    self.advance();
                    return Ok(out);
                }
                Tok::Comma => {
                    self.advance();
                }
                Tok::Ident(_) | Tok::Str(_) => out.push(self.item(depth)?),
                other => return Err(at(pos, format!("expected: IDENT | STRING got: {}", other.describe()))),
            }
        }
    }

    /// `key ["key"…] = value` or `key ["key"…] { … }`; extra keys nest objects, as in HCL 1.
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
                    return Err(at(
                        pos,
                        format!(
                            "key '{key}' expected start of object ('{{') or assignment ('=') got: {}",
                            other.describe()
                        ),
                    ));
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
            Tok::Num(n) => n.parse().map(Node::Num).map_err(|_| at(pos, format!("invalid number {n:?}"))),
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
                        Tok::Eof => return Err(at(p, "list expected closing RBRACK got: EOF")),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            other => Err(at(pos, format!("Unknown token: {}", other.describe()))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tree → rules

fn on_line(line: usize) -> String {
    if line > 0 {
        format!(" on line {line}")
    } else {
        String::new()
    }
}

fn decode(tree: &Node) -> Result<Vec<PathRule>, String> {
    let Node::Obj(top) = tree else {
        return Err("policy must be an object".to_string());
    };
    let mut rules = Vec::new();
    for e in top {
        match e.key.as_str() {
            "name" => {}
            "path" => paths(&e.value, &mut rules)?,
            other => return Err(format!("invalid key {other:?}{}", on_line(e.line))),
        }
    }
    Ok(rules)
}

fn paths(v: &Node, rules: &mut Vec<PathRule>) -> Result<(), String> {
    match v {
        Node::Obj(entries) => {
            for e in entries {
                rules.push(rule(&e.key, &e.value)?);
            }
            Ok(())
        }
        Node::List(items) => items.iter().try_for_each(|i| paths(i, rules)),
        _ => Err("path: must be an object".to_string()),
    }
}

/// The entries of a rule body: one object, or a list of objects (a repeated block).
fn body_entries<'a>(path: &str, v: &'a Node, out: &mut Vec<&'a Entry>) -> Result<(), String> {
    match v {
        Node::Obj(entries) => {
            out.extend(entries.iter());
            Ok(())
        }
        Node::List(items) => items.iter().try_for_each(|i| body_entries(path, i, out)),
        _ => Err(format!("path {path:?}: must be an object")),
    }
}

fn rule(path: &str, body: &Node) -> Result<PathRule, String> {
    let pattern = Pattern::parse(path).map_err(|e| format!("path {path:?}: {e}"))?;
    let mut entries = Vec::new();
    body_entries(path, body, &mut entries)?;
    let mut perms = Permissions::default();
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "capabilities" => {
                for name in strings(path, &e.key, v)? {
                    let cap: Capability =
                        name.parse().map_err(|err: String| format!("path {path:?}: path {path:?}: {err}"))?;
                    perms.capabilities.insert(cap);
                }
            }
            "policy" => {
                let caps: &[Capability] = match v {
                    Node::Str(s) if s == "deny" => &[Capability::Deny],
                    Node::Str(s) if s == "read" => &[Capability::Read, Capability::List],
                    Node::Str(s) if s == "write" => &[
                        Capability::Create,
                        Capability::Read,
                        Capability::Update,
                        Capability::Delete,
                        Capability::List,
                    ],
                    Node::Str(s) if s == "sudo" => &[
                        Capability::Create,
                        Capability::Read,
                        Capability::Update,
                        Capability::Delete,
                        Capability::List,
                        Capability::Sudo,
                    ],
                    _ => return Err(format!("path {path:?}: invalid policy")),
                };
                caps.iter().for_each(|c| perms.capabilities.insert(*c));
            }
            "allowed_parameters" => parameters(path, &e.key, v, &mut perms.allowed_parameters)?,
            "denied_parameters" => parameters(path, &e.key, v, &mut perms.denied_parameters)?,
            "required_parameters" => {
                for p in strings(path, &e.key, v)? {
                    if !perms.required_parameters.contains(&p) {
                        perms.required_parameters.push(p);
                    }
                }
            }
            "min_wrapping_ttl" => perms.min_wrapping_ttl = ttl(path, &e.key, v)?,
            "max_wrapping_ttl" => perms.max_wrapping_ttl = ttl(path, &e.key, v)?,
            other => return Err(format!("path {path:?}: invalid key {other:?}{}", on_line(e.line))),
        }
    }
    if let (Some(min), Some(max)) = (perms.min_wrapping_ttl, perms.max_wrapping_ttl) {
        if max < min {
            return Err(format!("path {path:?}: max_wrapping_ttl cannot be less than min_wrapping_ttl"));
        }
    }
    if perms.capabilities.is_denied() {
        perms = Permissions { capabilities: Capabilities::deny(), ..Permissions::default() };
    }
    Ok(PathRule { path: path.to_string(), permissions: perms, pattern })
}

fn strings(path: &str, key: &str, v: &Node) -> Result<Vec<String>, String> {
    let items = match v {
        Node::List(items) => items.as_slice(),
        Node::Str(_) => std::slice::from_ref(v),
        _ => return Err(format!("path {path:?}: {key}: expected a list of strings")),
    };
    items
        .iter()
        .map(|i| match i {
            Node::Str(s) => Ok(s.clone()),
            _ => Err(format!("path {path:?}: {key}: expected a list of strings")),
        })
        .collect()
}

fn to_value(n: &Node) -> Value {
    match n {
        Node::Str(s) => Value::String(s.clone()),
        Node::Num(x) => Value::Number(x.clone()),
        Node::Bool(b) => Value::Bool(*b),
        Node::List(items) => Value::Array(items.iter().map(to_value).collect()),
        Node::Obj(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), to_value(&e.value))).collect()),
    }
}

/// `name → [values]`; names are lowercased; a repeated name merges its values (`[]` wins).
fn parameters(path: &str, key: &str, v: &Node, out: &mut BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    let mut entries = Vec::new();
    body_entries(path, v, &mut entries).map_err(|_| format!("path {path:?}: {key}: expected an object"))?;
    for e in entries {
        let values = match &e.value {
            Node::List(items) => items.iter().map(to_value).collect(),
            Node::Obj(_) => return Err(format!("path {path:?}: {key}: {:?}: expected a list of values", e.key)),
            scalar => vec![to_value(scalar)],
        };
        merge_values(out, e.key.to_lowercase(), values);
    }
    Ok(())
}

/// Adds `values` for `name`: an empty list (any value) absorbs everything else (Vault's merge).
pub(super) fn merge_values(out: &mut BTreeMap<String, Vec<Value>>, name: String, values: Vec<Value>) {
    match out.get_mut(&name) {
        Some(existing) if existing.is_empty() => {}
        Some(existing) if values.is_empty() => existing.clear(),
        Some(existing) => existing.extend(values),
        None => {
            out.insert(name, values);
        }
    }
}

fn ttl(path: &str, key: &str, v: &Node) -> Result<Option<u64>, String> {
    let secs = match v {
        Node::Str(_) | Node::Num(_) => crate::duration::parse_value(&to_value(v)),
        _ => Err("expected a duration".to_string()),
    }
    .map_err(|e| format!("path {path:?}: error parsing {key}: {e}"))?;
    Ok((secs > 0).then_some(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn err(text: &str) -> String {
        Policy::parse("p", text).unwrap_err()
    }

    #[test]
    fn invalid_capability_reads_like_vault() {
        assert_eq!(
            err(r#"path "x" { capabilities = ["reed"] }"#),
            r#"failed to parse policy: path "x": path "x": invalid capability "reed""#
        );
        assert_eq!(
            err(r#"{"path": {"x/*": {"capabilities": ["recover"]}}}"#),
            r#"failed to parse policy: path "x/*": path "x/*": invalid capability "recover""#
        );
    }

    #[test]
    fn syntax_errors_read_like_hcl() {
        assert_eq!(
            err("this is not hcl {"),
            "failed to parse policy: At 1:19: object expected closing RBRACE got: EOF"
        );
        assert!(err("path \"x\" { capabilities = [\"read\" }").starts_with("failed to parse policy: At 1:"));
        assert!(err("path \"x\" { capabilities = [\"read\"] \n").contains("expected closing RBRACE"));
        assert!(err("path \"x").contains("literal not terminated"));
        assert!(err("path \"x\" { capabilities = }").contains("Unknown token: RBRACE"));
        assert!(err("path \"x\" \"y\"").contains("expected start of object"));
        assert!(err("{\"path\": ").starts_with("failed to parse policy: EOF while parsing"));
        assert!(err("/* open").contains("comment not terminated"));
        assert!(err("path \"x\" { capabilities = [\"read\"] } @").contains("illegal char"));
        assert!(err("path \"x\" { capabilities = ; }").contains("illegal char ';'"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert_eq!(err("paths \"x\" {}"), r#"failed to parse policy: invalid key "paths" on line 1"#);
        assert_eq!(
            err("path \"x\" {\n  capabilites = [\"read\"]\n}"),
            r#"failed to parse policy: path "x": invalid key "capabilites" on line 2"#
        );
        assert_eq!(err(r#"{"paths": {}}"#), r#"failed to parse policy: invalid key "paths""#);
        assert!(err(r#"path "x" { control_group = {} }"#).contains("invalid key \"control_group\""));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("path \"x\" {{ allowed_parameters = {}{} }}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&deep).contains("nesting too deep"));
        let deep_obj = format!("a = {}{}", "{ b = ".repeat(10_000), "}".repeat(10_000));
        assert!(err(&deep_obj).contains("nesting too deep"));
        let deep_json = format!("{{\"path\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&deep_json).contains("recursion limit"));
    }

    #[test]
    fn hcl_syntax_variants() {
        let text = r#"
            # hash comment
            // slash comment
            /* block
               comment */
            path "a" {
                capabilities = ["read", "list",]
                allowed_parameters {
                    "Foo" = ["x", 1, true]
                    bar = []
                }
                denied_parameters = { "baz" = "q" }
                required_parameters = ["foo"]
                min_wrapping_ttl = 60
                max_wrapping_ttl = "1h"
            }
            path "b" = { capabilities = ["deny", "read"], allowed_parameters = { "x" = [] } }
            path "c" { policy = "write" }
            path "d" { capabilities = ["subscribe", "scan", "sudo", "patch"] }
            name = "ignored"
        "#;
        let p = Policy::parse("p", text).unwrap();
        let r = p.rules();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].path, "a");
        let a = &r[0].permissions;
        assert_eq!(a.capabilities.names(), ["list", "read"]);
        assert_eq!(a.allowed_parameters["foo"], vec![Value::from("x"), Value::from(1), Value::from(true)]);
        assert!(a.allowed_parameters["bar"].is_empty());
        assert_eq!(a.denied_parameters["baz"], vec![Value::from("q")]);
        assert_eq!(a.required_parameters, ["foo"]);
        assert_eq!((a.min_wrapping_ttl, a.max_wrapping_ttl), (Some(60), Some(3600)));
        // deny drops everything else, parameters included.
        assert_eq!(r[1].permissions, Permissions { capabilities: Capabilities::deny(), ..Permissions::default() });
        assert_eq!(r[2].permissions.capabilities.names(), ["create", "delete", "list", "read", "update"]);
        assert_eq!(r[3].permissions.capabilities.names(), ["patch", "scan", "subscribe", "sudo"]);
    }

    #[test]
    fn json_and_hcl_give_the_same_rules() {
        let hcl = r#"
            path "secret/data/app/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
            path "secret/metadata/app/*" {
                capabilities = ["list", "read"]
                allowed_parameters = { "a" = ["x*"], "*" = [] }
                denied_parameters = { "b" = [] }
                max_wrapping_ttl = 300
            }
        "#;
        let json = r#"{"path": {
            "secret/data/app/*": {"capabilities": ["create", "read", "update", "patch", "delete", "list"]},
            "secret/metadata/app/*": {"capabilities": ["list", "read"],
                "allowed_parameters": {"a": ["x*"], "*": []}, "denied_parameters": {"b": []},
                "max_wrapping_ttl": "5m"}
        }}"#;
        let (h, j) = (Policy::parse("h", hcl).unwrap(), Policy::parse("j", json).unwrap());
        assert_eq!(h.rules().len(), 2);
        for (a, b) in h.rules().iter().zip(j.rules()) {
            assert_eq!(a.path, b.path);
            assert_eq!(a.permissions, b.permissions);
            assert_eq!(a.pattern, b.pattern);
        }
        // JSON also accepts a list of path objects, as HCL's JSON form does.
        let listed = Policy::parse("l", r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": {}}]}"#).unwrap();
        assert_eq!(listed.rules().len(), 2);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(err(r#"path "x" { capabilities = [1] }"#).contains("expected a list of strings"));
        assert!(err(r#"path "x" { min_wrapping_ttl = "abc" }"#).contains("error parsing min_wrapping_ttl"));
        assert!(err(r#"path "x" { min_wrapping_ttl = "1h", max_wrapping_ttl = "1m" }"#)
            .contains("max_wrapping_ttl cannot be less than min_wrapping_ttl"));
        assert!(err(r#"path "x" { policy = "admin" }"#).contains("invalid policy"));
        assert!(err(r#"path "x/+*" { capabilities = ["read"] }"#).contains("'+*' is forbidden"));
        assert!(err(r#"path "x" { allowed_parameters = ["a"] }"#).contains("expected an object"));
        assert!(err(r#"path = "x""#).contains("must be an object"));
        assert!(err("[1]").contains("expected: IDENT | STRING"));
    }

    #[test]
    fn a_single_string_counts_as_a_one_item_list() {
        let p = Policy::parse("p", r#"path "x" { capabilities = "read" }"#).unwrap();
        assert_eq!(p.rules()[0].permissions.capabilities.names(), ["read"]);
    }

    #[test]
    fn empty_policies_parse() {
        assert!(Policy::parse("p", "").unwrap().rules().is_empty());
        assert!(Policy::parse("p", "# nothing\n").unwrap().rules().is_empty());
        assert!(Policy::parse("p", "{}").unwrap().rules().is_empty());
        assert!(Policy::parse("p", r#"path "x" {}"#).unwrap().rules()[0].permissions.capabilities.is_empty());
    }
}
