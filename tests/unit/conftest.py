"""The in-memory job table, bucket and queue (``tests.support``) as fixtures, for every unit test folder."""

from __future__ import annotations

import pytest

from tests.support.fakes import FakeObjectStore, FakeQueue
from tests.support.job_table import FakeJobTable

BUCKET, QUEUE_URL = "unit-bucket", "https://sqs.example/unit-jobs"
WEBHOOK_QUEUE_URL = "https://sqs.example/unit-webhooks"


@pytest.fixture
def table() -> FakeJobTable:
    return FakeJobTable()


@pytest.fixture
def s3() -> FakeObjectStore:
    return FakeObjectStore(BUCKET)


@pytest.fixture
def sqs() -> FakeQueue:
    return FakeQueue(QUEUE_URL)
