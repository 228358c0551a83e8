"""Onboarding introspection on the demo warehouse: views keep an unknown row count (no
``count(*)`` over a view's query), and text columns are sampled in one connection with a
savepoint per column, so one failing column leaves the others sampled."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql as pg_sql

from integrations.warehouse.introspect import schema_introspect

from .test_warehouse_postgres import SCHEMA, Demo, demo, superuser  # noqa: F401 - the demo warehouse fixture

VIEW = "aa_probe_view"


@pytest.fixture
def probe_view(demo: Demo):
    """A view the reader can SELECT whose ``broken`` column fails when read (division by zero)."""
    with superuser(demo) as conn:
        conn.execute(
            pg_sql.SQL(
                "CREATE VIEW {} AS SELECT account AS name, (1 / (length(account) - length(account)))::text AS broken FROM {}"
            ).format(pg_sql.Identifier(SCHEMA, VIEW), pg_sql.Identifier(SCHEMA, "accounts"))
        )
        conn.execute(pg_sql.SQL("GRANT SELECT ON {} TO {}").format(pg_sql.Identifier(SCHEMA, VIEW), pg_sql.Identifier(demo.role)))
    yield VIEW
    with superuser(demo) as conn:
        conn.execute(pg_sql.SQL("DROP VIEW IF EXISTS {}").format(pg_sql.Identifier(SCHEMA, VIEW)))


def test_views_are_not_counted_and_sampling_uses_one_connection(demo: Demo, probe_view: str, monkeypatch) -> None:
    connects: list[int] = []
    real_connect = psycopg.connect

    def counting_connect(*args, **kwargs):
        connects.append(1)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counting_connect)
    info = schema_introspect(demo.warehouse())
    view = info.table(probe_view)
    assert view.kind == "view"
    assert (view.row_count, view.row_count_exact) == (-1, False)  # no count(*) over the view's query
    assert all(t.row_count_exact for t in info.tables.values() if t.kind == "table")
    assert info.table("accounts").row_count == demo.counts["accounts"]
    # The failing column is unsampled; the view's other column and every later table still are.
    assert view.column("broken").sampled is False
    assert view.column("name").sampled is True
    assert info.table("sales_pipeline").column("deal_stage").samples
    # One connection for the catalog, one for all sampled columns.
    assert len(connects) == 2
