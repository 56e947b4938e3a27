"""A moto server of its own and empty tables on it, made as ``template.yaml`` declares them: the keys table (the key
store's and ``diffrhythm keys``' tests) and the job table (the job table's contract tests)."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
CREDENTIALS = "testing"  # any key id and secret: moto checks neither


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1; yields its endpoint URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client of the moto server at ``endpoint_url``."""
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url, aws_access_key_id=CREDENTIALS,
                        aws_secret_access_key=CREDENTIALS)


def create_keys_table(dynamodb: Any) -> str:
    """A new keys table as the template declares it (hash key ``hash``, on demand); its name. Moto servers in one
    process share their state, so each name is unique."""
    name = f"keys-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "hash", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "hash", "KeyType": "HASH"}])
    return name


def create_job_table(dynamodb: Any) -> str:
    """A new job table as the template declares it (``JobsTable``: its keys and indexes); its name, unique."""
    from infrastructure.local.template import resource  # reads template.yaml: only where a table is made

    props = resource("JobsTable")
    name = f"jobs-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(TableName=name, BillingMode=props["BillingMode"], KeySchema=props["KeySchema"],
                          AttributeDefinitions=props["AttributeDefinitions"],
                          GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"])
    return name


def items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every raw item of ``table`` (DynamoDB's attribute maps)."""
    return [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
