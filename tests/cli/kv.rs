//! `coffer kv …` against a real dev server, and `kv rotate`/`kv rotation` against a stub that
//! records the requests they send.

use predicates::prelude::*;
use serde_json::json;

use crate::harness::{DevServer, Stub};

#[test]
fn put_get_patch_list_and_formats() {
    let s = DevServer::start();
    let file = s.home.path().join("pass.txt");
    std::fs::write(&file, "p@ss\nword").unwrap();
    // Values from a file and from stdin: no warning.
    s.cmd()
        .args(["kv", "put", "secret/app"])
        .arg(format!("db_pass=@{}", file.display()))
        .arg("api_key=-")
        .write_stdin("from-stdin")
        .assert()
        .success()
        .stdout(predicate::str::contains("secret/data/app").and(predicate::str::contains("version")))
        .stderr(predicate::str::is_empty());
    // The raw value, byte for byte (no newline: stdout is not a terminal).
    s.cmd().args(["kv", "get", "--field", "db_pass", "secret/app"]).assert().success().stdout("p@ss\nword");
    s.cmd().args(["kv", "get", "--field", "api_key", "secret/app"]).assert().success().stdout("from-stdin");
    // An inline value works and gets a warning that names the key, not the value.
    s.cmd()
        .args(["kv", "put", "secret/app", "region=zz-eu-9", "tier=@/dev/null"])
        .assert()
        .success()
        .stderr(predicate::str::contains("Warning: the value of region was given on the command line"))
        .stderr(predicate::str::contains("zz-eu-9").not());
    // Table output holds the data and the metadata.
    s.cmd()
        .args(["kv", "get", "secret/app"])
        .assert()
        .success()
        .stdout(predicate::str::contains("== Data ==").and(predicate::str::is_match(r"\nregion +zz-eu-9\n").unwrap()))
        .stdout(predicate::str::is_match(r"\nversion +2\n").unwrap());
    // JSON is the whole answer; --version reads an older one.
    let v = s.json(&["kv", "get", "--version", "1", "secret/app"]);
    assert_eq!(v["data"]["data"], json!({"db_pass": "p@ss\nword", "api_key": "from-stdin"}));
    assert_eq!(v["data"]["metadata"]["version"], 1);
    let y = s.ok(&["kv", "get", "--format", "yaml", "secret/app"]);
    assert!(y.contains("region: zz-eu-9"), "{y}");
    // Patch keeps other fields; check-and-set refuses a stale version.
    s.ok(&["kv", "patch", "secret/app", "tier=gold"]);
    let v = s.json(&["kv", "get", "secret/app"]);
    assert_eq!(v["data"]["data"], json!({"region": "zz-eu-9", "tier": "gold"}));
    assert_eq!(v["data"]["metadata"]["version"], 3);
    s.cmd()
        .args(["kv", "put", "--cas", "1", "secret/app", "x=@/dev/null"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(400) on secret/data/app"));
    // A JSON object from stdin.
    s.ok_stdin(&["kv", "put", "secret/app/nested", "-"], r#"{"n": 1, "s": "t"}"#);
    assert_eq!(s.json(&["kv", "get", "secret/app/nested"])["data"]["data"], json!({"n": 1, "s": "t"}));
    s.cmd().args(["kv", "get", "--field", "n", "secret/app/nested"]).assert().success().stdout("1");
    // List.
    let out = s.ok(&["kv", "list", "secret/"]);
    assert_eq!(out, "Keys\n----\napp\napp/\n");
    assert_eq!(s.json(&["kv", "list", "secret/app"]), json!(["nested"]));
    s.cmd().args(["kv", "list", "secret/none"]).assert().code(1).stderr("Error: no secrets under secret/none\n");
    // A missing field and a missing secret are errors that say so.
    s.cmd()
        .args(["kv", "get", "--field", "nope", "secret/app"])
        .assert()
        .code(1)
        .stderr("Error: secret/app has no field \"nope\"\n");
    s.cmd()
        .args(["kv", "get", "secret/missing"])
        .assert()
        .code(1)
        .stderr("Error: no secret at secret/missing (404 on secret/data/missing)\n");
}

#[test]
fn delete_undelete_destroy_and_metadata() {
    let s = DevServer::start();
    s.ok(&["kv", "put", "secret/d", "a=@/dev/null"]);
    s.ok(&["kv", "put", "secret/d", "a=-"]);
    s.cmd().args(["kv", "delete", "secret/d"]).assert().success().stdout(predicate::str::contains("secret/data/d"));
    s.cmd()
        .args(["kv", "get", "secret/d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("version 2 of secret/d was deleted at"))
        .stderr(predicate::str::contains("coffer kv undelete --versions 2 secret/d"));
    s.ok(&["kv", "undelete", "--versions", "2", "secret/d"]);
    s.ok(&["kv", "get", "secret/d"]);
    s.ok(&["kv", "delete", "--versions", "1", "secret/d"]);
    s.ok(&["kv", "undelete", "--versions", "1", "secret/d"]);
    s.ok(&["kv", "destroy", "--versions", "1,2", "secret/d"]);
    s.cmd()
        .args(["kv", "get", "--version", "1", "secret/d"])
        .assert()
        .code(1)
        .stderr("Error: version 1 of secret/d is destroyed\n");
    // Metadata.
    s.ok(&["kv", "metadata", "put", "--max-versions", "4", "--custom-metadata", "owner=team-a", "secret/d"]);
    let m = s.json(&["kv", "metadata", "get", "secret/d"]);
    assert_eq!(m["data"]["max_versions"], 4);
    assert_eq!(m["data"]["custom_metadata"], json!({"owner": "team-a"}));
    s.cmd()
        .args(["kv", "metadata", "get", "secret/d"])
        .assert()
        .success()
        .stdout(predicate::str::contains("max_versions").and(predicate::str::contains("== Version 2 ==")));
    s.cmd()
        .args(["kv", "metadata", "put", "secret/d"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to change"));
    s.ok(&["kv", "metadata", "delete", "secret/d"]);
    s.cmd()
        .args(["kv", "metadata", "get", "secret/d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no secret at secret/d"));
    // A mount is not a secret.
    s.cmd().args(["kv", "get", "secret/"]).assert().code(2).stderr(predicate::str::contains("is a mount"));
    // A path outside any mount: root is told that no mount exists there, not to check policies.
    s.cmd()
        .args(["kv", "get", "nomount/x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no secrets engine is mounted at \"nomount/x\" or a prefix of it"))
        .stderr(predicate::str::contains("policies").not());
    // A token with nothing under an existing mount still hears about its policies.
    let none = s.token_with("default");
    s.cmd_as(&none)
        .args(["kv", "get", "secret/x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("preflight capability check"));
}

#[test]
fn rotation_commands_send_the_documented_requests() {
    let stub = Stub::start();
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut c = crate::harness::coffer(home.path());
        c.env("COFFER_ADDR", &stub.addr).env("COFFER_TOKEN", "s.stub").args(args);
        c
    };
    run(&["kv", "rotate", "secret/app/db"]).assert().success().stdout(predicate::str::contains("stub"));
    run(&["kv", "rotation", "secret/app/db"]).assert().success();
    run(&[
        "kv",
        "rotation",
        "secret/app/db",
        "--schedule",
        "rate(30 days)",
        "--window",
        "3h",
        "--rotator-type",
        "postgres",
        "--rotator-json",
        r#"{"db_name":"pg","username":"app","strategy":"single"}"#,
    ])
    .assert()
    .success();
    let hook = home.path().join("hook.json");
    std::fs::write(&hook, r#"{"url":"https://127.0.0.1:9/hook","hmac_key":"k"}"#).unwrap();
    run(&["kv", "rotation", "secret/app/hook", "--schedule", "720h", "--rotator-type", "webhook"])
        .arg("--rotator-json")
        .arg(format!("@{}", hook.display()))
        .assert()
        .success();
    run(&["kv", "rotation", "--delete", "secret/app/db"]).assert().success();
    let calls = stub.calls();
    let got: Vec<(String, String, serde_json::Value)> =
        calls.iter().map(|r| (r.method.clone(), r.path.clone(), r.body.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("POST".into(), "/v1/secret/rotate/app/db".into(), serde_json::Value::Null),
            ("GET".into(), "/v1/secret/rotation/app/db".into(), serde_json::Value::Null),
            (
                "POST".into(),
                "/v1/secret/rotation/app/db".into(),
                json!({"schedule": "rate(30 days)", "window": "3h",
                       "rotator": {"type": "postgres", "db_name": "pg", "username": "app", "strategy": "single"}})
            ),
            (
                "POST".into(),
                "/v1/secret/rotation/app/hook".into(),
                json!({"schedule": "720h",
                       "rotator": {"type": "webhook", "url": "https://127.0.0.1:9/hook", "hmac_key": "k"}})
            ),
            ("DELETE".into(), "/v1/secret/rotation/app/db".into(), serde_json::Value::Null),
        ]
    );
    assert!(calls.iter().all(|r| r.token.as_deref() == Some("s.stub")));
    // Argument errors are usage errors, found before any request.
    let before = stub.requests.lock().unwrap().len();
    run(&["kv", "rotation", "secret/app/db", "--window", "3h"]).assert().code(2);
    run(&["kv", "rotation", "secret/app/db", "--schedule", "720h", "--rotator-json", "{"]).assert().code(2);
    run(&["kv", "rotation", "secret/app/db", "--schedule", "720h", "--rotator-json", "[1]"]).assert().code(2);
    run(&["kv", "rotation", "secret/app/db", "--schedule", "720h", "--delete"]).assert().code(2);
    run(&["kv", "rotation", "secret/app/db", "--schedule", "720h", "--rotator-type", "ftp"]).assert().code(2);
    run(&[
        "kv",
        "rotation",
        "secret/app/db",
        "--schedule",
        "720h",
        "--rotator-type",
        "password",
        "--rotator-json",
        r#"{"type":"webhook"}"#,
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("contradicts"));
    assert_eq!(stub.requests.lock().unwrap().len(), before);
}

#[test]
fn rotation_errors_from_the_server_are_reported() {
    // Whatever the server answers (404 while rotation is not there, 400 for a bad schedule once it
    // is), the CLI reports it on stderr with exit code 1 and no panic.
    let s = DevServer::start();
    s.ok(&["kv", "put", "secret/r", "password=@/dev/null"]);
    let out = s.cmd().args(["kv", "rotation", "secret/r", "--schedule", "not a schedule"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("Error: ") && err.contains("on secret/rotation/r"), "{err}");
}

#[test]
fn search_and_move() {
    let s = DevServer::start();
    for (path, owner) in
        [("secret/app/db-main", "team-a"), ("secret/app/db-replica", "team-b"), ("secret/app/web", "team-a")]
    {
        s.ok(&["kv", "put", path, "v=@/dev/null"]);
        s.ok(&["kv", "metadata", "put", "--custom-metadata", &format!("owner={owner}"), path]);
    }
    s.ok(&["kv", "put", "secret/other", "v=@/dev/null"]);
    // Every filter, alone and together; table and JSON.
    assert_eq!(s.ok(&["kv", "search", "secret"]), "Keys\n----\napp/db-main\napp/db-replica\napp/web\nother\n");
    assert_eq!(
        s.json(&["kv", "search", "--prefix", "app/", "--name", "*db*", "secret/"]),
        json!(["app/db-main", "app/db-replica"])
    );
    assert_eq!(s.json(&["kv", "search", "--metadata", "owner=team-a", "secret"]), json!(["app/db-main", "app/web"]));
    assert_eq!(
        s.json(&["kv", "search", "--metadata", "owner=team-a", "--name", "db*", "--stage", "current", "secret"]),
        json!(["app/db-main"])
    );
    assert_eq!(s.json(&["kv", "search", "--stage", "pending", "secret"]), json!([]));
    // --limit and --after page by hand.
    assert_eq!(s.json(&["kv", "search", "--limit", "2", "secret"]), json!(["app/db-main", "app/db-replica"]));
    assert_eq!(
        s.json(&["kv", "search", "--limit", "2", "--after", "app/db-replica", "secret"]),
        json!(["app/web", "other"])
    );
    // A path inside the mount, a bad filter, and an unknown mount are errors that say so.
    s.cmd()
        .args(["kv", "search", "secret/app"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("give the mount, and the folder with --prefix app"));
    s.cmd().args(["kv", "search", "--metadata", "owner", "secret"]).assert().code(2);
    s.cmd().args(["kv", "search", "--limit", "0", "secret"]).assert().code(2);
    s.cmd()
        .args(["kv", "search", "--name", "a/b", "secret"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(400)"));

    // Move: every version follows.
    s.ok(&["kv", "put", "secret/app/web", "v=second"]);
    s.cmd()
        .args(["kv", "move", "secret/app/web", "secret/archive/web"])
        .assert()
        .success()
        .stdout("Success! Moved secret/app/web to secret/archive/web\n");
    assert_eq!(s.json(&["kv", "get", "secret/archive/web"])["data"]["data"], json!({"v": "second"}));
    assert_eq!(s.json(&["kv", "get", "--version", "1", "secret/archive/web"])["data"]["data"], json!({"v": ""}));
    assert_eq!(
        s.json(&["kv", "metadata", "get", "secret/archive/web"])["data"]["custom_metadata"],
        json!({"owner": "team-a"})
    );
    s.cmd().args(["kv", "get", "secret/app/web"]).assert().code(1).stderr(predicate::str::contains("no secret at"));
    // An existing target, a missing source, another mount, and a token without the grants.
    s.cmd()
        .args(["kv", "move", "secret/other", "secret/archive/web"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(409)").and(predicate::str::contains("already exists")));
    s.cmd().args(["kv", "move", "secret/none", "secret/x"]).assert().code(1).stderr(predicate::str::contains("(404)"));
    s.cmd()
        .args(["kv", "move", "secret/other", "kv/other"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("moves inside its mount"));
    let none = s.token_with("default");
    s.cmd_as(&none)
        .args(["kv", "move", "secret/other", "secret/mine"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(403)"));
    assert_eq!(s.json(&["kv", "get", "secret/other"])["data"]["data"], json!({"v": ""}));
}
