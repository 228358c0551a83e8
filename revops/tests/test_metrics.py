"""/metrics: refused without the bearer METRICS_TOKEN; with it, django-prometheus series plus the
families computed from the database, whose values match the rows made here."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from actions.models import Action, ActionStatus
from agents.models import Run, RunStatus
from agents.services import run_create

TOKEN = "metrics-token-for-tests-0123456789"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_scrape():
    """The database families are cached for METRICS_CACHE_SECONDS in the (per-process) default cache."""
    cache.clear()
    yield
    cache.clear()


def _samples(body: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted label items): value}`` from a text exposition."""
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _run(tenant, *, status: str, queued_ago: float | None = None, worker_s: float | None = None, usage=None) -> Run:
    run = run_create(tenant=tenant, channel="api", query="q", enqueue=False)
    fields: dict = {"status": status, "usage": usage or {}}
    if queued_ago is not None:
        now = timezone.now()
        queued = now - dt.timedelta(seconds=queued_ago)
        fields["queued_at"] = queued
        if worker_s is not None:
            # started 1 s after queued, ran worker_s
            fields["started_at"] = queued + dt.timedelta(seconds=1)
            fields["finished_at"] = queued + dt.timedelta(seconds=1 + worker_s)
    Run.objects.unscoped().filter(pk=run.pk).update(**fields)  # by pk: test set-up
    return run


def test_metrics_is_off_without_a_token(client, world_a):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "metrics_disabled"
    # a tenant's API key is not a metrics credential either
    assert client.get("/metrics", **world_a.auth()).status_code == 403


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_refuses_a_missing_or_wrong_token(client, world_a):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, world_a.auth()):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"revops_runs" not in response.content
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_with_the_token_match_the_database(client, world_a, world_b):
    a, b = world_a.tenant, world_b.tenant
    _run(a, status=RunStatus.SUCCEEDED, queued_ago=60, worker_s=0.4, usage={"input_tokens": 100, "output_tokens": 20})
    _run(a, status=RunStatus.FAILED, queued_ago=60, worker_s=12, usage={"input_tokens": 5, "output_tokens": 1})
    _run(a, status=RunStatus.SUCCEEDED, usage={"input_tokens": "not a number"})  # skipped, not a failed scrape
    _run(b, status=RunStatus.QUEUED, queued_ago=30)
    _run(b, status=RunStatus.QUEUED, queued_ago=10)
    Action.objects.unscoped().create(tenant=a, kind="webhook", status=ActionStatus.QUEUED, idempotency_key="m1")
    Action.objects.unscoped().create(tenant=a, kind="webhook", status=ActionStatus.SUCCEEDED, idempotency_key="m2")
    Action.objects.unscoped().create(tenant=b, kind="webhook", status=ActionStatus.PROPOSED, idempotency_key="m3")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    s = _samples(response.content.decode())

    assert s[("revops_runs", (("status", "succeeded"), ("tenant", "acme-a")))] == 2
    assert s[("revops_runs", (("status", "failed"), ("tenant", "acme-a")))] == 1
    assert s[("revops_runs", (("status", "queued"), ("tenant", "globex-b")))] == 2
    assert ("revops_runs", (("status", "queued"), ("tenant", "acme-a"))) not in s

    # worker time 0.4 s and 12 s; queued-to-finished 1.4 s and 13 s
    assert s[("revops_run_duration_seconds_bucket", (("le", "0.5"),))] == 1
    assert s[("revops_run_duration_seconds_bucket", (("le", "10.0"),))] == 1
    assert s[("revops_run_duration_seconds_bucket", (("le", "20.0"),))] == 2
    assert s[("revops_run_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    assert s[("revops_run_duration_seconds_count", ())] == 2
    assert s[("revops_run_duration_seconds_sum", ())] == pytest.approx(12.4)
    assert s[("revops_run_total_duration_seconds_bucket", (("le", "1.0"),))] == 0
    assert s[("revops_run_total_duration_seconds_bucket", (("le", "2.5"),))] == 1
    assert s[("revops_run_total_duration_seconds_sum", ())] == pytest.approx(14.4)

    assert s[("revops_queue_depth", (("queue", "runs"),))] == 2
    assert s[("revops_queue_depth", (("queue", "actions"),))] == 1
    assert 29 <= s[("revops_queue_oldest_age_seconds", (("queue", "runs"),))] < 60

    assert s[("revops_actions", (("status", "queued"), ("tenant", "acme-a")))] == 1
    assert s[("revops_actions", (("status", "succeeded"), ("tenant", "acme-a")))] == 1
    assert s[("revops_actions", (("status", "proposed"), ("tenant", "globex-b")))] == 1

    assert s[("revops_llm_tokens_total", (("direction", "input"), ("tenant", "acme-a")))] == 105
    assert s[("revops_llm_tokens_total", (("direction", "output"), ("tenant", "acme-a")))] == 21
    assert s[("revops_llm_tokens_total", (("direction", "input"), ("tenant", "globex-b")))] == 0

    # django-prometheus: requests through the middleware, queries through the database wrapper
    names = {name for name, _ in s}
    assert "django_http_requests_total_by_method_total" in names
    assert any(name.startswith("django_db_execute") for name in names)


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_of_an_empty_database(client):
    s = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    assert s[("revops_queue_depth", (("queue", "runs"),))] == 0
    assert s[("revops_queue_oldest_age_seconds", (("queue", "actions"),))] == 0
    assert s[("revops_run_duration_seconds_count", ())] == 0
    assert not any(name == "revops_runs" for name, _ in s)
    assert s[("revops_worker_clusters", ())] == 0 and s[("revops_workers", ())] == 0


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_and_readyz_agree_on_the_queue(client, world_a):
    # Before: /metrics aged a queued action waiting for its retry backoff from created_at (an hour
    # here) while /readyz counted only due actions; both now use revops.health.queue_snapshot.
    action = Action.objects.unscoped().create(tenant=world_a.tenant, kind="webhook", status=ActionStatus.QUEUED, idempotency_key="r1",
                                              next_attempt_at=timezone.now() + dt.timedelta(minutes=10))
    Action.objects.unscoped().filter(pk=action.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))  # by pk: test set-up
    _run(world_a.tenant, status=RunStatus.QUEUED, queued_ago=45)
    s = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    queue = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["checks"]["queue"]
    assert s[("revops_queue_depth", (("queue", "actions"),))] == queue["queued_actions"] == 1
    assert s[("revops_queue_oldest_age_seconds", (("queue", "actions"),))] == 0 and queue["oldest_due_action_age_seconds"] is None
    assert s[("revops_queue_depth", (("queue", "runs"),))] == queue["queued_runs"] == 1
    assert s[("revops_queue_oldest_age_seconds", (("queue", "runs"),))] == pytest.approx(queue["oldest_queued_run_age_seconds"], abs=2)


@override_settings(METRICS_TOKEN=TOKEN, METRICS_CACHE_SECONDS=10)
def test_metrics_database_families_are_cached_for_a_scrape_interval(client, world_a, django_assert_max_num_queries):
    # Before: every scrape (of every replica) re-read all runs and actions.
    _run(world_a.tenant, status=RunStatus.QUEUED, queued_ago=5)
    first = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    _run(world_a.tenant, status=RunStatus.QUEUED, queued_ago=5)
    with django_assert_max_num_queries(0):
        second = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    assert first[("revops_queue_depth", (("queue", "runs"),))] == second[("revops_queue_depth", (("queue", "runs"),))] == 1
    cache.clear()  # the interval is over
    third = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    assert third[("revops_queue_depth", (("queue", "runs"),))] == 2
