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


# ---------------------------------------------------------------------------
# auth methods: approle and userpass (each test on its own mount)
# ---------------------------------------------------------------------------


def test_approle_role_secret_id_and_login(client, hvac_factory, uniq):
    mount = f"ar-{uniq[-12:]}"
    ar = client.auth.approle
    resp = client.sys.enable_auth_method("approle", path=mount)
    assert resp.status_code == 204
    assert client.sys.list_auth_methods()["data"][f"{mount}/"]["type"] == "approle"

    # hvac turns token_policies into the comma string "app"
    resp = ar.create_or_update_approle("svc", token_policies=["app"], token_ttl="20m", mount_point=mount)
    assert resp.status_code == 204
    role = ar.read_role("svc", mount_point=mount)
    _envelope_ok(role)
    assert role["data"]["token_policies"] == ["app"]
    assert role["data"]["token_ttl"] == 1200
    assert role["data"]["bind_secret_id"] is True
    assert role["data"]["secret_id_num_uses"] == 0
    assert ar.list_roles(mount_point=mount)["data"]["keys"] == ["svc"]

    role_id = ar.read_role_id("svc", mount_point=mount)["data"]["role_id"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", role_id)
    generated = ar.generate_secret_id("svc", mount_point=mount)["data"]
    secret_id, accessor = generated["secret_id"], generated["secret_id_accessor"]
    assert len(secret_id) == 36
    assert generated["secret_id_ttl"] == 0 and generated["secret_id_num_uses"] == 0
    assert ar.list_secret_id_accessors("svc", mount_point=mount)["data"]["keys"] == [accessor]
    assert ar.read_secret_id_accessor("svc", accessor, mount_point=mount)["data"]["secret_id_accessor"] == accessor

    app = hvac_factory("")
    auth = app.auth.approle.login(role_id, secret_id, mount_point=mount)["auth"]
    assert auth["policies"] == ["app", "default"]
    assert auth["metadata"]["role_name"] == "svc"
    assert auth["orphan"] is True
    assert auth["lease_duration"] == 1200
    assert app.token == auth["client_token"]  # login(use_token=True) switches the client over
    assert app.is_authenticated() is True
    me = app.auth.token.lookup_self()["data"]
    assert me["policies"] == ["app", "default"]
    assert me["meta"]["role_name"] == "svc"
    assert me["path"] == f"auth/{mount}/login"

    anon = hvac_factory("")
    # wrong secret and unknown role: the same 400
    for rid, sid in ((role_id, "wrong"), ("no-such-role", secret_id)):
        with pytest.raises(hexc.InvalidRequest) as ei:
            anon.auth.approle.login(rid, sid, mount_point=mount)
        assert ei.value.errors == ["invalid role or secret ID"]
    # OpenBao's quirk: a missing role_id is a plugin error (500)
    with pytest.raises(hexc.InternalServerError, match="missing role_id"):
        anon.auth.approle.login("", secret_id, mount_point=mount)

    resp = ar.destroy_secret_id_accessor("svc", accessor, mount_point=mount)
    assert resp.status_code == 204
    with pytest.raises(hexc.InvalidRequest, match="invalid role or secret ID"):
        anon.auth.approle.login(role_id, secret_id, mount_point=mount)
    with pytest.raises(hexc.InvalidPath):
        ar.list_secret_id_accessors("svc", mount_point=mount)


def test_approle_secret_id_num_uses(client, hvac_factory, uniq):
    mount = f"ar-{uniq[-12:]}"
    client.sys.enable_auth_method("approle", path=mount)
    ar = client.auth.approle
    ar.create_or_update_approle("once", token_policies=["app"], secret_id_num_uses=1, mount_point=mount)
    role_id = ar.read_role_id("once", mount_point=mount)["data"]["role_id"]
    generated = ar.generate_secret_id("once", mount_point=mount)["data"]
    assert generated["secret_id_num_uses"] == 1
    app = hvac_factory("")
    assert app.auth.approle.login(role_id, generated["secret_id"], mount_point=mount)["auth"]["client_token"]
    with pytest.raises(hexc.InvalidRequest, match="invalid role or secret ID"):
        hvac_factory("").auth.approle.login(role_id, generated["secret_id"], mount_point=mount)


def test_userpass_user_and_login(client, hvac_factory, uniq):
    mount = f"up-{uniq[-12:]}"
    up = client.auth.userpass
    resp = client.sys.enable_auth_method("userpass", path=mount)
    assert resp.status_code == 204

    resp = up.create_or_update_user("alice", password="correct horse", policies=["app"], token_ttl="1h",
                                    mount_point=mount)
    assert resp.status_code == 204
    user = up.read_user("alice", mount_point=mount)
    _envelope_ok(user)
    assert user["data"]["token_policies"] == ["app"]
    assert user["data"]["token_ttl"] == 3600
    assert "password" not in user["data"] and "password_hash" not in user["data"]
    assert "correct horse" not in str(user)
    assert up.list_user(mount_point=mount)["data"]["keys"] == ["alice"]

    app = hvac_factory("")
    auth = app.auth.userpass.login("alice", "correct horse", mount_point=mount)["auth"]
    assert auth["policies"] == ["app", "default"]
    assert auth["metadata"] == {"username": "alice"}
    assert auth["lease_duration"] == 3600
    assert app.token == auth["client_token"]
    me = app.auth.token.lookup_self()["data"]
    assert me["meta"] == {"username": "alice"}
    # OpenBao records the request path (auth/<mount>/login/alice); Coffer, for now, auth/<mount>/login
    assert me["path"].startswith(f"auth/{mount}/login")

    anon = hvac_factory("")
    # wrong password and unknown user: the same 400
    for name, pw in (("alice", "wrong"), ("nobody", "correct horse")):
        with pytest.raises(hexc.InvalidRequest) as ei:
            anon.auth.userpass.login(name, pw, mount_point=mount)
        assert ei.value.errors == ["invalid username or password"]

    resp = up.update_password_on_user("alice", "new horse", mount_point=mount)
    assert resp.status_code == 204
    with pytest.raises(hexc.InvalidRequest, match="invalid username or password"):
        anon.auth.userpass.login("alice", "correct horse", mount_point=mount)
    assert anon.auth.userpass.login("alice", "new horse", mount_point=mount)["auth"]["client_token"]

    resp = up.delete_user("alice", mount_point=mount)
    assert resp.status_code == 204
    with pytest.raises(hexc.InvalidPath):
        up.read_user("alice", mount_point=mount)
