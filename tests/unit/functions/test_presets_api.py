"""The API takes the fast presets by name (and charges their share of forwards); an unknown name stays a 422."""

from __future__ import annotations

import pytest

from tests.unit.functions.conftest import LYRICS_REQUEST
from tests.unit.functions.test_routes import http, issuer  # noqa: F401 (fixtures)


@pytest.mark.parametrize("preset", ["fast", "turbo", "high"])
def test_a_preset_by_name_is_accepted(http, preset):  # noqa: F811
    response = http.post("/api/v1/generate", json={**LYRICS_REQUEST, "preset": preset})
    assert response.status_code == 202, response.text


def test_an_unknown_preset_is_a_422_naming_the_field(http):  # noqa: F811
    response = http.post("/api/v1/generate", json={**LYRICS_REQUEST, "preset": "fastest"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "preset"]
