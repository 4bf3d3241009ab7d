//! Root-protected paths and built-in policies: an empty lease prefix never means "every lease",
//! auth method tuning needs sudo (mount tuning does not), and the `response-wrapping` policy
//! cannot be changed.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

fn error_of(v: &Value) -> &str {
    v["errors"][0].as_str().unwrap_or("")
}

/// A lease row that no engine can revoke (only a forced revocation removes it), due in an hour.
fn stray_lease(id: &str) -> coffer::store::leases::SecretLeaseRow {
    let due = chrono::Utc::now().timestamp_millis() + 3_600_000;
    coffer::store::leases::SecretLeaseRow {
        id: id.into(),
        mount_id: "gone".into(),
        path: "creds/r".into(),
        role: "gone:r".into(),
        token_hash: None,
        issue_time: 0,
        expire_time: due,
        max_expire: due,
        last_renewal: None,
        renewable: false,
        key_term: 1,
        secret: coffer::store::Sealed::from_stored(vec![1, 2, 3]),
        attempts: 0,
        next_attempt: due,
        last_error: String::new(),
    }
}

#[tokio::test]
async fn an_empty_lease_prefix_is_refused_and_revokes_nothing() {
    let s = TestServer::dev().await;
    let core = s.running.as_ref().unwrap().core.clone();
    let id = "db/creds/r/stray";
    core.store.secret_lease_insert(&stray_lease(id)).await.unwrap();
    let caller = s
        .token_with_policy(
            "lease-admin",
            "path \"sys/leases/revoke-prefix/*\" { capabilities = [\"update\"] }\n\
         path \"sys/leases/revoke-force/*\" { capabilities = [\"update\"] }\n\
         path \"sys/leases/revoke-prefix\" { capabilities = [\"update\"] }\n\
         path \"sys/leases/revoke-force\" { capabilities = [\"update\"] }",
        )
        .await;
    for path in ["sys/leases/revoke-force/", "sys/leases/revoke-force", "sys/leases/revoke-prefix/"] {
        // Without sudo: refused by the ACL, as every prefix is.
        let (st, v) = s.call_as(&caller, "POST", path, None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {v}");
        // With it: an empty prefix is not "everything".
        let (st, v) = s.call("POST", path, None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(error_of(&v).starts_with("missing prefix"), "{v}");
        assert!(core.store.secret_lease_get(id).await.unwrap().is_some(), "{path} revoked the lease");
    }
    // A named prefix still works (with sudo).
    let (st, v) = s.call("POST", "sys/leases/revoke-force/db/creds/r", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert!(core.store.secret_lease_get(id).await.unwrap().is_none());
}

#[tokio::test]
async fn auth_method_tuning_needs_sudo_and_mount_tuning_does_not() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let tuner = s
        .token_with_policy(
            "tuner",
            "path \"sys/auth/*\" { capabilities = [\"read\", \"update\"] }\n\
         path \"sys/mounts/*\" { capabilities = [\"read\", \"update\"] }",
        )
        .await;
    let body = json!({"default_lease_ttl": "1h"});
    for (method, b) in [("GET", None), ("POST", Some(body.clone()))] {
        let (st, v) = s.call_as(&tuner, method, "sys/auth/userpass/tune", b.clone()).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method}: {v}");
        let (st, v) = s.call_as(&tuner, method, "sys/mounts/secret/tune", b).await;
        assert!(st.is_success(), "{method} sys/mounts/secret/tune: {st} {v}");
    }
    let (st, v) = s.call("POST", "sys/auth/userpass/tune", Some(body)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let sudo = s.token_with_policy("tuner-sudo", "path \"sys/auth/*\" { capabilities = [\"read\", \"sudo\"] }").await;
    let (st, v) = s.call_as(&sudo, "GET", "sys/auth/userpass/tune", None).await;
    assert_eq!((st, &v["data"]["default_lease_ttl"]), (StatusCode::OK, &json!(3600)), "{v}");
}

#[tokio::test]
async fn the_response_wrapping_policy_is_immutable() {
    let s = TestServer::dev().await;
    let before = s.call("GET", "sys/policies/acl/response-wrapping", None).await;
    assert_eq!(before.0, StatusCode::OK, "{}", before.1);
    let evil = json!({"policy": "path \"*\" { capabilities = [\"read\", \"sudo\"] }"});
    for path in ["sys/policies/acl/response-wrapping", "sys/policy/response-wrapping"] {
        let (st, v) = s.call("PUT", path, Some(evil.clone())).await;
        assert_eq!(
            (st, error_of(&v)),
            (StatusCode::BAD_REQUEST, "cannot update \"response-wrapping\" policy"),
            "{path}"
        );
        let (st, v) = s.call("DELETE", path, None).await;
        assert_eq!(
            (st, error_of(&v)),
            (StatusCode::BAD_REQUEST, "cannot delete \"response-wrapping\" policy"),
            "{path}"
        );
    }
    let after = s.call("GET", "sys/policies/acl/response-wrapping", None).await;
    assert_eq!(after.1["data"]["policy"], before.1["data"]["policy"]);
}
