//! Password policy text → length and charset rules. The text is HCL or JSON, read by
//! [`crate::base::hcl`]; the tree it gives is checked here for unknown keys and wrong types.

use crate::base::hcl::{self, on_line, Dialect, Node, Wording};

/// Blocks, lists and objects nest at most 16 deep; numbers are checked as integers when decoded.
const DIALECT: Dialect = Dialect { max_depth: 16, json_numbers: false, wording: Wording::Plain };

/// What the text says, before the checks of `PasswordPolicy::build`.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Raw {
    pub length: Option<i64>,
    /// `(charset, min-chars)` per rule, in source order.
    pub rules: Vec<(String, i64)>,
}

/// Parses policy text. Errors carry no prefix; the caller adds one.
pub(super) fn parse(text: &str) -> Result<Raw, String> {
    decode(&hcl::parse(text, &DIALECT)?)
}

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
