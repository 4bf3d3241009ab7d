//! The HTTPS listener: a self-signed certificate from rcgen, a real TLS handshake with reqwest,
//! plain HTTP refused on the TLS port, and private-key file permissions checked at load.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer::core::seal::SealKind;
use coffer::server::http::Listener;
use coffer::server::{self, Running};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_rustls::TlsAcceptor;

use crate::harness::limits;

pub(crate) struct Pki {
    pub(crate) cert_pem: String,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// Writes a self-signed certificate for `localhost` and its key (mode `key_mode`) into `dir`.
pub(crate) fn self_signed(dir: &Path, key_mode: u32) -> Pki {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = ck.cert.pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&key).unwrap();
    f.write_all(ck.key_pair.serialize_pem().as_bytes()).unwrap();
    drop(f);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode)).unwrap();
    Pki { cert_pem, cert, key }
}

pub(crate) async fn start_tls(pki: &Pki, store_dir: &Path) -> Running {
    let cfg = coffer::server::tls::server_config(&pki.cert, &pki.key).unwrap();
    let url = format!("sqlite://{}", store_dir.join("coffer.db").display());
    let store = coffer::store::open(&url).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    server::start(store, SealKind::Shamir, Listener::Tls(tcp, TlsAcceptor::from(cfg)), limits()).await.unwrap()
}

#[tokio::test]
async fn https_health_on_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = self_signed(dir.path(), 0o600);
    let running = start_tls(&pki, dir.path()).await;
    let addr = running.addr;

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = client.get(format!("https://localhost:{}/v1/sys/health", addr.port())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED, "uninitialised");
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["initialized"], false);
    assert_eq!(v["sealed"], true);
    // The same connection setup serves a second request (keep-alive over TLS).
    let resp = client.get(format!("https://localhost:{}/v1/sys/seal-status", addr.port())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // A client that does not trust the certificate fails the handshake.
    let untrusting =
        reqwest::Client::builder().resolve("localhost", addr).timeout(Duration::from_secs(10)).build().unwrap();
    let err = untrusting.get(format!("https://localhost:{}/v1/sys/health", addr.port())).send().await;
    assert!(err.is_err(), "an untrusted self-signed certificate was accepted");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let r = plain.get(format!("http://127.0.0.1:{}/v1/sys/health", addr.port())).send().await;
    assert!(r.is_err(), "plain HTTP was answered on the TLS port: {:?}", r.map(|r| r.status()));

    // The server still serves TLS after those failures.
    let resp = client.get(format!("https://localhost:{}/v1/sys/health", addr.port())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
    running.stop().await;
}

#[tokio::test]
async fn group_readable_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o644, 0o640, 0o604] {
        let pki = self_signed(dir.path(), mode);
        let err = match coffer::server::tls::server_config(&pki.cert, &pki.key) {
            Ok(_) => panic!("a key file with mode {mode:o} was accepted"),
            Err(e) => e,
        };
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("PRIVATE KEY"), "the error must not carry the key: {err}");
    }
    let pki = self_signed(dir.path(), 0o600);
    assert!(coffer::server::tls::server_config(&pki.cert, &pki.key).is_ok());
    let pki = self_signed(dir.path(), 0o400);
    assert!(coffer::server::tls::server_config(&pki.cert, &pki.key).is_ok());
}

#[tokio::test]
async fn mismatched_or_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let pa = self_signed(&a, 0o600);
    let pb = self_signed(&b, 0o600);
    assert!(coffer::server::tls::server_config(&pa.cert, &pb.key).is_err(), "a key from another certificate");
    assert!(coffer::server::tls::server_config(&dir.path().join("none.pem"), &pa.key).is_err());
    assert!(coffer::server::tls::server_config(&pa.cert, &dir.path().join("none.pem")).is_err());
    // A key file given as the certificate has no certificate in it.
    assert!(coffer::server::tls::server_config(&pa.key, &pa.key).is_err());
}

/// A client that trusts only `pki`'s certificate, reaching the server at `addr` as `localhost`.
fn trusting(pki: &Pki, addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn health_ok(client: &reqwest::Client, addr: std::net::SocketAddr) -> bool {
    client.get(format!("https://localhost:{}/v1/sys/health", addr.port())).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt19_sighup_reloads_the_certificate_and_a_bad_file_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("tls");
    std::fs::create_dir(&certs).unwrap();
    let old = self_signed(&certs, 0o600);
    let cfg = crate::restart::write_config(dir.path());
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "tls_disable = true",
        &format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"", old.cert.display(), old.key.display()),
    );
    std::fs::write(&cfg, text).unwrap();
    let proc = crate::restart::spawn(&cfg);
    let addr: std::net::SocketAddr = proc.base.strip_prefix("https://").expect("an https listener").parse().unwrap();
    let pid = proc.child.id().to_string();

    let old_client = trusting(&old, addr);
    assert!(health_ok(&old_client, addr).await, "the first certificate is served");

    // New files in place (a renewed certificate, another key), then SIGHUP.
    let renewed_dir = dir.path().join("renewed");
    std::fs::create_dir(&renewed_dir).unwrap();
    let new = self_signed(&renewed_dir, 0o600);
    assert!(!health_ok(&trusting(&new, addr), addr).await, "the renewed certificate before the reload");
    std::fs::copy(&new.cert, &old.cert).unwrap();
    std::fs::copy(&new.key, &old.key).unwrap();
    let hup = || std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup().success());
    crate::harness::until("the renewed certificate on a new connection", Duration::from_secs(10), || async {
        health_ok(&trusting(&new, addr), addr).await
    })
    .await;
    assert!(!health_ok(&trusting(&old, addr), addr).await, "a new connection still got the old certificate");
    // The connection opened before the reload keeps its certificate and keeps serving.
    assert!(health_ok(&old_client, addr).await, "the open connection was dropped by the reload");

    // A broken file is refused with a log line; the renewed certificate stays in use.
    std::fs::write(&old.cert, "not a certificate").unwrap();
    assert!(hup().success());
    crate::harness::until("the refusal in the log", Duration::from_secs(10), || async {
        proc.log.lock().unwrap().contains("the TLS certificate did not load")
    })
    .await;
    assert!(health_ok(&trusting(&new, addr), addr).await, "a bad file replaced the certificate in use");
    // A key readable by others is refused the same way.
    std::fs::copy(&new.cert, &old.cert).unwrap();
    std::fs::set_permissions(&old.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = proc.log.lock().unwrap().matches("did not load").count();
    assert!(hup().success());
    crate::harness::until("the second refusal in the log", Duration::from_secs(10), || async {
        proc.log.lock().unwrap().matches("did not load").count() > before
    })
    .await;
    assert!(health_ok(&trusting(&new, addr), addr).await);
}
