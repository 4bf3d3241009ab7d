//! Signals given by name (`SIGHUP`, `hup`), for `coffer run --watch-signal` and the agent's
//! templates.

use rustix::process::Signal;

/// A signal given by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedSignal(pub Signal);

/// The signals a name may give.
pub const SIGNALS: [(&str, Signal); 9] = [
    ("HUP", Signal::HUP),
    ("INT", Signal::INT),
    ("QUIT", Signal::QUIT),
    ("TERM", Signal::TERM),
    ("USR1", Signal::USR1),
    ("USR2", Signal::USR2),
    ("WINCH", Signal::WINCH),
    ("ALRM", Signal::ALARM),
    ("KILL", Signal::KILL),
];

/// Parses `SIGHUP`, `HUP` or `hup`.
pub fn parse_signal(s: &str) -> Result<NamedSignal, String> {
    let upper = s.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sig)| NamedSignal(*sig))
        .ok_or_else(|| format!("unknown signal {s:?}; use one of HUP, INT, QUIT, TERM, USR1, USR2, WINCH, ALRM, KILL"))
}
