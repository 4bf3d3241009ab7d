//! What the edge decides before it reads a request body (SEC-35): how many bytes the body may
//! have, and whether the token in the headers is good enough for the body to be read at all.

use std::net::IpAddr;

use secrecy::SecretString;

use crate::base::logical::Operation;
use crate::core::Core;

/// Largest body of a request served without a token (`sys/init`, `sys/unseal`, logins, …),
/// whatever `max_request_size` says.
pub const UNAUTHENTICATED_BODY_LIMIT: usize = 64 << 10;

/// The edge's decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Read a body of at most this many bytes.
    Read(usize),
    /// Do not read the body: the token is missing, unknown or not usable from this address, or
    /// the server is sealed. The core answers (and audits) the refusal.
    Refuse,
}

/// Decides from the path, operation and headers alone. `max` is `max_request_size`; `sudo_max`
/// is a larger limit for a path that needs sudo (a snapshot to restore), granted only to a token
/// that holds sudo there, so another token cannot make the server read that much.
pub async fn admit(
    core: &Core,
    path: &str,
    op: Operation,
    token: Option<&SecretString>,
    client: Option<IpAddr>,
    max: usize,
    sudo_max: Option<usize>,
) -> Admission {
    let open = Admission::Read(UNAUTHENTICATED_BODY_LIMIT.min(max));
    if crate::engines::sys::served_without_token(core, path, op) {
        return open;
    }
    if core.barrier.is_sealed() {
        return Admission::Refuse;
    }
    if let Some((mount, rel)) = core.mounts.load_full().route(path) {
        if mount.engine.unauthenticated(rel) {
            return open;
        }
    }
    // SigV4 hook (a later issue): a request signed with AWS SigV4 is recognised here from its
    // `Authorization` header. An unknown access key must be refused at this point, before the
    // body is read, and the signature verified over the raw bytes before any JSON is parsed.
    match core.tokens.authenticate(&core.store, token, core.clock.now()).await {
        Ok(t) if t.allowed_from(client) => match sudo_max {
            Some(big) if has_sudo(core, &t, path).await => Admission::Read(big),
            _ => Admission::Read(max),
        },
        _ => Admission::Refuse,
    }
}

/// Whether the token's policies grant sudo on `path`.
async fn has_sudo(core: &Core, token: &crate::core::tokens::TokenEntry, path: &str) -> bool {
    core.policies
        .acl_for(&core.store, token)
        .await
        .is_ok_and(|acl| acl.is_root() || acl.capabilities(path).contains(crate::base::policy::Capability::Sudo))
}
