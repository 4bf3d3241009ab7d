//! The principal STS names, in Vault's canonical form for matching: a user
//! `arn:aws:iam::ACCOUNT:user/NAME`, a role `arn:aws:iam::ACCOUNT:role/NAME` (an assumed-role
//! session `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` maps to its role), IAM paths dropped.
//! `bound_iam_principal_arn` entries are globs (`*` matches any run of characters) over it.

/// A parsed principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:PARTITION:iam::ACCOUNT:TYPE/NAME`.
    pub canonical: String,
    /// The name (the user's or the role's), Vault's friendly name.
    pub friendly_name: String,
}

/// Parses an ARN STS returned. None for anything but a user, a role or an assumed role.
pub fn parse(arn: &str) -> Option<Principal> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if prefix != "arn" || partition.is_empty() || !region.is_empty() || account.is_empty() {
        return None;
    }
    let segments: Vec<&str> = resource.split('/').collect();
    let (kind, name) = match (service, segments.first()?) {
        ("iam", &kind @ ("user" | "role")) if segments.len() >= 2 => (kind, *segments.last()?),
        ("sts", &"assumed-role") if segments.len() == 3 => ("role", *segments.get(1)?),
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    Some(Principal {
        canonical: format!("arn:{partition}:iam::{account}:{kind}/{name}"),
        friendly_name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::glob::glob_match as glob;

    #[test]
    fn principals_become_canonical() {
        let p = parse("arn:aws:sts::123456789012:assumed-role/app/i-0abc").unwrap();
        assert_eq!(p.canonical, "arn:aws:iam::123456789012:role/app");
        assert_eq!(p.friendly_name, "app");
        let p = parse("arn:aws:iam::123456789012:user/team/alice").unwrap();
        assert_eq!(p.canonical, "arn:aws:iam::123456789012:user/alice");
        assert_eq!(parse("arn:aws-cn:iam::1:role/r").unwrap().canonical, "arn:aws-cn:iam::1:role/r");
        for other in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:federated-user/bob",
            "arn:aws:sts::1:assumed-role/app",
            "arn:aws:iam:us-east-1:1:user/x",
            "arn:aws:s3:::bucket/user/x",
            "not-an-arn",
        ] {
            assert!(parse(other).is_none(), "{other}");
        }
    }

    #[test]
    fn globs_match_like_vault() {
        assert!(glob("arn:aws:iam::1:role/app", "arn:aws:iam::1:role/app"));
        assert!(!glob("arn:aws:iam::1:role/app", "arn:aws:iam::1:role/app2"));
        assert!(glob("arn:aws:iam::1:role/app-*", "arn:aws:iam::1:role/app-web"));
        assert!(!glob("arn:aws:iam::1:role/app-*", "arn:aws:iam::2:role/app-web"));
        assert!(glob("arn:aws:iam::*:role/app", "arn:aws:iam::2:role/app"));
        assert!(glob("*", "anything"));
        assert!(!glob("a*a", "a"));
    }
}
