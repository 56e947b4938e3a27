"""One resolver for the worker and the command line: a ``GenerateRequest`` becomes a ``SongRequest`` in
``songs.song_request``, and ``diffrhythm generate`` builds that ``GenerateRequest`` from its flags, so it validates,
defaults and times lyrics as the API does."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile

from inference_container.diffrhythm.songs import SongRequest, song_request
from shared.contract import DEFAULT_STYLE_WEIGHT, GenerateRequest
from shared.presets import PRESETS, Preset
from tests.support.cli import generate

LRC = "[00:01.00]hello world\n[00:05.00]sing it again"
CLIP = (np.zeros((44100 * 12, 2), dtype=np.float32), 44100)


def _resolve(clip: bool = False, **fields: object) -> SongRequest:
    request = GenerateRequest.model_validate({"lyrics": LRC, "reference_audio_key": "c.wav" if clip else None,
                                              **fields})
    return song_request(request, lrc=LRC, seed=7, style_audio=CLIP if clip else None)


def test_song_request_has_no_defaults():
    assert all(field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
               for field in dataclasses.fields(SongRequest))


def test_the_preset_and_its_overrides_are_resolved_once():
    draft, pop = PRESETS[Preset.DRAFT], {"style_prompt": "pop", "preset": "draft"}
    assert (_resolve(**pop).steps, _resolve(**pop).cfg_strength) == (draft.steps, draft.cfg_strength)
    assert (_resolve(**pop, steps=10).steps, _resolve(**pop, cfg_strength=1.5).cfg_strength) == (10, 1.5)


def test_the_contract_defaults_reach_the_pipeline():
    plain = _resolve(style_prompt="pop")
    assert plain.auto_master is True and plain.master_preset == "balanced"  # the API's default, also the CLI's
    assert (plain.variations, plain.rank, plain.seed, plain.lrc) == (1, False, 7, LRC)
    ranked = _resolve(style_prompt="pop", best_of=3)
    assert (ranked.variations, ranked.rank) == (3, True)


@pytest.mark.parametrize(("fields", "clip", "weight"), [
    ({"style_prompt": "pop"}, False, None),  # text alone: no mix
    ({}, True, None),  # a clip alone: no mix
    ({"style_prompt": "pop"}, True, DEFAULT_STYLE_WEIGHT),  # both: the contract's default share
    ({"style_prompt": "pop", "style_weight": 0.2}, True, 0.2),
])
def test_the_style_mix_weight_is_resolved_here(fields, clip, weight):
    assert _resolve(clip, **fields).style_weight == weight


def test_a_clip_must_match_what_the_request_names():
    request = GenerateRequest(lyrics=LRC, style_prompt="pop")
    with pytest.raises(ValueError, match="reference_audio_key"):
        song_request(request, lrc=LRC, seed=0, style_audio=CLIP)
    with pytest.raises(ValueError, match="edit"):
        song_request(request, lrc=LRC, seed=0, edit_audio=CLIP)


# -- diffrhythm generate: flags -> GenerateRequest -> SongRequest ------------------------------------------------




@pytest.mark.parametrize(("flags", "says"), [
    (["--variations", "9"], "--variations"),  # the contract's limit (batch_size <= 4)
    (["--best-of", "9"], "--best-of"),
    (["--bpm", "500"], "--bpm"),
    (["--steps", "1"], "--steps"),
    (["--style-weight", "0.3"], "--style-weight"),  # a weight with no clip to mix
    (["--length", "96", "--style", "x"], "--style"),  # a style must say something
])
def test_generate_refuses_what_the_api_refuses_naming_the_flag(tiny_bundle, tmp_path, captured, capsys, flags,
                                                                says):
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text(LRC, encoding="utf-8")
    style = [] if "--style" in flags else ["--style", "pop"]
    assert generate(tiny_bundle, tmp_path, "--lyrics", str(lyrics), *style, *flags) == 2
    assert says in capsys.readouterr().err and not captured


def test_generate_uses_the_api_defaults_and_draws_a_seed(tiny_bundle, tmp_path, captured, capsys):
    lyrics = tmp_path / "song.txt"
    lyrics.write_text("[verse]\nhello world tonight\nsing along with me\n", encoding="utf-8")
    assert generate(tiny_bundle, tmp_path, "--lyrics", str(lyrics), "--style", "pop") == 2
    (request,) = captured
    out = capsys.readouterr().out
    assert request.auto_master is True and request.steps == PRESETS[Preset.HIGH].steps
    assert f"seed {request.seed}" in out and "timed at 100 bpm" in out  # untimed lyrics timed as the API times them
    assert request.lrc.startswith("[00:")


def test_generate_extends_a_song_with_its_lyrics_before_the_cut_and_the_new_ones_after(tiny_bundle, tmp_path,
                                                                                      captured):
    source = tmp_path / "first.wav"
    soundfile.write(str(source), np.zeros((44100 * 40, 2), dtype=np.float32), 44100)
    source.with_suffix(".lyrics.lrc").write_text("[00:01.00]kept line\n[00:35.00]cut line\n", encoding="utf-8")
    new = tmp_path / "more.txt"
    new.write_text("a new line to sing\n", encoding="utf-8")
    assert generate(tiny_bundle, tmp_path, "--lyrics", str(new), "--style", "pop", "--length", "120",
                     "--extend-from", str(source), "--extend-at", "30") == 2
    (request,) = captured
    sung = [line.split("]", 1)[1] for line in request.lrc.splitlines()]
    assert sung[0] == "kept line" and "cut line" not in sung and "a new line to sing" in sung
    assert request.edit_segments == [[30, -1]] and request.edit_audio is not None


def test_generate_refuses_to_extend_past_the_songs_end(tiny_bundle, tmp_path, captured, capsys):
    source = tmp_path / "first.wav"
    soundfile.write(str(source), np.zeros((44100 * 20, 2), dtype=np.float32), 44100)
    assert generate(tiny_bundle, tmp_path, "--instrumental", "--style", "pop", "--length", "120",
                     "--extend-from", str(source), "--extend-at", "30") == 2
    assert "--extend-at" in capsys.readouterr().err and not captured
