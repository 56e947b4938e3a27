"""The webhook function over fakes: one attempt per queued event, the outcome on the job, failures back later."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.status import webhook
from functions.status.webhook import MAX_BACKOFF_S, RetryLater, WebhookSender, backoff_s
from shared.records import JobRecord, WebhookEvent, utcnow
from shared.states import JobState
from shared.webhooks import DeliveryError, SignatureError, key_secret, sign, verify
from tests.support.fakes import FakeQueue
from tests.support.job_table import FakeJobTable
from tests.unit.conftest import WEBHOOK_QUEUE_URL
from tests.unit.functions.conftest import make_settings, put_job, resolve

HOOK = "https://hooks.example.com/done"
SECRET_ID = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-master-AbCdEf"
MASTER = "unit-master-secret"


class Secrets(dict[str, str]):
    """Secrets Manager in memory: the ids read, in order, in ``reads``."""

    def __init__(self, **values: str) -> None:
        super().__init__(values)
        self.reads: list[str] = []

    def __call__(self, secret_id: str) -> str:
        self.reads.append(secret_id)
        return self[secret_id]


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue(WEBHOOK_QUEUE_URL)


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(**{SECRET_ID: MASTER})


@pytest.fixture
def sender(table: FakeJobTable, queue: FakeQueue, secrets: Secrets) -> WebhookSender:
    settings = make_settings(webhook_queue_url=WEBHOOK_QUEUE_URL, webhook_secret_id=SECRET_ID)
    return WebhookSender(settings, table, queue, secrets, resolve)


class Posts(list[dict[str, Any]]):
    """The POSTs the function makes (fake ``deliver``); each raises ``failing`` when set."""

    failing: Exception | None = None

    def deliver(self, url: str, body: bytes, secret: str, **options: Any) -> None:
        self.append({"url": url, "body": body, "secret": secret, **options})
        if self.failing is not None:
            raise self.failing


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> Posts:
    made = Posts()
    monkeypatch.setattr(webhook, "deliver", made.deliver)
    return made


def message(job: JobRecord, receive_count: int = 1, message_id: str = "m-1") -> dict[str, Any]:
    """An SQS record as the event source mapping delivers it, carrying the job's event."""
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "eventSource": "aws:sqs",
            "body": WebhookEvent.for_job(job).model_dump_json(), "md5OfBody": "", "messageAttributes": {},
            "attributes": {"ApproximateReceiveCount": str(receive_count)}, "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhooks"}


class Context:
    """A Lambda context whose remaining time is read from ``remaining_ms`` (the last value repeats)."""

    def __init__(self, *remaining_ms: int) -> None:
        self.remaining_ms = list(remaining_ms or (55_000,))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms.pop(0) if len(self.remaining_ms) > 1 else self.remaining_ms[0]


def final_job(table: FakeJobTable, url: str = HOOK, **fields: Any) -> JobRecord:
    return put_job(table, status=JobState.COMPLETED, outputs=("wav",), webhook_url=url, completed_at=utcnow(),
                   webhook_queued_at=utcnow(), **fields)


def test_an_event_is_delivered_signed_with_the_queued_body_and_recorded(sender, table, queue, posts, secrets):
    job = final_job(table)  # no key: the master secret signs
    record = message(job)
    assert sender.send(SQSRecord(record)) == "delivered"
    assert [(p["url"], p["body"], p["secret"]) for p in posts] == [(HOOK, record["body"].encode(), MASTER)]
    assert secrets.reads == [SECRET_ID]  # read by its id from the settings, not from the environment
    assert posts[0]["allow_private"] is False and posts[0]["timeout_s"] == 5.0
    saved = table.jobs[job.job_id]
    assert saved.webhook_delivered_at is not None and saved.webhook_error is None
    assert queue.visibility == []


def test_a_failed_attempt_is_raised_with_a_growing_visibility_and_recorded(sender, table, queue, posts):
    job = final_job(table)
    posts.failing = DeliveryError("HTTP 503")
    with pytest.raises(RetryLater, match="HTTP 503"):
        sender.send(SQSRecord(message(job, receive_count=3)))
    assert queue.visibility == [("rh-m-1", 120)]
    saved = table.jobs[job.job_id]
    assert saved.webhook_delivered_at is None and saved.webhook_error == "HTTP 503 (attempt 3)"


def test_a_batch_reports_only_the_failed_records_for_redelivery(sender, table, queue, posts, monkeypatch):
    good, bad = final_job(table, "https://hooks.example.com/good"), final_job(table, "https://hooks.example.com/bad")

    def deliver(url: str, body: bytes, secret: str, **_: Any) -> None:
        if url.endswith("/bad"):
            raise DeliveryError("ConnectionRefusedError: [Errno 111] Connection refused")

    monkeypatch.setattr(webhook, "deliver", deliver)
    monkeypatch.setattr(webhook, "sender", lambda: sender)
    event = {"Records": [message(good, message_id="good"), message(bad, message_id="bad")]}
    assert webhook._handle(event, Context()) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert table.jobs[good.job_id].webhook_delivered_at is not None
    assert queue.visibility == [("rh-bad", 30)]


def test_a_batch_where_every_record_fails_is_answered_not_raised(sender, table, posts, monkeypatch):
    job = final_job(table)
    posts.failing = DeliveryError("HTTP 500")
    monkeypatch.setattr(webhook, "sender", lambda: sender)
    assert webhook._handle({"Records": [message(job)]}, Context()) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_records_there_is_no_time_left_to_try_are_reported_untried_with_their_visibility_unchanged(
        sender, table, queue, posts, monkeypatch):
    """One attempt takes up to ``webhook_timeout_s`` (5 s) + ``RESERVE_S``: with 7 s left the first record is tried,
    with 6.9 s the others are handed back as they are, not cut off by the function's timeout."""
    jobs = [final_job(table, f"https://hooks.example.com/{i}") for i in range(3)]
    monkeypatch.setattr(webhook, "sender", lambda: sender)
    event = {"Records": [message(job, message_id=f"m-{i}") for i, job in enumerate(jobs)]}
    result = webhook._handle(event, Context(7_000, 6_900))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert [p["url"] for p in posts] == ["https://hooks.example.com/0"]
    assert queue.visibility == [] and table.jobs[jobs[0].job_id].webhook_delivered_at is not None
    assert all(table.jobs[job.job_id].webhook_error is None for job in jobs[1:])  # untried: nothing recorded


@pytest.mark.parametrize("host", ["flaky.example.com", "gone.example.com"])
def test_a_host_that_does_not_resolve_at_send_is_retried_not_dropped(sender, table, queue, monkeypatch, host):
    """The resolver's SERVFAIL or timeout (flaky), and a host that resolved at submit but not now (gone): a DNS
    outage or change, retried with the backoff, not a target refused for good."""
    import socket

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected without an address"))
    job = final_job(table, f"https://{host}/hook")
    with pytest.raises(RetryLater, match="resolve"):
        sender.send(SQSRecord(message(job, receive_count=2)))
    assert queue.visibility == [("rh-m-1", 60)]
    saved = table.jobs[job.job_id]
    assert "resolve" in (saved.webhook_error or "") and saved.webhook_delivered_at is None


def test_an_unsafe_target_is_recorded_and_dropped_without_connecting(sender, table, queue, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected to an unsafe target"))
    job = final_job(table, "https://metadata.example.com/latest")  # resolves to 169.254.169.254 now
    assert sender.send(SQSRecord(message(job))) == "target not allowed"
    saved = table.jobs[job.job_id]
    assert "private, loopback or link-local" in (saved.webhook_error or "") and saved.webhook_delivered_at is None
    assert queue.visibility == []


@pytest.mark.parametrize("status", [JobState.QUEUED, JobState.RUNNING])
def test_an_event_for_a_job_that_is_not_final_is_dropped(sender, table, posts, status):
    job = put_job(table, status=status, webhook_url=HOOK)
    record = message(job.model_copy(update={"status": JobState.COMPLETED}))
    assert sender.send(SQSRecord(record)) == "job gone or not final"
    assert posts == []


def test_an_event_for_a_job_that_is_gone_is_dropped(sender, table, posts):
    job = final_job(table)
    del table.jobs[job.job_id]
    assert sender.send(SQSRecord(message(job))) == "job gone or not final"
    assert posts == []


def test_a_duplicate_delivery_of_a_delivered_event_posts_nothing(sender, table, posts):
    job = final_job(table, webhook_delivered_at=utcnow())
    assert sender.send(SQSRecord(message(job))) == "already delivered"
    assert posts == []


def test_a_body_that_is_not_an_event_is_dropped(sender, posts):
    record = {"messageId": "x", "receiptHandle": "rh-x", "body": "{\"job\": 1}", "attributes": {}}
    assert sender.send(SQSRecord(record)) == "not an event"
    assert posts == []


def test_the_backoff_doubles_from_30_s_and_stops_at_15_minutes():
    assert make_settings().webhook_backoff_s == 30.0  # the default base
    delays = [backoff_s(count) for count in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
    assert backoff_s(0) == 30 and backoff_s(10_000) == MAX_BACKOFF_S
    assert [backoff_s(count, 0.05) for count in (1, 5)] == [0, 0]  # a local stack's base: visible again at once


def test_jobs_of_two_keys_are_signed_with_each_keys_own_secret_which_the_other_cannot_verify(sender, table, posts):
    """Per-key webhook secrets: each receiver verifies its own events with the secret its key was given, and a
    receiver holding another key's secret rejects them (a customer cannot forge another's ``job.completed``)."""
    acme = final_job(table, "https://hooks.example.com/acme", owner="acme", account="acme", key_id="key_" + "a" * 16)
    globex = final_job(table, "https://hooks.example.com/globex", owner="globex", account="globex",
                       key_id="key_" + "b" * 16)
    for job in (acme, globex):
        assert sender.send(SQSRecord(message(job, message_id=job.job_id))) == "delivered"
    secrets = [post["secret"] for post in posts]
    assert secrets == [key_secret(MASTER, "key_" + "a" * 16), key_secret(MASTER, "key_" + "b" * 16)]
    assert len({*secrets, MASTER}) == 3  # neither is the master
    for post, own, other in ((posts[0], secrets[0], secrets[1]), (posts[1], secrets[1], secrets[0])):
        header = sign(post["secret"], post["body"])  # what deliver() sends for this secret
        verify(own, post["body"], header)
        with pytest.raises(SignatureError, match="does not match"):
            verify(other, post["body"], header)
        with pytest.raises(SignatureError, match="does not match"):
            verify(MASTER, post["body"], header)


def test_a_secret_that_cannot_be_read_leaves_the_record_for_later_without_posting(table, queue, posts):
    def refuse(secret_id: str) -> str:
        raise RuntimeError(f"AccessDeniedException reading {secret_id}")

    settings = make_settings(webhook_queue_url=WEBHOOK_QUEUE_URL, webhook_secret_id=SECRET_ID)
    job = final_job(table)
    with pytest.raises(RetryLater, match="secret not readable"):
        WebhookSender(settings, table, queue, refuse, resolve).send(SQSRecord(message(job)))
    assert posts == [] and queue.visibility == []  # back after the queue's own visibility timeout
    saved = table.jobs[job.job_id]
    assert saved.webhook_error is None and saved.webhook_delivered_at is None  # nothing the customer should see
