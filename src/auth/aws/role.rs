//! AWS roles: `role/<name>` (read, write, delete) and `LIST role`. Only `auth_type: "iam"`
//! exists; a role binds the principals it admits (`bound_iam_principal_arn`, globs over the
//! canonical ARN) and sets the token a login gets.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::roles_kind;
use crate::auth::common::role_store::Role;
use crate::auth::common::{token_fields, token_type_field, TokenParams};
use crate::base::error::ApiError;
use crate::base::params;
use crate::base::params::string_list;
use crate::core::engine::Call;

/// Most bound principals per role, and the longest one.
const MAX_BOUND: usize = 256;
const MAX_ARN_LEN: usize = 2048;

/// A stored AWS role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AwsRole {
    /// Always `iam`.
    pub auth_type: String,
    /// Globs over the canonical principal ARN; at least one.
    pub bound_iam_principal_arn: Vec<String>,
    /// `default` or `service`.
    pub token_type: String,
    /// Settings of the tokens a login issues.
    pub token: TokenParams,
}

impl Default for AwsRole {
    fn default() -> Self {
        Self {
            auth_type: "iam".into(),
            bound_iam_principal_arn: Vec::new(),
            token_type: "default".into(),
            token: TokenParams::default(),
        }
    }
}

impl Role for AwsRole {
    const WHAT: &'static str = "aws role";

    fn kind(call: &Call<'_>) -> String {
        roles_kind(call)
    }

    fn describe(&self, _name: &str) -> Value {
        let mut m = token_fields(&self.token, &self.token_type);
        m.insert("policies".into(), json!(self.token.token_policies));
        let more = json!({
            "auth_type": self.auth_type,
            "bound_iam_principal_arn": self.bound_iam_principal_arn,
            "resolve_aws_unique_ids": false,
            "inferred_entity_type": "",
            "bound_account_id": [],
            "bound_region": [],
            "bound_iam_role_arn": [],
            "bound_iam_instance_profile_arn": [],
            "bound_ec2_instance_id": Value::Null,
            "bound_ami_id": [],
            "bound_vpc_id": [],
            "bound_subnet_id": [],
            "allow_instance_migration": false,
            "disallow_reauthentication": false,
        });
        if let Value::Object(more) = more {
            m.extend(more);
        }
        Value::Object(m)
    }

    /// Applies the fields present in `d` and checks the result.
    fn update(&mut self, d: &Map<String, Value>) -> Result<(), ApiError> {
        match params::str_field(d, "auth_type")? {
            None | Some("iam") => {}
            Some("ec2") => return Err(ApiError::bad_request("auth_type \"ec2\" is not supported: use \"iam\"")),
            Some(_) => return Err(ApiError::bad_request("unrecognized auth_type: only \"iam\" is supported")),
        }
        if params::bool_field(d, "resolve_aws_unique_ids")? == Some(true) {
            return Err(ApiError::bad_request(
                "resolve_aws_unique_ids is not supported: Coffer matches bound_iam_principal_arn against the \
                 canonical ARN STS returns; set it to false",
            ));
        }
        for unsupported in ["bound_account_id", "bound_region", "bound_iam_role_arn", "bound_ami_id", "bound_vpc_id"] {
            if d.get(unsupported).is_some_and(|v| !v.is_null() && v != &json!([]) && v != &json!("")) {
                return Err(ApiError::bad_request(format!("{unsupported} is not supported for auth_type \"iam\"")));
            }
        }
        if d.get("bound_iam_principal_arn").is_some_and(|v| !v.is_null()) {
            let arns = string_list(d, "bound_iam_principal_arn")?;
            if arns.len() > MAX_BOUND {
                return Err(ApiError::bad_request("bound_iam_principal_arn lists too many principals"));
            }
            for a in &arns {
                if !a.starts_with("arn:")
                    || a.len() > MAX_ARN_LEN
                    || a.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(ApiError::bad_request(format!("bound_iam_principal_arn: {a:?} is not an ARN")));
                }
            }
            self.bound_iam_principal_arn = arns;
        }
        self.token_type = token_type_field(d, &self.token_type)?;
        self.token.update(d)?;
        if self.bound_iam_principal_arn.is_empty() {
            return Err(ApiError::bad_request("at least one bound parameter should be specified on the role"));
        }
        Ok(())
    }
}
