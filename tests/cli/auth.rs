//! `coffer login` with every method, the stored token file, `token …`, `policy …` (`explain`
//! included), `auth …`,
//! `audit …` and the generic `read`/`write`/`list`/`delete`.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use predicates::prelude::*;
use serde_json::json;

use crate::harness::{mode, DevServer};

const POLICY: &str = "path \"secret/data/app\" { capabilities = [\"read\"] }\n";

fn token_file(s: &DevServer) -> String {
    let p = s.home.path().join(".coffer-token");
    assert_eq!(mode(&p), 0o600);
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

#[test]
fn login_with_every_method_stores_the_token_privately() {
    let s = DevServer::start();
    s.ok(&["kv", "put", "secret/app", "user=@/dev/null"]);
    s.ok_stdin(&["policy", "write", "app", "-"], POLICY);

    // token: from stdin, checked with lookup-self, stored 0600, never printed.
    s.cmd_anon()
        .args(["login"])
        .write_stdin("root\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("Success! You are now authenticated"))
        .stdout(predicate::str::contains("root").and(predicate::str::contains("policies")))
        .stdout(predicate::str::contains(".coffer-token"));
    assert_eq!(token_file(&s), "root");
    // The stored token is used when no variable is set.
    s.cmd_anon().args(["kv", "get", "--field", "user", "secret/app"]).assert().success().stdout("");
    s.cmd_anon()
        .args(["login", "--method", "token", "-"])
        .write_stdin("s.bogus\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("permission denied (403) on auth/token/lookup-self"));
    assert_eq!(token_file(&s), "root", "a failed login keeps the old token");

    // userpass with --password-stdin.
    s.ok(&["auth", "enable", "userpass"]);
    let pw = s.home.path().join("alice.pass");
    std::fs::write(&pw, "correct horse").unwrap();
    s.ok(&["write", "auth/userpass/users/alice", &format!("password=@{}", pw.display()), "token_policies=app"]);
    let out = s
        .cmd_anon()
        .args(["login", "--method", "userpass", "--username", "alice", "--password-stdin"])
        .write_stdin("correct horse\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let alice = token_file(&s);
    assert!(alice.starts_with("s.") && !stdout.contains(&alice), "the token must not be printed: {stdout}");
    assert!(stdout.contains("token_meta_username") && stdout.contains("alice"), "{stdout}");
    s.cmd_anon().args(["kv", "get", "--field", "user", "secret/app"]).assert().success();
    s.cmd_anon()
        .args(["kv", "put", "secret/app", "user=@/dev/null"])
        .assert()
        .code(1)
        .stderr("Error: permission denied (403) on secret/data/app\n");
    s.cmd_anon()
        .args(["login", "--method", "userpass", "--username", "alice", "--password-stdin"])
        .write_stdin("wrong\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid username or password (400) on auth/userpass/login/alice"));

    // approle with --secret-id-file; --format json shows the token; --no-store keeps the file.
    s.ok(&["auth", "enable", "approle"]);
    s.ok(&["write", "auth/approle/role/billing", "token_policies=app"]);
    let role_id = s.ok(&["read", "--field", "role_id", "auth/approle/role/billing/role-id"]);
    let sid = s.ok(&["write", "-f", "--field", "secret_id", "auth/approle/role/billing/secret-id"]);
    let sid_file = s.home.path().join("sid");
    std::fs::write(&sid_file, format!("{sid}\n")).unwrap();
    let out = s
        .cmd_anon()
        .args(["login", "--method", "approle", "--role-id", &role_id, "--no-store", "--format", "json"])
        .arg("--secret-id-file")
        .arg(&sid_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let approle_token = v["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(token_file(&s), alice, "--no-store leaves the stored token alone");
    s.cmd_as(&approle_token).args(["kv", "get", "secret/app"]).assert().success();

    // jwt with --jwt-file (`-`: stdin), on a mount at another path.
    let kp = rcgen::KeyPair::generate().unwrap();
    s.ok(&["auth", "enable", "--path", "ci", "jwt"]);
    s.ok_stdin(
        &["write", "auth/ci/config", "-"],
        &json!({"jwt_validation_pubkeys": [kp.public_key_pem()], "bound_issuer": "https://ci.example"}).to_string(),
    );
    s.ok_stdin(
        &["write", "auth/ci/role/deploy", "-"],
        &json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["coffer"], "token_policies": ["app"]})
            .to_string(),
    );
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": "https://ci.example", "sub": "repo:acme/app", "aud": "coffer",
                        "iat": now, "nbf": now - 5, "exp": now + 300});
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let jwt_file = s.home.path().join("oidc.jwt");
    std::fs::write(&jwt_file, &jwt).unwrap();
    s.cmd_anon()
        .args(["login", "--method", "jwt", "--path", "ci", "--role", "deploy", "--jwt-file"])
        .arg(&jwt_file)
        .assert()
        .success()
        .stdout(predicate::str::contains(jwt.as_str()).not());
    let ci_token = token_file(&s);
    assert_ne!(ci_token, alice);
    s.cmd_anon()
        .args(["login", "--method", "jwt", "--path", "ci", "--role", "deploy", "--jwt-file", "-"])
        .write_stdin(jwt.clone())
        .assert()
        .success();
    s.cmd_anon().args(["kv", "get", "--field", "user", "secret/app"]).assert().success();
    s.cmd_anon()
        .args(["login", "--method", "jwt", "--path", "ci", "--role", "nope", "--jwt-file", "-"])
        .write_stdin(jwt)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("on auth/ci/login"));

    // Flags of another method, or missing ones, are usage errors.
    s.cmd_anon().args(["login", "--method", "token", "--username", "x"]).assert().code(2);
    s.cmd_anon().args(["login", "--method", "userpass"]).assert().code(2);
    s.cmd_anon().args(["login", "--method", "approle"]).assert().code(2);
    s.cmd_anon().args(["login", "--method", "jwt", "--role", "r"]).assert().code(2);
    s.cmd_anon().args(["login", "--method", "ldap"]).assert().code(2);
}

#[test]
fn a_token_file_readable_by_others_gets_a_warning() {
    let s = DevServer::start();
    let p = s.home.path().join(".coffer-token");
    std::fs::write(&p, "root\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.cmd_anon()
        .args(["token", "lookup"])
        .assert()
        .success()
        .stderr(predicate::str::contains("can be read by other users (mode 644)"));
}

#[test]
fn token_create_lookup_renew_revoke() {
    let s = DevServer::start();
    s.ok_stdin(&["policy", "write", "app", "-"], POLICY);
    let v = s.json(&["token", "create", "--policy", "app", "--ttl", "1h", "--metadata", "team=a"]);
    let t = v["auth"]["client_token"].as_str().unwrap().to_string();
    let accessor = v["auth"]["accessor"].as_str().unwrap().to_string();
    assert_eq!(v["auth"]["policies"], json!(["app", "default"]));
    assert_eq!(v["auth"]["lease_duration"], 3600);
    // The table of `token create` shows the token: that is its purpose.
    let table = s.ok(&["token", "create", "--policy", "app", "--ttl", "10m"]);
    assert!(table.contains("token ") && table.contains("s.") && table.contains("[app default]"), "{table}");
    // lookup: the table leaves the token out.
    let out = s.cmd_as(&t).args(["token", "lookup"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&accessor) && !text.contains(&t), "{text}");
    let v = s.json(&["token", "lookup", "--accessor", &accessor]);
    assert_eq!(v["data"]["meta"], json!({"team": "a"}));
    let v: serde_json::Value =
        serde_json::from_str(&s.ok_stdin(&["token", "lookup", "-", "--format", "json"], &t)).unwrap();
    assert_eq!(v["data"]["accessor"], accessor.as_str());
    // renew.
    let out = s.cmd_as(&t).args(["token", "renew", "--increment", "30m"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("30m0s") && !text.contains(&t), "{text}");
    // revoke: by accessor, then the token is dead.
    s.ok(&["token", "revoke", "--accessor", &accessor]);
    s.cmd_as(&t)
        .args(["token", "lookup"])
        .assert()
        .code(1)
        .stderr("Error: permission denied (403) on auth/token/lookup-self\n");
    let t2 = s.token_with("app");
    s.cmd_as(&t2)
        .args(["token", "revoke", "--self"])
        .assert()
        .success()
        .stdout("Success! Revoked token (if it existed)\n");
    s.cmd_as(&t2).args(["token", "lookup"]).assert().code(1);
    s.cmd().args(["token", "revoke"]).assert().code(2);
    // A child's policies must be a subset of its parent's.
    let app = s.token_with("app");
    s.cmd_as(&app)
        .args(["token", "create", "--policy", "admin"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(403)").or(predicate::str::contains("(400)")));
}

#[test]
fn policies_auth_methods_and_audit_devices() {
    let s = DevServer::start();
    let f = s.home.path().join("app.hcl");
    std::fs::write(&f, POLICY).unwrap();
    s.cmd().args(["policy", "write", "app"]).arg(&f).assert().success().stdout("Success! Uploaded policy: app\n");
    s.cmd().args(["policy", "read", "app"]).assert().success().stdout(POLICY);
    assert_eq!(s.json(&["policy", "read", "app"])["data"]["policy"], POLICY);
    s.cmd().args(["policy", "list"]).assert().success().stdout("Keys\n----\napp\ndefault\nroot\n");
    s.ok(&["policy", "delete", "app"]);
    s.cmd().args(["policy", "read", "app"]).assert().code(1).stderr("Error: no policy named \"app\"\n");
    s.cmd_anon()
        .args(["policy", "write", "bad", "-"])
        .env("COFFER_TOKEN", "root")
        .write_stdin("path \"x\" { capabilities = [\"reed\"] }")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid capability"));

    s.ok(&["auth", "enable", "--description", "people", "userpass"]);
    s.cmd()
        .args(["auth", "list"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nuserpass/ +userpass +userpass_\w+ +people\n").unwrap());
    assert_eq!(s.json(&["auth", "list"])["data"]["userpass/"]["type"], "userpass");

    let log = s.home.path().join("audit.log");
    s.cmd()
        .args(["audit", "enable", "file"])
        .arg(format!("file_path={}", log.display()))
        .assert()
        .success()
        .stdout("Success! Enabled the file audit device at: file/\n");
    s.cmd()
        .args(["audit", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("file/").and(predicate::str::contains("file_path")));
    s.ok(&["kv", "put", "secret/x", "a=@/dev/null"]);
    // The device's log verifies offline with the existing `audit verify`.
    let pem = s.ok(&["read", "--field", "public_key_pem", "sys/audit/file/public-key"]);
    let key = s.home.path().join("audit.pub");
    std::fs::write(&key, pem).unwrap();
    crate::harness::coffer(s.home.path())
        .args(["audit", "verify", "--allow-open-tail", "--public-key"])
        .arg(&key)
        .arg(&log)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("OK"));
}

#[test]
fn generic_read_write_list_delete() {
    let s = DevServer::start();
    s.cmd()
        .args(["write", "secret/data/g"])
        .write_stdin(r#"{"data": {"k": "v"}}"#)
        .arg("-")
        .assert()
        .success()
        .stdout(predicate::str::contains("version"));
    let v = s.json(&["read", "secret/data/g"]);
    assert_eq!(v["data"]["data"], json!({"k": "v"}));
    s.cmd().args(["read", "--field", "max_versions", "secret/metadata/g"]).assert().success().stdout("0");
    s.cmd().args(["list", "secret/metadata"]).assert().success().stdout("Keys\n----\ng\n");
    s.cmd().args(["delete", "secret/metadata/g"]).assert().success();
    s.cmd().args(["read", "secret/data/g"]).assert().code(1).stderr("Error: no value found at secret/data/g\n");
    s.cmd().args(["write", "secret/data/g"]).assert().code(2).stderr(predicate::str::contains("--force"));
    s.cmd().args(["read", "sys/mounts"]).assert().success().stdout(predicate::str::contains("secret/"));
}

#[test]
fn userpass_login_without_a_terminal_names_password_stdin() {
    let s = DevServer::start();
    // setsid: no controlling terminal, so the hidden prompt cannot open /dev/tty.
    let mut c = assert_cmd::Command::new("setsid");
    c.args(["-w", crate::harness::BIN, "login", "--method", "userpass", "--username", "alice"])
        .env("HOME", s.home.path())
        .env("COFFER_ADDR", &s.addr)
        .env_remove("COFFER_TOKEN")
        .env_remove("VAULT_TOKEN")
        .timeout(std::time::Duration::from_secs(60))
        .write_stdin("hunter2\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--password-stdin"))
        .stderr(predicate::str::contains("hunter2").not());
}

#[test]
fn userpass_tokens_have_no_explicit_max_ttl_and_lookup_prints_durations() {
    let s = DevServer::start();
    s.ok(&["auth", "enable", "userpass"]);
    s.ok(&["write", "auth/userpass/users/alice", "password=correct horse"]);
    s.ok(&["write", "auth/userpass/users/bob", "password=battery staple", "token_max_ttl=2h"]);
    let login = |user: &str, pw: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(&s.ok_stdin(
            &["login", "--method", "userpass", "--username", user, "--password-stdin", "--format", "json"],
            &format!("{pw}\n"),
        ))
        .unwrap();
        v["auth"]["client_token"].as_str().unwrap().to_string()
    };
    // As Vault: a plain login token has no explicit max TTL (the system default caps its renewals).
    let alice = login("alice", "correct horse");
    let v: serde_json::Value =
        serde_json::from_str(&s.ok_stdin(&["token", "lookup", "-", "--format", "json"], &alice)).unwrap();
    assert_eq!(v["data"]["explicit_max_ttl"], 0, "{v}");
    assert_eq!(v["data"]["creation_ttl"], 2_764_800, "{v}");
    // A user's own max TTL is not shown as an explicit max TTL either (as Vault), yet it still
    // caps every renewal (D110).
    let bob = login("bob", "battery staple");
    let v: serde_json::Value =
        serde_json::from_str(&s.ok_stdin(&["token", "lookup", "-", "--format", "json"], &bob)).unwrap();
    assert_eq!(v["data"]["explicit_max_ttl"], 0, "{v}");
    let renewed = s.cmd_as(&bob).args(["token", "renew", "--increment", "10h", "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&renewed.stdout).unwrap();
    let ttl = v["auth"]["lease_duration"].as_i64().unwrap();
    assert!(ttl > 7000 && ttl <= 7200, "a renewal went past the user's 2h token_max_ttl: {v}");
    assert!(v["warnings"].to_string().contains("effective max_ttl"), "{v}");
    // The table prints durations as `coffer login` does, never raw seconds.
    let table = s.cmd_as(&alice).args(["token", "lookup"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let row = |k: &str| table.lines().find(|l| l.starts_with(&format!("{k} "))).unwrap_or_default().to_string();
    assert!(row("creation_ttl").ends_with(" 768h0m0s"), "{table}");
    assert!(row("explicit_max_ttl").ends_with(" 0s"), "{table}");
    assert!(row("ttl").contains("h") && !row("ttl").contains("276"), "{table}");
    assert!(!table.contains("2764800"), "{table}");
}

#[test]
fn policy_explain_prints_why_as_a_short_table() {
    let s = DevServer::start();
    s.ok_stdin(&["policy", "write", "reader", "-"], "path \"secret/data/*\" { capabilities = [\"read\", \"list\"] }");
    s.ok_stdin(&["policy", "write", "deny-app", "-"], "path \"secret/data/app/*\" { capabilities = [\"deny\"] }");
    let t = s.token_with("reader,deny-app");
    let accessor = s.json(&["token", "lookup", &t])["data"]["accessor"].as_str().unwrap().to_string();

    // One's own token: the decision, the deny rule that made it, and each policy on its own.
    let out = s.cmd_as(&t).args(["policy", "explain", "secret/data/app/x"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "allowed         false\n",
        "reason          deny_wins\n",
        "capabilities    [deny]\n",
        "decided_by      secret/data/app/* [deny] (policy deny-app)\n",
        "Policy      Rule                 Capabilities    Alone allows\n",
        "reader      secret/data/*        [list read]     true\n",
        "deny-app    secret/data/app/*    [deny]          false\n",
        "default     n/a                  n/a             false\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    // --token is the token the command runs with, so it explains that token itself.
    let v =
        s.cmd_anon().args(["policy", "explain", "secret/data/x", "--token", &t, "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(
        (v["data"]["allowed"].clone(), v["data"]["reason"].clone()),
        (json!(true), json!("most_specific_pattern"))
    );

    // Another token, by accessor, by value on stdin, or a policy list: root may.
    let by_accessor = s.json(&["policy", "explain", "secret/data/app/x", "--accessor", &accessor]);
    assert_eq!(by_accessor["data"]["decided_by"]["policies"], json!(["deny-app"]));
    let out = s
        .cmd()
        .args(["policy", "explain", "secret/data/x", "--operation", "delete", "-", "--format", "json"])
        .write_stdin(format!("{t}\n"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["data"]["allowed"].clone(), v["data"]["operation"].clone()), (json!(false), json!("delete")));
    let v = s.json(&["policy", "explain", "secret/data/x", "--policies", "reader"]);
    assert_eq!(v["data"]["policies"][0]["name"], "reader");
    // The token itself cannot explain anyone else's, and bad input is a clear error.
    s.cmd_as(&t)
        .args(["policy", "explain", "secret/data/x", "--accessor", &accessor])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(403)"));
    s.cmd_as(&t)
        .args(["policy", "explain", "secret//x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(400)").and(predicate::str::contains("empty segment")));
    s.cmd_as(&t)
        .args(["policy", "explain", "secret/data/x", "--operation", "write"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid operation"));
}
