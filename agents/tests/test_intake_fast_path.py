"""``POST /api/v1/runs`` does only what intake needs (issue 10, "Fast paths"): the API key lookup,
the idempotency record when the header is given, one INSERT of the run and, with the ORM broker,
the queue row in the same transaction (one commit; no UPDATE of ``enqueued_at`` afterwards)."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_q.conf import Conf
from django_q.models import OrmQ

from agents.models import Run, RunStatus
from agents.services import run_create
from tenants.context import tenant_context

BODY = json.dumps({"query": "What is the win rate by sector?"})


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL the request ran, without the test transaction's savepoints."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.fixture
def orm_broker(monkeypatch):
    """django-q2's own switch off: the ORM broker enqueues as in production (tests run tasks inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)


def test_intake_is_the_key_lookup_the_run_insert_and_the_queue_row(client, world_a, orm_broker, django_assert_max_num_queries):
    assert client.post("/api/v1/runs", data=BODY, content_type="application/json", **world_a.auth()).status_code == 202  # last_used_at written
    with django_assert_max_num_queries(5):  # + the view's savepoint and its release inside the test transaction
        with CaptureQueriesContext(connection) as captured:
            response = client.post("/api/v1/runs", data=BODY, content_type="application/json", **world_a.auth())
    assert response.status_code == 202
    sql = _statements(captured)
    assert len(sql) == 3, sql
    assert sql[0].startswith("SELECT") and '"tenants_apikey"' in sql[0]
    assert sql[1].startswith('INSERT INTO "agents_run"')
    assert sql[2].startswith('INSERT INTO "django_q_ormq"')
    run = Run.objects.for_tenant(world_a.tenant).get(tracking_id=response.json()["tracking_id"])
    assert run.status == RunStatus.QUEUED and run.enqueued_at is not None  # set on insert, no UPDATE
    tasks = [q.task for q in OrmQ.objects.all()]
    assert {"func": "agents.tasks.execute_run", "args": (run.pk,)}.items() <= tasks[-1].items()


def test_intake_with_an_idempotency_key_adds_only_the_key_record(client, world_a, orm_broker):
    client.post("/api/v1/runs", data=BODY, content_type="application/json", **world_a.auth())
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/runs", data=BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1", **world_a.auth())
    assert response.status_code == 202
    tables = [(q.split()[0], q.split('"')[1]) for q in _statements(captured)]
    assert tables == [
        ("SELECT", "tenants_apikey"),
        ("SELECT", "tenants_idempotencykey"),  # get_or_create ... FOR UPDATE
        ("INSERT", "tenants_idempotencykey"),
        ("INSERT", "agents_run"),
        ("INSERT", "django_q_ormq"),
        ("UPDATE", "tenants_idempotencykey"),  # the stored first response
    ], tables


def test_the_queue_row_commits_with_the_run_or_not_at_all(world_a, orm_broker):
    before = OrmQ.objects.count()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            run_create(tenant=world_a.tenant, channel="api", query="What is the win rate by sector?")
            raise RuntimeError("the request failed after the insert")
    with tenant_context(world_a.tenant):
        assert Run.objects.count() == 0
    assert OrmQ.objects.count() == before  # no message for a run that does not exist
