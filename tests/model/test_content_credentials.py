"""Signed provenance: every WAV, FLAC and MP3 carries a C2PA manifest signed with the deployment's key; ``verify``
accepts it unchanged, and refuses it with one sample changed, signed by another key, or without a manifest."""

from __future__ import annotations

import io
import json
import struct

import c2pa
import numpy as np
import pytest
import soundfile

from inference_container.audio import Provenance, encode
from inference_container.audio.credentials import (
    DIGITAL_SOURCE_TYPE,
    GENERATOR,
    ContentSigner,
    CredentialsError,
    Origin,
    SigningKey,
    Source,
    verify,
)
from inference_container.diffrhythm.outputs import render
from inference_container.diffrhythm.songs import Song
from shared.formats import OutputFormat

RATE = 44100
ORIGIN = Origin("3f2c6a1e-job", "diffrhythm-full", "Night Drive", {"dit": "Apache-2.0", "style": "CC-BY-NC-4.0"})


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.create("DiffRhythm tests", label="TEST")


@pytest.fixture(scope="module")
def signer(key: SigningKey) -> ContentSigner:
    return ContentSigner(key)


def _audio(seconds: float = 3.0) -> np.ndarray:
    return (0.2 * np.random.default_rng(3).standard_normal((int(RATE * seconds), 2))).astype(np.float32)


def _file(fmt: OutputFormat) -> bytes:
    return encode(_audio(), RATE, fmt, Provenance("Night Drive", "diffrhythm-full", 7, ORIGIN.job_id))


def _data_chunk(wav: bytes) -> tuple[int, int]:
    """Offset and size of a WAV's ``data`` chunk."""
    offset = 12
    while offset < len(wav):
        name, size = wav[offset:offset + 4], struct.unpack("<I", wav[offset + 4:offset + 8])[0]
        if name == b"data":
            return offset + 8, size
        offset += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def _one_sample_changed(data: bytes, fmt: OutputFormat) -> bytes:
    """The file with one sample of its audio changed (WAV: one 16-bit sample; FLAC and MP3: one byte in the middle
    of the encoded audio, which changes the samples of its frame)."""
    changed = bytearray(data)
    if fmt is OutputFormat.WAV:
        start, size = _data_chunk(data)
        at = start + (size // 2) // 2 * 2
        value = struct.unpack("<h", data[at:at + 2])[0]
        changed[at:at + 2] = struct.pack("<h", value + 1 if value < 32767 else value - 1)
    else:
        changed[len(data) // 2] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_a_signed_file_is_ours_unchanged_and_still_the_same_audio(signer, key, fmt):
    plain = _file(fmt)
    signed = signer.sign(plain, fmt, ORIGIN)
    verdict = verify(signed, key.anchor)
    assert verdict.ours and verdict.problems == [] and verdict.job_id == ORIGIN.job_id
    (action,) = verdict.manifest["assertions"][0]["data"]["actions"]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert action["parameters"] == {"job_id": ORIGIN.job_id, "model": "diffrhythm-full", "licences": ORIGIN.licences}
    assert verdict.manifest["claim_generator_info"][0]["name"] == GENERATOR
    assert verdict.manifest["title"] == "Night Drive"
    if fmt is not OutputFormat.MP3:  # the manifest is metadata: the samples are the plain file's
        np.testing.assert_array_equal(soundfile.read(io.BytesIO(signed))[0], soundfile.read(io.BytesIO(plain))[0])


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_a_file_with_one_sample_changed_is_refused(signer, key, fmt):
    signed = signer.sign(_file(fmt), fmt, ORIGIN)
    verdict = verify(_one_sample_changed(signed, fmt), key.anchor)
    assert not verdict.ours and any("dataHash.mismatch" in problem for problem in verdict.problems)


def test_a_file_signed_by_another_key_or_unsigned_is_not_ours(key):
    plain = _file(OutputFormat.WAV)
    someone = ContentSigner(SigningKey.create("someone else"))
    foreign = verify(someone.sign(plain, OutputFormat.WAV, ORIGIN), key.anchor)
    assert not foreign.ours and any("untrusted" in problem for problem in foreign.problems)
    unsigned = verify(plain, key.anchor)
    assert not unsigned.ours and unsigned.manifest == {} and "no readable Content Credentials" in unsigned.problems[0]
    assert verify(b"not audio at all", key.anchor).problems == ["not a WAV, FLAC or MP3 file"]


def test_an_edit_names_its_source_song_as_an_ingredient_with_its_own_manifest(signer, key):
    source = signer.sign(_file(OutputFormat.WAV), OutputFormat.WAV, ORIGIN)
    edited = signer.sign(_file(OutputFormat.FLAC), OutputFormat.FLAC,
                         Origin("job-2", "diffrhythm-full", "Night Drive II", source=Source(source, "extend", "job-1")))
    verdict = verify(edited, key.anchor)
    assert verdict.ours and verdict.job_id == "job-2"
    actions = verdict.manifest["assertions"][0]["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["parameters"]["source_job"] == "job-1" and actions[1]["description"] == "extend"
    (ingredient,) = verdict.manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and "active_manifest" in ingredient  # the source's own manifest


def test_the_manifest_store_reads_as_c2patool_prints_it(signer):
    signed = signer.sign(_file(OutputFormat.MP3), OutputFormat.MP3, ORIGIN)
    with c2pa.Reader("audio/mpeg", io.BytesIO(signed)) as reader:
        store = json.loads(reader.json())
    active = store["manifests"][store["active_manifest"]]
    assert {"claim_generator_info", "assertions", "signature_info", "title"} <= set(active)
    assert active["signature_info"]["alg"].lower() == "es256"


def test_the_key_round_trips_through_its_secret_and_a_broken_one_is_refused_at_once(key):
    assert SigningKey.from_secret(key.to_secret()) == key
    assert key.anchor.startswith("-----BEGIN CERTIFICATE-----") and key.anchor.count("BEGIN CERTIFICATE") == 1
    with pytest.raises(CredentialsError, match="certificate_chain"):
        SigningKey.from_secret('{"private_key": "x"}')
    with pytest.raises(CredentialsError, match="cannot sign"):  # a key that is not its certificate's
        ContentSigner(SigningKey(key.certificate_chain, SigningKey.create("other").private_key))


def test_render_signs_every_audio_file_and_nothing_else(signer, key):
    song = Song([_audio(2.0), _audio(2.0)], RATE, [], {"seeds": [7, 8], "licences": {"dit": "Apache-2.0"}},
                stems=[(_audio(2.0), _audio(2.0))] * 2)
    files = render(song, (OutputFormat.WAV, OutputFormat.MP3), Provenance("t", "diffrhythm-full", 7, "job-9"), signer)
    audio = [f for f in files if f.name.endswith((".wav", ".mp3", ".flac"))]
    assert len(audio) == 8  # 2 variations x (wav, mp3, vocals, accompaniment)
    for item in audio:
        verdict = verify(item.data, key.anchor)
        assert verdict.ours and verdict.job_id == "job-9", item.name
    assert all(f.data[:1] in (b"{", b"[", b"") or f.name.endswith(".lrc") for f in files if f not in audio)
