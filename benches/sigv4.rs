//! Criterion benchmark of the SigV4 check of one `GetSecretValue` request: parsing the
//! `Authorization` header and recomputing the signature (what the AWS API adds to a read).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use coffer::crypto::sigv4::{authorization_header, parse_authorization, verify, Signed};
use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;

fn sigv4(c: &mut Criterion) {
    let (id, secret) = ("AKIABENCHMARK0000000", "bench-secret-access-key-0123456789abcdef");
    let now = chrono::Utc::now();
    let body = br#"{"SecretId":"bench"}"#.to_vec();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:8200".parse().unwrap());
    headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    headers.insert("x-amz-target", "secretsmanager.GetSecretValue".parse().unwrap());
    headers.insert("x-amz-date", now.format("%Y%m%dT%H%M%SZ").to_string().parse().unwrap());
    let (method, uri) = (http::Method::POST, "/".parse::<http::Uri>().unwrap());
    let req = Signed { method: &method, uri: &uri, headers: &headers, body: &body };
    let auth = authorization_header(
        id,
        secret,
        "us-east-1",
        "secretsmanager",
        &req,
        &["content-type", "host", "x-amz-date", "x-amz-target"],
    )
    .unwrap();
    headers.insert("authorization", auth.parse().unwrap());
    let secret = SecretString::from(secret.to_string());
    let req = Signed { method: &method, uri: &uri, headers: &headers, body: &body };
    c.bench_function("sigv4_parse_and_verify", |b| {
        b.iter(|| {
            let a = parse_authorization(req.headers, req.uri).unwrap();
            verify(&a, &req, &secret, "secretsmanager", now).unwrap();
        })
    });
}

criterion_group!(benches, sigv4);
criterion_main!(benches);
