//! Auth methods (token, approle, userpass, jwt, cert, aws) and `common`, what they share. Auth
//! methods import the layers below and `common`, never each other.

pub mod approle;
pub mod aws;
pub mod cert;
pub mod common;
pub mod jwt;
pub mod token;
pub mod userpass;
