//! Unit tests of secret names, ARNs and suffixes.

use super::*;

const ARN_HEAD: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";

fn code(r: Result<impl std::fmt::Debug, NameError>) -> &'static str {
    r.unwrap_err().aws_code()
}

#[test]
fn names_in_aws_charset_and_normal_form_pass() {
    for ok in ["a", "db/prod/password", "A-Z_a+z=0.9@x", "a.b/c..d/.e", "x-abcdef", &"n".repeat(MAX_NAME_LEN)] {
        assert_eq!(check_name(ok), Ok(()), "{ok}");
    }
}

#[test]
fn names_outside_the_charset_are_refused_with_aws_wording() {
    for bad in ["a b", "a:b", "a!b", "ä", "a\\b", "a\0", "a*", "a,b", "a\n"] {
        let e = check_name(bad).unwrap_err();
        assert_eq!(e, NameError::Charset, "{bad:?}");
        assert_eq!(e.aws_code(), "InvalidParameterException");
        assert_eq!(
            e.to_string(),
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
        );
    }
}

#[test]
fn names_without_one_kv_form_are_refused() {
    let cases = [
        ("/a", "start with '/'"),
        ("a/", "end with '/'"),
        ("/", "start with '/'"),
        ("a//b", "contain '//'"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("a/./b", "'.' or '..'"),
        ("a/..", "'.' or '..'"),
        ("../a", "'.' or '..'"),
    ];
    for (bad, why) in cases {
        let e = check_name(bad).unwrap_err();
        assert_eq!(e.aws_code(), "InvalidParameterException", "{bad}");
        assert!(e.to_string().starts_with("Invalid name. ") && e.to_string().contains(why), "{bad}: {e}");
    }
}

#[test]
fn name_length_limits() {
    let e = check_name("").unwrap_err();
    assert_eq!(e.aws_code(), "ValidationException");
    assert_eq!(
        e.to_string(),
        "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    let e = check_name(&"n".repeat(MAX_NAME_LEN + 1)).unwrap_err();
    assert_eq!(e.aws_code(), "ValidationException");
    assert!(e.to_string().ends_with("Member must have length less than or equal to 512"), "{e}");
}

#[test]
fn arns_are_formatted_in_the_aws_partition() {
    assert_eq!(
        format_arn("eu-west-3", "123456789012", "db/pw", "aB3xYz"),
        "arn:aws:secretsmanager:eu-west-3:123456789012:secret:db/pw-aB3xYz"
    );
    let arn = format_arn("eu-west-3", "123456789012", "db/pw", "aB3xYz");
    assert_eq!(
        parse_secret_id(&arn).unwrap(),
        SecretId::Arn {
            partition: "aws".into(),
            region: "eu-west-3".into(),
            account: "123456789012".into(),
            name_and_suffix: "db/pw-aB3xYz".into(),
        }
    );
}

#[test]
fn secret_ids_that_are_names() {
    assert_eq!(parse_secret_id("db/pw").unwrap(), SecretId::Name("db/pw".into()));
    assert_eq!(code(parse_secret_id("db pw")), "InvalidParameterException");
    assert_eq!(code(parse_secret_id("/db")), "InvalidParameterException");
    assert_eq!(code(parse_secret_id("")), "ValidationException");
    // Not starting with `arn:`, so a name, and `:` is not in the charset.
    assert_eq!(code(parse_secret_id("ARN:aws:secretsmanager:x")), "InvalidParameterException");
}

#[test]
fn secret_ids_in_other_partitions_and_partial() {
    for (id, partition, region) in [
        ("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a", "aws-cn", "cn-north-1"),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:a", "aws-us-gov", "us-gov-west-1"),
        ("arn:aws-iso-b:secretsmanager:us-isob-east-1:123456789012:secret:a", "aws-iso-b", "us-isob-east-1"),
    ] {
        let SecretId::Arn { partition: p, region: r, name_and_suffix, .. } = parse_secret_id(id).unwrap() else {
            panic!("{id} is not an ARN");
        };
        assert_eq!((p.as_str(), r.as_str(), name_and_suffix.as_str()), (partition, region, "a"));
    }
}

#[test]
fn malformed_arns_are_refused() {
    let cases = [
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret", "too few parts"),
        ("arn:", "too few parts"),
        ("arn:aws:secretsmanager:us-east-1:123456789012", "too few parts"),
        ("arn::secretsmanager:us-east-1:123456789012:secret:a", "partition"),
        ("arn:AWS:secretsmanager:us-east-1:123456789012:secret:a", "partition"),
        ("arn:gcp:secretsmanager:us-east-1:123456789012:secret:a", "partition"),
        ("arn:aws-:secretsmanager:us-east-1:123456789012:secret:a", "partition"),
        ("arn:aws:ssm:us-east-1:123456789012:secret:a", "service"),
        ("arn:aws:secretsmanager::123456789012:secret:a", "region"),
        ("arn:aws:secretsmanager:us-east:123456789012:secret:a", "region"),
        ("arn:aws:secretsmanager:US-east-1:123456789012:secret:a", "region"),
        ("arn:aws:secretsmanager:1:123456789012:secret:a", "region"),
        ("arn:aws:secretsmanager:us-east-1:12345678901:secret:a", "account"),
        ("arn:aws:secretsmanager:us-east-1:1234567890123:secret:a", "account"),
        ("arn:aws:secretsmanager:us-east-1:12345678901x:secret:a", "account"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:parameter:a", "resource type"),
    ];
    for (id, why) in cases {
        let e = parse_secret_id(id).unwrap_err();
        assert_eq!(e.aws_code(), "InvalidParameterException", "{id}");
        let msg = e.to_string();
        assert!(msg.starts_with("Invalid ARN: ") && msg.contains(why) && msg.contains(ARN_FORM), "{id}: {msg}");
    }
    // The last part must be a name (or a name and suffix).
    for last in ["", "a:b", "a b", "/a", "a//b", "./a"] {
        let id = format!("{ARN_HEAD}{last}");
        assert!(parse_secret_id(&id).is_err(), "{id}");
    }
    assert_eq!(code(parse_secret_id(ARN_HEAD)), "ValidationException");
}

#[test]
fn secret_id_length_limit() {
    // The longest name with its suffix fits in an ARN; a longer last part does not.
    let longest = format!("{ARN_HEAD}{}-abcdef", "n".repeat(MAX_NAME_LEN));
    assert!(parse_secret_id(&longest).is_ok());
    let longer = format!("{ARN_HEAD}{}-abcdef", "n".repeat(MAX_NAME_LEN + 1));
    assert_eq!(code(parse_secret_id(&longer)), "ValidationException");
    let huge = format!("{ARN_HEAD}{}", "n".repeat(MAX_SECRET_ID_LEN));
    let e = parse_secret_id(&huge).unwrap_err();
    assert_eq!(e.aws_code(), "ValidationException");
    assert_eq!(
        e.to_string(),
        "1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must have length less than or equal to 2048"
    );
    assert_eq!(code(parse_secret_id(&"n".repeat(MAX_SECRET_ID_LEN + 1))), "ValidationException");
}

#[test]
fn arn_targets_give_both_readings_complete_first() {
    let t = arn_targets("db-abcdef");
    assert_eq!(t.complete, Some(("db", "abcdef")));
    assert_eq!(t.partial, Some("db-abcdef"));
    let t = arn_targets("db/prod");
    assert_eq!((t.complete, t.partial), (None, Some("db/prod")));
    // Not six letters or digits after the last hyphen: partial only.
    for part in ["db-abcde", "db-abcdefg", "db-abc_ef", "db-ab.def"] {
        assert_eq!(arn_targets(part).complete, None, "{part}");
        assert_eq!(arn_targets(part).partial, Some(part));
    }
    // The name before the suffix must be a name.
    assert_eq!(arn_targets("-abcdef").complete, None);
    assert_eq!(arn_targets("a/-abcdef").complete, None);
    // Too long to be a name, yet a complete ARN of the longest name.
    let long = format!("{}-abcdef", "n".repeat(MAX_NAME_LEN));
    let t = arn_targets(&long);
    assert_eq!(t.complete.map(|(n, s)| (n.len(), s)), Some((MAX_NAME_LEN, "abcdef")));
    assert_eq!(t.partial, None);
}

#[test]
fn suffixes_are_six_alphanumerics_and_vary() {
    let mut seen = std::collections::HashSet::new();
    let mut classes = [false; 3];
    for _ in 0..300 {
        let s = suffix_from(&crate::crypto::random_bytes());
        assert_eq!(s.len(), SUFFIX_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
        classes[0] |= s.bytes().any(|b| b.is_ascii_uppercase());
        classes[1] |= s.bytes().any(|b| b.is_ascii_lowercase());
        classes[2] |= s.bytes().any(|b| b.is_ascii_digit());
        seen.insert(s);
    }
    // 62^6 ≈ 5.7e10 suffixes: 300 draws collide with probability about 1e-6.
    assert_eq!(seen.len(), 300);
    assert_eq!(classes, [true; 3]);
}

#[test]
fn suffix_characters_are_uniform() {
    // 60,000 characters over 62: each expected ≈ 968 (σ ≈ 31); 700..1250 is beyond 8σ.
    let mut counts = std::collections::HashMap::new();
    for _ in 0..10_000 {
        for c in suffix_from(&crate::crypto::random_bytes()).chars() {
            *counts.entry(c).or_insert(0usize) += 1;
        }
    }
    assert_eq!(counts.len(), 62);
    for (c, n) in counts {
        assert!((700..=1250).contains(&n), "{c}: {n}");
    }
}
