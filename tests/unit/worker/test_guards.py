"""The worker's guards over in-memory fakes: the progress watchdog (a stalled job's leases lapse and the health check
fails), the maximum run time (``timed_out``), the health verdict, and the row cap per sampling call."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import soundfile

from inference_container.worker import health
from inference_container.worker.sagemaker import ping
from shared import keys
from shared.records import FailureRecord, OutputManifest
from shared.states import JobState
from tests.support.pipeline import RATE, score_of
from tests.unit.worker.conftest import MAX_RUN_S, STALL_S
from tests.unit.worker.support import job_id_of, outputs_of, queue_job


@pytest.fixture
def health_file(tmp_path, monkeypatch):
    path = str(tmp_path / "alive")
    monkeypatch.setattr(health, "HEALTH_FILE", path)
    return path


def _heartbeat_calls(worker, table, sqs) -> tuple[list[str], list[tuple[str, int]]]:
    """One heartbeat, and the table and queue calls it made."""
    calls, visibility = len(table.calls), len(sqs.visibility)
    worker.leases.beat()
    return table.calls[calls:], sqs.visibility[visibility:]


# -- the progress watchdog --------------------------------------------------------------------------------------------
def test_a_stalled_group_stops_renewing_its_lease_and_reads_unhealthy(worker, table, s3, sqs, pipeline, ticks,
                                                                        health_file):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    worker.timer.health_file = health_file
    seen = {}

    def hang() -> None:  # the GPU call stops returning: no progress report for longer than STALL_S
        ticks.advance(STALL_S - 1)
        seen["renewed"] = _heartbeat_calls(worker, table, sqs)  # still within STALL_S: lease and message renewed
        lease = table.jobs[job_id].lease_until
        seen["healthy while slow"] = health.healthy()
        ticks.advance(2)
        worker.timer.polled()  # even a fresh file ...
        seen["renewed after the stall"] = _heartbeat_calls(worker, table, sqs), _heartbeat_calls(worker, table, sqs)
        seen["lease kept"] = table.jobs[job_id].lease_until == lease
        seen["healthy when stalled"] = health.healthy()  # ... reads unhealthy while the job in hand is stalled

    pipeline.during_sampling = hang
    assert worker.handle(message) == "abandoned"  # the call returned at last: the job is dropped untouched
    assert seen == {"renewed": (["set_fields", "heartbeat"], [(message["ReceiptHandle"], 300)]),
                    "healthy while slow": True, "renewed after the stall": (([], []), ([], [])), "lease kept": True,
                    "healthy when stalled": False}
    assert outputs_of(s3, message) == set() and keys.failure_key(job_id) not in s3.objects
    assert sqs.deleted == [] and len(sqs.visibility) == 1  # no delete, no hand-back: another worker may hold it now
    assert table.jobs[job_id].status is JobState.RUNNING  # its lease lapses; SQS or the reconciler retries it


def test_a_job_that_keeps_progressing_stays_healthy_long_after_the_last_poll(worker, table, s3, pipeline, ticks,
                                                                           health_file):
    message = queue_job(table, s3)
    worker.timer.health_file = health_file
    worker.timer.polled()
    verdicts = []

    def long_but_progressing() -> None:
        for _ in range(10):  # 10 minutes since the poll, one step a minute
            ticks.advance(60)
            worker.timer.step()
        worker.leases.beat()
        now = time.time()
        verdicts.extend([health.healthy(now=now), health.healthy(now=now + STALL_S + 1)])

    pipeline.during_sampling = long_but_progressing
    assert worker.handle(message) == "completed"
    assert verdicts == [True, False]  # healthy while it progresses; a stall of STALL_S after the last step is not
    assert health.healthy()  # the job is done: alive and about to poll


@pytest.mark.parametrize(("polled_ago", "progressed_ago", "verdict"), [
    (5, None, True),  # idle, polling
    (health.POLL_STALE_S + 1, None, False),  # idle, not polling
    (health.POLL_STALE_S * 10, 30, True),  # a long job that progresses (any job over 120 s read unhealthy before)
    (0, STALL_S + 1, False),  # stalled, however fresh the poll
])
def test_the_health_verdict(health_file, polled_ago, progressed_ago, verdict):
    now = time.time()
    health.write(health.State(polled_at=now - polled_ago,
                              progress_at=None if progressed_ago is None else now - progressed_ago, stall_s=STALL_S))
    assert health.healthy(now=now) is verdict


def test_sagemaker_ping_fails_while_the_job_in_hand_is_stalled(worker, ticks):
    assert ping(worker)[0] == 200
    worker.timer.begin()
    ticks.advance(STALL_S - 1)
    assert ping(worker)[0] == 200
    ticks.advance(1)
    assert ping(worker) == (503, {"status": "stalled", "device": "cpu"})


def test_jobs_waiting_for_a_later_group_are_renewed_too(worker, table, s3, sqs, pipeline):
    first, waiting = queue_job(table, s3, lyrics="[00:01.00]first"), queue_job(table, s3, audio_length=120)
    beats: list[list[tuple[str, int]]] = []
    pipeline.during_sampling = lambda: beats.append(_heartbeat_calls(worker, table, sqs)[1])
    assert worker.handle_many([first, waiting]) == ["completed", "completed"]
    assert pipeline.batches == [["[00:01.00]first"], ["[00:01.00]hello there"]]  # two groups (two lengths)
    assert beats[0] == [(first["ReceiptHandle"], 300), (waiting["ReceiptHandle"], 300)]  # waiting: renewed as well


# -- the maximum run time ---------------------------------------------------------------------------------------------
def test_a_group_running_past_max_run_s_fails_its_jobs_timed_out(worker, table, s3, sqs, pipeline, ticks):
    one, two = queue_job(table, s3, lyrics="[00:01.00]one"), queue_job(table, s3, lyrics="[00:01.00]two")
    pipeline.during_sampling = lambda: ticks.advance(MAX_RUN_S + 1)  # each step progresses, but the whole is too long
    assert worker.handle_many([one, two]) == ["timed_out", "timed_out"]
    assert len(pipeline.batches) == 1  # one shared group, stopped at the next step
    for message in (one, two):
        failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(message))))
        assert (failure.code, failure.reason) == ("timed_out", "generation took longer than 30 minutes")
        assert outputs_of(s3, message) == set()
    assert sorted(sqs.deleted) == sorted(m["ReceiptHandle"] for m in (one, two))  # final: no retry


# -- the row cap ------------------------------------------------------------------------------------------------------
def test_no_sampling_call_exceeds_max_rows_and_a_larger_job_is_sampled_in_chunks(worker, table, s3, sqs, pipeline,
                                                                                monkeypatch):
    monkeypatch.setattr(worker, "settings", worker.settings.model_copy(update={"max_rows": 3}))
    a, b, c = (queue_job(table, s3, lyrics=f"[00:01.00]{name}", batch_size=size)
               for name, size in (("a", 2), ("b", 2), ("c", 1)))
    big = queue_job(table, s3, lyrics="[00:01.00]big", batch_size=4)
    assert worker.handle_many([a, b, c, big]) == ["completed"] * 4
    assert pipeline.batches == [["[00:01.00]a"], ["[00:01.00]b", "[00:01.00]c"], ["[00:01.00]big"], ["[00:01.00]big"]]
    assert pipeline.rows == [2, 3, 3, 1]  # rows = variations (the DiT's batch is twice that, with guidance)
    manifest = OutputManifest.model_validate_json(s3.body(keys.manifest_key(job_id_of(big))))
    assert sorted(o.index for o in manifest.outputs if o.kind == "song") == [0, 1, 2, 3]
    assert manifest.metadata["seeds"] == [7, 8, 9, 10] and manifest.metadata["seed"] == 7
    assert manifest.metadata["timings"] == {"sampling_s": 1.0}  # both calls counted
    for index, seed in enumerate(manifest.metadata["seeds"]):  # variation i made from seed + i, whichever call
        audio, _ = soundfile.read(io.BytesIO(s3.body(keys.output_key(job_id_of(big), index, "wav"))))
        spectrum = np.abs(np.fft.rfft(audio[:, 0]))
        assert round(float(np.argmax(spectrum)) * RATE / len(audio[:, 0]) / 100) == seed


def test_a_best_of_job_split_across_calls_is_ranked_as_a_whole(worker, table, s3, pipeline, monkeypatch):
    monkeypatch.setattr(worker, "settings", worker.settings.model_copy(update={"max_rows": 3}))
    message = queue_job(table, s3, best_of=5)
    assert worker.handle(message) == "completed"
    assert pipeline.rows == [3, 2]  # each call ranked its own part
    manifest = OutputManifest.model_validate_json(s3.body(keys.manifest_key(job_id_of(message))))
    seeds = sorted(range(7, 12), key=lambda seed: -score_of(seed))
    assert manifest.metadata["seeds"] == seeds != list(range(7, 12))
    assert manifest.metadata["scores"] == [score_of(seed) for seed in seeds]
    songs = sorted((o for o in manifest.outputs if o.kind == "song"), key=lambda o: o.index)
    assert [o.score for o in songs] == [score_of(seed) for seed in seeds]  # file i is the i-th best
    for output, seed in zip(songs, seeds, strict=True):
        audio, _ = soundfile.read(io.BytesIO(s3.body(output.key)))
        spectrum = np.abs(np.fft.rfft(audio[:, 0]))
        assert round(float(np.argmax(spectrum)) * RATE / len(audio[:, 0]) / 100) == seed


def test_max_rows_comes_from_the_environment(monkeypatch):
    from inference_container.worker.settings import WorkerSettings

    for name, value in (("MAX_ROWS", "3"), ("STALL_S", "45"), ("MAX_RUN_S", "90")):
        monkeypatch.setenv(name, value)
    settings = WorkerSettings()
    assert (settings.max_rows, settings.stall_s, settings.max_run_s) == (3, 45.0, 90.0)
    defaults = WorkerSettings(_env_prefix="DIFFRHYTHM_UNIT_TEST_")
    assert (defaults.max_rows, defaults.stall_s, defaults.max_run_s) == (8, 600.0, 1800.0)
