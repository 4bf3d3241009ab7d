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

/// Swaps the running subscriber's filter (set once, by [`init_logging`]).
type Reload = Box<dyn Fn(tracing_subscriber::EnvFilter) -> Result<(), String> + Send + Sync>;

static RELOAD: std::sync::OnceLock<Reload> = std::sync::OnceLock::new();

/// Installs the global tracing subscriber (stderr; text or JSON), with a filter that
/// [`set_log_level`] can change while the server runs.
pub fn init_logging(level: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    if json {
        let builder = builder.json().with_filter_reloading();
        let handle = builder.reload_handle();
        if builder.try_init().is_ok() {
            let _ = RELOAD.set(Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())));
        }
    } else {
        let builder = builder.with_filter_reloading();
        let handle = builder.reload_handle();
        if builder.try_init().is_ok() {
            let _ = RELOAD.set(Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())));
        }
    }
}

/// Changes the log filter of the running server (`info`, `coffer=debug`, …). A filter that does
/// not parse is refused and the one in use stays.
pub fn set_log_level(level: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| format!("log level {level:?}: {e}"))?;
    match RELOAD.get() {
        Some(reload) => reload(filter),
        None => Err("logging was not set up by this process".into()),
    }
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

/// What SIGHUP reloads besides the audit files.
#[derive(Default)]
pub struct Reloadable {
    /// The listener's TLS certificate, if it has one.
    pub cert: Option<std::sync::Arc<super::tls::Certificate>>,
    /// Reads the configuration again and answers its log level (a server started from a config).
    pub log_level: Option<Box<dyn Fn() -> Result<String, String> + Send + Sync>>,
}

/// On every SIGHUP, for as long as the server runs: reopens the audit files (logrotate's
/// `postrotate`), reloads the TLS certificate and sets the log level the configuration now names.
/// A certificate or configuration that does not load is logged, and what is in use stays.
pub fn on_hangup(core: std::sync::Arc<crate::core::Core>, reload: Reloadable) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => Some(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reopening audit files");
                core.audit.reopen_all();
                if let Some(cert) = &reload.cert {
                    match cert.reload() {
                        Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                        Err(e) => {
                            tracing::error!(error = %e, "SIGHUP: the TLS certificate did not load; the old one stays in use")
                        }
                    }
                }
                if let Some(read) = &reload.log_level {
                    match read().and_then(|level| set_log_level(&level).map(|()| level)) {
                        Ok(level) => tracing::info!(level = %level, "SIGHUP: log level set"),
                        Err(e) => tracing::error!(error = %e, "SIGHUP: the log level did not change"),
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
