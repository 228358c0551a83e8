"""Warehouse connector health from the agents' own queries (issue 12, credential lifecycle): runs
whose warehouse cannot be reached count as failures of the tenant's warehouse credential, N in a
row mark it unhealthy in ``/readyz`` and the admin, a successful run resets it; a refused or bad
SQL statement is the statement's fault and counts nothing; a statement timeout counts.

Everything goes through the real runtime (``run_execute`` / ``RunContext.sql``) and the real
PostgreSQL warehouse connector; "unreachable" is a loopback port nothing listens on."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from agents.models import Run, RunStatus
from agents.runtime.context import RunContext, ToolError
from agents.services import run_claim, run_create, run_execute
from integrations.models import ConnectorCredential, ConnectorKind
from revops.lib.ports import free_port
from tenants.context import tenant_context
from tenants.models import Membership, Role

TOKEN = "metrics-token-for-warehouse-health-0123"
QUESTION = "What is the win rate by sector?"


def _credential(tenant) -> ConnectorCredential:
    return ConnectorCredential.objects.for_tenant(tenant).get(kind=ConnectorKind.WAREHOUSE_POSTGRES, name="default")


def _answer(tenant) -> Run:
    """One run of ``QUESTION``, executed as the worker does (claimed, inside the tenant's context)."""
    run = run_create(tenant=tenant, channel="cli", query=QUESTION, enqueue=False)
    with tenant_context(tenant):
        return run_execute(run=run_claim(run_id=run.pk))


def _unreachable(tenant) -> dict:
    """Point the warehouse credential at a loopback port nothing listens on; returns the old config."""
    row = _credential(tenant)
    old = dict(row.config)
    row.config = {**old, "use_app_database": False, "host": "127.0.0.1", "port": str(free_port()), "dbname": "nowhere"}
    row.save(update_fields=["config"])
    return old


def _readyz_unhealthy(client) -> list[tuple]:
    check = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["checks"]["connectors"]
    return [(u["tenant"], u["kind"], u["name"], u["consecutive_failures"]) for u in check["unhealthy"]]


@pytest.mark.django_db
def test_unreachable_warehouse_fails_runs_until_unhealthy_and_a_success_resets(client, demo, world_b, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.CONNECTOR_UNHEALTHY_AFTER_FAILURES = 3
    tenant = demo.tenant
    owner = get_user_model().objects.create_user(username="demo-owner", password="pw-for-tests-only", is_staff=True)
    Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)

    good = _unreachable(tenant)
    for n in range(1, 4):
        run = _answer(tenant)
        assert "cannot connect to the warehouse" in run.error + run.answer_markdown  # the run says why
        row = _credential(tenant)
        assert row.consecutive_failures == n
        assert "cannot connect to the warehouse database 'nowhere'" in row.last_error
        assert _readyz_unhealthy(client) == ([] if n < 3 else [("demo", "warehouse_postgres", "default", 3)])

    client.force_login(owner)
    listing = client.get(reverse("admin:integrations_connectorcredential_changelist")).content.decode()
    assert "unhealthy (3 failures in a row)" in listing
    page = client.get(reverse("admin:integrations_connectorcredential_change", args=[row.pk])).content.decode()
    assert "cannot connect to the warehouse database" in page
    # Another tenant's owner sees none of it.
    client.force_login(world_b.owner)
    assert client.get(reverse("admin:integrations_connectorcredential_change", args=[row.pk])).status_code == 404

    row.config = good
    row.save(update_fields=["config"])
    run = _answer(tenant)
    assert run.status == RunStatus.SUCCEEDED
    row = _credential(tenant)
    assert row.consecutive_failures == 0 and row.last_success_at is not None
    assert _readyz_unhealthy(client) == []


@pytest.mark.django_db
@pytest.mark.parametrize("sql", [
    "DELETE FROM sales_pipeline",  # the guard refuses it: nothing reaches the warehouse
    "SELECT no_such_column FROM sales_pipeline",  # the warehouse answers with an error the SQL caused
])
def test_bad_sql_does_not_count_against_the_connector(demo, sql):
    with tenant_context(demo.tenant):
        ctx = RunContext(run=run_create(tenant=demo.tenant, channel="cli", query="health test", enqueue=False))
        with pytest.raises(ToolError):
            ctx.sql(sql, agent="data", purpose="bad statement")
        row = _credential(demo.tenant)
        assert row.consecutive_failures == 0 and row.last_error == ""
        ctx.sql("SELECT count(*) AS deals FROM sales_pipeline", agent="data", purpose="good statement")
        assert _credential(demo.tenant).last_success_at is not None


@pytest.mark.django_db
def test_a_statement_timeout_counts_as_a_failure(demo, settings):
    settings.WAREHOUSE_STATEMENT_TIMEOUT_MS = 50  # this test's pool is new: the autouse fixture closed the others
    with tenant_context(demo.tenant):
        ctx = RunContext(run=run_create(tenant=demo.tenant, channel="cli", query="health test", enqueue=False))
        with pytest.raises(ToolError, match="timed out"):
            ctx.sql("SELECT count(*) AS n FROM sales_pipeline a CROSS JOIN sales_pipeline b CROSS JOIN products c",
                    agent="data", purpose="slow statement")
        row = _credential(demo.tenant)
        assert row.consecutive_failures == 1 and row.last_error.startswith("statement timed out after 50 ms")
