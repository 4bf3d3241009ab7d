//! Integration tests: one binary (each file in tests/ is a separate link step). Every test starts
//! a real server on a port-0 listener and talks HTTP to it.

mod harness;

mod conventions;
mod kv;
mod restart;
mod seal;
mod security;
mod tls;
