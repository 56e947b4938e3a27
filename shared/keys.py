"""Every S3 key of the service, in one place.

::

    requests/{job_id}.json               the accepted request (GenerateRequest + owner), written by the API
    inputs/{owner}/{upload_id}.{ext}     reference clips uploaded through a presigned PUT
    outputs/{job_id}/{index}.{format}    audio, one file per variation and format
    outputs/{job_id}/{index}.peaks.json  waveform peaks for a UI
    outputs/{job_id}/result.json         the output manifest, written LAST: its arrival means COMPLETED
    failures/{job_id}.json               a failure record (worker or dead-letter consumer): its arrival means FAILED
    cancellations/{job_id}.json          written after a cancel, so the status function sends the webhook
    rejections/{upload_key}.json         why the upload check refused (and deleted) an upload: the API answers 422
    sagemaker-inputs/{job_id}.json       SageMaker mode: the job message, as the async endpoint's invocation input
    sagemaker-outputs/                   SageMaker mode: the endpoint's invocation responses (its output location)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

REQUESTS = "requests/"
INPUTS = "inputs/"
OUTPUTS = "outputs/"
FAILURES = "failures/"
CANCELLATIONS = "cancellations/"
REJECTIONS = "rejections/"
SAGEMAKER_INPUTS = "sagemaker-inputs/"
SAGEMAKER_OUTPUTS = "sagemaker-outputs/"
MANIFEST_NAME = "result.json"

_JOB_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
JOB_ID_PATTERN = re.compile(rf"^{_JOB_ID}$")


class KeyKind(StrEnum):
    """What an object under the bucket means to the status function."""

    MANIFEST = "manifest"
    FAILURE = "failure"
    CANCELLATION = "cancellation"


@dataclass(frozen=True)
class ParsedKey:
    """A key the status function acts on."""

    kind: KeyKind
    job_id: str


_PATTERNS = (
    (KeyKind.MANIFEST, re.compile(rf"^{OUTPUTS}(?P<job>{_JOB_ID})/{re.escape(MANIFEST_NAME)}$")),
    (KeyKind.FAILURE, re.compile(rf"^{FAILURES}(?P<job>{_JOB_ID})\.json$")),
    (KeyKind.CANCELLATION, re.compile(rf"^{CANCELLATIONS}(?P<job>{_JOB_ID})\.json$")),
)


def request_key(job_id: str, attempt: str | None = None) -> str:
    """Key of the stored request of ``job_id``. A submit with an Idempotency-Key writes its own (``attempt``): two
    concurrent retries then never overwrite the request the winning job record names (``JobRecord.request_key``).

    Example
    -------
    >>> request_key("0f0f", "a1")
    'requests/0f0f.a1.json'
    """
    return f"{REQUESTS}{job_id}.json" if attempt is None else f"{REQUESTS}{job_id}.{attempt}.json"


def input_prefix(owner: str) -> str:
    """Prefix under which ``owner`` may upload reference clips."""
    return f"{INPUTS}{owner}/"


def input_key(owner: str, upload_id: str, extension: str) -> str:
    """Key of one uploaded reference clip."""
    return f"{input_prefix(owner)}{upload_id}.{extension}"


def output_prefix(job_id: str) -> str:
    """Folder of every output of ``job_id``."""
    return f"{OUTPUTS}{job_id}/"


def output_key(job_id: str, index: int, extension: str) -> str:
    """Key of variation ``index`` of ``job_id`` in one format (``wav``, ``flac``, ``mp3``, ``peaks.json``).

    Example
    -------
    >>> output_key("0d5c1d6e-5f4b-4b8e-9a44-33a4f0c4a1b2", 1, "mp3")
    'outputs/0d5c1d6e-5f4b-4b8e-9a44-33a4f0c4a1b2/1.mp3'
    """
    return f"{output_prefix(job_id)}{index}.{extension}"


def manifest_key(job_id: str) -> str:
    """Key of the output manifest, the last object a worker writes for a finished job."""
    return f"{output_prefix(job_id)}{MANIFEST_NAME}"


def failure_key(job_id: str) -> str:
    """Key of the failure record of ``job_id``."""
    return f"{FAILURES}{job_id}.json"


def cancellation_key(job_id: str) -> str:
    """Key of the cancellation marker of ``job_id``."""
    return f"{CANCELLATIONS}{job_id}.json"


def rejection_key(upload_key: str) -> str:
    """Key of the record of why the upload ``upload_key`` was refused.

    Example
    -------
    >>> rejection_key("inputs/owner-a/0123abcd.flac")
    'rejections/inputs/owner-a/0123abcd.flac.json'
    """
    return f"{REJECTIONS}{upload_key}.json"


def sagemaker_input_key(job_id: str) -> str:
    """Key of the invocation input that hands ``job_id`` to the SageMaker asynchronous endpoint."""
    return f"{SAGEMAKER_INPUTS}{job_id}.json"


def parse_key(key: str) -> ParsedKey | None:
    """Classify an object key; ``None`` for keys the status function ignores.

    Example
    -------
    >>> parse_key("failures/0d5c1d6e-5f4b-4b8e-9a44-33a4f0c4a1b2.json").kind
    <KeyKind.FAILURE: 'failure'>
    """
    for kind, pattern in _PATTERNS:
        match = pattern.match(key)
        if match:
            return ParsedKey(kind, match["job"])
    return None
