#!/usr/bin/env bash
# The agent's local proxy beside the server: the same KV v2 read of one 100-byte secret sent
# straight to `coffer server --dev`, through a `coffer agent` proxy with its per-caller KV cache
# (kv_cache_ttl = 5s: hits never reach the server), and through one with the cache off (every
# request forwarded). Rounds alternated. Reports req/s, p99, and the CPU per request of the server
# and of the agent (from /proc/PID/stat).
# Usage (from the repo root, after `cargo build --release`):
#   bench/agent.sh [--seconds 8] [--rounds 3] [--conns 32] [--coffer PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
secs=8 rounds=3 conns=32 coffer=${COFFER_BIN:-target/release/coffer}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
needs_tools
scratch
port=$(free_port); base="http://127.0.0.1:$port"
COFFER_LOG_LEVEL=warn "$coffer" server --dev --dev-root-token-id root --dev-listen-address "127.0.0.1:$port" \
  >"$work/coffer.log" 2>&1 &
pids+=($!); spid=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "$base/v1/sys/health" && break; sleep 0.05; done
api() { curl -fsS -H "X-Vault-Token: root" -X "$1" ${3:+-d "$3"} "$base/v1/$2"; }
api POST secret/data/bench "{\"data\":{\"value\":\"$(printf 'v%.0s' $(seq 1 100))\"}}" >/dev/null
api POST sys/auth/approle '{"type":"approle"}' >/dev/null
api POST auth/approle/role/bench '{"token_ttl":"1h"}' >/dev/null
api GET auth/approle/role/bench/role-id | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["role_id"], end="")' >"$work/role-id"

declare -A pid addr
agent_start() {  # name kv_cache_ttl
  local p; p=$(free_port)
  api POST auth/approle/role/bench/secret-id '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["secret_id"], end="")' >"$work/$1.secret-id"
  printf '[server]\naddress = "%s"\n[auto_auth]\nmethod = "approle"\nrole_id_file = "%s"\nsecret_id_file = "%s"\n[proxy]\nlisten = "127.0.0.1:%s"\nkv_cache_ttl = "%s"\n' \
    "$base" "$work/role-id" "$work/$1.secret-id" "$p" "$2" >"$work/$1.toml"
  "$coffer" agent --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  pids+=($!); pid[$1]=$!; addr[$1]="http://127.0.0.1:$p"
  for _ in $(seq 1 200); do curl -fs -o /dev/null -H "X-Vault-Token: root" "${addr[$1]}/v1/secret/data/bench" && break; sleep 0.05; done
}
agent_start cached 5s
agent_start uncached 0
addr[direct]=$base; pid[direct]=""

ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
hz=$(getconf CLK_TCK)
run() {  # target -> "rps p99 errors server_cpu_us agent_cpu_us"
  local s0 a0 s1 a1 out total
  s0=$(ticks "$spid"); a0=$(ticks "${pid[$1]}")
  out=$(BENCH_TOKEN=root wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/wrk/read_one.lua" "${addr[$1]}" 2>&1)
  s1=$(ticks "$spid"); a1=$(ticks "${pid[$1]}")
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | wrk_summary) $(awk -v a="$s0" -v b="$s1" -v c="$a0" -v d="$a1" -v n="$total" -v hz="$hz" \
    'BEGIN {printf "%.1f %.1f", (b - a) / hz * 1e6 / n, (d - c) / hz * 1e6 / n}')"
}
for t in direct cached uncached; do : >"$work/$t.out"; done
for _ in $(seq 1 "$rounds"); do
  for t in direct cached uncached; do run "$t" >>"$work/$t.out"; done
done
printf '%-10s %10s %8s %8s %14s %14s\n' path req_per_s p99_ms errors server_cpu_us agent_cpu_us
for t in direct cached uncached; do
  f="$work/$t.out"
  printf '%-10s %10.0f %8s %8s %14s %14s\n' "$t" "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
    "$(awk '{s+=$3} END {print s+0}' "$f")" "$(cut -d' ' -f4 "$f" | median)" "$(cut -d' ' -f5 "$f" | median)"
done
