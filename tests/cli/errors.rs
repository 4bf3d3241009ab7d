//! Error paths and exit codes (unreachable server, sealed server, permission denied, usage
//! errors), the operator lifecycle on a fresh server, help texts and shell completions.

use predicates::prelude::*;

use crate::harness::{closed_port, coffer, ConfigServer, DevServer};

#[test]
fn an_unreachable_server_is_exit_1_with_a_clear_message() {
    let home = tempfile::tempdir().unwrap();
    let addr = format!("http://127.0.0.1:{}", closed_port());
    coffer(home.path())
        .env("COFFER_ADDR", &addr)
        .env("COFFER_TOKEN", "root")
        .args(["kv", "get", "secret/app"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!("Error: cannot reach {addr}: connection refused\n"));
    // VAULT_ADDR is used when COFFER_ADDR is unset; --address wins over both.
    coffer(home.path())
        .env("VAULT_ADDR", &addr)
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(addr.as_str()));
    let other = format!("http://127.0.0.1:{}", closed_port());
    coffer(home.path())
        .env("COFFER_ADDR", &addr)
        .args(["status", "--address", &other])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(other.as_str()));
    // The default address.
    coffer(home.path()).args(["status"]).assert().code(1).stderr(predicate::str::contains("https://127.0.0.1:8200"));
    // A malformed address is a usage error.
    coffer(home.path())
        .args(["status", "--address", "not a url"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid server address"));
}

#[test]
fn tls_flags() {
    let s = DevServer::start();
    let https = s.addr.replace("http://", "https://");
    // Skipping verification is announced on stderr, whatever happens next.
    s.cmd()
        .args(["status", "--address", &https, "--tls-skip-verify"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Warning: TLS verification is disabled"))
        .stderr(predicate::str::contains("does the server speak plain HTTP? then use http://"));
    let missing = s.home.path().join("missing-ca.pem");
    s.cmd()
        .args(["status", "--ca-cert"])
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read the CA certificate"));
    s.cmd().args(["status", "--client-cert", "/dev/null"]).assert().code(2);
}

#[test]
fn tls_connection_errors_give_hints() {
    let s = ConfigServer::start_tls();
    // Plain HTTP to the TLS port.
    let http = s.addr.replace("https://", "http://");
    s.cmd()
        .args(["status", "--address", &http])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the server speaks TLS: use https://"));
    // A certificate from a CA the client does not trust names the three ways to trust it.
    s.cmd()
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--ca-cert FILE, COFFER_CACERT or VAULT_CACERT"));
    // With the CA given, the server answers (uninitialised, so sealed: exit 2).
    s.cmd().args(["status", "--ca-cert"]).arg(s.dir.path().join("cert.pem")).assert().code(2);
    s.cmd().env("VAULT_CACERT", s.dir.path().join("cert.pem")).args(["status"]).assert().code(2);
}

#[test]
fn a_sealed_server_is_reported_and_can_be_unsealed() {
    let s = DevServer::start();
    s.ok(&["kv", "put", "secret/app", "a=@/dev/null"]);
    s.cmd().args(["operator", "seal"]).assert().success().stdout("Success! Coffer is sealed.\n");
    s.cmd()
        .args(["kv", "get", "secret/app"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("Error: Vault is sealed (503) on "));
    s.cmd().args(["status"]).assert().code(2).stdout(predicate::str::is_match(r"\nSealed +true\n").unwrap());
    let v: serde_json::Value =
        serde_json::from_slice(&s.cmd().args(["status", "--format", "json"]).output().unwrap().stdout).unwrap();
    assert_eq!(v["sealed"], true);
    s.cmd()
        .args(["operator", "unseal"])
        .write_stdin(format!("{}\n", s.unseal_key))
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nSealed +false\n").unwrap());
    s.cmd().args(["status"]).assert().success();
    s.ok(&["kv", "get", "secret/app"]);
}

#[test]
fn operator_init_unseal_rotate_on_a_fresh_server() {
    let srv = ConfigServer::start();
    srv.cmd().args(["status"]).assert().code(2).stdout(predicate::str::is_match(r"\nInitialized +false\n").unwrap());
    let out = srv
        .cmd()
        .args(["operator", "init", "--key-shares", "3", "--key-threshold", "2", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<String> =
        v["keys_base64"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let root = v["root_token"].as_str().unwrap().to_string();
    assert_eq!(keys.len(), 3);
    // Sealed: requests fail with 503 and a clear message.
    srv.cmd()
        .env("COFFER_TOKEN", &root)
        .args(["token", "lookup"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("sealed (503)"));
    // One share: still sealed, progress shown; a second one unseals.
    srv.cmd()
        .args(["operator", "unseal", "-"])
        .write_stdin(format!("{}\n", keys[0]))
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nUnseal Progress +1/2\n").unwrap());
    srv.cmd()
        .args(["operator", "unseal", "--reset"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nUnseal Progress +0/2\n").unwrap());
    srv.cmd()
        .args(["operator", "unseal"])
        .write_stdin(format!("{}\n{}\n", keys[1], keys[2]))
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\nSealed +false\n").unwrap());
    srv.cmd().args(["status"]).assert().success();
    let with_root = |args: &[&str]| {
        let mut c = srv.cmd();
        c.env("COFFER_TOKEN", &root).args(args);
        c
    };
    with_root(&["operator", "key-status"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"Key Term +1\n").unwrap());
    with_root(&["operator", "rotate"]).assert().success().stdout(predicate::str::is_match(r"Key Term +2\n").unwrap());
    // Mount KV v2 with a JSON body from stdin, then use it.
    with_root(&["write", "sys/mounts/secret", "-"])
        .write_stdin(r#"{"type":"kv","options":{"version":"2"}}"#)
        .assert()
        .success();
    with_root(&["kv", "put", "secret/x", "k=@/dev/null"]).assert().success();
    with_root(&["operator", "init"]).assert().code(1).stderr(predicate::str::contains("(400) on sys/init"));
    // Init in table format prints the shares and the root token once.
    let fresh = ConfigServer::start();
    fresh
        .cmd()
        .args(["operator", "init", "--key-shares", "1", "--key-threshold", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Unseal Key 1: ").and(predicate::str::contains("Initial Root Token: s.")));
}

#[test]
fn permission_denied_names_the_path() {
    let s = DevServer::start();
    s.ok_stdin(&["policy", "write", "ro", "-"], "path \"secret/data/app\" { capabilities = [\"read\"] }");
    s.ok(&["kv", "put", "secret/app", "a=@/dev/null"]);
    let t = s.token_with("ro");
    s.cmd_as(&t).args(["kv", "get", "secret/app"]).assert().success();
    s.cmd_as(&t)
        .args(["kv", "put", "secret/app", "a=@/dev/null"])
        .assert()
        .code(1)
        .stderr("Error: permission denied (403) on secret/data/app\n");
    s.cmd_as(&t)
        .args(["kv", "get", "secret/other"])
        .assert()
        .code(1)
        .stderr("Error: permission denied (403) on secret/data/other\n");
    s.cmd_as(&t)
        .args(["policy", "list"])
        .assert()
        .code(1)
        .stderr("Error: permission denied (403) on sys/policies/acl/\n");
    // Without any token, the message says how to get one.
    s.cmd_anon().args(["read", "sys/mounts"]).assert().code(1).stderr(predicate::str::contains("coffer login"));
}

#[test]
fn usage_errors_are_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["bogus"],
        &["kv"],
        &["kv", "get"],
        &["kv", "put", "secret/app"],
        &["kv", "put", "secret/app", "novalue"],
        &["kv", "put", "secret/app", "=v"],
        &["kv", "undelete", "secret/app"],
        &["kv", "get", "--version", "x", "secret/app"],
        &["kv", "get", "--format", "xml", "secret/app"],
        &["run", "--secret", "secret/app"],
        &["run", "--", "true"],
        &["run", "--secret", "secret/app", "--watch-signal", "HUP", "--", "true"],
        &["run", "--secret", "secret/app", "--watch", "--watch-signal", "SIGFOO", "--", "true"],
        &["run", "--secret", "secret/app", "--fallback-max-age", "1m", "--", "true"],
        &["run", "--env", "X=secret/app", "--", "true"],
        &["run", "--template", "only-in", "--", "true"],
        &["token", "revoke"],
        &["policy", "write", "x"],
        &["login", "--method", "userpass"],
        &["completions", "tcsh"],
        &["audit", "verify"],
        &["operator", "migrate", "--from", "x"],
    ];
    for args in cases {
        let out = coffer(home.path())
            .env("COFFER_ADDR", "http://127.0.0.1:1")
            .env("COFFER_TOKEN", "t")
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "coffer {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty(), "coffer {args:?} printed no error");
    }
    // A bad KEY=VALUE argument is not echoed (it may be a secret typed without its key).
    coffer(home.path()).args(["kv", "put", "secret/app", "hunter2"]).assert().code(2).stderr(
        predicate::str::contains("argument 1 is not a key=value pair").and(predicate::str::contains("hunter2").not()),
    );
}

#[test]
fn every_command_has_help_with_examples() {
    let home = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &["login"],
        &["status"],
        &["kv", "get"],
        &["kv", "put"],
        &["kv", "patch"],
        &["kv", "delete"],
        &["kv", "undelete"],
        &["kv", "destroy"],
        &["kv", "list"],
        &["kv", "metadata", "get"],
        &["kv", "metadata", "put"],
        &["kv", "metadata", "delete"],
        &["kv", "rotate"],
        &["kv", "rotation"],
        &["run"],
        &["read"],
        &["write"],
        &["list"],
        &["delete"],
        &["token", "create"],
        &["token", "lookup"],
        &["token", "renew"],
        &["token", "revoke"],
        &["policy", "write"],
        &["policy", "read"],
        &["policy", "list"],
        &["policy", "delete"],
        &["policy", "fmt"],
        &["policy", "explain"],
        &["secrets", "enable"],
        &["secrets", "list"],
        &["secrets", "disable"],
        &["secrets", "tune"],
        &["auth", "enable"],
        &["auth", "list"],
        &["audit", "enable"],
        &["audit", "list"],
        &["audit", "verify"],
        &["operator", "init"],
        &["operator", "unseal"],
        &["operator", "seal"],
        &["operator", "rotate"],
        &["operator", "key-status"],
        &["operator", "migrate"],
        &["server"],
        &["agent"],
        &["completions"],
    ];
    for args in commands {
        let out = coffer(home.path()).args(*args).arg("--help").output().unwrap();
        assert!(out.status.success(), "coffer {args:?} --help");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Example"), "coffer {args:?} --help shows no example:\n{text}");
        assert!(text.contains(&format!("coffer {}", args.join(" "))), "coffer {args:?} --help: {text}");
        // Each example on a line of its own, not run together into one paragraph.
        let run_together = text.lines().any(|l| l.trim_start().starts_with("Examples:") && l.trim() != "Examples:");
        assert!(!run_together, "coffer {args:?} --help runs its examples together:\n{text}");
    }
    coffer(home.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes: 0 success, 1 error"));
}

#[test]
fn shell_completions() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = coffer(home.path()).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("coffer") && text.contains("rotation") && text.contains("watch-signal"), "{shell}");
    }
    // A reader that goes away early is not an error.
    let status = std::process::Command::new("sh")
        .args(["-c", "\"$0\" completions bash | head -c 10 > /dev/null"])
        .arg(crate::harness::BIN)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn version_server_and_offline_commands_still_work() {
    let home = tempfile::tempdir().unwrap();
    coffer(home.path()).arg("version").assert().success().stdout(predicate::str::starts_with("Coffer v"));
    // `policy fmt` works without a server.
    let f = home.path().join("p.hcl");
    std::fs::write(
        &f,
        "path \"secret/data/*\" {\ncapabilities=[\"list\",\"read\"]\n}\npath \"sys/*\" { policy = \"deny\" }\n",
    )
    .unwrap();
    coffer(home.path()).args(["policy", "fmt", "--check"]).arg(&f).assert().code(1);
    coffer(home.path()).args(["policy", "fmt"]).arg(&f).assert().success();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "path \"secret/data/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n\npath \"sys/*\" {\n  capabilities = [\"deny\"]\n}\n"
    );
    coffer(home.path()).args(["policy", "fmt", "--check"]).arg(&f).assert().success();
    coffer(home.path())
        .args(["policy", "fmt", "-"])
        .write_stdin("# note\npath \"a\" { capabilities = [\"read\"] }")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--strip-comments"));
    coffer(home.path())
        .args(["policy", "fmt", "--strip-comments", "-"])
        .write_stdin("# note\npath \"a\" { capabilities = [\"read\"] }")
        .assert()
        .success()
        .stdout("path \"a\" {\n  capabilities = [\"read\"]\n}\n");
    coffer(home.path())
        .args(["policy", "fmt", "-"])
        .write_stdin("path \"a\" { capabilities = [\"reed\"] }")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid capability \"reed\""));
}

/// A server on 127.0.0.1:0 that answers every request with `307` to the same path on `target`.
fn redirector(target: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let target = target.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = write!(
                s,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr
}

#[test]
fn redirects_are_not_followed_with_the_token() {
    let stub = crate::harness::Stub::start();
    let addr = redirector(&stub.addr);
    let home = tempfile::tempdir().unwrap();
    for args in [&["kv", "get", "secret/app"][..], &["token", "lookup"][..]] {
        coffer(home.path())
            .env("COFFER_ADDR", &addr)
            .env("COFFER_TOKEN", "s.must-not-travel")
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("redirect"));
    }
    let seen = stub.requests.lock().unwrap().clone();
    assert!(seen.is_empty(), "the redirect was followed: {seen:?}");
}
