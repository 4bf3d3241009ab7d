//! `coffer secrets enable|list|disable|tune` against a dev server, checked through the API.

use predicates::prelude::*;

use crate::harness::DevServer;

#[test]
fn secrets_enable_list_tune_disable() {
    let s = DevServer::start();
    let out = s.ok(&["secrets", "enable", "--path", "apps", "--version", "2", "--description", "app secrets", "kv"]);
    assert_eq!(out, "Success! Enabled the kv secrets engine at: apps/\n");
    let m = s.json(&["read", "sys/mounts/apps"]);
    assert_eq!(m["data"]["type"], "kv", "{m}");
    assert_eq!(m["data"]["options"]["version"], "2", "{m}");
    assert_eq!(m["data"]["description"], "app secrets", "{m}");
    // The new mount serves `coffer kv` at once.
    s.ok(&["kv", "put", "apps/web", "k=v"]);
    // At the type's name by default; kv-v2 is kv version 2.
    s.ok(&["secrets", "enable", "kv-v2"]);
    assert_eq!(s.json(&["read", "sys/mounts/kv-v2"])["data"]["options"]["version"], "2");
    // The list shows every engine, one row each.
    let list = s.ok(&["secrets", "list"]);
    for row in ["apps/", "kv-v2/", "secret/", "sys/"] {
        assert!(list.lines().any(|l| l.starts_with(row)), "{row} missing from:\n{list}");
    }
    assert!(list.contains("app secrets"), "{list}");
    let j = s.json(&["secrets", "list"]);
    assert_eq!(j.get("data").unwrap_or(&j)["apps/"]["type"], "kv", "{j}");
    // Tune: lease TTLs and description.
    let out = s.ok(&[
        "secrets",
        "tune",
        "--default-lease-ttl",
        "1h",
        "--max-lease-ttl",
        "24h",
        "--description",
        "tuned",
        "apps/",
    ]);
    assert_eq!(out, "Success! Tuned the secrets engine at: apps/\n");
    let t = s.json(&["read", "sys/mounts/apps/tune"]);
    assert_eq!(t["data"]["default_lease_ttl"], 3600, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 86400, "{t}");
    assert_eq!(t["data"]["description"], "tuned", "{t}");
    // Nothing to tune is a usage error; the server's refusals are reported.
    s.cmd().args(["secrets", "tune", "apps"]).assert().code(2).stderr(predicate::str::contains("nothing to tune"));
    s.cmd()
        .args(["secrets", "tune", "--options", "version=1", "apps"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("changing the KV version"));
    s.cmd().args(["secrets", "enable", "nosuchtype"]).assert().code(1).stderr(predicate::str::contains("nosuchtype"));
    // Disable removes the mount and its data.
    let out = s.ok(&["secrets", "disable", "apps"]);
    assert_eq!(out, "Success! Disabled the secrets engine (if it existed) at: apps/\n");
    assert!(!s.ok(&["secrets", "list"]).contains("apps/"));
    s.cmd().args(["kv", "get", "apps/web"]).assert().code(1);
}
