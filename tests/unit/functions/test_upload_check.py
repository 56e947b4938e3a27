"""The upload check over fakes: refused uploads are deleted with a reason that the next submit answers with."""

from __future__ import annotations

import json
from typing import Any

import pytest
import soundfile
from botocore.exceptions import ClientError

from functions.api.errors import FieldError
from functions.status.upload_check import UploadChecker
from shared import keys
from shared.contract import GenerateRequest
from tests.support.fakes import FakeObjectStore, client_error, key_caller
from tests.unit.functions.conftest import LYRICS_REQUEST, OWNER, make_settings
from tests.unit.shared.test_audio_probe import encode

UPLOAD = keys.input_key(OWNER, "0123abcd", "flac")


@pytest.fixture
def checker(s3: FakeObjectStore) -> UploadChecker:
    return UploadChecker(make_settings(), s3)


def rejection(s3: FakeObjectStore, key: str = UPLOAD) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(s3.body(keys.rejection_key(key)))
    return loaded


def test_a_long_silent_flac_is_refused_from_its_header_and_deleted(checker, s3, monkeypatch):
    s3.objects[UPLOAD] = (encode(30 * 60), "audio/flac")  # 30 minutes of silence, a few hundred KiB
    monkeypatch.setattr(soundfile.SoundFile, "read", lambda *a, **k: pytest.fail("the check decoded samples"))
    reason = checker.check(UPLOAD)
    assert reason == "the clip is 1800.0 s long; at most 600 s are accepted"
    assert UPLOAD not in s3.objects
    assert rejection(s3)["reason"] == reason and rejection(s3)["key"] == UPLOAD


def test_a_three_channel_file_is_refused(checker, s3):
    key = keys.input_key(OWNER, "surround", "wav")
    s3.objects[key] = (encode(12, rate=44_100, channels=3, fmt="WAV"), "audio/wav")
    assert "3 channels" in (checker.check(key) or "")
    assert key not in s3.objects and "3 channels" in rejection(s3, key)["reason"]


def test_a_file_that_is_not_audio_is_refused(checker, s3):
    s3.objects[UPLOAD] = (b"<html>not a song</html>" * 40, "audio/flac")
    assert checker.check(UPLOAD) == "the file could not be read as audio (WAV, FLAC, Ogg or MP3)"
    assert UPLOAD not in s3.objects


def test_a_good_clip_is_kept_and_no_rejection_is_written(checker, s3):
    s3.objects[UPLOAD] = (encode(45, rate=44_100, channels=2), "audio/flac")
    assert checker.check(UPLOAD) is None
    assert UPLOAD in s3.objects and keys.rejection_key(UPLOAD) not in s3.objects


def test_an_upload_already_gone_and_other_keys_are_left_alone(checker, s3):
    assert checker.check(UPLOAD) is None  # a duplicate event after the refusal deleted it
    s3.objects["outputs/x/0.wav"] = (b"not audio", "audio/wav")
    assert checker.check("outputs/x/0.wav") is None
    assert list(s3.objects) == ["outputs/x/0.wav"]


def test_a_throttled_read_is_raised_so_the_event_is_delivered_again(checker, s3, monkeypatch):
    s3.objects[UPLOAD] = (encode(30 * 60), "audio/flac")
    monkeypatch.setattr(s3, "get_object", lambda **_: (_ for _ in ()).throw(client_error("SlowDown", "GetObject")))
    with pytest.raises(ClientError, match="SlowDown"):
        checker.check(UPLOAD)
    assert UPLOAD in s3.objects


@pytest.mark.parametrize("field", ["reference_audio_key", "edit"])
def test_a_submit_naming_a_refused_upload_is_a_422_with_the_reason(checker, services, settings, s3, field):
    s3.objects[UPLOAD] = (encode(12, channels=3, fmt="WAV"), "audio/flac")
    checker.check(UPLOAD)
    no_style = {k: v for k, v in LYRICS_REQUEST.items() if k != "style_prompt"}
    body = ({**no_style, "reference_audio_key": UPLOAD} if field == "reference_audio_key"
            else {**LYRICS_REQUEST, "edit": {"reference_audio_key": UPLOAD, "segments": [[10, 20]]}})
    with pytest.raises(FieldError) as refused:
        services.submissions.submit(GenerateRequest.model_validate(body), key_caller(OWNER, settings), None)
    assert refused.value.status == 422
    loc = ["body", "reference_audio_key"] if field == "reference_audio_key" else ["body", "edit", "reference_audio_key"]
    assert refused.value.errors == [{
        "loc": loc, "type": "value_error",
        "msg": "the uploaded file was refused: the clip has 3 channels; only mono or stereo clips are accepted"}]
