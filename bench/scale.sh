#!/usr/bin/env bash
# Scale of data (issue 16): a real `coffer server` (key-file seal, SQLite in a temporary
# directory, plain HTTP on loopback) seeded through the API with --keys secrets at secret/k/0 …
# and --folder-keys more in one folder, secret/folder/. Then measures `read_many` over all the
# keys against the first 10,000 (rounds alternated, medians), a walk through the folder with
# LIST `after`/`limit` pages, and the database size per secret version. Prints a markdown table.
# Usage (from the repo root, after `cargo build --release`):
#   bench/scale.sh [--keys 1000000] [--folder-keys 100000] [--page 1000] [--seconds 8] [--rounds 3]
#                  [--conns 32] [--cache-size BYTES] [--coffer PATH]
# Needs: wrk, python3. Seeding 1,000,000 durable writes takes minutes (about 3,000–5,000/s here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wrkdir=$(cd "$here/wrk" && pwd)
. "$here/lib.sh"
keys=1000000 folder=100000 page=1000 secs=8 rounds=3 conns=32 small=10000 cache=
coffer=${COFFER_BIN:-target/release/coffer}
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;; --folder-keys) folder=$2; shift 2 ;; --page) page=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --cache-size) cache=$2; shift 2 ;; --coffer) coffer=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$keys" -ge "$small" ] || { echo "--keys must be at least $small" >&2; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$coffer" ] || { echo "no coffer binary at $coffer (cargo build --release)" >&2; exit 2; }

work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
db="$work/data/coffer.db"
[ -z "$cache" ] || export COFFER_CACHE_SIZE="$cache"
start_keyfile scale "sqlite://$db"; base=$started; port=${base##*:}
token=$(init_kv "$base")

now() { date +%s.%N; }
seed() {  # prefix count -> sets seeded="seconds writes_per_second"; exits unless every write got 2xx
  local t0 t1 w deadline
  rm -f "$work"/done.*
  t0=$(now); deadline=$(( $(date +%s) + 60 + $2 / 100 ))
  BENCH_TOKEN=$token SEED_PREFIX=$1 SEED_COUNT=$2 SEED_THREADS=2 SEED_DONE="$work/done" \
    wrk -t2 -c64 -d24h --timeout 30s -s "$wrkdir/seed.lua" "$base" >"$work/seed.out" 2>&1 &
  w=$!; pids+=($w)
  # wrk sleeps for its whole -d even when its threads have stopped: wake it once both are done.
  while kill -0 "$w" 2>/dev/null && [ "$(ls "$work"/done.* 2>/dev/null | wc -l)" -lt 2 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 0.2
  done
  t1=$(now)
  kill -INT "$w" 2>/dev/null || true; wait "$w" || true
  grep -q "^seeded $2 errors 0$" "$work/seed.out" || { echo "seeding $1 failed:" >&2; cat "$work/seed.out" >&2; exit 1; }
  seeded=$(python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f'{s:.1f} {int(sys.argv[3]) / s:.0f}')" "$t0" "$t1" "$2")
}
seed k/ "$keys"; read -r seed_s seed_rps <<<"$seeded"
seed folder/ "$folder"; read -r fold_s fold_rps <<<"$seeded"

# Database size per version, with the WAL checkpointed into the main file (the server is idle).
out=$(python3 - "$db" <<'PY'
import os, sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect(db, timeout=30)
c.execute("pragma wal_checkpoint(truncate)").fetchall()
versions = c.execute("select count(*) from kv_version").fetchone()[0]
c.close()
size = sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
print(size, versions)
PY
); read -r db_bytes versions <<<"$out"

wrk_run() {  # nkeys [seconds] -> "rps p99_ms non2xx"
  BENCH_TOKEN=$token NKEYS=$1 wrk -t2 -c"$conns" -d"${2:-$secs}s" --latency -s "$wrkdir/read_many.lua" "$base" 2>&1 | wrk_summary
}
wrk_run "$small" 2 >/dev/null; wrk_run "$keys" 2 >/dev/null  # warm-up
: >"$work/small"; : >"$work/all"
for _ in $(seq 1 "$rounds"); do
  wrk_run "$small" >>"$work/small"
  wrk_run "$keys" >>"$work/all"
done
col() { awk -v c="$2" '{print $c}' "$1" | median; }
errs() { awk '{s += $3} END {print s + 0}' "$1"; }

# Walk the folder a page at a time (one keep-alive connection; the last request gets the empty
# page's 404), checking that every key shows exactly once, in order; then the page latencies.
out=$(python3 - "$port" "$token" "$folder" "$page" <<'PY'
import http.client, json, sys, time, urllib.parse
port, token, folder, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port)
seen, after, lat = [], "", []
t0 = time.perf_counter()
while True:
    q = urllib.parse.urlencode({"list": "true", "limit": limit, "after": after})
    s = time.perf_counter()
    c.request("GET", "/v1/secret/metadata/folder/?" + q, headers={"X-Vault-Token": token})
    r = c.getresponse(); body = r.read()
    lat.append(time.perf_counter() - s)
    if r.status == 404:
        break
    if r.status != 200:
        sys.exit(f"page after {after!r}: HTTP {r.status}")
    keys = json.loads(body)["data"]["keys"]
    seen.extend(keys); after = keys[-1]
total = time.perf_counter() - t0
if sorted(seen, key=lambda k: k.encode()) != seen or sorted(seen) != sorted(str(i) for i in range(folder)):
    sys.exit(f"the walk saw {len(seen)} keys, not each of the {folder} once in order")
full = sorted(lat[:-1]) or sorted(lat)
print(f"{total:.3f} {len(lat)} {full[len(full) // 2] * 1000:.2f} {full[min(len(full) - 1, int(len(full) * 0.99))] * 1000:.2f}")
PY
); read -r walk_s walk_requests walk_median walk_p99 <<<"$out"

python3 - "$keys" "$folder" "$page" "$small" "$seed_s" "$seed_rps" "$fold_s" "$fold_rps" \
  "$(col "$work/small" 1)" "$(col "$work/small" 2)" "$(errs "$work/small")" \
  "$(col "$work/all" 1)" "$(col "$work/all" 2)" "$(errs "$work/all")" \
  "$walk_s" "$walk_requests" "$walk_median" "$walk_p99" "$db_bytes" "$versions" "$rounds" "${cache:-default}" <<'PY'
import sys
(keys, folder, page, small, seed_s, seed_rps, fold_s, fold_rps, s_rps, s_p99, s_err, a_rps, a_p99, a_err,
 walk_s, requests, p_med, p_p99, db_bytes, versions, rounds, cache) = sys.argv[1:]
n = lambda x: f"{int(float(x)):,}"
print(f"Scale on SQLite: {n(keys)} keys + a folder of {n(folder)}, KV cache {cache}, medians of {rounds} rounds\n")
print("| measure | value |")
print("|---|---:|")
print(f"| seed {n(keys)} keys through the API (durable writes) | {seed_s} s, {n(seed_rps)} writes/s |")
print(f"| seed the folder of {n(folder)} keys | {fold_s} s, {n(fold_rps)} writes/s |")
print(f"| `read_many` over the first {n(small)} keys | {n(s_rps)} req/s, p99 {s_p99} ms, {s_err} errors |")
print(f"| `read_many` over all {n(keys)} keys | {n(a_rps)} req/s, p99 {a_p99} ms, {a_err} errors |")
print(f"| all keys / first {n(small)} (target ≥ 80 %) | **{100 * float(a_rps) / float(s_rps):.1f} %** |")
print(f"| LIST walk of the folder, `limit={page}` + `after` | {walk_s} s, {requests} requests, {float(requests) / float(walk_s):.1f} req/s, {n(int(folder) / float(walk_s))} keys/s |")
print(f"| one page of {n(page)} keys | median {p_med} ms, p99 {p_p99} ms |")
print(f"| database (main file + WAL after a checkpoint) | {int(db_bytes) / 2**20:.1f} MiB for {n(versions)} versions: **{int(db_bytes) / int(versions):.0f} B per version** |")
PY
