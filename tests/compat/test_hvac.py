"""Drive the server with hvac 2.4.0 (`hvac.Client(url, token='root')`).

hvac picks its exception class from the HTTP status alone (400 InvalidRequest,
403 Forbidden, 404 InvalidPath, ...), so the status codes asserted here are the
contract.  All behaviour asserted here was checked against `bao server -dev`
2.7.2.
"""

from __future__ import annotations

import re

import hvac
import hvac.exceptions as hexc
import pytest

# hvac's own kv.v2.patch() calls read_secret_version() without
# raise_on_deleted_version and so warns about the hvac 3 default change.
pytestmark = pytest.mark.filterwarnings("ignore:The raise_on_deleted_version parameter:DeprecationWarning")

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MP = "secret"  # dev-mode KV v2 mount


def _read(client, path, mount=MP, **kw):
    kw.setdefault("raise_on_deleted_version", True)
    return client.secrets.kv.v2.read_secret_version(path, mount_point=mount, **kw)


def _write(client, path, secret, mount=MP, **kw):
    return client.secrets.kv.v2.create_or_update_secret(path, secret=secret, mount_point=mount, **kw)


def _envelope_ok(resp):
    """Fields every logical response must carry (vaultrs even requires them non-null)."""
    assert isinstance(resp["request_id"], str) and resp["request_id"]
    assert resp["lease_id"] == ""
    assert resp["renewable"] is False
    assert resp["lease_duration"] == 0
    for key in ("wrap_info", "warnings", "auth"):
        assert key in resp


# ---------------------------------------------------------------------------
# sys
# ---------------------------------------------------------------------------


def test_is_authenticated(client, hvac_factory):
    assert client.is_authenticated() is True
    # GET auth/token/lookup-self -> 403 -> False
    assert hvac_factory("not-a-real-token").is_authenticated() is False


def test_read_health_status(client):
    health = client.sys.read_health_status(method="GET")
    assert isinstance(health, dict), health  # 200 -> parsed JSON, no envelope
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert health["standby"] is False
    assert isinstance(health["version"], str) and health["version"]
    assert isinstance(health["server_time_utc"], int)
    assert "data" not in health and "request_id" not in health


def test_is_sealed(client):
    assert client.sys.is_sealed() is False
    status = client.sys.read_seal_status()
    assert status["sealed"] is False
    assert status["initialized"] is True


def test_enable_kv2_and_list_mounts(client, uniq):
    mount = f"hv-{uniq[-12:]}"
    # POST sys/mounts/<mount> with "description":null,"config":null,... -> 204
    resp = client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    assert resp.status_code == 204

    mounts = client.sys.list_mounted_secrets_engines()
    # hvac reads the "data" copy; sys/mounts also repeats every entry at the top level
    for view in (mounts["data"], mounts):
        entry = view[f"{mount}/"]
        assert entry["type"] == "kv"
        assert entry["options"] == {"version": "2"}
    assert mounts["data"]["secret/"]["options"] == {"version": "2"}

    w = _write(client, "app/db", {"user": "u"}, mount=mount)
    assert w["data"]["version"] == 1
    assert _read(client, "app/db", mount=mount)["data"]["data"] == {"user": "u"}

    with pytest.raises(hexc.InvalidRequest, match=f"path is already in use at {mount}/"):
        client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})


# ---------------------------------------------------------------------------
# create / read
# ---------------------------------------------------------------------------


def test_create_and_read_versions(client, kv_path):
    w1 = _write(client, kv_path, {"user": "admin", "n": 1, "flag": True, "nested": {"l": [1, "x"]}})
    _envelope_ok(w1)
    assert w1["data"]["version"] == 1
    assert w1["data"]["destroyed"] is False
    assert w1["data"]["deletion_time"] == ""
    assert w1["data"]["custom_metadata"] is None
    assert RFC3339.match(w1["data"]["created_time"])
    w2 = _write(client, kv_path, {"user": "root"})
    assert w2["data"]["version"] == 2

    latest = _read(client, kv_path)
    _envelope_ok(latest)
    assert latest["data"]["data"] == {"user": "root"}
    assert latest["data"]["metadata"]["version"] == 2
    assert latest["data"]["metadata"]["created_time"] == w2["data"]["created_time"]

    # JSON types survive the round trip (unlike the CLI, hvac sends real JSON values)
    v1 = _read(client, kv_path, version=1)
    assert v1["data"]["data"] == {"user": "admin", "n": 1, "flag": True, "nested": {"l": [1, "x"]}}
    assert v1["data"]["metadata"]["version"] == 1
    # read_secret() is the same call without a version
    assert client.secrets.kv.v2.read_secret(kv_path, mount_point=MP, raise_on_deleted_version=True)[
        "data"]["data"] == {"user": "root"}


def test_create_with_cas(client, kv_path):
    assert _write(client, kv_path, {"v": 1}, cas=0)["data"]["version"] == 1
    # cas=0 means "only if it does not exist"
    with pytest.raises(hexc.InvalidRequest, match="check-and-set parameter did not match the current version"):
        _write(client, kv_path, {"v": "x"}, cas=0)
    assert _write(client, kv_path, {"v": 2}, cas=1)["data"]["version"] == 2
    with pytest.raises(hexc.InvalidRequest, match="check-and-set parameter did not match the current version"):
        _write(client, kv_path, {"v": "stale"}, cas=1)
    with pytest.raises(hexc.InvalidRequest):
        _write(client, kv_path, {"v": "future"}, cas=5)
    latest = _read(client, kv_path)["data"]
    assert latest["data"] == {"v": 2}
    assert latest["metadata"]["version"] == 2


def test_read_missing_secret_raises_invalid_path(client, kv_path):
    # 404 {"errors":[]}
    with pytest.raises(hexc.InvalidPath) as ei:
        _read(client, kv_path)
    assert ei.value.json == {"errors": []}
    # raise_on_deleted_version=False does not help: there is no metadata in the body
    with pytest.raises(hexc.InvalidPath):
        _read(client, kv_path, raise_on_deleted_version=False)
    with pytest.raises(hexc.InvalidPath):
        client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)
    _write(client, kv_path, {"a": 1})
    with pytest.raises(hexc.InvalidPath):
        _read(client, kv_path, version=9)


def test_bad_token_raises_forbidden(client, hvac_factory, kv_path):
    _write(client, kv_path, {"a": 1})
    bad = hvac_factory("not-a-real-token")
    with pytest.raises(hexc.Forbidden, match="permission denied"):
        _read(bad, kv_path)
    # ACLs are checked before the lookup: a missing key is 403, not 404
    with pytest.raises(hexc.Forbidden):
        _read(bad, kv_path + "-missing")
    with pytest.raises(hexc.Forbidden):
        _write(bad, kv_path, {"a": 2})
    with pytest.raises(hexc.Forbidden):
        bad.secrets.kv.v2.list_secrets("compat", mount_point=MP)
    with pytest.raises(hexc.Forbidden):
        bad.sys.list_mounted_secrets_engines()
    # nothing was written
    assert _read(client, kv_path)["data"]["metadata"]["version"] == 1


# ---------------------------------------------------------------------------
# patch / list
# ---------------------------------------------------------------------------


def test_patch(client, kv_path):
    # hvac's patch = GET, merge client-side, POST with options.cas=<version read>
    _write(client, kv_path, {"a": 1, "b": 2})
    out = client.secrets.kv.v2.patch(kv_path, {"b": 20, "c": 3}, mount_point=MP)
    assert out["data"]["version"] == 2
    latest = _read(client, kv_path)["data"]
    assert latest["data"] == {"a": 1, "b": 20, "c": 3}
    assert latest["metadata"]["version"] == 2
    assert _read(client, kv_path, version=1)["data"]["data"] == {"a": 1, "b": 2}


def test_patch_missing_raises_invalid_path(client, kv_path):
    with pytest.raises(hexc.InvalidPath, match="patch only works on existing data"):
        client.secrets.kv.v2.patch(kv_path, {"a": 1}, mount_point=MP)
    # patching a soft-deleted latest version fails the same way (the read is a 404)
    _write(client, kv_path, {"a": 1})
    client.secrets.kv.v2.delete_latest_version_of_secret(kv_path, mount_point=MP)
    with pytest.raises(hexc.InvalidPath, match="patch only works on existing data"):
        client.secrets.kv.v2.patch(kv_path, {"a": 2}, mount_point=MP)


def test_list_secrets(client, kv_path):
    for sub in ("b", "a", "dir/x", "dir/deep/y"):
        _write(client, f"{kv_path}/{sub}", {"v": sub})
    # LIST verb on <mount>/metadata/<prefix>
    resp = client.secrets.kv.v2.list_secrets(kv_path, mount_point=MP)
    _envelope_ok(resp)
    assert resp["data"]["keys"] == ["a", "b", "dir/"]
    assert client.secrets.kv.v2.list_secrets(f"{kv_path}/dir/", mount_point=MP)["data"]["keys"] == ["deep/", "x"]
    with pytest.raises(hexc.InvalidPath):  # empty/missing prefix -> 404
        client.secrets.kv.v2.list_secrets(f"{kv_path}/nothing", mount_point=MP)


# ---------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------


def test_read_secret_metadata(client, kv_path):
    _write(client, kv_path, {"v": 1})
    _write(client, kv_path, {"v": 2})
    resp = client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)
    _envelope_ok(resp)
    md = resp["data"]
    assert md["current_version"] == 2
    assert md["oldest_version"] == 0
    assert md["max_versions"] == 0
    assert md["cas_required"] is False
    assert md["delete_version_after"] == "0s"
    assert md["custom_metadata"] is None
    assert sorted(md["versions"]) == ["1", "2"]  # decimal-string keys
    for v in md["versions"].values():
        assert v["destroyed"] is False
        assert v["deletion_time"] == ""
        assert RFC3339.match(v["created_time"])
    assert md["created_time"] == md["versions"]["1"]["created_time"]
    assert md["updated_time"] == md["versions"]["2"]["created_time"]


def test_update_metadata(client, kv_path):
    _write(client, kv_path, {"v": 1})
    # POST <mount>/metadata/<path> (hvac also sends "delete_version_after":"0s") -> 204
    resp = client.secrets.kv.v2.update_metadata(
        kv_path, max_versions=5, custom_metadata={"owner": "team-a", "env": "prod"}, mount_point=MP)
    assert resp.status_code == 204
    md = client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)["data"]
    assert md["max_versions"] == 5
    assert md["custom_metadata"] == {"owner": "team-a", "env": "prod"}
    assert md["current_version"] == 1
    # the custom metadata is echoed on writes and reads of data
    w = _write(client, kv_path, {"v": 2})
    assert w["data"]["custom_metadata"] == {"owner": "team-a", "env": "prod"}
    assert _read(client, kv_path)["data"]["metadata"]["custom_metadata"] == {"owner": "team-a", "env": "prod"}


def test_update_metadata_before_any_data(client, kv_path):
    # metadata can exist with no versions at all
    client.secrets.kv.v2.update_metadata(kv_path, max_versions=2, custom_metadata={"k": "v"}, mount_point=MP)
    md = client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)["data"]
    assert md["current_version"] == 0
    assert md["versions"] == {}
    assert md["max_versions"] == 2
    with pytest.raises(hexc.InvalidPath):
        _read(client, kv_path, raise_on_deleted_version=False)
    w = _write(client, kv_path, {"z": 1})
    assert w["data"]["version"] == 1
    assert w["data"]["custom_metadata"] == {"k": "v"}


def test_max_versions_pruning(client, kv_path):
    client.secrets.kv.v2.update_metadata(kv_path, max_versions=3, mount_point=MP)
    for i in range(1, 6):
        assert _write(client, kv_path, {"i": i})["data"]["version"] == i
    md = client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)["data"]
    assert md["current_version"] == 5
    assert md["oldest_version"] == 3
    assert sorted(md["versions"]) == ["3", "4", "5"]
    # pruned versions are simply gone: plain 404 (no envelope), even with raise_on_deleted_version=False
    for v in (1, 2):
        with pytest.raises(hexc.InvalidPath) as ei:
            _read(client, kv_path, version=v, raise_on_deleted_version=False)
        assert ei.value.json == {"errors": []}
    assert _read(client, kv_path, version=3)["data"]["data"] == {"i": 3}
    assert _read(client, kv_path)["data"]["data"] == {"i": 5}


# ---------------------------------------------------------------------------
# delete / undelete / destroy
# ---------------------------------------------------------------------------


def test_delete_latest_version(client, kv_path):
    _write(client, kv_path, {"v": 1})
    _write(client, kv_path, {"v": 2})
    resp = client.secrets.kv.v2.delete_latest_version_of_secret(kv_path, mount_point=MP)
    assert resp.status_code == 204

    # the read is a 404 that still carries the full envelope with metadata
    with pytest.raises(hexc.InvalidPath) as ei:
        _read(client, kv_path, raise_on_deleted_version=True)
    body = ei.value.json
    assert body["data"]["data"] is None
    assert body["data"]["metadata"]["version"] == 2
    assert RFC3339.match(body["data"]["metadata"]["deletion_time"])

    # raise_on_deleted_version=False: hvac returns that 404 body (it checks deletion_time != "")
    resp = _read(client, kv_path, raise_on_deleted_version=False)
    _envelope_ok(resp)
    assert resp["data"]["data"] is None
    assert resp["data"]["metadata"]["version"] == 2
    assert resp["data"]["metadata"]["destroyed"] is False
    assert RFC3339.match(resp["data"]["metadata"]["deletion_time"])

    assert _read(client, kv_path, version=1)["data"]["data"] == {"v": 1}
    md = client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)["data"]
    assert md["current_version"] == 2
    assert md["versions"]["2"]["deletion_time"] != ""


def test_delete_and_undelete_secret_versions(client, kv_path):
    for i in (1, 2, 3):
        _write(client, kv_path, {"v": i})
    # POST <mount>/delete/<path> {"versions":[1,2]}
    resp = client.secrets.kv.v2.delete_secret_versions(kv_path, versions=[1, 2], mount_point=MP)
    assert resp.status_code == 204
    for v in (1, 2):
        got = _read(client, kv_path, version=v, raise_on_deleted_version=False)["data"]
        assert got["data"] is None
        assert got["metadata"]["deletion_time"] != ""
        with pytest.raises(hexc.InvalidPath):
            _read(client, kv_path, version=v, raise_on_deleted_version=True)
    assert _read(client, kv_path)["data"]["data"] == {"v": 3}

    resp = client.secrets.kv.v2.undelete_secret_versions(kv_path, versions=[1], mount_point=MP)
    assert resp.status_code == 204
    got = _read(client, kv_path, version=1)["data"]
    assert got["data"] == {"v": 1}
    assert got["metadata"]["deletion_time"] == ""
    # version 2 stays deleted
    assert _read(client, kv_path, version=2, raise_on_deleted_version=False)["data"]["data"] is None


def test_destroy_secret_versions(client, kv_path):
    _write(client, kv_path, {"v": 1})
    _write(client, kv_path, {"v": 2})
    resp = client.secrets.kv.v2.destroy_secret_versions(kv_path, versions=[1], mount_point=MP)
    assert resp.status_code == 204

    with pytest.raises(hexc.InvalidPath) as ei:
        _read(client, kv_path, version=1, raise_on_deleted_version=True)
    meta = ei.value.json["data"]["metadata"]
    assert ei.value.json["data"]["data"] is None
    assert meta["destroyed"] is True
    assert meta["deletion_time"] == ""  # destroyed, not soft-deleted
    # hvac quirk: since deletion_time == "" for a destroyed version, hvac still raises
    # even with raise_on_deleted_version=False.
    with pytest.raises(hexc.InvalidPath):
        _read(client, kv_path, version=1, raise_on_deleted_version=False)

    md = client.secrets.kv.v2.read_secret_metadata(kv_path, mount_point=MP)["data"]
    assert md["versions"]["1"]["destroyed"] is True
    assert md["versions"]["2"]["destroyed"] is False
    # undelete cannot resurrect a destroyed version
    client.secrets.kv.v2.undelete_secret_versions(kv_path, versions=[1], mount_point=MP)
    with pytest.raises(hexc.InvalidPath):
        _read(client, kv_path, version=1)
    assert _read(client, kv_path)["data"]["data"] == {"v": 2}


def test_delete_metadata_and_all_versions(client, kv_path):
    leaf = f"{kv_path}/leaf"
    _write(client, leaf, {"v": 1})
    _write(client, leaf, {"v": 2})
    _write(client, f"{kv_path}/keep", {"v": 1})
    resp = client.secrets.kv.v2.delete_metadata_and_all_versions(leaf, mount_point=MP)
    assert resp.status_code == 204
    for v in (None, 1, 2):
        with pytest.raises(hexc.InvalidPath) as ei:
            _read(client, leaf, version=v, raise_on_deleted_version=False)
        assert ei.value.json == {"errors": []}
    with pytest.raises(hexc.InvalidPath):
        client.secrets.kv.v2.read_secret_metadata(leaf, mount_point=MP)
    assert client.secrets.kv.v2.list_secrets(kv_path, mount_point=MP)["data"]["keys"] == ["keep"]
    # a fresh write starts again at version 1
    assert _write(client, leaf, {"v": "new"})["data"]["version"] == 1


# ---------------------------------------------------------------------------
# engine configuration (own mount, so secret/ is never reconfigured)
# ---------------------------------------------------------------------------


def test_configure_and_read_configuration(client, uniq):
    mount = f"cfg-{uniq[-12:]}"
    client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    kv = client.secrets.kv.v2

    cfg = kv.read_configuration(mount_point=mount)
    _envelope_ok(cfg)
    assert cfg["data"] == {"cas_required": False, "delete_version_after": "0s", "max_versions": 0,
                           "metadata_cas_required": False}  # metadata_cas_required: OpenBao-only

    resp = kv.configure(max_versions=2, cas_required=True, mount_point=mount)
    assert resp.status_code == 204
    cfg = kv.read_configuration(mount_point=mount)["data"]
    assert cfg["max_versions"] == 2
    assert cfg["cas_required"] is True
    assert cfg["delete_version_after"] == "0s"

    # mount-wide cas_required: a write without cas is refused
    with pytest.raises(hexc.InvalidRequest, match="check-and-set parameter required for this call"):
        _write(client, "k", {"v": 0}, mount=mount)
    for i in range(1, 5):
        assert _write(client, "k", {"v": i}, mount=mount, cas=i - 1)["data"]["version"] == i

    # mount-wide max_versions prunes too; the key's own max_versions stays 0
    md = kv.read_secret_metadata("k", mount_point=mount)["data"]
    assert md["current_version"] == 4
    assert md["oldest_version"] == 3
    assert md["max_versions"] == 0
    assert sorted(md["versions"]) == ["3", "4"]
    with pytest.raises(hexc.InvalidPath):
        _read(client, "k", mount=mount, version=2)

    kv.configure(max_versions=0, cas_required=False, mount_point=mount)
    assert kv.read_configuration(mount_point=mount)["data"]["cas_required"] is False
    assert _write(client, "k", {"v": 5}, mount=mount)["data"]["version"] == 5
