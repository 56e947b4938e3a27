"""The song features at submit, over fakes: instrumental, best-of, style mix, and a finished job's song as
the source of a repaint (``edit.job_id``) or an extension (``extend``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.api.errors import FieldError, NotFoundError
from shared import keys
from shared.contract import GenerateRequest
from shared.formats import FileFormat, OutputKind
from shared.lrc import LyricsError, timed_lines
from shared.records import JobRequestRecord, OutputFile
from shared.states import JobState
from tests.support.fakes import key_caller
from tests.unit.conftest import BUCKET
from tests.unit.functions.conftest import LYRICS_REQUEST, OTHER, OWNER, make_settings

UNLIMITED = make_settings(rate_limit_per_hour=0, jobs_per_hour=0)
ME, THEM = key_caller(OWNER, UNLIMITED), key_caller(OTHER, UNLIMITED)


def request(**overrides: object) -> GenerateRequest:
    return GenerateRequest.model_validate({**LYRICS_REQUEST, **overrides})


def stored(s3, job_id: str) -> JobRequestRecord:
    return JobRequestRecord.model_validate_json(s3.body(keys.request_key(job_id)))


# -- instrumental -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lyrics", [None, "", "  \n ", "[intro]\n[00:10.00]\n[outro]"])
def test_an_instrumental_needs_no_sung_lyrics_and_stores_an_empty_lrc(services, s3, lyrics):
    body = {k: v for k, v in LYRICS_REQUEST.items() if k != "lyrics"} | {"instrumental": True}
    if lyrics is not None:
        body["lyrics"] = lyrics
    job = services.submissions.submit(GenerateRequest.model_validate(body), ME, None).record
    record = stored(s3, job.job_id)
    assert record.instrumental and not any(line.text for line in timed_lines(record.lrc))


def test_sung_lyrics_with_instrumental_and_no_lyrics_without_it_are_refused():
    with pytest.raises(LyricsError, match="instrumental has no sung lines"):
        request(instrumental=True).parsed_lyrics()
    body = {k: v for k, v in LYRICS_REQUEST.items() if k != "lyrics"}
    with pytest.raises(ValidationError, match=r"required .* unless instrumental"):
        GenerateRequest.model_validate(body)
    with pytest.raises(ValidationError, match="at least 10"):
        request(lyrics="short")


# -- best-of and style mix ----------------------------------------------------------------------------------------
def test_best_of_is_the_jobs_variations_and_its_cost(services):
    job = services.submissions.submit(request(best_of=4), ME, None).record
    with pytest.raises(FieldError, match="costs 4 units") as refused:  # charged as 4 songs, and it says why
        services.submissions.submit(request(best_of=4), key_caller(OWNER, make_settings()), None)
    assert ["body", "best_of"] in [error["loc"] for error in refused.value.errors]
    assert job.batch_size == 4 and request(best_of=4).cost_units() == request(batch_size=4).cost_units()
    with pytest.raises(ValidationError, match="leave batch_size at 1"):
        request(best_of=4, batch_size=2)


def test_a_style_mix_needs_both_styles():
    mixed = request(reference_audio_key="inputs/x/clip.wav", style_weight=0.7)
    assert mixed.style_prompt and mixed.style_weight == 0.7
    with pytest.raises(ValidationError, match="style_weight mixes"):
        request(style_weight=0.5)
    with pytest.raises(ValidationError, match="give style_prompt"):
        request(style_prompt=None)


# -- a finished job as the source ---------------------------------------------------------------------------------
def finished(services, table, s3, *, owner=ME, lyrics="[00:05.00]first part line\n[01:30.00]late line",
             variations: int = 2, duration: float = 120.0) -> str:
    """A completed job of ``owner`` with ``variations`` songs stored."""
    job = services.submissions.submit(request(lyrics=lyrics, audio_length=120, batch_size=variations), owner,
                                      None).record
    outputs = []
    for index in range(variations):
        key = keys.output_key(job.job_id, index, "wav")
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"RIFF", ContentType="audio/wav")
        outputs.append(OutputFile(index=index, format=FileFormat.WAV, key=key, size_bytes=4))
    outputs.append(OutputFile(index=0, format=FileFormat.LRC, key=keys.output_prefix(job.job_id) + "lyrics.lrc",
                              size_bytes=1, kind=OutputKind.LYRICS))
    table.jobs[job.job_id] = table.jobs[job.job_id].model_copy(update={
        "status": JobState.COMPLETED, "outputs": outputs, "duration_s": duration})
    return job.job_id


def test_a_repaint_of_a_finished_job_edits_its_song(services, table, s3):
    source = finished(services, table, s3)
    job = services.submissions.submit(request(edit={"job_id": source, "index": 1, "segments": [[10, 20]]}), ME,
                                      None).record
    record = stored(s3, job.job_id)
    assert record.edit is not None and record.edit.reference_audio_key == keys.output_key(source, 1, "wav")
    assert record.edit.job_id is None and record.edit.segments == [(10, 20)] and record.source_job == source


@pytest.mark.parametrize(("edit", "message"), [
    ({"index": 2}, "variations 0..1, not 2"),
    ({"job_id": "not-a-job"}, "no job not-a-job of yours"),
])
def test_a_repaint_of_a_missing_variation_or_job_is_a_clear_422(services, table, s3, edit, message):
    source = finished(services, table, s3)
    body = {"job_id": source, "segments": [[10, 20]], **edit}
    with pytest.raises(FieldError, match=message):
        services.submissions.submit(request(edit=body), ME, None)


def test_another_owners_job_unfinished_jobs_and_gone_songs_cannot_be_sources(services, table, s3):
    theirs = finished(services, table, s3, owner=THEM)
    with pytest.raises(FieldError, match=f"no job {theirs} of yours"):
        services.submissions.submit(request(extend={"job_id": theirs}, audio_length=180), ME, None)
    running = services.submissions.submit(request(), ME, None).record.job_id
    with pytest.raises(FieldError, match="is queued; only a completed job"):
        services.submissions.submit(request(extend={"job_id": running}, audio_length=180), ME, None)
    gone = finished(services, table, s3)
    s3.delete_object(Bucket=BUCKET, Key=keys.output_key(gone, 0, "wav"))
    with pytest.raises(FieldError, match="no longer stored"):
        services.submissions.submit(request(extend={"job_id": gone}, audio_length=180), ME, None)


def test_an_extension_keeps_the_song_up_to_from_s_and_its_lines_before_then(services, table, s3):
    source = finished(services, table, s3)
    lyrics = "[00:03.00]replaced by the source\n[02:10.00]a new line at the end"
    submission = services.submissions.submit(request(extend={"job_id": source, "from_s": 100}, audio_length=200,
                                                     lyrics=lyrics), ME, None)
    record = stored(s3, submission.record.job_id)
    assert record.extend is None and record.source_job == source
    assert record.edit is not None and record.edit.segments == [(100, -1)]
    assert record.edit.reference_audio_key == keys.output_key(source, 0, "wav")
    assert [(line.time_s, line.text) for line in timed_lines(record.lrc)] == [
        (5.0, "first part line"), (90.0, "late line"), (130.0, "a new line at the end")]
    assert any("replaced by the extended song's own lyrics" in w for w in submission.warnings)


def test_an_extension_times_untimed_lyrics_over_the_new_part_and_defaults_to_the_songs_end(services, table, s3):
    source = finished(services, table, s3, duration=120.0)
    record = stored(s3, services.submissions.submit(request(
        extend={"job_id": source}, audio_length=240, lyrics="the song goes on\nand on until the end"), ME,
        None).record.job_id)
    assert record.edit is not None and record.edit.segments == [(120.0, -1)]
    new = [line for line in timed_lines(record.lrc) if line.time_s >= 120 and line.text]
    assert [line.text for line in new] == ["the song goes on", "and on until the end"]
    assert all(120 <= line.time_s < 240 for line in new)


def test_an_extension_must_be_longer_than_what_it_keeps(services, table, s3):
    source = finished(services, table, s3, duration=120.0)
    with pytest.raises(FieldError, match="longer than the part it keeps"):
        services.submissions.submit(request(extend={"job_id": source}, audio_length=120), ME, None)
    with pytest.raises(FieldError, match="from_s must be at most"):
        services.submissions.submit(request(extend={"job_id": source, "from_s": 130}, audio_length=200), ME, None)
    with pytest.raises(ValidationError, match="give edit or extend"):
        request(extend={"job_id": source}, edit={"job_id": source, "segments": [[1, 2]]})


# -- downloads by kind --------------------------------------------------------------------------------------------
def test_lyrics_and_stems_download_by_kind_and_are_listed_with_it(services, table, s3):
    source = finished(services, table, s3)
    url = services.reads.download_url(source, OWNER, None, 0, OutputKind.LYRICS)
    assert "lyrics.lrc" in url
    view = services.reads.view(table.jobs[source], position=False, url=False)
    lyric = [o for o in view.outputs if o.kind is OutputKind.LYRICS]
    assert lyric and lyric[0].download_url.endswith("&kind=lyrics") and lyric[0].format is FileFormat.LRC
    with pytest.raises(NotFoundError, match="no vocals file"):
        services.reads.download_url(source, OWNER, None, 0, OutputKind.VOCALS)
