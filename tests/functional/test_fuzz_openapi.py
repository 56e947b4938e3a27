"""Fuzz every operation of the OpenAPI schema (schemathesis): no input may cause a 5xx.

The app under test is the real API (real moto backends) with the rate limit off, so generated submissions reach
the whole submit path instead of stopping at 429.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from functions.api.app import create_app
from shared.settings import Settings
from tests.conftest import API_KEYS

FUZZ_KEY = API_KEYS[-1]
OPERATIONS = [(path, method.upper()) for path, methods
              in create_app(Settings(allow_anonymous=True)).openapi()["paths"].items() for method in methods]


@pytest.fixture(scope="module")
def api_schema(stack):
    app = create_app(stack.settings.model_copy(update={"rate_limit_per_hour": 0, "jobs_per_hour": 0,
                                                       "uploads_per_day": 0}))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_input_causes_a_server_error(api_schema, path, method):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(headers={"X-API-Key": FUZZ_KEY})
        case.validate_response(response, checks=[not_a_server_error])

    fuzz()
