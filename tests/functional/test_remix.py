"""A remix over HTTP against moto: accepted for the caller's finished job or upload, and every refusal a 422 that
names its field (another owner's job reads as unknown, an unfinished one says so)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import keys
from shared.records import JobRequestRecord
from tests.conftest import SEED_REQUEST, wait_for
from tests.functional.test_uploads_and_validation import _upload, clip
from tests.worker_sim import write_outputs


def finished(api, aws, settings) -> str:
    """A job of ``api``'s caller, completed by a simulated worker."""
    job_id = str(api.submit()["job_id"])
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    return job_id


def refusal(api, **remix: Any) -> dict[str, Any]:
    """The one error of a refused remix request."""
    response = api.post("/api/v1/generate", json={**SEED_REQUEST, "remix": remix})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    return dict(error)


def test_a_remix_of_the_callers_finished_job_is_accepted_and_stored_as_a_remix_of_its_song(api, aws, settings):
    source = finished(api, aws, settings)
    accepted = api.submit(remix={"job_id": source, "strength": 0.5}, lyrics="a new first line\nand a second one")
    body = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.request_key(accepted["job_id"]))["Body"]
    stored = JobRequestRecord.model_validate_json(body.read())
    assert stored.source_job == source and stored.remix is not None and stored.remix.strength == 0.5
    assert stored.remix.reference_audio_key == keys.output_key(source, 0, "wav")
    assert accepted["warnings"] == ["the new lyrics had no timestamps: their 2 lines take the times of the source "
                                    "song's lines"]
    assert stored.lrc == "[00:00.00]a new first line\n[00:05.00]and a second one\n[00:07.40]"  # the source's times


def test_a_remix_of_an_upload_is_accepted(stack, api):
    key = _upload(api, clip())
    wait_for(lambda: stack.dispatcher.processed[key])
    accepted = api.post("/api/v1/generate", json={**SEED_REQUEST, "remix": {"reference_audio_key": key,
                                                                            "strength": 0.8}})
    assert accepted.status_code == 202, accepted.text


def test_another_owners_job_is_unknown_and_an_unfinished_job_is_refused(api, other_api, aws, settings):
    theirs = finished(other_api, aws, settings)
    error = refusal(api, job_id=theirs, strength=0.5)
    assert error["loc"] == ["body", "remix", "job_id"] and error["msg"] == f"no job {theirs} of yours"
    queued = api.submit()["job_id"]
    error = refusal(api, job_id=queued, strength=0.5)
    assert error["loc"] == ["body", "remix", "job_id"] and "is queued; only a completed job" in error["msg"]
    foreign = _upload(other_api, clip())
    error = refusal(api, reference_audio_key=foreign, strength=0.5)
    assert error["loc"] == ["body", "remix", "reference_audio_key"]


@pytest.mark.parametrize(("remix", "loc", "says"), [
    ({"job_id": "x", "strength": 0}, ["body", "remix", "strength"], "greater than 0"),
    ({"job_id": "x", "strength": 1.01}, ["body", "remix", "strength"], "less than or equal to 1"),
    ({"job_id": "x"}, ["body", "remix", "strength"], "Field required"),
    ({"strength": 0.5}, ["body", "remix"], "exactly one of job_id"),
    ({"job_id": "x", "reference_audio_key": "y", "strength": 0.5}, ["body", "remix"], "exactly one of job_id"),
    ({"job_id": "x", "strength": 0.5, "segments": [[1, 2]]}, ["body", "remix", "segments"], "Extra inputs"),
])
def test_a_bad_remix_is_a_422_naming_the_field(api, remix, loc, says):
    error = refusal(api, **remix)
    assert error["loc"] == loc and says in error["msg"]


def test_a_remix_with_an_edit_or_an_extension_is_refused(api):
    for other in ({"extend": {"job_id": "x"}, "audio_length": 120}, {"edit": {"job_id": "x", "segments": [[1, 2]]}}):
        response = api.post("/api/v1/generate", json={**SEED_REQUEST, **other,
                                                      "remix": {"job_id": "x", "strength": 0.5}})
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "remix"] and "without edit or extend" in error["msg"]
