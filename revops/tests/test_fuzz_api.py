"""Continuous fuzzing of the REST API (issue 13): schemathesis generates requests from the OpenAPI
schema served at ``/api/v1/schema`` and sends them through the WSGI application in process (the
test database, Django's full middleware stack), authenticated with a test tenant's API key.

Asserted for every generated case: no 5xx (schemathesis' ``not_a_server_error`` check) and schema
conformance of the response: its status code is documented for the operation, its content type is
the documented one and its body matches the documented schema (``status_code_conformance``,
``content_type_conformance``, ``response_schema_conformance``).

Covers every operation of the schema (``/api/v1/runs`` GET and POST, ``/api/v1/runs/{tracking_id}``,
``/api/v1/actions/{action_id}`` and its ``approve`` / ``reject``), positive and negative cases
(schemathesis' default generation modes), ``FUZZ_MAX_EXAMPLES`` examples per operation (default
50, about 800 cases in about 15 s). ``python -m benchmarks.fuzz_api`` runs the
same test with many more examples and prints the number of cases tried and the failures; each
case is appended to ``FUZZ_REPORT`` (a JSON-lines file) when that variable is set.

The throttles are off (``DEFAULT_THROTTLE_RATES`` None) so that later examples are not all 429.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from revops.wsgi import application

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
REPORT = os.environ.get("FUZZ_REPORT")


# The schema fetched from the app itself (what clients see), at collection: the schema view needs
# no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", application)


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key_write": None, "api_key_read": None}}


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI handler closes old connections at each request's start and end; in a test that
    would close the connection holding the test transaction. Django's test client disconnects the
    same receivers (``django.test.client.ClientHandler``); so do we while the test runs."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),  # reproducible in CI; the long run explores
    suppress_health_check=list(HealthCheck),
    database=None,
)
@pytest.mark.django_db
def test_api_never_answers_5xx(case, wsgi_in_test_transaction, world_a, unthrottled):
    response = case.call(headers={"Authorization": f"Bearer {world_a.api_key}"})
    failure = None
    try:
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance])
    except Exception as exc:  # schemathesis raises a FailureGroup / CheckFailed with the details
        failure = f"{type(exc).__name__}: {str(exc)[:2000]}"
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as out:
            out.write(json.dumps({
                "operation": f"{case.method} {case.path}",
                "status": response.status_code,
                "failure": failure,
                "curl": case.as_curl_command() if failure else None,
            }) + "\n")
    assert response.status_code < 500, f"{response.status_code} for {case.as_curl_command()}: {response.text[:500]}"
    assert failure is None, failure
