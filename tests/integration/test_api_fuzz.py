"""Property-based fuzz of the API from its own OpenAPI schema, over real HTTP against uvicorn: no 5xx, and
every response matches the schema (documented status code, valid body, right content type)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from lambdas.api.app import create_app
from tests.support.api import serving

pytestmark = pytest.mark.slow

# The OpenAPI document does not depend on the store; the requests go to an app serving a real champion.
schema = schemathesis.openapi.from_dict(create_app("/nonexistent/housing-store").openapi())


@pytest.fixture(scope="module")
def live_api(trained_store):
    store, _ = trained_store
    with serving(create_app(store.url)) as url:
        yield url


@schema.parametrize()
# Derandomized: CI sees the same cases every run (a failure reproduces); raise max_examples to search wider.
@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, live_api):
    case.call_and_validate(base_url=live_api)
