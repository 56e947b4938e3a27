from __future__ import annotations

from datetime import UTC, datetime

from shared.store.codec import deserialize, serialize, update_expression


def test_times_serialize_fixed_width_so_they_sort_as_times():
    early = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    later = datetime(2026, 1, 1, 0, 0, 1, 1, tzinfo=UTC)
    a, b = serialize({"t": early})["t"]["S"], serialize({"t": later})["t"]["S"]
    assert len(a) == len(b) and a < b


def test_round_trip_keeps_ints_floats_and_drops_none():
    item = deserialize(serialize({"i": 3, "f": 0.25, "n": None, "l": [{"x": 1.5}]}))
    assert item == {"i": 3, "f": 0.25, "l": [{"x": 1.5}]}


def test_none_fields_are_removed_not_set():
    expression, names, values = update_expression({"a": 1, "b": None}, ["c"])
    assert expression == "SET #f0 = :v0 REMOVE #f1, #r0"
    assert names == {"#f0": "a", "#f1": "b", "#r0": "c"} and values == {":v0": 1}


def test_an_update_that_only_removes_has_no_empty_set_clause():
    expression, names, values = update_expression({"lease_until": None})
    assert expression == "REMOVE #f0" and names == {"#f0": "lease_until"} and values == {}
