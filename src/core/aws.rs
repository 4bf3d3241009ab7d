//! The AWS API's state in the core: its settings (`[aws]`) and the access keys requests are
//! signed with.

pub mod keys;

/// The `[aws]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The account id in ARNs (`[aws] account_id`, `COFFER_AWS_ACCOUNT_ID`).
    pub account_id: String,
    /// The KV v2 mount the API works on (`[aws] mount`).
    pub mount: String,
}

/// The account id when none is configured.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

impl Default for Settings {
    fn default() -> Self {
        Settings { account_id: DEFAULT_ACCOUNT_ID.into(), mount: "secret".into() }
    }
}

/// Checks an account id: 12 digits, as AWS's.
pub fn check_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("an AWS account id is 12 digits, not {id:?}"))
    }
}
