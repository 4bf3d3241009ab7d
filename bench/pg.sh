#!/usr/bin/env bash
# KV v2 read throughput on PostgreSQL with one and with two Coffer nodes, beside SQLite, same
# machine. Each node is a real `coffer server` (key-file seal, plain HTTP on loopback).
# Usage (from the repo root, after `cargo build --release`):
#   bench/pg.sh [--seconds 8] [--rounds 3] [--conns 32] [--coffer PATH] [--pg postgres://postgres@127.0.0.1:5432]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wrkdir=$(cd "$here/wrk" && pwd)
. "$here/lib.sh"
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
start_keyfile sqlite "sqlite://$work/data/coffer.db"; lite=$started; lite_token=$(init_kv "$lite")
start_keyfile pg1 "$pg/$db"; pg1=$started; pg_token=$(init_kv "$pg1"); start_keyfile pg2 "$pg/$db"; pg2=$started
run() {  # token conns url... -> summed req/s over the urls, run in parallel
  local token=$1 c=$2 w=(); shift 2
  for u in "$@"; do
    BENCH_TOKEN=$token NKEYS=1 wrk -t1 -c"$c" -d"${secs}s" -s "$wrkdir/read_one.lua" "$u" >"$work/out.${u##*:}" &
    w+=($!)
  done
  wait "${w[@]}"
  cat "$work"/out.* | awk '/Requests\/sec/ {s+=$2} END {printf "%.0f\n", s}'; rm -f "$work"/out.*
}
: >"$work/a"; : >"$work/b"; : >"$work/c"
for _ in $(seq 1 "$rounds"); do
  run "$lite_token" "$conns" "$lite" >>"$work/a"
  run "$pg_token" "$conns" "$pg1" >>"$work/b"
  run "$pg_token" $((conns / 2)) "$pg1" "$pg2" >>"$work/c"
done
printf 'read_one sqlite_1_node=%s postgres_1_node=%s postgres_2_nodes=%s (req/s, medians of %s rounds)\n' \
  "$(median <"$work/a")" "$(median <"$work/b")" "$(median <"$work/c")" "$rounds"
