//! One request's audit trail: the request entry written (and confirmed) before the request runs,
//! the response entry written before the answer leaves the server.

use std::sync::Arc;

use super::device::Device;
use super::entry::{self, Caller};
use super::Audit;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::core::mounts::MountEntry;

/// Room kept in an entry for everything but the auth, request and response data: time, type,
/// mount fields, warnings, the error text and the chain fields.
const ENTRY_OVERHEAD: usize = 2048;

/// The audit side of one request.
pub struct Trail<'a> {
    audit: &'a Audit,
    devices: Arc<Vec<Arc<Device>>>,
    /// Per device: the serialised `auth` and `request` objects of the request entry, reused in
    /// the response entry; and the request id and path for the server log.
    recorded: Vec<(Vec<u8>, Vec<u8>)>,
    id_path: (String, String),
    /// The request may go ahead unaudited (disabling or listing audit devices).
    exempt: bool,
    /// The request or its answer carries unseal key shares: hashed even by `log_raw` devices.
    key_shares: bool,
}

/// Paths whose requests and answers carry unseal key shares (rekey).
fn carries_key_shares(path: &str) -> bool {
    path.starts_with("sys/rekey/") || path.starts_with("sys/rotate/root/")
}

impl<'a> Trail<'a> {
    /// A trail over the devices running now.
    pub fn new(audit: &'a Audit) -> Self {
        Trail {
            audit,
            devices: audit.active(),
            recorded: Vec::new(),
            id_path: Default::default(),
            exempt: false,
            key_shares: false,
        }
    }

    /// True when at least one device is running.
    pub fn is_on(&self) -> bool {
        !self.devices.is_empty()
    }

    /// Lets the request go ahead even if no device records it: an operator must always be able
    /// to see and disable a broken device (the server log still records the request).
    pub fn exempt(&mut self) {
        self.exempt = true;
    }

    /// Writes the request entries; `Err(500)` if no device confirmed them in time.
    pub async fn request(
        &mut self,
        req: &Request,
        mount: Option<&MountEntry>,
        caller: &Caller<'_>,
        error: Option<&ApiError>,
    ) -> Result<(), ApiError> {
        if self.devices.is_empty() {
            return Ok(());
        }
        let time = self.audit.clock.now();
        let error = error.and_then(entry::error_text);
        self.recorded.clear();
        self.id_path = (req.id.clone(), req.path.clone());
        self.key_shares = carries_key_shares(&req.path);
        let mut bodies = Vec::with_capacity(self.devices.len());
        for d in self.devices.iter() {
            let hashed = entry::Hashed::new(&d.hasher, caller);
            let auth = entry::auth(&hashed, caller);
            let h = if self.key_shares { d.hasher.never_raw() } else { std::borrow::Cow::Borrowed(&d.hasher) };
            let request = entry::request(&h, &hashed, req, mount, self.max_entry() / 2);
            bodies.push(entry::line("request", &time, &auth, &request, None, error.as_deref()));
            self.recorded.push((auth, request));
        }
        if self.audit.record(&self.devices, bodies).await {
            return Ok(());
        }
        self.unrecorded(&req.id, &req.path)
    }

    /// Writes the response entries; a result no device recorded becomes a 500.
    pub async fn response(
        &mut self,
        mount: Option<&MountEntry>,
        result: Result<Response, ApiError>,
    ) -> Result<Response, ApiError> {
        if self.devices.is_empty() || self.recorded.len() != self.devices.len() {
            return result;
        }
        let time = self.audit.clock.now();
        let error = result.as_ref().err().and_then(entry::error_text);
        let bodies = self
            .devices
            .iter()
            .zip(&self.recorded)
            .map(|(d, (auth, request))| {
                // The response entry repeats the auth and request objects; its data gets the rest.
                let used = auth.len() + request.len() + ENTRY_OVERHEAD;
                let h = if self.key_shares { d.hasher.never_raw() } else { std::borrow::Cow::Borrowed(&d.hasher) };
                let response = entry::response(&h, mount, &result, self.max_entry().saturating_sub(used));
                entry::line("response", &time, auth, request, Some(&response), error.as_deref())
            })
            .collect();
        if self.audit.record(&self.devices, bodies).await {
            return result;
        }
        self.unrecorded(&self.id_path.0, &self.id_path.1)?;
        result
    }

    /// A request refused before it ran (bad token, policy): both entries, then the error.
    pub async fn refuse(
        &mut self,
        req: &Request,
        mount: Option<&MountEntry>,
        caller: &Caller<'_>,
        e: ApiError,
    ) -> Result<Response, ApiError> {
        self.request(req, mount, caller, Some(&e)).await?;
        self.response(mount, Err(e)).await
    }

    /// `audit.max_entry_size`: request data gets half of it, response data what is left.
    fn max_entry(&self) -> usize {
        self.audit.settings.max_entry_size
    }

    fn unrecorded(&self, id: &str, path: &str) -> Result<(), ApiError> {
        if self.exempt {
            tracing::warn!(request_id = %id, path = %path, "no audit device recorded this audit-management request; it goes ahead");
            return Ok(());
        }
        tracing::error!(request_id = %id, path = %path, "no audit device recorded the request; it is refused");
        Err(ApiError::audit_failed())
    }
}
