"""A pooled warehouse connection whose server backend died while idle is replaced by a fresh
connection (the pool's health check on checkout): the agent's query still answers (issue 13
hardening, issue 10 psycopg_pool)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection

from integrations.warehouse.postgres import APPLICATION_NAME, PostgresWarehouse
from integrations.warehouse.selectors import _app_database


def _warehouse_backends(role: str) -> set[int]:
    """Server process ids of the warehouse sessions of ``role`` (read by the admin connection)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # the test transaction would see one snapshot
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE usename = %s AND application_name = %s", [role, APPLICATION_NAME]
        )
        return {row[0] for row in cur.fetchall()}


@pytest.mark.django_db
def test_a_terminated_pooled_connection_is_replaced_and_the_query_answers(demo_warehouse):  # noqa: F811
    warehouse = PostgresWarehouse(
        conninfo={**_app_database(), "user": demo_warehouse.role, "password": demo_warehouse.password},
        schema=demo_warehouse.schema,
        allowed_tables=["accounts"],
        statement_timeout_ms=settings.WAREHOUSE_STATEMENT_TIMEOUT_MS,
        default_limit=10,
    )
    assert warehouse.execute("SELECT count(*) AS n FROM accounts").rows[0][0] > 0
    [pid] = _warehouse_backends(demo_warehouse.role)  # the pooled, idle session
    with connection.cursor() as cur:  # the admin (superuser) connection ends the idle backend
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cur.fetchone()[0] is True
    deadline = time.monotonic() + 10
    while pid in _warehouse_backends(demo_warehouse.role) and time.monotonic() < deadline:
        time.sleep(0.05)  # the signal is asynchronous: wait until the backend is gone
    result = warehouse.execute("SELECT count(*) AS n FROM accounts")
    assert result.rows[0][0] > 0
    again = _warehouse_backends(demo_warehouse.role)
    # new sessions (the pool may also have replaced the discarded one in the background), within its bound
    assert again and pid not in again and len(again) <= settings.WAREHOUSE_POOL_MAX_SIZE
