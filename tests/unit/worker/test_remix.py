"""A remix in the worker, over fakes: the source song read as an edit's is (from its start, as long as the new
song), the strength handed to the pipeline, remixes of other strengths sampled apart, and the metadata naming the
source."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import soundfile

from inference_container.diffrhythm.songs import edit_seconds
from shared import keys
from shared.records import FailureRecord, JobRequestRecord, OutputManifest
from tests.unit.conftest import BUCKET
from tests.unit.worker.support import job_id_of, queue_job
from tests.unit.worker.test_clips import _clip, _upload


def _stored(s3, message: dict[str, Any]) -> JobRequestRecord:
    return JobRequestRecord.model_validate_json(s3.body(keys.request_key(job_id_of(message))))


def _manifest(s3, message: dict[str, Any]) -> OutputManifest:
    return OutputManifest.model_validate_json(s3.body(keys.manifest_key(job_id_of(message))))


def test_an_uploaded_source_is_read_from_its_start_as_long_as_the_new_song(worker, table, s3):
    data = _clip(150, 8000)
    key = _upload(s3, "inputs/owner/song.flac", data)
    message = queue_job(table, s3, remix={"reference_audio_key": key, "strength": 0.3})
    song = worker.runner.song_request(_stored(s3, message))
    audio, rate = song.remix_audio
    whole, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert rate == 8000 and np.array_equal(audio, whole[:int(np.ceil(edit_seconds(95) * 8000))])
    assert song.remix_strength == 0.3 and song.edit_audio is None
    assert worker.handle(message) == "completed"
    assert _manifest(s3, message).metadata["remix"] == {"reference": key, "strength": 0.3}


def test_a_remix_of_a_job_names_it_and_a_gone_source_fails_with_a_plain_reason(worker, table, s3):
    source = "3f2c6a1e-0a4b-4c1e-9d2a-5b8e7f6a1c2d"
    key = _upload(s3, keys.output_key(source, 0, "wav"), _clip(30, 8000))
    message = queue_job(table, s3, source_job=source, remix={"reference_audio_key": key, "strength": 0.6})
    assert worker.handle(message) == "completed"
    metadata = _manifest(s3, message).metadata
    assert metadata["remix"] == {"source_job": source, "strength": 0.6} and metadata["source_job"] == source
    s3.delete_object(Bucket=BUCKET, Key=key)
    gone = queue_job(table, s3, source_job=source, remix={"reference_audio_key": key, "strength": 0.6})
    assert worker.handle(gone) == "failed"
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(gone))))
    assert (failure.code, failure.reason) == ("invalid_input", f"source_job: the song of job {source} is no longer "
                                              "stored")


@pytest.mark.parametrize(("strengths", "calls"), [((0.3, 0.3, 1.0, None), 2), ((0.3, 0.8, None), 3)])
def test_remixes_share_a_sampling_call_only_when_they_start_at_the_same_step(worker, table, s3, pipeline,
                                                                             strengths, calls):
    key = _upload(s3, "inputs/owner/song.flac", _clip(20, 8000))
    messages = [queue_job(table, s3, lyrics=f"[00:01.00]song {i}", **(
        {"remix": {"reference_audio_key": key, "strength": strength}} if strength is not None else {}))
        for i, strength in enumerate(strengths)]
    assert worker.handle_many(messages) == ["completed"] * len(strengths)
    assert len(pipeline.batches) == calls  # strength 1 starts where a plain song does: they share one
