from __future__ import annotations

import json

import pytest

from shared import keys
from shared.contract import GenerateRequest
from shared.presets import PRESETS, Preset
from shared.states import ALLOWED_FROM, FINAL_STATES, JobState, can_transition
from shared.webhooks import SignatureError, sign, verify

JOB = "0d5c1d6e-5f4b-4b8e-9a44-33a4f0c4a1b2"


def test_final_states_are_terminal_and_wire_names_match_the_contract():
    for final in FINAL_STATES:
        assert not any(can_transition(final, target) for target in JobState)
    assert [s.wire for s in JobState] == ["queued", "processing", "completed", "failed", "cancelled"]
    assert ALLOWED_FROM[JobState.RUNNING] == {JobState.QUEUED, JobState.RUNNING}
    # only the reconciler moves a job back to the queue, and only a running one (its worker died)
    assert ALLOWED_FROM[JobState.QUEUED] == {JobState.RUNNING}


def test_key_layout_round_trips():
    assert keys.parse_key(keys.manifest_key(JOB)) == keys.ParsedKey(keys.KeyKind.MANIFEST, JOB)
    assert keys.parse_key(keys.failure_key(JOB)).kind is keys.KeyKind.FAILURE
    assert keys.parse_key(keys.cancellation_key(JOB)).kind is keys.KeyKind.CANCELLATION
    assert keys.parse_key(keys.output_key(JOB, 0, "wav")) is None
    assert keys.parse_key(f"outputs/{JOB}/nested/result.json") is None


def test_presets_keep_the_frontend_names_and_high_equals_upstream():
    assert [p.value for p in Preset] == ["preview", "draft", "standard", "high", "maximum", "ultra", "fast", "turbo"]
    assert (PRESETS[Preset.HIGH].steps, PRESETS[Preset.HIGH].cfg_strength) == (32, 4.0)
    request = GenerateRequest(lyrics="[00:01.00]hello world", style_prompt="pop", steps=10)
    assert request.preset is Preset.HIGH and request.sampling().steps == 10 and request.sampling().cfg_strength == 4.0
    assert request.auto_master is True and request.audio_length == 95


def test_signature_verifies_and_rejects_tampering_and_replay():
    header = sign("secret", b'{"a":1}', timestamp=1_000)
    verify("secret", b'{"a":1}', header, now=1_010)
    for body, header_value, now in [(b'{"a":2}', header, 1_010), (b'{"a":1}', header, 2_000),
                                    (b'{"a":1}', "t=1000", 1_010), (b'{"a":1}', None, 1_010)]:
        with pytest.raises(SignatureError):
            verify("secret", body, header_value, now=now)


def test_a_webhook_event_carries_one_id_per_event_for_receivers_to_drop_repeats():
    from datetime import UTC, datetime

    from shared.records import JobRecord, WebhookEvent
    from shared.states import JobState

    now = datetime(2030, 1, 1, tzinfo=UTC)
    job = JobRecord(job_id="j-1", owner="o", status=JobState.COMPLETED, created_at=now, updated_at=now, expires_at=1,
                    request_key="requests/j-1.json", request_sha256="0", audio_length=95, batch_size=1,
                    output_format="wav", seed=1)
    first, again = WebhookEvent.for_job(job), WebhookEvent.for_job(job)
    failed = WebhookEvent.for_job(job.model_copy(update={"status": JobState.FAILED}))
    assert first.event_id == again.event_id != failed.event_id
    assert first.event_id in first.model_dump_json()  # inside the signed body
    assert first.error_code is None  # completed


def test_a_failed_jobs_webhook_event_carries_its_error_code():
    from datetime import UTC, datetime

    from shared.records import JobRecord, WebhookEvent
    from shared.states import JobState

    now = datetime(2030, 1, 1, tzinfo=UTC)
    job = JobRecord(job_id="j-2", owner="o", status=JobState.FAILED, created_at=now, updated_at=now, expires_at=1,
                    request_key="requests/j-2.json", request_sha256="0", audio_length=95, batch_size=1,
                    output_format="wav", seed=1, error="generation took longer than the time limit",
                    error_code="timed_out")
    event = WebhookEvent.for_job(job)
    assert (event.event, event.error_code, event.error) == ("job.failed", "timed_out", job.error)
    assert '"error_code":"timed_out"' in event.model_dump_json()  # inside the signed body


def test_a_completed_jobs_webhook_event_carries_each_songs_lyric_accuracy_and_content_credentials():
    from datetime import UTC, datetime

    from shared.records import JobRecord, OutputFile, WebhookEvent
    from shared.states import JobState

    now = datetime(2030, 1, 1, tzinfo=UTC)
    songs = [OutputFile(index=0, format="wav", key="outputs/j-3/0.wav", size_bytes=10, score=0.3, lyrics_accuracy=0.875,
                        content_credentials=True),
             OutputFile(index=1, format="wav", key="outputs/j-3/1.wav", size_bytes=10, score=0.2)]
    job = JobRecord(job_id="j-3", owner="o", status=JobState.COMPLETED, created_at=now, updated_at=now, expires_at=1,
                    request_key="requests/j-3.json", request_sha256="0", audio_length=95, batch_size=2,
                    output_format="wav", seed=1, outputs=songs)
    sent = json.loads(WebhookEvent.for_job(job).model_dump_json())  # the signed body
    assert [(o["lyrics_accuracy"], o["content_credentials"]) for o in sent["outputs"]] == [(0.875, True),
                                                                                          (None, False)]
