"""Call-note search through an index (issue 10, "Fast paths"): the PostgreSQL import gives long text
columns a pg_trgm GIN index, the semantic ``contains`` filter compiles (PostgreSQL) to one
case-insensitive regular expression that matches the values literally and that the index serves."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.db import connection

from agents.semantic.compiler import compile_query
from agents.semantic.query import Filter, SemanticQuery
from knowledge.frontmatter import split_front_matter
from knowledge.semantic_model import parse_semantic_model

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "integrations" / "warehouse" / "demo_crm"


def _model():
    return parse_semantic_model(split_front_matter((ROOT / "knowledge" / "demo_docs" / "semantic_model.md").read_text())[0])


def _notes_query(values: tuple[str, ...]):
    return compile_query(_model(), SemanticQuery(fields=("note_text",), filters=(Filter("note_text", values, "contains"),)))


@pytest.mark.django_db
def test_contains_matches_the_values_literally_and_case_insensitively():
    notes = ["Margin of 50% (net) agreed", "axb is not a.b", "ACME Corp evaluates", "nothing here", "a+b=c", "under_score"]
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE interactions (account_id integer, comment text)")  # pg_temp is searched first
        cur.executemany("INSERT INTO interactions (account_id, comment) VALUES (1, %s)", [[n] for n in notes])
        compiled = _notes_query(("50% (net)", "A.B", "acme", "a+b", "under_score"))
        cur.execute(compiled.sql, compiled.params)
        found = sorted(r[0] for r in cur.fetchall())
        # expected: Python's case-insensitive substring test, value by value
        wanted = sorted(n for n in notes if any(v.lower() in n.lower() for v in ("50% (net)", "A.B", "acme", "a+b", "under_score")))
        assert found == wanted and "axb is not a.b" in found and len(found) == 5
        cur.execute("DROP TABLE interactions")


def test_long_text_columns_get_a_trigram_index_and_short_ones_do_not(demo_warehouse, django_db_blocker):
    with DEMO.joinpath("interactions.csv").open(encoding="utf-8", newline="") as f:
        longest = max(len(row["comment"]) for row in csv.DictReader(f))
    assert longest >= 80  # the demo's call notes are long text
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE %s", [demo_warehouse.schema, "%gin_trgm_ops%"])
        indexed = {(table, ddl.split("(")[1].split()[0].strip('"')) for table, ddl in cur.fetchall()}
    assert ("interactions", "comment") in indexed
    assert not {t for t, _ in indexed} & {"accounts", "sales_pipeline", "products", "sales_teams"}  # names and ids stay unindexed


def test_the_compiled_note_search_can_use_the_trigram_index(demo_warehouse, django_db_blocker):
    compiled = _notes_query(("Aurelia", "BlueHawk"))
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f'SET LOCAL search_path TO "{demo_warehouse.schema}", public')
        cur.execute("SET LOCAL enable_seqscan = off")  # 626 notes: the planner would rightly scan; force the question
        cur.execute(f"EXPLAIN {compiled.sql}", compiled.params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("ROLLBACK")
    assert "Bitmap Index Scan" in plan and "interactions_comment_idx" in plan, plan


def test_the_warehouse_lists_its_trigram_indexed_columns(demo_warehouse, django_db_blocker):
    """What semantic_model_check reads to recommend an index for a searched column."""
    from django.conf import settings

    from integrations.warehouse.postgres import PostgresWarehouse
    from integrations.warehouse.selectors import _app_database

    def warehouse(schema: str) -> PostgresWarehouse:
        return PostgresWarehouse(
            conninfo={**_app_database(), "user": demo_warehouse.role, "password": demo_warehouse.password}, schema=schema,
            allowed_tables=["interactions"], statement_timeout_ms=settings.WAREHOUSE_STATEMENT_TIMEOUT_MS, default_limit=10,
        )

    assert ("interactions", "comment") in warehouse(demo_warehouse.schema).trigram_indexed_columns()
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS wh_pytest_no_trgm")
        cur.execute("CREATE TABLE IF NOT EXISTS wh_pytest_no_trgm.interactions (comment text)")
        cur.execute("CREATE INDEX ON wh_pytest_no_trgm.interactions (comment)")  # a b-tree: no help for contains
    try:
        assert warehouse("wh_pytest_no_trgm").trigram_indexed_columns() == set()
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cur:
            cur.execute("DROP SCHEMA wh_pytest_no_trgm CASCADE")
