//! The AWS Secrets Manager API (JSON 1.1 over `POST /`, SigV4-signed) on top of the KV v2 engine,
//! and STS `GetCallerIdentity`: the edge, its operations and their wire formats.
//! `docs/aws-sm.md` is the contract; the keys are in `crate::core::aws`, SigV4 in
//! `crate::crypto::sigv4`.

pub mod context;
pub mod names;
pub mod ops;
pub mod params;
pub mod policy;
pub mod protocol;
pub mod random_password;
pub mod secret;
pub mod serve;
pub mod sts;
pub mod values;
