"""hvac 2.4.0 logging in with a JWT signed by a key pair made in the test (the CI pipeline flow).
Checked against `bao server -dev` 2.7.2 too."""

from __future__ import annotations

import time

import hvac.exceptions as hexc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://ci.example.test"


@pytest.fixture
def jwt_mount(client, uniq):
    key = ec.generate_private_key(ec.SECP256R1())
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    path = f"jwt-{uniq[-12:]}"
    client.sys.enable_auth_method("jwt", path=path)
    client.auth.jwt.configure(jwt_validation_pubkeys=[public_pem], bound_issuer=ISSUER, path=path)
    client.auth.jwt.create_role(
        name="deploy",
        role_type="jwt",
        allowed_redirect_uris=[],
        bound_audiences=["coffer"],
        user_claim="sub",
        bound_claims={"repository": "org/app"},
        claim_mappings={"repository": "repo"},
        token_policies=["default"],
        token_ttl="10m",
        path=path,
    )
    yield path, key
    client.sys.disable_auth_method(path)


def _token(key, **overrides):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "coffer", "sub": "repo:org/app:ref:main", "repository": "org/app",
              "iat": now, "nbf": now - 5, "exp": now + 300}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="ES256")


def test_jwt_login_gives_a_working_token(client, hvac_factory, jwt_mount):
    path, key = jwt_mount
    login = client.auth.jwt.jwt_login(role="deploy", jwt=_token(key), path=path, use_token=False)
    auth = login["auth"]
    assert "default" in auth["policies"]
    assert auth["metadata"]["repo"] == "org/app"
    assert auth["lease_duration"] == 600
    me = hvac_factory(auth["client_token"]).auth.token.lookup_self()["data"]
    assert me["meta"]["repo"] == "org/app"


@pytest.mark.parametrize(
    "overrides",
    [{"aud": "someone-else"}, {"repository": "org/other"}, {"iss": "https://evil.test"},
     {"exp": int(time.time()) - 3600}],
    ids=["wrong-audience", "wrong-claim", "wrong-issuer", "expired"],
)
def test_jwt_login_refuses_bad_tokens(client, jwt_mount, overrides):
    path, key = jwt_mount
    with pytest.raises(hexc.InvalidRequest):
        client.auth.jwt.jwt_login(role="deploy", jwt=_token(key, **overrides), path=path, use_token=False)


def test_jwt_login_refuses_another_key(client, jwt_mount):
    path, _ = jwt_mount
    impostor = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(hexc.InvalidRequest):
        client.auth.jwt.jwt_login(role="deploy", jwt=_token(impostor), path=path, use_token=False)
