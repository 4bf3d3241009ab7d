//! One AWS request as it runs: who signed it (an identity holding the key's policies), the KV
//! mount it works on, the region and account of its ARNs, and its audit trail. Every KV path an
//! operation touches is authorised here, by the ACL check an HTTP request passes.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::protocol::AwsError;
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::alerts::{Outcome, Watch};
use crate::core::audit::entry::Caller;
use crate::core::audit::Trail;
use crate::core::engine::Host;
use crate::core::mounts::MountEntry;
use crate::core::tokens::TokenEntry;
use crate::core::Core;

/// What an operation needs on one KV path (the rows of the table in `docs/aws-sm.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `create` (the secret must not exist yet).
    Create,
    /// `read`.
    Read,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
    /// `list` (a folder).
    List,
}

impl Need {
    fn operation(self) -> Operation {
        match self {
            Need::Create => Operation::Create,
            Need::Read => Operation::Read,
            Need::Update => Operation::Update,
            Need::Delete => Operation::Delete,
            Need::List => Operation::List,
        }
    }
}

/// A KV section of the mount: `data`, `metadata`, `stages`, `undelete`, `rotate`, `rotation`.
pub type Section = &'static str;

/// One request's context.
pub struct Ctx<'a> {
    /// The server.
    pub core: &'a Core,
    /// The KV v2 mount of the AWS API.
    pub mount: Arc<MountEntry>,
    /// The signer: an identity with the key's policies, named `aws-<key id>`.
    pub identity: TokenEntry,
    /// The access key id.
    pub key_id: String,
    /// The region the request was signed for.
    pub region: String,
    /// The account id of ARNs.
    pub account: String,
    /// The operation (`GetSecretValue`, ...).
    pub operation: String,
    /// Request id (`x-amzn-RequestId`, and the audit entry's id).
    pub request_id: String,
    /// The caller's address.
    pub client: Option<SocketAddr>,
    /// The request body without secret values, for the audit entry.
    pub audit_data: Map<String, Value>,
    trail: tokio::sync::Mutex<Record<'a>>,
}

/// The audit trail and how far it got.
struct Record<'a> {
    trail: Trail<'a>,
    /// The request entry is written.
    request: bool,
    /// The response entry is written (a refusal writes both at once).
    response: bool,
}

impl<'a> Ctx<'a> {
    /// A context; nothing is recorded until the first check (or [`Ctx::finish`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: &'a Core,
        mount: Arc<MountEntry>,
        identity: TokenEntry,
        key_id: String,
        region: String,
        account: String,
        operation: String,
        request_id: String,
        client: Option<SocketAddr>,
        audit_data: Map<String, Value>,
    ) -> Self {
        Ctx {
            trail: tokio::sync::Mutex::new(Record { trail: Trail::new(&core.audit), request: false, response: false }),
            core,
            mount,
            identity,
            key_id,
            region,
            account,
            operation,
            request_id,
            client,
            audit_data,
        }
    }

    /// The KV mount's handle for engine calls.
    pub fn host(&self) -> Host<'_> {
        Host::new(self.core, &self.mount)
    }

    /// Now, by the core's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// The full API path of `section/name` in the mount (`secret/data/app`).
    pub fn path(&self, section: Section, name: &str) -> String {
        format!("{}{section}/{name}", self.mount.api_path)
    }

    /// Checks that the signer may do `need` on `section/name`, as an HTTP request to that path
    /// would be checked. The first check also writes the audit entry of the request, so that
    /// every operation is on record (with the path it touched) before it runs. Each check feeds
    /// the alert rules: a refusal counts as a denied request, an allowed read of `data/<name>` as
    /// a secret read (`GetSecretValue`, `BatchGetSecretValue`).
    pub async fn allow(&self, need: Need, section: Section, name: &str) -> Result<(), AwsError> {
        let path = self.path(section, name);
        let decided = self.core.token_permits(&self.identity, &path, need.operation()).await;
        let denied = match &decided {
            Ok(_) => None,
            Err(e) if e.status == http::StatusCode::FORBIDDEN => {
                Some(AwsError::access_denied(&format!("{need:?} on {path}").to_lowercase()))
            }
            Err(e) => Some(AwsError::from(e.clone())),
        };
        self.record(&path, need, denied.as_ref()).await?;
        let alerts = &self.core.alerts;
        let outcome = match &decided {
            Ok(_) => Outcome::Served,
            Err(e) => Outcome::of_error(e),
        };
        let watch = alerts.watch(&path, need.operation(), self.client).map(Watch::from_aws);
        alerts.seen(&self.core.audit, watch, Some(&self.identity), Some(&self.mount), outcome);
        match denied {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// Writes the request's audit entry (once: later calls do nothing), for `path` and the
    /// decision on it. A refusal is recorded with its answer at once.
    pub async fn record(&self, path: &str, need: Need, denied: Option<&AwsError>) -> Result<(), AwsError> {
        let mut rec = self.trail.lock().await;
        if rec.request {
            return Ok(());
        }
        rec.request = true;
        if !rec.trail.is_on() {
            // No device: nothing to build (the body is never copied for nobody).
            rec.response = true;
            return Ok(());
        }
        let req = self.logical(path, need.operation());
        let granting = match denied {
            None => self.core.granting_policies(&self.identity, &req).await,
            Some(_) => Vec::new(),
        };
        let caller =
            Caller { token: Some(&self.identity), secret: None, decision: Some((denied.is_none(), &granting)) };
        match denied {
            None => rec.trail.request(&req, Some(&self.mount), &caller, None).await.map_err(|_| AwsError::internal()),
            Some(d) => {
                rec.response = true;
                // A refusal that no device recorded is still a refusal.
                let _ = rec.trail.refuse(&req, Some(&self.mount), &caller, d.to_api()).await;
                Ok(())
            }
        }
    }

    /// Records the answer (and the request too, for an operation that touched no KV path).
    /// An answer no audit device took becomes a 500, as for the Vault API.
    pub async fn finish(&self, result: Result<Value, AwsError>) -> Result<Value, AwsError> {
        let mut rec = self.trail.lock().await;
        if rec.response {
            return result;
        }
        if !rec.trail.is_on() {
            return result;
        }
        if !rec.request {
            rec.request = true;
            let req = self.logical(&format!("sys/aws/{}", self.operation), Operation::Update);
            let caller = Caller { token: Some(&self.identity), secret: None, decision: Some((true, &[])) };
            rec.trail.request(&req, Some(&self.mount), &caller, None).await.map_err(|_| AwsError::internal())?;
        }
        rec.response = true;
        let logical: Result<Response, ApiError> = match &result {
            Ok(v) => Ok(Response::data(v.clone())),
            Err(e) => Err(e.to_api()),
        };
        match rec.trail.response(Some(&self.mount), logical).await {
            Err(e) if e.status == http::StatusCode::INTERNAL_SERVER_ERROR && result.is_ok() => {
                Err(AwsError::internal())
            }
            _ => result,
        }
    }

    fn logical(&self, path: &str, operation: Operation) -> Request {
        let mut data = self.audit_data.clone();
        data.insert("aws_operation".into(), Value::String(self.operation.clone()));
        Request {
            id: self.request_id.clone(),
            operation,
            path: path.to_string(),
            data,
            token: None,
            client_addr: self.client,
            wrap_ttl: None,
            strong: false,
            raw: None,
            peer_certs: None,
        }
    }
}
