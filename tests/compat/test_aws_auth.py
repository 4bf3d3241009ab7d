"""AWS IAM login with real clients, against moto's server standing in for STS and IAM: hvac's
`auth.aws.iam_login` (hvac's own SigV4 signer); the bao CLI writing to `auth/aws/login` the fields
`vault login -method=aws` sends, signed by botocore's signer (boto3's); and `bao login -method=aws`
where the CLI has the handler (OpenBao 2.x's CLI does not: that test is skipped there)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import base64
import json

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import hvac.exceptions
import pytest

SERVER_ID = "coffer.compat.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto():
    binary = shutil.which("moto_server")
    assert binary, "moto_server is missing: pip install -r tests/compat/requirements.txt"
    port = _free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            assert time.monotonic() < deadline, "moto_server did not answer within 30 s"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _user(moto: str, name: str) -> tuple[str, str]:
    iam = boto3.client("iam", endpoint_url=moto, region_name="us-east-1",
                       aws_access_key_id="AKIAADMIN", aws_secret_access_key="admin")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def aws_mount(moto, hvac_factory):
    client = hvac_factory()
    if os.environ.get("COMPAT_SERVER", "coffer") == "coffer":
        current = client.adapter.get("/v1/sys/config/outbound")["data"].get("api_allowed_urls") or []
        client.adapter.put("/v1/sys/config/outbound", json={"allowed_urls": current + [moto + "/"]})
    client.sys.enable_auth_method("aws", path="aws")
    client.adapter.post("/v1/auth/aws/config/client", json={
        "sts_endpoint": moto, "sts_region": "us-east-1", "iam_server_id_header_value": SERVER_ID})
    client.adapter.post("/v1/auth/aws/role/app", json={
        "auth_type": "iam", "resolve_aws_unique_ids": False,
        "bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/alice"], "token_policies": ["app-read"]})
    yield _user(moto, "alice")
    client.sys.disable_auth_method("aws")


def test_hvac_iam_login(aws_mount, hvac_factory, moto):
    key_id, secret = aws_mount
    c = hvac_factory(None)
    auth = c.auth.aws.iam_login(key_id, secret, role="app", header_value=SERVER_ID)["auth"]
    assert auth["policies"] == ["app-read", "default"]
    assert auth["metadata"]["canonical_arn"] == "arn:aws:iam::123456789012:user/alice"
    bob = _user(moto, "bob")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="does not belong to the role"):
        hvac_factory(None).auth.aws.iam_login(bob[0], bob[1], role="app", header_value=SERVER_ID)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="X-Vault-AWS-IAM-Server-ID"):
        hvac_factory(None).auth.aws.iam_login(key_id, secret, role="app", header_value="vault.elsewhere")


def _signed_login(key: tuple[str, str], header_value: str,
                  body: str = "Action=GetCallerIdentity&Version=2011-06-15") -> list[str]:
    """The `auth/aws/login` fields of an STS request signed by botocore, as `K=V` arguments."""
    req = AWSRequest(method="POST", url="https://sts.amazonaws.com/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "X-Vault-AWS-IAM-Server-ID": header_value})
    SigV4Auth(Credentials(key[0], key[1]), "sts", "us-east-1").add_auth(req)
    headers = json.dumps({k: [v] for k, v in req.headers.items()})
    b64 = lambda v: base64.b64encode(v.encode()).decode()
    return ["role=app", "iam_http_request_method=POST", f"iam_request_url={b64(req.url)}",
            f"iam_request_body={b64(body)}", f"iam_request_headers={b64(headers)}"]


def test_bao_writes_a_login_signed_by_botocore(aws_mount, cli, moto):
    key = aws_mount
    res = cli.json("write", "-format=json", "auth/aws/login", *_signed_login(key, SERVER_ID), token=None)
    assert res["auth"]["policies"] == ["app-read", "default"]
    assert res["auth"]["metadata"]["canonical_arn"] == "arn:aws:iam::123456789012:user/alice"
    # Signed for another server (replayed here): refused.
    bad = cli.fails("write", "auth/aws/login", *_signed_login(key, "vault.elsewhere"), token=None)
    assert "X-Vault-AWS-IAM-Server-ID" in bad.stderr + bad.stdout
    # A validly signed request for another action: refused before it is sent anywhere.
    bad = cli.fails("write", "auth/aws/login",
                    *_signed_login(key, SERVER_ID, "Action=GetSessionToken&Version=2011-06-15"), token=None)
    assert "iam request body is invalid" in bad.stderr + bad.stdout
    # A principal the role does not bind.
    bad = cli.fails("write", "auth/aws/login", *_signed_login(_user(moto, "carol"), SERVER_ID), token=None)
    assert "does not belong to the role" in bad.stderr + bad.stdout


def test_bao_login_method_aws(aws_mount, cli):
    key_id, secret = aws_mount
    env = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1"}
    old = {k: cli.env.get(k) for k in env}
    cli.env.update(env)
    try:
        probe = cli.run("login", "-method=aws", "-no-store", "role=app", token=None)
        if "Unknown auth method: aws" in probe.stderr:
            pytest.skip("this bao CLI has no aws login handler (OpenBao 2.x moved it to an external plugin)")
        res = cli.ok("login", "-method=aws", "-format=json", "-no-store", "role=app",
                     f"header_value={SERVER_ID}", "region=us-east-1", token=None)
        assert res.json()["auth"]["policies"] == ["app-read", "default"]
        bad = cli.fails("login", "-method=aws", "-no-store", "role=app", "header_value=wrong", token=None)
        assert "X-Vault-AWS-IAM-Server-ID" in bad.stderr + bad.stdout
    finally:
        for k, v in old.items():
            if v is None:
                cli.env.pop(k, None)
            else:
                cli.env[k] = v
