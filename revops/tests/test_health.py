"""/healthz (liveness, no database) and /readyz (readiness: database and migrations decide; queue
ages and worker heartbeats reported, failing only when opted in; details only with the metrics
token)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_q.models import OrmQ

from actions.models import Action, ActionStatus
from agents.models import Run, RunStatus
from revops import health
from tenants.models import Tenant

TOKEN = "metrics-token-for-tests-0123456789"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_healthz_is_200_json_without_the_database(client):
    # no django_db mark: any query would raise here
    response = client.get("/healthz", HTTP_HOST="10.0.0.7")  # probes use the pod's IP, not an allowed host
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    refused = client.post("/healthz")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"
    assert refused.json()["error"]["code"] == "method_not_allowed"  # the API's error shape


@pytest.mark.django_db
def test_readyz_is_200_with_figures_when_ready(client, token, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = client.get("/readyz", HTTP_HOST="10.0.0.7", **AUTH)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready" and body["reasons"] == []
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True, "unapplied": []}
    assert body["checks"]["queue"] == {
        "ok": True, "queued_runs": 0, "oldest_queued_run_age_seconds": None, "queued_actions": 0, "due_actions": 0,
        "oldest_due_action_age_seconds": None, "max_age_seconds": 0, "required": False,
    }
    assert body["checks"]["workers"] == {"ok": True, "required": False, "clusters": []}


@pytest.mark.django_db
def test_readyz_discloses_details_only_with_the_metrics_token(client, token):
    # Before: checks (worker hosts, cluster ids, queue counts, migration names) went to anyone.
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}):
        response = client.get("/readyz", **headers)
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "reasons": []}, headers
    assert "checks" in client.get("/readyz", **AUTH).json()


@pytest.mark.django_db
def test_readyz_stays_200_under_a_backlog_unless_opted_in(client, settings, token):
    # Before: a run queued longer than 300 s made every web process unready (503) by default.
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    run = Run.objects.unscoped().create(tenant=tenant, channel="api", query="win rate?", as_of=dt.date(2025, 6, 30))
    Run.objects.unscoped().filter(pk=run.pk).update(queued_at=timezone.now() - dt.timedelta(seconds=600))
    Action.objects.unscoped().create(tenant=tenant, kind="webhook", status=ActionStatus.QUEUED, idempotency_key="k1",
                                     next_attempt_at=timezone.now() - dt.timedelta(seconds=120))
    # one waiting for its backoff is not late
    Action.objects.unscoped().create(tenant=tenant, kind="webhook", status=ActionStatus.QUEUED, idempotency_key="k2",
                                     next_attempt_at=timezone.now() + dt.timedelta(seconds=900))
    response = client.get("/readyz", **AUTH)
    assert response.status_code == 200
    body = response.json()
    queue = body["checks"]["queue"]
    assert queue["queued_runs"] == 1 and 599 <= queue["oldest_queued_run_age_seconds"] < 700
    assert queue["queued_actions"] == 2 and queue["due_actions"] == 1
    assert 119 <= queue["oldest_due_action_age_seconds"] < 200
    assert body["reasons"] == [] and queue["ok"] is True

    settings.READYZ_MAX_QUEUE_AGE_SECONDS = 300  # opt in
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reasons": ["queue_stale"]}
    Run.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)


@pytest.mark.django_db
def test_readyz_is_503_when_a_migration_is_unapplied(client, monkeypatch, token):
    real_plan = MigrationExecutor.migration_plan

    def plan_with_one_missing(self, targets, clean_start=False):
        node = self.loader.graph.leaf_nodes()[0]
        return real_plan(self, targets, clean_start) + [(self.loader.graph.nodes[node], False)]

    monkeypatch.setattr(health, "_migrations_applied", set())
    monkeypatch.setattr(MigrationExecutor, "migration_plan", plan_with_one_missing)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reasons": ["migrations_unapplied"]}  # no migration names
    body = client.get("/readyz", **AUTH).json()
    assert body["checks"]["migrations"]["ok"] is False and len(body["checks"]["migrations"]["unapplied"]) == 1


@pytest.mark.django_db
def test_readyz_is_503_not_500_when_the_database_fails(client, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise OperationalError('connection to server at "db.internal" (10.1.2.3), port 5432 failed: timeout expired')

    monkeypatch.setattr(connection, "cursor", down)
    with caplog.at_level(logging.WARNING):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reasons": ["database_unreachable"]}
    assert b"10.1.2.3" not in response.content
    # logged once at WARNING by the probe; before, django.request also logged an ERROR per probe
    assert any(r.name == "revops.health" and r.levelno == logging.WARNING for r in caplog.records)
    assert not [r for r in caplog.records if r.name == "django.request"]


@pytest.mark.django_db
def test_readyz_requires_a_worker_heartbeat_only_when_configured(client, settings):
    assert client.get("/readyz").status_code == 200  # no worker: still ready
    settings.READYZ_REQUIRE_WORKER = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reasons": ["no_worker"]}


@pytest.mark.django_db
def test_readyz_and_enqueues_share_one_broker_per_process(client, monkeypatch):
    # Before: Stat.get_all(broker=get_broker()) built a new django-q2 broker on every probe, and
    # async_task built one per task (with Redis, a new connection pool, so a new TCP connection).
    from django_q.conf import Conf

    from revops.lib import queue

    monkeypatch.setattr(Conf, "SYNC", False)  # the test settings run tasks inline; here they must queue
    built = []
    real = queue.get_broker

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(queue, "get_broker", counting)
    queue.queue_broker.cache_clear()
    try:
        for _ in range(3):
            assert client.get("/readyz").status_code == 200
        ids = [queue.task_enqueue("math.floor", 1.5, task_name=f"probe-{n}") for n in range(3)]
        queued = list(OrmQ.objects.order_by("id").values_list("key", flat=True))
    finally:
        queue.queue_broker.cache_clear()
    assert len(built) == 1
    assert len(set(ids)) == 3 and len(queued) == 3  # each task reached the (ORM) queue through the one broker
