//! `coffer operator generate-root` against a real server started with
//! `COFFER_SEAL_GENERATE_ROOT=true`: one holder with every share, holders who submit apart
//! (`--init`, `--nonce`, `--decode`), `--status` and `--cancel`; and a server without the setting.

use predicates::prelude::*;
use serde_json::Value;

use crate::harness::ConfigServer;

/// A server with generate-root on, initialised (3 shares, threshold 2) and unsealed, whose root
/// token was revoked; returns it with the base64 shares.
fn rescue() -> (ConfigServer, Vec<String>) {
    let srv = ConfigServer::start_env(&[("COFFER_SEAL_GENERATE_ROOT", "true")]);
    let out = srv
        .cmd()
        .args(["operator", "init", "--key-shares", "3", "--key-threshold", "2", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<String> =
        v["keys_base64"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let root = v["root_token"].as_str().unwrap().to_string();
    srv.cmd().args(["operator", "unseal", "-"]).write_stdin(format!("{}\n{}\n", keys[0], keys[1])).assert().success();
    srv.cmd().env("COFFER_TOKEN", &root).args(["token", "revoke", "--self"]).assert().success();
    srv.cmd().env("COFFER_TOKEN", &root).args(["token", "lookup"]).assert().code(1);
    (srv, keys)
}

/// The new token works for a sudo-only call and is a root token.
fn assert_root(srv: &ConfigServer, token: &str) {
    srv.cmd().env("COFFER_TOKEN", token).args(["list", "auth/token/accessors"]).assert().success();
    srv.cmd()
        .env("COFFER_TOKEN", token)
        .args(["token", "lookup"])
        .assert()
        .success()
        .stdout(predicate::str::contains("root"));
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn one_holder_with_the_shares_on_stdin_gets_a_working_root_token() {
    let (srv, keys) = rescue();
    let out = srv
        .cmd()
        .args(["operator", "generate-root", "--format", "json", "-"])
        .write_stdin(format!("{}\n{}\n", keys[0], keys[2]))
        .output()
        .unwrap();
    let token = json_of(&out)["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("s."), "{token}");
    assert_root(&srv, &token);
    // Table output, the server making the OTP.
    srv.cmd()
        .args(["operator", "generate-root", "--server-otp"])
        .write_stdin(format!("{}\n{}\n", keys[1], keys[2]))
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"Root Token +s\.[A-Za-z0-9]{40}\n").unwrap());
    srv.cmd()
        .args(["operator", "generate-root", "--status"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nStarted +false\n").unwrap());
}

#[test]
fn holders_apart_use_the_nonce_and_the_starter_decodes() {
    let (srv, keys) = rescue();
    let started =
        json_of(&srv.cmd().args(["operator", "generate-root", "--init", "--format", "json"]).output().unwrap());
    let nonce = started["nonce"].as_str().unwrap().to_string();
    let otp = started["otp"].as_str().unwrap().to_string();
    assert_eq!(otp.len(), 42);
    srv.cmd()
        .args(["operator", "generate-root", "--status"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nStarted +true\n").unwrap())
        .stdout(predicate::str::is_match(r"\nProgress +0/2\n").unwrap());
    // Without the nonce nobody can cancel it; a wrong nonce is refused too.
    srv.cmd().args(["operator", "generate-root", "--cancel"]).assert().code(2);
    srv.cmd()
        .args(["operator", "generate-root", "--cancel", "--nonce", "not-it"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the nonce is missing or not the running attempt's (403)"));
    // The first holder adds a share (argument), the second (stdin) completes the attempt but
    // has no OTP: the encoded token is shown, and the starter decodes it.
    srv.cmd()
        .args(["operator", "generate-root", "--nonce", &nonce, &keys[2]])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nProgress +1/2\n").unwrap());
    let last = json_of(
        &srv.cmd()
            .args(["operator", "generate-root", "--nonce", &nonce, "--format", "json", "-"])
            .write_stdin(format!("{}\n", keys[0]))
            .output()
            .unwrap(),
    );
    assert_eq!(last["complete"], true);
    let encoded = last["encoded_token"].as_str().unwrap().to_string();
    let decoded = json_of(
        &srv.cmd()
            .args(["operator", "generate-root", "--decode", &encoded, "--otp", &otp, "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_root(&srv, decoded["token"].as_str().unwrap());
    // A wrong OTP does not decode to a token.
    let wrong = "A".repeat(42);
    let bad = srv.cmd().args(["operator", "generate-root", "--decode", &encoded, "--otp", &wrong]).output().unwrap();
    assert!(!String::from_utf8_lossy(&bad.stdout).contains(decoded["token"].as_str().unwrap()));
    // A started attempt is cancelled with its nonce.
    let started =
        json_of(&srv.cmd().args(["operator", "generate-root", "--init", "--format", "json"]).output().unwrap());
    let nonce = started["nonce"].as_str().unwrap();
    srv.cmd()
        .args(["operator", "generate-root", "--cancel", "--nonce", nonce])
        .assert()
        .success()
        .stdout(predicate::str::contains("canceled"));
    srv.cmd()
        .args(["operator", "generate-root", "--status"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nStarted +false\n").unwrap());
}

#[test]
fn wrong_shares_fail_and_the_attempt_this_command_started_is_cancelled() {
    let (srv, keys) = rescue();
    let junk = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g";
    srv.cmd()
        .args(["operator", "generate-root", "-"])
        .write_stdin(format!("{}\n{junk}\n", keys[0]))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("root generation aborted"));
    srv.cmd()
        .args(["operator", "generate-root", "--status"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nStarted +false\n").unwrap());
}

#[test]
fn without_the_setting_the_server_refuses_with_405() {
    let srv = ConfigServer::start();
    let out = srv
        .cmd()
        .args(["operator", "init", "--key-shares", "1", "--key-threshold", "1", "--format", "json"])
        .output()
        .unwrap();
    let v = json_of(&out);
    let key = v["keys_base64"][0].as_str().unwrap().to_string();
    srv.cmd().args(["operator", "unseal", &key]).assert().success();
    srv.cmd()
        .args(["operator", "generate-root", &key])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unsupported operation (405)"));
}
