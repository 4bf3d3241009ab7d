//! Auth methods (token, approle, userpass, jwt) and `common`, what they share. Auth methods
//! import the layers below and `common`, never each other.

pub mod approle;
pub mod common;
pub mod jwt;
pub mod token;
pub mod userpass;
