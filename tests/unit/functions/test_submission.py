"""Submitting over fakes: what is stored and sent, idempotent replays, the units quota and a failed send (the other
quotas: test_quotas.py)."""

from __future__ import annotations

import contextlib
import json

import pytest

from functions.api.errors import ConflictError, FieldError, RateLimitError, UnavailableError
from functions.api.services import Services
from shared import keys
from shared.accounts import Meter
from shared.contract import GenerateRequest
from shared.records import FailureRecord, JobMessage, JobRecord, JobRequestRecord
from shared.states import JobState
from shared.store import window_start
from tests.support.fakes import client_error, key_caller
from tests.support.job_table import FakeJobTable
from tests.unit.functions.conftest import LYRICS_REQUEST, NOW, OTHER, OWNER, make_settings, resolve

ME, THEM = key_caller(OWNER, make_settings()), key_caller(OTHER, make_settings())  # the ``settings`` fixture's limits


def request(**overrides: object) -> GenerateRequest:
    return GenerateRequest.model_validate({**LYRICS_REQUEST, **overrides})


def test_submit_stores_the_request_then_the_job_then_sends_the_message(services, table, s3, sqs):
    submission = services.submissions.submit(request(seed=7, batch_size=2), ME, None)
    job = submission.record
    assert not submission.replayed and job.owner == OWNER and job.seed == 7 and job.batch_size == 2
    assert (job.account, job.key_id) == (ME.account, ME.key_id)  # whom its GPU seconds and webhooks belong to
    stored = JobRequestRecord.model_validate_json(s3.body(keys.request_key(job.job_id)))
    assert stored.job_id == job.job_id and stored.seed == 7 and stored.lyrics == LYRICS_REQUEST["lyrics"]
    assert [JobMessage.model_validate_json(b).job_id for b in sqs.bodies] == [job.job_id]
    saved = table.jobs[job.job_id]
    assert saved.status is JobState.QUEUED and saved.created_at == NOW and saved.enqueued_at == NOW
    assert table.writes() == ["charge", "create", "set_fields"]
    # the message carries the enqueued_at written with it (a dead letter older than the job's message is superseded)
    assert JobMessage.model_validate_json(sqs.bodies[0]).enqueued_at == saved.enqueued_at


def test_a_seed_is_drawn_when_none_is_given_and_plain_lyrics_warn(services, s3):
    submission = services.submissions.submit(request(lyrics="first line of the song\nsecond line"), ME, None)
    stored = JobRequestRecord.model_validate_json(s3.body(keys.request_key(submission.record.job_id)))
    assert stored.seed == submission.record.seed and stored.lrc.startswith("[")
    assert any("no timestamps" in warning for warning in submission.warnings)


def test_replay_with_the_same_key_and_body_returns_the_job_and_sends_nothing(services, sqs):
    first = services.submissions.submit(request(), ME, "order-1")
    again = services.submissions.submit(request(), ME, "order-1")
    assert again.replayed and again.record.job_id == first.record.job_id and again.record.seed == first.record.seed
    assert len(sqs.bodies) == 1


def test_replay_with_another_body_is_a_conflict(services, table):
    services.submissions.submit(request(), ME, "order-2")
    with pytest.raises(ConflictError, match="different request body"):
        services.submissions.submit(request(batch_size=2), ME, "order-2")
    assert len(table.jobs) == 1


class _NotYetCreated(FakeJobTable):
    """Two submits with one Idempotency-Key at once: the loser's first read comes before the winner's create."""

    stale_reads = 0

    def get(self, job_id: str) -> JobRecord | None:
        if self.stale_reads:
            self.stale_reads -= 1
            return None
        return super().get(job_id)


@pytest.mark.parametrize("loser_body", [{}, {"batch_size": 2}], ids=["same body", "another body"])
def test_concurrent_retries_of_one_key_never_overwrite_the_winners_request(s3, sqs, clock, loser_body):
    table = _NotYetCreated()
    submissions = Services.build(make_settings(), table, s3, sqs, clock, resolve).submissions
    winner = submissions.submit(request(), ME, "order-race").record
    table.stale_reads = 1
    with contextlib.suppress(ConflictError):  # another body: 409 once its create finds the winner's job
        submissions.submit(request(**loser_body), ME, "order-race")
    job = table.jobs[winner.job_id]
    stored = JobRequestRecord.model_validate_json(s3.body(job.request_key))
    assert stored.seed == job.seed and stored.batch_size == job.batch_size == 1  # what the worker will run
    assert len(sqs.bodies) == 1


def test_idempotency_keys_are_per_owner(services):
    mine = services.submissions.submit(request(), ME, "same").record.job_id
    theirs = services.submissions.submit(request(), THEM, "same").record.job_id
    assert mine != theirs


def test_replay_resends_a_job_a_crash_left_unqueued(services, table, sqs):
    sqs.failing = RuntimeError("the function died between the put and the send")
    with pytest.raises(RuntimeError):
        services.submissions.submit(request(), ME, "order-3")
    (job,) = table.jobs.values()
    assert job.status is JobState.QUEUED and job.enqueued_at is None and sqs.bodies == []
    sqs.failing = None
    replay = services.submissions.submit(request(), ME, "order-3")
    assert replay.replayed and [JobMessage.model_validate_json(b).job_id for b in sqs.bodies] == [job.job_id]
    assert table.jobs[job.job_id].enqueued_at is not None


def test_the_units_quota_counts_per_account_per_clock_hour(services, clock):
    for _ in range(3):
        services.submissions.submit(request(), ME, None)
    with pytest.raises(RateLimitError) as refused:
        services.submissions.submit(request(), ME, None)
    assert refused.value.status == 429  # NOW is hh:59:00
    assert refused.value.headers == {"Retry-After": "60", "X-Quota-Limit": "units_per_hour"}
    assert "3 units per hour" in refused.value.detail
    services.submissions.submit(request(), THEM, None)  # another account has its own count
    clock.advance(60)  # the next clock hour
    services.submissions.submit(request(), ME, None)


def test_the_most_expensive_request_spends_proportionally_more_of_the_budget(table, s3, sqs, clock):
    settings = make_settings(rate_limit_per_hour=40)
    services, me = Services.build(settings, table, s3, sqs, clock), key_caller(OWNER, settings)
    window = OWNER, Meter.UNITS_PER_HOUR, window_start(Meter.UNITS_PER_HOUR, NOW)
    services.submissions.submit(request(), me, None)
    assert table.usage_counts[window] == 1  # one default job: one unit
    longest = request(audio_length=285, batch_size=4, preset="ultra",
                      lyrics="[00:00.00]Line 1\n[00:05.00]Line 2")
    services.submissions.submit(longest, me, None)
    assert table.usage_counts[window] == 1 + 38  # 285 s x 100 steps x 4 variations = 37.5 default jobs
    services.submissions.submit(request(), me, None)  # the last unit
    with pytest.raises(RateLimitError) as refused:
        services.submissions.submit(request(), me, None)
    assert refused.value.headers == {"Retry-After": "60", "X-Quota-Limit": "units_per_hour"}
    assert "costs 1" in refused.value.detail
    assert len(sqs.bodies) == 3


def test_a_request_over_what_is_left_is_429_and_spends_nothing(services, table, sqs):
    services.submissions.submit(request(), ME, None)  # 1 of 3 units
    with pytest.raises(RateLimitError) as refused:
        services.submissions.submit(request(batch_size=3), ME, None)  # 3 units: 2 are left
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "60"
    assert "costs 3" in refused.value.detail and len(table.jobs) == 1
    services.submissions.submit(request(batch_size=2), ME, None)  # what is left still fits


def test_a_request_costing_more_than_the_whole_hourly_limit_is_422_naming_the_fields(services, table, sqs):
    with pytest.raises(FieldError) as refused:
        services.submissions.submit(request(audio_length=285, lyrics="[00:00.00]Line 1\n[00:05.00]Line 2",
                                            batch_size=2), ME, None)  # 6 units, limit 3
    assert refused.value.status == 422
    assert [e["loc"] for e in refused.value.errors] == [["body", "audio_length"], ["body", "preset"],
                                                        ["body", "batch_size"]]
    assert "costs 6 units" in refused.value.errors[0]["msg"]
    with pytest.raises(FieldError) as by_steps:
        services.submissions.submit(request(steps=100), ME, None)  # 4 units
    assert ["body", "steps"] in [e["loc"] for e in by_steps.value.errors]
    assert table.jobs == {} and sqs.bodies == [] and "charge" not in table.calls


def test_a_units_quota_of_zero_means_no_limit_but_still_counts(table, s3, sqs, clock):
    settings = make_settings(rate_limit_per_hour=0)
    services, me = Services.build(settings, table, s3, sqs, clock), key_caller(OWNER, settings)
    for _ in range(5):
        services.submissions.submit(request(steps=100), me, None)  # 4 units each
    assert len(sqs.bodies) == 5
    assert table.usage(OWNER, [Meter.UNITS_PER_HOUR], NOW) == {Meter.UNITS_PER_HOUR: 20}


def test_a_failed_send_fails_the_job_with_a_record_and_answers_503(services, table, s3, sqs):
    sqs.failing = client_error("ServiceUnavailable", "SendMessage")
    with pytest.raises(UnavailableError) as error:
        services.submissions.submit(request(), ME, None)
    assert error.value.status == 503
    (job,) = table.jobs.values()
    assert job.status is JobState.FAILED and "could not be queued" in (job.error or "") and job.completed_at
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job.job_id)))
    assert failure.code == "enqueue_failed" and failure.reason == job.error


def test_webhooks_must_be_https_unless_insecure_ones_are_allowed(services, table, s3, sqs, clock):
    with pytest.raises(FieldError) as error:
        services.submissions.submit(request(webhook_url="http://example.com/hook"), ME, None)
    assert error.value.errors[0]["loc"] == ["body", "webhook_url"] and table.jobs == {}
    local = Services.build(make_settings(allow_insecure_webhooks=True), table, s3, sqs, clock, resolve)
    job = local.submissions.submit(request(webhook_url="http://example.com/hook"), ME, None).record
    assert job.webhook_url == "http://example.com/hook"


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://[::1]/hook", "https://localhost/hook", "https://10.1.2.3/hook",
    "https://192.168.0.5:8443/hook", "https://169.254.169.254/latest/meta-data", "https://metadata.example.com/x",
    "https://mixed.example.com/hook", "https://[fc00::1]/hook", "https://nowhere.invalid/hook",
])
def test_webhooks_to_private_loopback_link_local_or_unresolvable_targets_are_refused(services, table, url):
    with pytest.raises(FieldError) as error:
        services.submissions.submit(request(webhook_url=url), ME, None)
    assert error.value.errors[0]["loc"] == ["body", "webhook_url"] and table.jobs == {}


def test_a_public_https_webhook_is_accepted(services):
    job = services.submissions.submit(request(webhook_url="https://hooks.example.com/x"), ME, None).record
    assert job.webhook_url == "https://hooks.example.com/x"


def test_a_webhook_host_the_resolver_cannot_answer_for_now_is_accepted_and_checked_at_send(services, table):
    """A SERVFAIL or a DNS timeout says nothing about the target: the job is accepted (the check before each call
    refuses it then if it points inside); a host that does not exist is refused above."""
    job = services.submissions.submit(request(webhook_url="https://flaky.example.com/x"), ME, None).record
    assert job.webhook_url == "https://flaky.example.com/x" and table.jobs[job.job_id].status is JobState.QUEUED


def test_reference_clips_must_be_the_callers_existing_uploads(services, s3):
    others = keys.input_key(OTHER, "abc", "wav")
    s3.objects[others] = (b"RIFF", "audio/wav")
    no_style = {k: v for k, v in LYRICS_REQUEST.items() if k != "style_prompt"}
    with pytest.raises(FieldError) as stolen:
        services.submissions.submit(GenerateRequest.model_validate({**no_style, "reference_audio_key": others}),
                                    ME, None)
    assert stolen.value.errors[0]["loc"] == ["body", "reference_audio_key"]
    missing = keys.input_key(OWNER, "never-uploaded", "wav")
    edit = {"reference_audio_key": missing, "segments": [[10, 20]]}
    with pytest.raises(FieldError) as absent:
        services.submissions.submit(request(edit=edit), ME, None)
    assert absent.value.errors[0]["loc"] == ["body", "edit", "reference_audio_key"]
    assert "upload" in absent.value.errors[0]["msg"]
    mine = keys.input_key(OWNER, "mine", "wav")
    s3.objects[mine] = (b"RIFF", "audio/wav")
    job = services.submissions.submit(GenerateRequest.model_validate({**no_style, "reference_audio_key": mine}),
                                      ME, None).record
    assert json.loads(s3.body(keys.request_key(job.job_id)))["reference_audio_key"] == mine
