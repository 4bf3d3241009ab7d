//! The engines this build has, handed to the core: the built-in mounts and every type that can be
//! mounted. The one place that names each engine and auth method.

use std::sync::Arc;

use crate::core::engine::{Builtin, Engine, MountType, Registry};

/// Coffer's engines and auth methods.
pub fn builtin() -> Registry {
    let system: Arc<dyn Engine> = Arc::new(crate::engines::sys::System);
    let builtin = vec![
        Builtin {
            table: "mounts",
            path: "sys/",
            kind: "system",
            description: "system endpoints used for control, policy and debugging",
            engine: system.clone(),
        },
        Builtin {
            table: "auth",
            path: "token/",
            kind: "token",
            description: "token based credentials",
            engine: Arc::new(crate::auth::token::TokenAuth),
        },
        Builtin {
            table: "mounts",
            path: "cubbyhole/",
            kind: "cubbyhole",
            description: "per-token private secret storage",
            engine: Arc::new(crate::core::cubbyhole::Cubbyhole),
        },
    ];
    let mountable = |table, kind, version, engine: Arc<dyn Engine>| MountType { table, kind, version, engine };
    let types = vec![
        mountable("mounts", "kv", Some("2"), Arc::new(crate::engines::kv::KvV2)),
        mountable("mounts", "database", None, Arc::new(crate::engines::database::Database)),
        mountable("auth", "jwt", None, Arc::new(crate::auth::jwt::JwtAuth)),
        mountable("auth", "approle", None, Arc::new(crate::auth::approle::AppRole)),
        mountable("auth", "userpass", None, Arc::new(crate::auth::userpass::Userpass)),
        mountable("auth", "cert", None, Arc::new(crate::auth::cert::CertAuth)),
        mountable("auth", "aws", None, Arc::new(crate::auth::aws::AwsAuth)),
    ];
    Registry { system, builtin, types }
}
