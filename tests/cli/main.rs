//! End-to-end tests of the `coffer` client CLI: the real binary (`assert_cmd`) against real
//! `coffer server` processes, the OpenBao CLI on the same server, and a recording HTTP stub.

// Test code may unwrap, expect and panic: a failed assumption is a failed test. The clippy.toml
// `allow-*-in-tests` settings cover only `#[test]` functions, not the helpers around them.
// They also index JSON answers and slices freely (`allow-indexing-slicing-in-tests` has the same
// limit), and cast in fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]

mod auth;
mod bootstrap;
mod errors;
mod generate_root;
mod harness;
mod interop;
mod kv;
mod run;
mod secrets;
