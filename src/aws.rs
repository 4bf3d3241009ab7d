//! The AWS Secrets Manager API (JSON 1.1 over `POST /`, SigV4-signed) on top of the KV v2 engine,
//! and STS `GetCallerIdentity`.
