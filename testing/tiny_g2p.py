"""A TINY polyphone model in upstream's published layout (``g2p.polyphone.FILES``), for tests and tiny bundles.

The ONNX graph has the published model's input and output (``input_ids`` int32 [1, 1 + n] -> ``outputs`` float
[1, n, labels]) but no BERT: each character's scores are one row of a table indexed by (previous token, token), so a
test decides what the model reads: ``readings`` gives each polyphonic character's reading, ``context`` overrides it
after a given character (``{"银行": "hang2"}``: 行 after 银). It is written with the protobuf wire format directly,
so making it needs neither ``onnx`` nor torch's exporter.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

NOTE = "TINY TEST MODEL (not upstream's polyphone BERT)"
#: every label of the tiny model (character -> its readings; label numbers follow this order)
TINY_LABELS = {"行": ["hang2", "xing2"], "长": ["chang2", "zhang3"], "重": ["chong2", "zhong4"],
               "乐": ["le4", "yue4"], "了": ["le5", "liao3"], "得": ["de2", "de5", "dei3"], "还": ["hai2", "huan2"],
               "为": ["wei2", "wei4"], "都": ["dou1", "du1"], "地": ["de5", "di4"]}
TINY_READINGS = {"行": "xing2", "长": "chang2", "重": "zhong4", "乐": "le4", "了": "le5", "得": "de2", "还": "hai2",
                 "为": "wei4", "都": "dou1", "地": "di4"}
TINY_CONTEXT = {"银行": "hang2", "成长": "zhang3", "音乐": "yue4", "不了": "liao3"}
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_FLOAT, _INT32, _INT64 = 1, 6, 7  # ONNX TensorProto data types


def save_tiny_chinese_model(directory: str | Path, readings: Mapping[str, str] = TINY_READINGS,
                            context: Mapping[str, str] = TINY_CONTEXT) -> Path:
    """Write the six files of a polyphone model whose readings are ``readings`` and ``context``; returns the
    directory."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    labels = [f"{char}{{{pinyin}}}" for char, pinyins in TINY_LABELS.items() for pinyin in pinyins]
    tokens = _SPECIAL + list(",.?!;:'…") + sorted({char for pair in context for char in pair} | set(TINY_LABELS))
    ids = {token: index for index, token in enumerate(tokens)}
    table = np.zeros((len(tokens) * len(tokens), len(labels)), dtype=np.float32)
    for char, pinyin in readings.items():
        table[np.arange(len(tokens)) * len(tokens) + ids[char], labels.index(f"{char}{{{pinyin}}}")] = 1.0
    for (before, char), pinyin in ((tuple(pair), pinyin) for pair, pinyin in context.items()):
        table[ids[before] * len(tokens) + ids[char], labels.index(f"{char}{{{pinyin}}}")] = 2.0
    (root / "poly_bert_model.onnx").write_bytes(_model(table, len(tokens)))
    (root / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (root / "polychar.txt").write_text("\n".join(TINY_LABELS) + "\n", encoding="utf-8")
    numbered = {str(number): label for number, label in enumerate(labels, 1)}
    (root / "polydict.json").write_text(json.dumps(numbered, ensure_ascii=False, indent=1), encoding="utf-8")
    reverse = {label: number for number, label in enumerate(labels, 1)}
    (root / "polydict_r.json").write_text(json.dumps(reverse, ensure_ascii=False, indent=1), encoding="utf-8")
    config = {"note": NOTE, "model_type": "bert", "id2label": {str(i): f"LABEL_{i}" for i in range(len(labels))}}
    (root / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return root


def _model(table: np.ndarray, width: int) -> bytes:
    """ModelProto: outputs = table[previous id * width + id] for every token after [CLS]."""
    constants = [_tensor("one", _INT64, [1], struct.pack("<q", 1)),
                 _tensor("zero", _INT64, [1], struct.pack("<q", 0)),
                 _tensor("last", _INT64, [1], struct.pack("<q", -1)),
                 _tensor("end", _INT64, [1], struct.pack("<q", 2**62)),
                 _tensor("axis", _INT64, [1], struct.pack("<q", 1)),
                 _tensor("width", _INT32, [], struct.pack("<i", width)),
                 _tensor("table", _FLOAT, list(table.shape), table.astype("<f4").tobytes())]
    nodes = [_node("Slice", ["input_ids", "one", "end", "axis"], "token"),
             _node("Slice", ["input_ids", "zero", "last", "axis"], "previous"),
             _node("Mul", ["previous", "width"], "row"),
             _node("Add", ["row", "token"], "pair"),
             _node("Gather", ["table", "pair"], "outputs")]
    graph = (b"".join(_bytes(1, node) for node in nodes) + _bytes(2, b"tiny_polyphone")
             + b"".join(_bytes(5, tensor) for tensor in constants)
             + _bytes(11, _value("input_ids", _INT32, [1, "sequence"]))
             + _bytes(12, _value("outputs", _FLOAT, [1, "characters", table.shape[1]])))
    opset = _bytes(1, b"") + _int(2, 13)
    return _int(1, 8) + _bytes(2, b"diffrhythm tiny_g2p") + _bytes(7, graph) + _bytes(8, opset)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 fields: negatives as two's complement
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _tensor(name: str, data_type: int, dims: list[int], raw: bytes) -> bytes:
    return b"".join(_int(1, dim) for dim in dims) + _int(2, data_type) + _bytes(8, name.encode()) + _bytes(9, raw)


def _node(op_type: str, inputs: list[str], output: str) -> bytes:
    return (b"".join(_bytes(1, name.encode()) for name in inputs) + _bytes(2, output.encode())
            + _bytes(3, f"{op_type}_{output}".encode()) + _bytes(4, op_type.encode()))


def _value(name: str, elem_type: int, shape: list[int | str]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, dim) if isinstance(dim, int) else _bytes(2, dim.encode())) for dim in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name.encode()) + _bytes(2, _bytes(1, tensor_type))
