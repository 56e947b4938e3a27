"""``diffrhythm keys``: create, list, rotate, revoke and limit the API keys of a deployed stack or of the local one.

The keys table is found from ``--stack`` (its outputs ``KeysTableName`` and ``WebhookSecretArn``), ``--table`` or
``KEYS_TABLE_NAME``; ``--endpoint-url`` (or ``AWS_ENDPOINT_URL``) points every call at the local stack's moto server,
otherwise at AWS with the usual credentials. Results are JSON on stdout. A token is printed once, at ``create`` and
``rotate``, with the key's webhook signing secret (derived from the webhook master secret, which is read from Secrets
Manager); neither is stored anywhere readable. Errors exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from shared.accounts import ApiKey, KeyStore, Limits, Meter
from shared.aws import client
from shared.secrets import secret_value
from shared.settings import Settings
from shared.webhooks import key_secret

KEYS_TABLE_OUTPUT, WEBHOOK_SECRET_OUTPUT = "KeysTableName", "WebhookSecretArn"
_FAILURES = (ValueError, LookupError, ClientError, BotoCoreError, GetParameterError)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The outputs of CloudFormation stack ``stack_name``, by key."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def target_settings(args: argparse.Namespace) -> Settings:
    """The settings of the keys table to change: flags first, then the stack's outputs, then the environment."""
    region = args.region or os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    flags = {"aws_endpoint_url": args.endpoint_url, "aws_region": region, "keys_table_name": args.table,
             "webhook_secret_id": args.webhook_secret_id}
    settings = Settings(**{name: value for name, value in flags.items() if value})
    if args.stack:
        outputs = stack_outputs(client("cloudformation", settings), args.stack)
        if KEYS_TABLE_OUTPUT not in outputs:
            raise LookupError(f"stack {args.stack} has no output {KEYS_TABLE_OUTPUT}")
        secret_id = args.webhook_secret_id or outputs.get(WEBHOOK_SECRET_OUTPUT) or settings.webhook_secret_id
        settings = settings.model_copy(update={"keys_table_name": outputs[KEYS_TABLE_OUTPUT],
                                               "webhook_secret_id": secret_id})
    if not settings.keys_table_name:
        raise LookupError("no keys table: give --stack, --table or KEYS_TABLE_NAME")
    return settings


def _webhook_master(settings: Settings) -> str | None:
    """The webhook master secret, or None (with a note) when no secret id is configured."""
    if not settings.webhook_secret_id:
        print("note: no webhook secret id (--webhook-secret-id, WEBHOOK_SECRET_ID or the stack's "
              f"{WEBHOOK_SECRET_OUTPUT}): the key's webhook signing secret is not shown", file=sys.stderr)
        return None
    return secret_value(settings, settings.webhook_secret_id)


def _issued(key: ApiKey, token: str, master: str | None) -> dict[str, Any]:
    """What ``create`` and ``rotate`` show once: the key, its token and its webhook signing secret."""
    shown: dict[str, Any] = {"key": key.model_dump(mode="json"), "token": token}
    if master is not None:
        shown["webhook_secret"] = key_secret(master, key.key_id)
    print("Store the token" + (" and the webhook secret" if master is not None else "") + " now: they are not "
          "shown again.", file=sys.stderr)
    return shown


def _limits(args: argparse.Namespace) -> dict[str, int | None]:
    """The limit flags given (``default`` = None)."""
    return {meter.value: getattr(args, meter.value) for meter in Meter if hasattr(args, meter.value)}


def _create(args: argparse.Namespace, settings: Settings, store: KeyStore) -> dict[str, Any]:
    value = sys.stdin.readline().strip() if args.value == "-" else args.value
    master = _webhook_master(settings)  # before anything changes: a failure leaves no key without its secret
    key, token = store.create(args.customer, limits=Limits(**_limits(args)), label=args.label, value=value)
    return _issued(key, token, master)


def _list(args: argparse.Namespace, settings: Settings, store: KeyStore) -> dict[str, Any]:
    return {"keys": [key.model_dump(mode="json") for key in store.list(args.customer)]}


def _rotate(args: argparse.Namespace, settings: Settings, store: KeyStore) -> dict[str, Any]:
    master = _webhook_master(settings)
    key, token = store.rotate(args.key_id, args.grace_s)
    return {**_issued(key, token, master), "previous_secrets_work_for_s": args.grace_s}


def _revoke(args: argparse.Namespace, settings: Settings, store: KeyStore) -> dict[str, Any]:
    return {"key_id": args.key_id, "revoked_secrets": store.revoke(args.key_id)}


def _set_limits(args: argparse.Namespace, settings: Settings, store: KeyStore) -> dict[str, Any]:
    changes = _limits(args)
    if not changes:
        raise ValueError("nothing to change: give a limit, e.g. --jobs-per-hour 20 (or 'default')")
    current = next((key for key in store.list() if key.key_id == args.key_id), None)
    if current is None:
        raise LookupError(f"no key {args.key_id}")
    limits = Limits(**{**current.limits.model_dump(), **changes})
    return {"key": store.set_limits(args.key_id, limits).model_dump(mode="json")}


def run_keys(args: argparse.Namespace) -> int:
    """Run one ``diffrhythm keys`` subcommand: 0, or 2 with a one-line reason on stderr."""
    try:
        settings = target_settings(args)
        store = KeyStore(client("dynamodb", settings), settings.keys_table_name)
        result = args.keys_run(args, settings, store)
    except _FAILURES as error:
        print(f"diffrhythm keys: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def _limit(text: str) -> int | None:
    """A limit flag's value: a count >= 0 (0 = unlimited), or ``default`` (the deployment's)."""
    if text == "default":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 or 'default', got {text!r}")
    return int(text)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``keys`` on the ``diffrhythm`` parser."""
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_mutually_exclusive_group()
    where.add_argument("--stack", help=f"a deployed stack: its outputs {KEYS_TABLE_OUTPUT} and {WEBHOOK_SECRET_OUTPUT}")
    where.add_argument("--table", help="the keys table (default: KEYS_TABLE_NAME)")
    target.add_argument("--endpoint-url", help="AWS endpoint, e.g. the local stack's moto server (default: "
                        "AWS_ENDPOINT_URL)")
    target.add_argument("--region", help="AWS region (default: AWS_REGION, else the AWS configuration's)")
    target.add_argument("--webhook-secret-id", help="Secrets Manager id of the webhook master secret (default: the "
                        f"stack's {WEBHOOK_SECRET_OUTPUT}, else WEBHOOK_SECRET_ID)")
    limits = argparse.ArgumentParser(add_help=False)
    for meter in Meter:
        limits.add_argument("--" + meter.value.replace("_", "-"), dest=meter.value, type=_limit,
                            default=argparse.SUPPRESS, metavar="N", help="0 = unlimited; 'default' = the deployment's")

    keys = commands.add_parser("keys", help="create, list, rotate and revoke API keys (deployed or local stack)")
    keys.set_defaults(run=run_keys)
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", parents=[target, limits], help="a new key; prints its token once")
    create.add_argument("--customer", required=True, help="the account and owner of its callers, e.g. acme")
    create.add_argument("--label", default="", help="a note for operators")
    create.add_argument("--value", help="import this token (>= 20 characters; '-' reads it from stdin) instead of "
                        "generating one")
    create.set_defaults(keys_run=_create)
    listing = actions.add_parser("list", parents=[target], help="every key, as its current secret has it")
    listing.add_argument("--customer", help="only this customer's keys")
    listing.set_defaults(keys_run=_list)
    rotate = actions.add_parser("rotate", parents=[target], help="a new token for a key; prints it once")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace-s", type=float, default=0.0, help="seconds the previous token keeps working")
    rotate.set_defaults(keys_run=_rotate)
    revoke = actions.add_parser("revoke", parents=[target], help="stop every token of a key (within the API's "
                                "cache TTL)")
    revoke.add_argument("key_id")
    revoke.set_defaults(keys_run=_revoke)
    set_limits = actions.add_parser("limits", parents=[target, limits], help="change a key's quotas")
    set_limits.add_argument("key_id")
    set_limits.set_defaults(keys_run=_set_limits)
