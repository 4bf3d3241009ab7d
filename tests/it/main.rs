//! Integration tests: one binary (each file in tests/ is a separate link step). Every test starts
//! a real server on a port-0 listener and talks HTTP to it.

// Test code may unwrap, expect and panic: a failed assumption is a failed test. The clippy.toml
// `allow-*-in-tests` settings cover only `#[test]` functions, not the helpers around them.
// They also index JSON answers and slices freely (`allow-indexing-slicing-in-tests` has the same
// limit), and cast in fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]

mod harness;

mod aad_compat;
mod agent;
mod alerts;
mod architecture;
mod audit;
mod auth_methods;
mod aws;
mod aws_auth;
mod bootstrap;
mod cert_auth;
mod clock_jumps;
mod cluster;
mod config_env;
mod conventions;
mod database;
mod database_admin;
mod db_locked;
mod disk_full;
mod durability;
mod edge;
mod explain;
mod field_forms;
mod generate_root;
mod jwt;
mod keyring_crash;
mod kv;
mod kv_cache;
mod kv_cache_cluster;
mod kv_list_paging;
mod listener_abuse;
mod log_canary;
mod malformed_writes;
mod memory_limit;
mod metrics;
mod migrate;
mod password_policies;
mod pg_faults;
mod pg_proxy;
mod pg_tls;
mod policies;
mod rekey;
mod rekey_crash;
mod restart;
mod rotation;
mod rotation_security;
mod seal;
mod search_move;
mod security;
mod snapshot;
mod stages;
mod store_contract;
mod stored_corruption;
mod sudo_paths;
mod tls;
mod tokens;
mod unauth_memory;
mod wrapping;
