//! Secrets engines (kv with its rotation, database, sys): each serves the paths of
//! its mounts. Engines import the layers below, never each other.

pub mod database;
pub mod kv;
pub mod sys;
