"""``diffrhythm keys`` in-process against a moto server of its own: the key lifecycle through the CLI, the webhook
secret it shows once, the keys table found from a CloudFormation stack's outputs, and one-line errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from infrastructure.cli import main
from infrastructure.keys_cli import stack_outputs
from shared.accounts import KeyStore, Limits
from shared.webhooks import key_secret
from tests.support.moto import REGION, aws_client, create_keys_table, items, moto_server

MASTER = "webhook-master-secret-for-the-cli-test"
STACK_TEMPLATE = {
    "Parameters": {"SecretArn": {"Type": "String"}},
    "Resources": {"ApiKeysTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": [{"AttributeName": "hash", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "hash", "KeyType": "HASH"}]}}},
    "Outputs": {"KeysTableName": {"Value": {"Ref": "ApiKeysTable"}},
                "WebhookSecretArn": {"Value": {"Ref": "SecretArn"}}},
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def secret_arn(endpoint: str) -> str:
    return aws_client("secretsmanager", endpoint).create_secret(Name="cli-test-webhook", SecretString=MASTER)["ARN"]


@pytest.fixture
def table(endpoint: str, secret_arn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new keys table, and the environment of an operator pointing the CLI at it and at the master secret."""
    name = create_keys_table(aws_client("dynamodb", endpoint))
    for variable, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "KEYS_TABLE_NAME": name,
                            "WEBHOOK_SECRET_ID": secret_arn}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return name


def keys(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run ``diffrhythm keys ARGV``: exit code, stdout's JSON (None when empty), stderr."""
    code = main(["keys", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_create_list_limits_rotate_revoke_through_the_cli(capsys, endpoint, table):
    store = KeyStore(aws_client("dynamodb", endpoint), table)
    code, created, err = keys(capsys, "create", "--customer", "acme", "--label", "prod", "--jobs-per-hour", "20",
                              "--gpu-seconds-per-day", "0")
    assert code == 0 and "not shown again" in err
    key_id, token = created["key"]["key_id"], created["token"]
    assert created["webhook_secret"] == key_secret(MASTER, key_id) != MASTER
    assert store.lookup(token).limits == Limits(jobs_per_hour=20, gpu_seconds_per_day=0)
    assert created["key"]["customer"] == "acme" and created["key"]["label"] == "prod"

    code, listed, _ = keys(capsys, "list")
    assert code == 0 and [k["key_id"] for k in listed["keys"]] == [key_id]
    assert token not in json.dumps(listed) and created["webhook_secret"] not in json.dumps(listed)
    assert keys(capsys, "list", "--customer", "globex")[1] == {"keys": []}

    code, changed, _ = keys(capsys, "limits", key_id, "--uploads-per-day", "3", "--jobs-per-hour", "default")
    assert code == 0 and changed["key"]["limits"]["uploads_per_day"] == 3
    assert store.lookup(token).limits == Limits(uploads_per_day=3, gpu_seconds_per_day=0)

    code, rotated, _ = keys(capsys, "rotate", key_id)
    assert code == 0 and rotated["key"]["key_id"] == key_id and rotated["token"] != token
    assert rotated["webhook_secret"] == created["webhook_secret"]  # derived from the key id, which rotation keeps
    assert store.lookup(token) is None and store.lookup(rotated["token"]).limits.uploads_per_day == 3

    assert keys(capsys, "revoke", key_id)[:2] == (0, {"key_id": key_id, "revoked_secrets": 2})
    assert store.lookup(rotated["token"]) is None
    assert keys(capsys, "list")[1]["keys"][0]["revoked_at"] is not None
    stored = json.dumps(items(aws_client("dynamodb", endpoint), table))
    assert token not in stored and rotated["token"] not in stored and created["webhook_secret"] not in stored


def test_a_rotation_with_a_grace_keeps_the_old_token_and_an_imported_value_from_stdin_is_the_token(
        capsys, endpoint, table, monkeypatch):
    store = KeyStore(aws_client("dynamodb", endpoint), table)
    monkeypatch.setattr("sys.stdin", io.StringIO("the-frontends-shipped-key-0001\n"))
    code, created, _ = keys(capsys, "create", "--customer", "acme", "--value", "-")
    assert code == 0 and created["token"] == "the-frontends-shipped-key-0001"
    code, rotated, _ = keys(capsys, "rotate", created["key"]["key_id"], "--grace-s", "3600")
    assert code == 0 and rotated["previous_secrets_work_for_s"] == 3600
    assert store.lookup("the-frontends-shipped-key-0001") is not None and store.lookup(rotated["token"]) is not None


def test_without_a_webhook_secret_id_the_key_is_created_and_its_webhook_secret_omitted_with_a_note(
        capsys, table, monkeypatch):
    monkeypatch.delenv("WEBHOOK_SECRET_ID")
    code, created, err = keys(capsys, "create", "--customer", "acme")
    assert code == 0 and "webhook_secret" not in created and created["token"].startswith("drk_")
    assert "no webhook secret id" in err


def test_a_stack_names_the_keys_table_and_the_webhook_secret(capsys, endpoint, secret_arn, table, monkeypatch):
    cloudformation = aws_client("cloudformation", endpoint)
    cloudformation.create_stack(StackName="diffrhythm-cli-test", TemplateBody=json.dumps(STACK_TEMPLATE),
                                Parameters=[{"ParameterKey": "SecretArn", "ParameterValue": secret_arn}])
    outputs = stack_outputs(cloudformation, "diffrhythm-cli-test")
    assert outputs["WebhookSecretArn"] == secret_arn and outputs["KeysTableName"] != table
    for variable in ("KEYS_TABLE_NAME", "WEBHOOK_SECRET_ID"):
        monkeypatch.delenv(variable)
    code, created, _ = keys(capsys, "create", "--stack", "diffrhythm-cli-test", "--customer", "acme")
    assert code == 0 and created["webhook_secret"] == key_secret(MASTER, created["key"]["key_id"])
    dynamodb = aws_client("dynamodb", endpoint)
    assert KeyStore(dynamodb, outputs["KeysTableName"]).lookup(created["token"]) is not None
    assert KeyStore(dynamodb, table).lookup(created["token"]) is None  # nothing went to the environment's table

    code, _, err = keys(capsys, "list", "--stack", "no-such-stack")
    assert code == 2 and "no-such-stack does not exist" in err and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "reason"), [
    (["rotate", "key_0000000000000000"], "no key key_0000000000000000"),
    (["revoke", "key_0000000000000000"], "no key key_0000000000000000"),
    (["limits", "key_0000000000000000", "--jobs-per-hour", "3"], "no key key_0000000000000000"),
    (["create", "--customer", "Acme Corp"], "must match"),
    (["create", "--customer", "acme", "--value", "short"], "20 to 512 printable"),
])
def test_errors_exit_2_with_one_line_and_no_traceback(capsys, table, argv, reason):
    code, out, err = keys(capsys, *argv)
    assert (code, out) == (2, None)
    assert reason in err and err.startswith("diffrhythm keys: ") and err.count("\n") == 1 and "Traceback" not in err


def test_without_a_table_the_cli_says_how_to_name_one(capsys, table, monkeypatch):
    monkeypatch.delenv("KEYS_TABLE_NAME")
    assert keys(capsys, "list") == (2, None, "diffrhythm keys: no keys table: give --stack, --table or "
                                    "KEYS_TABLE_NAME\n")
    assert keys(capsys, "list", "--table", table)[:2] == (0, {"keys": []})
