//! Resource policies: accepted only when Coffer enforces every statement in them. That is a
//! `Deny` of named Secrets Manager actions to Coffer principals (or `*`) on the secret, with no
//! condition. An `Allow` would grant nothing (the ACL decides what a key may do), and a statement
//! Coffer would not enforce must not look as if it did: both answer
//! `MalformedPolicyDocumentException`.

use serde_json::Value;

use super::protocol::AwsError;

/// Largest policy document (AWS's limit).
pub const MAX_POLICY_LEN: usize = 20_480;

/// One enforced statement: who may not do what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    /// Principal ARNs, or `*`.
    pub principals: Vec<String>,
    /// Action patterns (`secretsmanager:GetSecretValue`, `secretsmanager:Get*`, `secretsmanager:*`).
    pub actions: Vec<String>,
}

fn malformed(message: impl Into<String>) -> AwsError {
    AwsError::new("MalformedPolicyDocumentException", message)
}

/// One string or a list of strings.
fn strings(v: &Value, field: &str) -> Result<Vec<String>, AwsError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| malformed(format!("{field} must hold strings."))))
            .collect(),
        _ => Err(malformed(format!("{field} must be a string or a list of strings."))),
    }
}

/// Whether `pattern` (with `*` wildcards) matches `text`, case-insensitively as IAM actions are.
fn glob(pattern: &str, text: &str) -> bool {
    crate::base::glob::glob_match(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

/// Parses a policy document for the secret `arn`, refusing any statement Coffer would not enforce.
pub fn parse(document: &str, arn: &str, account: &str) -> Result<Vec<Deny>, AwsError> {
    if document.len() > MAX_POLICY_LEN {
        return Err(AwsError::new(
            "LimitExceededException",
            format!("A resource policy is at most {MAX_POLICY_LEN} characters."),
        ));
    }
    let doc: Value = serde_json::from_str(document).map_err(|_| malformed("The policy document is not JSON."))?;
    let obj = doc.as_object().ok_or_else(|| malformed("The policy document must be a JSON object."))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed(format!("Unknown policy element {k:?}.")));
        }
    }
    if let Some(v) = obj.get("Version") {
        if v != "2012-10-17" && v != "2008-10-17" {
            return Err(malformed("Version must be 2012-10-17."));
        }
    }
    let statements = match obj.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return Err(malformed("The policy needs a Statement.")),
    };
    let mut out = Vec::with_capacity(statements.len());
    for s in &statements {
        let s = s.as_object().ok_or_else(|| malformed("Each statement must be an object."))?;
        for k in s.keys() {
            match k.as_str() {
                "Sid" | "Effect" | "Principal" | "Action" | "Resource" => {}
                "Condition" | "NotAction" | "NotPrincipal" | "NotResource" => {
                    return Err(malformed(format!(
                        "Coffer does not enforce {k}: a statement with it would do nothing."
                    )))
                }
                other => return Err(malformed(format!("Unknown statement element {other:?}."))),
            }
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => {}
            Some("Allow") => {
                return Err(malformed(
                    "Coffer enforces only Deny statements: what a key may do is decided by its Coffer policies, so an Allow would grant nothing.",
                ))
            }
            _ => return Err(malformed("Effect must be Deny.")),
        }
        let principals = match s.get("Principal") {
            Some(Value::String(star)) if star == "*" => vec!["*".to_string()],
            Some(Value::Object(p)) if p.len() == 1 => match p.get("AWS") {
                Some(aws) => strings(aws, "Principal.AWS")?,
                None => return Err(malformed("Principal must name AWS principals (Coffer access keys).")),
            },
            _ => return Err(malformed("Principal must be \"*\" or {\"AWS\": [...]} naming Coffer access keys.")),
        };
        let prefix = format!("arn:aws:iam::{account}:user/coffer/");
        for p in &principals {
            if p != "*" && !p.starts_with(&prefix) {
                return Err(malformed(format!(
                    "Principal {p:?} is not a Coffer identity: name keys as {prefix}<access key id>, or \"*\"."
                )));
            }
        }
        let actions = strings(s.get("Action").unwrap_or(&Value::Null), "Action")?;
        for a in &actions {
            let known = a.to_ascii_lowercase().starts_with("secretsmanager:")
                && super::ops::SECRET_OPERATIONS.iter().any(|op| glob(a, &format!("secretsmanager:{op}")));
            if !known {
                return Err(malformed(format!("Action {a:?} names no operation on a secret that Coffer enforces.")));
            }
        }
        for r in strings(s.get("Resource").unwrap_or(&Value::String("*".into())), "Resource")? {
            if r != "*" && r != arn {
                return Err(malformed(format!("Resource must be \"*\" or this secret's ARN, not {r:?}.")));
            }
        }
        out.push(Deny { principals, actions });
    }
    Ok(out)
}

/// Whether a statement denies `operation` to the key whose identity ARN is `principal`.
pub fn denies(statements: &[Deny], principal: &str, operation: &str) -> bool {
    let action = format!("secretsmanager:{operation}");
    statements
        .iter()
        .any(|d| d.principals.iter().any(|p| p == "*" || p == principal) && d.actions.iter().any(|a| glob(a, &action)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    const ME: &str = "arn:aws:iam::123456789012:user/coffer/AKIAME00000000000000";

    fn doc(statement: Value) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
    }

    #[test]
    fn a_deny_coffer_enforces_is_accepted_and_matches() {
        let d = parse(
            &doc(serde_json::json!({"Effect": "Deny", "Principal": {"AWS": ME}, "Action": "secretsmanager:Get*", "Resource": "*"})),
            ARN,
            "123456789012",
        )
        .unwrap();
        assert!(denies(&d, ME, "GetSecretValue"));
        assert!(!denies(&d, ME, "DescribeSecret"));
        assert!(!denies(&d, "arn:aws:iam::123456789012:user/coffer/AKIAOTHER00000000000", "GetSecretValue"));
    }

    #[test]
    fn statements_coffer_would_not_enforce_are_refused() {
        let bad = [
            serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue"}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "secretsmanager:GetSecretValue"}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject"}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:ListSecrets"}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "NotAction": "secretsmanager:GetSecretValue"}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZabc"}),
        ];
        for s in bad {
            let e = parse(&doc(s.clone()), ARN, "123456789012").unwrap_err();
            assert_eq!(e.code, "MalformedPolicyDocumentException", "{s}");
        }
        assert!(parse("not json", ARN, "123456789012").is_err());
    }
}
