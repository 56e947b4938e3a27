"""Mandarin as upstream reads it: the lexicon, the polyphone model (a tiny ONNX stand-in with the published model's
input and output), upstream's normalisation and tone rules, and the pypinyin fallback's accuracy on polyphones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from inference_container.diffrhythm.g2p import LyricsTokenizer, mandarin
from inference_container.diffrhythm.g2p.mandarin import FALLBACK_NOTE, MandarinG2P, normalize, syllable_phones
from inference_container.diffrhythm.g2p.polyphone import FILES, PolyphoneModel, PolyphoneModelError
from testing.tiny_g2p import TINY_READINGS, save_tiny_chinese_model

PHONES = [",", ".", "n", "i↑", "x", "ɑʊ↓↑", "in↑", "ɑŋ↑", "tʰ", "a→", "l", "aɪ↑", "ə", "s`", "oʊ↓", "p⁼", "u",
          "iɑʊ↓↑", "əɹ↓", "k⁼", "ə↓", "ts`⁼", "an↓↑", "uan↓↑", "uo→", "ts⁼", "ua→", "əɹ", "u↑", "iɑʊ↓", "i↓", "jɛn→",
          "ʃ", "iŋ↑", "oʊ↓↑"]
VOCAB = {phone: index for index, phone in enumerate(PHONES)}  # token id = index + 1
LEXICON = {"你好": "ni3 hao3", "银行": "yin2 hang2", "展览馆": "zhan3 lan3 guan3", "桌子": "zhuo1 zi5", "花": "hua1",
           "儿": "er2", "不": "bu4", "要": "yao4", "一": "yi1", "天": "tian1", "他": "ta1", "来": "lai2", "二": "er4",
           "个": "ge4", "受": "shou4", "走": "zou3", "我": "wo3"}
DATA = Path(__file__).parent / "data" / "mandarin_polyphones.tsv"
POLYPHONES = "行长重乐了得还为都地"
#: the pypinyin fallback's share of right readings on DATA, as measured (a change may raise it, never lower it)
FALLBACK_RIGHT, DATA_READINGS = 83, 102


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_chinese_model(tmp_path_factory.mktemp("g2p_chinese_model"))


def _tokenizer(model: Path | None, lexicon: dict[str, str] = LEXICON) -> LyricsTokenizer:
    return LyricsTokenizer(VOCAB, MandarinG2P(lexicon, PolyphoneModel.load(model) if model else None))


def test_mandarin_lines_against_ids_derived_by_hand_from_the_lexicon_rules(model_dir: Path) -> None:
    tokenizer = _tokenizer(model_dir)
    lines = {
        # 你好: lexicon ni3 hao3, third tone before third tone -> ni2; 银行 is a lexicon word, so its 行 is the
        # lexicon's hang2 (the model reads only polyphones outside lexicon words); wide punctuation narrowed
        "你好，银行。": ("n|i↑|x|ɑʊ↓↑|,|in↑|x|ɑŋ↑|.", [3, 4, 5, 6, 1, 7, 5, 8, 2]),
        # jieba: 他来 | 了. 他来 is no lexicon word: 他 ta1 and 来 lai2 from the lexicon; 了 alone is a polyphone, read
        # by the model in the run (after 来, the tiny model's default: le5)
        "他来了": ("tʰ|a→|l|aɪ↑|l|ə", [9, 10, 11, 12, 11, 13]),
        # 受不了: 受 shou4 and 不 bu4 from the lexicon, 了 after 不 read liao3 by the model; 不 between two
        # syllables of a three-character word is neutral
        "受不了": ("s`|oʊ↓|p⁼|u|l|iɑʊ↓↑", [14, 15, 16, 17, 11, 18]),
        # 2 -> 二 (cn2an): 二个 er4 ge4; 展览馆 3-3-3 keeps its tones, as upstream's tokens do
        "2个展览馆": ("əɹ↓|k⁼|ə↓|ts`⁼|an↓↑|l|an↓↑|k⁼|uan↓↑", [19, 20, 21, 22, 23, 11, 23, 20, 24]),
        # 桌子 zhuo1 zi5: a neutral zi is its initial alone; 花儿: 儿 ending a word is neutral
        "桌子花儿": ("ts`⁼|uo→|ts⁼|x|ua→|əɹ", [22, 25, 26, 5, 27, 28]),
        # 不要: bu4 before a fourth tone -> bu2; 一天: yi1 before a first tone -> yi4
        "不要一天": ("p⁼|u↑|iɑʊ↓|i↓|tʰ|jɛn→", [16, 29, 30, 31, 9, 32]),
        # upstream drops a 不 that ends a run (its regrouping joins 不 to the next word, and there is none)
        "他来不": ("tʰ|a→|l|aɪ↑", [9, 10, 11, 12]),
    }
    for line, (phones, ids) in lines.items():
        assert (tokenizer.phonemes(line), tokenizer.encode(line)) == (phones, ids), line


def test_the_model_reads_each_polyphone_in_its_context_and_its_choice_is_what_is_sung(
        model_dir: Path, tmp_path: Path) -> None:
    without_word = {k: v for k, v in LEXICON.items() if k != "银行"}
    tokenizer = _tokenizer(model_dir, without_word)
    # 银行 is no lexicon word now: the model reads 行 after 银 (hang2), and 行 after 走 as its default (xing2)
    assert tokenizer.mandarin("银行") == "in↑|x|ɑŋ↑"
    assert tokenizer.mandarin("走行") == "ts⁼|oʊ↓↑|ʃ|iŋ↑"
    assert tokenizer.encode("走行") == [26, 35, 33, 34]
    # the same line with a model that reads 行 as hang2 everywhere: the phones follow the model's choice
    hang = save_tiny_chinese_model(tmp_path / "hang", {**TINY_READINGS, "行": "hang2"}, {})
    assert _tokenizer(hang, without_word).mandarin("走行") == "ts⁼|oʊ↓↑|x|ɑŋ↑"


def test_the_tiny_model_has_the_published_models_input_and_output(model_dir: Path) -> None:
    model = PolyphoneModel.load(model_dir)
    (given,), (returned,) = model.session.get_inputs(), model.session.get_outputs()
    assert (given.name, given.type, given.shape[0]) == ("input_ids", "tensor(int32)", 1)
    assert (returned.name, returned.type, returned.shape[-1]) == ("outputs", "tensor(float)", len(model.labels))
    assert set(POLYPHONES) <= model.characters
    assert len(model.predict("银行行")) == 3 and model.predict("银行行")[1:] == ["hang2", "xing2"]


def test_syllables_spelled_as_upstreams_tables_spell_them() -> None:
    # each of these differed from upstream's pinyin -> bopomofo -> IPA tables before
    assert syllable_phones("zi5") == ["ts⁼"] and syllable_phones("shi5") == ["s`"]  # neutral: the initial alone
    assert syllable_phones("lue4") == ["l", "ɥɛ↓"] and syllable_phones("yve4") == ["ɥɛ↓"]  # 略, 乐 (polydict)
    assert syllable_phones("m2") == ["m", "u↑"] and syllable_phones("n2") == ["ən↑"]  # 呣, 嗯 (pypinyin)
    assert syllable_phones("yo1") == ["i", "o→"] and syllable_phones("wong1") == ["ʊŋ→"]


def test_normalisation_as_upstream() -> None:
    assert normalize("我有 3 个苹果，你呢？ (ok)") == "我有三个苹果,你呢?"
    assert normalize("等等...再见⋯好吗！") == "等等…再见…好吗!"
    assert normalize("2024年，第1次") == "二零二四年,第一次"


def test_without_the_model_files_pypinyin_reads_with_a_warning_logged_once_and_a_note_for_the_song(
        tmp_path: Path, model_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mandarin, "_warned", set())
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({"vocab": VOCAB}, ensure_ascii=False), encoding="utf-8")
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in FILES[1:]:  # every file but the ONNX model
        (partial / name).write_bytes((model_dir / name).read_bytes())
    with caplog.at_level(logging.WARNING):
        for directory in (None, tmp_path / "absent", partial):
            tokenizer = LyricsTokenizer.load(vocab, None, directory)
            assert tokenizer.mandarin.fallback and tokenizer.note("银行 bank") == FALLBACK_NOTE
            assert tokenizer.note("hello world") is None
            assert tokenizer.encode("银行") == [7, 5, 8]  # pypinyin's phrase: hang2
    assert [r.message.startswith(FALLBACK_NOTE) for r in caplog.records].count(True) == 1
    upstream = LyricsTokenizer.load(vocab, None, model_dir)
    assert not upstream.mandarin.fallback and upstream.note("银行") is None


def test_model_files_that_disagree_fail_with_the_file_named(model_dir: Path, tmp_path: Path) -> None:
    for name, edit, message in [
        ("polydict_r.json", lambda t: t.replace('": 1,', '": 2,', 1), "polydict_r.json"),
        ("config.json", lambda t: t.replace('"0": "LABEL_0",', "", 1), "config.json: 20 labels"),
        ("polydict.json", lambda t: t.replace("行{hang2}", "行hang2", 1), "polydict.json"),
        ("vocab.txt", lambda t: t.replace("[CLS]", "[XLS]"), r"vocab.txt: no \[CLS\]"),
    ]:
        broken = tmp_path / name
        broken.mkdir()
        for file in FILES:
            (broken / file).write_bytes((model_dir / file).read_bytes())
        (broken / name).write_text(edit((model_dir / name).read_text(encoding="utf-8")), encoding="utf-8")
        with pytest.raises(PolyphoneModelError, match=message):
            PolyphoneModel.load(broken)
    fewer = tmp_path / "fewer"  # label files that agree with each other, but not with the model's 21 outputs
    fewer.mkdir()
    for file in FILES:
        (fewer / file).write_bytes((model_dir / file).read_bytes())
    for file, drop in (("polydict.json", "21"), ("polydict_r.json", "地{di4}"), ("config.json", "20")):
        data = json.loads((fewer / file).read_text(encoding="utf-8"))
        (data["id2label"] if file == "config.json" else data).pop(drop)
        (fewer / file).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PolyphoneModelError, match=r"poly_bert_model\.onnx: 21 output labels, polydict\.json has 20"):
        PolyphoneModel.load(fewer)


def _polyphone_score(g2p: MandarinG2P) -> tuple[int, int, list[str]]:
    right, total, wrong = 0, 0, []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        text, expected = line.split("\t")
        read = [item for word, items in g2p.readings(text) for char, item in zip(word, items, strict=True)
                if char in POLYPHONES]
        assert len(read) == len(expected.split()) == sum(text.count(c) for c in POLYPHONES), text
        for want, got in zip(expected.split(), read, strict=True):
            total += 1
            right += want == got.replace("yv", "yu")
            if want != got:
                wrong.append(f"{text}: {got} for {want}")
    return right, total, wrong


def test_fallback_accuracy_on_polyphones_does_not_drop(tmp_path: Path) -> None:
    lines = [line for line in DATA.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert len(lines) >= 50 and all(any(c in line.split("\t")[0] for line in lines) for c in POLYPHONES)
    right, total, wrong = _polyphone_score(MandarinG2P())
    print(f"\npypinyin fallback: {right}/{total} polyphones read right ({right / total:.1%}); wrong: {wrong}")
    assert total == DATA_READINGS and right >= FALLBACK_RIGHT
    # what a worker runs without the model's files (as here: the bundle's lexicon is absent too)
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({"vocab": VOCAB}), encoding="utf-8")
    worker = LyricsTokenizer.load(vocab, tmp_path / "chinese_lexicon.txt", tmp_path / "g2p_chinese_model").mandarin
    assert isinstance(worker, MandarinG2P)
    right_here, _, _ = _polyphone_score(worker)
    print(f"this machine's path (no model files, no lexicon): {right_here}/{total} ({right_here / total:.1%})")
    assert right_here >= FALLBACK_RIGHT
