//! The tamper-evident line format shared by the writer and `coffer audit verify`: every line ends
//! with `"seq"` and `"prev_hash"` (SHA-256 of the previous line), and checkpoint lines carry an
//! Ed25519 signature over the chain head.
//!
//! A line is a JSON object on one line. The writer serialises an entry, then appends
//! `,"seq":N,"prev_hash":"<64 hex>"}` in place of its closing brace. The hash of a line is
//! SHA-256 over its bytes without the trailing newline. The first line a device ever writes has
//! `seq` 1 and a `prev_hash` of 64 zeros.
//!
//! A checkpoint line is
//! `{"time":T,"type":"checkpoint","checkpoint":{"device":D,"reason":R,"key_id":K,"signature":S},"seq":N,"prev_hash":P}`
//! where `S` (standard base64) signs [`signed_message`]`(D, N, P, T, R)`: the signature vouches for
//! every line before it through `P`, and for its own place and reason. Reasons: `open` (first line
//! of every file or connection the writer opens), `periodic` (every N entries or T seconds) and
//! `close` (the last line before a file is closed: reopen, seal, shutdown, disable).

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The chain head: the last line written (seq 0 and a zero hash before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// Sequence number of the last line.
    pub seq: u64,
    /// SHA-256 of the last line, hex.
    #[serde(with = "hex::serde")]
    pub hash: [u8; 32],
}

impl Head {
    /// Before the first line.
    pub const GENESIS: Head = Head { seq: 0, hash: [0; 32] };
}

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// First line of a file or connection.
    Open,
    /// Every N entries or T seconds.
    Periodic,
    /// Last line before the file is closed.
    Close,
}

impl Reason {
    /// The name written in the line.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Open => "open",
            Reason::Periodic => "periodic",
            Reason::Close => "close",
        }
    }

    /// Parses a name written in a line.
    pub fn parse(s: &str) -> Option<Reason> {
        match s {
            "open" => Some(Reason::Open),
            "periodic" => Some(Reason::Periodic),
            "close" => Some(Reason::Close),
            _ => None,
        }
    }
}

/// SHA-256 of a line (without its newline).
pub fn line_hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

/// Appends `body` (a serialised JSON object) as the next line of the chain, newline included,
/// and advances `head`.
pub fn seal_into(head: &mut Head, body: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let open = body.strip_suffix(b"}").unwrap_or(body);
    out.extend_from_slice(open);
    if open.len() > 1 {
        out.push(b',');
    }
    let seq = head.seq + 1;
    out.extend_from_slice(format!("\"seq\":{seq},\"prev_hash\":\"{}\"}}", hex::encode(head.hash)).as_bytes());
    *head = Head { seq, hash: line_hash(out.get(start..).unwrap_or_default()) };
    out.push(b'\n');
}

/// The bytes a checkpoint signature covers.
pub fn signed_message(device: &str, seq: u64, prev_hash_hex: &str, time: &str, reason: &str) -> Vec<u8> {
    format!("coffer-audit-checkpoint-v1\n{device}\n{seq}\n{prev_hash_hex}\n{time}\n{reason}").into_bytes()
}

/// Appends a signed checkpoint line and advances `head`.
pub fn checkpoint_into(head: &mut Head, device: &str, reason: Reason, key: &SigningKey, time: &str, out: &mut Vec<u8>) {
    let seq = head.seq + 1;
    let prev = hex::encode(head.hash);
    let signature = key.sign(&signed_message(device, seq, &prev, time, reason.as_str()));
    let body = serde_json::json!({
        "time": time,
        "type": "checkpoint",
        "checkpoint": {
            "device": device,
            "reason": reason.as_str(),
            "key_id": key_id(&key.verifying_key()),
            "signature": base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        },
    });
    // Serialising a `Value` of strings cannot fail; fall back to an empty object to stay total.
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    seal_into(head, &bytes, out);
}

/// A short public identifier of a key: the first 8 bytes of SHA-256 of the key, hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()).get(..8).unwrap_or_default())
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The public key as a PEM `PUBLIC KEY` block.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// The public key as standard base64 of its 32 bytes.
pub fn public_key_base64(key: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// Reads a public key given as base64 of the 32 raw bytes or as a PEM `PUBLIC KEY` block.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    let b64: String = if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        text.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect()
    } else {
        text.to_string()
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "the public key is neither base64 nor a PEM PUBLIC KEY block".to_string())?;
    let bytes: [u8; 32] = match raw.len() {
        32 => raw.as_slice().try_into().map_err(|_| "bad key length".to_string())?,
        44 if raw.starts_with(&SPKI_PREFIX) => {
            raw.get(SPKI_PREFIX.len()..).unwrap_or_default().try_into().map_err(|_| "bad key length".to_string())?
        }
        n => return Err(format!("the public key has {n} bytes; an Ed25519 key has 32")),
    };
    VerifyingKey::from_bytes(&bytes).map_err(|_| "the public key is not a valid Ed25519 key".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn lines_chain_by_hash_and_sequence() {
        let mut head = Head::GENESIS;
        let mut out = Vec::new();
        seal_into(&mut head, br#"{"a":1}"#, &mut out);
        seal_into(&mut head, br#"{"b":"x"}"#, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!(r#"{{"a":1,"seq":1,"prev_hash":"{}"}}"#, "0".repeat(64)));
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["seq"], 2);
        assert_eq!(second["prev_hash"], hex::encode(line_hash(lines[0].as_bytes())));
        assert_eq!(head, Head { seq: 2, hash: line_hash(lines[1].as_bytes()) });
    }

    #[test]
    fn checkpoints_verify_with_the_public_key_and_round_trip_both_key_forms() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut head = Head { seq: 41, hash: [9; 32] };
        let mut out = Vec::new();
        checkpoint_into(&mut head, "file", Reason::Close, &key, "2026-11-29T00:00:00Z", &mut out);
        let v: serde_json::Value = serde_json::from_slice(out.trim_ascii_end()).unwrap();
        assert_eq!(v["seq"], 42);
        let sig = base64::engine::general_purpose::STANDARD.decode(v["checkpoint"]["signature"].as_str().unwrap());
        let sig = ed25519_dalek::Signature::from_slice(&sig.unwrap()).unwrap();
        let msg = signed_message("file", 42, &hex::encode([9; 32]), "2026-11-29T00:00:00Z", "close");
        let pk = key.verifying_key();
        assert!(pk.verify(&msg, &sig).is_ok());
        let forged = signed_message("file", 42, &hex::encode([9; 32]), "2026-11-29T00:00:00Z", "periodic");
        assert!(pk.verify(&forged, &sig).is_err());
        assert_eq!(parse_public_key(&public_key_pem(&pk)).unwrap(), pk);
        assert_eq!(parse_public_key(&public_key_base64(&pk)).unwrap(), pk);
        assert!(parse_public_key("not a key").is_err());
    }
}
