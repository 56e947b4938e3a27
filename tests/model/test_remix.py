"""Remix, model side: the source song's latent noised to the flow time ``1 - strength`` and sampled from the grid
point at or after it; strength 1 is the plain song, a small strength stays close to the source (slow: the tiny
random bundle), and the batch key keeps different starts apart (fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference_container.diffrhythm.pipeline import Pipeline
from inference_container.diffrhythm.sampling import euler, noised, remix_start
from inference_container.diffrhythm.songs import song_request
from shared.contract import GenerateRequest
from tests.support.cli import generate
from tests.support.songs import request_for

LRC = "[00:01.00]hello world\n[00:05.00]sing it again\n[00:09.00]end"
STEPS = 11  # grid 0, 0.1, ... 1
RATE = 44100


def _source() -> np.ndarray:
    """A 30 s stereo song to remix: a chord with a little noise."""
    t = np.arange(RATE * 30) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    noise = 0.05 * np.random.default_rng(3).standard_normal(t.shape)
    return np.stack([chord + noise, chord - noise], axis=1).astype(np.float32) * 0.5


def _request(strength: float | None, **fields: object):
    remix = {"remix_audio": (_source(), RATE), "strength": strength} if strength is not None else {}
    return request_for(LRC, **{"style_prompt": "jazz", "steps": STEPS, "seed": 5, **remix, **fields})


# --- fast: the start on the grid, the noising, the batch key ------------------------------------------------------

@pytest.mark.parametrize(("strength", "start"), [(1.0, 0), (0.95, 1), (0.9, 1), (0.7, 3), (0.3, 7), (0.31, 7),
                                                 (0.1, 9), (0.05, 9), (1e-6, 9)])
def test_the_start_is_the_first_grid_point_at_or_after_one_minus_strength_and_one_step_always_runs(strength, start):
    assert remix_start(strength, STEPS) == start
    grid = torch.linspace(0, 1, STEPS)
    assert grid[start] >= 1 - strength - 1e-6 or start == STEPS - 2
    assert start == 0 or grid[start - 1] < 1 - strength - 1e-6


def test_sampling_from_a_start_runs_only_the_steps_left_and_reports_them():
    times: list[float] = []
    calls: list[tuple[int, int]] = []

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        times.append(float(t))
        return torch.ones_like(x)

    out = euler(velocity, torch.zeros(1, 1, 1), steps=5, start=2, callback=lambda i, total: calls.append((i, total)))
    assert times == [0.5, 0.75] and calls == [(1, 2), (2, 2)] and out.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="before the last"):
        euler(lambda x, t: x, torch.zeros(1, 1, 1), steps=5, start=4)


def test_the_source_is_noised_on_the_flows_straight_path():
    noise, latent = torch.full((1, 2, 3), 2.0), torch.full((1, 2, 3), -1.0)
    torch.testing.assert_close(noised(noise, latent, STEPS, 0), noise)  # t = 0: all noise
    torch.testing.assert_close(noised(noise, latent, STEPS, 7), 0.3 * noise + 0.7 * latent)


def test_remixes_share_a_batch_only_with_the_same_start():
    plain = request_for(LRC, style_prompt="pop", steps=STEPS)
    whole = request_for(LRC, style_prompt="pop", steps=STEPS, remix_audio=(_source()[:10], RATE), strength=1.0)
    near = [request_for(LRC, style_prompt="pop", steps=STEPS, remix_audio=(_source()[:10], RATE), strength=s)
            for s in (0.65, 0.62, 0.3)]
    assert Pipeline.batch_key(whole) == Pipeline.batch_key(plain)  # strength 1 starts at 0, as a plain song does
    assert Pipeline.batch_key(near[0]) == Pipeline.batch_key(near[1]) != Pipeline.batch_key(plain)
    assert Pipeline.batch_key(near[2]) != Pipeline.batch_key(near[0])


def test_song_request_resolves_the_strength_and_the_source_clip_must_match_the_request():
    request = GenerateRequest.model_validate({"lyrics": LRC, "style_prompt": "pop",
                                              "remix": {"reference_audio_key": "s.wav", "strength": 0.4}})
    clip = (_source()[:10], RATE)
    song = song_request(request, lrc=LRC, seed=1, remix_audio=clip)
    assert song.remix_strength == 0.4 and song.remix_audio is clip
    with pytest.raises(ValueError, match="remix_audio"):
        song_request(request, lrc=LRC, seed=1)
    with pytest.raises(ValueError, match="remix_audio"):
        song_request(GenerateRequest(lyrics=LRC, style_prompt="pop"), lrc=LRC, seed=1, remix_audio=clip)
    plain = song_request(GenerateRequest(lyrics=LRC, style_prompt="pop"), lrc=LRC, seed=1)
    assert plain.remix_audio is None and plain.remix_strength is None


# --- slow: whole remixes on the tiny bundle -----------------------------------------------------------------------

@pytest.fixture
def latents(tiny_pipeline, monkeypatch):
    """The latents the pipeline decodes, one per song, as they are generated."""
    captured: list[torch.Tensor] = []
    decode = tiny_pipeline.vae.decode

    def spy(latent, chunked=True):
        captured.append(latent.clone())
        return decode(latent, chunked)

    monkeypatch.setattr(tiny_pipeline.vae, "decode", spy)
    return captured


@pytest.mark.slow
def test_strength_one_is_exactly_the_plain_song_for_the_same_seed(tiny_pipeline):
    plain = tiny_pipeline.generate(_request(None))
    remix = tiny_pipeline.generate(_request(1.0))
    np.testing.assert_array_equal(remix.audio[0], plain.audio[0])
    assert remix.metadata["remix"] == {"strength": 1.0, "start_t": 0.0, "steps_run": STEPS - 1}
    assert "remix" not in plain.metadata


@pytest.mark.slow
def test_a_small_strength_stays_close_to_the_source_and_the_distance_grows_with_strength(tiny_pipeline, latents):
    source = tiny_pipeline._reference_latent(_source(), RATE, 2048)[0]
    strengths = (0.05, 0.3, 0.6, 1.0)
    songs = [tiny_pipeline.generate(_request(strength)) for strength in strengths]
    latent_gaps = [float((latent[0] - source).norm() / source.norm()) for latent in latents]
    assert latent_gaps == sorted(latent_gaps) and latent_gaps[0] < 0.2 * latent_gaps[-1], latent_gaps
    decoded = tiny_pipeline.vae.decode(source[None])[0].T.cpu().numpy()  # the source as the VAE gives it back
    n = min(len(decoded), len(songs[0].audio[0]))

    def gap(audio: np.ndarray) -> float:
        a, b = audio[:n] / np.abs(audio[:n]).max(), decoded[:n] / np.abs(decoded[:n]).max()
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    audio_gaps = [gap(song.audio[0]) for song in songs]
    assert audio_gaps == sorted(audio_gaps) and audio_gaps[0] < 0.25 * audio_gaps[-1], audio_gaps
    assert [song.metadata["remix"]["steps_run"] for song in songs] == [1, 3, 6, 10]
    assert [song.metadata["remix"]["start_t"] for song in songs] == [0.9, 0.7, 0.4, 0.0]


@pytest.mark.slow
def test_remixes_in_one_batch_each_start_from_their_own_source(tiny_pipeline):
    other = (0.2 * np.random.default_rng(9).standard_normal((RATE * 30, 2))).astype(np.float32)
    first, second = _request(0.3), _request(0.3, remix_audio=(other, RATE), seed=6)
    together = tiny_pipeline.generate_batch([first, second])
    alone = [tiny_pipeline.generate(first), tiny_pipeline.generate(second)]
    for batched, single in zip(together, alone, strict=True):
        np.testing.assert_allclose(batched.audio[0], single.audio[0], atol=1e-4)
    assert not np.allclose(together[0].audio[0], together[1].audio[0])


# --- diffrhythm generate --remix-from SONG --strength S ------------------------------------------------------------





def test_generate_remixes_a_song_with_new_lyrics_on_its_times(tiny_bundle, tmp_path, captured):
    import soundfile

    source = tmp_path / "first.wav"
    soundfile.write(str(source), _source()[: RATE * 20], RATE)
    source.with_suffix(".lyrics.lrc").write_text("[00:02.00]old one\n[00:09.00]old two\n[00:15.00]", encoding="utf-8")
    lyrics = tmp_path / "new.txt"
    lyrics.write_text("new one\nnew two\n", encoding="utf-8")
    assert generate(tiny_bundle, tmp_path, "--lyrics", str(lyrics), "--style", "jazz", "--remix-from", str(source),
                     "--strength", "0.4") == 2
    (request,) = captured
    assert request.remix_strength == 0.4 and request.remix_audio is not None and request.edit_audio is None
    assert request.lrc == "[00:02.00]new one\n[00:09.00]new two\n[00:15.00]"


@pytest.mark.parametrize(("flags", "says"), [(["--strength", "0.5"], "--remix-from SONG and --strength"),
                                             (["--remix-from", "x.wav", "--strength", "0"], "--strength"),
                                             (["--remix-from", "x.wav"], "--remix-from SONG and --strength")])
def test_generate_refuses_a_remix_without_a_song_or_a_strength_in_range(tiny_bundle, tmp_path, captured, capsys,
                                                                       flags, says):
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text(LRC, encoding="utf-8")
    assert generate(tiny_bundle, tmp_path, "--lyrics", str(lyrics), "--style", "pop", *flags) == 2
    assert says in capsys.readouterr().err and not captured
