"""Introspect a tenant's warehouse schema for onboarding: tables, typed columns, keys, row counts
and sampled values of low-cardinality text columns.

Used by ``manage.py semantic_model_draft`` (through :func:`agents.semantic.draft.semantic_model_draft`)
to propose a semantic model an editor then refines. Everything here runs as the tenant's
read-only reader role (the ``warehouse_postgres`` credential), in read-only transactions bounded
by the connector's statement timeout.

The statements are fixed text (catalog queries with the schema passed as a parameter, and
``count`` / ``DISTINCT`` queries whose table and column are quoted with
:class:`psycopg.sql.Identifier`), so they do not go through the agent SQL guard, which exists for
agent-written SQL. Catalog facts come from ``pg_catalog`` rather than ``information_schema``:
the latter hides constraints of tables the role can only ``SELECT`` (PostgreSQL documentation,
"information_schema.table_constraints": "only those constraints are shown for which the current
user owns the table or has some privilege other than SELECT").

Shapes::

    SchemaInfo(schema="crm", tables={"opportunity": TableInfo(...), ...})
    TableInfo(name, columns=(ColumnInfo, ...), primary_key=("id",),
              foreign_keys=(ForeignKeyInfo(columns=("account_id",), ref_table="account", ref_columns=("id",)),),
              row_count=8800, row_count_exact=True)
    ColumnInfo(name="stage_name", data_type="text", category="string", nullable=True,
               samples=(("Closed Won", 4238), ...) | None, sampled=True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql

from integrations.warehouse.base import WarehouseQueryError

if TYPE_CHECKING:
    from integrations.warehouse.postgres import PostgresWarehouse

T = TypeVar("T")
Category = Literal["string", "number", "date", "boolean", "other"]

MAX_SAMPLED_VALUES = 50  # a text column with more distinct values is not sampled (not a category)
SAMPLE_SCAN_ROWS = 200_000  # rows read per sampled column, at most
EXACT_COUNT_MAX_ESTIMATE = 5_000_000  # tables estimated larger are not counted exactly

# pg_type.typcategory -> our column category (PostgreSQL docs, "pg_type", table typcategory codes).
_TYPCATEGORY: dict[str, Category] = {"S": "string", "N": "number", "D": "date", "B": "boolean"}
_RELKINDS = ("r", "p", "v", "m", "f")  # tables, partitioned tables, views, materialized views, foreign tables
_COUNTED_RELKINDS = ("r", "p")  # exact count(*) only for tables and partitioned tables

_TABLES_SQL = """
SELECT c.relname::text, c.relkind::text, c.reltuples::float8
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
  AND c.relkind = ANY(%(relkinds)s::"char"[])
  AND NOT c.relispartition
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY c.relname
"""

_COLUMNS_SQL = """
SELECT c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
       COALESCE(bt.typcategory, t.typcategory)::text, NOT a.attnotnull
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE n.nspname = %(schema)s
  AND c.relkind = ANY(%(relkinds)s::"char"[])
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS_SQL = """
SELECT con.conname::text, con.contype::text, c.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       rn.nspname::text, rc.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname = %(schema)s AND con.contype IN ('p', 'f', 'u')
ORDER BY c.relname, con.contype, con.conname
"""


@dataclass(frozen=True)
class ColumnInfo:
    """One column: ``data_type`` as PostgreSQL formats it (``numeric(12,2)``), ``category`` one
    of string/number/date/boolean/other (from ``pg_type.typcategory``; timestamps are ``date``).

    ``samples``: ``((value as text, rows), ...)`` most frequent first, for a text column with at
    most :data:`MAX_SAMPLED_VALUES` distinct non-null values among the rows read; ``None`` when
    the column was not sampled (not text) or has more distinct values (then ``sampled`` is True
    and ``many_values`` True)."""

    name: str
    data_type: str
    category: Category
    nullable: bool = True
    samples: tuple[tuple[str, int], ...] | None = None
    sampled: bool = False

    @property
    def many_values(self) -> bool:
        """True when the column was sampled and had too many distinct values to list."""
        return self.sampled and self.samples is None

    def values(self) -> list[str]:
        """The sampled distinct values (empty when not sampled or too many)."""
        return [v for v, _ in self.samples or ()]


@dataclass(frozen=True)
class ForeignKeyInfo:
    """``columns`` of this table reference ``ref_columns`` of ``ref_table`` (same order);
    ``ref_schema`` is the referenced table's schema (another schema: the draft cannot join it)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    ref_schema: str = ""
    name: str = ""


@dataclass(frozen=True)
class TableInfo:
    """One table or view the reader role can ``SELECT``; ``kind`` is ``table`` or ``view``.
    ``row_count`` is exact when ``row_count_exact``, else the planner's estimate (-1: unknown)."""

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()
    row_count: int = -1
    row_count_exact: bool = False
    kind: str = "table"

    def column(self, name: str) -> ColumnInfo | None:
        """The column called ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class SchemaInfo:
    """What :func:`schema_introspect` found in one schema: ``tables`` by name (sorted)."""

    schema: str
    tables: dict[str, TableInfo] = field(default_factory=dict)

    def table(self, name: str) -> TableInfo | None:
        """The table called ``name``, or None."""
        return self.tables.get(name)


# -- PostgreSQL side (called by PostgresWarehouse.describe_schema / sample_values) -------------


def pg_read_only_begin(cur: psycopg.Cursor, *, statement_timeout_ms: int, schema: str) -> None:
    """Open the transaction every warehouse statement runs in, on ``cur``'s connection (not in
    autocommit): ``SET TRANSACTION READ ONLY``, ``SET LOCAL statement_timeout`` (milliseconds)
    and ``SET LOCAL search_path TO <schema>`` (quoted identifier). The settings end with the
    transaction (the callers roll it back). Used by :meth:`PostgresWarehouse.execute` and
    :func:`pg_read_only`.

    Raises:
        psycopg.Error: from the driver (e.g. the connection is gone).
    """
    cur.execute("SET TRANSACTION READ ONLY")
    cur.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
    cur.execute(pg_sql.SQL("SET LOCAL search_path TO {}").format(pg_sql.Identifier(schema)))


def pg_read_only(warehouse: "PostgresWarehouse", work: Callable[[psycopg.Connection, psycopg.Cursor], T]) -> T:
    """Run ``work(conn, cur)`` in one read-only transaction of ``warehouse`` (its reader role),
    opened by :func:`pg_read_only_begin` as
    :meth:`PostgresWarehouse.execute` does (statement timeout, ``search_path``); the transaction
    is rolled back and the connection closed afterwards.

    Raises:
        WarehouseUnavailable: cannot connect.
        WarehouseQueryError: a statement failed or timed out (message from
            :meth:`PostgresWarehouse.failure_text`, redacted; the driver error is not chained).
    """
    conn = warehouse.connect()
    failure: str | None = None
    try:
        with conn.cursor() as cur:
            pg_read_only_begin(cur, statement_timeout_ms=warehouse.statement_timeout_ms, schema=warehouse.schema)
            result = work(conn, cur)
    except psycopg.Error as exc:
        failure = warehouse.failure_text(exc)
    finally:
        try:
            conn.rollback()
        except psycopg.Error:
            pass
        conn.close()
    if failure is not None:
        # Raised outside the except block: the driver error is not attached as __context__.
        raise WarehouseQueryError(failure)
    return result


def pg_describe_schema(conn: psycopg.Connection, cur: psycopg.Cursor, schema: str) -> list[dict[str, Any]]:
    """The catalog description of ``schema`` (see :meth:`PostgresWarehouse.describe_schema` for
    the shape). Exact ``count(*)`` per table or partitioned table (never a view, materialized
    view or foreign table: those keep the planner's estimate, -1 for a view) whose estimate is
    unknown or at most :data:`EXACT_COUNT_MAX_ESTIMATE`, each in a savepoint so a timeout keeps
    the estimate."""
    params = {"schema": schema, "relkinds": list(_RELKINDS)}
    tables: dict[str, dict[str, Any]] = {}
    for name, relkind, reltuples in cur.execute(_TABLES_SQL, params).fetchall():
        tables[name] = {
            "table": name,
            "kind": "view" if relkind in ("v", "m") else "table",
            "columns": [],
            "primary_key": [],
            "unique_keys": [],
            "foreign_keys": [],
            # A view's reltuples means nothing (no storage): unknown.
            "row_count": int(reltuples) if reltuples is not None and reltuples >= 0 and relkind != "v" else -1,
            "row_count_exact": False,
            "relkind": relkind,
        }
    for table, column, data_type, typcategory, nullable in cur.execute(_COLUMNS_SQL, params).fetchall():
        if table in tables:
            tables[table]["columns"].append(
                {
                    "name": column,
                    "type": data_type,
                    "category": _TYPCATEGORY.get(typcategory or "", "other"),
                    "nullable": bool(nullable),
                }
            )
    for name, contype, table, cols, ref_schema, ref_table, ref_cols in cur.execute(_CONSTRAINTS_SQL, params).fetchall():
        if table not in tables:
            continue
        if contype == "p":
            tables[table]["primary_key"] = list(cols)
        elif contype == "u":
            tables[table]["unique_keys"].append(list(cols))
        else:
            tables[table]["foreign_keys"].append(
                {"name": name, "columns": list(cols), "ref_schema": ref_schema or "", "ref_table": ref_table or "", "ref_columns": list(ref_cols)}
            )
    for info in tables.values():
        # Only stored tables are counted: a view's count(*) runs its whole query (and a view has
        # no estimate, so it would always qualify); a foreign table's reads the remote server.
        if info["relkind"] not in _COUNTED_RELKINDS:
            continue
        if info["row_count"] < 0 or info["row_count"] <= EXACT_COUNT_MAX_ESTIMATE:
            stmt = pg_sql.SQL("SELECT count(*) FROM {}").format(pg_sql.Identifier(schema, info["table"]))
            try:
                with conn.transaction():  # a savepoint: a timeout here keeps the estimate
                    info["row_count"] = int(cur.execute(stmt).fetchone()[0])
                    info["row_count_exact"] = True
            except (pg_errors.QueryCanceled, pg_errors.InsufficientPrivilege):
                pass
    for info in tables.values():
        del info["relkind"]
    return list(tables.values())


def pg_sample_values(
    cur: psycopg.Cursor, schema: str, table: str, column: str, *, max_values: int, scan_rows: int
) -> list[tuple[str, int]] | None:
    """Distinct non-null values of ``table.column`` (as text) with their row counts among the
    first ``scan_rows`` non-null rows read, most frequent first; None when there are more than
    ``max_values``. See :meth:`PostgresWarehouse.sample_values`."""
    stmt = pg_sql.SQL(
        "SELECT v, count(*) AS n FROM (SELECT {col}::text AS v FROM {tbl} WHERE {col} IS NOT NULL LIMIT %s) s "
        "GROUP BY v ORDER BY n DESC, v LIMIT %s"
    ).format(col=pg_sql.Identifier(column), tbl=pg_sql.Identifier(schema, table))
    rows = cur.execute(stmt, [int(scan_rows), int(max_values) + 1]).fetchall()
    if len(rows) > max_values:
        return None
    return [(str(v), int(n)) for v, n in rows]


def pg_sample_columns(
    conn: psycopg.Connection,
    cur: psycopg.Cursor,
    schema: str,
    columns: list[tuple[str, str]],
    *,
    max_values: int,
    scan_rows: int,
) -> dict[tuple[str, str], list[tuple[str, int]] | None]:
    """:func:`pg_sample_values` for each ``(table, column)`` in ``columns``, in the caller's
    (read-only) transaction, each in a savepoint: a column whose statement fails or times out is
    left out of the result and the next one still runs. See
    :meth:`PostgresWarehouse.sample_columns`.

    Raises:
        psycopg.Error: the connection itself broke (no savepoint can be rolled back).
    """
    found: dict[tuple[str, str], list[tuple[str, int]] | None] = {}
    for table, column in columns:
        try:
            with conn.transaction():  # a savepoint: a failure here undoes this column only
                found[(table, column)] = pg_sample_values(
                    cur, schema, table, column, max_values=max_values, scan_rows=scan_rows
                )
        except psycopg.Error:
            if conn.broken or conn.closed:
                raise
    return found


# -- public entry points -----------------------------------------------------------------------


def schema_introspect(
    warehouse: Any,
    *,
    max_values: int = MAX_SAMPLED_VALUES,
    scan_rows: int = SAMPLE_SCAN_ROWS,
    sample: bool = True,
) -> SchemaInfo:
    """Describe ``warehouse``'s schema and sample its text columns.

    Args:
        warehouse: a connector with ``describe_schema()`` and ``sample_columns()``
            (:class:`~integrations.warehouse.postgres.PostgresWarehouse`), logged in as the
            tenant's reader role. Catalog facts take one read-only transaction, the sampling
            another (one connection, a savepoint per column).
        max_values: a text column with more distinct values than this is recorded as
            ``many_values`` with no samples (default 50).
        scan_rows: rows read per sampled column (default 200,000).
        sample: False skips sampling (catalog facts and row counts only). Primary- and
            foreign-key columns are never sampled.

    Returns:
        :class:`SchemaInfo`; tables, columns and keys in catalog order.

    Raises:
        WarehouseUnavailable / WarehouseQueryError: from the connector (a sampling statement that
            times out is skipped instead: its column stays unsampled).
    """
    described = warehouse.describe_schema()
    wanted: list[tuple[str, str]] = []
    for t in described:
        # Key columns are ids, not categories: not sampled; nor are the columns of an empty table.
        keys = set(t["primary_key"]) | {col for fk in t["foreign_keys"] for col in fk["columns"]}
        if sample and t.get("row_count", -1) != 0:
            wanted.extend((t["table"], c["name"]) for c in t["columns"] if c["category"] == "string" and c["name"] not in keys)
    # One connection and transaction for every column (a savepoint each): a column whose
    # statement fails or times out is missing from ``found`` and stays unsampled.
    found = warehouse.sample_columns(wanted, max_values=max_values, scan_rows=scan_rows) if wanted else {}
    tables: dict[str, TableInfo] = {}
    for t in described:
        columns = []
        for c in t["columns"]:
            key = (t["table"], c["name"])
            sampled = key in found
            values = found.get(key)
            samples = tuple(values) if values is not None else None
            columns.append(
                ColumnInfo(
                    name=c["name"],
                    data_type=c["type"],
                    category=c["category"],
                    nullable=c["nullable"],
                    samples=samples,
                    sampled=sampled,
                )
            )
        tables[t["table"]] = TableInfo(
            name=t["table"],
            columns=tuple(columns),
            primary_key=tuple(t["primary_key"]),
            unique_keys=tuple(tuple(k) for k in t.get("unique_keys", [])),
            foreign_keys=tuple(
                ForeignKeyInfo(
                    columns=tuple(fk["columns"]),
                    ref_table=fk["ref_table"],
                    ref_columns=tuple(fk["ref_columns"]),
                    ref_schema=fk.get("ref_schema", ""),
                    name=fk.get("name", ""),
                )
                for fk in t["foreign_keys"]
            ),
            row_count=int(t["row_count"]),
            row_count_exact=bool(t["row_count_exact"]),
            kind=t.get("kind", "table"),
        )
    return SchemaInfo(schema=str(getattr(warehouse, "schema", "")), tables=dict(sorted(tables.items())))
