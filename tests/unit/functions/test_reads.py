"""Reading jobs over fakes: ownership, the wire view, downloads, a page that is one query, and no writes."""

from __future__ import annotations

import pytest

from functions.api.errors import BadRequestError, NotFoundError
from shared.formats import OutputFormat
from shared.states import JobState
from shared.store import CursorError
from tests.unit.functions.conftest import OTHER, OWNER, put_job


def test_another_owners_unknown_and_malformed_ids_are_404(services, table):
    job = put_job(table, owner=OTHER)
    for job_id in (job.job_id, "00000000-0000-4000-8000-000000000000", "../../etc"):
        with pytest.raises(NotFoundError, match="not found"):
            services.reads.get_owned(job_id, OWNER)
    assert services.reads.get_owned(job.job_id, OTHER) == job


def test_view_of_a_queued_job_counts_the_jobs_ahead(services, table):
    put_job(table, owner=OTHER, age_s=30)
    put_job(table, age_s=20)
    put_job(table, status=JobState.RUNNING, age_s=25)  # not waiting: not ahead
    mine = put_job(table, age_s=10)
    view = services.reads.view(mine)
    assert view.status == "queued" and view.queue_position == 2 and view.estimated_wait_minutes == 6
    assert view.s3_url is None and view.output_file is None and view.outputs == [] and view.error is None


def test_view_of_a_running_job_shows_its_progress_on_the_wire_as_processing(services, table):
    job = put_job(table, status=JobState.RUNNING, progress_stage="sampling", progress_percent=40.0)
    view = services.reads.view(job)
    assert view.status == "processing" and view.progress is not None
    assert (view.progress.stage, view.progress.percent) == ("sampling", 40.0)
    assert view.queue_position is None and view.estimated_wait_minutes is None


def test_view_of_a_completed_job_presigns_the_first_wav(services, table, s3, settings):
    job = put_job(table, status=JobState.COMPLETED, outputs=("mp3", "wav"))
    view = services.reads.view(job)
    assert view.status == "completed" and view.output_file == f"outputs/{job.job_id}/0.wav"
    assert view.s3_url and f"outputs/{job.job_id}/0.wav" in view.s3_url
    ((method, params, ttl),) = s3.presigned
    assert method == "get_object" and ttl == settings.presign_ttl_s
    assert params["ResponseContentDisposition"] == f'attachment; filename="{job.job_id}.wav"'
    assert [o.download_url for o in view.outputs] == [f"/api/v1/download/{job.job_id}?format=mp3&index=0",
                                                      f"/api/v1/download/{job.job_id}?format=wav&index=0"]


def test_reading_an_orphan_writes_nothing(services, table, settings):
    orphan = put_job(table, enqueued=False, age_s=settings.orphan_after_s + 60)
    table.calls.clear()
    view = services.reads.view(services.reads.get_owned(orphan.job_id, OWNER))
    assert view.status == "queued" and table.jobs[orphan.job_id] == orphan
    assert table.writes() == []


def test_download_needs_a_completed_job_and_an_existing_output(services, table, s3):
    queued = put_job(table)
    with pytest.raises(BadRequestError, match="is queued"):
        services.reads.download_url(queued.job_id, OWNER, OutputFormat.WAV, 0)
    done = put_job(table, status=JobState.COMPLETED, outputs=("wav",))
    with pytest.raises(NotFoundError, match=r"format=flac.*wav\[0\]"):
        services.reads.download_url(done.job_id, OWNER, OutputFormat.FLAC, 0)
    with pytest.raises(NotFoundError):
        services.reads.download_url(done.job_id, OTHER, OutputFormat.WAV, 0)
    url = services.reads.download_url(done.job_id, OWNER, OutputFormat.WAV, 0)
    assert f"outputs/{done.job_id}/0.wav" in url
    assert s3.presigned[-1][1]["ResponseContentDisposition"] == f'attachment; filename="{done.job_id}_0.wav"'


def test_a_page_is_one_query_without_presigns_or_positions(services, table, s3):
    put_job(table, status=JobState.COMPLETED, outputs=("wav",), age_s=3)
    put_job(table, age_s=2)
    put_job(table, owner=OTHER, age_s=1)
    table.calls.clear()
    page = services.reads.page(OWNER, 10)
    assert table.calls == ["list_for_owner"] and s3.presigned == []
    assert [j.status for j in page.jobs] == ["queued", "completed"]  # newest first
    assert all(j.s3_url is None and j.queue_position is None and j.estimated_wait_minutes is None for j in page.jobs)
    assert page.jobs[1].output_file is not None and page.jobs[1].outputs  # what needs no extra call is kept


def test_a_page_adds_urls_and_positions_when_asked(services, table, s3):
    done = put_job(table, status=JobState.COMPLETED, outputs=("wav",), age_s=3)
    put_job(table, age_s=2)
    table.calls.clear()
    page = services.reads.page(OWNER, 10, urls=True, positions=True)
    queued, completed = page.jobs
    assert queued.queue_position == 0 and queued.estimated_wait_minutes == 2 and queued.s3_url is None
    assert completed.s3_url and done.job_id in completed.s3_url and len(s3.presigned) == 1
    assert table.calls == ["list_for_owner", "queue_position"]


def test_pages_follow_the_cursor_and_refuse_another_owners(services, table):
    ids = [put_job(table, age_s=age).job_id for age in (3, 2, 1)]
    first = services.reads.page(OWNER, 2)
    assert [j.job_id for j in first.jobs] == ids[::-1][:2] and first.next_cursor
    second = services.reads.page(OWNER, 2, first.next_cursor)
    assert [j.job_id for j in second.jobs] == [ids[0]] and second.next_cursor is None
    with pytest.raises(CursorError):
        services.reads.page(OTHER, 2, first.next_cursor)


def test_a_failed_job_shows_its_error_code_in_the_view_and_in_list_rows(services, table):
    failed = put_job(table, status=JobState.FAILED, age_s=2, error="no worker became free in time; please submit "
                     "the job again", error_code="timed_out")
    retrying = put_job(table, status=JobState.RUNNING, age_s=1, error="storage was briefly unavailable; it will be "
                       "retried", error_code="internal")  # not failed: no code on the wire
    view = services.reads.view(failed)
    assert (view.status, view.error_code) == ("failed", "timed_out") and view.error.startswith("no worker")
    assert services.reads.view(retrying).error_code is None
    rows = {row.job_id: row for row in services.reads.page(OWNER, 10).jobs}
    assert rows[failed.job_id].error_code == "timed_out" and rows[retrying.job_id].error_code is None
    assert "error_code" in view.model_dump(mode="json")  # the wire field
