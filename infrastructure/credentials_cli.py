"""``diffrhythm credentials``: the key that signs every song's C2PA manifest, in a deployed stack or the local one.

``create`` writes the key into the stack's ``ContentCredentialsSecret`` (output ``ContentCredentialsSecretArn``, or
``--secret-id``): a self-signed chain made here, or a CA-issued certificate chain and its key (``--chain``, ``--key``,
PEM); it refuses to replace a key already there unless ``--replace`` (songs signed with the old key then no longer
verify against the new anchor). ``anchor`` prints the chain's root certificate: what ``diffrhythm verify-provenance``
and anyone checking a song trust. ``--endpoint-url`` (or ``AWS_ENDPOINT_URL``) points at the local stack's moto server.
Errors exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infrastructure.keys_cli import stack_outputs
from shared.aws import client
from shared.settings import Settings

SECRET_OUTPUT = "ContentCredentialsSecretArn"


def _secret(args: argparse.Namespace) -> tuple[object, str]:
    """The Secrets Manager client and the secret's id, from the flags, the stack's output or the environment."""
    region = args.region or os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    settings = Settings(**{name: value for name, value in {"aws_endpoint_url": args.endpoint_url,
                                                           "aws_region": region}.items() if value})
    secret_id = args.secret_id or settings.content_credentials_secret_id
    if args.stack and not args.secret_id:
        secret_id = stack_outputs(client("cloudformation", settings), args.stack).get(SECRET_OUTPUT, "")
    if not secret_id:
        raise LookupError(f"no secret: give --stack (its output {SECRET_OUTPUT}), --secret-id or "
                          "CONTENT_CREDENTIALS_SECRET_ID")
    return client("secretsmanager", settings), secret_id


def _stored(secretsmanager: object, secret_id: str) -> str | None:
    """The secret's current value, or None where it has none yet (as the stack creates it)."""
    try:
        value: str = secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]  # type: ignore[attr-defined]
        return value
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def _create(args: argparse.Namespace) -> int:
    from inference_container.audio.credentials import ContentSigner, SigningKey

    secretsmanager, secret_id = _secret(args)
    if _stored(secretsmanager, secret_id) and not args.replace:
        raise ValueError(f"{secret_id} already holds a key: give --replace to change it (songs signed with the old "
                         "key then verify only against its anchor)")
    if (args.chain is None) != (args.key is None):
        raise ValueError("give --chain and --key together (a CA-issued certificate chain and its key), or neither")
    key = SigningKey(Path(args.chain).read_text(), Path(args.key).read_text()) if args.chain and args.key else \
        SigningKey.create(args.organization)
    ContentSigner(key)  # refuses a key that cannot sign before it is stored
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=key.to_secret())  # type: ignore[attr-defined]
    print(key.anchor, end="")
    return 0


def _anchor(args: argparse.Namespace) -> int:
    from inference_container.audio.credentials import SigningKey

    secretsmanager, secret_id = _secret(args)
    value = _stored(secretsmanager, secret_id)
    if value is None:
        raise LookupError(f"{secret_id} holds no key yet: run diffrhythm credentials create")
    print(SigningKey.from_secret(value).anchor, end="")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``credentials create`` and ``credentials anchor``."""
    credentials = commands.add_parser("credentials", help="the key that signs every song's C2PA manifest")
    actions = credentials.add_subparsers(dest="action", required=True)
    for name, run, text in (("create", _create, "store a signing key (self-signed, or --chain/--key) and print its "
                             "trust anchor"), ("anchor", _anchor, "print the trust anchor of the stored key")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--stack", help="a deployed stack (its output ContentCredentialsSecretArn)")
        action.add_argument("--secret-id", help="the secret's name or ARN instead")
        action.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="the local stack")
        action.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
        if name == "create":
            action.add_argument("--organization", default="DiffRhythm service", help="the self-signed chain's O=")
            action.add_argument("--chain", help="a CA-issued certificate chain (PEM, signing certificate first)")
            action.add_argument("--key", help="its private key (PEM, EC P-256)")
            action.add_argument("--replace", action="store_true", help="replace the key already stored")
        action.set_defaults(run=lambda args, run=run: _run(run, args))


def _run(command: object, args: argparse.Namespace) -> int:
    try:
        result: int = command(args)  # type: ignore[operator]
        return result
    except (ValueError, LookupError, ClientError, BotoCoreError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
