//! A server configured from `COFFER_*` environment variables alone (no config file): `[ha]`,
//! `[audit]`, `[[audit_device]]` and `[outbound]` settings take effect, a bad one stops the start
//! naming its key, and an unknown variable is named in a warning without its value.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::restart::{call, init, spawn_cmd};

/// `coffer server` without `--config`, with `env` on top of a plain-HTTP, key-file-sealed SQLite
/// setup in `dir`.
fn server(dir: &Path, env: &[(&str, String)]) -> Command {
    let key = dir.join("unseal.key");
    if !key.exists() {
        std::fs::write(&key, coffer::crypto::random_bytes::<32>()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("server")
        .env("COFFER_DISABLE_MLOCK", "true")
        .env("COFFER_LOG_LEVEL", "info")
        .env("COFFER_LISTENER_ADDRESS", "127.0.0.1:0")
        .env("COFFER_LISTENER_TLS_DISABLE", "true")
        .env("COFFER_STORAGE_URL", format!("sqlite://{}", dir.join("data/coffer.db").display()))
        .env("COFFER_SEAL_TYPE", "keyfile")
        .env("COFFER_SEAL_KEY_FILE", &key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_configured_only_from_the_environment_applies_ha_audit_and_outbound_settings() {
    let dir = tempfile::tempdir().unwrap();
    let audit_dir = dir.path().join("audit");
    std::fs::create_dir(&audit_dir).unwrap();
    let declared = audit_dir.join("declared.log");
    let devices = json!([{"name": "declared", "type": "file", "options": {"file_path": declared}}]);
    let p = spawn_cmd(server(
        dir.path(),
        &[
            ("COFFER_HA_NODE_NAME", "env-node-7".into()),
            ("COFFER_HA_LEASE_TTL", "6s".into()),
            ("COFFER_AUDIT_FILE_DIR", audit_dir.display().to_string()),
            ("COFFER_AUDIT_DEVICE", devices.to_string()),
            ("COFFER_OUTBOUND_ALLOWED_URLS", "https://hooks.example/a/, https://hooks.example/b/".into()),
            ("COFFER_HA_NODENAME", "v4lue-of-a-typo".into()),
        ],
    ));
    let token = init(&p.base).await;

    // [ha] node_name: the node is listed under it (its first heartbeat is recorded as it starts).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = call(&p.base, &token, "GET", "sys/ha-status", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names: Vec<_> = v["data"]["nodes"].as_array().unwrap().iter().map(|n| n["hostname"].clone()).collect();
        if names == [json!("env-node-7")] {
            break;
        }
        assert!(names.is_empty(), "{v}");
        assert!(tokio::time::Instant::now() < deadline, "ha-status never listed env-node-7");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // [[audit_device]] from COFFER_AUDIT_DEVICE: declared, and writing.
    let (s, v) = call(&p.base, &token, "GET", "sys/audit", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["data"].get("declared/").is_some(), "{v}");
    let (s, _) = call(&p.base, &token, "POST", "secret/data/app", Some(json!({"data": {"k": "v"}}))).await;
    assert_eq!(s, StatusCode::OK);
    let written = std::fs::read_to_string(&declared).unwrap();
    assert!(written.contains("secret/data/app"), "{written}");

    // [audit] file_dir: an API-enabled file device may write inside it, and only there.
    let inside = json!({"type": "file", "options": {"file_path": audit_dir.join("api.log")}});
    let (s, v) = call(&p.base, &token, "PUT", "sys/audit/api", Some(inside)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let outside = json!({"type": "file", "options": {"file_path": dir.path().join("elsewhere.log")}});
    let (s, v) = call(&p.base, &token, "PUT", "sys/audit/outside", Some(outside)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("audit.file_dir"), "{v}");

    // [outbound] allowed_urls from a comma-separated list.
    let (s, v) = call(&p.base, &token, "GET", "sys/config/outbound", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["config_allowed_urls"], json!(["https://hooks.example/a/", "https://hooks.example/b/"]));

    // The typo is named in a warning, and its value is not logged.
    let log = p.log.lock().unwrap().clone();
    assert!(log.contains("unknown environment variable COFFER_HA_NODENAME"), "{log}");
    assert!(!log.contains("v4lue-of-a-typo"), "{log}");
}

#[test]
fn a_bad_value_in_the_environment_stops_the_start_and_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = server(dir.path(), &[("COFFER_HA_LEASE_TTL", "1s".into()), ("COFFER_AUDIT_TIMEOUT", "soon".into())]);
    let mut child = cmd.spawn().unwrap();
    let mut text = String::new();
    // The problems are printed before anything listens; a "listening" line means it started.
    for line in BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok) {
        if line.contains("listening on") {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the server started: {text}");
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "{text}");
    assert!(text.contains("ha.lease_ttl"), "{text}");
    assert!(text.contains("audit.timeout"), "{text}");
}
