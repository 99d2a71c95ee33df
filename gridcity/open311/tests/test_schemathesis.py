"""Property-based fuzzing with schemathesis: GridCity's own OpenAPI and the GeoReport v2
Swagger file, called in-process through WSGI. The only check is the one that matters for
partners: no input gives a 5xx."""

import copy

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from gridcity.accounts.actions import do_create_token
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.tests.conftest import SPEC

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=False)]
EXAMPLES = 20
FUZZ_SETTINGS = hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _server_errors(schema, *, headers=None, params=None, skip=()) -> list[str]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if any(s in operation.label for s in skip):
            continue

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=headers, params=params)
            if response.status_code >= 500:
                found.append(
                    f"{case.method} {case.formatted_path} {case.query!r} -> {response.status_code}"
                )

        run()
    return found


@pytest.fixture
def wsgi_app(city, settings):
    # The real WSGI handler closes "obsolete" connections around each request; inside the
    # test's transaction that would drop it (PostgreSQL). Django's own test client does the same.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield _app(settings)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _app(settings):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"read_per_ip": (0, 60), "write_per_ip": (0, 60)}
    settings.GRIDCITY_OPEN311_RATE_LIMITS |= {"write_per_key": (0, 60)}
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    return get_wsgi_application()


def test_open311_never_answers_5xx(wsgi_app):
    key = do_create_api_key("fuzz")
    raw = copy.deepcopy(SPEC)
    raw["basePath"] = "/open311/v2"
    raw["host"] = "localhost"
    # Required in the Swagger file but optional in practice: a required random id would make
    # nearly every generated call a 404 and hide the rest of the endpoint.
    raw["parameters"]["jurisdiction_id"]["required"] = False
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = wsgi_app
    assert _server_errors(schema, params={"api_key": key}) == []


def test_gridcity_api_never_answers_5xx(wsgi_app, city):
    token = do_create_token(city.people["admin"])
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_app)
    errors = _server_errors(schema, headers={"Authorization": f"Bearer {token}"})
    assert errors == []
