"""DuckDB warehouse backend: the embedded warehouse for teams without one.

A tenant's DuckDB warehouse is one database file the product owns,
``<WAREHOUSE_DUCKDB_DIR>/<tenant slug>.duckdb`` (:func:`duckdb_path_for`; the directory defaults
to ``<DATA_DIR>/warehouses`` and is set with the ``WAREHOUSE_DUCKDB_DIR`` environment variable).
It is filled by ``manage.py warehouse_import`` (:mod:`integrations.warehouse.importer`) and read
by the agents through :class:`DuckDBWarehouse`. The file name comes from the tenant's slug, never
from connector config, so no tenant can point its connector at another tenant's file.

Three layers keep a statement a read, as for PostgreSQL:

1. :func:`integrations.warehouse.guard.validate_select` with ``dialect="duckdb"`` refuses anything
   but one SELECT over the semantic-model tables (and every file-reading table function), and caps
   its rows;
2. the connection is opened ``read_only=True`` with ``enable_external_access = false`` (no file,
   URL, ATTACH or extension access: DuckDB documentation, "Securing DuckDB"),
   extension auto-install/auto-load off, and ``lock_configuration = true`` so no statement can
   switch those back;
3. each statement runs on its own short-lived connection (no state carried between statements).

**Statement timeout.** DuckDB has no ``statement_timeout`` setting. :meth:`DuckDBWarehouse.execute`
starts a watchdog (:class:`threading.Timer`) that calls ``connection.interrupt()`` when the
statement runs longer than ``statement_timeout_ms``; DuckDB then raises ``InterruptException``,
reported as ``WarehouseQueryError("statement timed out after N ms")``. The interrupt is checked
between DuckDB's vectors of rows, so a statement stops within milliseconds of the deadline.

**Placeholders.** DuckDB binds ``$name`` / ``?``; the semantic compiler emits those when compiling
for ``duckdb``, and psycopg-style ``%(name)s`` / ``%s`` from callers written for PostgreSQL are
rewritten by the guard (:func:`integrations.warehouse.guard.duckdb_placeholders`), so the same
``params`` mapping binds either way.

**Concurrency.** DuckDB allows one writing process or many reading ones per file, and inside one
process all connections to a file must share a configuration. A read that meets an import in
progress (or the reverse) fails with ``WarehouseUnavailable`` saying the file is busy; the agents'
connections are open only for the duration of one statement.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
from django.conf import settings

from integrations.warehouse.base import WarehouseQueryError, WarehouseResult, WarehouseUnavailable, sample_values_via_columns
from integrations.warehouse.guard import validate_select

DIALECT = "duckdb"
#: Connection settings of every agent (reader) connection: see the module notes.
READER_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")  # Django slugs: letters, digits, - and _
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def duckdb_dir() -> Path:
    """The directory holding the tenants' DuckDB files (``settings.WAREHOUSE_DUCKDB_DIR``)."""
    return Path(settings.WAREHOUSE_DUCKDB_DIR)


def duckdb_path_for(tenant_slug: str) -> Path:
    """``<WAREHOUSE_DUCKDB_DIR>/<tenant_slug>.duckdb``: the tenant's embedded warehouse file.

    Raises:
        ValueError: ``tenant_slug`` is not a slug (``[A-Za-z0-9][A-Za-z0-9_-]*``, so no path can escape
            the directory).
    """
    if not isinstance(tenant_slug, str) or not _SLUG.match(tenant_slug):
        raise ValueError(f"not a tenant slug: {tenant_slug!r}")
    return duckdb_dir() / f"{tenant_slug}.duckdb"


def _duckdb_message(exc: BaseException) -> str:
    """DuckDB's message without the ``LINE 1: ...`` excerpt of the statement (which may quote
    values) and without the error class prefix."""
    text = str(exc).strip().split("\n\nLINE ", 1)[0].split("\nLINE ", 1)[0].strip()
    return text or type(exc).__name__


class DuckDBWarehouse:
    """A tenant's DuckDB database file, read through the SQL guard (dialect ``duckdb``).

    Args:
        path: the database file (:func:`duckdb_path_for`); it must exist.
        schema: the DuckDB schema holding the tables (``main`` unless imported with
            ``--schema``); the only search path entry and the only qualifier the guard accepts.
        allowed_tables: bare names of the tables the semantic model exposes.
        statement_timeout_ms: watchdog limit per statement, milliseconds (>= 1).
        default_limit: most rows a result carries (>= 1); more are reported as ``truncated``.

    Raises:
        ValueError: a bad schema name, or a timeout / limit below 1.
        TypeError: ``allowed_tables`` is a single string.
    """

    dialect = DIALECT

    def __init__(
        self,
        *,
        path: Path | str,
        schema: str = "main",
        allowed_tables: Iterable[str],
        statement_timeout_ms: int,
        default_limit: int,
    ) -> None:
        if not isinstance(schema, str) or not _IDENT.match(schema):
            raise ValueError(f"schema must be a lower-case identifier, got {schema!r}")
        if isinstance(allowed_tables, str):
            raise TypeError("allowed_tables must be an iterable of table names, not a single string")
        if int(statement_timeout_ms) < 1:
            raise ValueError("statement_timeout_ms must be >= 1")
        if int(default_limit) < 1:
            raise ValueError("default_limit must be >= 1")
        self.path = Path(path)
        self.schema = schema
        self.allowed_tables = tuple(sorted({t.lower() for t in allowed_tables}))
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.default_limit = int(default_limit)

    def __repr__(self) -> str:
        return f"<DuckDBWarehouse {self.path.name} schema={self.schema} tables={len(self.allowed_tables)} limit={self.default_limit}>"

    # -- connections -------------------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new read-only connection with external access off, configuration locked and the
        search path set to :attr:`schema`.

        Raises:
            WarehouseUnavailable: the file does not exist or is busy (an import is writing it).
        """
        if not self.path.is_file():
            raise WarehouseUnavailable(
                f"the DuckDB warehouse file {self.path.name!r} does not exist; load data with "
                "manage.py warehouse_import"
            )
        try:
            conn = duckdb.connect(str(self.path), read_only=True, config=dict(READER_CONFIG))
        except duckdb.Error as exc:
            reason = _duckdb_message(exc)
        else:
            try:
                conn.execute(f"SET search_path = '{self.schema}'")  # checked identifier
                conn.execute("SET lock_configuration = true")
            except duckdb.Error as exc:  # pragma: no cover - a DuckDB regression
                conn.close()
                raise WarehouseUnavailable(f"cannot configure the DuckDB warehouse: {_duckdb_message(exc)}") from None
            return conn
        if "different configuration" in reason or "lock" in reason.lower():
            reason = f"the file is busy (an import may be writing it): {reason}"
        raise WarehouseUnavailable(f"cannot open the DuckDB warehouse {self.path.name!r}: {reason}")

    def _run(self, conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        """Execute with the watchdog; raises duckdb errors (InterruptException on timeout)."""
        timer = threading.Timer(self.statement_timeout_ms / 1000.0, conn.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return conn.execute(sql, params) if params else conn.execute(sql)
        finally:
            timer.cancel()

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, duckdb.InterruptException):
            return f"statement timed out after {self.statement_timeout_ms} ms"
        return _duckdb_message(exc)

    # -- the protocol ------------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence | Mapping | None = None) -> WarehouseResult:
        """Validate ``sql`` with the guard (dialect ``duckdb``) and run it on a read-only
        connection under the watchdog; see :class:`integrations.warehouse.base.WarehouseConnector`.

        ``params``: a mapping for ``$name`` (or ``%(name)s``) placeholders or a sequence for ``?``
        (or ``%s``); empty means none. The guard caps the statement at ``default_limit + 1`` rows
        to learn whether the cap cut rows (``truncated``).

        Raises:
            UnsafeSQL: refused by the guard (nothing is run).
            WarehouseUnavailable: the file is missing or busy.
            WarehouseQueryError: the statement failed, or ``"statement timed out after N ms"``.
        """
        safe_sql = validate_select(
            sql,
            allowed_tables=self.allowed_tables,
            default_limit=self.default_limit + 1,
            schema=self.schema,
            dialect=DIALECT,
        )
        bound: Any = None
        if params is not None and len(params) > 0:
            bound = dict(params) if isinstance(params, Mapping) else list(params)
        conn = self.connect()
        failure: str | None = None
        try:
            started = time.monotonic()
            cur = self._run(conn, safe_sql, bound)
            if cur.description is None:
                failure = "the statement returned no result set"
            else:
                columns = [d[0] for d in cur.description]
                rows = cur.fetchmany(self.default_limit + 1)
                duration_ms = int((time.monotonic() - started) * 1000)
        except duckdb.Error as exc:
            failure = self._failure(exc)
        finally:
            conn.close()
        if failure is not None:
            # Raised outside the except block: the driver error is not kept as __context__.
            raise WarehouseQueryError(failure)
        truncated = len(rows) > self.default_limit
        rows = [tuple(row) for row in rows[: self.default_limit]]
        return WarehouseResult(
            columns=columns, rows=rows, sql=safe_sql, row_count=len(rows), truncated=truncated, duration_ms=duration_ms
        )

    def connection_test(self) -> str:
        """Open the file read-only, run ``SELECT 1`` and count the schema's tables.

        Returns:
            e.g. ``"DuckDB file acme.duckdb, schema main: 5 table(s)"``.

        Raises:
            WarehouseUnavailable: the file is missing or busy.
            WarehouseQueryError: the check failed or timed out.
        """
        conn = self.connect()
        failure: str | None = None
        try:
            self._run(conn, "SELECT 1").fetchone()
            count = self._run(
                conn,
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND database_name = current_database()",
                {"s": self.schema},
            ).fetchone()[0]
        except duckdb.Error as exc:
            failure = self._failure(exc)
        finally:
            conn.close()
        if failure is not None:
            raise WarehouseQueryError(failure)
        return f"DuckDB file {self.path.name}, schema {self.schema}: {count} table(s)"

    def describe_schema(self) -> list[dict[str, Any]]:
        """The tables and views of :attr:`schema`, in the shape of
        :meth:`integrations.warehouse.postgres.PostgresWarehouse.describe_schema`, read from
        DuckDB's catalog functions (``duckdb_tables()``, ``duckdb_views()``, ``duckdb_columns()``,
        ``duckdb_constraints()``) with fixed SQL; exact ``count(*)`` for tables, ``-1`` for views.

        Raises:
            WarehouseUnavailable: the file is missing or busy.
            WarehouseQueryError: a catalog statement failed or timed out.
        """
        conn = self.connect()
        failure: str | None = None
        try:
            tables = self._describe(conn)
        except duckdb.Error as exc:
            failure = self._failure(exc)
        finally:
            conn.close()
        if failure is not None:
            raise WarehouseQueryError(failure)
        return tables

    def _describe(self, conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        where = {"s": self.schema}
        found: dict[str, dict[str, Any]] = {}
        rows = self._run(
            conn,
            "SELECT table_name, 'table' FROM duckdb_tables() WHERE schema_name = $s AND database_name = current_database() "
            "AND NOT temporary UNION ALL "
            "SELECT view_name, 'view' FROM duckdb_views() WHERE schema_name = $s AND database_name = current_database() "
            "AND NOT internal AND NOT temporary ORDER BY 1",
            where,
        ).fetchall()
        for name, kind in rows:
            found[name] = {
                "table": name, "kind": kind, "columns": [], "primary_key": [], "unique_keys": [],
                "foreign_keys": [], "row_count": -1, "row_count_exact": False,
            }
        for table, column, data_type, nullable in self._run(
            conn,
            "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE schema_name = $s AND database_name = current_database() ORDER BY table_name, column_index",
            where,
        ).fetchall():
            if table in found:
                found[table]["columns"].append(
                    {"name": column, "type": str(data_type).lower(), "category": duckdb_category(str(data_type)), "nullable": bool(nullable)}
                )
        for table, ctype, cols, ref_table, ref_cols, cname in self._run(
            conn,
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names, constraint_name FROM duckdb_constraints() "
            "WHERE schema_name = $s AND database_name = current_database() "
            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') ORDER BY table_name, constraint_index",
            where,
        ).fetchall():
            info = found.get(table)
            if info is None:
                continue
            if ctype == "PRIMARY KEY":
                info["primary_key"] = list(cols)
            elif ctype == "UNIQUE":
                info["unique_keys"].append(list(cols))
            else:
                info["foreign_keys"].append(
                    {"name": cname or "", "columns": list(cols), "ref_schema": self.schema, "ref_table": ref_table or "", "ref_columns": list(ref_cols or [])}
                )
        for info in found.values():
            if info["kind"] == "table":
                quoted = '"' + info["table"].replace('"', '""') + '"'
                info["row_count"] = int(self._run(conn, f"SELECT count(*) FROM {quoted}").fetchone()[0])
                info["row_count_exact"] = True
        return list(found.values())

    def sample_values(
        self, table: str, column: str, *, max_values: int = 50, scan_rows: int = 200_000
    ) -> list[tuple[str, int]] | None:
        """Distinct non-null values of ``table.column`` with row counts, most frequent first, or
        None when there are more than ``max_values`` among the first ``scan_rows`` rows (fixed
        SQL with quoted identifiers; onboarding only). See
        :meth:`integrations.warehouse.postgres.PostgresWarehouse.sample_values`.

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable / WarehouseQueryError: as :meth:`describe_schema`.
        """
        return sample_values_via_columns(self, table, column, max_values=max_values, scan_rows=scan_rows)

    def sample_columns(
        self, columns: Iterable[tuple[str, str]], *, max_values: int = 50, scan_rows: int = 200_000
    ) -> dict[tuple[str, str], list[tuple[str, int]] | None]:
        """:meth:`sample_values` for many columns on one connection; a column whose statement
        fails or times out is left out of the result.

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable: the file is missing or busy.
        """
        if int(max_values) < 1 or int(scan_rows) < 1:
            raise ValueError("max_values and scan_rows must be >= 1")
        pairs = list(columns)
        if not pairs:
            return {}
        found: dict[tuple[str, str], list[tuple[str, int]] | None] = {}
        conn = self.connect()
        try:
            for table, column in pairs:
                col = '"' + column.replace('"', '""') + '"'
                tbl = '"' + table.replace('"', '""') + '"'
                stmt = (
                    f"SELECT v, count(*) AS n FROM (SELECT CAST({col} AS VARCHAR) AS v FROM {tbl} "
                    f"WHERE {col} IS NOT NULL LIMIT {int(scan_rows)}) s GROUP BY v ORDER BY n DESC, v LIMIT {int(max_values) + 1}"
                )
                try:
                    rows = self._run(conn, stmt).fetchall()
                except duckdb.Error:
                    continue
                found[(table, column)] = None if len(rows) > max_values else [(str(v), int(n)) for v, n in rows]
        finally:
            conn.close()
        return found


def duckdb_category(data_type: str) -> str:
    """Our column category (string / number / date / boolean / other) of a DuckDB type name.

    Source: DuckDB documentation, "Data Types" (numeric, text, date/time and boolean families).
    """
    t = data_type.upper()
    if t.startswith(("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "UUID")):
        return "string"
    if t.startswith(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL")):
        return "number"
    if t.startswith(("DATE", "TIMESTAMP")):
        return "date"
    if t.startswith("BOOL"):
        return "boolean"
    return "other"
