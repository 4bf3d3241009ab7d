#!/usr/bin/env bash
# The AWS API's read beside the Vault API's: GetSecretValue (JSON 1.1, SigV4-signed) and
# GET /v1/secret/data/bench on the same `coffer server --dev`, the same 100-byte secret, rounds
# alternated. Reports req/s, p99 and the server's CPU per request (from /proc/PID/stat) for
# each, and the difference: what SigV4, the AWS envelope and the version-id lookup cost. wrk
# cannot compute signatures, so each round sends one request signed by botocore just before it
# (a signature stays valid for five minutes).
# Usage (from the repo root, after `cargo build --release`):
#   bench/aws.sh [--seconds 8] [--rounds 3] [--conns 32] [--coffer PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
secs=8 rounds=3 conns=32 coffer=${COFFER_BIN:-target/release/coffer}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
needs_tools
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install -q boto3
scratch
key_id=AKIABENCHAWSAPI00000 secret=bench-aws-secret-access-key-0123456789
port=$(free_port); base="http://127.0.0.1:$port"
COFFER_LOG_LEVEL=warn "$coffer" server --dev --dev-root-token-id root --dev-listen-address "127.0.0.1:$port" \
  --dev-aws-access-key-id "$key_id" --dev-aws-secret-access-key "$secret" >"$work/coffer.log" 2>&1 &
pids+=($!); cpid=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "$base/v1/sys/health" && break; sleep 0.05; done
curl -fs -o /dev/null -H "X-Vault-Token: root" -d "{\"data\":{\"value\":\"$(printf 'v%.0s' $(seq 1 100))\"}}" "$base/v1/secret/data/bench"

sign() {  # -> exports BENCH_AUTH BENCH_DATE BENCH_BODY for a GetSecretValue of `bench`
  eval "$(python3 - "$base" "$key_id" "$secret" <<'PY'
import shlex, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
base, key, secret = sys.argv[1:4]
body = '{"SecretId": "bench"}'
req = AWSRequest(method="POST", url=base + "/", data=body, headers={
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"})
SigV4Auth(Credentials(key, secret), "secretsmanager", "us-east-1").add_auth(req)
for k, v in (("BENCH_AUTH", req.headers["Authorization"]), ("BENCH_DATE", req.headers["X-Amz-Date"]), ("BENCH_BODY", body)):
    print(f"export {k}={shlex.quote(v)}")
PY
)"
}
ticks() { awk '{print $14 + $15}' "/proc/$cpid/stat"; }
hz=$(getconf CLK_TCK)
run() {  # script -> "rps p99 errors cpu_us_per_req"
  local t0 t1 out
  t0=$(ticks)
  out=$(BENCH_TOKEN=root wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/wrk/$1.lua" "$base" 2>&1)
  t1=$(ticks)
  local summary; summary=$(echo "$out" | wrk_summary)
  local total; total=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$summary $(awk -v a="$t0" -v b="$t1" -v n="$total" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz * 1e6 / n}')"
}
: >"$work/vault"; : >"$work/aws"
for _ in $(seq 1 "$rounds"); do
  run read_one >>"$work/vault"
  sign; run aws_get >>"$work/aws"
done
printf '%-16s %10s %8s %8s %12s\n' api req_per_s p99_ms errors cpu_us_per_req
for f in vault aws; do
  printf '%-16s %10.0f %8s %8s %12s\n' "$f" "$(cut -d' ' -f1 "$work/$f" | median)" "$(cut -d' ' -f2 "$work/$f" | median)" \
    "$(awk '{s+=$3} END {print s+0}' "$work/$f")" "$(cut -d' ' -f4 "$work/$f" | median)"
done
