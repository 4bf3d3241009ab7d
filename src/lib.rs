//! Coffer: a secrets server that speaks the Vault/OpenBao HTTP API, with envelope encryption,
//! a Shamir or key-file seal, and SQLite storage.

pub mod auth;
pub mod base;
pub mod cli;
pub mod core;
pub mod crypto;
pub mod engines;
pub mod server;
pub mod store;
