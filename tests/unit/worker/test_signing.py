"""The worker signs every audio file it writes with the deployment's key (a C2PA manifest); an edit's files name the
song they were made from as an ingredient. Without a signer, files are written as before."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import soundfile

from inference_container.audio.credentials import ContentSigner, SigningKey, verify
from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker
from shared import keys
from tests.unit.conftest import BUCKET
from tests.unit.worker.support import job_id_of, queue_job


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.create("DiffRhythm tests", label="TEST")


@pytest.fixture
def signing_worker(worker: Worker, key: SigningKey) -> Worker:
    runner = worker.runner
    return Worker(worker.settings, JobRunner(runner.pipeline, runner.s3, runner.bucket, ContentSigner(key)),
                  worker.store, worker.sqs, retry_delay_s=17, watchdog=worker.timer)


def _audio_outputs(s3: Any, message: dict[str, Any]) -> dict[str, bytes]:
    prefix = keys.output_prefix(job_id_of(message))
    return {name[len(prefix):]: s3.body(name) for name in s3.objects
            if name.startswith(prefix) and name.endswith((".wav", ".mp3", ".flac"))}


def test_every_audio_file_of_a_job_is_signed_for_that_job(signing_worker, table, s3, key):
    message = queue_job(table, s3, output_format="mp3", best_of=2)
    assert signing_worker.handle(message) == "completed"
    files = _audio_outputs(s3, message)
    assert set(files) == {"0.wav", "1.wav", "0.mp3", "1.mp3"}
    for name, data in files.items():
        verdict = verify(data, key.anchor)
        assert verdict.ours and verdict.job_id == job_id_of(message), name
        assert verdict.manifest["assertions"][0]["data"]["actions"][0]["action"] == "c2pa.created"


@pytest.mark.parametrize(("field", "how"), [
    ({"edit": {"reference_audio_key": "inputs/owner/song.wav", "segments": [[10, 20]]}}, "edit"),
    ({"remix": {"reference_audio_key": "inputs/owner/song.wav", "strength": 0.5}}, "remix"),
])
def test_an_edit_or_a_remix_names_the_song_it_was_made_from(signing_worker, table, s3, key, field, how):
    source = io.BytesIO()
    soundfile.write(source, np.zeros((8000 * 30, 1), dtype=np.int16), 8000, format="WAV")
    s3.put_object(Bucket=BUCKET, Key="inputs/owner/song.wav", Body=source.getvalue(), ContentType="audio/wav")
    message = queue_job(table, s3, **field)
    assert signing_worker.handle(message) == "completed"
    verdict = verify(_audio_outputs(s3, message)["0.wav"], key.anchor)
    actions = verdict.manifest["assertions"][0]["data"]["actions"]
    assert verdict.ours and [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["description"] == how
    assert [i["relationship"] for i in verdict.manifest["ingredients"]] == ["parentOf"]


def test_without_a_signer_files_carry_no_manifest(worker, table, s3, key):
    message = queue_job(table, s3)
    assert worker.handle(message) == "completed"
    assert "no readable Content Credentials" in verify(_audio_outputs(s3, message)["0.wav"], key.anchor).problems[0]
