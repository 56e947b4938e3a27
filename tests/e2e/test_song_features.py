"""The song features over HTTP on the local stack, through the real worker with the TINY RANDOM bundle: each
request as a client sends it, the job generated, and what the client reads and downloads."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

import numpy as np
import pytest
import requests
import soundfile
from mutagen.wave import WAVE

from inference_container.worker.main import build_worker
from inference_container.worker.settings import WorkerSettings
from shared import keys
from tests.conftest import wait_for
from tests.functional.test_uploads_and_validation import _upload, clip
from tests.worker_sim import take_message

FAST = {"preset": "preview"}  # 4 sampling steps: seconds per song with the tiny model


@pytest.fixture
def worker(stack, tiny_pipeline, drained_queue):
    return build_worker(WorkerSettings(poll_wait_s=1, heartbeat_s=1, visibility_s=60, progress_interval_s=0.2),
                        pipeline=tiny_pipeline)


def generated(api, worker, aws, settings, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit ``fields`` (the frontend's example otherwise), let the worker generate it; (the 202, the status)."""
    accepted = api.submit(**FAST, **fields)
    job_id = accepted["job_id"]
    assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "completed"
    return accepted, wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s)


def download(api, job_id: str, **params: Any) -> bytes:
    redirect = api.get(f"/api/v1/download/{job_id}", params=params)
    assert redirect.status_code == 302, redirect.text
    return requests.get(redirect.headers["location"], timeout=30).content


def metadata(aws, settings, job_id: str) -> dict[str, Any]:
    body = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.output_prefix(job_id) + "metadata.json")
    return dict(json.loads(body["Body"].read()))


def audio(data: bytes) -> np.ndarray:
    samples, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.asarray(samples)


def test_an_instrumental_has_no_lyric_lines(api, worker, aws, settings):
    request = {"instrumental": True, "lyrics": None, "style_prompt": "lofi hip hop, mellow"}
    accepted, _ = generated(api, worker, aws, settings, **request)
    assert metadata(aws, settings, accepted["job_id"])["instrumental"] is True
    assert json.loads(download(api, accepted["job_id"], kind="lyrics", format="json")) == {"lines": [], "checks": []}
    refused = api.post("/api/v1/generate", json={**request, "lyrics": "[00:05.00]a sung line", **FAST})
    assert refused.status_code == 422 and "instrumental has no sung lines" in refused.text


def test_section_tags_are_timed_at_the_tempo_and_the_placed_lines_come_back(api, worker, aws, settings):
    lyrics = "[Intro]\n[Verse 1]\nHello world tonight\nSing along with me\n[Chorus]\nThe end is near\n[Outro]"
    accepted, status = generated(api, worker, aws, settings, lyrics=lyrics, bpm=120)
    assert any("timed at 120 bpm" in warning for warning in accepted["warnings"])
    kinds = {(o["kind"], o["format"]) for o in status["outputs"]}
    assert {("lyrics", "lrc"), ("lyrics", "json")} <= kinds
    lines = json.loads(download(api, accepted["job_id"], kind="lyrics", format="json"))["lines"]
    assert [line["text"] for line in lines if line["text"]] == ["Hello world tonight", "Sing along with me",
                                                                "The end is near"]
    assert lines[0]["start_s"] > 4 * 2.0 - 0.05  # the intro's 4 bars at 120 bpm (to a latent frame) come first
    assert all(a["end_s"] <= b["start_s"] for a, b in itertools.pairwise(lines))
    lrc = download(api, accepted["job_id"], kind="lyrics").decode()
    assert lrc.splitlines()[0].endswith("]Hello world tonight")


def test_best_of_ranks_songs_with_stems_and_provenance_tags(api, worker, aws, settings):
    accepted, status = generated(api, worker, aws, settings, best_of=2, stems=True, title="Night Drive")
    job_id = accepted["job_id"]
    songs = sorted((o for o in status["outputs"] if o["kind"] == "song" and o["format"] == "wav"),
                   key=lambda o: o["index"])
    scores = [o["score"] for o in songs]
    assert len(songs) == 2 and scores == sorted(scores, reverse=True) and status["batch_size"] == 2
    assert metadata(aws, settings, job_id)["seeds"] != [status["seed"], status["seed"] + 1] or scores[0] >= scores[1]
    for index in (0, 1):
        assert json.loads(download(api, job_id, index=index, kind="peaks"))["duration_s"] == pytest.approx(95.1, 0.01)
        song = download(api, job_id, index=index)
        vocals, rest = (audio(download(api, job_id, index=index, kind=kind)) for kind in ("vocals", "accompaniment"))
        assert vocals.shape == rest.shape == audio(song).shape
        assert np.abs(vocals + rest - audio(song)).max() <= 1 / 32768  # float stems, the 16-bit song's rounding
        tags = WAVE(io.BytesIO(song)).tags
        assert str(tags["TIT2"]) == "Night Drive" and "AI-generated with DiffRhythm" in str(tags["COMM::eng"])
        assert job_id in str(tags["COMM::eng"])


def test_a_finished_song_is_extended_and_repainted_by_job(api, worker, aws, settings):
    source, _ = generated(api, worker, aws, settings, lyrics="[00:05.00]the first part\n[00:40.00]still the first")
    extended, status = generated(api, worker, aws, settings, audio_length=130,
                                 extend={"job_id": source["job_id"], "from_s": 60},
                                 lyrics="the song goes on\nand on to the end")
    assert abs(status["outputs"][0]["size_bytes"] - 130 * 44100 * 4) < 44100 * 4  # 130 s of 16-bit stereo
    lines = json.loads(download(api, extended["job_id"], kind="lyrics", format="json"))["lines"]
    texts = [line["text"] for line in lines if line["text"]]
    assert texts[:2] == ["the first part", "still the first"] and texts[2:] == ["the song goes on",
                                                                               "and on to the end"]
    assert all(line["start_s"] >= 60 for line in lines[2:] if line["text"])
    assert metadata(aws, settings, extended["job_id"])["source_job"] == source["job_id"]

    repainted, status = generated(api, worker, aws, settings, lyrics="[00:05.00]the first part\n[00:40.00]sung anew",
                                  edit={"job_id": source["job_id"], "segments": [[30, 50]]})
    assert metadata(aws, settings, repainted["job_id"])["source_job"] == source["job_id"]
    theirs = api.post("/api/v1/generate", json={**FAST, "lyrics": "[00:01.00]x y z w v", "style_prompt": "pop",
                                                "edit": {"job_id": "00000000-0000-4000-8000-000000000000",
                                                         "segments": [[1, 2]]}})
    assert theirs.status_code == 422 and "of yours" in theirs.text


def test_a_style_mix_and_a_negative_style(api, worker, aws, settings):
    key = _upload(api, clip())
    accepted, _ = generated(api, worker, aws, settings, reference_audio_key=key, style_weight=0.3,
                            negative_style_prompt="muffled, out of tune")
    assert metadata(aws, settings, accepted["job_id"])["style_weight"] == 0.3
    refused = api.post("/api/v1/generate", json={**FAST, "lyrics": "[00:01.00]x y z w v", "style_prompt": "pop",
                                                 "style_weight": 0.5})
    assert refused.status_code == 422 and "style_weight mixes" in refused.text


def test_a_finished_song_is_remixed_with_a_new_style_and_lyrics_on_its_times(api, worker, aws, settings):
    source, _ = generated(api, worker, aws, settings, lyrics="[00:05.00]the first song\n[00:40.00]its second line")
    remixed, status = generated(api, worker, aws, settings, style_prompt="jazz, smoky, slow",
                                remix={"job_id": source["job_id"], "strength": 0.5},
                                lyrics="the cover starts\nand the cover ends")
    assert "take the times of the source song's lines" in remixed["warnings"][0]
    lines = json.loads(download(api, remixed["job_id"], kind="lyrics", format="json"))["lines"]
    sung = [(line["text"], line["start_s"]) for line in lines if line["text"]]
    assert [text for text, _ in sung] == ["the cover starts", "and the cover ends"]
    assert [round(start) for _, start in sung] == [5, 40]  # the source's times (to a latent frame)
    meta = metadata(aws, settings, remixed["job_id"])
    assert meta["remix"]["source_job"] == source["job_id"] and meta["remix"]["strength"] == 0.5
    assert meta["remix"]["steps_run"] == 1 and meta["remix"]["start_t"] == pytest.approx(2 / 3, abs=1e-4)  # t0 0.5
    assert status["outputs"][0]["size_bytes"] > 0 and meta["source_job"] == source["job_id"]
    theirs = api.post("/api/v1/generate", json={**FAST, "lyrics": "[00:01.00]x y z w v", "style_prompt": "pop",
                                                "remix": {"job_id": "00000000-0000-4000-8000-000000000000",
                                                          "strength": 0.5}})
    assert theirs.status_code == 422 and theirs.json()["detail"][0]["loc"] == ["body", "remix", "job_id"]
