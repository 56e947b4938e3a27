"""A remix at submit, over fakes: its source (one of the caller's finished jobs, or an upload), the stored request
naming the source's WAV, the lyric times taken from the source, the refusals and the charge."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.api.errors import FieldError, RateLimitError
from shared import keys
from shared.contract import GenerateRequest
from shared.lrc import timed_lines
from shared.remix import remix_lyrics
from tests.support.fakes import key_caller
from tests.unit.conftest import BUCKET
from tests.unit.functions.conftest import OWNER, make_settings
from tests.unit.functions.test_song_features import ME, THEM, finished, request, stored

SOURCE_LYRICS = "[00:05.00]first part line\n[01:30.00]late line"


def remix_of(source: str, strength: float = 0.5, **fields: object) -> GenerateRequest:
    return request(remix={"job_id": source, "index": 1, "strength": strength}, audio_length=120, **fields)


def test_a_remix_of_a_finished_job_is_stored_as_a_remix_of_its_song(services, table, s3):
    source = finished(services, table, s3)
    submission = services.submissions.submit(remix_of(source, 0.4, lyrics="[00:02.00]new words here"), ME, None)
    record = stored(s3, submission.record.job_id)
    assert record.remix is not None and record.remix.reference_audio_key == keys.output_key(source, 1, "wav")
    assert record.remix.job_id is None and record.remix.strength == 0.4 and record.source_job == source
    assert record.edit is None and record.lrc == "[00:02.00]new words here"  # timed lyrics are sung as written
    assert submission.warnings == []


def test_untimed_lyrics_with_as_many_lines_take_the_source_lines_times(services, table, s3):
    source = finished(services, table, s3, lyrics=SOURCE_LYRICS)
    submission = services.submissions.submit(remix_of(source, lyrics="a brand new opening\nand a new ending"), ME,
                                             None)
    record = stored(s3, submission.record.job_id)
    assert [(line.time_s, line.text) for line in timed_lines(record.lrc)] == [
        (5.0, "a brand new opening"), (90.0, "and a new ending"), (92.4, "")]  # closed a bar (100 bpm) later
    assert submission.warnings == ["the new lyrics had no timestamps: their 2 lines take the times of the source "
                                   "song's lines"]  # the tempo's timing, not used, is not reported


def test_untimed_lyrics_with_another_number_of_lines_are_timed_at_the_tempo_with_a_warning(services, table, s3):
    source = finished(services, table, s3, lyrics=SOURCE_LYRICS)
    submission = services.submissions.submit(remix_of(source, lyrics="one new line\ntwo new lines\nthree lines"),
                                             ME, None)
    record = stored(s3, submission.record.job_id)
    assert [line.text for line in timed_lines(record.lrc) if line.text] == ["one new line", "two new lines",
                                                                            "three lines"]
    assert timed_lines(record.lrc)[0].time_s != 5.0
    assert any("timed at 100 bpm" in w for w in submission.warnings)
    assert any("3 sung lines and the source song 2" in w for w in submission.warnings)


def test_the_source_times_that_do_not_fit_the_new_lines_fall_back_to_the_tempo():
    lrc, warnings = remix_lyrics("[00:01.00]a\n[00:01.50]b", "a very long first line that cannot be sung in half a "
                                 "second\nb", 95)
    assert lrc is None and "do not fit the source song's times" in warnings[0]
    assert remix_lyrics("[00:01.00]a", "[00:03.00]timed", 95) == (None, [])  # timed lyrics: the caller's times
    lrc, _ = remix_lyrics("[00:01.00]a\n[00:50.00]b\n[01:50.00]", "uno\ndos", 95)  # an end past the new song goes
    assert lrc == "[00:01.00]uno\n[00:50.00]dos\n[00:52.40]"  # and one a bar later closes the last line
    lrc, _ = remix_lyrics("[00:01.00]a\n[00:20.00]b\n[00:30.00]", "uno\ndos", 95)  # the source's own end stays
    assert lrc == "[00:01.00]uno\n[00:20.00]dos\n[00:30.00]"
    lrc, _ = remix_lyrics("[00:01.00]a\n[01:34.00]b", "uno\ndos", 95)  # no room for an end inside the song
    assert lrc == "[00:01.00]uno\n[01:34.00]dos"


def test_an_instrumental_remix_and_a_short_source_say_what_they_do(services, table, s3):
    source = finished(services, table, s3, duration=100.0)
    body = remix_of(source, instrumental=True, lyrics=None)
    submission = services.submissions.submit(body, ME, None)
    assert stored(s3, submission.record.job_id).lrc == ""
    assert submission.warnings == [f"the song of job {source} is 100 s long: the remix's last 20 s start from "
                                   "noise alone"]


def test_another_owners_job_an_unfinished_one_and_a_missing_variation_are_clear_422s(services, table, s3):
    theirs = finished(services, table, s3, owner=THEM)
    with pytest.raises(FieldError, match=f"no job {theirs} of yours") as refused:
        services.submissions.submit(remix_of(theirs), ME, None)
    assert refused.value.errors[0]["loc"] == ["body", "remix", "job_id"]
    running = services.submissions.submit(request(), ME, None).record.job_id
    with pytest.raises(FieldError, match="is queued; only a completed job's song can be edited, extended or remix"):
        services.submissions.submit(remix_of(running), ME, None)
    mine = finished(services, table, s3, variations=1)
    with pytest.raises(FieldError, match=r"variations 0\.\.0, not 1") as refused:
        services.submissions.submit(remix_of(mine), ME, None)
    assert refused.value.errors[0]["loc"] == ["body", "remix", "index"]


def test_an_uploaded_source_must_be_the_callers_existing_upload(services, s3):
    theirs = keys.input_prefix("owner-b") + "song.wav"
    s3.put_object(Bucket=BUCKET, Key=theirs, Body=b"RIFF", ContentType="audio/wav")
    with pytest.raises(FieldError, match="returned by POST /api/v1/uploads") as refused:
        services.submissions.submit(request(remix={"reference_audio_key": theirs, "strength": 0.5}), ME, None)
    assert refused.value.errors[0]["loc"] == ["body", "remix", "reference_audio_key"]
    mine = keys.input_prefix(OWNER) + "song.wav"
    s3.put_object(Bucket=BUCKET, Key=mine, Body=b"RIFF", ContentType="audio/wav")
    job = services.submissions.submit(request(remix={"reference_audio_key": mine, "strength": 0.5}), ME, None)
    record = stored(s3, job.record.job_id)
    assert record.remix is not None and record.remix.reference_audio_key == mine and record.source_job is None


@pytest.mark.parametrize(("remix", "others", "says", "loc"), [
    ({"job_id": "j", "strength": 0}, {}, "greater than 0", ["remix", "strength"]),
    ({"job_id": "j", "strength": 1.5}, {}, "less than or equal to 1", ["remix", "strength"]),
    ({"job_id": "j"}, {}, "Field required", ["remix", "strength"]),
    ({"strength": 0.5}, {}, "exactly one of job_id", ["remix"]),
    ({"job_id": "j", "reference_audio_key": "k", "strength": 0.5}, {}, "exactly one of job_id", ["remix"]),
    ({"job_id": "j", "strength": 0.5}, {"extend": {"job_id": "j"}}, "without edit or extend", ["remix"]),
    ({"job_id": "j", "strength": 0.5}, {"edit": {"job_id": "j", "segments": [[1, 2]]}}, "without edit or extend",
     ["remix"]),
])
def test_a_bad_remix_is_refused_naming_the_field(remix, others, says, loc):
    with pytest.raises(ValidationError, match=says) as refused:
        request(remix=remix, audio_length=120, **others)
    assert [list(error["loc"]) for error in refused.value.errors()] == [loc]


def test_a_remix_is_charged_like_any_job(services, table, s3):
    source = finished(services, table, s3)
    assert remix_of(source).cost_units() == request(audio_length=120).cost_units()
    limited = key_caller(OWNER, make_settings(rate_limit_per_hour=0, jobs_per_hour=2))  # the source is one job
    services.submissions.submit(remix_of(source), limited, None)
    with pytest.raises(RateLimitError, match="jobs_per_hour"):
        services.submissions.submit(remix_of(source), limited, None)
