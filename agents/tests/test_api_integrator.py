"""The integrator-grade API (issue 10, part 6): run list with cursor pagination and filters,
Idempotency-Key on POST runs and on approve/reject, per-key throttling (429 + Retry-After), one
error shape documented in the schema, JSON 404 for unknown API routes, steps only on request."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.cache import cache
from django.utils import timezone

from actions.models import Action, ActionStatus
from agents.models import Run, RunStatus, RunStep
from agents.services import run_create
from tenants.context import tenant_context
from tenants.idempotency import idempotency_keys_purge
from tenants.models import IdempotencyKey

URL = "/api/v1/runs"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def _runs(world, n: int, **kwargs) -> list[Run]:
    made = []
    for i in range(n):
        run = run_create(tenant=world.tenant, channel="api", query=f"question {i}", enqueue=False, **kwargs)
        made.append(run)
    return made


def _post(client, world, body: dict, key: str | None = None, auth=None):
    headers = dict(auth or world.auth())
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


# --- list ------------------------------------------------------------------------------------------


def test_list_is_newest_first_in_two_pages_without_steps(client, world_a, world_b):
    made = _runs(world_a, 5)
    _runs(world_b, 2)
    with tenant_context(world_a.tenant):
        RunStep.objects.create(tenant=world_a.tenant, run=made[-1], position=0, agent="supervisor", kind="route", output={"big": "x" * 100})
    first = client.get(f"{URL}?page_size=3", **world_a.auth())
    assert first.status_code == 200
    page1 = first.json()
    assert [r["tracking_id"] for r in page1["results"]] == [str(r.tracking_id) for r in reversed(made)][:3]
    assert all("steps" not in r for r in page1["results"])
    assert page1["previous"] is None and page1["next"]
    nxt = urlsplit(page1["next"])
    page2 = client.get(f"{nxt.path}?{nxt.query}", **world_a.auth()).json()
    assert [r["tracking_id"] for r in page2["results"]] == [str(r.tracking_id) for r in reversed(made)][3:]
    assert page2["next"] is None and page2["previous"]
    # Only tenant A's runs, whichever page.
    seen = {r["tracking_id"] for r in page1["results"] + page2["results"]}
    assert seen == {str(r.tracking_id) for r in made}
    assert {r["tracking_id"] for r in client.get(URL, **world_b.auth()).json()["results"]}.isdisjoint(seen)


def test_list_filters_status_since_and_thread(client, world_a, world_b):
    old, done, threaded = _runs(world_a, 3)
    _runs(world_a, 1, thread_key="t-9")
    threaded_runs = [threaded] + list(Run.objects.unscoped().filter(conversation__external_key="t-9", tenant=world_a.tenant))
    with tenant_context(world_a.tenant):
        Run.objects.filter(pk=old.pk).update(queued_at=timezone.now() - dt.timedelta(days=3))
        Run.objects.filter(pk=done.pk).update(status=RunStatus.SUCCEEDED)
    _runs(world_b, 1, thread_key="t-9")

    def ids(query: str, world=world_a) -> set[str]:
        response = client.get(f"{URL}?{query}", **world.auth())
        assert response.status_code == 200, response.content
        return {r["tracking_id"] for r in response.json()["results"]}

    assert ids("status=succeeded") == {str(done.tracking_id)}
    since = (timezone.now() - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert str(old.tracking_id) not in ids(f"since={since}") and str(done.tracking_id) in ids(f"since={since}")
    assert ids("thread_id=t-9") == {str(r.tracking_id) for r in threaded_runs if r.conversation_id}
    assert len(ids("thread_id=t-9")) == 1  # tenant B's run in its own thread "t-9" is not listed
    assert ids("thread_id=t-9&status=succeeded") == set()


@pytest.mark.parametrize("query, field", [("status=done", "status"), ("since=yesterday", "since"), ("page_size=x", None)])
def test_list_bad_filters_are_400_in_the_error_shape(client, world_a, query, field):
    response = client.get(f"{URL}?{query}", **world_a.auth())
    if field is None:  # DRF ignores a malformed page_size and uses the default
        assert response.status_code == 200
        return
    error = _assert_error(response, 400, "validation_error")
    assert field in error["fields"]


def test_list_requires_a_key(client, world_a):
    error = _assert_error(client.get(URL), 401, "not_authenticated")
    assert error["fields"] is None


# --- detail: steps only on request -----------------------------------------------------------------


def test_detail_has_steps_only_with_include(client, world_a, world_b):
    (run,) = _runs(world_a, 1)
    with tenant_context(world_a.tenant):
        RunStep.objects.create(tenant=world_a.tenant, run=run, position=0, agent="supervisor", kind="route", name="route", output_summary="data")
    plain = client.get(f"{URL}/{run.tracking_id}", **world_a.auth()).json()
    assert "steps" not in plain and plain["tracking_id"] == str(run.tracking_id)
    full = client.get(f"{URL}/{run.tracking_id}?include=steps", **world_a.auth()).json()
    assert [s["name"] for s in full["steps"]] == ["route"] and "output" not in full["steps"][0]
    _assert_error(client.get(f"{URL}/{run.tracking_id}?include=everything", **world_a.auth()), 400, "validation_error")
    _assert_error(client.get(f"{URL}/{run.tracking_id}?include=steps", **world_b.auth()), 404, "not_found")


# --- idempotency -----------------------------------------------------------------------------------


def test_repeated_idempotency_key_replays_the_first_result(client, world_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = _post(client, world_a, {"query": "What is the win rate?"}, key="req-1")
        again = _post(client, world_a, {"query": "What is the win rate?"}, key="req-1")
        # The same key from another of the tenant's API keys is still a replay (scoped per tenant).
        other_key = _post(client, world_a, {"query": "What is the win rate?"}, key="req-1", auth=world_a.approver_auth())
    assert first.status_code == again.status_code == other_key.status_code == 202
    assert first.json() == again.json() == other_key.json()
    assert again["Location"] == first["Location"] and again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Run.objects.unscoped().count() == 1


def test_same_key_with_another_body_is_409(client, world_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        assert _post(client, world_a, {"query": "one"}, key="req-2").status_code == 202
        conflict = _post(client, world_a, {"query": "two"}, key="req-2")
    _assert_error(conflict, 409, "idempotency_conflict")
    assert Run.objects.unscoped().count() == 1


def test_idempotency_keys_are_scoped_per_tenant(client, world_a, world_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        a = _post(client, world_a, {"query": "one"}, key="shared")
        b = _post(client, world_b, {"query": "two"}, key="shared")
    assert a.status_code == b.status_code == 202 and a.json()["tracking_id"] != b.json()["tracking_id"]


def test_validation_errors_replay_too_and_bad_keys_are_400(client, world_a):
    first = _post(client, world_a, {"query": ""}, key="req-3")
    again = _post(client, world_a, {"query": ""}, key="req-3")
    assert first.status_code == again.status_code == 400 and first.json() == again.json()
    _assert_error(_post(client, world_a, {"query": "x"}, key="x" * 256), 400, "invalid_idempotency_key")
    assert Run.objects.unscoped().count() == 0


def test_401_is_not_stored(client, world_a):
    bad = {"HTTP_AUTHORIZATION": "Bearer rk_deadbeef_not-a-real-secret-at-all"}
    _assert_error(_post(client, world_a, {"query": "x"}, key="req-4", auth=bad), 401, "authentication_failed")
    assert IdempotencyKey.objects.unscoped().count() == 0


def test_expired_key_runs_again_and_is_purged(client, world_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = _post(client, world_a, {"query": "one"}, key="req-5")
        IdempotencyKey.objects.unscoped().update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        second = _post(client, world_a, {"query": "two"}, key="req-5")  # another body is fine once expired
    assert second.status_code == 202 and second.json()["tracking_id"] != first.json()["tracking_id"]
    record = IdempotencyKey.objects.unscoped().get()
    assert record.expires_at > timezone.now() + dt.timedelta(hours=23)
    IdempotencyKey.objects.unscoped().update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert idempotency_keys_purge() == 1 and IdempotencyKey.objects.unscoped().count() == 0


def _proposed(world, key: str = "a-1") -> Action:
    with tenant_context(world.tenant):
        return Action.objects.create(
            tenant=world.tenant, kind="webhook", target="https://example.com/hook", preview="POST a summary", payload={},
            status=ActionStatus.PROPOSED, idempotency_key=key,
        )


def test_approve_with_idempotency_key_replays_and_conflicts(client, world_a, world_b, django_capture_on_commit_callbacks):
    action = _proposed(world_a)
    url = f"/api/v1/actions/{action.pk}/approve"
    headers = {**world_a.approver_auth(), "HTTP_IDEMPOTENCY_KEY": "approve-1"}
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post(url, data={"reason": "ok"}, content_type="application/json", **headers)
        again = client.post(url, data={"reason": "ok"}, content_type="application/json", **headers)
        other = client.post(url, data={"reason": "another reason"}, content_type="application/json", **headers)
        reject = client.post(f"/api/v1/actions/{action.pk}/reject", data={"reason": "ok"}, content_type="application/json", **headers)
        # A second approval without the key is the state conflict, in the same error shape.
        plain = client.post(url, content_type="application/json", **world_a.approver_auth())
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    _assert_error(other, 409, "idempotency_conflict")
    _assert_error(reject, 409, "idempotency_conflict")
    _assert_error(plain, 409, "invalid_state")
    with tenant_context(world_a.tenant):
        assert action.events.filter(to_status=ActionStatus.APPROVED).count() == 1
    # Another tenant's action: 404 with or without a key; a key without --can-approve: 403, not stored.
    for path in (url, f"/api/v1/actions/{action.pk}/reject"):
        for auth in (world_b.approver_auth(), {**world_b.approver_auth(), "HTTP_IDEMPOTENCY_KEY": f"b-{path}"}):
            _assert_error(client.post(path, content_type="application/json", **auth), 404, "not_found")
    _assert_error(client.get(f"/api/v1/actions/{action.pk}", **world_b.auth()), 404, "not_found")
    b_action = _proposed(world_b)
    denied = client.post(f"/api/v1/actions/{b_action.pk}/reject", content_type="application/json", HTTP_IDEMPOTENCY_KEY="rej-1", **world_b.auth())
    _assert_error(denied, 403, "permission_denied")
    allowed = client.post(f"/api/v1/actions/{b_action.pk}/reject", content_type="application/json", HTTP_IDEMPOTENCY_KEY="rej-1", **world_b.approver_auth())
    assert allowed.status_code == 200 and allowed.json()["status"] == "rejected"


# --- throttling ------------------------------------------------------------------------------------


def test_throttled_per_api_key_with_retry_after(client, world_a, settings, django_capture_on_commit_callbacks):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key_write": "2/min", "api_key_read": "3/min"}}
    with django_capture_on_commit_callbacks(execute=False):
        codes = [_post(client, world_a, {"query": f"q{i}"}).status_code for i in range(2)]
        limited = _post(client, world_a, {"query": "q3"})
        other_key = _post(client, world_a, {"query": "q4"}, auth=world_a.approver_auth())
    assert codes == [202, 202]
    _assert_error(limited, 429, "throttled")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert other_key.status_code == 202  # counted per API key
    assert Run.objects.unscoped().count() == 3
    reads = [client.get(URL, **world_a.auth()).status_code for _ in range(4)]
    assert reads == [200, 200, 200, 429]


def test_throttle_rate_none_disables(settings, client, world_a):
    # "none" in the environment is None in settings (validated once there: revops/tests/test_serving.py)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key_write": None, "api_key_read": None}}
    assert all(client.get(URL, **world_a.auth()).status_code == 200 for _ in range(5))


# --- error shape, JSON 404, schema -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_routes_are_json_404(client, world_a, method):
    for path in ("/api/v1/nope", "/api/v2/runs", "/api/v1/runs/not-a-uuid", "/api/"):
        response = getattr(client, method)(path, **world_a.auth())
        _assert_error(response, 404, "not_found")


def test_error_shapes(client, world_a, settings):
    error = _assert_error(_post(client, world_a, {"query": "ok", "as_of": "30/06/2025"}), 400, "validation_error")
    assert "as_of" in error["fields"] and error["fields"]["as_of"]
    _assert_error(client.post(URL, data="{not json", content_type="application/json", **world_a.auth()), 400, "parse_error")
    _assert_error(client.get(f"{URL}/00000000-0000-0000-0000-000000000000", **world_a.auth()), 404, "not_found")
    _assert_error(client.delete(URL, **world_a.auth()), 405, "method_not_allowed")
    _assert_error(client.get(URL, HTTP_AUTHORIZATION="Basic abc"), 401, "authentication_failed")
    settings.MAX_REQUEST_BYTES = 2048
    _assert_error(_post(client, world_a, {"query": "x" * 3000}), 413, "request_too_large")


def test_schema_documents_errors_and_typed_fields(client):
    response = client.get("/api/v1/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    expected = {
        ("/api/v1/runs", "get"): {"400", "401", "429"},
        ("/api/v1/runs", "post"): {"400", "401", "409", "413", "429"},
        ("/api/v1/runs/{tracking_id}", "get"): {"401", "404", "429"},
        ("/api/v1/actions/{action_id}", "get"): {"401", "404", "429"},
        ("/api/v1/actions/{action_id}/approve", "post"): {"400", "401", "403", "404", "409", "413", "429"},
        ("/api/v1/actions/{action_id}/reject", "post"): {"400", "401", "403", "404", "409", "413", "429"},
    }
    for (path, method), codes in expected.items():
        responses = paths[path][method]["responses"]
        assert codes <= set(responses), (path, method, set(responses))
        for code in codes:
            assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    components = schema["components"]["schemas"]
    assert set(components["ErrorDetail"]["required"]) == {"code", "message", "fields"}
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in paths["/api/v1/runs"]["post"]["parameters"])
    assert {p["name"] for p in paths["/api/v1/runs"]["get"]["parameters"]} >= {"cursor", "status", "since", "thread_id"}
    detail = components["RunDetail"]["properties"]
    assert detail["route"]["items"] == {"$ref": "#/components/schemas/RouteEnum"}
    assert detail["citations"]["items"] == {"$ref": "#/components/schemas/Citation"}
    assert components["Citation"]["discriminator"]["propertyName"] == "type"
    for name, component in (("usage", "Usage"), ("grounding", "Grounding"), ("interpretation", "Interpretation")):
        assert {"$ref": f"#/components/schemas/{component}"} in detail[name]["allOf"]
    assert "steps" in detail and "steps" not in components["RunDetail"]["required"]
    assert "steps" not in components["RunSummary"]["properties"]
