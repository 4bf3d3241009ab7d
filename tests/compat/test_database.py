"""Dynamic database credentials through the real clients: hvac's `secrets.database` and
`sys.*_lease`, and the `bao` CLI's `read …/creds/…` and `lease lookup/renew/revoke`, against the
local PostgreSQL (127.0.0.1:5432, the database named by COFFER_TEST_PG_URL). Runs unchanged
against OpenBao (`COMPAT_SERVER=bao`), which has the same plugin built in.
"""

from __future__ import annotations

import os
import subprocess
import time
from urllib.parse import urlparse

import pytest

PG = urlparse(os.environ.get("COFFER_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))


def _psql(sql: str) -> str:
    out = subprocess.run(
        ["psql", "-h", PG.hostname or "127.0.0.1", "-p", str(PG.port or 5432), "-U", PG.username or "postgres",
         "-d", (PG.path or "/postgres").lstrip("/") or "postgres", "-tAc", sql],
        capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def _role_exists(name: str) -> bool:
    return _psql(f"select count(*) from pg_roles where rolname = '{name}'") == "1"


@pytest.fixture
def db_mount(client, uniq):
    client.sys.enable_secrets_engine("database", path=uniq)
    url = (f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG.hostname or '127.0.0.1'}:{PG.port or 5432}"
           f"/{(PG.path or '/postgres').lstrip('/') or 'postgres'}?sslmode=disable")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", connection_url=url, username=PG.username or "postgres",
        password="unused-with-trust-auth", allowed_roles=["ro"], mount_point=uniq)
    client.secrets.database.create_role(
        name="ro", db_name="pg", mount_point=uniq, default_ttl="1h", max_ttl="24h",
        creation_statements=["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"])
    yield uniq
    client.sys.disable_secrets_engine(uniq)


def test_hvac_generates_looks_up_renews_and_revokes_credentials(client, db_mount):
    creds = client.secrets.database.generate_credentials(name="ro", mount_point=db_mount)
    lease_id, user = creds["lease_id"], creds["data"]["username"]
    assert lease_id.startswith(f"{db_mount}/creds/ro/")
    assert creds["renewable"] is True and creds["lease_duration"] == 3600
    assert _role_exists(user)
    looked = client.sys.read_lease(lease_id=lease_id)
    assert looked["data"]["id"] == lease_id and looked["data"]["renewable"] is True
    renewed = client.sys.renew_lease(lease_id=lease_id, increment=600)
    assert renewed["lease_duration"] == 600
    listed = client.sys.list_leases(prefix=f"{db_mount}/creds/ro/")
    assert lease_id.rsplit("/", 1)[1] in listed["data"]["keys"]
    client.sys.revoke_lease(lease_id=lease_id)
    assert not _role_exists(user)
    role = client.secrets.database.read_role(name="ro", mount_point=db_mount)
    assert role["data"]["db_name"] == "pg" and role["data"]["default_ttl"] == 3600
    cfg = client.secrets.database.read_connection(name="pg", mount_point=db_mount)
    assert "password" not in cfg["data"]["connection_details"]


def test_bao_cli_reads_credentials_and_manages_the_lease(cli, db_mount):
    creds = cli.json("read", "-format=json", f"{db_mount}/creds/ro")
    lease_id, user = creds["lease_id"], creds["data"]["username"]
    assert _role_exists(user)
    assert cli.json("lease", "lookup", "-format=json", lease_id)["data"]["id"] == lease_id
    assert cli.json("lease", "renew", "-format=json", "-increment=900", lease_id)["lease_duration"] == 900
    # `-sync`: the revocation is done when the command returns.
    cli.ok("lease", "revoke", "-sync", lease_id)
    assert not _role_exists(user)
    # Without it the CLI sends `sync=false`: the server answers 202 and revokes in the background.
    creds = cli.json("read", "-format=json", f"{db_mount}/creds/ro")
    cli.ok("lease", "revoke", creds["lease_id"])
    deadline = time.monotonic() + 15
    while _role_exists(creds["data"]["username"]):
        assert time.monotonic() < deadline, "a queued revocation did not drop the role within 15 s"
        time.sleep(0.05)
    cli.ok("lease", "revoke", "-prefix", f"{db_mount}/creds/ro")
