"""The model commands end to end: make-test-weights, generate (MP3 of the requested length), fetch-weights."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from inference_container.diffrhythm.tiny import make_test_weights
from inference_container.diffrhythm.weights import (
    MULAN_REPO,
    SPACE_FILES,
    STEMS_FILE,
    Bundle,
    RemoteFile,
    fetch_weights,
)

CLI = [sys.executable, "-m", "infrastructure.cli"]


@pytest.mark.slow
def test_generate_writes_a_95_s_stereo_44k_mp3_with_metadata(tiny_bundle, tmp_path):
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text("[00:01.00]Hello world\n[00:08.00]Sing along\n[00:20.00]The end\n", encoding="utf-8")
    out = tmp_path / "song.mp3"
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics), "--style",
                             "pop, upbeat", "--length", "95", "--seed", "7", "--preset", "preview", "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "TINY RANDOM TEST MODEL" in result.stdout
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels) == (44100, 2) and abs(info.duration - 95.1) < 0.1
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["seed"] == 7 and metadata["steps"] == 4 and metadata["model"].startswith("TINY RANDOM")
    assert json.loads((tmp_path / "song.0.peaks.json").read_text())["duration_s"] == pytest.approx(95.1, abs=0.1)


@pytest.mark.slow
def test_generate_rejects_a_short_reference_clip_with_a_clear_error(tiny_bundle, tmp_path):
    import numpy as np

    clip = tmp_path / "ref.wav"
    soundfile.write(str(clip), np.zeros((44100 * 3, 2), dtype=np.float32), 44100)
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text("[00:01.00]Hello\n[00:05.00]end\n", encoding="utf-8")
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics),
                             "--style-audio", str(clip), "-o", str(tmp_path / "x.wav")], capture_output=True, text=True)
    assert result.returncode != 0 and "at least 10 s" in result.stderr


@pytest.mark.slow
def test_generate_times_section_tags_ranks_best_of_and_writes_stems_lyrics_and_tags(tiny_bundle, tmp_path):
    from mutagen.wave import WAVE

    lyrics = tmp_path / "song.txt"
    lyrics.write_text("[verse]\nHello world tonight\nSing along with me\n[chorus]\nThe end is near\n", encoding="utf-8")
    out = tmp_path / "song.wav"
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics), "--bpm", "120",
                             "--style", "pop", "--best-of", "2", "--stems", "--title", "Night Drive", "--preset",
                             "preview", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "timed at 120 bpm" in result.stdout and result.stdout.count("(score ") == 2
    for name in ("song.wav", "song_1.wav", "song.0.vocals.wav", "song.1.accompaniment.wav", "song.lyrics.lrc"):
        assert (tmp_path / name).is_file(), name
    lines = json.loads((tmp_path / "song.lyrics.json").read_text())["lines"]
    sung = [line["text"] for line in lines if line["text"]]
    assert sung == ["Hello world tonight", "Sing along with me", "The end is near"]
    assert all(a["end_s"] <= b["start_s"] for a, b in itertools.pairwise(lines))
    scores = json.loads(out.with_suffix(".json").read_text())["scores"]
    assert scores == sorted(scores, reverse=True)
    assert str(WAVE(out).tags["TIT2"]) == "Night Drive"


@pytest.mark.slow
def test_generate_an_instrumental_without_lyrics(tiny_bundle, tmp_path):
    out = tmp_path / "song.flac"
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--instrumental", "--style", "lofi",
                             "--preset", "preview", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "song.lyrics.json").read_text())["lines"] == []
    assert json.loads(out.with_suffix(".json").read_text())["instrumental"] is True
    refused = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--style", "lofi", "-o", str(out)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "--instrumental" in refused.stderr


class FakeHub:
    """Stands in for huggingface_hub: serves files from a folder laid out as <repo>/<file>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []

    def hf_hub_download(self, repo_id: str, filename: str, repo_type: str = "model") -> str:
        self.calls.append(f"{repo_type}:{repo_id}/{filename}")
        return str(self.root / repo_id / filename)

    def snapshot_download(self, repo_id: str, local_dir: str, allow_patterns: list[str] | None = None) -> str:
        self.calls.append(f"snapshot:{repo_id}")
        shutil.copytree(self.root / repo_id, local_dir, dirs_exist_ok=True)
        return local_dir


@pytest.mark.slow  # a whole bundle, MuQ-MuLan loaded
def test_fetch_weights_lays_out_and_verifies_the_bundle(tmp_path):
    tiny = make_test_weights(tmp_path / "source", ("95s",))
    hub_root = tmp_path / "hub"
    files = {"ASLP-lab/DiffRhythm-1_2/cfm_model.pt": tiny / "dit/95s/cfm_model.pt",
             "ASLP-lab/DiffRhythm-vae/vae_model.pt": tiny / "vae/vae_model.pt"}
    files |= {f"ASLP-lab/DiffRhythm/{name}": tiny / target for target, name in SPACE_FILES.items()}
    for target, source in files.items():
        (hub_root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, hub_root / target)
    mulan_config = json.loads((tiny / "style/muq-mulan/config.json").read_text())
    shutil.copytree(tiny / "style/muq-mulan", hub_root / MULAN_REPO)
    for part, repo in (("audio_model", "OpenMuQ/MuQ-large-msd-iter"), ("text_model", "FacebookAI/xlm-roberta-base")):
        shutil.copytree(tiny / "style" / mulan_config[part]["name"], hub_root / repo)
        mulan_config[part]["name"] = repo
    (hub_root / MULAN_REPO / "config.json").write_text(json.dumps(mulan_config))

    hub = FakeHub(hub_root)
    stems = RemoteFile((tiny / STEMS_FILE).as_uri(), Bundle(tiny).manifest["files"][STEMS_FILE]["sha256"])
    bundle = fetch_weights(tmp_path / "bundle", ("95s",), hub=hub, stems=stems)
    bundle.verify()
    assert not bundle.is_tiny and bundle.variants == ("95s",)
    assert json.loads((bundle.style / "muq-mulan/config.json").read_text())["text_model"]["name"] == "xlm-roberta-base"
    assert "space:ASLP-lab/DiffRhythm/infer/example/vocal.npy" in hub.calls
    from inference_container.diffrhythm.style import StyleEncoder

    assert StyleEncoder.load(bundle.style, bundle.negative_style).text("pop").shape == (1, 512)
    assert Bundle(tmp_path / "bundle").manifest["files"]["vae/vae_model.pt"]["source"].endswith("vae_model.pt")
    assert bundle.stems is not None and bundle.manifest["files"][STEMS_FILE]["source"] == stems.url
