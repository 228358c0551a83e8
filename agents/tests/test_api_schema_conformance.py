"""What a run stores and the API returns matches the published OpenAPI schema (issue 13, finding 7).

Real runs of the demo tenant (an answer with SQL and knowledge-base citations, a time series, a
period comparison, a decline) are read back twice: the stored ``Run.citations`` and
``Run.interpretation`` are validated against the ``Citation`` and ``Interpretation`` components
of ``/api/v1/schema``, and the ``GET /api/v1/runs/{id}`` body against ``RunDetail``. The schema is
turned into a JSON Schema that also refuses keys it does not list (``additionalProperties:
false`` on every object with ``properties``), so a key added to the stored JSON without its
schema entry, or a type that differs (``ref`` as a number, not a string), fails here.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from agents.models import Run

URL = "/api/v1/runs"


def _json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema node as JSON Schema (2020-12): ``nullable: true`` becomes
    ``anyOf [..., {"type": "null"}]`` and objects with ``properties`` allow no other keys."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture
def validator(client):
    """``validator(component)``: a validator of the published component ``component``."""
    response = client.get("/api/v1/schema")
    assert response.status_code == 200
    components = _json_schema(yaml.safe_load(response.content)["components"])

    def make(component: str) -> jsonschema.Draft202012Validator:
        root = {"$ref": f"#/components/schemas/{component}", "components": components}
        return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    return make


def _errors(validator: jsonschema.Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def _ask(client, demo, query: str, django_capture_on_commit_callbacks) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, data=json.dumps({"query": query}), content_type="application/json", **demo.auth())
    assert response.status_code == 202, response.content
    detail = client.get(f"{URL}/{response.json()['tracking_id']}?include=steps", **demo.auth())
    assert detail.status_code == 200
    return detail.json()


def test_stored_citations_and_interpretation_match_the_published_schema(client, demo, validator, django_capture_on_commit_callbacks):
    citation, interpretation, run_detail = validator("Citation"), validator("Interpretation"), validator("RunDetail")
    questions = [
        "What is the win rate by regional office?",  # sql + kb citations, answered
        "revenue by month this year",  # grain
        "revenue by office this quarter vs last quarter",  # compare
        "Which campaigns influenced revenue last quarter?",  # declined
    ]
    seen_types, seen_keys, seen_query_keys = set(), set(), set()
    for question in questions:
        body = _ask(client, demo, question, django_capture_on_commit_callbacks)
        assert body["status"] == "succeeded", (question, body["error"])
        stored = Run.objects.unscoped().get(tracking_id=body["tracking_id"])
        assert stored.citations and stored.interpretation, question
        for item in stored.citations:
            assert not _errors(citation, item), (question, item, _errors(citation, item))
            seen_types.add(item["type"])
        assert not _errors(interpretation, stored.interpretation), (question, stored.interpretation, _errors(interpretation, stored.interpretation))
        assert not _errors(run_detail, body), (question, _errors(run_detail, body))
        seen_keys |= set(stored.interpretation)
        seen_query_keys |= set(stored.interpretation.get("semantic_query") or {})
    # The runs exercised what the finding was about: int refs, matched/reason, grain/compare/fields.
    assert {"sql", "kb"} <= seen_types
    assert {"matched", "reason", "unmapped", "unused_words", "semantic_query", "status"} <= seen_keys
    assert {"grain", "fields", "period", "compare", "order", "limit"} <= seen_query_keys


def test_the_schema_refuses_what_the_api_never_returns(validator):
    """The conversion is strict enough to catch drift: a string ``ref``, an unknown key."""
    citation, interpretation = validator("Citation"), validator("Interpretation")
    kb = {"ref": 1, "type": "kb", "document_id": 3, "title": "Semantic model", "version": 2, "heading_path": ""}
    assert not _errors(citation, kb)
    assert _errors(citation, {**kb, "ref": "1"})
    assert _errors(citation, {**kb, "type": "sql"})
    assert not _errors(interpretation, {})
    assert not _errors(interpretation, {"status": "declined", "semantic_query": None, "matched": [["last quarter", "Q1 2025"]], "reason": ""})
    assert _errors(interpretation, {"status": "declined", "surprise": 1})
