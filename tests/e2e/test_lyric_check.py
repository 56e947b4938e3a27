"""The lyric check over HTTP on the local stack, through the real worker with the TINY RANDOM bundle and its TINY
RANDOM Whisper (labelled as such in every report: the words it hears are noise, so its accuracy is near 0): each song's
``lyrics_accuracy`` in status, its per-line report in ``lyrics.json``, and ``min_lyrics_accuracy`` regenerating,
charged to the quota each time, until it fails naming the best score."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.lyric_checker import LyricChecker
from inference_container.worker.main import build_worker
from inference_container.worker.settings import WorkerSettings
from shared.presets import LYRIC_REGENERATIONS
from tests.conftest import wait_for
from tests.e2e.test_song_features import FAST, download, generated
from tests.worker_sim import take_message

LYRICS = "[00:01.00]hello there my friend\n[00:06.00]under the moon tonight\n[00:12.00]"


@pytest.fixture
def worker(stack, tiny_pipeline, tiny_bundle, drained_queue, monkeypatch):
    """The real worker on the session's tiny pipeline, with the bundle's lyric check."""
    checker = LyricChecker.load(Bundle(tiny_bundle), tiny_pipeline.separator, "cpu")
    monkeypatch.setattr(tiny_pipeline, "checker", checker)
    return build_worker(WorkerSettings(poll_wait_s=1, heartbeat_s=1, visibility_s=60, progress_interval_s=0.2),
                        pipeline=tiny_pipeline)


def units_used(api) -> int:
    quotas = {quota["name"]: quota for quota in api.get("/api/v1/usage").json()["quotas"]}
    return int(quotas["units_per_hour"]["used"])


def test_each_song_reports_how_well_it_sang_its_lines(api, worker, aws, settings):
    accepted, status = generated(api, worker, aws, settings, lyrics=LYRICS, batch_size=2)
    songs = {o["index"]: o for o in status["outputs"] if o["kind"] == "song"}
    assert set(songs) == {0, 1} and all(0.0 <= song["lyrics_accuracy"] <= 1.0 for song in songs.values())
    report = json.loads(download(api, accepted["job_id"], kind="lyrics", format="json"))
    assert [line["text"] for line in report["lines"]] == ["hello there my friend", "under the moon tonight"]
    for check in report["checks"]:
        assert check["transcriber"].startswith("TINY RANDOM")
        assert check["lyrics_accuracy"] == round(songs[check["index"]]["lyrics_accuracy"], 3)
        assert [line["expected"] for line in check["lines"]] == ["hello there my friend", "under the moon tonight"]
        assert all(line["flagged"] == (line["score"] < check["flag_below"]) for line in check["lines"])


def test_a_minimum_never_reached_regenerates_charging_each_attempt_then_fails_naming_the_best(api, worker, aws,
                                                                                              settings):
    before = units_used(api)
    accepted = api.submit(**FAST, lyrics=LYRICS, min_lyrics_accuracy=1.0)
    job_id = accepted["job_id"]
    assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "failed"
    status: dict[str, Any] = wait_for(lambda: (s := api.status(job_id))["status"] == "failed" and s)
    attempts = 1 + LYRIC_REGENERATIONS
    assert status["error_code"] == "lyrics_below_minimum"
    assert f"no variation reached min_lyrics_accuracy 1 in {attempts} attempts (the best: " in status["error"]
    assert units_used(api) - before == attempts  # the submit's unit, then one per regeneration
