#!/usr/bin/env bash
# KV v2 read throughput on PostgreSQL with one and with two Coffer nodes, beside SQLite, same
# machine. Each node is a real `coffer server` (key-file seal, plain HTTP on loopback).
# Usage (from the repo root, after `cargo build --release`):
#   bench/pg.sh [--seconds 8] [--rounds 3] [--conns 32] [--coffer PATH] [--pg postgres://postgres@127.0.0.1:5432]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wrkdir=$(cd "$here/wrk" && pwd)
secs=8 rounds=3 conns=32 coffer=${COFFER_BIN:-target/release/coffer} pg=postgres://postgres@127.0.0.1:5432
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;; --pg) pg=$2; shift 2 ;; *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d); pids=(); db="coffer_bench_$$"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
head -c 32 /dev/urandom >"$work/unseal.key"; chmod 600 "$work/unseal.key"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # name url -> prints the base address
  local p; p=$(port)
  printf '[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\nurl = "%s"\n[seal]\ntype = "keyfile"\nkey_file = "%s"\n' \
    "$p" "$2" "$work/unseal.key" >"$work/$1.toml"
  COFFER_DISABLE_MLOCK=true COFFER_LOG_LEVEL=warn "$coffer" server --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$p/v1/sys/health" && break; sleep 0.05; done
  echo "http://127.0.0.1:$p"
}
setup() {  # base -> prints the root token (init, mount, one 100-byte secret)
  python3 - "$1" <<'PY'
import json, sys, urllib.request
base = sys.argv[1] + "/v1/"
def call(method, path, body=None, token=None):
    h = {"X-Vault-Token": token} if token else {}
    req = urllib.request.Request(base + path, method=method, headers=h, data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        t = r.read(); return json.loads(t) if t else None
root = call("PUT", "sys/init", {})["root_token"]
call("POST", "sys/mounts/secret", {"type": "kv-v2"}, root)
call("POST", "secret/data/bench", {"data": {"value": "v" * 100}}, root)
print(root)
PY
}
lite=$(start sqlite "sqlite://$work/data/coffer.db"); lite_token=$(setup "$lite")
pg1=$(start pg1 "$pg/$db"); pg_token=$(setup "$pg1"); pg2=$(start pg2 "$pg/$db")
run() {  # token conns url... -> summed req/s over the urls, run in parallel
  local token=$1 c=$2 w=(); shift 2
  for u in "$@"; do
    BENCH_TOKEN=$token NKEYS=1 wrk -t1 -c"$c" -d"${secs}s" -s "$wrkdir/read_one.lua" "$u" >"$work/out.${u##*:}" &
    w+=($!)
  done
  wait "${w[@]}"
  cat "$work"/out.* | awk '/Requests\/sec/ {s+=$2} END {printf "%.0f\n", s}'; rm -f "$work"/out.*
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
: >"$work/a"; : >"$work/b"; : >"$work/c"
for _ in $(seq 1 "$rounds"); do
  run "$lite_token" "$conns" "$lite" >>"$work/a"
  run "$pg_token" "$conns" "$pg1" >>"$work/b"
  run "$pg_token" $((conns / 2)) "$pg1" "$pg2" >>"$work/c"
done
printf 'read_one sqlite_1_node=%s postgres_1_node=%s postgres_2_nodes=%s (req/s, medians of %s rounds)\n' \
  "$(median <"$work/a")" "$(median <"$work/b")" "$(median <"$work/c")" "$rounds"
