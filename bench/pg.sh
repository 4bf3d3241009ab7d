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
. "$here/lib.sh"
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
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "$db" "${db}_mn"; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$pg/postgres" -c "CREATE DATABASE $db" -c "CREATE DATABASE ${db}_mn" >/dev/null
pids=()
start() {  # name url [more_sections] -> sets `started`
  # Idle pool connections close after 2 s, so the nodes waiting for their turn do not hold
  # PostgreSQL's 100 connections (2 × 3 nodes × 16 would, with the change feeds).
  start_keyfile "$1" "$2" 'idle_timeout = "2s"\n' "[ha]\nnode_name = \"$1\"\n${3:-}"
}
start sqlite "sqlite://$work/data/coffer.db"; lite=$started; lite_token=$(init_kv "$lite")
off=() on=()  # node addresses: default settings, and multi_node = true
for i in $(seq 1 "$max"); do
  start "pg$i" "$pg/$db"; off+=("$started")
  start "pg${i}_mn" "$pg/${db}_mn" '[cache]\nmulti_node = true\n'; on+=("$started")
  if [ "$i" = 1 ]; then off_token=$(init_kv "${off[0]}"); on_token=$(init_kv "${on[0]}"); fi
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
