"""TLS certificate login (issue 20 part 1) with real clients: `bao login -method=cert` and hvac's
`auth.cert.login`, against a Coffer TLS server of its own (the session's dev server is plain
HTTP). Certificates are made with the openssl CLI: a CA, a server certificate for 127.0.0.1 and
client certificates (one the role accepts, one from another CA).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import hvac
import pytest
import requests

from conftest import STARTUP_TIMEOUT, _stop, bao_binary, coffer_binary, pick_port

KIND = os.environ.get("COMPAT_SERVER", "coffer").strip().lower()
pytestmark = pytest.mark.skipif(KIND != "coffer", reason="starts its own Coffer TLS server")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=d)


def make_leaf(d, ca, name, cn, ext):
    (d / f"{name}.cnf").write_text(ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.cnf", cwd=d)
    os.chmod(d / f"{name}.key", 0o600)


@pytest.fixture
def tls_server(tmp_path):
    d = tmp_path
    make_ca(d, "ca")
    make_ca(d, "other")
    make_leaf(d, "ca", "server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    client_ext = "extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://td/ns/prod/sa/app\n"
    make_leaf(d, "ca", "client", "app1", client_ext)
    make_leaf(d, "other", "stranger", "app1", client_ext)
    port = pick_port()
    addr = f"https://127.0.0.1:{port}"
    (d / "data").mkdir()
    config = d / "coffer.toml"
    config.write_text(f'[listener]\naddress = "127.0.0.1:{port}"\n'
                      f'tls_cert_file = "{d / "server.pem"}"\ntls_key_file = "{d / "server.key"}"\n'
                      f'[storage]\nurl = "sqlite://{d / "data" / "coffer.db"}"\n[seal]\ntype = "shamir"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "COFFER_"))}
    env["COFFER_DISABLE_MLOCK"] = "true"
    log = d / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([coffer_binary(), "server", "--config", str(config)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=d)
    s = requests.Session()
    s.trust_env = False
    s.verify = str(d / "ca.pem")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                s.get(f"{addr}/v1/sys/seal-status", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.05)  # poll interval while the listener comes up
        init = s.put(f"{addr}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=10).json()
        assert s.put(f"{addr}/v1/sys/unseal", json={"key": init["keys"][0]}, timeout=10).json()["sealed"] is False
        root = init["root_token"]
        h = {"X-Vault-Token": root}
        assert s.post(f"{addr}/v1/sys/auth/cert", json={"type": "cert"}, headers=h, timeout=10).status_code == 204
        r = s.post(f"{addr}/v1/auth/cert/certs/web", headers=h, timeout=10,
                   json={"certificate": (d / "ca.pem").read_text(), "allowed_uri_sans": "spiffe://td/ns/prod/*",
                         "token_policies": "app"})
        assert r.status_code == 204, r.text
        yield {"addr": addr, "dir": d, "root": root}
    finally:
        _stop(proc)


def bao(srv, *args, cert="client", positional=()):
    d = srv["dir"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"BAO_ADDR": srv["addr"], "BAO_CACERT": str(d / "ca.pem"), "HOME": str(d), "NO_PROXY": "*"})
    # Flags before positional arguments: Go's flag parsing stops at the first non-flag.
    cmd = [bao_binary(), *args, f"-client-cert={d / f'{cert}.pem'}", f"-client-key={d / f'{cert}.key'}",
           *positional]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)


def test_bao_login_method_cert(tls_server):
    r = bao(tls_server, "login", "-method=cert", "-format=json", "-no-store", positional=["name=web"])
    assert r.returncode == 0, r.stderr
    auth = json.loads(r.stdout)["auth"]
    assert auth["metadata"]["cert_name"] == "web"
    assert auth["metadata"]["common_name"] == "app1"
    assert "app" in auth["policies"]
    # Without a name the matching role is found.
    r = bao(tls_server, "login", "-method=cert", "-format=json", "-no-store")
    assert r.returncode == 0, r.stderr
    # A certificate from another CA is refused with Vault's 400.
    r = bao(tls_server, "login", "-method=cert", "-no-store", cert="stranger")
    assert r.returncode != 0
    assert "Code: 400" in r.stderr and "invalid certificate or no client certificate supplied" in r.stderr


def test_hvac_cert_login(tls_server):
    d = tls_server["dir"]
    client = hvac.Client(url=tls_server["addr"], verify=str(d / "ca.pem"),
                         cert=(str(d / "client.pem"), str(d / "client.key")))
    client.session.trust_env = False
    resp = client.auth.cert.login(name="web")
    assert resp["auth"]["metadata"]["cert_name"] == "web"
    assert client.is_authenticated()
    # The token renews over the same connection identity (SEC-15) ...
    assert client.auth.token.renew_self()["auth"]["client_token"] == client.token
    # ... and not with another certificate.
    other = hvac.Client(url=tls_server["addr"], verify=str(d / "ca.pem"), token=client.token,
                        cert=(str(d / "stranger.pem"), str(d / "stranger.key")))
    other.session.trust_env = False
    with pytest.raises(hvac.exceptions.InvalidRequest):
        other.auth.token.renew_self()
    with pytest.raises(hvac.exceptions.InvalidRequest):
        other.auth.cert.login(name="web")
