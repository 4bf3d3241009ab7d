//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`): verifying a signed request on the server, and
//! signing one for Coffer's own tests and benchmarks, over one shared canonical-request builder.
//!
//! Server side: [`parse_authorization`], look the access key up (unknown: [`SigError::UnrecognizedClient`]),
//! then [`verify`] with its secret. Coffer is stricter than AWS where leniency would let a
//! signature cover less than the request: see `docs/decisions-sigv4.md`.

mod authorization;
mod canonical;
mod date;
mod error;
mod key;
mod sign;
mod verify;

#[cfg(test)]
mod suite_tests;
#[cfg(test)]
mod verify_tests;

pub use authorization::{parse_authorization, Authorization};
pub use canonical::Signed;
pub use error::SigError;
pub use sign::authorization_header;
pub use verify::verify;

/// The one signing algorithm accepted.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every credential scope.
const TERMINATOR: &str = "aws4_request";
/// At most this many signed headers…
const MAX_SIGNED_HEADERS: usize = 64;
/// …in a `SignedHeaders` list of at most this many bytes…
const MAX_SIGNED_HEADERS_LEN: usize = 8 * 1024;
/// …in an `Authorization` header of at most this many bytes, all checked before any hashing.
const MAX_AUTHORIZATION_LEN: usize = 16 * 1024;
