"""The README's "Try it" section runs as written (issue 14, D105).

The first block (build, PATH, start) is checked for its exact commands, and the dev server is
started the way it says, on a free port. The following `sh` blocks then run in order in one
`bash -euo pipefail`, with `coffer` and `bao` on PATH, `127.0.0.1:8200` replaced by the server's
address, and nothing else changed; the `python` block runs the same way. Every command must exit
0 and no answer may hold `"errors"`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT_TOKEN, _start, _stop, bao_binary, coffer_binary

README = Path(__file__).resolve().parents[2] / "README.md"
TRY_IT_HEADING = "## Try it"
NEXT_HEADING = "### A real server"
START_BLOCK = [
    "cargo build --release",
    "export PATH=$PWD/target/release:$PATH",
    "coffer server --dev --dev-root-token-id root",
]


def try_it_blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block between "## Try it" and the next subsection."""
    text = README.read_text()
    start = text.index(TRY_IT_HEADING)
    end = text.index(NEXT_HEADING, start)
    return re.findall(r"^```(\w+)\n(.*?)^```$", text[start:end], re.MULTILINE | re.DOTALL)


def strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


@pytest.fixture
def dev_server(tmp_path):
    if os.environ.get("COMPAT_SERVER", "coffer").strip().lower() != "coffer":
        pytest.skip("the README starts coffer itself")
    srv = _start("coffer", str(tmp_path))
    try:
        yield srv
    finally:
        _stop(srv.proc)


def test_readme_start_block_builds_first_then_starts():
    lang, body = try_it_blocks()[0]
    assert lang == "sh"
    lines = [strip_comment(line) for line in body.splitlines() if strip_comment(line)]
    assert lines == START_BLOCK, f"README's first Try-it block changed: {lines}"


def test_readme_try_it_blocks_run_as_written(dev_server, tmp_path):
    blocks = try_it_blocks()[1:]
    assert [lang for lang, _ in blocks].count("sh") >= 3, blocks
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(coffer_binary(), bindir / "coffer")
    os.symlink(bao_binary(), bindir / "bao")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "COFFER_"))}
    env.update({
        "PATH": f"{bindir}:{env.get('PATH', '')}",
        "HOME": str(home),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    host = dev_server.addr.removeprefix("http://")
    shell = "\n".join(body for lang, body in blocks if lang == "sh").replace("127.0.0.1:8200", host)
    assert f"VAULT_TOKEN={ROOT_TOKEN}" in shell
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    report = f"exit {res.returncode}\n--- stdout ---\n{res.stdout}\n--- stderr ---\n{res.stderr}"
    assert res.returncode == 0, report
    assert '"errors"' not in res.stdout, report
    assert "key is set" in res.stdout, report
    assert res.stdout.count('"n3w"') >= 1, report  # the unwrapped answer holds the cas write
    # `kv undelete` brought back the version that `kv delete` removed: none is left deleted.
    meta = subprocess.run(["bao", "kv", "metadata", "get", "-format=json", "secret/app/api"],
                          env={**env, "VAULT_ADDR": dev_server.addr, "VAULT_TOKEN": ROOT_TOKEN},
                          capture_output=True, text=True, timeout=30)
    assert meta.returncode == 0, meta.stderr
    versions = json.loads(meta.stdout)["data"]["versions"]
    assert len(versions) == 3, versions
    deleted = [v for v, info in versions.items() if info["deletion_time"]]
    assert deleted == [], f"versions still deleted after the README's undelete: {deleted}"

    for lang, body in blocks:
        if lang != "python":
            continue
        code = body.replace("127.0.0.1:8200", host)
        res = subprocess.run(["python3", "-c", code], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"python block failed:\n{res.stdout}\n{res.stderr}"
        assert "s3cr3t" in res.stdout


def fenced_block_starting(first_line: str) -> str:
    text = README.read_text()
    for _lang, body in re.findall(r"^```(\w+)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        if body.startswith(first_line):
            return body
    raise AssertionError(f"README.md has no block starting with {first_line!r}")


def test_readme_staging_label_outputs_are_real(dev_server, tmp_path):
    body = fenced_block_starting("bao kv put secret/app/staged")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "COFFER_"))}
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(bao_binary(), bindir / "bao")
    env.update({"PATH": f"{bindir}:{env.get('PATH', '')}", "HOME": str(tmp_path),
                "VAULT_ADDR": dev_server.addr, "VAULT_TOKEN": ROOT_TOKEN,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", body], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    report = f"exit {res.returncode}\n--- stdout ---\n{res.stdout}\n--- stderr ---\n{res.stderr}"
    assert res.returncode == 0 and '"errors"' not in res.stdout, report
    # curl prints each answer without a newline: pick the stage maps out of the stream.
    stages = [json.loads(m) for m in re.findall(r'"stages":(\{[^}]*\})', res.stdout)]
    assert stages == [{"current": 1, "pending": 2}, {"current": 2, "pending": 2, "previous": 1}], report
    # The outputs the README shows are the ones the server gave.
    for shown in stages:
        assert json.dumps({"stages": shown}, separators=(",", ":")) in body


def test_readme_links_and_paths_work_in_a_clone():
    text = README.read_text()
    root = README.parent
    assert "../shared" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        assert (root / target).exists(), f"README links to {target}, which a clone does not have"
    for script in re.findall(r"\b(bench/[\w.]+\.sh)\b", text):
        assert (root / script).exists(), f"README names {script}, which a clone does not have"


def test_readme_uses_no_variable_it_never_set():
    text = README.read_text()
    for _lang, body in re.findall(r"^```(\w+)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        for var in ("TOKEN", "ADDR", "ROOT"):
            if re.search(rf"\${var}\b", body):
                assert re.search(rf"\b{var}=", body), f"${var} is used but never set in:\n{body}"
