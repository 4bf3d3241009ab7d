"""The AWS Secrets Manager API, driven by the real boto3 and aws CLI against `coffer server --dev`.

The dev server is started with a root access key (AWS_KEY_ID / AWS_SECRET below) and the
account id ACCOUNT; keys with narrower policies are made through `sys/aws/keys` with hvac.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import uuid

import pytest

from conftest import AWS_ACCOUNT as ACCOUNT, AWS_KEY_ID, AWS_SECRET

pytestmark = pytest.mark.skipif(os.environ.get("COMPAT_SERVER", "coffer") != "coffer",
                                reason="the AWS API is Coffer's own")

REGION = "eu-west-3"


def sm_client(server, key_id=AWS_KEY_ID, secret=AWS_SECRET, region=REGION):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "secretsmanager",
        endpoint_url=server.addr,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, proxies={}),
    )


@pytest.fixture
def sm(server):
    return sm_client(server)


@pytest.fixture
def name(uniq):
    return f"aws/{uniq}"


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def make_key(client, policies, ttl=None):
    body = {"policies": policies}
    if ttl:
        body["ttl"] = ttl
    return client.adapter.post("/v1/sys/aws/keys", json=body)["data"]


# --------------------------------------------------------------------------
# values and versions
# --------------------------------------------------------------------------


def test_create_get_round_trips_strings_byte_for_byte(sm, name):
    text = '{ "user": "app",  "password": "s3cr3t" }'
    created = sm.create_secret(Name=name, SecretString=text, Description="db creds")
    assert created["Name"] == name
    assert created["ARN"].startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-")
    assert len(created["ARN"].rsplit("-", 1)[1]) == 6
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == text
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert got["VersionId"] == created["VersionId"]
    # The full ARN and the partial ARN name the same secret.
    assert sm.get_secret_value(SecretId=created["ARN"])["SecretString"] == text
    partial = created["ARN"].rsplit("-", 1)[0]
    assert sm.get_secret_value(SecretId=partial)["SecretString"] == text


def test_binary_and_plain_strings_round_trip(sm, name):
    blob = bytes(range(256))
    sm.create_secret(Name=name, SecretBinary=blob)
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == blob
    sm.put_secret_value(SecretId=name, SecretString="just text, not JSON")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "just text, not JSON"


def test_kv_and_aws_see_the_same_secret(sm, client, name):
    sm.create_secret(Name=name, SecretString='{"a":"1","b":"2"}')
    read = client.secrets.kv.v2.read_secret_version(path=name, mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"a": "1", "b": "2"}
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"a": "3"}, mount_point="secret")
    got = sm.get_secret_value(SecretId=name)
    assert json.loads(got["SecretString"]) == {"a": "3"}
    assert got["VersionStages"] == ["AWSCURRENT"]


def test_bao_kv_put_then_boto3_and_back(sm, cli, name):
    cli.ok("kv", "put", f"secret/{name}", "user=ci", "token=abc")
    assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"]) == {"token": "abc", "user": "ci"}
    sm.put_secret_value(SecretId=name, SecretString='{"user": "ci", "token": "def"}')
    out = cli.json("kv", "get", "-format=json", f"secret/{name}")
    assert out["data"]["data"]["token"] == "def"


def test_put_secret_value_moves_labels_and_is_idempotent(sm, name):
    first = sm.create_secret(Name=name, SecretString="v1")
    token = str(uuid.uuid4())
    second = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=token)
    assert second["VersionId"] == token
    # The same token and value again is a no-op answered the same way.
    again = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=token)
    assert again["VersionId"] == token
    # The same token with another value is refused.
    with pytest.raises(sm.exceptions.ResourceExistsException):
        sm.put_secret_value(SecretId=name, SecretString="other", ClientRequestToken=token)
    prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == "v1" and prev["VersionId"] == first["VersionId"]
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert {v["VersionId"]: sorted(v["VersionStages"]) for v in versions} == {
        first["VersionId"]: ["AWSPREVIOUS"],
        token: ["AWSCURRENT"],
    }
    # AWSPENDING moves to a new version even while another holds it (AWS's rule).
    p1 = sm.put_secret_value(SecretId=name, SecretString="p1", VersionStages=["AWSPENDING"])
    p2 = sm.put_secret_value(SecretId=name, SecretString="p2", VersionStages=["AWSPENDING"])
    pending = sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")
    assert pending["VersionId"] == p2["VersionId"] != p1["VersionId"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"


def test_update_secret_version_stage(sm, name):
    v1 = sm.create_secret(Name=name, SecretString="one")["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v1,
                                   RemoveFromVersionId=v2)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "one"
    # Moving AWSCURRENT without naming its holder is refused (compare-and-set).
    with pytest.raises(sm.exceptions.InvalidParameterException):
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v2)
    sm.update_secret_version_stage(SecretId=name, VersionStage="blue", MoveToVersionId=v2)
    assert sm.get_secret_value(SecretId=name, VersionStage="blue")["SecretString"] == "two"


def test_describe_list_and_tags(sm, name):
    sm.create_secret(Name=name, SecretString="x", Description="Payments DB", Tags=[{"Key": "team", "Value": "pay"}])
    d = sm.describe_secret(SecretId=name)
    assert d["Description"] == "Payments DB"
    assert d["Tags"] == [{"Key": "team", "Value": "pay"}]
    assert list(d["VersionIdsToStages"].values()) == [["AWSCURRENT"]]
    assert isinstance(d["CreatedDate"], datetime.datetime)
    sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"}])
    sm.untag_resource(SecretId=name, TagKeys=["team"])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "env", "Value": "prod"}]
    sm.update_secret(SecretId=name, Description="Payments database")
    listed = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert [s["Name"] for s in listed] == [name]
    assert listed[0]["Description"] == "Payments database"
    assert sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}, {"Key": "tag-value", "Values": ["!prod"]}])[
        "SecretList"] == []
    # Pagination through NextToken sees every secret once.
    for i in range(3):
        sm.create_secret(Name=f"{name}-p{i}", SecretString="x")
    seen, token = [], None
    while True:
        kw = {"Filters": [{"Key": "name", "Values": [name]}], "MaxResults": 2}
        if token:
            kw["NextToken"] = token
        page = sm.list_secrets(**kw)
        seen += [s["Name"] for s in page["SecretList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted([name] + [f"{name}-p{i}" for i in range(3)])


def test_batch_get_secret_value(sm, name):
    sm.create_secret(Name=f"{name}-a", SecretString="A")
    sm.create_secret(Name=f"{name}-b", SecretString="B")
    out = sm.batch_get_secret_value(SecretIdList=[f"{name}-a", f"{name}-b", f"{name}-missing"])
    assert sorted(v["SecretString"] for v in out["SecretValues"]) == ["A", "B"]
    assert [e["ErrorCode"] for e in out["Errors"]] == ["ResourceNotFoundException"]


def test_delete_restore_and_force_delete(sm, name):
    sm.create_secret(Name=name, SecretString="x")
    with pytest.raises(sm.exceptions.InvalidParameterException):
        sm.delete_secret(SecretId=name, RecoveryWindowInDays=3)
    out = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert out["DeletionDate"] > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=6)
    with pytest.raises(sm.exceptions.InvalidRequestException):
        sm.get_secret_value(SecretId=name)
    assert sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"] == []
    assert len(sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}], IncludePlannedDeletion=True)[
        "SecretList"]) == 1
    sm.restore_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "x"
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.get_secret_value(SecretId=name)


def test_get_random_password(sm):
    p = sm.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"]
    assert len(p) == 40 and p.isalnum()
    with pytest.raises(sm.exceptions.InvalidParameterException):
        sm.get_random_password(ExcludeNumbers=True, ExcludePunctuation=True, ExcludeUppercase=True,
                               ExcludeLowercase=True)


# --------------------------------------------------------------------------
# errors an attacker or a careless client meets
# --------------------------------------------------------------------------


def test_errors_have_aws_names(sm, name):
    import botocore.exceptions

    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.get_secret_value(SecretId=f"{name}-nope")
    sm.create_secret(Name=name, SecretString="x")
    with pytest.raises(sm.exceptions.ResourceExistsException):
        sm.create_secret(Name=name, SecretString="y")
    for bad in ["/leading", "a//b", "a/./b", "a/../b", "trailing/", "sp ace", "x" * 513]:
        with pytest.raises(Exception) as e:
            sm.create_secret(Name=bad, SecretString="y")
        assert error_code(e) in ("InvalidParameterException", "ValidationException"), bad
    # Longer than AWS's 64 KiB: AWS's own ValidationException.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=f"{name}-big", SecretString="x" * 65537)
    assert error_code(e) == "ValidationException"
    with pytest.raises(sm.exceptions.InvalidParameterException):
        sm.create_secret(Name=f"{name}-both", SecretString="x", SecretBinary=b"y")


def test_wrong_secret_unknown_key_and_stale_date_are_refused(server, name):
    import botocore.exceptions

    wrong = sm_client(server, secret="not-the-secret-at-all-0000000000")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong.list_secrets()
    assert error_code(e) == "InvalidSignatureException"
    unknown = sm_client(server, key_id="AKIAUNKNOWN000000000", secret=AWS_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        unknown.list_secrets()
    assert error_code(e) == "UnrecognizedClientException"

    # A request signed ten minutes ago (botocore reads the time from datetime.datetime.now/utcnow).
    import botocore.auth

    real = botocore.auth.datetime.datetime

    class Past(real):
        @classmethod
        def utcnow(cls):
            return real.utcnow() - datetime.timedelta(minutes=10)

        @classmethod
        def now(cls, tz=None):
            return real.now(tz) - datetime.timedelta(minutes=10)

    stale = sm_client(server)
    botocore.auth.datetime.datetime = Past
    try:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            stale.list_secrets()
    finally:
        botocore.auth.datetime.datetime = real
    assert error_code(e) == "InvalidSignatureException"
    assert "expired" in e.value.response["Error"]["Message"].lower()


def test_key_policy_decides_each_path(server, client, name):
    client.sys.create_or_update_policy(
        name=f"aws-ro-{name.replace('/', '-')}",
        policy=f'path "secret/data/{name}" {{ capabilities = ["read"] }}\n'
               f'path "secret/metadata/{name}" {{ capabilities = ["read"] }}\n',
    )
    key = make_key(client, [f"aws-ro-{name.replace('/', '-')}"])
    assert key["access_key_id"] and key["secret_access_key"]
    sm_client(server).create_secret(Name=name, SecretString="allowed")
    sm_client(server).create_secret(Name=f"{name}x", SecretString="forbidden")
    ro = sm_client(server, key["access_key_id"], key["secret_access_key"])
    assert ro.get_secret_value(SecretId=name)["SecretString"] == "allowed"
    with pytest.raises(Exception) as e:
        ro.get_secret_value(SecretId=f"{name}x")
    assert error_code(e) == "AccessDeniedException"
    # Not found and forbidden look alike to a key that may not read the path.
    with pytest.raises(Exception) as e:
        ro.get_secret_value(SecretId=f"{name}-missing")
    assert error_code(e) == "AccessDeniedException"
    with pytest.raises(Exception) as e:
        ro.put_secret_value(SecretId=name, SecretString="changed")
    assert error_code(e) == "AccessDeniedException"
    with pytest.raises(Exception) as e:
        ro.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert error_code(e) == "AccessDeniedException"
    assert sm_client(server).get_secret_value(SecretId=name)["SecretString"] == "allowed"
    # The key shows in LIST, never with its secret; a deleted key is refused at once.
    listed = client.adapter.list("/v1/sys/aws/keys")["data"]
    assert key["access_key_id"] in listed["keys"]
    assert "secret_access_key" not in json.dumps(listed)
    client.adapter.delete(f"/v1/sys/aws/keys/{key['access_key_id']}")
    with pytest.raises(Exception) as e:
        ro.get_secret_value(SecretId=name)
    assert error_code(e) == "UnrecognizedClientException"


def test_keys_are_never_more_than_their_maker(server, client, hvac_factory, uniq):
    import hvac.exceptions

    client.sys.create_or_update_policy(name=f"maker-{uniq}", policy='path "sys/aws/keys" { capabilities = ["update"] }')
    token = client.auth.token.create(policies=[f"maker-{uniq}"], ttl="1h")["auth"]["client_token"]
    maker = hvac_factory(token)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        maker.adapter.post("/v1/sys/aws/keys", json={"policies": ["admin-not-mine"]})
    with pytest.raises(hvac.exceptions.InvalidRequest):
        maker.adapter.post("/v1/sys/aws/keys", json={"policies": ["root"]})
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.adapter.post("/v1/sys/aws/keys", json={"policies": ["ROOT"]})
    # Its own policy is fine, and the key ends when the token would.
    key = maker.adapter.post("/v1/sys/aws/keys", json={"policies": [f"maker-{uniq}"]})["data"]
    assert key["expire_time"]


def test_sts_get_caller_identity(server):
    import boto3

    sts = boto3.client("sts", endpoint_url=server.addr, region_name=REGION, aws_access_key_id=AWS_KEY_ID,
                       aws_secret_access_key=AWS_SECRET)
    me = sts.get_caller_identity()
    assert me["Account"] == ACCOUNT
    assert me["UserId"] == AWS_KEY_ID
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/coffer/{AWS_KEY_ID}"


def test_aws_cli(server, name, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "NO_PROXY": "127.0.0.1,localhost",
    })

    def aws(*args):
        proc = subprocess.run(["aws", "--endpoint-url", server.addr, "--output", "json", *args], env=env,
                              capture_output=True, text=True, timeout=60)
        return proc

    made = aws("secretsmanager", "create-secret", "--name", name, "--secret-string", '{"k": "v"}')
    assert made.returncode == 0, made.stderr
    got = aws("secretsmanager", "get-secret-value", "--secret-id", name)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["SecretString"] == '{"k": "v"}'
    who = aws("sts", "get-caller-identity")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Account"] == ACCOUNT
    missing = aws("secretsmanager", "get-secret-value", "--secret-id", f"{name}-nope")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


# --------------------------------------------------------------------------
# rotation and resource policies
# --------------------------------------------------------------------------


def wait_for(check, timeout=15.0):
    """Polls `check` until it returns a truthy value (the rotation runs on the leader)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)  # poll interval, not a wait for readiness


def test_rotate_secret_runs_the_four_steps(sm, name):
    first = sm.create_secret(Name=name, SecretString='{"username": "app", "password": "old"}')["VersionId"]
    out = sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 30})
    assert out["VersionId"] and out["VersionId"] != first

    def rotated():
        cur = sm.get_secret_value(SecretId=name)
        return cur if cur["VersionId"] == out["VersionId"] else None

    cur = wait_for(rotated)
    assert cur, sm.describe_secret(SecretId=name)
    value = json.loads(cur["SecretString"])
    assert value["username"] == "app" and value["password"] != "old" and len(value["password"]) >= 16
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["VersionId"] == first
    d = sm.describe_secret(SecretId=name)
    assert d["RotationEnabled"] is True
    assert d["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    assert "NextRotationDate" in d
    sm.cancel_rotate_secret(SecretId=name)
    assert sm.describe_secret(SecretId=name)["RotationEnabled"] is False
    with pytest.raises(sm.exceptions.InvalidParameterException):
        sm.rotate_secret(SecretId=name, RotationLambdaARN="arn:aws:lambda:eu-west-3:123456789012:function:rot")
    with pytest.raises(sm.exceptions.InvalidParameterException):
        sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 1, "ScheduleExpression": "rate(1 days)"})


def test_resource_policy_denies_and_refuses_what_it_cannot_enforce(server, sm, client, name):
    sm.create_secret(Name=name, SecretString="guarded")
    client.sys.create_or_update_policy(name=f"rw-{name.replace('/', '-')}",
                                       policy=f'path "secret/data/{name}" {{ capabilities = ["read"] }}')
    key = make_key(client, [f"rw-{name.replace('/', '-')}"])
    reader = sm_client(server, key["access_key_id"], key["secret_access_key"])
    assert reader.get_secret_value(SecretId=name)["SecretString"] == "guarded"
    me = f"arn:aws:iam::{ACCOUNT}:user/coffer/{key['access_key_id']}"
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"AWS": me}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    assert sm.validate_resource_policy(ResourcePolicy=json.dumps(deny))["PolicyValidationPassed"] is True
    sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(deny))
    assert json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"]) == deny
    with pytest.raises(Exception) as e:
        reader.get_secret_value(SecretId=name)
    assert error_code(e) == "AccessDeniedException"
    # Other keys are not named by the statement.
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "guarded"
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    with pytest.raises(sm.exceptions.MalformedPolicyDocumentException):
        sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(allow))
    conditional = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    out = sm.validate_resource_policy(ResourcePolicy=json.dumps(conditional))
    assert out["PolicyValidationPassed"] is False and out["ValidationErrors"]
    sm.delete_resource_policy(SecretId=name)
    assert reader.get_secret_value(SecretId=name)["SecretString"] == "guarded"


def test_readme_aws_examples_run_as_written(server, cli, tmp_path):
    """The README's "AWS SDKs" section: its aws CLI lines, then its boto3 snippet."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## AWS SDKs", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    assert f"--dev-aws-access-key-id {AWS_KEY_ID}" in shell and f"--dev-aws-secret-access-key {AWS_SECRET}" in shell
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                "AWS_CONFIG_FILE": str(tmp_path / "c"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "k")})
    import shlex
    outputs = []
    for line in shell.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line.startswith("export AWS_DEFAULT_REGION"):
            env["AWS_DEFAULT_REGION"] = line.rsplit("=", 1)[1]
        if not line.startswith("aws "):
            continue
        args = shlex.split(line.replace("http://127.0.0.1:8200", server.addr))
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        outputs.append(json.loads(proc.stdout))
    assert json.loads(outputs[1]["SecretString"])["password"] == "s3cr3t"
    assert outputs[2]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/coffer/{AWS_KEY_ID}"
    assert cli.json("kv", "get", "-format=json", "secret/app/db")["data"]["data"]["username"] == "app"
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1).replace("http://127.0.0.1:8200", server.addr)
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    assert json.loads(printed.getvalue())["username"] == "app"
    key = cli.json("write", "-format=json", "sys/aws/keys", "policies=default", "ttl=720h")["data"]
    assert key["access_key_id"] and key["secret_access_key"]
