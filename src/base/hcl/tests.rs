//! Unit tests of the HCL reader: the tree it builds, and its errors in both wordings.

use super::*;

const HCL1: Dialect = Dialect { max_depth: 32, json_numbers: true, wording: Wording::Hcl1 };
const PLAIN: Dialect = Dialect { max_depth: 16, json_numbers: false, wording: Wording::Plain };

fn entry(key: &str, line: usize, value: Node) -> Entry {
    Entry { key: key.to_string(), line, value }
}

fn err(text: &str, dialect: &Dialect) -> String {
    match parse(text, dialect) {
        Ok(tree) => format!("parsed: {tree:?}"),
        Err(e) => e,
    }
}

#[test]
fn labels_nest_objects_and_keep_their_lines() {
    let tree = parse("# c\nrule \"charset\" {\n  min-chars = 1, ok = true\n}\nlength = 20 // c", &PLAIN);
    let body = Node::Obj(vec![entry("min-chars", 3, Node::Num("1".into())), entry("ok", 3, Node::Bool(true))]);
    let rule = entry("rule", 2, Node::Obj(vec![entry("charset", 2, body)]));
    assert_eq!(tree, Ok(Node::Obj(vec![rule, entry("length", 5, Node::Num("20".into()))])));
}

#[test]
fn values_and_escapes() {
    let tree = parse(r#"a = ["x\n\u00e9", -1.5e3, false, {}, [],]"#, &HCL1);
    let list = vec![
        Node::Str("x\né".into()),
        Node::Num("-1.5e3".into()),
        Node::Bool(false),
        Node::Obj(Vec::new()),
        Node::List(Vec::new()),
    ];
    assert_eq!(tree, Ok(Node::Obj(vec![entry("a", 1, Node::List(list))])));
}

#[test]
fn json_has_no_lines_and_null_is_an_empty_list() {
    let tree = parse(r#" {"a": [1, null, "s"]}"#, &PLAIN);
    let list = vec![Node::Num("1".into()), Node::List(Vec::new()), Node::Str("s".into())];
    assert_eq!(tree, Ok(Node::Obj(vec![entry("a", 0, Node::List(list))])));
    assert!(err("{", &PLAIN).starts_with("invalid JSON: EOF while parsing"));
    assert!(err("{", &HCL1).starts_with("EOF while parsing"));
    assert_eq!((on_line(0), on_line(7)), (String::new(), " on line 7".to_string()));
}

#[test]
fn numbers_are_checked_only_when_asked() {
    assert_eq!(err("a = 0x10", &HCL1), r#"At 1:5: invalid number "0x10""#);
    assert_eq!(parse("a = 0x10", &PLAIN), Ok(Node::Obj(vec![entry("a", 1, Node::Num("0x10".into()))])));
}

#[test]
fn errors_in_both_wordings() {
    let cases = [
        (
            "a {",
            "At 1:5: object expected closing RBRACE got: EOF",
            "invalid HCL at 1:4: expected '}' but found end of input",
        ),
        (
            "a = [1",
            "At 1:8: list expected closing RBRACK got: EOF",
            "invalid HCL at 1:7: expected ']' but found end of input",
        ),
        ("a = 1 ]", "At 1:7: expected: IDENT | STRING got: RBRACK", "invalid HCL at 1:7: expected a key but found ']'"),
        (
            "a \"b\" c 1",
            "At 1:9: key 'a' expected start of object ('{') or assignment ('=') got: NUMBER 1",
            "invalid HCL at 1:9: key \"a\": expected '=' or '{' but found number 1",
        ),
        ("a = b", "At 1:5: Unknown token: IDENT b", "invalid HCL at 1:5: expected a value but found identifier \"b\""),
        ("a =", "At 1:5: Unknown token: EOF", "invalid HCL at 1:4: expected a value but found end of input"),
        ("a = \"x", "At 1:5: literal not terminated", "invalid HCL at 1:5: string not terminated"),
        ("a = \"\\q\"", "At 1:5: invalid escape sequence", "invalid HCL at 1:5: invalid escape sequence"),
        ("\n /* x", "At 2:2: comment not terminated", "invalid HCL at 2:2: comment not terminated"),
        ("a = /x", "At 1:5: illegal char '/'", "invalid HCL at 1:5: illegal character '/'"),
        ("a = ;", "At 1:5: illegal char ';'", "invalid HCL at 1:5: illegal character ';'"),
    ];
    for (text, hcl1, plain) in cases {
        assert_eq!(err(text, &HCL1), hcl1, "{text:?}");
        assert_eq!(err(text, &PLAIN), plain, "{text:?}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(err(&deep, &HCL1), "At 1:37: nesting too deep");
    assert_eq!(err(&deep, &PLAIN), "invalid HCL at 1:21: nesting too deep");
    let blocks = format!("{}{}", "a { ".repeat(10_000), "}".repeat(10_000));
    assert!(err(&blocks, &PLAIN).ends_with("nesting too deep"));
    // At the end of input, HCL 1 counts one column past it.
    assert_eq!(err(&format!("a = {}", "{ b = ".repeat(32)), &HCL1), "At 1:198: nesting too deep");
    assert_eq!(err(&format!("a = {}", "{ b = ".repeat(16)), &PLAIN), "invalid HCL at 1:101: nesting too deep");
}
