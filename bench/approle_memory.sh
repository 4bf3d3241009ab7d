#!/usr/bin/env bash
# Memory in an AppRole login storm: N logins whose tokens stay valid (role token_ttl 24h), against
# Coffer's dev server, two real Coffer servers, and OpenBao's dev server, on one machine. Resident
# memory (VmRSS, and the peak VmHWM) of each server is read from /proc at start, after the AppRole
# setup, after every --step logins and after 5 s idle at the end. `coffer server --dev` never calls
# mlockall. The real servers (SQLite, key-file seal) differ only there: one runs as users run it,
# with mlockall on (VmLck shows that it held), the other with disable_mlock = true. Then the tokens
# each store holds are counted.
# Usage (from the repo root, after `cargo build --release`):
#   bench/approle_memory.sh [--logins 100000] [--step 10000] [--conns 32] [--coffer PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
logins=100000 step=10000 conns=32 coffer=${COFFER_BIN:-target/release/coffer}
while [ $# -gt 0 ]; do
  case "$1" in
    --logins) logins=$2; shift 2 ;; --step) step=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --coffer) coffer=$2; shift 2 ;; -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$step" -ge 2 ] && [ "$logins" -ge 2 ] || { echo "--logins and --step: 2 or more" >&2; exit 2; }
[ "$step" -le "$logins" ] || step=$logins
needs_tools
scratch
servers=(coffer_dev coffer_server coffer_nomlock bao)
declare -A addr pid
for s in "${servers[@]}"; do addr[$s]=http://127.0.0.1:$(free_port_pair); done
"$coffer" server --dev --dev-root-token-id root --dev-listen-address "${addr[coffer_dev]#http://}" >"$work/coffer_dev.log" 2>&1 &
pids+=($!); pid[coffer_dev]=$!
head -c 32 /dev/urandom >"$work/unseal.key"; chmod 600 "$work/unseal.key"
for s in coffer_server coffer_nomlock; do
  printf 'disable_mlock = %s\n[listener]\naddress = "%s"\ntls_disable = true\n[storage]\nurl = "sqlite://%s/%s/coffer.db"\n[seal]\ntype = "keyfile"\nkey_file = "%s"\n' \
    "$([ $s = coffer_nomlock ] && echo true || echo false)" "${addr[$s]#http://}" "$work" "$s" "$work/unseal.key" >"$work/$s.toml"
  COFFER_LOG_LEVEL=warn "$coffer" server --config "$work/$s.toml" >"$work/$s.log" 2>&1 &
  pids+=($!); pid[$s]=$!
done
bao server -dev -dev-root-token-id=root -dev-listen-address="${addr[bao]#http://}" >"$work/bao.log" 2>&1 &
pids+=($!); pid[bao]=$!
for s in "${servers[@]}"; do
  for _ in $(seq 1 200); do curl -s -o /dev/null "${addr[$s]}/v1/sys/health" && continue 2; sleep 0.05; done
  echo "no answer from $s" >&2; cat "$work"/*.log >&2; exit 1
done

mem() {  # server -> "VmRSS VmHWM VmLck" in kB
  awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} /^VmLck/ {l=$2} END {print r, h, l}' "/proc/${pid[$1]}/status"
}
declare -A rows=() tok=()
points=()
sample() {  # point-name logins-so-far
  points+=("$1"); rows[$1.logins]=$2
  for s in "${servers[@]}"; do rows[$1.$s]=$(mem "$s"); done
}
sleep 1
sample "idle, 1 s after start" 0

setup() {  # base token(empty: init with the key file) -> prints "TOKEN ROLE_ID SECRET_ID"
  python3 - "$@" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1] + "/v1/", sys.argv[2] if len(sys.argv) > 2 else ""
def call(method, path, body=None):
    h = {"X-Vault-Token": token} if token else {}
    req = urllib.request.Request(base + path, method=method, headers=h, data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        t = r.read(); return json.loads(t) if t else None
if not token:
    token = call("PUT", "sys/init", {})["root_token"]
call("POST", "sys/auth/approle", {"type": "approle"})
call("POST", "auth/approle/role/bench", {"token_policies": "default", "token_ttl": "24h", "token_max_ttl": "24h"})
rid = call("GET", "auth/approle/role/bench/role-id")["data"]["role_id"]
sid = call("POST", "auth/approle/role/bench/secret-id", {})["data"]["secret_id"]
print(token, rid, sid)
PY
}
declare -A root role secret
read -r root[coffer_dev] role[coffer_dev] secret[coffer_dev] < <(setup "${addr[coffer_dev]}" root)
read -r root[coffer_server] role[coffer_server] secret[coffer_server] < <(setup "${addr[coffer_server]}")
read -r root[coffer_nomlock] role[coffer_nomlock] secret[coffer_nomlock] < <(setup "${addr[coffer_nomlock]}")
read -r root[bao] role[bao] secret[bao] < <(setup "${addr[bao]}" root)
sample "after AppRole setup" 0

declare -A ok=() failed=() secs=()
for s in "${servers[@]}"; do ok[$s]=0 failed[$s]=0 secs[$s]=0; done
done_=0
while [ "$done_" -lt "$logins" ]; do
  n=$((logins - done_ < step ? logins - done_ : step))
  for s in "${servers[@]}"; do
    t0=$(date +%s.%N); : >"$work/done"
    ROLE_ID=${role[$s]} SECRET_ID=${secret[$s]} LOGINS=$n THREADS=2 DONE_FILE="$work/done" \
      wrk -t2 -c"$conns" -d"$((60 + n / 100))s" -s "$here/approle_login.lua" "${addr[$s]}" >"$work/wrk.out" 2>&1 &
    w=$!  # wrk runs for its whole -d: stop it (SIGINT: it still prints its summary) once both threads are done
    while kill -0 "$w" 2>/dev/null && [ "$(wc -l <"$work/done")" -lt 2 ]; do sleep 0.05; done
    kill -INT "$w" 2>/dev/null || true; wait "$w" || true; out=$(cat "$work/wrk.out")
    secs[$s]=$(awk -v a="${secs[$s]}" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN {print a + t1 - t0}')
    read -r o f < <(echo "$out" | sed -n 's/^logins ok=\([0-9]*\) failed=\([0-9]*\)$/\1 \2/p')
    [ -n "${o:-}" ] || { echo "wrk gave no count against $s:" >&2; echo "$out" >&2; exit 1; }
    ok[$s]=$((ok[$s] + o)); failed[$s]=$((failed[$s] + f))
  done
  done_=$((done_ + n))
  sample "after $done_ logins" "$done_"
  echo "$done_ logins (kB VmRSS VmHWM VmLck):$(for s in "${servers[@]}"; do printf ' %s %s;' "$s" "${rows[after $done_ logins.$s]}"; done)" >&2
done
sleep 5
sample "5 s later, idle" "$done_"

# Tokens the stores hold (after the last sample: counting makes the servers work). Coffer: rows of
# its token table (the dev server's temporary database found through /proc); OpenBao: the accessor list.
count_coffer() {
  local f; f=$(find "/proc/${pid[$1]}/fd" -lname '*coffer.db' -printf '%l\n' 2>/dev/null | head -1)
  [ -n "$f" ] && python3 -c 'import sqlite3, sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("select count(*) from token").fetchone()[0])' "$f" || echo "?"
}
for s in coffer_dev coffer_server coffer_nomlock; do tok[$s]=$(count_coffer $s); done
tok[bao]=$(curl -fs -X LIST -H "X-Vault-Token: root" "${addr[bao]}/v1/auth/token/accessors" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["data"]["keys"]))' || echo "?")

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
echo "| point | logins | Coffer dev | Coffer server, mlockall (locked) | Coffer server, no mlockall | OpenBao dev |"
echo "|---|---:|---:|---:|---:|---:|"
for p in "${points[@]}"; do
  read -r cr ch _ <<<"${rows[$p.coffer_dev]}"; read -r sr sh sl <<<"${rows[$p.coffer_server]}"
  read -r nr nh _ <<<"${rows[$p.coffer_nomlock]}"; read -r br bh _ <<<"${rows[$p.bao]}"
  printf '| %s | %s | **%s** (%s) | **%s** (%s; %s) | **%s** (%s) | %s (%s) |\n' "$p" "${rows[$p.logins]}" "$(mb "$cr")" "$(mb "$ch")" \
    "$(mb "$sr")" "$(mb "$sh")" "$(mb "$sl")" "$(mb "$nr")" "$(mb "$nh")" "$(mb "$br")" "$(mb "$bh")"
done
echo
echo "VmRSS in MiB (VmHWM, the peak, in brackets; VmLck after the semicolon), read from /proc/PID/status."
echo
last="after $done_ logins" first="after $step logins"
for s in "${servers[@]}"; do
  read -r a _ <<<"${rows[after AppRole setup.$s]}"; read -r f _ <<<"${rows[$first.$s]}"; read -r z _ <<<"${rows[$last.$s]}"
  printf '%s: %s logins answered 200, %s failed, %.0f logins/s; %s tokens in the store; RSS growth per 10,000 logins: %.2f MiB over the run, %s after the first step\n' \
    "$s" "${ok[$s]}" "${failed[$s]}" "$(awk -v n="${ok[$s]}" -v t="${secs[$s]}" 'BEGIN {print (t > 0) ? n / t : 0}')" "${tok[$s]}" \
    "$(awk -v a="$a" -v z="$z" -v n="$done_" 'BEGIN {print (z - a) / 1024 * 10000 / n}')" \
    "$(awk -v a="$f" -v z="$z" -v n="$((done_ - step))" 'BEGIN {if (n > 0) printf "%.2f MiB", (z - a) / 1024 * 10000 / n; else print "-"}')"
done
echo "targets: Coffer idle RSS ≤ 15 MB, and < 60 MB after 100,000 logins (1 MiB = 1.05 MB). ${conns} connections; a few logins per step may be in flight when wrk stops, so the stores can hold slightly more tokens than counted."
