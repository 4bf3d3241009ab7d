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
