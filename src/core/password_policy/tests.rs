//! Unit tests of password policies: parsing and its errors, the default policy, rules met over
//! many generations, and uniformity of the characters drawn.

use base64::Engine as _;

use super::generate::RandomBytes;
use super::*;

const EXAMPLE: &str = r#"
length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" { charset = "0123456789" min-chars = 1 }
"#;

fn err(text: &str) -> String {
    match PasswordPolicy::parse(text) {
        Ok(p) => panic!("{text:?} parsed: {p:?}"),
        Err(e) => e,
    }
}

fn count_in(password: &str, set: &str) -> usize {
    password.chars().filter(|c| set.contains(*c)).count()
}

#[test]
fn parses_the_example_policy() {
    let p = PasswordPolicy::parse(EXAMPLE).unwrap();
    assert_eq!(p.length(), 20);
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.charset.len(), 36);
    assert_eq!(p.rules[1], CharsetRule { charset: "0123456789".chars().collect(), min_chars: 1 });
}

#[test]
fn accepts_base64_and_json_forms() {
    let b64 = base64::engine::general_purpose::STANDARD.encode(EXAMPLE);
    assert_eq!(PasswordPolicy::parse(&b64).unwrap(), PasswordPolicy::parse(EXAMPLE).unwrap());
    let json = r#"{"length": 20, "rule": [
        {"charset": {"charset": "abcdefghijklmnopqrstuvwxyz", "min-chars": 1}},
        {"charset": [{"charset": "0123456789", "min-chars": 1}]}
    ]}"#;
    assert_eq!(PasswordPolicy::parse(json).unwrap(), PasswordPolicy::parse(EXAMPLE).unwrap());
    // Comments, escapes, and a charset without min-chars.
    let p =
        PasswordPolicy::parse("# c\nlength = 8 // c\n/* c */ rule \"charset\" { charset = \"a\\\"\\\\\" }").unwrap();
    assert_eq!(p.charset, vec!['"', '\\', 'a']);
    assert_eq!(p.rules[0].min_chars, 0);
}

#[test]
fn parse_errors_are_clear() {
    let rule = r#"rule "charset" { charset = "abc" }"#;
    assert_eq!(err(rule), "missing length");
    assert_eq!(err(""), "missing length");
    assert_eq!(err(&format!("length = 3 {rule}")), "passwords must be between 4 and 100 characters");
    assert_eq!(err(&format!("length = 101 {rule}")), "passwords must be between 4 and 100 characters");
    assert_eq!(err(&format!("length = -5 {rule}")), "passwords must be between 4 and 100 characters");
    assert_eq!(err("length = 10"), "no charset specified");
    assert_eq!(
        err(
            r#"length = 4 rule "charset" { charset = "ab" min-chars = 3 } rule "charset" { charset = "1" min-chars = 2 }"#
        ),
        "specified rules require at least 5 characters but 4 is specified"
    );
    assert_eq!(err(&format!("length = 10\nsize = 3 {rule}")), "invalid key \"size\" on line 2");
    assert_eq!(
        err("length = 10\nrule \"charset\" {\n charset = \"a\"\n min_chars = 1\n}"),
        "rule \"charset\": invalid key \"min_chars\" on line 4"
    );
    assert_eq!(err("length = 10 rule \"regex\" { x = 1 }"), "unrecognized rule type \"regex\" on line 1");
    assert_eq!(err("length = 10 rule \"charset\" { min-chars = 1 }"), "rule \"charset\": missing charset on line 1");
    assert_eq!(err("length = 10 rule \"charset\" { charset = \"\" }"), "rule \"charset\": charset is empty");
    assert_eq!(
        err("length = 10 rule \"charset\" { charset = 5 }"),
        "rule \"charset\": charset must be a string on line 1"
    );
    assert_eq!(
        err("length = 10 rule \"charset\" { charset = \"a\" min-chars = -1 }"),
        "rule \"charset\": min-chars must not be negative"
    );
    assert_eq!(err(&format!("length = \"10\" {rule}")), "length: expected an integer on line 1");
    assert_eq!(err(&format!("length = 1.5 {rule}")), "length: expected an integer, got 1.5 on line 1");
    assert_eq!(err(&format!("length = 10 length = 12 {rule}")), "length given twice on line 1");
    assert_eq!(err("length = 10 rule \"charset\" { charset = \"a\\tb\" }"), "non-printable character in charset");
    assert_eq!(err("length = 10 rule \"charset\" { charset = \"a\u{200B}\" }"), "non-printable character in charset");
    let long: String = (0x100u32..0x300).filter_map(char::from_u32).filter(|c| !c.is_control()).collect();
    assert_eq!(
        err(&format!("length = 10 rule \"charset\" {{ charset = \"{long}\" }}")),
        "charset is too long: limited to 256 characters"
    );
    assert!(err("length = 10 rule \"charset\" { charset = \"abc }").starts_with("invalid HCL at 1:"));
    assert!(err("length = 10 rule \"charset\" { charset = \"abc\"").contains("expected '}'"));
    assert!(err("length = 10 rule \"charset\" { charset = \"abc\" } }").contains("expected a key"));
    assert!(err("length 10").contains("expected '=' or '{'"));
    assert!(err("{\"length\": 10,}").starts_with("invalid JSON"));
}

#[test]
fn default_policy_matches_vault() {
    let p = PasswordPolicy::default_policy();
    assert_eq!(p.length(), 20);
    let expected: String = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".into();
    assert_eq!(p.charset.iter().collect::<String>(), expected);
    for _ in 0..500 {
        let pw = p.generate().unwrap();
        assert_eq!(pw.chars().count(), 20);
        assert!(pw.chars().all(|c| expected.contains(c)));
        for class in ["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "-"] {
            assert!(count_in(&pw, class) >= 1, "{class} missing");
        }
    }
}

#[test]
fn min_chars_hold_over_many_generations() {
    let p = PasswordPolicy::parse(
        r#"length = 8
        rule "charset" { charset = "abcdefghijklmnopqrstuvwxyz" min-chars = 2 }
        rule "charset" { charset = "0123456789" min-chars = 3 }
        rule "charset" { charset = "!@" min-chars = 1 }"#,
    )
    .unwrap();
    for _ in 0..2000 {
        let pw = p.generate().unwrap();
        assert_eq!(pw.len(), 8);
        assert!(count_in(&pw, "abcdefghijklmnopqrstuvwxyz") >= 2);
        assert!(count_in(&pw, "0123456789") >= 3);
        assert!(count_in(&pw, "!@") >= 1);
    }
}

#[test]
fn overlapping_rules_and_unicode_charsets() {
    let p = PasswordPolicy::parse(
        r#"length = 4
        rule "charset" { charset = "ab" min-chars = 3 }
        rule "charset" { charset = "a" min-chars = 1 }
        rule "charset" { charset = "éß" }"#,
    )
    .unwrap();
    for _ in 0..500 {
        let pw = p.generate().unwrap();
        assert_eq!(pw.chars().count(), 4);
        assert!(count_in(&pw, "ab") >= 3 && count_in(&pw, "a") >= 1);
        assert!(pw.chars().all(|c| "abéß".contains(c)));
    }
}

#[test]
fn only_charset_characters_are_used() {
    let p = PasswordPolicy::parse(r#"length = 100 rule "charset" { charset = "xyz" }"#).unwrap();
    for _ in 0..100 {
        assert!(p.generate().unwrap().chars().all(|c| "xyz".contains(c)));
    }
}

#[test]
fn characters_are_drawn_uniformly() {
    // 20,000 draws over 4 characters: each expected 5,000 (σ ≈ 61); ±10% is 8σ.
    let p = PasswordPolicy::parse(r#"length = 100 rule "charset" { charset = "abcd" }"#).unwrap();
    let mut counts = [0usize; 4];
    for _ in 0..200 {
        for c in p.generate().unwrap().chars() {
            counts[(c as usize) - ('a' as usize)] += 1;
        }
    }
    for n in counts {
        assert!((4500..=5500).contains(&n), "{counts:?}");
    }
}

#[test]
fn indices_are_uniform_when_the_charset_does_not_divide_256() {
    // 3 does not divide 256: without rejection index 0 would be favoured (86 of 256 byte values).
    let mut rng = RandomBytes::new();
    let mut counts = [0usize; 3];
    for _ in 0..30_000 {
        counts[rng.index(3).unwrap()] += 1;
    }
    for n in counts {
        assert!((9000..=11_000).contains(&n), "{counts:?}");
    }
    assert!(rng.index(0).is_err() && rng.index(257).is_err());
    assert!(rng.index(256).unwrap() < 256 && rng.index(1).unwrap() == 0);
}

#[test]
fn improbable_rules_are_refused_within_the_time_limit() {
    let many: String = ('!'..='~').collect();
    let p = PasswordPolicy::parse(&format!(
        "length = 100\nrule \"charset\" {{ charset = {many:?} }}\nrule \"charset\" {{ charset = \"a\" min-chars = 60 }}"
    ))
    .unwrap();
    let start = std::time::Instant::now();
    let e = p.check_generates().unwrap_err();
    assert!(e.contains("are the rules impossible?"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(PasswordPolicy::default_policy().check_generates().is_ok());
}

#[test]
fn base64_is_decoded_only_when_it_is_utf8() {
    assert_eq!(policy_text("bGVuZ3RoID0gMjA=\n"), "length = 20");
    assert_eq!(policy_text("length = 20"), "length = 20");
    assert_eq!(policy_text("/w=="), "/w==");
    assert!(valid_name("a.b-c") && !valid_name("") && !valid_name("a/b"));
}

#[test]
fn policies_from_classes_allow_aws_lengths() {
    let lower = || ('a'..='z').collect::<Vec<char>>();
    let digits = || ('0'..='9').collect::<Vec<char>>();
    for length in [1, 3, 101, MAX_CLASSES_LENGTH] {
        let p = PasswordPolicy::from_classes(length, &[(lower(), 0)]).unwrap();
        assert_eq!(p.generate().unwrap().chars().count(), length);
    }
    for length in [0, MAX_CLASSES_LENGTH + 1] {
        assert_eq!(
            PasswordPolicy::from_classes(length, &[(lower(), 0)]).unwrap_err(),
            "passwords must be between 1 and 4096 characters"
        );
    }
    let p = PasswordPolicy::from_classes(2, &[(lower(), 1), (digits(), 1)]).unwrap();
    for _ in 0..300 {
        let pw = p.generate().unwrap();
        assert!(count_in(&pw, "abcdefghijklmnopqrstuvwxyz") == 1 && count_in(&pw, "0123456789") == 1, "{}", *pw);
    }
    assert_eq!(
        PasswordPolicy::from_classes(1, &[(lower(), 1), (digits(), 1)]).unwrap_err(),
        "specified rules require at least 2 characters but 1 is specified"
    );
    assert_eq!(PasswordPolicy::from_classes(4, &[(vec![], 0)]).unwrap_err(), "rule \"charset\": charset is empty");
    assert_eq!(PasswordPolicy::from_classes(4, &[]).unwrap_err(), "no charset specified");
}
