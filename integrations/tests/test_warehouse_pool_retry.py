"""A pooled warehouse connection whose server backend died while idle is replaced, once, by a
fresh connection: the agent's query still answers (issue 13 hardening)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from integrations.warehouse import postgres
from integrations.warehouse.postgres import PostgresWarehouse
from integrations.warehouse.selectors import _app_database


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
    [(pooled, _)] = postgres._idle[warehouse._pool_key()]
    pid = pooled.info.backend_pid
    with connection.cursor() as cur:  # the admin (superuser) connection ends the idle backend
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cur.fetchone()[0] is True
    result = warehouse.execute("SELECT count(*) AS n FROM accounts")
    assert result.rows[0][0] > 0
    assert pooled.closed
    [(again, _)] = postgres._idle[warehouse._pool_key()]
    assert again is not pooled and again.info.backend_pid != pid
