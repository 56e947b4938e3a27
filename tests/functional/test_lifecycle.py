"""Cancel, idempotency, duplicate and late S3 events, dead letters, webhooks and jobs left behind by a crash."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from functions.api.errors import UnavailableError
from functions.api.services import Services
from functions.status import reconcile
from functions.status.handler import recorder
from infrastructure.local.dispatcher import LambdaContext, scheduled_event
from shared import keys
from shared.accounts import Caller, Limits
from shared.contract import GenerateRequest
from shared.records import JobRecord, utcnow
from shared.states import JobState
from shared.store import JobStore
from shared.webhooks import SIGNATURE_HEADER, SignatureError, verify
from tests.conftest import SEED_REQUEST, wait_for
from tests.worker_sim import take_message, write_failure, write_outputs


def test_cancel_a_queued_job_then_cancel_again_is_409(stack, api, aws, settings):
    job_id = api.submit()["job_id"]
    response = api.delete(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = api.delete(f"/api/v1/jobs/{job_id}")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    # a worker finishing anyway does not resurrect the job
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: stack.dispatcher.processed[keys.manifest_key(job_id)])  # the status function handled it
    assert api.status(job_id)["status"] == "cancelled"


def test_cancel_a_completed_job_is_409(api, aws, settings):
    job_id = api.submit()["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    response = api.delete(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 409 and "completed" in response.json()["detail"]


def test_idempotent_resubmission_returns_the_same_job_and_one_message(api, aws, settings):
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/api/v1/generate", json=SEED_REQUEST, headers=headers)
    second = api.post("/api/v1/generate", json=SEED_REQUEST, headers=headers)
    assert first.status_code == 202 and second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    job_id = first.json()["job_id"]
    assert second.json()["job_id"] == job_id and second.json()["seed"] == first.json()["seed"]
    assert [j["job_id"] for j in api.get("/api/v1/jobs").json()["jobs"]] == [job_id]
    take_message(aws("sqs"), settings.queue_url, job_id, visibility=60)
    other = aws("sqs").receive_message(QueueUrl=settings.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert job_id not in json.dumps(other.get("Messages", []))

    conflict = api.post("/api/v1/generate", json={**SEED_REQUEST, "batch_size": 2}, headers=headers)
    assert conflict.status_code == 409 and "Idempotency-Key" in conflict.json()["detail"]


def test_duplicate_and_out_of_order_events_never_move_a_job_backwards(stack, api, aws, settings):
    job_id = api.submit()["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    done = wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s)
    assert recorder().apply(keys.manifest_key(job_id)) is None  # duplicate delivery: no change
    write_failure(aws("s3"), settings.bucket_name, job_id, "late failure")  # out of order: after completion
    wait_for(lambda: stack.dispatcher.processed[keys.failure_key(job_id)])
    after = api.status(job_id)
    assert after["status"] == "completed" and after["error"] is None and after["completed_at"] == done["completed_at"]


def test_dead_lettered_message_fails_its_job_with_a_reason(api, aws, settings):
    job_id = api.submit()["job_id"]
    sqs = aws("sqs")
    for _ in range(3):  # maxReceiveCount in template.yaml; a worker that crashes every time
        take_message(sqs, settings.queue_url, job_id, visibility=0)
    sqs.receive_message(QueueUrl=settings.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)  # redrive happens
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "failed" and s, timeout=30)
    assert "did not succeed after" in status["error"]
    assert aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.failure_key(job_id))


def test_webhook_goes_through_its_queue_signed_once_per_final_state(stack, api, aws, settings, receiver):
    url, handler = receiver
    handler.fail_first = 0
    job_id = api.submit(webhook_url=url)["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: stack.dispatcher.webhooks[job_id])  # the webhook function handled the queued event
    recorder().apply(keys.manifest_key(job_id))  # a duplicate status event queues nothing
    assert stack.dispatcher.processed[keys.manifest_key(job_id)] == 1
    assert len(handler.calls) == 1 and stack.dispatcher.webhooks[job_id] == 1
    headers, body = handler.calls[0]
    secret = stack.webhook_secret(api.session.headers["X-API-Key"])  # the key's own, shown once at its creation
    verify(secret, body, headers[SIGNATURE_HEADER])
    for other in ("another-secret", stack.webhook_secret()):  # nor the master the key's secret is derived from
        with pytest.raises(SignatureError):
            verify(other, body, headers[SIGNATURE_HEADER])
    with pytest.raises(SignatureError):
        verify(secret, body.replace(b"completed", b"failed"), headers[SIGNATURE_HEADER])
    event = json.loads(body)
    assert event["event"] == "job.completed" and event["job_id"] == job_id and event["outputs"] and event["event_id"]
    job = recorder().store.get(job_id)
    assert job.webhook_delivered_at is not None and job.webhook_error is None
    queued = aws("sqs").get_queue_attributes(QueueUrl=settings.webhook_queue_url, AttributeNames=["All"])
    assert queued["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_failed_webhook_attempt_comes_back_through_the_queue_and_is_delivered(stack, api, aws, settings, receiver):
    url, handler = receiver  # answers 503 first
    job_id = api.submit(webhook_url=url)["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: stack.dispatcher.webhooks[job_id])
    assert len(handler.calls) == 2  # the same message, received twice (the local backoff rounds to 0 s)
    assert handler.calls[0][1] == handler.calls[1][1]
    assert recorder().store.get(job_id).webhook_delivered_at is not None


def test_a_webhook_that_keeps_failing_lands_in_the_dead_letter_queue_after_max_receives(stack, api, aws, settings,
                                                                                        receiver):
    from infrastructure.local.template import resource

    url, handler = receiver
    handler.fail_first = 1000
    job_id = api.submit(webhook_url=url)["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    dlq = stack.resources.webhook_dlq_url
    mine = lambda: [m for m in aws("sqs").receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,  # noqa: E731
                                                          VisibilityTimeout=0).get("Messages", [])
                    if json.loads(m["Body"])["job_id"] == job_id]  # another test's dead event may rest there too
    dead = wait_for(mine, timeout=30)
    attempts = int(resource("WebhookQueue")["RedrivePolicy"]["maxReceiveCount"])
    assert len(dead) == 1 and len(handler.calls) == attempts
    job = recorder().store.get(job_id)
    assert job.webhook_delivered_at is None and job.webhook_error == f"HTTP 503 (attempt {attempts})"
    for message in dead:
        aws("sqs").delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])


def test_cancel_notifies_the_webhook(api, receiver):
    url, handler = receiver
    handler.fail_first = 0
    job_id = api.submit(webhook_url=url)["job_id"]
    api.delete(f"/api/v1/jobs/{job_id}")
    wait_for(lambda: handler.calls)
    assert json.loads(handler.calls[0][1])["event"] == "job.cancelled"


def test_job_whose_message_could_not_be_sent_fails_at_once(settings, aws):
    broken = settings.model_copy(update={"queue_url": settings.queue_url + "-missing"})
    store = JobStore(aws("dynamodb"), settings.table_name)
    services = Services.build(broken, store, aws("s3"), aws("sqs"))
    request = GenerateRequest.model_validate(SEED_REQUEST)
    with pytest.raises(UnavailableError):
        services.submissions.submit(request, Caller(owner="owner-enqueue-test", account="owner-enqueue-test",
                                                    limits=Limits().resolved(settings), kind="key"), None)
    jobs, _ = store.list_for_owner("owner-enqueue-test", 5)
    assert [j.status for j in jobs] == [JobState.FAILED] and "could not be queued" in jobs[0].error
    assert aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.failure_key(jobs[0].job_id))


def test_job_left_unqueued_by_a_crash_is_sent_by_the_reconciler_not_by_reads(stack, api, settings, aws, receiver):

    url, handler = receiver
    handler.fail_first = 0
    store = JobStore(aws("dynamodb"), settings.table_name)
    created = utcnow() - timedelta(seconds=settings.orphan_after_s + 5)
    job_id = "0f0f0f0f-0000-4000-8000-000000000001"
    with stack.dispatcher.reconciler_paused():  # only this test's pass may run
        store.create(JobRecord(job_id=job_id, owner=api.owner, created_at=created,
                               updated_at=created, expires_at=JobRecord.ttl(created, 30), webhook_url=url,
                               request_key="requests/x.json", request_sha256="0", audio_length=95, batch_size=1,
                               output_format="wav", seed=1))
        before = store.get(job_id)
        assert api.status(job_id)["status"] == "queued" and api.get(f"/api/v1/jobs/{job_id}").status_code == 200
        assert store.get(job_id) == before  # reads never write
        result = reconcile.handler(scheduled_event("ReconcileSchedule", settings.aws_region),
                                   LambdaContext("ReconcileFunction"))
    assert result["resent"] >= 1
    assert api.status(job_id)["status"] == "queued" and store.get(job_id).enqueued_at is not None
    take_message(aws("sqs"), settings.queue_url, job_id)  # its message is in the queue now: a worker will run it


def test_a_final_job_whose_webhook_event_was_lost_is_queued_by_the_reconciler(stack, api, settings, aws, receiver):
    """A cancel whose marker was never written (or any final state whose status event was lost): the job waits in the
    active index's NOTIFY partition, not counted as queued, until a reconciler pass queues its event, once it ended
    ``notify_after_s`` ago; then it leaves the index."""

    url, handler = receiver
    handler.fail_first = 0
    store = JobStore(aws("dynamodb"), settings.table_name)
    created = utcnow() - timedelta(minutes=10)
    job_id = "0f0f0f0f-0000-4000-8000-000000000002"
    with stack.dispatcher.reconciler_paused():  # only this test's pass may run
        waiting = store.queued_count()
        assert store.create(JobRecord(job_id=job_id, owner=api.owner,
                                      created_at=created, updated_at=created, enqueued_at=created, webhook_url=url,
                                      expires_at=JobRecord.ttl(created, 30), request_key="requests/x.json",
                                      request_sha256="0", audio_length=95, batch_size=1, output_format="wav", seed=1))
        assert store.queued_count() == waiting + 1
        ended = utcnow() - timedelta(seconds=settings.notify_after_s + 5)
        assert store.transition(job_id, JobState.CANCELLED, completed_at=ended) is not None  # no marker follows
        assert store.queued_count() == waiting  # final: out of the queue counts, though still in the index
        assert job_id in store.notify_pending(utcnow()) and job_id not in store.notify_pending(ended)
        result = reconcile.handler(scheduled_event("ReconcileSchedule", settings.aws_region),
                                   LambdaContext("ReconcileFunction"))
    assert result["notified"] >= 1 and result["errors"] == 0
    wait_for(lambda: handler.calls)
    headers, body = handler.calls[0]
    verify(stack.webhook_secret(), body, headers[SIGNATURE_HEADER])  # a job without a key: the master signs it
    assert json.loads(body)["event"] == "job.cancelled" and json.loads(body)["job_id"] == job_id
    assert job_id not in store.notify_pending(utcnow()) and store.get(job_id).webhook_queued_at is not None
