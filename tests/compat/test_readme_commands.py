"""The README's operator commands run as written with the real `bao` CLI (issue 14, D95).

The bao CLI sends every `k=v` argument as a string and a repeated key as a list of strings:
`options=version=2` goes out as `{"options":"version=2"}`, `options=a=1 options=b=2` as
`{"options":["a=1","b=2"]}`, and `bound_claims='{"repository":"org/app"}'` as a string that holds
JSON. The key-pair forms work on OpenBao too (checked against `bao server -dev` 2.7.2); OpenBao
refuses the JSON string for a map field, Coffer takes it, so that test runs against Coffer only.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

README = Path(__file__).resolve().parents[2] / "README.md"
COFFER_ONLY = pytest.mark.skipif(
    os.environ.get("COMPAT_SERVER", "coffer").strip().lower() == "bao",
    reason="OpenBao refuses a JSON string for a map field; Coffer takes it (D95)",
)


def readme_command(prefix: str) -> list[str]:
    """The README command that starts with `prefix`, continuation lines joined, split as a shell would."""
    text = README.read_text()
    m = re.search(rf"^{re.escape(prefix)}(?:[^\n]*\\\n)*[^\n]*$", text, re.MULTILINE)
    assert m, f"README.md has no command starting with {prefix!r}"
    return shlex.split(m.group(0).replace("\\\n", " "))


def test_mount_options_as_key_pairs(cli, uniq):
    one, two = f"kv-{uniq[-12:]}", f"kv2-{uniq[-12:]}"
    cli.ok("write", f"sys/mounts/{one}", "type=kv", "options=version=2")
    cli.ok("write", f"sys/mounts/{two}", "type=kv", "options=version=2", "options=team=core")
    mounts = cli.json("secrets", "list", "-format=json")
    assert mounts[f"{one}/"]["options"] == {"version": "2"}
    assert mounts[f"{two}/"]["options"]["version"] == "2"
    cli.ok("kv", "put", f"{one}/app", "user=u1")
    for m in (one, two):
        cli.ok("secrets", "disable", m)


@COFFER_ONLY
def test_readme_jwt_role_command_as_written(cli, uniq):
    path = f"jwt-{uniq[-12:]}"
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    cli.ok("auth", "enable", f"-path={path}", "jwt")
    # The README configures GitHub's JWKS URL; the test has no network, so a local key stands in.
    cli.ok("write", f"auth/{path}/config", f"jwt_validation_pubkeys={pem}")
    argv = readme_command("bao write auth/jwt/role/deploy")
    assert argv[:3] == ["bao", "write", "auth/jwt/role/deploy"]
    cli.ok("write", f"auth/{path}/role/deploy", *argv[3:])
    role = cli.json("read", "-format=json", f"auth/{path}/role/deploy")["data"]
    assert role["bound_claims"] == {"repository": "org/app", "ref": "refs/heads/main"}
    assert role["bound_audiences"] == ["coffer"]
    assert role["token_policies"] == ["deploy"]
    # The same map as k=v pairs, repeated, and the mappings likewise.
    cli.ok("write", f"auth/{path}/role/pairs", "user_claim=sub", "bound_audiences=coffer",
           "bound_claims=repository=org/app", "bound_claims=ref=refs/heads/main",
           "claim_mappings=repository=repo", "claim_mappings=ref=ref")
    role = cli.json("read", "-format=json", f"auth/{path}/role/pairs")["data"]
    assert role["bound_claims"] == {"repository": "org/app", "ref": "refs/heads/main"}
    assert role["claim_mappings"] == {"repository": "repo", "ref": "ref"}
    cli.ok("auth", "disable", path)


@COFFER_ONLY
def test_mount_options_as_a_json_string(cli, uniq):
    m = f"kvj-{uniq[-12:]}"
    cli.ok("write", f"sys/mounts/{m}", "type=kv", 'options={"version":"2"}')
    assert cli.json("secrets", "list", "-format=json")[f"{m}/"]["options"] == {"version": "2"}
    cli.ok("secrets", "disable", m)
