"""hvac 2.4.0 driving the token store, ACL policies (legacy and current endpoints),
capabilities and response wrapping. Checked against `bao server -dev` 2.7.2 too."""

from __future__ import annotations

import hvac.exceptions as hexc
import pytest

POLICY = 'path "secret/data/{p}/*" {{\n  capabilities = ["read", "create", "update"]\n}}\n'


def test_policy_write_read_list_delete(client, uniq):
    text = POLICY.format(p=uniq)
    client.sys.create_or_update_policy(name=uniq, policy=text)  # legacy PUT sys/policy/<name>
    assert client.sys.read_policy(name=uniq)["data"]["rules"] == text
    assert uniq in client.sys.list_policies()["data"]["policies"]
    assert uniq in client.sys.list_acl_policies()["data"]["keys"]
    assert client.sys.read_acl_policy(name=uniq)["data"]["policy"] == text
    client.sys.delete_policy(name=uniq)
    with pytest.raises(hexc.InvalidPath):
        client.sys.read_acl_policy(name=uniq)


def test_invalid_policy_is_rejected(client, uniq):
    with pytest.raises(hexc.InvalidRequest) as e:
        client.sys.create_or_update_acl_policy(name=uniq, policy='path "x" { capabilities = ["reed"] }')
    assert 'invalid capability "reed"' in str(e.value)


def test_token_lifecycle(client, hvac_factory, uniq):
    create = 'path "auth/token/create" {\n  capabilities = ["update"]\n}\n'
    client.sys.create_or_update_acl_policy(name=uniq, policy=POLICY.format(p=uniq) + create)
    created = client.auth.token.create(policies=[uniq], ttl="1h", renewable=True, meta={"team": "x"})
    auth = created["auth"]
    assert sorted(auth["policies"]) == sorted([uniq, "default"])
    assert auth["lease_duration"] == 3600
    token = auth["client_token"]
    user = hvac_factory(token)
    assert user.is_authenticated()
    me = user.auth.token.lookup_self()["data"]
    assert me["meta"] == {"team": "x"} and me["accessor"] == auth["accessor"]
    assert client.auth.token.lookup(token)["data"]["id"] == token
    assert client.auth.token.lookup_accessor(auth["accessor"])["data"]["id"] == ""
    renewed = client.auth.token.renew(token, increment="2h")
    assert renewed["auth"]["lease_duration"] == 7200
    assert user.auth.token.renew_self()["auth"]["client_token"] == token
    # The token can write where its policy says, and nowhere else.
    user.secrets.kv.v2.create_or_update_secret(f"{uniq}/db", secret={"pw": "x"}, mount_point="secret")
    with pytest.raises(hexc.Forbidden):
        user.secrets.kv.v2.read_secret_version("elsewhere", mount_point="secret", raise_on_deleted_version=True)
    child = user.auth.token.create(policies=[uniq])["auth"]["client_token"]
    client.auth.token.revoke(token)
    assert not user.is_authenticated()
    assert not hvac_factory(child).is_authenticated(), "revoking the parent revokes the child"


def test_orphan_and_revoke_self(client, hvac_factory):
    orphan = client.auth.token.create_orphan(policies=["default"])["auth"]
    assert orphan["orphan"] is True
    user = hvac_factory(orphan["client_token"])
    user.auth.token.revoke_self()
    assert not user.is_authenticated()


def test_child_policies_must_be_subset(client, hvac_factory, uniq):
    client.sys.create_or_update_acl_policy(
        name=uniq, policy='path "auth/token/create" {\n  capabilities = ["update"]\n}\n'
    )
    parent = client.auth.token.create(policies=[uniq])["auth"]["client_token"]
    with pytest.raises(hexc.InvalidRequest) as e:
        hvac_factory(parent).auth.token.create(policies=["some-other-policy"])
    assert "child policies must be subset of parent" in str(e.value)


def test_capabilities(client, uniq):
    client.sys.create_or_update_acl_policy(name=uniq, policy=POLICY.format(p=uniq))
    token = client.auth.token.create(policies=[uniq])["auth"]["client_token"]
    caps = client.sys.get_capabilities(paths=[f"secret/data/{uniq}/x"], token=token)
    assert caps["capabilities"] == ["create", "read", "update"]
    assert client.sys.get_capabilities(paths=["sys/seal"], token=token)["capabilities"] == ["deny"]


def test_wrap_and_unwrap(client, hvac_factory):
    wrapped = client.sys.wrap(payload={"k": "v"}, ttl="60s")
    wrap_token = wrapped["wrap_info"]["token"]
    assert wrapped["wrap_info"]["ttl"] == 60
    looked = client.adapter.post("/v1/sys/wrapping/lookup", json={"token": wrap_token})
    assert looked["data"]["creation_ttl"] == 60
    unwrapped = hvac_factory(wrap_token).sys.unwrap()
    assert unwrapped["data"] == {"k": "v"}
    with pytest.raises((hexc.InvalidRequest, hexc.Forbidden)):
        hvac_factory(wrap_token).sys.unwrap()
