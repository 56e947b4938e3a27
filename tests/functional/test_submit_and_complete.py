"""The main path over HTTP: submit -> QUEUED (S3 request, SQS message) -> worker outputs -> COMPLETED -> download."""

from __future__ import annotations

import json

import requests

from shared import keys
from shared.records import JobMessage, JobRequestRecord
from tests.conftest import SEED_REQUEST, wait_for
from tests.worker_sim import take_message, wav_bytes, write_failure, write_outputs


def test_seed_example_is_accepted_unchanged_with_the_seed_response_fields(api):
    response = api.post("/api/v1/generate", json=SEED_REQUEST)
    assert response.status_code == 202
    body = response.json()
    assert {"job_id", "status", "queue_position", "estimated_wait_minutes", "message"} <= set(body)
    assert body["status"] == "queued"
    assert isinstance(body["queue_position"], int) and isinstance(body["estimated_wait_minutes"], int)


def test_legacy_alias_path_accepts_the_same_request(api):
    response = api.post("/api/generate", json=SEED_REQUEST)
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_submit_stores_request_in_s3_and_message_in_sqs(api, aws, settings):
    job = api.submit(seed=7, batch_size=2)
    status = api.status(job["job_id"])
    assert status["status"] == "queued" and status["queue_position"] >= 0 and status["seed"] == 7
    assert status["created_at"] and status["started_at"] is None and status["error"] is None

    stored = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.request_key(job["job_id"]))
    request = JobRequestRecord.model_validate_json(stored["Body"].read())
    assert request.lyrics == SEED_REQUEST["lyrics"] and request.batch_size == 2 and request.seed == 7

    message = take_message(aws("sqs"), settings.queue_url, job["job_id"])
    body = JobMessage.model_validate_json(message["Body"])
    assert body.request_key == keys.request_key(job["job_id"])


def test_a_full_length_request_reaches_the_worker_with_its_length(api, aws, settings):
    """The worker picks the model from the stored length (``shared.timeline.variant_for``; tests/model checks it)."""
    job = api.submit(audio_length=180, lyrics="[00:10.00]Hello\n[02:30.00]Goodbye")
    body = JobMessage.model_validate_json(take_message(aws("sqs"), settings.queue_url, job["job_id"])["Body"])
    stored = aws("s3").get_object(Bucket=settings.bucket_name, Key=body.request_key)["Body"].read()
    request = JobRequestRecord.model_validate_json(stored)
    assert request.audio_length == 180 and "[02:30.00]Goodbye" in request.lrc


def test_worker_outputs_complete_the_job_and_download_redirects_to_the_bytes(api, aws, settings):
    job_id = api.submit(batch_size=2, output_format="mp3")["job_id"]
    audio = wav_bytes()
    write_outputs(aws("s3"), settings.bucket_name, job_id, batch_size=2, formats=("wav", "mp3"), audio=audio)

    status = wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s)
    assert status["completed_at"] and status["error"] is None
    assert status["output_file"] == keys.output_key(job_id, 0, "wav")
    assert {(o["index"], o["format"]) for o in status["outputs"]} == {(0, "wav"), (0, "mp3"), (1, "wav"), (1, "mp3")}
    assert all(o["size_bytes"] == len(audio) for o in status["outputs"])
    assert requests.get(status["s3_url"], timeout=10).content == audio
    listed = api.get("/api/v1/jobs").json()["jobs"][0]
    assert listed["job_id"] == job_id and listed["s3_url"] is None and listed["output_file"] == status["output_file"]
    with_urls = api.get("/api/v1/jobs", params={"include_urls": "true"}).json()["jobs"][0]
    assert requests.get(with_urls["s3_url"], timeout=10).content == audio

    redirect = api.get(f"/api/v1/download/{job_id}")
    assert redirect.status_code == 302
    fetched = requests.get(redirect.headers["location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == audio
    assert fetched.headers["content-type"] == "audio/wav"

    second = api.get(f"/api/v1/download/{job_id}", params={"format": "mp3", "index": 1})
    assert second.status_code == 302 and "1.mp3" in second.headers["location"]
    missing = api.get(f"/api/v1/download/{job_id}", params={"format": "flac"})
    assert missing.status_code == 404 and "format=flac" in missing.json()["detail"]


def test_download_before_completion_is_400_naming_the_status(api):
    job_id = api.submit()["job_id"]
    response = api.get(f"/api/v1/download/{job_id}")
    assert response.status_code == 400 and "queued" in response.json()["detail"]


def test_worker_failure_record_fails_the_job_with_its_reason(api, aws, settings):
    job_id = api.submit()["job_id"]
    write_failure(aws("s3"), settings.bucket_name, job_id, "reference clip is 4.2 s long; at least 10 s needed")
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "failed" and s)
    assert status["error"] == "reference clip is 4.2 s long; at least 10 s needed"
    assert status["completed_at"] is not None


def test_manifest_naming_a_missing_file_fails_the_job_instead_of_completing_it(api, aws, settings):
    job_id = api.submit()["job_id"]
    manifest = {"job_id": job_id, "duration_s": 95.0, "outputs": [
        {"index": 0, "format": "wav", "key": keys.output_key(job_id, 0, "wav"), "duration_s": 95.0,
         "sample_rate": 44100, "channels": 2}]}
    aws("s3").put_object(Bucket=settings.bucket_name, Key=keys.manifest_key(job_id), Body=json.dumps(manifest))
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "failed" and s)
    assert "incomplete" in status["error"]


def test_jobs_list_is_paginated_newest_first_and_per_key(api, other_api):
    ids = [api.submit()["job_id"] for _ in range(3)]
    other_api.submit()
    first = api.get("/api/v1/jobs", params={"limit": 2}).json()
    assert [j["job_id"] for j in first["jobs"]] == ids[::-1][:2] and first["next_cursor"]
    second = api.get("/api/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["job_id"] for j in second["jobs"]] == [ids[0]]
    assert second["next_cursor"] is None or api.get(
        "/api/v1/jobs", params={"cursor": second["next_cursor"]}).json()["jobs"] == []
    stolen = other_api.get("/api/v1/jobs", params={"cursor": first["next_cursor"]})
    assert stolen.status_code == 422 and stolen.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_queue_position_counts_jobs_ahead(api):
    first = api.submit()["job_id"]
    second = api.submit()["job_id"]
    assert api.status(second)["queue_position"] == api.status(first)["queue_position"] + 1
    queue = api.get("/api/v1/queue").json()
    assert queue["queue_length"] >= 2 and queue["estimated_wait_minutes"] >= 1 and queue["current_job"] is None
