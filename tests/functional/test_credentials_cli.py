"""``diffrhythm credentials`` against a moto server of its own: the signing key stored in the stack's (empty) secret,
its trust anchor printed, a key already there kept unless replaced, a CA-issued chain imported, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from inference_container.audio import encode
from inference_container.audio.credentials import ContentSigner, Origin, SigningKey, verify
from infrastructure.cli import main
from tests.support.moto import REGION, aws_client, moto_server

STACK = "diffrhythm-credentials-test"
STACK_TEMPLATE = {
    "Parameters": {"SecretArn": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"ContentCredentialsSecretArn": {"Value": {"Ref": "SecretArn"}}},
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def secret(endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """An empty secret, as the stack creates it, named by a stack's output; the operator's environment."""
    for variable, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("CONTENT_CREDENTIALS_SECRET_ID", raising=False)
    arn: str = aws_client("secretsmanager", endpoint).create_secret(Name=f"signing-{request.node.name[:40]}")["ARN"]
    cloudformation = aws_client("cloudformation", endpoint)
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(STACK_TEMPLATE),
                                Parameters=[{"ParameterKey": "SecretArn", "ParameterValue": arn}])
    yield arn
    cloudformation.delete_stack(StackName=STACK)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["credentials", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _stored(endpoint: str, arn: str) -> SigningKey:
    value = aws_client("secretsmanager", endpoint).get_secret_value(SecretId=arn)["SecretString"]
    return SigningKey.from_secret(value)


def test_create_stores_a_key_whose_songs_verify_against_the_anchor_it_prints(capsys, endpoint, secret):
    code, anchor, _ = _run(capsys, "create", "--stack", STACK, "--organization", "Acme Music")
    assert code == 0 and anchor.startswith("-----BEGIN CERTIFICATE-----")
    song = encode(np.zeros((44100, 2), dtype=np.float32), 44100, "wav")
    signed = ContentSigner(_stored(endpoint, secret)).sign(song, "wav", Origin("job-1", "diffrhythm", "t"))
    assert verify(signed, anchor).ours
    assert _run(capsys, "anchor", "--stack", STACK)[1] == anchor

    code, _, err = _run(capsys, "create", "--stack", STACK)  # a key is there: kept
    assert code == 2 and "already holds a key" in err and err.count("\n") == 1
    code, replaced, _ = _run(capsys, "create", "--secret-id", secret, "--replace")
    assert code == 0 and replaced != anchor and not verify(signed, replaced).ours


def test_a_ca_issued_chain_is_imported_and_a_key_that_is_not_its_certificates_is_refused(capsys, endpoint, secret,
                                                                                         tmp_path):
    issued, other = SigningKey.create("A CA"), SigningKey.create("Someone")
    (tmp_path / "chain.pem").write_text(issued.certificate_chain)
    (tmp_path / "key.pem").write_text(other.private_key)
    code, _, err = _run(capsys, "create", "--stack", STACK, "--chain", str(tmp_path / "chain.pem"), "--key",
                        str(tmp_path / "key.pem"))
    assert code == 2 and "cannot sign" in err
    (tmp_path / "key.pem").write_text(issued.private_key)
    code, anchor, _ = _run(capsys, "create", "--stack", STACK, "--chain", str(tmp_path / "chain.pem"), "--key",
                           str(tmp_path / "key.pem"))
    assert code == 0 and anchor == issued.anchor and _stored(endpoint, secret) == issued


def test_an_empty_secret_has_no_anchor_and_no_secret_is_named_plainly(capsys, secret):
    code, _, err = _run(capsys, "anchor", "--stack", STACK)
    assert code == 2 and "holds no key yet" in err
    code, _, err = _run(capsys, "anchor")
    assert code == 2 and "give --stack" in err
