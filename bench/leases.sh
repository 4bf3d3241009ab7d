#!/usr/bin/env bash
# The lease table at scale (a benchmark, not a timed test). Real `coffer server` processes over a
# SQLite file, key-file seal, plain HTTP on loopback:
#   1. unseal time (process start until /v1/sys/health says unsealed) and resident memory
#      (VmRSS right after unseal and after --idle seconds) with --rows leases that expire in
#      30 days, beside an empty store that went through the same steps; rounds alternated, medians;
#   2. the database file size with and without those rows;
#   3. expiry throughput: --expire-rows leases already due, on a mount that does not exist (the
#      worker streams them from the expiry index and deletes each row, fenced by the leader
#      epoch), counted down by polling `count(*)` read-only every 0.5 s.
# Rows are inserted with SQL while the server is stopped (sqlite3 CLI, else python3's sqlite3).
# Usage (from the repo root, after `cargo build --release`):
#   bench/leases.sh [--rows 1000000] [--expire-rows 200000] [--rounds 5] [--idle 5]
#                   [--deadline 1200] [--coffer PATH]
# COFFER_BIN also names the binary (default target/release/coffer).
set -euo pipefail
rows=1000000 expire_rows=200000 rounds=5 idle=5 deadline=1200 coffer=${COFFER_BIN:-target/release/coffer}
cmdline="bench/leases.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;; --expire-rows) expire_rows=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;; --deadline) deadline=$2; shift 2 ;; --coffer) coffer=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for n in "$rows" "$expire_rows" "$rounds" "$idle" "$deadline"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[ "$rounds" -ge 1 ] && [ "$expire_rows" -ge 1 ] || { echo "--rounds and --expire-rows must be at least 1" >&2; exit 2; }
[ -x "$coffer" ] || { echo "no coffer binary at $coffer (cargo build --release, or --coffer PATH)" >&2; exit 2; }
coffer=$(realpath "$coffer")
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "needs curl and python3" >&2; exit 2; }
umask 077  # database copies stay 0600, as Coffer creates them

work=$(mktemp -d); pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/child.pid" ] && kill "$(cat "$work/child.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ---- SQL: the sqlite3 CLI when installed, else python3's sqlite3 module ----
if command -v sqlite3 >/dev/null; then
  sql_exec() { sqlite3 -bail -cmd '.timeout 10000' "$1" "$2" >/dev/null; }  # db script
  sql_count() { sqlite3 -readonly -cmd '.timeout 10000' "$1" 'select count(*) from secret_lease'; }
  sqlite_via="sqlite3 $(sqlite3 --version | cut -d' ' -f1) CLI"
else
  sql_exec() {
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
c.executescript(sys.argv[2]); c.close()
PY
  }
  sql_count() {
    python3 - "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
print(c.execute("select count(*) from secret_lease").fetchone()[0])
PY
  }
  sqlite_via="python3 sqlite3 $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')"
fi

# ---- servers ----
head -c 32 /dev/urandom >"$work/unseal.key"; chmod 600 "$work/unseal.key"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config() {  # name db -> writes $work/name.toml on a free port, prints the port
  local p; p=$(port)
  printf '[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\nurl = "sqlite://%s"\n[seal]\ntype = "keyfile"\nkey_file = "%s"\n' \
    "$p" "$2" "$work/unseal.key" >"$work/$1.toml"
  echo "$p"
}
launch() {  # name -> starts the server in the background; sets $srv
  COFFER_DISABLE_MLOCK=true COFFER_LOG_LEVEL=info "$coffer" server --config "$work/$1.toml" >>"$work/$1.log" 2>&1 &
  srv=$!; pids+=("$srv")
}
wait_http() {  # port pid: until the listener answers at all (bounded: 60 s)
  for _ in $(seq 1 1200); do
    kill -0 "$2" 2>/dev/null || { echo "the server exited early" >&2; return 1; }
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/v1/sys/health" && return 0
    sleep 0.05
  done
  echo "the server did not answer within 60 s" >&2; return 1
}
stop() {  # pid: SIGTERM, then SIGKILL after 15 s
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# ---- 0. an initialised store, the template for every scenario ----
log "initialising a store with $coffer"
mkdir -p "$work/base"
p=$(config init "$work/base/coffer.db"); launch init; wait_http "$p" "$srv"
curl -sf -X PUT "http://127.0.0.1:$p/v1/sys/init" -d '{}' | grep -q root_token \
  || { echo "sys/init failed; log:" >&2; cat "$work/init.log" >&2; exit 1; }
stop "$srv"
# Fold the WAL into the file, so that a plain copy is the whole store.
sql_exec "$work/base/coffer.db" 'PRAGMA journal_mode=DELETE;'

cols="id, mount_id, path, role, token_hash, issue_time, expire_time, max_expire, last_renewal, renewable, key_term, secret, attempts, next_attempt, last_error"
make_store() {  # name n expire_ms -> $work/name/coffer.db: the template plus n leases expiring at expire_ms
  local db="$work/$1/coffer.db" now; now=$(date +%s%3N)
  mkdir -p "$work/$1"; cp "$work/base/coffer.db" "$db"
  local insert=""
  [ "$2" -gt 0 ] && insert="WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < $2)
    INSERT INTO secret_lease ($cols)
    SELECT 'bench/creds/r/' || printf('%024d', n), 'bench-no-such-mount', 'creds/r', 'bench/creds/r', NULL,
           $now, $3, $3 + 86400000, NULL, 1, 1, x'00', 0, $3, '' FROM c;"
  sql_exec "$db" "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; BEGIN; $insert COMMIT; PRAGMA journal_mode=WAL;"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
size() { stat -c %s "$1"; }

# ---- 1 and 2. unseal time and memory, empty beside --rows ----
t=$(date +%s%N)
make_store full "$rows" $(( $(date +%s%3N) + 30 * 86400000 ))
seed_s=$(awk -v a="$t" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b-a)/1e9}')
log "seeded $rows leases in ${seed_s} s ($sqlite_via)"
make_store empty 0 0
[ "$(sql_count "$work/full/coffer.db")" = "$rows" ] || { echo "seeding did not give $rows rows" >&2; exit 1; }
size_empty=$(size "$work/empty/coffer.db"); size_full=$(size "$work/full/coffer.db")

round() {  # name -> "unseal_ms rss_kb rss_after_idle_kb": Python starts the server itself, so the clock starts at exec
  local p; p=$(config "$1" "$work/$1/coffer.db")
  python3 - "$coffer" "$work/$1.toml" "$p" "$idle" "$work/$1.log" "$work/child.pid" <<'PY'
import json, os, signal, subprocess, sys, time, urllib.error, urllib.request
coffer, cfg, port, idle, log, pidfile = sys.argv[1:]
url = f"http://127.0.0.1:{port}/v1/sys/health"
env = dict(os.environ, COFFER_DISABLE_MLOCK="true", COFFER_LOG_LEVEL="info")
def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
def unsealed():
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
    except OSError:
        return False
    try:
        return json.loads(body).get("sealed") is False
    except ValueError:
        return False
with open(log, "ab") as out:
    t0 = time.monotonic()
    p = subprocess.Popen([coffer, "server", "--config", cfg], env=env, stdout=out, stderr=out)
with open(pidfile, "w") as f:
    f.write(str(p.pid))
try:
    while not unsealed():
        if p.poll() is not None:
            sys.exit(f"the server exited ({p.returncode}); see {log}")
        if time.monotonic() - t0 > 120:
            sys.exit("not unsealed within 120 s")
        time.sleep(0.002)
    ms = (time.monotonic() - t0) * 1000
    r0 = rss(p.pid)
    time.sleep(float(idle))
    print(f"{ms:.1f} {r0} {rss(p.pid)}")
finally:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
    os.remove(pidfile)
PY
}
for name in empty full; do : >"$work/$name.rounds"; done
for i in $(seq 1 "$rounds"); do
  for name in empty full; do
    r=$(round "$name"); echo "$r" >>"$work/$name.rounds"
    log "round $i $name: unseal ${r%% *} ms, rss_kb after unseal / after ${idle} s: $(echo "$r" | cut -d' ' -f2,3 | tr ' ' /)"
  done
done
declare -A ms rss0 rss1
for name in empty full; do
  ms[$name]=$(cut -d' ' -f1 "$work/$name.rounds" | median)
  rss0[$name]=$(cut -d' ' -f2 "$work/$name.rounds" | median)
  rss1[$name]=$(cut -d' ' -f3 "$work/$name.rounds" | median)
done
[ "$(sql_count "$work/full/coffer.db")" = "$rows" ] || echo "warning: the far-future leases changed while serving" >&2
rm -rf "$work/full" "$work/empty"  # free the disk before the next scenario

# ---- 3. expiry throughput ----
log "seeding $expire_rows due leases"
make_store expire "$expire_rows" $(( $(date +%s%3N) - 1000 ))
db="$work/expire/coffer.db"
p=$(config expire "$db")
t_start=$EPOCHREALTIME; launch expire; exp_pid=$srv
prev=$expire_rows t1= c1= t_end= first=
while :; do
  now=$EPOCHREALTIME
  awk -v a="$t_start" -v b="$now" -v d="$deadline" 'BEGIN {exit !(b-a > d)}' \
    && { echo "expiry not finished within $deadline s ($prev rows left); log:" >&2; tail -20 "$work/expire.log" >&2; exit 1; }
  kill -0 "$exp_pid" 2>/dev/null || { echo "the server exited; log:" >&2; tail -20 "$work/expire.log" >&2; exit 1; }
  c=$(sql_count "$db" 2>/dev/null) || { sleep 0.5; continue; }
  if [ -z "$t1" ] && [ "$c" -lt "$expire_rows" ]; then t1=$now c1=$c; first=$(awk -v a="$t_start" -v b="$now" 'BEGIN {printf "%.1f", b-a}'); fi
  [ "$c" -ne "$prev" ] && log "$c due leases left"
  prev=$c
  [ "$c" -eq 0 ] && { t_end=$now; break; }
  sleep 0.5
done
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$exp_pid/status"); rss_end=$(awk '/^VmRSS:/ {print $2}' "/proc/$exp_pid/status")
stop "$exp_pid"
if awk -v a="$t1" -v b="$t_end" 'BEGIN {exit !(b-a > 0)}'; then
  rate=$(awk -v a="$t1" -v b="$t_end" -v n="$c1" 'BEGIN {printf "%.0f", n/(b-a)}')
  rate_note="$c1 rows deleted between the first poll that saw a decrease and the one that saw 0, $(awk -v a="$t1" -v b="$t_end" 'BEGIN {printf "%.1f", b-a}') s"
else  # everything went between two polls
  rate=">$(awk -v n="$expire_rows" 'BEGIN {printf "%.0f", n/0.5}')" rate_note="all rows went within one 0.5 s poll"
fi
# Start-up warnings (running as root, TLS disabled) are expected here; any other one is shown.
grep WARN "$work/expire.log" | grep -v -e 'running as root' -e 'TLS is disabled' >"$work/warns" || true
warns=$(wc -l <"$work/warns")
[ "$warns" -eq 0 ] || { echo "server warnings during expiry (first 5):" >&2; head -5 "$work/warns" >&2; }

# ---- report ----
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k/1024}'; }
fmt() { echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }  # 1000000 -> 1,000,000
echo
echo "Command: $cmdline"
echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(date -u +%F); rows seeded with $sqlite_via"
echo
echo "| scenario | figure |"
echo "|---|---:|"
echo "| unseal, empty store (process start → health unsealed; median of $rounds) | ${ms[empty]} ms |"
echo "| unseal, $(fmt "$rows") leases (median of $rounds) | ${ms[full]} ms |"
echo "| RSS right after unseal, empty / $(fmt "$rows") leases | $(mib "${rss0[empty]}") / $(mib "${rss0[full]}") |"
echo "| RSS after ${idle} s idle, empty / $(fmt "$rows") leases | $(mib "${rss1[empty]}") / $(mib "${rss1[full]}") |"
echo "| database file, empty / $(fmt "$rows") leases | $(mib $((size_empty / 1024))) / $(mib $((size_full / 1024))) ($(( (size_full - size_empty) / (rows > 0 ? rows : 1) )) B per lease) |"
echo "| seeding $(fmt "$rows") leases with one SQL statement | ${seed_s} s |"
echo "| expiry, $(fmt "$expire_rows") due leases (unknown mount: fenced row delete) | **$(fmt "$rate") rows/s** |"
echo "| first expired lease gone after process start | ${first} s |"
echo "| RSS at the end of expiry / peak (VmHWM) | $(mib "$rss_end") / $(mib "$hwm") |"
echo
echo "Expiry: $rate_note; server log warnings: $warns."
