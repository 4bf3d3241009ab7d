//! Generate root (issue 19 part 3, SEC-19): share holders make a new root token over HTTP after
//! every root token was revoked; off unless configured; the attempt's nonce is needed to steer or
//! stop it; wrong, duplicate and oversize input, a sealed server, the rate limit, and audit
//! entries free of every secret value.

use base64::Engine as _;
use coffer::core::generate_root::{STARTS_PER_MINUTE, UPDATES_PER_MINUTE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{limits, send, until, TestServer};

const ATTEMPT: &str = "sys/generate-root/attempt";
const UPDATE: &str = "sys/generate-root/update";

/// Vault's field set of every `sys/generate-root` answer, as OpenBao 2.7.2 sends it.
const FIELDS: [&str; 10] = [
    "complete",
    "encoded_root_token",
    "encoded_token",
    "nonce",
    "otp",
    "otp_length",
    "pgp_fingerprint",
    "progress",
    "required",
    "started",
];

/// An initialised, unsealed server with `n` shares and threshold `t`, generate-root on (as
/// `[seal] generate_root = true` sets it) and every root token revoked.
async fn rescue_server(n: u64, t: u64, audit: coffer::core::audit::Settings) -> (TestServer, Vec<String>) {
    let options = coffer::server::Options {
        seal: coffer::core::seal::SealKind::Shamir,
        limits: limits(),
        audit,
        lease_ttl: coffer::server::DEFAULT_LEASE_TTL,
        cache: Default::default(),
        aws: Default::default(),
    };
    let mut s = TestServer::start_opts(tempfile::tempdir().unwrap(), options).await;
    let (shares, _root) = s.init(n, t).await;
    s.unseal(&shares[..usize::try_from(t).unwrap()]).await;
    s.running.as_ref().unwrap().core.generate_root.set_enabled(true);
    let (st, v) = s.call("POST", "auth/token/revoke-self", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, _) = s.call("GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "the only root token is gone");
    s.token.clear();
    (s, shares)
}

async fn anon(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_as("", method, path, body).await
}

/// Starts an attempt without a body (the server makes the OTP); returns (nonce, otp).
async fn start(s: &TestServer) -> (String, String) {
    let (st, v) = anon(s, "PUT", ATTEMPT, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    (v["nonce"].as_str().unwrap().to_string(), v["otp"].as_str().unwrap().to_string())
}

async fn update(s: &TestServer, key: &str, nonce: &str) -> (StatusCode, Value) {
    anon(s, "PUT", UPDATE, Some(json!({"key": key, "nonce": nonce}))).await
}

async fn status(s: &TestServer) -> Value {
    let (st, v) = anon(s, "GET", ATTEMPT, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// The test's own decoding, as `bao operator generate-root -decode` does it: base64 (no
/// padding), then XOR with the OTP.
fn decode(encoded: &str, otp: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded).unwrap();
    assert_eq!(raw.len(), otp.len());
    String::from_utf8(raw.iter().zip(otp.as_bytes()).map(|(e, o)| e ^ o).collect()).unwrap()
}

fn keys_of(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// Submits `shares` to the attempt; returns the new root token decoded with `otp`.
async fn complete(s: &TestServer, shares: &[String], nonce: &str, otp: &str) -> String {
    let mut last = Value::Null;
    let before = status(s).await["progress"].as_u64().unwrap();
    for (i, k) in (1..).zip(shares) {
        let (st, v) = update(s, k, nonce).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["progress"], before + i, "{v}");
        last = v;
    }
    assert_eq!(last["complete"], true, "{last}");
    assert_eq!(keys_of(&last), FIELDS);
    assert_eq!(last["encoded_token"], last["encoded_root_token"]);
    decode(last["encoded_token"].as_str().unwrap(), otp)
}

/// The new token is a root token: it passes a sudo-only call and looks up as `root`.
async fn assert_root(s: &TestServer, token: &str) {
    let (st, v) = s.call_as(token, "LIST", "auth/token/accessors", None).await;
    assert_eq!(st, StatusCode::OK, "a sudo-only call with the new token: {v}");
    let (st, v) = s.call_as(token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["policies"], json!(["root"]));
    assert_eq!(v["data"]["ttl"], 0);
}

#[tokio::test]
async fn share_holders_make_a_root_token_with_a_server_otp_or_their_own() {
    let (s, shares) = rescue_server(5, 3, Default::default()).await;
    let idle = status(&s).await;
    assert_eq!(keys_of(&idle), FIELDS);
    assert_eq!(idle["started"], false);
    assert_eq!(idle["required"], 3);
    let otp_length = idle["otp_length"].as_u64().unwrap();
    assert_eq!(otp_length, 42, "a Coffer token's length");

    // Vault >= 1.10: no body, the server makes the OTP and returns it once.
    let (nonce, otp) = start(&s).await;
    assert_eq!(otp.len() as u64, otp_length);
    let running = status(&s).await;
    assert_eq!((running["started"].clone(), running["progress"].clone()), (json!(true), json!(0)));
    assert_eq!(running["otp"], "", "the OTP is shown only to the starter");
    assert_eq!(running["nonce"], "", "the nonce is shown only to the starter (SEC-19)");
    let token = complete(&s, &shares[1..4], &nonce, &otp).await;
    assert!(token.starts_with("s.") && token.len() == 42, "{token}");
    assert_root(&s, &token).await;
    assert_eq!(status(&s).await["started"], false, "a completed attempt is over");

    // The caller's own OTP (the bao CLI's -init -otp); shares given as base64 work too.
    let own_otp = coffer::crypto::random_base62(42);
    let (st, v) = anon(&s, "PUT", ATTEMPT, Some(json!({"otp": own_otp}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["otp"], "", "the caller's OTP is not echoed");
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let b64: Vec<String> =
        shares[..3].iter().map(|h| base64::engine::general_purpose::STANDARD.encode(hex::decode(h).unwrap())).collect();
    let second = complete(&s, &b64, &nonce, &own_otp).await;
    assert_ne!(second, token);
    assert_root(&s, &second).await;
    assert_root(&s, &token).await;

    // An OTP of the wrong length and a PGP key are refused, and start nothing.
    let (st, v) = anon(&s, "PUT", ATTEMPT, Some(json!({"otp": "short"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = anon(&s, "PUT", ATTEMPT, Some(json!({"pgp_key": "mQENBF..."}))).await;
    assert_eq!((st, v["errors"][0].as_str().unwrap().contains("not supported")), (StatusCode::BAD_REQUEST, true));
    assert_eq!(status(&s).await["started"], false);
}

#[tokio::test]
async fn off_by_default_the_endpoints_answer_405_with_or_without_a_token() {
    let mut s = TestServer::uninitialised().await;
    let (shares, root) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let disabled = json!({"errors": ["unsupported operation"]});
    for token in ["", root.as_str()] {
        for (method, path, body) in [
            ("GET", ATTEMPT, None),
            ("PUT", ATTEMPT, None),
            ("PUT", ATTEMPT, Some(json!({"otp": ""}))),
            ("DELETE", ATTEMPT, None),
            ("PUT", UPDATE, Some(json!({"key": shares[0], "nonce": "x"}))),
            ("PUT", "sys/generate-root/attempt/", None),
        ] {
            let (st, v) = s.call_as(token, method, path, body).await;
            assert_eq!(
                (st, &v),
                (StatusCode::METHOD_NOT_ALLOWED, &disabled),
                "{method} {path} token={}",
                !token.is_empty()
            );
        }
    }
    // OpenBao's successor paths are then ordinary unknown paths: a token is needed first.
    let (st, _) = s.call_as("", "PUT", "sys/generate-root-token/attempt", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Nothing started behind the refusals.
    s.running.as_ref().unwrap().core.generate_root.set_enabled(true);
    assert_eq!(status(&s).await["started"], false);
}

#[tokio::test]
async fn shares_that_combine_to_another_key_abort_and_the_attempt_starts_over() {
    let (s, shares) = rescue_server(3, 2, Default::default()).await;
    // Shares of another cluster: well-formed, but they make a key that opens nothing here.
    let mut other = TestServer::uninitialised().await;
    let (foreign, _) = other.init(3, 2).await;
    let (nonce, otp) = start(&s).await;
    for wrong in [[foreign[0].clone(), foreign[1].clone()], [shares[0].clone(), foreign[1].clone()]] {
        let (st, v) = update(&s, &wrong[0], &nonce).await;
        assert_eq!((st, v["progress"].clone()), (StatusCode::OK, json!(1)), "{v}");
        let (st, v) = update(&s, &wrong[1], &nonce).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["errors"][0].as_str().unwrap().starts_with("root generation aborted"), "{v}");
        let after = status(&s).await;
        assert_eq!((after["started"].clone(), after["progress"].clone()), (json!(true), json!(0)), "as Vault: reset");
    }
    // Malformed shares are refused without counting.
    for bad in ["not-a-share", "abcd", &"ab".repeat(40)] {
        let (st, _) = update(&s, bad, &nonce).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(status(&s).await["progress"], 0);
    // The same attempt (nonce and OTP) then completes with the right shares.
    let token = complete(&s, &shares[1..3], &nonce, &otp).await;
    assert_root(&s, &token).await;
}

#[tokio::test]
async fn a_duplicate_share_is_refused_and_not_counted() {
    let (s, shares) = rescue_server(3, 2, Default::default()).await;
    let (nonce, otp) = start(&s).await;
    assert_eq!(update(&s, &shares[0], &nonce).await.0, StatusCode::OK);
    let (st, v) = update(&s, &shares[0], &nonce).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errors"][0], "given key has already been provided during this generation operation");
    // The same share in its other encoding is the same share.
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&shares[0]).unwrap());
    assert_eq!(update(&s, &b64, &nonce).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(status(&s).await["progress"], 1);
    let (st, v) = update(&s, &shares[2], &nonce).await;
    assert_eq!((st, v["complete"].clone()), (StatusCode::OK, json!(true)), "{v}");
    assert_root(&s, &decode(v["encoded_token"].as_str().unwrap(), &otp)).await;
}

#[tokio::test]
async fn update_and_cancel_without_the_nonce_are_refused_and_the_attempt_survives() {
    let (s, shares) = rescue_server(3, 2, Default::default()).await;
    let (nonce, otp) = start(&s).await;
    assert_eq!(update(&s, &shares[0], &nonce).await.0, StatusCode::OK);
    let denied = json!({"errors": ["permission denied"]});
    let mut tail = nonce.clone();
    tail.pop();
    let wrong =
        [String::new(), "x".into(), nonce.to_uppercase(), format!("{nonce} "), tail, uuid::Uuid::new_v4().to_string()];
    // An update: no nonce, then each wrong one. A right share must not complete the attempt.
    let (st, v) = anon(&s, "PUT", UPDATE, Some(json!({"key": shares[1]}))).await;
    assert_eq!((st, &v), (StatusCode::FORBIDDEN, &denied));
    for w in &wrong {
        let (st, v) = update(&s, &shares[1], w).await;
        assert_eq!((st, &v), (StatusCode::FORBIDDEN, &denied), "nonce {w:?}");
    }
    // A cancel: no nonce, wrong nonces in the body and in the query.
    let (st, v) = anon(&s, "DELETE", ATTEMPT, None).await;
    assert_eq!((st, &v), (StatusCode::FORBIDDEN, &denied));
    for w in &wrong {
        let (st, _) = anon(&s, "DELETE", ATTEMPT, Some(json!({"nonce": w}))).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "nonce {w:?} in the body");
        let r = send(s.request_anon("DELETE", ATTEMPT).query(&[("nonce", w)])).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "nonce {w:?} in the query");
    }
    // Unsealing's reset does not touch it either.
    let (st, _) = anon(&s, "PUT", "sys/unseal", Some(json!({"reset": true}))).await;
    assert_eq!(st, StatusCode::OK);
    let after = status(&s).await;
    assert_eq!((after["started"].clone(), after["progress"].clone()), (json!(true), json!(1)), "the attempt survives");
    // The holder of the nonce finishes it.
    let (st, v) = update(&s, &shares[1], &nonce).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_root(&s, &decode(v["encoded_token"].as_str().unwrap(), &otp)).await;
    // And cancels the next one, with the nonce in the query as well as in the body.
    let (nonce, _) = start(&s).await;
    let r = send(s.request_anon("DELETE", ATTEMPT).query(&[("nonce", &nonce)])).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(status(&s).await["started"], false);
    let (nonce, _) = start(&s).await;
    let (st, _) = anon(&s, "DELETE", ATTEMPT, Some(json!({"nonce": nonce}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(status(&s).await["started"], false);
    // An update with no attempt running.
    let (st, v) = update(&s, &shares[0], &nonce).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, json!({"errors": ["no root generation in progress"]})));
}

#[tokio::test]
async fn starting_twice_is_refused_and_the_first_attempt_stays() {
    let (s, shares) = rescue_server(3, 2, Default::default()).await;
    let (nonce, otp) = start(&s).await;
    assert_eq!(update(&s, &shares[0], &nonce).await.0, StatusCode::OK);
    for body in [None, Some(json!({"otp": coffer::crypto::random_base62(42)}))] {
        let (st, v) = anon(&s, "PUT", ATTEMPT, body).await;
        assert_eq!((st, v), (StatusCode::BAD_REQUEST, json!({"errors": ["root generation already in progress"]})));
    }
    assert_eq!(status(&s).await["progress"], 1);
    let token = complete(&s, &shares[1..2], &nonce, &otp).await;
    assert_root(&s, &token).await;
}

#[tokio::test]
async fn a_sealed_server_answers_503_and_sealing_drops_the_attempt() {
    let mut s = TestServer::uninitialised().await;
    let (shares, root) = s.init(3, 2).await;
    s.unseal(&shares[..2]).await;
    s.running.as_ref().unwrap().core.generate_root.set_enabled(true);
    let (nonce, _) = start(&s).await;
    assert_eq!(update(&s, &shares[0], &nonce).await.0, StatusCode::OK);
    let (st, _) = s.call_as(&root, "PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let sealed = json!({"errors": ["Vault is sealed"]});
    for (method, path, body) in [
        ("GET", ATTEMPT, None),
        ("PUT", ATTEMPT, None),
        ("PUT", UPDATE, Some(json!({"key": shares[1], "nonce": nonce}))),
        ("DELETE", ATTEMPT, Some(json!({"nonce": nonce}))),
    ] {
        let (st, v) = anon(&s, method, path, body).await;
        assert_eq!((st, &v), (StatusCode::SERVICE_UNAVAILABLE, &sealed), "{method} {path}");
    }
    s.unseal(&shares[1..3]).await;
    assert_eq!(status(&s).await["started"], false, "the attempt did not outlive the seal");
}

#[tokio::test]
async fn other_spellings_of_the_paths_are_not_served_without_a_token() {
    let (s, _shares) = rescue_server(1, 1, Default::default()).await;
    for path in [
        "sys/Generate-Root/attempt",
        "sys/generate-root/Attempt",
        "sys/generate-root",
        "sys/generate-root/",
        "sys/generate-root/attempt/extra",
        "sys/generate-roots/attempt",
        "sys/generate-root/decode-token",
        "sys/generate-root-token/Attempt",
    ] {
        for method in ["GET", "PUT"] {
            let (st, v) = anon(&s, method, path, None).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        }
    }
    for target in
        ["/v1/sys//generate-root/attempt", "/v1/sys/generate-root/./attempt", "/v1/sys/x/../generate-root/attempt"]
    {
        let (st, body) = s.raw_http("PUT", target, None, "").await;
        assert!(st == 403 || st == 400 || st == 404, "{target}: {st} {body}");
    }
    assert_eq!(status(&s).await["started"], false, "no spelling started an attempt");
}

#[tokio::test]
async fn an_oversize_body_gets_413_before_it_is_read() {
    let (s, shares) = rescue_server(1, 1, Default::default()).await;
    let big = json!({"otp": "", "pad": "x".repeat(70 << 10)}).to_string();
    for path in [ATTEMPT, UPDATE, "sys/generate-root-token/attempt"] {
        let r = send(s.request_anon("PUT", path).header("Content-Type", "application/json").body(big.clone())).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {}", r.text);
    }
    assert_eq!(status(&s).await["started"], false);
    // A body under the limit is served.
    let (nonce, otp) = start(&s).await;
    assert_root(&s, &complete(&s, &shares, &nonce, &otp).await).await;
}

#[tokio::test]
async fn the_rate_limit_refuses_starts_and_updates_over_it_and_the_attempt_survives() {
    let (s, _) = rescue_server(3, 2, Default::default()).await;
    for _ in 0..STARTS_PER_MINUTE {
        let (nonce, _) = start(&s).await;
        let (st, _) = anon(&s, "DELETE", ATTEMPT, Some(json!({"nonce": nonce}))).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    let r = send(s.request_anon("PUT", ATTEMPT)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(status(&s).await["started"], false, "reading the status is not limited");

    // Updates and cancels share one budget per node.
    let (s, shares) = rescue_server(3, 2, Default::default()).await;
    let (nonce, _) = start(&s).await;
    assert_eq!(update(&s, &shares[0], &nonce).await.0, StatusCode::OK);
    for _ in 1..UPDATES_PER_MINUTE {
        assert_eq!(update(&s, &shares[1], "wrong").await.0, StatusCode::FORBIDDEN);
    }
    let (st, v) = update(&s, &shares[1], &nonce).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "the right nonce waits too: {v}");
    let (st, _) = anon(&s, "DELETE", ATTEMPT, Some(json!({"nonce": nonce}))).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    let after = status(&s).await;
    assert_eq!((after["started"].clone(), after["progress"].clone()), (json!(true), json!(1)), "the attempt survives");
}

#[tokio::test]
async fn every_call_is_audited_and_no_entry_holds_the_token_otp_share_or_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let audit = coffer::core::audit::Settings {
        declared: vec![crate::audit::declared("file", log.to_str().unwrap())],
        ..Default::default()
    };
    let (s, shares) = rescue_server(3, 2, audit).await;
    let (nonce, otp) = start(&s).await;
    assert_eq!(update(&s, &shares[0], "wrong-nonce").await.0, StatusCode::FORBIDDEN);
    assert_eq!(anon(&s, "DELETE", ATTEMPT, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(update(&s, &shares[0], &nonce).await.0, StatusCode::OK);
    let (st, last) = update(&s, &shares[1], &nonce).await;
    assert_eq!(st, StatusCode::OK);
    let encoded = last["encoded_token"].as_str().unwrap().to_string();
    let token = decode(&encoded, &otp);
    let (nonce2, otp2) = start(&s).await;
    assert_eq!(anon(&s, "DELETE", ATTEMPT, Some(json!({"nonce": nonce2}))).await.0, StatusCode::NO_CONTENT);

    let events = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["type"] == "event" && e["event"]["kind"] == "generate_root")
            .map(|e| e["event"].clone())
            .collect::<Vec<_>>()
    };
    let want: Vec<(String, String)> = [
        ("start", "ok"),
        ("update", "refused"),
        ("cancel", "refused"),
        ("update", "ok"),
        ("update", "ok"),
        ("start", "ok"),
        ("cancel", "ok"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    until("seven generate-root audit events", std::time::Duration::from_secs(10), || async {
        events().len() >= want.len()
    })
    .await;
    let seen: Vec<(String, String)> = events()
        .iter()
        .map(|e| (e["operation"].as_str().unwrap().to_string(), e["outcome"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(seen, want);
    let all = events();
    assert_eq!(all[4]["complete"], true, "{}", all[4]);
    assert_eq!(all[1]["status"], 403);
    assert!(all.iter().all(|e| e["remote_address"] == "127.0.0.1"), "{all:?}");
    // No secret in any encoding anywhere in the audit file.
    let files = vec![("audit.log".to_string(), std::fs::read(&log).unwrap())];
    let mut secrets = vec![token, otp, otp2, nonce, nonce2, encoded];
    for k in &shares {
        secrets.push(k.clone());
        secrets.push(base64::engine::general_purpose::STANDARD.encode(hex::decode(k).unwrap()));
    }
    for secret in &secrets {
        let hits = crate::security::find(&files, secret);
        assert!(hits.is_empty(), "a secret value reached the audit log: {hits:?}");
    }
}

#[tokio::test]
async fn openbao_paths_share_the_attempt_and_answer_in_the_data_envelope() {
    let (s, shares) = rescue_server(3, 2, Default::default()).await;
    let (st, v) = anon(&s, "GET", "sys/generate-root-token/attempt", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(keys_of(&v["data"]), ["complete", "otp", "otp_length", "progress", "required", "started"]);
    let (st, v) = anon(&s, "PUT", "sys/generate-root-token/attempt", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!(
        keys_of(d),
        ["complete", "nonce", "otp", "otp_length", "pgp_fingerprint", "progress", "required", "started"]
    );
    let (nonce, otp) = (d["nonce"].as_str().unwrap().to_string(), d["otp"].as_str().unwrap().to_string());
    assert_eq!(status(&s).await["started"], true, "one attempt behind both spellings");
    let (st, v) =
        anon(&s, "PUT", "sys/generate-root-token/update", Some(json!({"key": shares[0], "nonce": "no"}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) =
        anon(&s, "PUT", "sys/generate-root-token/update", Some(json!({"key": shares[0], "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = update(&s, &shares[1], &nonce).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_root(&s, &decode(v["encoded_token"].as_str().unwrap(), &otp)).await;
    let (st, v) = anon(&s, "PUT", "sys/generate-root-token/attempt", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK);
    let nonce = v["data"]["nonce"].as_str().unwrap().to_string();
    let (st, v) =
        anon(&s, "PUT", "sys/generate-root-token/update", Some(json!({"key": shares[2], "nonce": nonce}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        keys_of(&v["data"]),
        ["complete", "encoded_token", "nonce", "pgp_fingerprint", "progress", "required", "started"]
    );
    let (st, _) = anon(&s, "DELETE", "sys/generate-root-token/attempt", Some(json!({"nonce": nonce}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}
