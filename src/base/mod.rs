//! The base layer: errors, request parameters, durations, globs, names, identity, the logical
//! request and response, HCL and the policy model, schedules. Imports no other layer.

pub mod deadline;
pub mod duration;
pub mod error;
pub mod glob;
pub mod hcl;
pub mod host;
pub mod identity;
pub mod json;
pub mod keylock;
pub mod logical;
pub mod metrics;
pub mod names;
pub mod params;
pub mod path_chars;
pub mod policy;
pub mod redact;
pub mod refusal;
pub mod schedule;
pub mod signal;
pub mod stored;
pub mod template;
