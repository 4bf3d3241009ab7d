//! Rekey (issue 19 part 2) over HTTP: `sys/rekey/*` (Vault's bare bodies) and OpenBao's
//! `sys/rotate/root/*` (inside `data`). New shares with a new count and threshold, the old ones
//! refused afterwards and the data still readable; verification; cancel; nonces, wrong and
//! duplicate shares; sudo on every call (SEC-19); path spellings; oversize input; the key-file
//! seal; audit entries without a share; and a second node over PostgreSQL seeing the new
//! configuration.

use base64::Engine as _;
use coffer::core::seal::SealKind;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{limits, TestServer};

fn err(v: &Value) -> String {
    v["errors"][0].as_str().unwrap_or("").to_string()
}

/// An initialised, unsealed Shamir server with `n`/`t` shares, KV v2 at `secret/` and one secret.
async fn server(n: u64, t: u64) -> (TestServer, Vec<String>) {
    let mut s = TestServer::uninitialised().await;
    let (shares, _) = s.init(n, t).await;
    s.unseal(&shares[..usize::try_from(t).unwrap()]).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/before", json!({"v": "written before the rekey"})).await;
    (s, shares)
}

/// Seals, then submits `shares`: true if they unseal (the server is left unsealed), false if
/// they are refused (the server is left sealed, progress reset).
async fn unseals_with(s: &TestServer, shares: &[String]) -> bool {
    let (st, _) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    if v["sealed"] == false {
        let (st, v) = s.call("PUT", "sys/seal", None).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    }
    for k in shares {
        let (st, v) = s.call_as("", "PUT", "sys/unseal", Some(json!({ "key": k }))).await;
        if st != StatusCode::OK {
            assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
            let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
            assert_eq!(v["sealed"], true);
            return false;
        }
        if v["sealed"] == false {
            return true;
        }
    }
    let _ = s.call_as("", "PUT", "sys/unseal", Some(json!({"reset": true}))).await;
    false
}

fn keys(v: &Value) -> Vec<String> {
    v["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
}

/// Gives `shares` to `path` with `nonce`; returns the last answer.
async fn give(s: &TestServer, path: &str, nonce: &str, shares: &[String]) -> (StatusCode, Value) {
    let mut last = (StatusCode::OK, Value::Null);
    for k in shares {
        last = s.call("PUT", path, Some(json!({"key": k, "nonce": nonce}))).await;
        assert_eq!(last.0, StatusCode::OK, "{path}: {}", last.1);
    }
    last
}

#[tokio::test]
async fn rekey_5_of_3_to_3_of_2_and_only_the_new_shares_unseal() {
    let (s, old) = server(5, 3).await;
    let (st, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!((v["started"].clone(), v["required"].clone()), (json!(false), json!(3)), "{v}");

    let (st, v) = s.call("PUT", "sys/rekey/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["started"], true);
    assert_eq!((v["n"].clone(), v["t"].clone(), v["required"].clone()), (json!(3), json!(2), json!(3)));
    assert_eq!(v["verification_required"], false);
    let nonce = v["nonce"].as_str().unwrap().to_string();
    assert!(!nonce.is_empty());

    // Old shares, one in base64: progress, then the new shares.
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&old[4]).unwrap());
    let (_, v) = give(&s, "sys/rekey/update", &nonce, &old[..1]).await;
    assert_eq!((v["complete"].clone(), v["progress"].clone()), (json!(false), json!(1)), "{v}");
    let (_, v) = give(&s, "sys/rekey/update", &nonce, &[b64]).await;
    assert_eq!(v["progress"], 2, "{v}");
    let (st, v) = give(&s, "sys/rekey/update", &nonce, &old[2..3]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["nonce"], nonce.as_str());
    assert_eq!(v["verification_required"], false);
    let new = keys(&v);
    assert_eq!(new.len(), 3);
    assert_eq!(v["keys_base64"].as_array().unwrap().len(), 3);
    for k in &new {
        assert!(!old.contains(k));
    }
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(v["started"], false, "{v}");
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!((v["n"].clone(), v["t"].clone()), (json!(3), json!(2)), "{v}");

    // The old shares are refused, any two new ones unseal, the data is there.
    assert!(!unseals_with(&s, &old[..3]).await, "old shares still unseal");
    assert!(!unseals_with(&s, &old).await, "old shares still unseal");
    assert!(unseals_with(&s, &new[1..]).await, "new shares do not unseal");
    assert!(unseals_with(&s, &[new[2].clone(), new[0].clone()]).await);
    assert_eq!(s.read("secret/data/before").await["v"], "written before the rekey");
    s.write("secret/data/after", json!({"v": 2})).await;
}

#[tokio::test]
async fn verification_keeps_the_old_shares_until_a_threshold_of_new_ones_is_given_back() {
    let (s, old) = server(3, 2).await;
    let (st, v) = s
        .call(
            "PUT",
            "sys/rekey/init",
            Some(json!({"secret_shares": 4, "secret_threshold": 3, "require_verification": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["verification_required"], true);
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let (_, v) = give(&s, "sys/rekey/update", &nonce, &old[1..]).await;
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["verification_required"], true);
    let new = keys(&v);
    assert_eq!(new.len(), 4);
    let vnonce = v["verification_nonce"].as_str().unwrap().to_string();
    assert!(!vnonce.is_empty() && vnonce != nonce);

    // Not in force yet: the stored configuration is the old one, and the old shares unseal.
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!((v["n"].clone(), v["t"].clone()), (json!(3), json!(2)), "{v}");
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!((v["started"].clone(), v["verification_nonce"].clone()), (json!(true), json!(vnonce)), "{v}");
    // More old shares are refused while the new ones await verification.
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[0], "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    let (st, v) = s.call("GET", "sys/rekey/verify", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"started": true, "nonce": vnonce, "t": 3, "n": 4, "progress": 0}));
    // The rekey's nonce is not the verification's; old shares do not verify.
    let (st, v) = s.call("PUT", "sys/rekey/verify", Some(json!({"key": new[0], "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = give(&s, "sys/rekey/verify", &vnonce, &new[..2]).await;
    assert_eq!((st, v["progress"].clone(), v["complete"].clone()), (StatusCode::OK, json!(2), json!(false)));
    // Restarting the verification: a new nonce, nothing given.
    let (st, v) = s.call("DELETE", "sys/rekey/verify", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let vnonce2 = v["nonce"].as_str().unwrap().to_string();
    assert_ne!(vnonce2, vnonce);
    assert_eq!(v["progress"], 0);
    let (st, _) = s.call("PUT", "sys/rekey/verify", Some(json!({"key": new[0], "nonce": vnonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the old verification nonce is dead");
    // Two new shares and an old one at the threshold: refused, progress reset, still old in force.
    give(&s, "sys/rekey/verify", &vnonce2, &new[..2]).await;
    let (st, v) = s.call("PUT", "sys/rekey/verify", Some(json!({"key": old[0], "nonce": vnonce2}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err(&v).starts_with("invalid key"), "{v}");
    let (_, v) = s.call("GET", "sys/rekey/verify", None).await;
    assert_eq!(v["progress"], 0, "{v}");
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!((v["n"].clone(), v["t"].clone()), (json!(3), json!(2)), "{v}");

    let (_, v) = give(&s, "sys/rekey/verify", &vnonce2, &new[1..]).await;
    assert_eq!(v, json!({"nonce": vnonce2, "complete": true}));
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!((v["n"].clone(), v["t"].clone()), (json!(4), json!(3)), "{v}");
    let (st, _) = s.call("GET", "sys/rekey/verify", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "nothing left to verify");
    assert!(!unseals_with(&s, &old).await);
    assert!(unseals_with(&s, &new[..3]).await);
    assert_eq!(s.read("secret/data/before").await["v"], "written before the rekey");
}

#[tokio::test]
async fn sealing_before_verification_discards_the_new_shares() {
    let (s, old) = server(3, 2).await;
    let (_, v) = s
        .call(
            "PUT",
            "sys/rekey/init",
            Some(json!({"secret_shares": 2, "secret_threshold": 2, "require_verification": true})),
        )
        .await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let (_, v) = give(&s, "sys/rekey/update", &nonce, &old[..2]).await;
    let new = keys(&v);
    assert!(!unseals_with(&s, &new).await, "unverified shares unseal");
    assert!(unseals_with(&s, &old[..2]).await, "old shares refused before verification");
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(v["started"], false, "the seal ended the rekey: {v}");
}

#[tokio::test]
async fn cancel_a_second_start_and_nonces() {
    let (s, old) = server(3, 2).await;
    let start = json!({"secret_shares": 2, "secret_threshold": 2});
    let (_, v) = s.call("PUT", "sys/rekey/init", Some(start.clone())).await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let (st, v) = s.call("PUT", "sys/rekey/init", Some(start.clone())).await;
    assert_eq!((st, err(&v)), (StatusCode::BAD_REQUEST, "rekey already in progress".to_string()));

    // Nonce missing or wrong: refused, nothing counted.
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[0]}))).await;
    assert_eq!((st, err(&v)), (StatusCode::BAD_REQUEST, "missing required field 'nonce'".to_string()));
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[0], "nonce": "nope"}))).await;
    assert_eq!((st, err(&v)), (StatusCode::BAD_REQUEST, "incorrect nonce supplied".to_string()));
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(v["progress"], 0);

    // A duplicate share is refused and counts once.
    give(&s, "sys/rekey/update", &nonce, &old[..1]).await;
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[0], "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err(&v).contains("already been provided"), "{v}");
    assert!(!v.to_string().contains(&old[0]), "a share in an error body");
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(v["progress"], 1);

    // Cancel: 204, nothing in progress, updates refused; the old shares still unseal.
    let (st, _) = s.call("DELETE", "sys/rekey/init", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!((v["started"].clone(), v["nonce"].clone()), (json!(false), json!("")));
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[1], "nonce": nonce}))).await;
    assert_eq!((st, err(&v)), (StatusCode::BAD_REQUEST, "no rekey in progress".to_string()));
    let (st, _) = s.call("DELETE", "sys/rekey/init", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "cancelling nothing is fine");
    assert!(unseals_with(&s, &old[1..]).await);

    // A new start gets a new nonce; the old one is dead.
    let (_, v) = s.call("PUT", "sys/rekey/init", Some(start)).await;
    let nonce2 = v["nonce"].as_str().unwrap().to_string();
    assert_ne!(nonce2, nonce);
    let (st, _) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[1], "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_shares_at_the_threshold_reset_progress_and_change_nothing() {
    let (s, old) = server(3, 2).await;
    let (_, v) = s.call("PUT", "sys/rekey/init", Some(json!({"secret_shares": 2, "secret_threshold": 2}))).await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    // A well-formed share that belongs to no key.
    let mut stranger = coffer::crypto::random_bytes::<33>().to_vec();
    stranger[0] = 7;
    let stranger = hex::encode(stranger);
    give(&s, "sys/rekey/update", &nonce, &old[..1]).await;
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": stranger, "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(err(&v).starts_with("invalid key"), "{v}");
    assert!(!v.to_string().contains(&stranger) && !v.to_string().contains(&old[0]));
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!((v["started"].clone(), v["progress"].clone()), (json!(true), json!(0)), "{v}");
    // Not a share at all.
    for bad in ["zz", "abcd", &"ab".repeat(40)] {
        let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": bad, "nonce": nonce}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!((v["n"].clone(), v["t"].clone()), (json!(3), json!(2)));
    assert!(unseals_with(&s, &old[..2]).await);
}

#[tokio::test]
async fn invalid_configurations_and_pgp_are_refused() {
    let (s, _) = server(1, 1).await;
    for body in [
        json!({}),
        json!({"secret_shares": 2, "secret_threshold": 3}),
        json!({"secret_shares": 3, "secret_threshold": 1}),
        json!({"secret_shares": 256, "secret_threshold": 2}),
        json!({"secret_shares": u64::MAX, "secret_threshold": 2}),
        json!({"secret_shares": "three", "secret_threshold": 2}),
        json!({"secret_shares": 3, "secret_threshold": 2, "require_verification": "maybe"}),
        json!({"secret_shares": 3, "secret_threshold": 2, "pgp_keys": ["a", "b", "c"]}),
        json!({"secret_shares": 3, "secret_threshold": 2, "backup": true}),
    ] {
        let (st, v) = s.call("PUT", "sys/rekey/init", Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        let (_, v) = s.call("GET", "sys/rekey/init", None).await;
        assert_eq!(v["started"], false, "{body}");
    }
}

#[tokio::test]
async fn every_call_needs_a_token_with_sudo() {
    let (s, old) = server(3, 2).await;
    let no_sudo = s
        .token_with_policy(
            "rekey-no-sudo",
            "path \"sys/rekey/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\"] }\n\
             path \"sys/rotate/root/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\"] }",
        )
        .await;
    let sudo = s
        .token_with_policy(
            "rekey-sudo",
            "path \"sys/rekey/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"sudo\"] }",
        )
        .await;
    let (st, v) =
        s.call_as(&sudo, "PUT", "sys/rekey/init", Some(json!({"secret_shares": 2, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let calls: Vec<(&str, String, Option<Value>)> = ["sys/rekey", "sys/rotate/root"]
        .into_iter()
        .flat_map(|base| {
            let share = Some(json!({"key": old[0], "nonce": nonce}));
            vec![
                ("GET", format!("{base}/init"), None),
                ("PUT", format!("{base}/init"), Some(json!({"secret_shares": 2, "secret_threshold": 2}))),
                ("DELETE", format!("{base}/init"), None),
                ("PUT", format!("{base}/update"), share.clone()),
                ("GET", format!("{base}/verify"), None),
                ("PUT", format!("{base}/verify"), share),
                ("DELETE", format!("{base}/verify"), None),
                ("GET", format!("{base}/backup"), None),
            ]
        })
        .collect();
    for token in ["", "not-a-token", no_sudo.as_str()] {
        for (m, p, body) in &calls {
            let (st, v) = s.call_as(token, m, p, body.clone()).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{m} {p} with {token:?}: {v}");
        }
    }
    // The rekey survived every refused cancel and share (SEC-19).
    let (_, v) = s.call_as(&sudo, "GET", "sys/rekey/init", None).await;
    assert_eq!(
        (v["started"].clone(), v["nonce"].clone(), v["progress"].clone()),
        (json!(true), json!(nonce), json!(0))
    );
    // The sudo token does the whole rekey on the paths its policy names.
    let (_, v) = give_as(&s, &sudo, &nonce, &old[..2]).await;
    assert_eq!(v["complete"], true, "{v}");
    assert!(unseals_with(&s, &keys(&v)).await);
}

async fn give_as(s: &TestServer, token: &str, nonce: &str, shares: &[String]) -> (StatusCode, Value) {
    let mut last = (StatusCode::OK, Value::Null);
    for k in shares {
        last = s.call_as(token, "PUT", "sys/rekey/update", Some(json!({"key": k, "nonce": nonce}))).await;
        assert_eq!(last.0, StatusCode::OK, "{}", last.1);
    }
    last
}

#[tokio::test]
async fn spellings_of_the_paths() {
    let (s, _) = server(1, 1).await;
    let no_sudo =
        s.token_with_policy("rekey-read", "path \"sys/rekey/*\" { capabilities = [\"read\", \"update\"] }").await;
    // A trailing slash is the same endpoint, with the same sudo rule.
    let (st, v) = s.call("GET", "sys/rekey/init/", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s.call_as(&no_sudo, "GET", "sys/rekey/init/", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Other spellings reach no endpoint and start nothing.
    let start = json!({"secret_shares": 1, "secret_threshold": 1}).to_string();
    for path in
        ["sys/REKEY/init", "sys/rekey/INIT", "SYS/rekey/init", "sys/rekey/init2", "sys/rekey", "sys/rotate/root/Init"]
    {
        let (st, body) = s.raw_http("PUT", &format!("/v1/{path}"), Some("root"), &start).await;
        assert!(matches!(st, 400 | 403 | 404 | 405), "{path}: {st} {body}");
        let (st, _) = s.raw_http("PUT", &format!("/v1/{path}"), Some(&no_sudo), &start).await;
        assert!(matches!(st, 400 | 403 | 404 | 405), "{path}: {st}");
    }
    for path in ["/v1/sys//rekey/init", "/v1/sys/./rekey/init", "/v1/sys/rekey/../rekey/init", "/v1/sys/rekey//init"] {
        let (st, body) = s.raw_http("PUT", path, Some("root"), &start).await;
        assert!(matches!(st, 400 | 404), "{path}: {st} {body}");
    }
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(v["started"], false, "{v}");
    // Wrong methods on real endpoints.
    let (st, _) = s.call("GET", "sys/rekey/update", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn oversize_input_is_refused() {
    let (s, old) = server(1, 1).await;
    let (_, v) = s.call("PUT", "sys/rekey/init", Some(json!({"secret_shares": 1, "secret_threshold": 1}))).await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let big_key = "ab".repeat(64 << 10);
    let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": big_key, "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().len() < 1000, "the key is not echoed");
    let (st, _) = s.call("PUT", "sys/rekey/update", Some(json!({"key": old[0], "nonce": "n".repeat(64 << 10)}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let huge = "a".repeat((1 << 20) + 10);
    let (st, _) = s.call("PUT", "sys/rekey/update", Some(json!({"key": huge, "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!((v["started"].clone(), v["progress"].clone()), (json!(true), json!(0)));
}

#[tokio::test]
async fn rotate_root_paths_answer_inside_data() {
    let (s, old) = server(3, 2).await;
    let (st, v) = s
        .call(
            "PUT",
            "sys/rotate/root/init",
            Some(json!({"secret_shares": 5, "secret_threshold": 3, "require_verification": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!((d["started"].clone(), d["n"].clone(), d["t"].clone()), (json!(true), json!(5), json!(3)), "{v}");
    let nonce = d["nonce"].as_str().unwrap().to_string();
    // One rekey, whichever paths: the Vault paths see it too.
    let (_, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!(v["nonce"], nonce.as_str());
    let mut last = Value::Null;
    for k in &old[..2] {
        let (st, v) = s.call("PUT", "sys/rotate/root/update", Some(json!({"key": k, "nonce": nonce}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        last = v;
    }
    let d = &last["data"];
    assert_eq!(d["complete"], true, "{last}");
    let new: Vec<String> =
        d["keys_base64"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let (_, v) = s.call("GET", "sys/rotate/root/verify", None).await;
    let vnonce = v["data"]["nonce"].as_str().unwrap().to_string();
    assert_eq!(vnonce, d["verification_nonce"].as_str().unwrap());
    for k in &new[2..] {
        let (st, v) = s.call("PUT", "sys/rotate/root/verify", Some(json!({"key": k, "nonce": vnonce}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        last = v;
    }
    assert_eq!(last["data"], json!({"nonce": vnonce, "complete": true}));
    let (st, v) = s.call("GET", "sys/rotate/root/backup", None).await;
    assert_eq!((st, err(&v)), (StatusCode::BAD_REQUEST, "no backed-up keys found".to_string()));
    assert!(!unseals_with(&s, &old).await);
    assert!(unseals_with(&s, &new[..3]).await);
}

#[tokio::test]
async fn the_key_file_seal_has_no_shares_to_rekey() {
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("unseal.key");
    std::fs::write(&key, hex::encode(coffer::crypto::random_bytes::<32>())).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&key).unwrap().permissions(), 0o600);
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut s = TestServer::start_with(SealKind::KeyFile(key), limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    for path in ["sys/rekey/init", "sys/rotate/root/init"] {
        let (st, v) = s.call("PUT", path, Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(err(&v).contains("key-file seal"), "{v}");
    }
    let (st, v) = s.call("GET", "sys/rekey/init", None).await;
    assert_eq!((st, v["started"].clone()), (StatusCode::OK, json!(false)), "{v}");
}

#[tokio::test]
async fn audit_records_each_step_and_never_a_share() {
    let (s, old) = server(3, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.log");
    let hashed = dir.path().join("hashed.log");
    for (name, path, options) in [("hashed", &hashed, json!({})), ("raw", &raw, json!({"log_raw": true}))] {
        let mut o = json!({"file_path": path.to_str().unwrap()});
        o.as_object_mut().unwrap().extend(options.as_object().unwrap().clone());
        let (st, v) = s.call("PUT", &format!("sys/audit/{name}"), Some(json!({"type": "file", "options": o}))).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    }
    let start = json!({"secret_shares": 3, "secret_threshold": 2, "require_verification": true});
    let (st, _) = s.call("PUT", "sys/rekey/init", Some(start.clone())).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.call("DELETE", "sys/rekey/init", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("PUT", "sys/rekey/init", Some(start)).await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let (_, v) = give(&s, "sys/rekey/update", &nonce, &old[..2]).await;
    let new = keys(&v);
    let new_b64: Vec<String> =
        v["keys_base64"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let vnonce = v["verification_nonce"].as_str().unwrap().to_string();
    give(&s, "sys/rotate/root/verify", &vnonce, &new[..2]).await;
    let text = std::fs::read_to_string(&hashed).unwrap();
    for kind in ["rekey_started", "rekey_cancelled", "rekey_shares_issued", "rekey_completed"] {
        assert!(text.contains(kind), "no {kind} event in the audit log");
    }
    for path in [&hashed, &raw] {
        let text = std::fs::read_to_string(path).unwrap();
        // The updates are in the log, their shares hashed even on the log_raw device.
        let updates: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "request" && e["request"]["path"] == "sys/rekey/update")
            .collect();
        assert_eq!(updates.len(), 2, "{}", path.display());
        for e in &updates {
            assert!(e["request"]["data"]["key"].as_str().unwrap().starts_with("hmac-sha256:"), "{e}");
        }
        for share in old.iter().chain(&new).chain(&new_b64) {
            assert!(!text.contains(share.as_str()), "a share in {}", path.display());
        }
    }
}

/// A second node over the same PostgreSQL database sees the new configuration at once, and is
/// unsealed by the new shares only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_sees_the_new_configuration() {
    let (_store, db) = crate::store_contract::fresh_pg().await;
    let mut a = TestServer::at_url(db.url(), std::time::Duration::from_secs(3)).await;
    let (old, root) = a.init(3, 2).await;
    a.unseal(&old[..2]).await;
    let mut b = TestServer::at_url(db.url(), std::time::Duration::from_secs(3)).await;
    b.token = root.clone();
    b.unseal(&old[1..]).await;
    let (_, v) = a.call("PUT", "sys/rekey/init", Some(json!({"secret_shares": 4, "secret_threshold": 3}))).await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let (_, v) = give(&a, "sys/rekey/update", &nonce, &old[..2]).await;
    let new = keys(&v);
    crate::harness::until("node B sees 4/3", std::time::Duration::from_secs(5), || async {
        let (_, v) = b.call_as("", "GET", "sys/seal-status", None).await;
        v["n"] == 4 && v["t"] == 3
    })
    .await;
    assert!(!unseals_with(&b, &old).await);
    assert!(unseals_with(&b, &new[1..]).await);
}
