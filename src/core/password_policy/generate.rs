//! Password generation: uniform characters from the OS CSPRNG by rejection sampling, and whole
//! candidates redrawn until every rule holds, within an attempt and a time bound.

use std::time::{Duration, Instant};

use rand::rngs::SysRng;
use rand::TryRng;
use zeroize::Zeroizing;

use super::{PasswordPolicy, MAX_CHARSET};

/// How long one generation may try (Vault's bound too).
pub(super) const TIME_LIMIT: Duration = Duration::from_secs(1);
/// How many candidates one generation may draw, whatever the clock says.
const MAX_ATTEMPTS: u32 = 1_000_000;
/// Candidates between two looks at the clock.
const CLOCK_EVERY: u32 = 64;
/// Random bytes fetched from the OS at a time.
const BUFFER: usize = 1024;
/// Consecutive rejected bytes before giving up on one index (each is rejected with probability
/// below 1/2, so this never happens with a working random source).
const MAX_REJECTS: u32 = 256;

/// Buffered bytes from the OS random source, wiped when dropped (they become password characters).
pub(super) struct RandomBytes {
    buf: Zeroizing<[u8; BUFFER]>,
    pos: usize,
}

impl RandomBytes {
    pub(super) fn new() -> Self {
        RandomBytes { buf: Zeroizing::new([0u8; BUFFER]), pos: BUFFER }
    }

    fn byte(&mut self) -> Result<u8, String> {
        if self.pos >= BUFFER {
            SysRng.try_fill_bytes(&mut self.buf[..]).map_err(|e| format!("unable to read random bytes: {e}"))?;
            self.pos = 0;
        }
        let b = self.buf.get(self.pos).copied().ok_or("random buffer out of range")?;
        self.pos += 1;
        Ok(b)
    }

    /// A uniform index in `0..n` (`1 <= n <= 256`): bytes at or above the largest multiple of `n`
    /// that fits in a byte are rejected, so every index has the same number of byte values.
    pub(super) fn index(&mut self, n: usize) -> Result<usize, String> {
        if n == 0 || n > MAX_CHARSET {
            return Err(format!("cannot draw from {n} characters"));
        }
        let limit = (256 / n) * n;
        for _ in 0..MAX_REJECTS {
            let b = usize::from(self.byte()?);
            if b < limit {
                return Ok(b % n);
            }
        }
        Err("the random source keeps returning rejected values".to_string())
    }
}

/// Draws candidates of `policy.length` uniform characters of the union charset until one passes
/// every rule: the result is uniform over all passwords the policy allows.
pub(super) fn generate(policy: &PasswordPolicy, deadline: Instant) -> Result<Zeroizing<String>, String> {
    let mut rng = RandomBytes::new();
    let mut candidate: Zeroizing<Vec<char>> = Zeroizing::new(vec!['\0'; policy.length]);
    for attempt in 1..=MAX_ATTEMPTS {
        for slot in candidate.iter_mut() {
            let i = rng.index(policy.charset.len())?;
            *slot = policy.charset.get(i).copied().ok_or("charset index out of range")?;
        }
        if policy.rules.iter().all(|r| r.passes(&candidate)) {
            // Sized exactly, so the string never reallocates and leaves a copy behind.
            let mut out = Zeroizing::new(String::with_capacity(candidate.iter().map(|c| c.len_utf8()).sum()));
            out.extend(candidate.iter());
            return Ok(out);
        }
        if attempt % CLOCK_EVERY == 0 && Instant::now() >= deadline {
            break;
        }
    }
    Err("no password satisfying the policy's rules was found in time; are the rules too restrictive?".to_string())
}
