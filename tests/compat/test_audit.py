"""Audit devices through the real clients: `bao audit enable/list/disable` and hvac's
`sys.enable_audit_device`, `list_enabled_audit_devices`, `calculate_hash`.

OpenBao 2.7 refuses to enable audit devices through the API (they come from its config file
only), so against `COMPAT_SERVER=bao` these tests are skipped; Coffer accepts them (in dev mode,
any path; otherwise inside `audit.file_dir`).
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("COMPAT_SERVER", "coffer").strip().lower() == "bao",
    reason="OpenBao 2.7 takes audit devices from its config file only",
)


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_bao_cli_enables_lists_and_disables_a_file_device(cli, uniq, tmp_path):
    log = tmp_path / "audit.log"
    cli.ok("audit", "enable", f"-path={uniq}", "file", f"file_path={log}")
    listed = cli.ok("audit", "list", "-format=json").json()
    assert listed[f"{uniq}/"]["type"] == "file"
    assert listed[f"{uniq}/"]["options"]["file_path"] == str(log)
    cli.ok("kv", "put", f"secret/{uniq}", "password=hunter2-compat")
    cli.ok("audit", "disable", uniq)
    entries = _lines(log)
    kinds = {e["type"] for e in entries}
    assert {"checkpoint", "request", "response"} <= kinds
    assert "hunter2-compat" not in log.read_text()
    assert uniq + "/" not in cli.ok("audit", "list", "-format=json").stdout


def test_hvac_audit_hash_matches_the_log(client, uniq, tmp_path):
    log = tmp_path / "audit.log"
    client.sys.enable_audit_device(device_type="file", path=uniq, options={"file_path": str(log)})
    assert f"{uniq}/" in client.sys.list_enabled_audit_devices()["data"]
    client.secrets.kv.v2.create_or_update_secret(path=uniq, secret={"api_key": "k-123"})
    expected = client.sys.calculate_hash(path=uniq, input_to_hash="k-123")["data"]["hash"]
    client.sys.disable_audit_device(path=uniq)
    writes = [e for e in _lines(log) if e["type"] == "request" and e["request"]["path"] == f"secret/data/{uniq}"]
    assert writes and writes[0]["request"]["data"]["data"]["api_key"] == expected
    assert expected.startswith("hmac-sha256:")
