//! TLS to PostgreSQL: a private cluster that accepts only TLS connections, with a certificate
//! from a test CA. `sslmode=verify-full` with the CA connects (and every session is encrypted);
//! without TLS, or without trusting the CA, Coffer refuses to start.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::harness::TestServer;
use crate::pg_faults::OwnCluster;

/// A CA, a server certificate for `localhost`/`127.0.0.1` signed by it, and a cluster that
/// requires TLS from every TCP client. Returns the cluster and the CA's PEM file.
fn tls_cluster(dir: &Path) -> (OwnCluster, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "coffer test ca");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    let cluster = OwnCluster::start_configured(move |data| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(data.join("server.crt"), cert_pem).unwrap();
        std::fs::write(data.join("server.key"), key_pem).unwrap();
        std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        // TCP clients must use TLS; the socket (used by pg_ctl) stays open.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .unwrap();
        for f in ["server.crt", "server.key", "pg_hba.conf"] {
            std::process::Command::new("chown").arg("postgres").arg(data.join(f)).status().unwrap();
        }
        "-c ssl=on".to_string()
    });
    (cluster, ca_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_talks_to_postgres_over_verified_tls_and_refuses_plain_or_unverified_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, ca) = tls_cluster(dir.path());
    let base = format!("postgres://postgres@localhost:{}/postgres", pg.port);
    let verified = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());

    // Plain TCP is refused by the server; a CA Coffer does not trust is refused by Coffer.
    let plain = coffer::store::open(&format!("{base}?sslmode=disable")).await.err().expect("plain connection");
    assert!(plain.to_string().contains("no encryption") || plain.to_string().contains("pg_hba"), "{plain}");
    let untrusted = coffer::store::open(&format!("{base}?sslmode=verify-full")).await.err().expect("unknown CA");
    assert!(untrusted.to_string().to_lowercase().contains("certificate"), "{untrusted}");

    // Verified TLS: a node starts, stores and reads a secret.
    let mut s = TestServer::at_url(&verified, coffer::server::DEFAULT_LEASE_TTL).await;
    let (shares, _root) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/app", json!({"v": 1})).await;
    assert_eq!(s.read("secret/data/app").await["v"], 1);

    // Every client session in the database is encrypted.
    let mut admin = sqlx::PgConnection::connect(&verified).await.unwrap();
    let (sessions, encrypted): (i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where s.ssl) from pg_stat_activity a join pg_stat_ssl s using (pid) \
         where a.backend_type = 'client backend' and a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(sessions >= 1, "no Coffer session found");
    assert_eq!(sessions, encrypted, "every session must use TLS");
    admin.close().await.unwrap();
    s.stop().await;
    drop(pg);
}
