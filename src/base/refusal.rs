//! Why an action on a target system was refused: for good (until an operator changes
//! something), or only for now (the target could not be checked). Shared by the database guard,
//! the outbound allow-list and the rotation scheduler, which stops on the first and retries the
//! second.

/// A refusal and its reason (which never carries a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Refused until the configuration, the target or a policy changes.
    Final(String),
    /// Could not be decided now (unreachable, unresolvable); a later try may pass.
    Retry(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Final(m) | Refusal::Retry(m) => f.write_str(m),
        }
    }
}
