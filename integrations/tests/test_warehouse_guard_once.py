"""The guard parses a statement once when it is already in the guard's rendering (the semantic
compiler's output), still re-checks any other rewrite, and remembers results per process."""

from __future__ import annotations

import pytest
import sqlglot

from integrations.warehouse import guard
from integrations.warehouse.base import UnsafeSQL
from integrations.warehouse.guard import validate_select

TABLES = ["opportunity", "account"]


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Every text sqlglot is asked to parse (the library's own function, counted)."""
    seen: list[str] = []
    real = sqlglot.parse

    def counting(sql, *args, **kwargs):
        seen.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(sqlglot, "parse", counting)
    guard._validate.cache_clear()
    return seen


def test_canonical_statement_is_parsed_once_and_gets_its_limit_appended(parses):
    sql = 'SELECT "a"."name" AS "name", COUNT(*) AS "n" FROM "opportunity" AS "o" JOIN "account" AS "a" ON "o"."account_id" = "a"."id" WHERE "o"."stage" = %(p0)s GROUP BY "a"."name"'
    assert validate_select(sql, allowed_tables=TABLES, default_limit=100) == f"{sql} LIMIT 100"
    assert len(parses) == 1
    # Already capped within the limit: runs unchanged, still one parse.
    parses.clear()
    guard._validate.cache_clear()
    assert validate_select(f"{sql} LIMIT 5", allowed_tables=TABLES, default_limit=100) == f"{sql} LIMIT 5"
    assert len(parses) == 1


def test_a_rewritten_statement_is_parsed_and_checked_again(parses):
    # Lower-case keywords and a limit above the cap: the rendering differs from the input.
    out = validate_select("select id from opportunity limit 5000", allowed_tables=TABLES, default_limit=100)
    assert out == "SELECT id FROM opportunity LIMIT 100"
    assert parses == ["select id from opportunity limit 5000", "SELECT id FROM opportunity LIMIT 100"]


def test_repeated_statements_are_not_parsed_again_but_refusals_are_never_cached(parses):
    sql = 'SELECT "id" FROM "opportunity"'
    for _ in range(3):
        validate_select(sql, allowed_tables=TABLES, default_limit=10)
    assert len(parses) == 1
    # The same text with other tables allowed is a different question.
    with pytest.raises(UnsafeSQL, match="not in the semantic model"):
        validate_select(sql, allowed_tables=["account"], default_limit=10)
    for _ in range(2):
        with pytest.raises(UnsafeSQL):
            validate_select('SELECT "id" FROM "opportunity"; DELETE FROM "opportunity"', allowed_tables=TABLES, default_limit=10)


def test_canonical_looking_unsafe_statements_are_still_refused(parses):
    for sql in (
        'SELECT PG_SLEEP(1)',
        'SELECT "rolname" FROM "pg_roles"',
        'WITH "x" AS (DELETE FROM "opportunity" RETURNING *) SELECT * FROM "x"',
        'SELECT * FROM "opportunity" FOR UPDATE',
    ):
        with pytest.raises(UnsafeSQL):
            validate_select(sql, allowed_tables=TABLES, default_limit=10)
