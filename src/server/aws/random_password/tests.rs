//! Unit tests of `GetRandomPassword`: request parsing, each option's effect, and the limits.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn draws(o: &Options, n: usize) -> Vec<String> {
    (0..n).map(|_| generate(o).unwrap().to_string()).collect()
}

fn has_any(pw: &str, set: &str) -> bool {
    pw.chars().any(|c| set.contains(c))
}

fn err(o: &Options) -> RandomPasswordError {
    generate(o).unwrap_err()
}

#[test]
fn punctuation_is_aws_set() {
    assert_eq!(PUNCTUATION.len(), 32);
    assert!(PUNCTUATION.chars().all(|c| c.is_ascii_punctuation()));
    // Every ASCII punctuation character, so nothing printable but letters, digits and space is left.
    assert_eq!(PUNCTUATION.chars().collect::<BTreeSet<_>>().len(), 32);
    // Only punctuation allowed: over 4096 characters all 32 appear.
    let o = Options {
        length: 4096,
        exclude_lowercase: true,
        exclude_uppercase: true,
        exclude_numbers: true,
        ..Options::default()
    };
    let seen: BTreeSet<char> = generate(&o).unwrap().chars().collect();
    assert_eq!(seen, PUNCTUATION.chars().collect());
}

#[test]
fn defaults_are_32_characters_of_every_class_without_space() {
    for pw in draws(&Options::default(), 200) {
        assert_eq!(pw.chars().count(), 32);
        assert!(pw.chars().all(|c| c.is_ascii_graphic()), "{pw}");
        for set in [LOWER, UPPER, DIGITS, PUNCTUATION] {
            assert!(has_any(&pw, set), "{set} missing");
        }
    }
}

#[test]
fn each_exclude_option_removes_its_class() {
    let d = Options::default;
    let cases = [
        (Options { exclude_numbers: true, ..d() }, DIGITS),
        (Options { exclude_punctuation: true, ..d() }, PUNCTUATION),
        (Options { exclude_uppercase: true, ..d() }, UPPER),
        (Options { exclude_lowercase: true, ..d() }, LOWER),
    ];
    for (o, class) in cases {
        for pw in draws(&o, 200) {
            assert!(!has_any(&pw, class), "{class} in {pw}");
            assert_eq!(pw.chars().count(), 32);
        }
    }
}

#[test]
fn exclude_characters_are_never_drawn() {
    let excluded = "abcXYZ019!\"'\\/@ ";
    let o = Options { length: 64, exclude_characters: excluded.into(), include_space: true, ..Options::default() };
    for pw in draws(&o, 200) {
        assert!(!has_any(&pw, excluded), "{pw}");
        assert_eq!(pw.chars().count(), 64);
    }
}

#[test]
fn include_space_adds_the_space() {
    let with = Options { length: 4096, include_space: true, ..Options::default() };
    // A space is missing from 4096 draws over 95 characters with probability e^-43.
    assert!(generate(&with).unwrap().contains(' '));
    let without = Options { length: 4096, ..Options::default() };
    assert!(!generate(&without).unwrap().contains(' '));
    // Only the space is left: a password of spaces, and the space is not a required type.
    let only = Options {
        length: 5,
        include_space: true,
        exclude_lowercase: true,
        exclude_uppercase: true,
        exclude_numbers: true,
        exclude_punctuation: true,
        ..Options::default()
    };
    assert_eq!(generate(&only).unwrap().as_str(), "     ");
}

#[test]
fn require_each_included_type_puts_every_class_in_every_draw() {
    let o = Options { length: 4, ..Options::default() };
    for pw in draws(&o, 500) {
        for set in [LOWER, UPPER, DIGITS, PUNCTUATION] {
            assert!(has_any(&pw, set), "{set} missing from {pw}");
        }
    }
    // Three classes in three characters, and the space is not required.
    let o = Options { length: 3, exclude_lowercase: true, include_space: true, ..Options::default() };
    for pw in draws(&o, 300) {
        assert!(has_any(&pw, UPPER) && has_any(&pw, DIGITS) && has_any(&pw, PUNCTUATION), "{pw}");
    }
    // A class left with one character by ExcludeCharacters still appears.
    let all_but_7: String = DIGITS.chars().filter(|c| *c != '7').collect();
    let o = Options { length: 4, exclude_characters: all_but_7, ..Options::default() };
    for pw in draws(&o, 300) {
        assert!(pw.contains('7'), "{pw}");
    }
}

#[test]
fn without_require_each_included_type_classes_may_be_missing() {
    // All four classes appear in a 4-character draw with probability ≈ 0.07: in 500 draws some
    // lack one (with probability 1 - 0.07^500).
    let o = Options { length: 4, require_each_included_type: false, ..Options::default() };
    let complete = draws(&o, 500)
        .iter()
        .filter(|pw| [LOWER, UPPER, DIGITS, PUNCTUATION].iter().all(|set| has_any(pw, set)))
        .count();
    assert!(complete < 500);
    let o = Options { length: 1, require_each_included_type: false, ..Options::default() };
    assert_eq!(generate(&o).unwrap().chars().count(), 1);
}

#[test]
fn the_length_is_exact() {
    for length in (1..=40).chain([100, 1000, MAX_LENGTH]) {
        let o = Options { length, require_each_included_type: length >= 4, ..Options::default() };
        assert_eq!(generate(&o).unwrap().chars().count(), length);
    }
}

#[test]
fn lengths_outside_the_limits_are_refused() {
    let e = err(&Options { length: 0, ..Options::default() });
    assert_eq!(e.aws_code(), "ValidationException");
    assert_eq!(
        e.to_string(),
        "1 validation error detected: Value '0' at 'passwordLength' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    let e = err(&Options { length: MAX_LENGTH + 1, ..Options::default() });
    assert_eq!(e.aws_code(), "ValidationException");
    assert!(e.to_string().ends_with("Member must have value less than or equal to 4096"), "{e}");
    let e = err(&Options { exclude_characters: "x".repeat(MAX_EXCLUDE_LEN + 1), ..Options::default() });
    assert_eq!(e, RandomPasswordError::ExcludeTooLong);
    assert_eq!(e.aws_code(), "ValidationException");
    // Counted in characters: 4096 two-byte characters are allowed.
    assert!(generate(&Options { exclude_characters: "é".repeat(MAX_EXCLUDE_LEN), ..Options::default() }).is_ok());
}

#[test]
fn impossible_combinations_are_refused() {
    for length in 1..4 {
        let e = err(&Options { length, ..Options::default() });
        assert_eq!(e, RandomPasswordError::TooShort);
        assert_eq!(e.aws_code(), "InvalidParameterException");
        assert_eq!(e.to_string(), "Password length is too short based on the required types.");
    }
    // The space does not count as a required type; a class emptied by ExcludeCharacters neither.
    assert!(generate(&Options { length: 4, include_space: true, ..Options::default() }).is_ok());
    let o = Options { length: 3, exclude_characters: DIGITS.into(), ..Options::default() };
    for pw in draws(&o, 100) {
        assert!(!has_any(&pw, DIGITS) && has_any(&pw, LOWER) && has_any(&pw, UPPER) && has_any(&pw, PUNCTUATION));
    }
    let everything = Options {
        exclude_lowercase: true,
        exclude_uppercase: true,
        exclude_numbers: true,
        exclude_punctuation: true,
        ..Options::default()
    };
    let e = err(&everything);
    assert_eq!(e, RandomPasswordError::NoCharacters);
    assert_eq!(e.aws_code(), "InvalidParameterException");
    let all: String = [LOWER, UPPER, DIGITS, PUNCTUATION, " "].concat();
    let e = err(&Options { exclude_characters: all, include_space: true, ..Options::default() });
    assert_eq!(e, RandomPasswordError::NoCharacters);
    let e = err(&Options { include_space: true, exclude_characters: " ".into(), ..everything });
    assert_eq!(e, RandomPasswordError::NoCharacters);
}

#[test]
fn parse_reads_every_option() {
    let o = parse(&body(json!({
        "PasswordLength": 20,
        "ExcludeCharacters": "abc",
        "ExcludeNumbers": true,
        "ExcludePunctuation": true,
        "ExcludeUppercase": true,
        "ExcludeLowercase": false,
        "IncludeSpace": true,
        "RequireEachIncludedType": false,
        "SomethingElse": [1],
    })))
    .unwrap();
    let expected = Options {
        length: 20,
        exclude_characters: "abc".into(),
        exclude_numbers: true,
        exclude_punctuation: true,
        exclude_uppercase: true,
        exclude_lowercase: false,
        include_space: true,
        require_each_included_type: false,
    };
    assert_eq!(o, expected);
    assert_eq!(parse(&Map::new()).unwrap(), Options::default());
    assert_eq!(parse(&body(json!({"PasswordLength": null, "IncludeSpace": null}))).unwrap(), Options::default());
}

#[test]
fn parse_refuses_wrong_types_naming_the_field() {
    for (field, value, expected) in [
        ("PasswordLength", json!("32"), "an integer"),
        ("PasswordLength", json!(32.5), "an integer"),
        ("PasswordLength", json!(1e3), "an integer"),
        ("PasswordLength", json!(true), "an integer"),
        ("ExcludeCharacters", json!(5), "a string"),
        ("ExcludeCharacters", json!(["a"]), "a string"),
        ("ExcludeNumbers", json!("true"), "a boolean"),
        ("ExcludePunctuation", json!(1), "a boolean"),
        ("ExcludeUppercase", json!({}), "a boolean"),
        ("ExcludeLowercase", json!(0), "a boolean"),
        ("IncludeSpace", json!("yes"), "a boolean"),
        ("RequireEachIncludedType", json!([]), "a boolean"),
    ] {
        let e = parse(&body(json!({ field: value }))).unwrap_err();
        assert_eq!(e.aws_code(), "InvalidParameterException", "{field}");
        assert_eq!(e.to_string(), format!("Invalid type for parameter {field}: expected {expected}."));
    }
}

#[test]
fn parse_refuses_lengths_outside_the_limits() {
    for (value, shown) in
        [(json!(0), "'0'"), (json!(-5), "'-5'"), (json!(4097), "'4097'"), (json!(u64::MAX), "'18446744073709551615'")]
    {
        let e = parse(&body(json!({ "PasswordLength": value }))).unwrap_err();
        assert_eq!(e.aws_code(), "ValidationException");
        assert!(e.to_string().contains(&format!("Value {shown} at 'passwordLength'")), "{e}");
    }
    assert_eq!(parse(&body(json!({"PasswordLength": 4096}))).unwrap().length, 4096);
    assert_eq!(parse(&body(json!({"PasswordLength": 1}))).unwrap().length, 1);
    let long = "x".repeat(MAX_EXCLUDE_LEN + 1);
    assert_eq!(parse(&body(json!({ "ExcludeCharacters": long }))).unwrap_err(), RandomPasswordError::ExcludeTooLong);
}
