"""The API accepts exactly what its schema says (issue 13, finding 8): text fields take JSON
strings only (``query: 0`` and ``thread_id: 12345`` are refused, not coerced), an empty query
and NUL characters are refused and the schema says so (``minLength``, ``pattern``), and every
body below gets the same verdict from the API as from the published JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from django.core.cache import cache

from actions.models import Action, ActionStatus
from agents.models import Run
from tenants.context import tenant_context

URL = "/api/v1/runs"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.fixture(scope="module")
def components(schema) -> dict:
    return schema["components"]["schemas"]


def _post(client, world, url: str, body, auth=None):
    return client.post(url, data=json.dumps(body), content_type="application/json", **(auth or world.auth()))


def _fields(response) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return error["fields"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"query": 0}, "query", "Must be a string, not a number."),
        ({"query": 1.5}, "query", "Must be a string, not a number."),
        ({"query": True}, "query", "Must be a string, not a boolean."),
        ({"query": ["win rate"]}, "query", "Must be a string, not an array."),
        ({"query": {"q": "win rate"}}, "query", "Must be a string, not an object."),
        ({"query": "win rate", "thread_id": 12345}, "thread_id", "Must be a string, not a number."),
        ({"query": "win rate", "source_system": 7}, "source_system", "Must be a string, not a number."),
        ({"query": "win rate", "callback_url": 443}, "callback_url", "Must be a string, not a number."),
        ({"query": ""}, "query", "This field may not be blank."),
        ({"query": "   "}, "query", "This field may not be blank."),
        ({"query": "win\x00rate"}, "query", "The text contains a NUL character (U+0000) at position 3; such characters cannot be stored."),
        ({"query": "win rate\ud800"}, "query", "The text contains an unpaired surrogate (U+D800) at position 8; such characters cannot be stored."),
        ({"query": "win rate", "thread_id": "t\x00"}, "thread_id", "The text contains a NUL character (U+0000) at position 1; such characters cannot be stored."),
        ({"query": "win rate", "as_of": 20250101}, "as_of", None),
    ],
)
def test_run_create_refuses_non_strings_blank_and_unstorable_text(client, world_a, body, field, message):
    fields = _fields(_post(client, world_a, URL, body))
    assert set(fields) == {field}
    if message is not None:
        assert fields[field] == [message]
    assert not Run.objects.unscoped().exists()


def test_run_create_accepts_strings_and_keeps_them_as_sent(client, world_a):
    response = _post(client, world_a, URL, {"query": "  win rate?  ", "thread_id": "12345", "source_system": "crm"})
    assert response.status_code == 202, response.content
    run = Run.objects.unscoped().get()
    assert (run.query, run.conversation.external_key, run.source_system) == ("win rate?", "12345", "crm")


@pytest.fixture
def proposed(world_a) -> Action:
    with tenant_context(world_a.tenant):
        return Action.objects.create(
            tenant=world_a.tenant, kind="webhook", target="https://example.com/hook", preview="POST a summary", payload={},
            status=ActionStatus.PROPOSED, idempotency_key="strict-1",
        )


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (0, "Must be a string, not a number."),
        (["no"], "Must be a string, not an array."),
        ("no\x00", "The text contains a NUL character (U+0000) at position 2; such characters cannot be stored."),
    ],
)
def test_decision_reason_must_be_storable_text(client, world_a, proposed, decision, reason, message):
    response = _post(client, world_a, f"/api/v1/actions/{proposed.pk}/{decision}", {"reason": reason}, auth=world_a.approver_auth())
    assert _fields(response) == {"reason": [message]}
    proposed.refresh_from_db()
    assert proposed.status == ActionStatus.PROPOSED


def test_schema_states_the_types_minimum_length_and_character_rule(components):
    run = components["RunCreate"]["properties"]
    assert run["query"]["type"] == "string" and run["query"]["minLength"] == 1 and run["query"]["maxLength"] == 4000
    assert "pattern" in run["query"]
    for name in ("thread_id", "source_system", "source_process"):
        assert {branch["type"] for branch in run[name]["oneOf"]} == {"string"}
        assert any("pattern" in branch for branch in run[name]["oneOf"])
    reason = components["Decision"]["properties"]["reason"]
    assert any("pattern" in branch and branch["maxLength"] == 500 for branch in reason["oneOf"])


# Each body gets the same verdict from the API (202 or 400) as from the schema.
AGREEMENT_BODIES = [
    {"query": "win rate"},
    {"query": "  win rate  "},
    {"query": "x" * 4000},
    {"query": "x" * 4001},
    {"query": ""},
    {"query": " \t\n"},
    {"query": 0},
    {"query": None},
    {"query": "a\x00b"},
    {"query": "é 中文 🙂"},
    {},
    {"query": "q", "thread_id": ""},
    {"query": "q", "thread_id": "12345"},
    {"query": "q", "thread_id": 12345},
    {"query": "q", "thread_id": "x" * 201},
    {"query": "q", "thread_id": "t\x00"},
    {"query": "q", "source_system": "", "source_process": ""},
    {"query": "q", "source_system": "s" * 101},
    {"query": "q", "source_process": False},
]


@pytest.mark.parametrize("body", AGREEMENT_BODIES, ids=[json.dumps(b)[:40] for b in AGREEMENT_BODIES])
def test_api_and_schema_agree_on_run_bodies(client, world_a, components, body):
    schema_ok = jsonschema.Draft7Validator(components["RunCreate"]).is_valid(body)
    response = _post(client, world_a, URL, body)
    assert response.status_code in (202, 400), response.content
    assert (response.status_code == 202) == schema_ok, (body, response.content)


@pytest.mark.parametrize("reason", ["", "fine", "r" * 500, "r" * 501, 5, None, "no\x00"])
def test_api_and_schema_agree_on_decision_bodies(client, world_a, components, proposed, reason):
    body = {"reason": reason}
    schema_ok = jsonschema.Draft7Validator(components["Decision"]).is_valid(body)
    response = _post(client, world_a, f"/api/v1/actions/{proposed.pk}/reject", body, auth=world_a.approver_auth())
    assert response.status_code in (200, 400), response.content
    assert (response.status_code == 200) == schema_ok, (body, response.content)


def test_error_statuses_the_api_answers_are_documented(client, world_a, schema, proposed):
    """Each error below is answered in the error shape and listed, with that shape, in the schema
    of its operation (the ones DRF gives before the view runs: 406, 415; an invalid cursor: 404)."""
    action = f"/api/v1/actions/{proposed.pk}"
    cases = [
        ("/api/v1/runs", "get", client.get("/api/v1/runs?cursor=not-a-cursor", **world_a.auth()), 404),
        ("/api/v1/runs", "get", client.get("/api/v1/runs", HTTP_ACCEPT="text/html", **world_a.auth()), 406),
        ("/api/v1/runs", "post", client.post("/api/v1/runs", data="query=x", content_type="text/plain", **world_a.auth()), 415),
        ("/api/v1/runs", "post", _post(client, world_a, URL, {"query": 0}), 400),
        ("/api/v1/runs/{tracking_id}", "get", client.get("/api/v1/runs/00000000-0000-0000-0000-000000000000", **world_a.auth()), 404),
        ("/api/v1/runs/{tracking_id}", "get", client.get("/api/v1/runs/00000000-0000-0000-0000-000000000000", HTTP_ACCEPT="text/html", **world_a.auth()), 406),
        ("/api/v1/actions/{action_id}", "get", client.get(action, HTTP_ACCEPT="application/xml", **world_a.auth()), 406),
        (
            "/api/v1/actions/{action_id}/approve",
            "post",
            client.post(f"{action}/approve", data="reason=x", content_type="text/plain", **world_a.approver_auth()),
            415,
        ),
        ("/api/v1/actions/{action_id}/reject", "post", _post(client, world_a, f"{action}/reject", {"reason": 0}, auth=world_a.approver_auth()), 400),
    ]
    for path, method, response, status in cases:
        assert response.status_code == status, (path, method, response.content)
        assert set(response.json()["error"]) == {"code", "message", "fields"}
        documented = schema["paths"][path][method]["responses"]
        assert str(status) in documented, (path, method, status, sorted(documented))
        assert documented[str(status)]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
