-- AWS GetSecretValue of secret/bench through SigV4: one request signed beforehand (BENCH_AUTH,
-- BENCH_DATE, BENCH_BODY), sent again and again within its five-minute window
wrk.method = "POST"
wrk.path = "/"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "secretsmanager.GetSecretValue"
wrk.headers["X-Amz-Date"] = os.getenv("BENCH_DATE")
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
