//! Shamir secret sharing of the unseal key over GF(2^8), through `vsss-rs` (constant-time field).
//!
//! A share is `x || y_1 … y_32` (33 bytes), like Vault's. One share of one is the key itself.

use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::crypto::{Key, KEY_LEN};

/// Why shares could not be made or combined. Never says which share was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    /// Bad share count or threshold.
    #[error("{0}")]
    Config(String),
    /// The shares do not combine to a key.
    #[error("invalid key shares")]
    Invalid,
}

/// Checks `shares`/`threshold` the way Vault does.
pub fn check_config(shares: u64, threshold: u64) -> Result<(), ShamirError> {
    let bad = |m: &str| Err(ShamirError::Config(format!("invalid seal configuration: {m}")));
    if shares == 0 {
        return bad("shares must be at least one");
    }
    if threshold == 0 {
        return bad("threshold must be at least one");
    }
    if threshold > shares {
        return bad("threshold cannot be larger than shares");
    }
    if shares > 1 && threshold == 1 {
        return bad("threshold must be greater than one for multiple shares");
    }
    if shares > 255 {
        return bad("shares must be less than 256");
    }
    Ok(())
}

/// Splits `key` into `shares` shares, any `threshold` of which recombine it.
pub fn split(key: &Key, shares: u64, threshold: u64) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    check_config(shares, threshold)?;
    if shares == 1 {
        return Ok(vec![Zeroizing::new(key.expose().to_vec())]);
    }
    let threshold = usize::try_from(threshold).map_err(|_| ShamirError::Invalid)?;
    let shares = usize::try_from(shares).map_err(|_| ShamirError::Invalid)?;
    let parts = Gf256::split_bytes(threshold, shares, key.expose(), rand::rng()).map_err(|_| ShamirError::Invalid)?;
    Ok(parts.into_iter().map(Zeroizing::new).collect())
}

/// Recombines shares into the unseal key. Duplicate x values, x = 0, mixed lengths or too few
/// shares fail closed (the result would not decrypt the root key anyway).
pub fn combine(parts: &[Zeroizing<Vec<u8>>], threshold: u64) -> Result<Key, ShamirError> {
    if threshold == 1 {
        let first = parts.first().ok_or(ShamirError::Invalid)?;
        return Key::from_slice(first).ok_or(ShamirError::Invalid);
    }
    if (parts.len() as u64) < threshold || parts.iter().any(|p| p.len() != KEY_LEN + 1) {
        return Err(ShamirError::Invalid);
    }
    let mut xs: Vec<u8> = parts.iter().filter_map(|p| p.first().copied()).collect();
    xs.sort_unstable();
    xs.dedup();
    if xs.len() != parts.len() || xs.first() == Some(&0) {
        return Err(ShamirError::Invalid);
    }
    let raw: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
    let raw = Zeroizing::new(raw);
    let secret = Zeroizing::new(Gf256::combine_bytes(&raw[..]).map_err(|_| ShamirError::Invalid)?);
    Key::from_slice(&secret).ok_or(ShamirError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_recombines() {
        let key = Key::generate();
        let parts = split(&key, 5, 3).unwrap();
        assert_eq!(parts.len(), 5);
        assert!(parts.iter().all(|p| p.len() == 33));
        for combo in [[0, 1, 2], [1, 3, 4], [4, 2, 0]] {
            let chosen: Vec<_> = combo.iter().map(|&i| parts[i].clone()).collect();
            assert_eq!(combine(&chosen, 3).unwrap(), key);
        }
    }

    #[test]
    fn sec20_too_few_duplicates_and_garbage_fail() {
        let key = Key::generate();
        let parts = split(&key, 3, 2).unwrap();
        assert!(combine(&parts[..1], 2).is_err());
        assert!(combine(&[parts[0].clone(), parts[0].clone()], 2).is_err());
        let mut zero_x = parts[1].clone();
        zero_x[0] = 0;
        assert!(combine(&[parts[0].clone(), zero_x], 2).is_err());
        let short = Zeroizing::new(parts[1][..20].to_vec());
        assert!(combine(&[parts[0].clone(), short], 2).is_err());
        let mut wrong = parts[1].clone();
        wrong[5] ^= 0xff;
        assert_ne!(combine(&[parts[0].clone(), wrong], 2).unwrap(), key);
    }

    #[test]
    fn single_share_is_the_key_and_config_is_checked() {
        let key = Key::generate();
        let parts = split(&key, 1, 1).unwrap();
        assert_eq!(combine(&parts, 1).unwrap(), key);
        assert!(check_config(3, 5).is_err());
        assert!(check_config(3, 1).is_err());
        assert!(check_config(0, 0).is_err());
    }
}
