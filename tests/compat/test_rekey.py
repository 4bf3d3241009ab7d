"""Rekey with the real `bao` CLI (issue 19 part 2): `bao operator rekey` (sys/rekey/*, with a
token set) and `bao operator rotate-keys` (OpenBao's sys/rotate/root/*), each against its own
Shamir-sealed server initialised 3/2, since the session's dev server has a single share.

With COMPAT_SERVER=bao the same tests run against a real OpenBao (inmem storage), except the
`operator rekey` one: OpenBao 2.5+ answers 405 on sys/rekey/* by default.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import (STARTUP_TIMEOUT, BaoCli, _NO_PROXY_OPENER, _stop, bao_binary, coffer_binary,
                      pick_port)

KIND = os.environ.get("COMPAT_SERVER", "coffer").strip().lower()


class Sealed:
    """A Shamir-sealed server of its own, initialised 3/2 and unsealed."""

    def __init__(self, tmp_path):
        port = pick_port()
        self.addr = f"http://127.0.0.1:{port}"
        if KIND == "bao":
            config = tmp_path / "bao.hcl"
            config.write_text(f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                              f'  tls_disable = true\n}}\ndisable_mlock = true\n'
                              f'api_addr = "{self.addr}"\ncluster_addr = "http://127.0.0.1:{port + 1}"\n')
            cmd = [bao_binary(), "server", "-config", str(config)]
        else:
            config = tmp_path / "coffer.toml"
            config.write_text(f'[listener]\naddress = "127.0.0.1:{port}"\ntls_disable = true\n'
                              f'[storage]\nurl = "sqlite://{tmp_path / "data" / "coffer.db"}"\n'
                              f'[seal]\ntype = "shamir"\n')
            cmd = [coffer_binary(), "server", "--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "COFFER_"))}
        env["COFFER_DISABLE_MLOCK"] = "true"
        self.log = tmp_path / "server.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, cwd=tmp_path)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        status = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                status, _ = self.call("GET", "/v1/sys/seal-status")
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)  # poll interval while the listener comes up
        assert status == 200, f"seal-status {status}; log:\n{self.log.read_text()}"
        status, init = self.call("PUT", "/v1/sys/init", {"secret_shares": 3, "secret_threshold": 2})
        assert status == 200, init
        self.shares = init["keys"]
        self.root = init["root_token"]
        self.unseal(self.shares[:2])
        self.cli = BaoCli(bao_binary(), self.addr, str(tmp_path))

    def call(self, method: str, path: str, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.addr + path, data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        try:
            with _NO_PROXY_OPENER.open(req, timeout=10) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, json.loads(text) if text else None

    def unseal(self, shares) -> bool:
        for k in shares:
            status, body = self.call("PUT", "/v1/sys/unseal", {"key": k})
            if status != 200:
                self.call("PUT", "/v1/sys/unseal", {"reset": True})
                return False
            if body["sealed"] is False:
                return True
        self.call("PUT", "/v1/sys/unseal", {"reset": True})
        return False

    def seal(self):
        status, body = self.call("PUT", "/v1/sys/seal", None, self.root)
        assert status == 204, body

    def stop(self):
        _stop(self.proc)


@pytest.fixture
def sealed(tmp_path):
    s = Sealed(tmp_path)
    try:
        yield s
    finally:
        s.stop()


def _new_shares_in_force(s: Sealed, new, t: int):
    _, status = s.call("GET", "/v1/sys/seal-status")
    assert (status["n"], status["t"]) == (len(new), t), status
    s.seal()
    assert not s.unseal(s.shares[:2]), "the old shares still unseal"
    assert not s.unseal(s.shares), "the old shares still unseal"
    assert s.unseal(new[-t:]), "the new shares do not unseal"


@pytest.mark.skipif(KIND == "bao", reason="OpenBao 2.5+ disables sys/rekey/* (405)")
def test_bao_operator_rekey_with_a_token(sealed):
    cli = sealed.cli
    # Without a token: refused (SEC-19).
    res = cli.run("operator", "rekey", "-init", "-key-shares=4", "-key-threshold=3", token=None)
    assert res.rc == 2 and "403" in res.stderr, res
    init = cli.json("operator", "rekey", "-init", "-key-shares=4", "-key-threshold=3", "-format=json",
                    token=sealed.root)
    assert init["started"] is True and init["n"] == 4 and init["t"] == 3 and init["required"] == 2, init
    nonce = init["nonce"]
    status = cli.json("operator", "rekey", "-status", "-format=json", token=sealed.root)
    assert status["nonce"] == nonce and status["progress"] == 0, status
    cli.ok("operator", "rekey", f"-nonce={nonce}", "-format=json", sealed.shares[0], token=sealed.root)
    done = cli.json("operator", "rekey", f"-nonce={nonce}", "-format=json", sealed.shares[2], token=sealed.root)
    assert done["complete"] is True and len(done["keys"]) == 4, done
    _new_shares_in_force(sealed, done["keys_base64"], 3)


def test_bao_operator_rotate_keys_with_verification(sealed):
    cli = sealed.cli
    res = cli.run("operator", "rotate-keys", "-init", "-key-shares=5", "-key-threshold=3", token=None)
    assert res.rc == 2, res
    init = cli.json("operator", "rotate-keys", "-init", "-key-shares=5", "-key-threshold=3", "-verify",
                    "-format=json", token=sealed.root)
    assert init["started"] is True and init["verification_required"] is True, init
    nonce = init["nonce"]
    cli.ok("operator", "rotate-keys", f"-nonce={nonce}", "-format=json", sealed.shares[1], token=sealed.root)
    done = cli.json("operator", "rotate-keys", f"-nonce={nonce}", "-format=json", sealed.shares[2],
                    token=sealed.root)
    assert done["complete"] is True and done["verification_required"] is True, done
    new = done["keys"]
    assert len(new) == 5
    # Not in force before verification.
    _, status = sealed.call("GET", "/v1/sys/seal-status")
    assert (status["n"], status["t"]) == (3, 2), status
    vstatus = cli.json("operator", "rotate-keys", "-verify", "-status", "-format=json", token=sealed.root)
    vnonce = vstatus["nonce"]
    assert vnonce == done["verification_nonce"], vstatus
    for k in new[:2]:
        cli.ok("operator", "rotate-keys", "-verify", f"-nonce={vnonce}", k, token=sealed.root)
    res = cli.ok("operator", "rotate-keys", "-verify", f"-nonce={vnonce}", new[4], token=sealed.root)
    assert "verification successful" in res.stdout, res
    _new_shares_in_force(sealed, new, 3)


def test_bao_operator_rotate_keys_cancel(sealed):
    cli = sealed.cli
    cli.ok("operator", "rotate-keys", "-init", "-key-shares=2", "-key-threshold=2", token=sealed.root)
    res = cli.run("operator", "rotate-keys", "-init", "-key-shares=2", "-key-threshold=2", token=sealed.root)
    assert res.rc == 2 and "already in progress" in res.stderr, res
    cli.ok("operator", "rotate-keys", "-cancel", token=sealed.root)
    status = cli.json("operator", "rotate-keys", "-status", "-format=json", token=sealed.root)
    assert status["started"] is False, status
    sealed.seal()
    assert sealed.unseal(sealed.shares[:2])
