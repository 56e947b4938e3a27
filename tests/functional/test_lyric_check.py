"""The lyric check over HTTP against moto: ``min_lyrics_accuracy`` accepted with the account and its units limit
stored for the worker's regenerations, every refusal a 422 naming the field, and each song's ``lyrics_accuracy`` and
``content_credentials`` reported by status as the worker's manifest gives them."""

from __future__ import annotations

import pytest

from shared import keys
from shared.records import JobRequestRecord, ManifestOutput, OutputManifest
from tests.conftest import SEED_REQUEST, wait_for


@pytest.mark.parametrize(("value", "says"), [
    (0, "greater than 0"), (-0.5, "greater than 0"), (1.01, "less than or equal to 1"), ("most", "valid number"),
])
def test_a_minimum_out_of_range_is_a_422_naming_the_field(api, value, says):
    response = api.post("/api/v1/generate", json={**SEED_REQUEST, "min_lyrics_accuracy": value})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "min_lyrics_accuracy"] and says in error["msg"]


def test_a_minimum_for_an_instrumental_is_a_422(api):
    body = {**SEED_REQUEST, "lyrics": None, "instrumental": True, "min_lyrics_accuracy": 0.8}
    response = api.post("/api/v1/generate", json=body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "min_lyrics_accuracy"] and "an instrumental has no lyrics" in error["msg"]


def test_an_accepted_minimum_is_stored_with_the_account_its_regenerations_are_charged_to(api, aws, settings):
    accepted = api.submit(min_lyrics_accuracy=0.85)
    body = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.request_key(accepted["job_id"]))["Body"]
    stored = JobRequestRecord.model_validate_json(body.read())
    assert stored.min_lyrics_accuracy == 0.85
    assert stored.account is not None and stored.units_per_hour == settings.rate_limit_per_hour


def test_status_reports_each_songs_lyric_accuracy_and_content_credentials(api, aws, settings):
    job_id = str(api.submit(batch_size=2)["job_id"])
    s3 = aws("s3")
    outputs = []
    for index, accuracy in enumerate((0.92, None)):
        key = keys.output_key(job_id, index, "wav")
        s3.put_object(Bucket=settings.bucket_name, Key=key, Body=b"RIFF", ContentType="audio/wav")
        outputs.append(ManifestOutput(index=index, format="wav", key=key, duration_s=95.0, score=0.3,
                                      lyrics_accuracy=accuracy, content_credentials=index == 0))
    manifest = OutputManifest(job_id=job_id, outputs=outputs, duration_s=95.0)
    s3.put_object(Bucket=settings.bucket_name, Key=keys.manifest_key(job_id), Body=manifest.model_dump_json().encode(),
                  ContentType="application/json")
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    songs = {o["index"]: o for o in api.status(job_id)["outputs"]}
    assert (songs[0]["lyrics_accuracy"], songs[0]["content_credentials"]) == (0.92, True)
    assert (songs[1]["lyrics_accuracy"], songs[1]["content_credentials"]) == (None, False)
