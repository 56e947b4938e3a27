"""The song features' model side: instrumental songs, style mix and negative style, per-variation scores, best-first
ranking, stems and the placed lyric lines, on the tiny random bundle (slow) and in isolation (fast)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import inference_container.diffrhythm.pipeline as pipeline_module
from inference_container.diffrhythm.lyrics import PERIOD, lyric_tokens
from inference_container.diffrhythm.pipeline import Pipeline
from inference_container.diffrhythm.songs import Song, SongRequest, ranked
from inference_container.diffrhythm.stems import StemsUnavailable
from inference_container.diffrhythm.style import clip_window, score_windows
from shared.timeline import FULL, LATENT_RATE, end_frame, frame_at
from tests.support.songs import request_for

LRC = "[00:01.00]hello world\n[00:05.00]sing it again\n[00:09.00]end"
RATE = 48000


def _noise_clip() -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal((RATE * 12, 1))).astype(np.float32)


def _sine_clip() -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE * 12) / RATE))[:, None].astype(np.float32)


# --- fast: ranking and the score's windows ------------------------------------------------------------------------

def test_ranking_moves_audio_scores_stems_and_seeds_together_best_first():
    audio = [np.full((4, 2), i, dtype=np.float32) for i in range(4)]
    song = Song(audio, 44100, [], {"seed": 7, "seeds": [7, 8, 9, 10], "scores": [0.1, 0.5, 0.3, 0.5]},
                scores=[0.1, 0.5, 0.3, 0.5], stems=[(a, -a) for a in audio])
    best = ranked(song)
    assert [int(a[0, 0]) for a in best.audio] == [1, 3, 2, 0]  # ties keep their order
    assert [int(vocals[0, 0]) for vocals, _ in best.stems] == [1, 3, 2, 0]
    assert best.scores == [0.5, 0.5, 0.3, 0.1] and best.metadata["scores"] == [0.5, 0.5, 0.3, 0.1]
    assert best.metadata["seeds"] == [8, 10, 9, 7] and best.metadata["seed"] == 7
    assert song.metadata["seeds"] == [7, 8, 9, 10]  # the original is left alone
    with pytest.raises(ValueError, match="nothing to rank by"):
        ranked(Song(audio, 44100, []))


def test_stems_from_a_bundle_without_a_separator_are_refused_before_sampling():
    pipeline = Pipeline({}, None, None, None, "cpu", "no separator")  # type: ignore[arg-type]
    with pytest.raises(StemsUnavailable, match="stems are not available"):
        pipeline.generate_batch([request_for(LRC, style_prompt="pop", stems=True)])


def test_score_windows_spread_over_the_song_and_the_middle_one_is_the_reference_clips():
    frames, rate = 95 * 44100, 44100
    windows = score_windows(frames, rate)
    assert len(windows) == 3 and all(count == 10 * rate for _, count in windows)
    assert windows[1] == clip_window(frames, rate)
    starts = [start for start, _ in windows]
    assert starts == sorted(starts) and starts[0] > 0 and starts[-1] + 10 * rate < frames
    assert score_windows(5 * rate, rate) == [(0, 5 * rate)]


def test_new_request_settings_share_a_sampling_batch():
    plain = request_for(LRC, style_prompt="pop")
    others = [request_for("", style_prompt="pop", instrumental=True, best_of=2),
              request_for(LRC, style_prompt="pop", style_audio=(_noise_clip(), RATE), style_weight=0.2),
              request_for(LRC, style_prompt="pop", negative_style_prompt="sad")]
    assert {Pipeline.batch_key(r) for r in others} == {Pipeline.batch_key(plain)}


# --- slow: the style encoder and whole songs on the tiny bundle ---------------------------------------------------

@pytest.mark.slow
def test_mix_is_the_text_or_the_clip_at_the_ends_and_normalised_between(tiny_pipeline):
    style = tiny_pipeline.style
    text, clip = style.text("pop"), style.audio(_noise_clip(), RATE)
    torch.testing.assert_close(style.mix(text, clip, 1.0), text)
    torch.testing.assert_close(style.mix(text, clip, 0.0), clip)
    half = style.mix(text, clip, 0.5)
    assert abs(float(half.norm()) - 1) < 1e-5 and abs(float(text.norm()) - 1) < 1e-5  # as the encoder's own
    cosine = torch.nn.functional.cosine_similarity
    assert float(cosine(half, text)) > float(cosine(clip, text)) < float(cosine(half, clip))
    with pytest.raises(ValueError, match="between 0 and 1"):
        style.mix(text, clip, 1.5)


@pytest.mark.slow
def test_a_clip_scores_highest_against_its_own_embedding(tiny_pipeline):
    style = tiny_pipeline.style
    noise, sine = _noise_clip(), _sine_clip()
    own, other = style.audio(noise, RATE), style.audio(sine, RATE)
    scores = {"own": style.score(noise, RATE, own), "other clip": style.score(noise, RATE, other),
              "text": style.score(noise, RATE, style.text("pop")), "negated": style.score(noise, RATE, -own)}
    assert all(-1 <= s <= 1 for s in scores.values()), scores
    assert scores["own"] > 0.99 and scores["own"] > scores["other clip"] + 0.1 and scores["own"] > scores["text"]
    assert abs(scores["negated"] + scores["own"]) < 1e-5  # a cosine: the opposite style scores the opposite
    assert style.score(sine, RATE, other) > style.score(sine, RATE, own)


class _QuarterVocals:
    """A stand-in separator (the real one is tested in test_stems.py): a quarter of the song is "vocals"."""

    def separate(self, audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        return 0.25 * audio, 0.75 * audio


class _Spy:
    """Records what each sampling call was given (per row), then samples as usual."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.sample = pipeline_module.sample

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.calls.append({name: kwargs[name].clone() for name in ("text", "style", "negative_style")})
        return self.sample(*args, **kwargs)


SEED = 3
BATCH = {  # one sampling batch of requests with different settings
    "plain": {"style_prompt": "pop"},
    "clip": {"style_audio": (_noise_clip(), RATE)},
    "mix": {"style_prompt": "pop", "style_audio": (_noise_clip(), RATE)},
    "negative": {"style_prompt": "pop", "negative_style_prompt": "sad piano"},
    "instrumental": {"style_prompt": "pop", "lrc": "", "instrumental": True},
    "ranked": {"style_prompt": "pop", "seed": SEED - 2, "best_of": 3, "stems": True},  # 1, 2, 3
}


def _request(**overrides: Any) -> SongRequest:
    return request_for(overrides.pop("lrc", LRC), **{"steps": 3, "seed": SEED, **overrides})


@pytest.fixture(scope="module")
def batch(tiny_pipeline) -> tuple[dict[str, Song], dict[str, torch.Tensor]]:
    """The songs of one mixed batch, and each request's first row of what sampling was given."""
    spy = _Spy()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_module, "sample", spy)
        patch.setattr(tiny_pipeline, "separator", _QuarterVocals())
        songs = tiny_pipeline.generate_batch([_request(**fields) for fields in BATCH.values()])
    (given,) = spy.calls
    first_rows = np.cumsum([0] + [fields.get("best_of", 1) for fields in BATCH.values()])[:-1]
    rows = {name: {key: tensor[row] for key, tensor in given.items()}
            for name, row in zip(BATCH, first_rows, strict=True)}
    return dict(zip(BATCH, songs, strict=True)), rows


def _differ(a: np.ndarray, b: np.ndarray) -> bool:
    return not np.allclose(a, b, atol=1e-3)


@pytest.mark.slow
def test_an_instrumental_is_generated_from_filler_only_and_says_so(batch):
    songs, rows = batch
    song = songs["instrumental"]
    assert not rows["instrumental"]["text"].any() and rows["plain"]["text"].any()
    assert song.metadata["instrumental"] is True and songs["plain"].metadata["instrumental"] is False
    assert song.lyrics == [] and song.warnings == []
    assert _differ(song.audio[0], songs["plain"].audio[0])


@pytest.mark.slow
def test_a_prompt_and_a_clip_are_mixed_and_the_mix_differs_from_either(batch, tiny_pipeline):
    songs, rows = batch
    style = tiny_pipeline.style
    text, clip = style.text("pop"), style.audio(_noise_clip(), RATE)
    torch.testing.assert_close(rows["plain"]["style"], text[0])
    torch.testing.assert_close(rows["clip"]["style"], clip[0])
    torch.testing.assert_close(rows["mix"]["style"], style.mix(text, clip, 0.5)[0])
    assert songs["mix"].metadata["style_weight"] == 0.5 and songs["plain"].metadata["style_weight"] is None
    mixed = songs["mix"].audio[0]
    assert _differ(mixed, songs["plain"].audio[0]) and _differ(mixed, songs["clip"].audio[0])


@pytest.mark.slow
def test_a_negative_prompt_replaces_the_built_in_negative_style_for_its_rows_only(batch, tiny_pipeline):
    songs, rows = batch
    torch.testing.assert_close(rows["negative"]["negative_style"], tiny_pipeline.style.text("sad piano")[0])
    for name in ("plain", "mix", "instrumental"):
        torch.testing.assert_close(rows[name]["negative_style"], tiny_pipeline.style.negative[0])
    assert _differ(songs["negative"].audio[0], songs["plain"].audio[0])


@pytest.mark.slow
def test_a_request_sounds_the_same_alone_as_in_a_mixed_batch(batch, tiny_pipeline):
    songs, _ = batch
    alone = tiny_pipeline.generate(_request(**BATCH["negative"]))
    np.testing.assert_allclose(alone.audio[0], songs["negative"].audio[0], atol=1e-4)
    assert alone.scores == pytest.approx(songs["negative"].scores, abs=1e-4)


@pytest.mark.slow
def test_every_song_has_one_score_per_variation_against_its_own_style(batch, tiny_pipeline):
    songs, rows = batch
    for name, song in songs.items():
        assert len(song.scores) == len(song.audio) == len(song.metadata["scores"]), name
        assert all(-1 <= s <= 1 for s in song.scores)
        assert song.metadata["scores"] == [round(s, 4) for s in song.scores]
        style = rows[name]["style"][None]
        assert tiny_pipeline.style.score(song.audio[0], song.rate, style) == pytest.approx(song.scores[0], abs=1e-5)


@pytest.mark.slow
def test_ranked_variations_come_best_first_with_their_seeds(batch):
    songs, _ = batch
    song = songs["ranked"]
    seeds = song.metadata["seeds"]
    assert song.metadata["ranked"] is True and sorted(seeds) == [SEED - 2, SEED - 1, SEED]
    assert song.scores == sorted(song.scores, reverse=True)
    assert seeds != sorted(seeds)  # these seeds' variations score best last: ranking reordered them
    for audio, (vocals, accompaniment) in zip(song.audio, song.stems, strict=True):  # stems follow their song
        np.testing.assert_array_equal(vocals, 0.25 * audio)
        np.testing.assert_array_equal(accompaniment, 0.75 * audio)
    assert song.metadata["stems"] is True and songs["plain"].stems == [] and songs["plain"].metadata["stems"] is False
    # the variation made from seed 3 is the plain request's song (same settings and seed) wherever it was ranked
    np.testing.assert_allclose(song.audio[seeds.index(SEED)], songs["plain"].audio[0], atol=1e-4)
    assert song.scores[seeds.index(SEED)] == pytest.approx(songs["plain"].scores[0], abs=1e-5)


@pytest.mark.slow
def test_songs_carry_the_lyric_lines_as_placed(batch, tiny_pipeline):
    songs, _ = batch
    placed = lyric_tokens(LRC, 95, tiny_pipeline.tokenizer).lines
    assert songs["plain"].lyrics == list(placed) and [line.text for line in placed] == ["hello world", "sing it again"]
    assert songs["plain"].lyrics[0].start_s == pytest.approx(1.0, abs=0.05)


# -- section tags as tokens; the edit masks of an extension and a repaint -------------------------------------------
def test_section_tagged_lyrics_are_placed_at_their_timed_frames_without_shifts():
    from shared.lyrics import parse_lrc
    from tests.model.test_lyrics import Letters

    sheet = "[intro]\n[verse]\nabc def\nghij klm\n[chorus]\nnop qrs tuv\n[bridge]\nwxy\n[outro]"
    timed = parse_lrc(sheet, 120, bpm=100)
    song = lyric_tokens(timed.to_lrc(), 120, Letters())
    sung = [line for line in timed.lines if line.text]
    assert [line.text for line in song.lines] == [line.text for line in sung]
    expected = torch.zeros(song.end_frame, dtype=torch.long)
    for placed, line in zip(song.lines, sung, strict=True):
        start = frame_at(line.time_s)
        assert round(placed.start_s * LATENT_RATE) == start  # the timing left room: no line was pushed later
        tokens = Letters().encode(line.text)
        expected[start:start + len(tokens) + 1] = torch.tensor([*tokens, PERIOD])
    assert torch.equal(song.tokens, expected)


def _edit_pipeline(tmp_path) -> Pipeline:
    from inference_container.diffrhythm.vae import VAE
    from testing.tiny import save_tiny_vae

    return Pipeline({}, VAE.load(save_tiny_vae(tmp_path / "vae.pt")), None, None, "cpu", "test")  # type: ignore[arg-type]


def test_an_extension_keeps_the_source_before_from_s_and_generates_the_rest(tmp_path):
    source = np.random.default_rng(0).uniform(-0.5, 0.5, (44100 * 100, 2)).astype(np.float32)  # a 100 s song
    request = request_for("", instrumental=True, audio_length=150, style_prompt="pop", edit_audio=(source, 44100),
                          segments=[[90, -1]])
    frames = end_frame(150)
    edit = _edit_pipeline(tmp_path)._edit(request, frames, FULL.max_frames)
    regenerate = edit.regenerate[0]
    assert not regenerate[:frame_at(90)].any() and regenerate[frame_at(90):].all()
    kept = edit.reference[0].abs().sum(dim=-1)
    assert (kept[:frame_at(100) - 1] > 0).all() and (kept[frame_at(100) + 1:] == 0).all()  # past the source: none


def test_a_repaint_regenerates_only_its_segments(tmp_path):
    source = np.random.default_rng(1).uniform(-0.5, 0.5, (44100 * 120, 2)).astype(np.float32)
    request = request_for("", instrumental=True, audio_length=120, style_prompt="pop", edit_audio=(source, 44100),
                          segments=[[30, 45], [100, -1]])
    edit = _edit_pipeline(tmp_path)._edit(request, end_frame(120), FULL.max_frames)
    expected = torch.zeros(end_frame(120), dtype=torch.bool)
    expected[frame_at(30):frame_at(45)] = True
    expected[frame_at(100):] = True
    assert torch.equal(edit.regenerate[0], expected)
    assert torch.equal(edit.cond[0][expected], torch.zeros_like(edit.cond[0][expected]))  # the model sees no song there
    assert (edit.cond[0][~expected].abs().sum(dim=-1) > 0).all()
