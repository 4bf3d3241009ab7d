#!/usr/bin/env bash
# TLS cost: Coffer and OpenBao, each over TLS and over plain HTTP, same wrk scenarios, same machine,
# rounds alternated (Coffer TLS, Coffer plain, OpenBao TLS, OpenBao plain, ...). Both servers use
# one certificate from a throwaway CA (ECDSA P-256, made here with openssl). Coffer: two real
# `coffer server` processes (SQLite, key-file seal), identical but for the listener. OpenBao: one
# `server -dev` (in memory) with its plain dev listener plus a TLS listener from a config file.
# wrk keeps its connections open, so the handshake is paid once per connection; the `new_conn`
# scenario (sys/health with `Connection: close`, a fresh connection and handshake per request)
# shows the handshake itself.
# Usage (from the repo root, after `cargo build --release`):
#   bench/tls.sh [--seconds 8] [--rounds 3] [--conns 32] [--keys 10000] [--coffer PATH] [SCENARIO...]
# Scenarios: read_one read_many write lookup_self health new_conn (default: all but new_conn).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
secs=8 rounds=3 conns=32 nkeys=10000 coffer=${COFFER_BIN:-target/release/coffer} scen=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;; --rounds) rounds=$2; shift 2 ;; --conns) conns=$2; shift 2 ;;
    --keys) nkeys=$2; shift 2 ;; --coffer) coffer=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown argument $1" >&2; exit 2 ;;
    *) scen+=("$1"); shift ;;
  esac
done
[ ${#scen[@]} -gt 0 ] || scen=(read_one read_many write lookup_self health)
needs_tools
scratch

# A CA and a server certificate for 127.0.0.1 and localhost.
(
  cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj /CN=bench-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr \
    -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext
  openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out tls.crt -days 2 -extfile ext 2>/dev/null
  chmod 600 tls.key ca.key
)
head -c 32 /dev/urandom >"$work/unseal.key"; chmod 600 "$work/unseal.key"

coffer_start() {  # name port tls(yes|no)
  local listener
  if [ "$3" = yes ]; then
    listener=$(printf 'tls_cert_file = "%s"\ntls_key_file = "%s"' "$work/tls.crt" "$work/tls.key")
  else
    listener='tls_disable = true'
  fi
  printf '[listener]\naddress = "127.0.0.1:%s"\n%s\n[storage]\nurl = "sqlite://%s/%s/coffer.db"\n[seal]\ntype = "keyfile"\nkey_file = "%s"\n' \
    "$2" "$listener" "$work" "$1" "$work/unseal.key" >"$work/$1.toml"
  COFFER_DISABLE_MLOCK=true COFFER_LOG_LEVEL=warn "$coffer" server --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  pids+=($!); pid[$1]=$!
}
declare -A pid
pct=$(free_port_pair); pcp=$(free_port_pair); pbt=$(free_port_pair); pbp=$(free_port_pair)
coffer_start coffer_tls "$pct" yes
coffer_start coffer_plain "$pcp" no
printf 'listener "tcp" {\n  address = "127.0.0.1:%s"\n  tls_cert_file = "%s"\n  tls_key_file = "%s"\n}\n' \
  "$pbt" "$work/tls.crt" "$work/tls.key" >"$work/bao.hcl"
bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$pbp" -config="$work/bao.hcl" >"$work/bao.log" 2>&1 &
pids+=($!); pid[bao_tls]=$!; pid[bao_plain]=$!
declare -A url=(
  [coffer_tls]="https://127.0.0.1:$pct" [coffer_plain]="http://127.0.0.1:$pcp"
  [bao_tls]="https://127.0.0.1:$pbt" [bao_plain]="http://127.0.0.1:$pbp"
)
servers=(coffer_tls coffer_plain bao_tls bao_plain)
for s in "${servers[@]}"; do
  for _ in $(seq 1 200); do curl -s --cacert "$work/ca.pem" -o /dev/null "${url[$s]}/v1/sys/health" && continue 2; sleep 0.05; done
  echo "no answer from $s at ${url[$s]}" >&2; cat "$work"/*.log >&2; exit 1
done

setup() {  # url ca init(yes|no) keys -> prints the root token; mounts secret/ on Coffer, writes secret/bench and secret/k/N
  python3 - "$@" <<'PY'
import http.client, json, ssl, sys, urllib.parse
u, ca, init, n = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], sys.argv[3] == "yes", int(sys.argv[4])
if u.scheme == "https":
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=ca))
else:
    c = http.client.HTTPConnection(u.hostname, u.port)
def call(method, path, body, token=None):
    h = {"Content-Type": "application/json"} | ({"X-Vault-Token": token} if token else {})
    c.request(method, "/v1/" + path, json.dumps(body), h)
    r = c.getresponse(); t = r.read()
    if r.status >= 300: sys.exit(f"{method} {path}: HTTP {r.status}")
    return json.loads(t) if t else None
root = "root"
if init:  # a key-file seal: sys/init returns the root token and the server unseals itself
    root = call("PUT", "sys/init", {})["root_token"]
    call("POST", "sys/mounts/secret", {"type": "kv-v2"}, root)
call("POST", "secret/data/bench", {"data": {"value": "v" * 100}}, root)
for i in range(n):
    call("POST", f"secret/data/k/{i}", {"data": {"value": "v" * 100}}, root)
print(root)
PY
}
declare -A token
token[coffer_tls]=$(setup "${url[coffer_tls]}" "$work/ca.pem" yes "$nkeys")
token[coffer_plain]=$(setup "${url[coffer_plain]}" "$work/ca.pem" yes "$nkeys")
token[bao_plain]=$(setup "${url[bao_plain]}" "$work/ca.pem" no "$nkeys")  # one store behind both listeners
token[bao_tls]=root

cpu() { awk '{print $14 + $15}' "/proc/${pid[$1]}/stat"; }  # server CPU time so far, in clock ticks
run() {  # scenario server -> prints "rps p99_ms errors cpu_us_per_request"
  local s=$1 extra=() t0 t1 out
  if [ "$s" = new_conn ]; then s=health extra=(-H "Connection: close"); fi
  t0=$(cpu "$2")
  out=$(BENCH_TOKEN=${token[$2]} NKEYS=$nkeys wrk -t2 -c"$conns" -d"${secs}s" --latency "${extra[@]}" \
    -s "$here/wrk/$s.lua" "${url[$2]}" 2>&1)
  t1=$(cpu "$2")
  echo "$out" | python3 -c '
import re, sys
t = sys.stdin.read()
ticks = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3])
def ms(v):
    x, u = re.match(r"([\d.]+)(us|ms|s)", v).groups(); x = float(x)
    return x / 1000 if u == "us" else x if u == "ms" else x * 1000
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p99 = re.search(r"^\s+99%\s+(\S+)", t, re.M)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
errs = int(bad.group(1)) if bad else 0
n = re.search(r"(\d+) requests in", t)
print(rps.group(1) if rps else "0", f"{ms(p99.group(1)):.2f}" if p99 else "nan",
      errs + (int(sock.group(1)) + int(sock.group(3)) + int(sock.group(4)) if sock else 0),
      f"{ticks * 1e6 / int(n.group(1)):.1f}" if n and int(n.group(1)) else "nan")' "$t0" "$t1" "$(getconf CLK_TCK)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f %%", 100 * a / b; else print "-"}'; }
xratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f×", a / b; else print "-"}'; }

echo "| scenario | Coffer TLS | Coffer plain | Coffer TLS/plain | OpenBao TLS | OpenBao plain | OpenBao TLS/plain | Coffer/OpenBao over TLS | Coffer CPU µs/req TLS, plain | OpenBao CPU µs/req TLS, plain | Coffer TLS p99 ms | OpenBao TLS p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A rps p99 us
for s in "${scen[@]}"; do
  for v in "${servers[@]}"; do : >"$work/$s.$v"; done
  for _ in $(seq 1 "$rounds"); do
    for v in "${servers[@]}"; do run "$s" "$v" >>"$work/$s.$v"; done
  done
  for v in "${servers[@]}"; do
    rps[$v]=$(cut -d' ' -f1 "$work/$s.$v" | median); p99[$v]=$(cut -d' ' -f2 "$work/$s.$v" | median)
    us[$v]=$(cut -d' ' -f4 "$work/$s.$v" | median)
  done
  errs=$(cat "$work/$s".coffer_* | awk '{e+=$3} END {print e+0}')
  printf '| `%s` | %.0f | %.0f | **%s** | %.0f | %.0f | %s | **%s** | %.1f, %.1f | %.1f, %.1f | %s | %s | %s |\n' "$s" \
    "${rps[coffer_tls]}" "${rps[coffer_plain]}" "$(ratio "${rps[coffer_tls]}" "${rps[coffer_plain]}")" \
    "${rps[bao_tls]}" "${rps[bao_plain]}" "$(ratio "${rps[bao_tls]}" "${rps[bao_plain]}")" \
    "$(xratio "${rps[coffer_tls]}" "${rps[bao_tls]}")" "${us[coffer_tls]}" "${us[coffer_plain]}" "${us[bao_tls]}" "${us[bao_plain]}" \
    "${p99[coffer_tls]}" "${p99[bao_tls]}" "$errs"
done
echo
echo "req/s, medians of $rounds rounds of ${secs}s, $conns connections kept open (the TLS handshake is paid once per connection;"
echo "new_conn pays it per request). CPU: the server process's user + system time over the requests wrk counted."
echo "errors: Coffer's non-2xx answers and socket errors, all rounds, both listeners."
