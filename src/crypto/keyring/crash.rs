//! Test-only crash points in keyring rotation (`sys/rotate`) and the re-wrap that follows it.

/// Test hook: with `COFFER_TEST_KEYRING_CRASH_AT=<point>` set, the process kills itself with
/// SIGKILL at that point of a keyring rotation: `before-persist` (the new term exists only in
/// memory), `after-persist` (the new keyring is committed, this node still encrypts under the old
/// term), `before-first-write` (the new term is active, nothing is written under it yet) or
/// `rewrap-partway` (the first stored version has been re-wrapped to the new term, the others not
/// yet). Unset (as in production), nothing happens.
pub const CRASH_ENV: &str = "COFFER_TEST_KEYRING_CRASH_AT";

/// Kills the process at `point` when [`CRASH_ENV`] names it.
pub(crate) fn crash_point(point: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == point) {
        tracing::error!(point, "{CRASH_ENV} is set: killing the process (test hook)");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}
