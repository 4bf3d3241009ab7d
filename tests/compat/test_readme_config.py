"""The README's minimal coffer.toml starts a real TLS server (issue 14, D107).

The file is taken from README.md, parsed, and given to `coffer server --config` with only its
absolute paths (`/etc/coffer`, `/var/lib/coffer`, `/var/log/coffer`) moved under a temporary
directory and the port made free. The test writes a real CA and server certificate, then over
HTTPS (verified against that CA): init, unseal, mount KV v2, write and read a secret, and finds
the entries in the declared audit file.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import ssl
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import STARTUP_TIMEOUT, _stop, coffer_binary, pick_port

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_toml() -> str:
    text = README.read_text()
    start = text.index("### A minimal coffer.toml")
    m = re.search(r"^```toml\n(.*?)^```$", text[start:], re.MULTILINE | re.DOTALL)
    assert m, "README.md has no toml block under 'A minimal coffer.toml'"
    return m.group(1)


def write_tls(etc: Path) -> Path:
    """A CA, and a server certificate for 127.0.0.1 signed by it; returns the CA file."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "readme test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coffer")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    (etc / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = etc / "tls.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ca_path = etc / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_path


def test_readme_minimal_config_starts_a_tls_server(tmp_path):
    if os.environ.get("COMPAT_SERVER", "coffer").strip().lower() != "coffer":
        pytest.skip("a coffer config file")
    raw = readme_toml()
    parsed = tomllib.loads(raw)
    assert parsed["listener"]["tls_cert_file"] and parsed["listener"]["tls_key_file"]
    assert parsed["storage"]["url"].startswith("sqlite://")
    assert parsed["audit"]["file_dir"]
    assert parsed["audit_device"][0]["type"] == "file"

    port = pick_port()
    moved = raw.replace("0.0.0.0:8200", f"127.0.0.1:{port}")
    for old in ("/etc/coffer", "/var/lib/coffer", "/var/log/coffer"):
        assert old in moved, f"the README's config no longer uses {old}"
        moved = moved.replace(old, str(tmp_path / old.strip("/")))
    etc, log_dir = tmp_path / "etc/coffer", tmp_path / "var/log/coffer"
    etc.mkdir(parents=True)
    log_dir.mkdir(parents=True, mode=0o700)
    ca = write_tls(etc)
    config = etc / "coffer.toml"
    config.write_text(moved)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "COFFER_"))}
    server_log = tmp_path / "server.log"
    with open(server_log, "wb") as out:
        proc = subprocess.Popen([coffer_binary(), "server", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=tmp_path)
    ctx = ssl.create_default_context(cafile=str(ca))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    addr = f"https://127.0.0.1:{port}"

    def call(method: str, path: str, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(addr + path, data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        try:
            with opener.open(req, timeout=10) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, json.loads(text) if text else None

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = call("GET", "/v1/sys/health")
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)  # poll interval while the listener comes up
        assert status == 501, f"health {status}; log:\n{server_log.read_text()}"  # not initialised
        status, init = call("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        assert status == 200, init
        status, unseal = call("PUT", "/v1/sys/unseal", {"key": init["keys"][0]})
        assert status == 200 and unseal["sealed"] is False, unseal
        root = init["root_token"]
        status, body = call("POST", "/v1/sys/mounts/secret",
                            {"type": "kv", "options": {"version": "2"}}, root)
        assert status == 204, body
        status, body = call("POST", "/v1/secret/data/app", {"data": {"k": "v"}}, root)
        assert status == 200, body
        status, body = call("GET", "/v1/secret/data/app", token=root)
        assert status == 200 and body["data"]["data"] == {"k": "v"}, body
        assert (tmp_path / "var/lib/coffer/coffer.db").exists()
        audit = (log_dir / "audit.log").read_text()
        assert '"path":"secret/data/app"' in audit, audit[-2000:]
    finally:
        _stop(proc)
