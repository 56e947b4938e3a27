"""Reference-clip uploads, the upload check, and the 422s: every error names its field and what was expected."""

from __future__ import annotations

from functools import cache

import pytest
import requests
from botocore.exceptions import ClientError

from shared import keys
from shared.audio_probe import MIN_DURATION_S
from tests.conftest import SEED_REQUEST, wait_for
from tests.unit.shared.test_audio_probe import encode
from tests.worker_sim import wav_bytes


@cache
def clip() -> bytes:
    """A clip the upload check keeps (long enough for a style reference)."""
    return wav_bytes(MIN_DURATION_S + 0.5)


def _upload(api, data: bytes, content_type: str = "audio/wav") -> str:
    response = api.post("/api/v1/uploads", json={"content_type": content_type, "size_bytes": len(data)})
    assert response.status_code == 201, response.text
    grant = response.json()
    put = requests.put(grant["upload_url"], data=data, headers=grant["headers"], timeout=10)
    assert put.status_code == 200
    return str(grant["key"])


def test_reference_clip_upload_then_submit_with_it(stack, api, aws, settings):
    key = _upload(api, clip())
    wait_for(lambda: stack.dispatcher.processed[key])  # the upload check kept it
    aws("s3").head_object(Bucket=settings.bucket_name, Key=key)
    request = {k: v for k, v in SEED_REQUEST.items() if k != "style_prompt"}
    job = api.post("/api/v1/generate", json={**request, "reference_audio_key": key})
    assert job.status_code == 202, job.text


@pytest.mark.parametrize(("data", "content_type", "reason"), [
    (lambda: encode(30 * 60), "audio/flac", "the clip is 1800.0 s long; at most 600 s are accepted"),
    (lambda: wav_bytes(2.0), "audio/wav", "the clip is 2.0 s long; at least 10 s are needed"),
    (lambda: b"ID3 but not really an mp3" * 20, "audio/mpeg", "could not be read as audio"),
], ids=["30-minute-silent-flac", "too-short", "not-audio"])
def test_an_upload_refused_at_upload_time_is_deleted_and_submit_is_422_with_the_reason(
        stack, api, aws, settings, data, content_type, reason):
    key = _upload(api, data(), content_type)
    wait_for(lambda: stack.dispatcher.processed[key])  # the upload check ran
    with pytest.raises(ClientError, match="404"):
        aws("s3").head_object(Bucket=settings.bucket_name, Key=key)
    assert aws("s3").head_object(Bucket=settings.bucket_name, Key=keys.rejection_key(key))
    request = {k: v for k, v in SEED_REQUEST.items() if k != "style_prompt"}
    refused = api.post("/api/v1/generate", json={**request, "reference_audio_key": key})
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "reference_audio_key"]
    assert error["msg"].startswith("the uploaded file was refused: ") and reason in error["msg"]
    edit = api.post("/api/v1/generate", json={**SEED_REQUEST, "edit": {"reference_audio_key": key,
                                                                         "segments": [[10, 20]]}})
    assert edit.status_code == 422 and edit.json()["detail"][0]["loc"] == ["body", "edit", "reference_audio_key"]


def test_upload_limits_type_and_size(api, settings):
    wrong_type = api.post("/api/v1/uploads", json={"content_type": "video/mp4", "size_bytes": 10})
    assert wrong_type.status_code == 422 and wrong_type.json()["detail"][0]["loc"] == ["body", "content_type"]
    too_big = api.post("/api/v1/uploads",
                       json={"content_type": "audio/wav", "size_bytes": settings.max_upload_bytes + 1})
    assert too_big.status_code == 422 and too_big.json()["detail"][0]["loc"] == ["body", "size_bytes"]


def test_reference_keys_must_be_the_callers_existing_uploads(api, other_api):
    foreign = _upload(other_api, clip())
    request = {k: v for k, v in SEED_REQUEST.items() if k != "style_prompt"}
    stolen = api.post("/api/v1/generate", json={**request, "reference_audio_key": foreign})
    assert stolen.status_code == 422 and stolen.json()["detail"][0]["loc"] == ["body", "reference_audio_key"]
    mine = _upload(api, clip())
    missing = mine.rsplit("/", 1)[0] + "/never-uploaded.wav"
    edit = api.post("/api/v1/generate", json={**SEED_REQUEST, "edit": {"reference_audio_key": missing,
                                                                         "segments": [[10, 20]]}})
    assert edit.status_code == 422
    assert edit.json()["detail"][0]["loc"] == ["body", "edit", "reference_audio_key"]
    assert "upload" in edit.json()["detail"][0]["msg"]


def test_edit_mode_segments_accept_minus_one_and_reject_bad_ranges(api):
    key = _upload(api, clip())
    ok = api.post("/api/v1/generate", json={**SEED_REQUEST, "edit": {"reference_audio_key": key,
                                                                       "segments": [[-1, 10], [60, -1]]}})
    assert ok.status_code == 202, ok.text
    bad = api.post("/api/v1/generate", json={**SEED_REQUEST, "edit": {"reference_audio_key": key,
                                                                        "segments": [[30, 20]]}})
    assert bad.status_code == 422 and "edit.segments" in bad.json()["detail"][0]["msg"]


def test_schema_errors_name_the_field(api):
    cases = {
        "audio_length": ({"audio_length": 300}, "less than or equal to 285"),
        "batch_size": ({"batch_size": 5}, "less than or equal to 4"),
        "preset": ({"preset": "hyper"}, "preview"),
        "lyrics": ({"lyrics": "short"}, "at least 10"),
        "output_format": ({"output_format": "ogg"}, "wav"),
        "seed": ({"seed": -1}, "greater than or equal to 0"),
    }
    for field, (override, expected) in cases.items():
        response = api.post("/api/v1/generate", json={**SEED_REQUEST, **override})
        assert response.status_code == 422, field
        error = response.json()["detail"][0]
        assert error["loc"] == ["body", field] and expected in error["msg"], (field, error)


def test_lyrics_errors_name_each_line(api):
    lyrics = "[00:10.00]first line\n[00:05.00]out of order\n[00:7x.00]bad stamp\n[02:00.00]past the end"
    response = api.post("/api/v1/generate", json={**SEED_REQUEST, "lyrics": lyrics})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert all(e["loc"] == ["body", "lyrics"] for e in errors)
    assert [e["ctx"]["line"] for e in errors] == [2, 3, 4]
    assert "out of order" in errors[0]["msg"] and "bad timestamp" in errors[1]["msg"]
    assert "after the end" in errors[2]["msg"]


def test_plain_lyrics_are_accepted_and_reported_as_spread(api):
    job = api.submit(lyrics="first line of the song\nsecond line of the song")
    assert any("no timestamps" in warning for warning in job["warnings"])


def test_style_is_required_once_and_webhooks_must_be_http_urls(api):
    request = {k: v for k, v in SEED_REQUEST.items() if k != "style_prompt"}
    neither = api.post("/api/v1/generate", json=request)
    assert neither.status_code == 422 and "style_prompt" in neither.json()["detail"][0]["msg"]
    bad_hook = api.post("/api/v1/generate", json={**SEED_REQUEST, "webhook_url": "ftp://example.com/x"})
    assert bad_hook.status_code == 422 and bad_hook.json()["detail"][0]["loc"] == ["body", "webhook_url"]
