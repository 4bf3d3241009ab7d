//! Rekey: new Shamir shares (a new unseal key, new count and threshold) for the same root key, so
//! no data is re-encrypted. Only the root key's ciphertext and the seal configuration change, in
//! one compare-and-set transaction. With verification, the new shares replace the old ones only
//! once a threshold of them has been given back; until then the old shares unseal (FLT-04).

use serde_json::json;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::{decode_share, SealConfig, SealKind, ROOT_KEY, ROOT_KEY_AAD, SEAL_CONFIG};
use crate::base::error::ApiError;
use crate::core::Core;
use crate::crypto::{self, shamir, Key};

/// Test hook: with `COFFER_TEST_REKEY_CRASH_AT=<point>` set, the process kills itself with SIGKILL
/// at that point of a rekey: `old-key-recovered` (a threshold of old shares was checked),
/// `new-key-made` (the new unseal key, its shares and the new root-key ciphertext exist only in
/// memory), `shares-issued` (verification: the new shares are about to be answered, nothing
/// stored), `before-commit` (about to replace the root-key ciphertext and seal configuration)
/// or `after-commit` (replaced, not yet answered). Unset (as in production), nothing happens.
pub const CRASH_ENV: &str = "COFFER_TEST_REKEY_CRASH_AT";

fn crash_point(point: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == point) {
        tracing::error!(point, "{CRASH_ENV} is set: killing the process (test hook)");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

/// What `PUT sys/rekey/init` asks for.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// New share count.
    pub shares: u64,
    /// New threshold.
    pub threshold: u64,
    /// The new shares must be given back before they replace the old ones.
    pub verify: bool,
}

/// `GET sys/rekey/init`.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// A rekey is in progress.
    pub started: bool,
    /// Its nonce.
    pub nonce: String,
    /// New share count.
    pub shares: u64,
    /// New threshold.
    pub threshold: u64,
    /// Old shares given so far.
    pub progress: usize,
    /// Old shares needed (the current threshold).
    pub required: u64,
    /// Whether the new shares must be verified.
    pub verification_required: bool,
    /// The verification's nonce once the new shares were issued.
    pub verification_nonce: String,
}

/// `GET sys/rekey/verify`.
#[derive(Debug, Clone)]
pub struct VerifyStatus {
    /// The verification's nonce.
    pub nonce: String,
    /// New share count.
    pub shares: u64,
    /// New threshold (new shares needed).
    pub threshold: u64,
    /// New shares given so far.
    pub progress: usize,
}

/// The new shares, issued once.
pub struct Issued {
    /// The rekey's nonce.
    pub nonce: String,
    /// The new shares.
    pub shares: Vec<Zeroizing<Vec<u8>>>,
    /// Whether they still have to be verified.
    pub verification_required: bool,
    /// The verification's nonce (empty without verification).
    pub verification_nonce: String,
}

/// What an old share did.
pub enum Update {
    /// More old shares are needed.
    Progress(Status),
    /// The threshold was reached: the new shares.
    Done(Issued),
}

/// What a new share given for verification did.
pub enum Verified {
    /// More new shares are needed.
    Progress(VerifyStatus),
    /// The new shares are in force; the nonce of the verification.
    Done(String),
}

/// The new key while it waits for verification: only its ciphertext of the root key (held in
/// memory, never stored, so a crash or a seal leaves the old shares in force).
struct Pending {
    root_ct: Vec<u8>,
    /// The stored root-key ciphertext it replaces (the compare-and-set's expected value).
    old_root_ct: Vec<u8>,
    nonce: String,
    parts: Vec<Zeroizing<Vec<u8>>>,
}

struct Attempt {
    nonce: String,
    start: Start,
    parts: Vec<Zeroizing<Vec<u8>>>,
    pending: Option<Pending>,
}

/// The rekey in progress on this node (one at a time, as Vault).
#[derive(Default)]
pub struct Rekey {
    attempt: Mutex<Option<Attempt>>,
}

fn no_rekey() -> ApiError {
    ApiError::bad_request("no rekey in progress")
}

/// The key-file seal has no shares to replace.
fn shamir_only(core: &Core) -> Result<(), ApiError> {
    match core.seal.kind {
        SealKind::Shamir => Ok(()),
        SealKind::KeyFile(_) => Err(ApiError::bad_request(
            "rekey is not supported with the key-file seal: its unseal key is the key file, there are no \
             key shares to replace",
        )),
    }
}

fn check_nonce(expected: &str, given: &str) -> Result<(), ApiError> {
    if given.is_empty() {
        return Err(ApiError::bad_request("missing required field 'nonce'"));
    }
    if !crate::crypto::ct_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(ApiError::bad_request("incorrect nonce supplied"));
    }
    Ok(())
}

/// Adds a share to `parts`; a share given twice is refused (as Vault does).
fn add_share(parts: &mut Vec<Zeroizing<Vec<u8>>>, share: &str) -> Result<(), ApiError> {
    let part = decode_share(share)?;
    if parts.iter().any(|p| crate::crypto::ct_eq(p, &part)) {
        return Err(ApiError::bad_request("given key has already been provided during this operation"));
    }
    parts.push(part);
    Ok(())
}

fn invalid_shares() -> ApiError {
    ApiError::bad_request("invalid key: the key shares given do not combine to the unseal key; progress was reset")
}

impl Rekey {
    async fn required(core: &Core) -> Result<u64, ApiError> {
        let config = core.seal.reload_config(core).await?;
        Ok(config.map(|c| c.secret_threshold.max(1)).unwrap_or(0))
    }

    /// `GET sys/rekey/init`.
    pub async fn status(&self, core: &Core) -> Result<Status, ApiError> {
        let required = Self::required(core).await?;
        let attempt = self.attempt.lock().await;
        Ok(Self::status_of(attempt.as_ref(), required))
    }

    fn status_of(attempt: Option<&Attempt>, required: u64) -> Status {
        match attempt {
            None => Status { required, ..Status::default() },
            Some(a) => Status {
                started: true,
                nonce: a.nonce.clone(),
                shares: a.start.shares,
                threshold: a.start.threshold,
                progress: a.parts.len(),
                required,
                verification_required: a.start.verify,
                verification_nonce: a.pending.as_ref().map(|p| p.nonce.clone()).unwrap_or_default(),
            },
        }
    }

    /// `PUT sys/rekey/init`: starts a rekey (400 when one is in progress).
    pub async fn start(&self, core: &Core, start: Start) -> Result<Status, ApiError> {
        shamir_only(core)?;
        shamir::check_config(start.shares, start.threshold).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let required = Self::required(core).await?;
        let mut attempt = self.attempt.lock().await;
        if attempt.is_some() {
            return Err(ApiError::bad_request("rekey already in progress"));
        }
        let new = Attempt { nonce: uuid::Uuid::new_v4().to_string(), start, parts: Vec::new(), pending: None };
        *attempt = Some(new);
        tracing::info!(shares = start.shares, threshold = start.threshold, verify = start.verify, "rekey started");
        core.audit.event(
            "rekey_started",
            json!({"shares": start.shares, "threshold": start.threshold, "verification_required": start.verify}),
        );
        Ok(Self::status_of(attempt.as_ref(), required))
    }

    /// `DELETE sys/rekey/init`: forgets the rekey in progress (and any new shares not yet verified).
    pub async fn cancel(&self, core: &Core) -> Result<(), ApiError> {
        shamir_only(core)?;
        self.discard(core, "cancel").await;
        Ok(())
    }

    /// Drops the rekey in progress, if any, and audits why (`cancel`, `seal`).
    pub async fn discard(&self, core: &Core, why: &str) {
        let Some(old) = self.attempt.lock().await.take() else {
            return;
        };
        tracing::info!(reason = why, "rekey cancelled; the current key shares stay in force");
        core.audit.event(
            "rekey_cancelled",
            json!({"reason": why, "shares_issued": old.pending.is_some(), "shares": old.start.shares,
                   "threshold": old.start.threshold}),
        );
    }

    /// `PUT sys/rekey/update`: one old share. At the threshold the old shares are checked against
    /// the stored root key and the new shares are made; without verification they replace the
    /// old ones before they are answered.
    pub async fn update(&self, core: &Core, share: &str, nonce: &str) -> Result<Update, ApiError> {
        shamir_only(core)?;
        let required = Self::required(core).await?;
        let mut guard = self.attempt.lock().await;
        let attempt = guard.as_mut().ok_or_else(no_rekey)?;
        check_nonce(&attempt.nonce, nonce)?;
        if attempt.pending.is_some() {
            return Err(ApiError::bad_request(
                "the new key shares were issued and await verification (sys/rekey/verify)",
            ));
        }
        add_share(&mut attempt.parts, share)?;
        if (attempt.parts.len() as u64) < required {
            return Ok(Update::Progress(Self::status_of(Some(attempt), required)));
        }
        let parts = std::mem::take(&mut attempt.parts);
        let stored = core
            .store
            .system_get(ROOT_KEY)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::internal(&"the root key record is missing"))?;
        let old_key = shamir::combine(&parts, required).map_err(|_| invalid_shares())?;
        let root = match crypto::open(&old_key, ROOT_KEY_AAD, &stored) {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("rekey: the old key shares given at the threshold are not valid");
                core.audit.event("rekey_failed", json!({"reason": "invalid old key shares"}));
                return Err(invalid_shares());
            }
        };
        crash_point("old-key-recovered");
        let start = attempt.start;
        let new_key = Key::generate();
        let shares = shamir::split(&new_key, start.shares, start.threshold).map_err(|e| ApiError::internal(&e))?;
        let root_ct = crypto::seal(&new_key, ROOT_KEY_AAD, &root);
        // The shares are checked before anything depends on them: the first and the last
        // `threshold` of them each give back the key that opens the new ciphertext.
        let t = usize::try_from(start.threshold).map_err(|e| ApiError::internal(&e))?;
        for set in [shares.get(..t), shares.get(shares.len().saturating_sub(t)..)] {
            let set = set.ok_or_else(|| ApiError::internal(&"rekey: fewer shares than the threshold"))?;
            let back = shamir::combine(set, start.threshold).map_err(|e| ApiError::internal(&e))?;
            crypto::open(&back, ROOT_KEY_AAD, &root_ct)
                .map_err(|_| ApiError::internal(&"rekey: the new key shares do not recombine"))?;
        }
        crash_point("new-key-made");
        let nonce = attempt.nonce.clone();
        if start.verify {
            let pending =
                Pending { root_ct, old_root_ct: stored, nonce: uuid::Uuid::new_v4().to_string(), parts: Vec::new() };
            let verification_nonce = pending.nonce.clone();
            attempt.pending = Some(pending);
            tracing::info!("rekey: new key shares issued; they replace the current ones once verified");
            core.audit.event(
                "rekey_shares_issued",
                json!({"shares": start.shares, "threshold": start.threshold, "verification_required": true}),
            );
            crash_point("shares-issued");
            return Ok(Update::Done(Issued { nonce, shares, verification_required: true, verification_nonce }));
        }
        commit(core, &stored, &root_ct, start).await?;
        *guard = None;
        Ok(Update::Done(Issued { nonce, shares, verification_required: false, verification_nonce: String::new() }))
    }

    /// `GET sys/rekey/verify`.
    pub async fn verify_status(&self, core: &Core) -> Result<VerifyStatus, ApiError> {
        shamir_only(core)?;
        let guard = self.attempt.lock().await;
        let attempt = guard.as_ref().ok_or_else(|| ApiError::bad_request("no rekey configuration found"))?;
        Self::verify_status_of(attempt)
    }

    fn verify_status_of(attempt: &Attempt) -> Result<VerifyStatus, ApiError> {
        let pending =
            attempt.pending.as_ref().ok_or_else(|| ApiError::bad_request("no rekey verification in progress"))?;
        Ok(VerifyStatus {
            nonce: pending.nonce.clone(),
            shares: attempt.start.shares,
            threshold: attempt.start.threshold,
            progress: pending.parts.len(),
        })
    }

    /// `DELETE sys/rekey/verify`: starts the verification again (new nonce, no shares given).
    pub async fn restart_verification(&self, core: &Core) -> Result<VerifyStatus, ApiError> {
        shamir_only(core)?;
        let mut guard = self.attempt.lock().await;
        let attempt = guard.as_mut().ok_or_else(|| ApiError::bad_request("no rekey configuration found"))?;
        let pending =
            attempt.pending.as_mut().ok_or_else(|| ApiError::bad_request("no rekey verification in progress"))?;
        pending.nonce = uuid::Uuid::new_v4().to_string();
        pending.parts.clear();
        core.audit.event("rekey_verification_restarted", json!({}));
        Self::verify_status_of(attempt)
    }

    /// `PUT sys/rekey/verify`: one new share. At the new threshold, the shares must open the new
    /// root-key ciphertext; then it replaces the old one and the rekey is complete.
    pub async fn verify(&self, core: &Core, share: &str, nonce: &str) -> Result<Verified, ApiError> {
        shamir_only(core)?;
        let mut guard = self.attempt.lock().await;
        let attempt = guard.as_mut().ok_or_else(|| ApiError::bad_request("no rekey configuration found"))?;
        let start = attempt.start;
        let pending =
            attempt.pending.as_mut().ok_or_else(|| ApiError::bad_request("no rekey verification in progress"))?;
        check_nonce(&pending.nonce, nonce)?;
        add_share(&mut pending.parts, share)?;
        if (pending.parts.len() as u64) < start.threshold {
            return Self::verify_status_of(attempt).map(Verified::Progress);
        }
        let parts = std::mem::take(&mut pending.parts);
        let proven = shamir::combine(&parts, start.threshold)
            .ok()
            .is_some_and(|key| crypto::open(&key, ROOT_KEY_AAD, &pending.root_ct).is_ok());
        if !proven {
            tracing::warn!("rekey: the new key shares given for verification are not valid");
            core.audit.event("rekey_failed", json!({"reason": "invalid new key shares in verification"}));
            return Err(invalid_shares());
        }
        let nonce = pending.nonce.clone();
        commit(core, &pending.old_root_ct, &pending.root_ct, start).await?;
        *guard = None;
        Ok(Verified::Done(nonce))
    }
}

/// Replaces the root key's ciphertext and the seal configuration in one transaction, if the
/// stored ciphertext is still the one the old shares opened; then tells this node and the others.
async fn commit(core: &Core, old_root_ct: &[u8], root_ct: &[u8], start: Start) -> Result<(), ApiError> {
    let config = SealConfig { kind: "shamir".into(), secret_shares: start.shares, secret_threshold: start.threshold };
    let config_json = serde_json::to_vec(&config).map_err(|e| ApiError::internal(&e))?;
    crash_point("before-commit");
    match core.store.system_swap_with(ROOT_KEY, old_root_ct, &[(ROOT_KEY, root_ct), (SEAL_CONFIG, &config_json)]).await
    {
        Ok(()) => {}
        Err(crate::store::StoreError::Conflict) => {
            return Err(ApiError::bad_request(
                "the unseal key changed during this rekey (another rekey completed first); start again",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    crash_point("after-commit");
    core.seal.reload_config(core).await?;
    core.changes.changed(crate::store::bus::Topic::Seal);
    tracing::info!(shares = start.shares, threshold = start.threshold, "rekey complete: new key shares in force");
    core.audit.event(
        "rekey_completed",
        json!({"shares": start.shares, "threshold": start.threshold, "verification_required": start.verify}),
    );
    Ok(())
}
