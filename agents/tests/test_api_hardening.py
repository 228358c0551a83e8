"""Issue 13, finding 1 on the API: a deeply nested JSON body is a 400 ``parse_error`` in the error
shape (it was a 500: ``RecursionError`` from DRF's JSON parser is not a ``ParseError``)."""

from __future__ import annotations

import json

import pytest

from agents.models import Run
from revops.lib.json_limits import MAX_JSON_DEPTH, JsonLimitError, json_depth, json_loads_limited

URL = "/api/v1/runs"


def _post_raw(client, world, body: bytes, content_type: str = "application/json"):
    return client.post(URL, data=body, content_type=content_type, **world.auth())


def _assert_parse_error(response, needle: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "parse_error" and error["fields"] is None
    assert needle in error["message"]


def test_100000_levels_of_nesting_is_a_400_not_a_500(client, world_a):
    levels = 100_000
    body = b'{"query":"x","a":' + b"[" * levels + b"]" * levels + b"}"
    assert len(body) < 256 * 1024
    _assert_parse_error(_post_raw(client, world_a, body), f"nested deeper than {MAX_JSON_DEPTH} levels")
    assert Run.objects.unscoped().filter(tenant=world_a.tenant).count() == 0  # tests look across tenants


def test_nested_objects_just_over_the_limit_are_refused(client, world_a):
    inner = "1"
    for _ in range(MAX_JSON_DEPTH):  # with the top-level object: MAX_JSON_DEPTH + 1 levels
        inner = '{"k":' + inner + "}"
    _assert_parse_error(_post_raw(client, world_a, ('{"query":"x","a":' + inner + "}").encode()), "nested deeper")


def test_brackets_inside_strings_do_not_count(client, world_a, django_capture_on_commit_callbacks):
    query = "[" * 500 + " how many deals? " + "{" * 500
    with django_capture_on_commit_callbacks(execute=False):
        response = _post_raw(client, world_a, json.dumps({"query": query}).encode())
    assert response.status_code == 202, response.content


def test_malformed_json_is_still_a_parse_error(client, world_a):
    _assert_parse_error(_post_raw(client, world_a, b'{"query": '), "JSON parse error")
    _assert_parse_error(_post_raw(client, world_a, b'{"query": NaN}'), "JSON parse error")
    _assert_parse_error(_post_raw(client, world_a, b'{"query": "\xff"}'), "JSON parse error")


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('"[[[["', 0), (r'["\"[[", {}]', 2), ('[[["unterminated', 3)],
)
def test_json_depth(text, depth):
    assert json_depth(text) == depth


def test_json_loads_limited_limits_size_and_depth():
    assert json_loads_limited(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(JsonLimitError, match="larger than 10 bytes"):
        json_loads_limited(b'{"a": "0123456789"}', max_bytes=10)
    with pytest.raises(JsonLimitError, match="deeper than 2"):
        json_loads_limited("[[[]]]", max_depth=2)
    assert json_loads_limited("[" * 64 + "]" * 64) is not None
