"""/healthz (liveness, no database) and /readyz (database, migrations, queue ages, workers)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from actions.models import Action, ActionStatus
from agents.models import Run, RunStatus
from revops import health
from tenants.models import Tenant


def test_healthz_is_200_json_without_the_database(client):
    # no django_db mark: any query would raise here
    response = client.get("/healthz", HTTP_HOST="10.0.0.7")  # probes use the pod's IP, not an allowed host
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_200_with_figures_when_ready(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = client.get("/readyz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready" and body["reasons"] == []
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True, "unapplied": []}
    assert body["checks"]["queue"] == {
        "ok": True, "queued_runs": 0, "oldest_queued_run_age_seconds": None, "due_actions": 0,
        "oldest_queued_action_age_seconds": None, "max_age_seconds": 300,
    }
    assert body["checks"]["workers"] == {"ok": True, "required": False, "clusters": []}


@pytest.mark.django_db
def test_readyz_is_503_when_runs_or_actions_wait_too_long(client, settings):
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    run = Run.objects.unscoped().create(tenant=tenant, channel="api", query="win rate?", as_of=dt.date(2025, 6, 30))
    Run.objects.unscoped().filter(pk=run.pk).update(queued_at=timezone.now() - dt.timedelta(seconds=600))
    Action.objects.unscoped().create(tenant=tenant, kind="webhook", status=ActionStatus.QUEUED, idempotency_key="k1",
                                     next_attempt_at=timezone.now() - dt.timedelta(seconds=120))
    # one waiting for its backoff is not late
    Action.objects.unscoped().create(tenant=tenant, kind="webhook", status=ActionStatus.QUEUED, idempotency_key="k2",
                                     next_attempt_at=timezone.now() + dt.timedelta(seconds=900))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    queue = body["checks"]["queue"]
    assert queue["queued_runs"] == 1 and 599 <= queue["oldest_queued_run_age_seconds"] < 700
    assert queue["due_actions"] == 1 and 119 <= queue["oldest_queued_action_age_seconds"] < 200
    assert body["reasons"] == ["the oldest queued run has waited 600 s (limit 300 s): are the workers running?"]

    settings.READYZ_MAX_QUEUE_AGE_SECONDS = 0  # report only
    assert client.get("/readyz").status_code == 200
    Run.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)


@pytest.mark.django_db
def test_readyz_is_503_when_a_migration_is_unapplied(client, monkeypatch):
    real_plan = MigrationExecutor.migration_plan

    def plan_with_one_missing(self, targets, clean_start=False):
        node = self.loader.graph.leaf_nodes()[0]
        return real_plan(self, targets, clean_start) + [(self.loader.graph.nodes[node], False)]

    monkeypatch.setattr(health, "_migrations_applied", set())
    monkeypatch.setattr(MigrationExecutor, "migration_plan", plan_with_one_missing)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["reasons"][0].startswith("1 unapplied migration(s): ")
    assert body["checks"]["migrations"]["ok"] is False


@pytest.mark.django_db
def test_readyz_is_503_not_500_when_the_database_fails(client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError('connection to server at "db.internal" (10.1.2.3), port 5432 failed: timeout expired')

    monkeypatch.setattr(connection, "cursor", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["database unreachable (OperationalError; details in the server log)"]
    assert b"10.1.2.3" not in response.content


@pytest.mark.django_db
def test_readyz_requires_a_worker_heartbeat_when_configured(client, settings):
    settings.READYZ_REQUIRE_WORKER = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["no django-q2 worker cluster has reported a heartbeat in the last 3 s"]
