"""``min_lyrics_accuracy`` in the worker, over in-memory fakes: regenerations with new seeds until a variation's lyric
check reaches the minimum, each charged to the account's units; the failure naming the best score; best_of ranked by
the stated mix of style score and lyric accuracy. The stand-in pipeline's lyric check is ``pipeline.accuracy``
(seed -> accuracy)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared import keys
from shared.accounts import Meter
from shared.records import FailureRecord, OutputManifest
from shared.store import window_start
from tests.support.pipeline import score_of
from tests.unit.worker.support import job_id_of, queue_job


def units_charged(table, account: str = "account") -> int:
    now = datetime.now(UTC)
    return table.usage_counts["account", Meter.UNITS_PER_HOUR, window_start(Meter.UNITS_PER_HOUR, now)]


def manifest_of(s3, message) -> OutputManifest:
    return OutputManifest.model_validate_json(s3.body(keys.manifest_key(job_id_of(message))))


def test_a_job_below_its_minimum_is_generated_again_with_new_seeds_until_one_variation_reaches_it(
        worker, table, s3, pipeline):
    pipeline.accuracy = {7: 0.3, 8: 0.5, 9: 0.4, 10: 0.85}
    message = queue_job(table, s3, batch_size=2, min_lyrics_accuracy=0.8)
    assert worker.handle(message) == "completed"
    assert pipeline.rows == [2, 2]  # the first attempt (seeds 7, 8), then one more (9, 10)
    manifest = manifest_of(s3, message)
    assert manifest.metadata["seeds"] == [9, 10] and manifest.metadata["lyric_attempts"] == 2
    songs = {o.index: o.lyrics_accuracy for o in manifest.outputs if o.kind.value == "song"}
    assert songs == {0: 0.4, 1: 0.85}
    assert units_charged(table) == 1  # the regeneration, like the job (the API charged the first attempt)
    assert table.jobs[job_id_of(message)].progress_stage == "sampling, attempt 2 of 3"  # why progress went back


def test_a_job_that_never_reaches_it_fails_naming_its_best_score_after_every_attempt_was_charged(
        worker, table, s3, pipeline):
    pipeline.accuracy = {seed: 0.2 for seed in range(7, 13)} | {9: 0.61}
    message = queue_job(table, s3, batch_size=2, min_lyrics_accuracy=0.9)
    assert worker.handle(message) == "failed"
    assert pipeline.rows == [2, 2, 2]  # the first attempt and two regenerations, no more
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(message))))
    assert failure.code == "lyrics_below_minimum"
    assert "min_lyrics_accuracy 0.9 in 3 attempts (the best: 0.610)" in failure.reason
    assert keys.manifest_key(job_id_of(message)) not in s3.objects
    assert units_charged(table) == 2


def test_a_regeneration_the_quota_has_no_room_for_fails_the_job_and_says_so(worker, table, s3, pipeline):
    pipeline.accuracy = {7: 0.3}
    now = datetime.now(UTC)
    table.usage_counts["account", Meter.UNITS_PER_HOUR, window_start(Meter.UNITS_PER_HOUR, now)] = 5
    message = queue_job(table, s3, min_lyrics_accuracy=0.5, units_per_hour=5)
    assert worker.handle(message) == "failed"
    assert pipeline.rows == [1]
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(message))))
    assert failure.code == "lyrics_below_minimum"
    assert "in 1 attempt (the best: 0.300)" in failure.reason and "units_per_hour (5 units per hour)" in failure.reason
    assert units_charged(table) == 5  # nothing more


def test_without_a_minimum_a_badly_sung_song_is_delivered_with_its_check(worker, table, s3, pipeline):
    pipeline.accuracy = {7: 0.1}
    message = queue_job(table, s3)
    assert worker.handle(message) == "completed"
    assert pipeline.rows == [1] and units_charged(table) == 0
    song = next(o for o in manifest_of(s3, message).outputs if o.kind.value == "song")
    assert song.lyrics_accuracy == 0.1
    lyrics = json.loads(s3.body(keys.output_prefix(job_id_of(message)) + "lyrics.json"))
    assert [(c["index"], c["lyrics_accuracy"]) for c in lyrics["checks"]] == [(0, 0.1)]


def test_an_unchecked_song_meets_any_minimum_and_is_not_regenerated(worker, table, s3, pipeline):
    """A song with no lyric check (no line to sing) has nothing to fall short of."""
    message = queue_job(table, s3, min_lyrics_accuracy=0.99)
    assert worker.handle(message) == "completed"
    assert pipeline.rows == [1]


@pytest.mark.parametrize(("accuracy", "first"), [({7: 1.0, 8: 0.0}, 7), ({}, 8)])
def test_best_of_ranks_by_half_style_score_and_half_lyric_accuracy(worker, table, s3, pipeline, accuracy, first):
    assert score_of(8) > score_of(7)  # by style alone, seed 8 is the better
    pipeline.accuracy = accuracy
    message = queue_job(table, s3, best_of=2)
    assert worker.handle(message) == "completed"
    assert manifest_of(s3, message).metadata["seeds"][0] == first
