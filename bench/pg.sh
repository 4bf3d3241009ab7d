#!/usr/bin/env bash
# KV v2 read throughput on PostgreSQL with one, two and three Coffer nodes, beside SQLite, same
# machine. Each node is a real `coffer server` (key-file seal, plain HTTP on loopback). Every
# PostgreSQL node count runs twice: with the default settings (KV cache off on PostgreSQL) and with
# `[cache] multi_node = true` (cache on, kept fresh by the change feed), each on its own database.
# With several nodes, wrk runs against every node at once, the connections and wrk's threads split
# between them (at least one thread each), and the req/s are summed. Rounds alternate over all the rows, so machine noise hits them alike.
# Usage (from the repo root, after `cargo build --release`):
#   bench/pg.sh [--seconds 8] [--rounds 3] [--conns 32] [--threads 2] [--nodes "1 2 3"] [--coffer PATH] [--pg postgres://postgres@127.0.0.1:5432]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wrkdir=$(cd "$here/wrk" && pwd)
secs=8 rounds=3 conns=32 threads=2 nodes="1 2 3" coffer=${COFFER_BIN:-target/release/coffer} pg=postgres://postgres@127.0.0.1:5432
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;; --nodes) nodes=$2; shift 2 ;; --coffer) coffer=$2; shift 2 ;; --pg) pg=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
max=0; for n in $nodes; do [ "$n" -ge 1 ] && [ "$n" -le "$conns" ] || { echo "--nodes: 1 to $conns each" >&2; exit 2; }; [ "$n" -gt "$max" ] && max=$n; done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d); db="coffer_bench_$$"
cleanup() {  # the servers' pids are in a file: start() runs in a command substitution's subshell
  if [ -f "$work/pids" ]; then while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/pids"; fi
  for d in "$db" "${db}_mn"; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$pg/postgres" -c "CREATE DATABASE $db" -c "CREATE DATABASE ${db}_mn" >/dev/null
head -c 32 /dev/urandom >"$work/unseal.key"; chmod 600 "$work/unseal.key"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # name url extra-config -> prints the base address
  local p; p=$(port)
  # Idle pool connections close after 2 s, so the nodes waiting for their turn do not hold
  # PostgreSQL's 100 connections (2 × 3 nodes × 16 would, with the change feeds).
  printf '[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\nurl = "%s"\nidle_timeout = "2s"\n[seal]\ntype = "keyfile"\nkey_file = "%s"\n[ha]\nnode_name = "%s"\n%b' \
    "$p" "$2" "$work/unseal.key" "$1" "${3:-}" >"$work/$1.toml"
  COFFER_DISABLE_MLOCK=true COFFER_LOG_LEVEL=warn "$coffer" server --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  echo $! >>"$work/pids"
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
off=() on=()  # node addresses: default settings, and multi_node = true
for i in $(seq 1 "$max"); do
  off+=("$(start "pg$i" "$pg/$db")")
  on+=("$(start "pg${i}_mn" "$pg/${db}_mn" '[cache]\nmulti_node = true\n')")
  if [ "$i" = 1 ]; then off_token=$(setup "${off[0]}"); on_token=$(setup "${on[0]}"); fi
done
run() {  # token url... -> summed req/s over the urls, run in parallel, connections and threads split between them
  local token=$1 w=() i=0; shift
  local t=$((threads / $# > 1 ? threads / $# : 1))
  for u in "$@"; do
    local c=$((conns / $# + (i < conns % $# ? 1 : 0))); i=$((i + 1))
    BENCH_TOKEN=$token NKEYS=1 wrk -t"$t" -c"$c" -d"${secs}s" -s "$wrkdir/read_one.lua" "$u" >"$work/out.${u##*:}" &
    w+=($!)
  done
  wait "${w[@]}"
  if grep -q Non-2xx "$work"/out.*; then grep -h Non-2xx "$work"/out.* | sed 's/^/errors: /' >&2; fi
  cat "$work"/out.* | awk '/Requests\/sec/ {s+=$2} END {printf "%.0f\n", s}'; rm -f "$work"/out.*
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
: >"$work/sqlite"; for n in $nodes; do : >"$work/off$n"; : >"$work/on$n"; done
for _ in $(seq 1 "$rounds"); do
  run "$lite_token" "$lite" >>"$work/sqlite"
  for n in $nodes; do
    run "$off_token" "${off[@]:0:n}" >>"$work/off$n"
    run "$on_token" "${on[@]:0:n}" >>"$work/on$n"
  done
done
s=$(median <"$work/sqlite"); line="read_one sqlite_1_node=$s"
for n in $nodes; do line+=" postgres_${n}_node$([ "$n" = 1 ] || echo s)=$(median <"$work/off$n")"; done
echo "$line (req/s, medians of $rounds rounds)"
echo
echo "| store | nodes | KV cache | read_one req/s | of SQLite |"
echo "|---|---:|---|---:|---:|"
printf '| SQLite | 1 | on | %s | 100 %% |\n' "$s"
for n in $nodes; do
  for v in off on; do
    m=$(median <"$work/$v$n")
    printf '| PostgreSQL | %s | %s | %s | **%s %%** |\n' "$n" "$([ $v = off ] && echo 'off (default)' || echo 'on (`multi_node = true`)')" \
      "$m" "$(awk -v a="$m" -v b="$s" 'BEGIN {printf "%.0f", (b > 0) ? 100 * a / b : 0}')"
  done
done
echo
echo "medians of $rounds rounds of ${secs}s, $conns connections and $threads wrk threads in all (split between the nodes); target: PostgreSQL ≥ 80 % of SQLite"
