//! Process hardening at start: no core dumps, memory locked where allowed, logging set up.

/// Disables core dumps and, unless told not to, locks memory so keys never reach swap.
pub fn harden(disable_mlock: bool) {
    let none = rustix::process::Rlimit { current: Some(0), maximum: Some(0) };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Core, none) {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    if disable_mlock {
        return;
    }
    use rustix::mm::MlockAllFlags as F;
    // ONFAULT locks each page as it is first touched rather than faulting in the whole binary at
    // start (13 MB of code never run): every page that can hold a key is still locked. Kernels
    // before 4.4 refuse the flag; they lock everything at once instead.
    let locked = match rustix::mm::mlockall(F::CURRENT | F::FUTURE | F::ONFAULT) {
        Err(rustix::io::Errno::INVAL) => rustix::mm::mlockall(F::CURRENT | F::FUTURE),
        other => other,
    };
    if let Err(e) = locked {
        tracing::warn!(error = %e, "could not lock memory (mlockall); key material may be swapped out. \
            Grant CAP_IPC_LOCK or set disable_mlock = true to silence this warning");
    }
}

/// Installs the global tracing subscriber (stderr; text or JSON).
pub fn init_logging(level: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Listens for SIGTERM and SIGINT from the moment it is called, so a signal that arrives while
/// the server is still starting is not lost (and does not kill it); the returned future resolves
/// when one arrives.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let streams = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        match streams {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// On every SIGHUP, for as long as the server runs: reopens the audit files (logrotate's
/// `postrotate`) and reloads the TLS certificate, if there is one. A certificate that does not load
/// is logged and the one in use stays.
pub fn on_hangup(
    core: std::sync::Arc<crate::core::Core>,
    cert: Option<std::sync::Arc<super::tls::Certificate>>,
) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => Some(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reopening audit files");
                core.audit.reopen_all();
                if let Some(cert) = &cert {
                    match cert.reload() {
                        Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                        Err(e) => {
                            tracing::error!(error = %e, "SIGHUP: the TLS certificate did not load; the old one stays in use")
                        }
                    }
                }
            }
        })),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; audit files will not be reopened on it");
            None
        }
    }
}
