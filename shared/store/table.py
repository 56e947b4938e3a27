"""The one DynamoDB table every part of the store reads and writes."""

from __future__ import annotations

from typing import Any


class Table:
    """A boto3 DynamoDB client and the job table's name, shared by the stores of ``shared.store``.

    Parameters
    ----------
    dynamodb
        A boto3 DynamoDB client (from ``shared.aws.client``).
    table_name
        The job table.
    """

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name
