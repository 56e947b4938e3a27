"""How the job table's items are written and read: plain Python values to DynamoDB attribute maps and back, the
fixed-width time format, the key of a job item and the update expressions of conditional writes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import BaseModel

from shared.records import JobRecord, utcnow

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so strings sort as times
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def _plain(value: Any) -> Any:
    """Python value -> what the DynamoDB serializer accepts (Decimal numbers, fixed-format times)."""
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(exclude_none=True))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _native(value: Any) -> Any:
    """DynamoDB value -> plain Python (int or float for numbers)."""
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_native(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict -> a DynamoDB attribute map."""
    return {k: _serializer.serialize(v) for k, v in _plain(item).items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute map -> a plain dict."""
    return {k: _native(_deserializer.deserialize(v)) for k, v in item.items()}


def parse_time(text: str) -> datetime:
    """A time as ``serialize`` wrote it -> a timezone-aware (UTC) datetime."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=utcnow().tzinfo)


def job_pk(job_id: str) -> str:
    """Hash key of a job item."""
    return f"job#{job_id}"


def job_id_of(item: dict[str, Any]) -> str:
    """The job id of a deserialized job item (from its hash key)."""
    pk: str = item["pk"]
    return pk.removeprefix(job_pk(""))


def to_record(item: dict[str, Any]) -> JobRecord:
    """A job item (an attribute map) -> the job."""
    return JobRecord.model_validate(deserialize(item))


def update_expression(
    fields: dict[str, Any], removed: list[str] | None = None
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET`` the fields that have a value and ``REMOVE`` those set to None (plus ``removed``)."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    sets = [f"#f{i} = :v{i}" for i, value in enumerate(fields.values()) if value is not None]
    removes = [f"#f{i}" for i, value in enumerate(fields.values()) if value is None]
    for j, name in enumerate(removed or []):
        names[f"#r{j}"] = name
        removes.append(f"#r{j}")
    values = {f":v{i}": value for i, value in enumerate(fields.values()) if value is not None}
    expression = " ".join(part for part in ("SET " + ", ".join(sets) if sets else "",
                                            "REMOVE " + ", ".join(removes) if removes else "") if part)
    return expression, names, values
