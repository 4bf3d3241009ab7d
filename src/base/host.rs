//! The machine's host name, the default name of a node (`ha.node_name`).

/// The machine's host name (`/proc/sys/kernel/hostname`), or `localhost` if it cannot be read.
/// `/` is replaced, so the result can name a node in storage keys.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().replace('/', "-"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
