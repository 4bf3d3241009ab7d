//! A reader for the HCL 1 subset that Coffer's policy documents use (`key = value`, labelled
//! blocks, strings, numbers, booleans, lists, objects, `#`, `//` and `/* */` comments), or the
//! same document in JSON. Both forms become one tree, so one decoder gives them identical meaning.

mod error;
mod lex;
mod parse;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use error::Wording;

/// A parsed value of either source form. Objects keep repeated keys and source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String),
    /// The literal text of a number.
    Num(String),
    Bool(bool),
    List(Vec<Node>),
    Obj(Vec<Entry>),
}

/// One `key = value` (or block) of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    /// 1-based source line (0 for JSON, which has none to report).
    pub line: usize,
    pub value: Node,
}

/// What one kind of document accepts, and how its syntax errors read.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Deepest nesting of blocks, lists and objects accepted in HCL (JSON stops at serde_json's 128).
    pub max_depth: usize,
    /// Whether HCL number literals must be valid JSON numbers (refused where they stand).
    pub json_numbers: bool,
    pub wording: Wording,
}

/// Parses a document: JSON when its first non-blank character is `{`, HCL otherwise. HCL gives
/// an object at the top; the caller checks what JSON gives.
pub fn parse(text: &str, dialect: &Dialect) -> Result<Node, String> {
    if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|e| dialect.wording.json(&e))?;
        Ok(from_json(v))
    } else {
        parse::document(text, dialect).map_err(|e| e.render(dialect.wording))
    }
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

/// ` on line N` to end an error about an entry, or nothing when there is no line (JSON).
pub fn on_line(line: usize) -> String {
    if line > 0 {
        format!(" on line {line}")
    } else {
        String::new()
    }
}
