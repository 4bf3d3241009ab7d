"""Snapshots through the real OpenBao CLI: `bao operator raft snapshot save` (which checks that
the archive ends with a non-empty SHA256SUMS.sealed) and `restore`, and hvac's raft snapshot
calls, against Coffer's `sys/storage/raft/snapshot`.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import coffer_binary

pytestmark = pytest.mark.skipif(os.environ.get("COMPAT_SERVER", "coffer") != "coffer",
                                reason="OpenBao's dev server keeps no raft storage to snapshot")


def test_bao_saves_and_restores_a_snapshot(cli, client, kv_path, tmp_path):
    client.secrets.kv.v2.create_or_update_secret(path=kv_path, secret={"v": "in the snapshot"})
    snap = tmp_path / "backup.snap"
    cli.ok("operator", "raft", "snapshot", "save", str(snap))
    assert snap.stat().st_size > 0
    client.secrets.kv.v2.create_or_update_secret(path=kv_path, secret={"v": "after it"})
    cli.ok("operator", "raft", "snapshot", "restore", str(snap))
    got = client.secrets.kv.v2.read_secret_version(path=kv_path, raise_on_deleted_version=True)
    assert got["data"]["data"] == {"v": "in the snapshot"}
    # Coffer's own CLI reads what bao wrote, offline.
    out = subprocess.run([coffer_binary(), "operator", "snapshot", "inspect", "--format", "json", str(snap)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert '"checksums": "ok"' in out.stdout


def test_bao_refuses_nothing_it_should_not_and_a_damaged_file_changes_nothing(cli, client, kv_path, tmp_path):
    client.secrets.kv.v2.create_or_update_secret(path=kv_path, secret={"v": "kept"})
    snap = tmp_path / "backup.snap"
    cli.ok("operator", "raft", "snapshot", "save", str(snap))
    damaged = tmp_path / "damaged.snap"
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    res = cli.run("operator", "raft", "snapshot", "restore", str(damaged))
    assert res.rc != 0, res
    assert "invalid snapshot" in res.stderr, res
    got = client.secrets.kv.v2.read_secret_version(path=kv_path, raise_on_deleted_version=True)
    assert got["data"]["data"] == {"v": "kept"}
    # Without sudo, no snapshot.
    client.sys.create_or_update_policy(name="no-snap", policy='path "secret/*" { capabilities = ["read"] }')
    token = client.auth.token.create(policies=["no-snap"])["auth"]["client_token"]
    res = cli.run("operator", "raft", "snapshot", "save", str(tmp_path / "x.snap"), token=token)
    assert res.rc != 0 and "permission denied" in res.stderr, res


def test_hvac_takes_a_raft_snapshot(client):
    resp = client.sys.take_raft_snapshot()
    assert resp.status_code == 200
    assert resp.content[:2] == b"\x1f\x8b"  # gzip
