"""Upstream's Mandarin polyphone model: a small BERT (``poly_bert_model.onnx``, run by onnxruntime) that reads every
polyphonic character of a run in its context.

Its directory holds, as upstream publishes it (``g2p/sources/g2p_chinese_model/``):

    poly_bert_model.onnx   input ``input_ids`` [1, 1 + n] (``[CLS]`` then one id per character, no ``[SEP]``),
                           output ``outputs`` [1, n, labels]: per character, a score for every label
    vocab.txt              the BERT vocabulary, one token a line (the id is the line number)
    polychar.txt           the polyphonic characters, one a line (the characters the model is asked about)
    polydict.json          label number (1-based) -> ``"行{hang2}"``; label i is output column i - 1
    polydict_r.json        the same, reversed
    config.json            the BERT's configuration (its ``id2label`` counts the labels)

As upstream does, a character's reading is the label of its highest score among all labels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference_container.errors import ModelError

MODEL_FILE = "poly_bert_model.onnx"
FILES = (MODEL_FILE, "vocab.txt", "polychar.txt", "polydict.json", "polydict_r.json", "config.json")
INPUT, OUTPUT = "input_ids", "outputs"
MAX_CHARACTERS = 511  # BERT's 512 positions, less [CLS]: a longer run is read in windows of this size
_LABEL = re.compile(r"^(.)\{([a-z]+[0-5])\}$")


class PolyphoneModelError(ModelError):
    """The polyphone model's files do not fit together; the message names the file and the reason."""


@dataclass(frozen=True)
class PolyphoneModel:
    """``predict(run) -> one reading per character``; ``characters``: the polyphonic characters it is asked about."""

    session: Any  # onnxruntime.InferenceSession
    vocab: dict[str, int]
    labels: tuple[str, ...]  # output column -> tone-numbered pinyin
    characters: frozenset[str]

    @staticmethod
    def present(directory: str | Path) -> bool:
        """Whether every file of the model is in ``directory``."""
        return all((Path(directory) / name).is_file() for name in FILES)

    @classmethod
    def load(cls, directory: str | Path) -> PolyphoneModel:
        """Read the model's directory; raises ``PolyphoneModelError`` where its files disagree."""
        import onnxruntime as ort

        root = Path(directory)
        tokens = (root / "vocab.txt").read_text(encoding="utf-8").split("\n")
        vocab = {token: index for index, token in enumerate(tokens) if token}
        for special in ("[CLS]", "[UNK]"):
            if special not in vocab:
                raise PolyphoneModelError(f"vocab.txt: no {special} token")
        characters = frozenset(line.strip() for line in (root / "polychar.txt").read_text(encoding="utf-8").splitlines()
                               if line.strip())
        labels = _labels(root)
        missing = characters - {label[0] for label in labels}
        if missing:
            raise PolyphoneModelError(f"polydict.json: no reading of {''.join(sorted(missing))} (polychar.txt)")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(root / MODEL_FILE), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        if INPUT not in inputs or OUTPUT not in outputs:
            raise PolyphoneModelError(f"{MODEL_FILE}: inputs {sorted(inputs)} and outputs {sorted(outputs)}, "
                                      f"expected {INPUT!r} and {OUTPUT!r}")
        columns = outputs[OUTPUT].shape[-1]
        if isinstance(columns, int) and columns != len(labels):
            raise PolyphoneModelError(f"{MODEL_FILE}: {columns} output labels, polydict.json has {len(labels)}")
        model = cls(session, vocab, tuple(_pinyin(label) for label in labels), characters)
        model.predict(sorted(characters)[0])  # the model runs and its output has the expected shape
        return model

    def predict(self, text: str) -> list[str]:
        """The reading the model gives every character of ``text`` (read in its context)."""
        import numpy as np

        kind = self.session.get_inputs()[0].type
        dtype = np.int64 if kind == "tensor(int64)" else np.int32  # upstream feeds int32
        readings: list[str] = []
        for start in range(0, len(text), MAX_CHARACTERS):
            window = text[start:start + MAX_CHARACTERS]
            ids = [self.vocab["[CLS]"]] + [self.vocab.get(char, self.vocab["[UNK]"]) for char in window]
            scores = self.session.run([OUTPUT], {INPUT: np.asarray([ids], dtype=dtype)})[0]
            if scores.shape != (1, len(window), len(self.labels)):
                raise PolyphoneModelError(f"{MODEL_FILE}: output of shape {tuple(scores.shape)} for "
                                          f"{len(window)} characters, expected (1, {len(window)}, {len(self.labels)})")
            readings += [self.labels[int(column)] for column in scores[0].argmax(axis=-1)]
        return readings


def _labels(root: Path) -> list[str]:
    """polydict.json's labels in output order, checked against polydict_r.json and config.json."""
    numbered = json.loads((root / "polydict.json").read_text(encoding="utf-8"))
    labels = [numbered.get(str(number), "") for number in range(1, len(numbered) + 1)]
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad or not labels:
        raise PolyphoneModelError(f"polydict.json: labels must be numbered 1..n and read like 行{{hang2}} "
                                  f"({(bad or ['none'])[0]!r})")
    reverse = json.loads((root / "polydict_r.json").read_text(encoding="utf-8"))
    if reverse != {label: number for number, label in enumerate(labels, 1)}:
        raise PolyphoneModelError("polydict_r.json is not polydict.json reversed")
    config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    if "id2label" in config and len(config["id2label"]) != len(labels):
        raise PolyphoneModelError(f"config.json: {len(config['id2label'])} labels, polydict.json has {len(labels)}")
    return labels


def _pinyin(label: str) -> str:
    """``"行{hang2}"`` -> ``"hang2"``."""
    match = _LABEL.match(label)
    assert match is not None
    return match.group(2)
