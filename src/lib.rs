//! Coffer: a secrets server that speaks the Vault/OpenBao HTTP API, with envelope encryption,
//! a Shamir or key-file seal, and SQLite storage.

pub mod approle;
pub mod audit;
pub mod auth_method;
pub mod barrier;
pub mod cli;
pub mod config;
pub mod core;
pub mod crypto;
pub mod cubbyhole;
pub mod duration;
pub mod engine;
pub mod error;
pub mod glob;
pub mod http;
pub mod identity;
pub mod jwt;
pub mod keylock;
pub mod keyring;
pub mod kv;
pub mod logical;
pub mod mounts;
pub mod params;
pub mod policies;
pub mod policy;
pub mod process;
pub mod seal;
pub mod server;
pub mod shamir;
pub mod store;
pub mod sys;
pub mod tls;
pub mod token_auth;
pub mod tokens;
pub mod userpass;
pub mod wrapping;
