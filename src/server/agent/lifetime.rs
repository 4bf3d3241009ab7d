//! The token's life: log in (with backoff), publish the token and write the sinks, renew it at
//! two thirds of its TTL, and log in again when renewal is refused, the token is not renewable,
//! or its max TTL is near (a renewal that gives less than the first TTL).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::{expose, parse_auth, AutoAuth, Login};
use super::client::{CallError, Client};

/// The token as the other tasks see it (`None` until the first login).
pub type Shared = watch::Receiver<Option<Arc<SecretString>>>;

/// The first and the longest wait between failed logins.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// The longest TTL or lease the agent plans with (a century): a server's answer of more, up to
/// `u64::MAX` seconds, must not overflow a deadline.
const MAX_SECS: u64 = 100 * 365 * 24 * 3600;

/// Two thirds of `ttl` seconds.
pub(super) fn two_thirds(ttl: u64) -> Duration {
    Duration::from_millis(ttl.min(MAX_SECS) * 2000 / 3)
}

/// The instant `secs` seconds from now.
pub(super) fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs.min(MAX_SECS))
}

/// Keeps a valid token in `tx` for as long as the agent runs.
pub async fn keep(
    auth: Arc<AutoAuth>,
    client: Client,
    sinks: Vec<(PathBuf, u32)>,
    tx: watch::Sender<Option<Arc<SecretString>>>,
) {
    loop {
        let login = login_with_backoff(&auth, &client).await;
        let token = Arc::new(login.token);
        write_sinks(&sinks, &token);
        tx.send_replace(Some(token.clone()));
        tracing::info!(ttl = login.ttl, renewable = login.renewable, "agent: logged in");
        hold(&client, &token, login.ttl, login.renewable).await;
    }
}

async fn login_with_backoff(auth: &AutoAuth, client: &Client) -> Login {
    let mut wait = BACKOFF.0;
    loop {
        match auth.login(client).await {
            Ok(l) => return l,
            Err(e) => {
                tracing::warn!("agent: login failed, retrying in {}s: {e}", wait.as_secs());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BACKOFF.1);
            }
        }
    }
}

/// Renews `token` until it must be replaced; returns when a new login is due.
async fn hold(client: &Client, token: &SecretString, first_ttl: u64, renewable: bool) {
    if first_ttl == 0 {
        // A token without expiry: nothing to renew, ever.
        std::future::pending::<()>().await;
    }
    let mut ttl = first_ttl;
    let mut renewable = renewable;
    let mut expires = in_secs(ttl);
    loop {
        tokio::time::sleep(two_thirds(ttl)).await;
        if !renewable {
            return;
        }
        loop {
            match client.call(Method::POST, "auth/token/renew-self", Some(token), Some(&serde_json::json!({}))).await {
                Ok(answer) => {
                    let new_ttl = parse_auth(&answer).map(|l| l.ttl).unwrap_or(0);
                    tracing::info!(ttl = new_ttl, "agent: token renewed");
                    if new_ttl == 0 {
                        return;
                    }
                    // Less than the first TTL: the max TTL caps it, so the next step is a login.
                    renewable = new_ttl >= first_ttl;
                    ttl = new_ttl;
                    expires = in_secs(ttl);
                    break;
                }
                Err(CallError::Refused { status, .. }) => {
                    tracing::warn!(status, "agent: renewal refused, logging in again");
                    return;
                }
                Err(e @ CallError::Unreachable(_)) => {
                    if Instant::now() + BACKOFF.0 >= expires {
                        tracing::warn!("agent: the token expired while the server was unreachable: {e}");
                        return;
                    }
                    tracing::warn!("agent: cannot renew yet: {e}");
                    tokio::time::sleep(BACKOFF.0).await;
                }
            }
        }
    }
}

/// Writes the token to each sink (atomically, with its mode); a failure is logged.
fn write_sinks(sinks: &[(PathBuf, u32)], token: &SecretString) {
    for (path, mode) in sinks {
        if let Err(e) = crate::base::template::write_file_atomic(path, expose(token).as_bytes(), *mode) {
            tracing::error!("agent: cannot write the token sink {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_two_thirds() {
        assert_eq!(two_thirds(3), Duration::from_secs(2));
        assert_eq!(two_thirds(5), Duration::from_millis(3333));
        assert_eq!(two_thirds(u64::MAX), two_thirds(MAX_SECS));
        assert!(in_secs(u64::MAX) > in_secs(MAX_SECS - 1));
    }
}
