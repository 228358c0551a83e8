"""PostgreSQL warehouse backend: guarded, read-only, time-boxed SELECTs through psycopg 3.

Three layers keep a statement a read (the guard alone is not trusted):

1. :func:`integrations.warehouse.guard.validate_select` refuses anything but one SELECT over the
   semantic-model tables and caps its rows;
2. every statement runs in its own short transaction: ``SET TRANSACTION READ ONLY``,
   ``SET LOCAL statement_timeout``, ``SET LOCAL search_path TO <schema>``, and is sent with the
   extended query protocol (``prepare=True``), which PostgreSQL refuses to run with more than one
   command in it;
3. the connection logs in as a role that only holds ``SELECT`` on the schema
   (:func:`integrations.warehouse.loader.warehouse_load_demo` creates it).

Connections for :meth:`PostgresWarehouse.execute` are reused within a process: after each
statement the transaction is rolled back (so the ``SET LOCAL`` settings and anything the
statement changed are gone; the next use sets them again) and the connection is kept idle, at
most :data:`IDLE_PER_KEY` per (host, port, database, role, password) and for at most
:data:`IDLE_MAX_SECONDS`. Two tenants share a connection only when they log in with the same
role and password, i.e. when they hold the same privileges anyway. A forked process never
reuses its parent's connections.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from integrations.warehouse.base import (
    WarehouseQueryError,
    WarehouseResult,
    WarehouseUnavailable,
)
from integrations.warehouse.guard import validate_select
from integrations.warehouse.introspect import (
    pg_describe_schema,
    pg_read_only,
    pg_read_only_begin,
    pg_sample_columns,
    pg_sample_values,
)

CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "revops-warehouse"
#: Idle connections kept per login (host, port, database, role, password) per process.
IDLE_PER_KEY = 2
#: An idle connection older than this (seconds since it was last returned) is closed, not reused.
IDLE_MAX_SECONDS = 60.0

# key -> [(connection, returned_at_monotonic)]; _idle_pid is the process that owns them.
_idle: dict[tuple, list[tuple[psycopg.Connection, float]]] = {}
_idle_lock = threading.Lock()
_idle_pid = os.getpid()


def warehouse_connections_close() -> int:
    """Close this process's idle warehouse connections (tests, shutdown); returns how many."""
    global _idle_pid
    with _idle_lock:
        if _idle_pid != os.getpid():  # inherited from a parent: not ours to close, just drop
            _idle.clear()
            _idle_pid = os.getpid()
            return 0
        conns = [conn for entries in _idle.values() for conn, _ in entries]
        _idle.clear()
    for conn in conns:
        try:
            conn.close()
        except psycopg.Error:  # pragma: no cover - closing a broken socket
            pass
    return len(conns)


class PostgresWarehouse:
    """A tenant's PostgreSQL warehouse schema, read through the SQL guard.

    Args:
        conninfo: ``{"host", "port", "dbname", "user", "password"}``; ``host`` may be a Unix
            socket directory; ``port`` may be empty (libpq default 5432); ``password`` may be
            empty (trust / peer authentication).
        schema: the schema holding the tables; it becomes the only ``search_path`` entry, and the
            only schema qualifier the guard accepts.
        allowed_tables: bare names of the tables the semantic model exposes.
        statement_timeout_ms: server-side limit per statement, milliseconds (>= 1).
        default_limit: most rows a result carries (>= 1); more are reported as ``truncated``.

    Raises:
        ValueError: empty schema, or a timeout / limit below 1.
        TypeError: ``allowed_tables`` is a single string.

    The object holds the password only to connect; it is never part of ``repr`` or of an error.
    :meth:`execute` reuses an idle connection of the same login when one is fresh (see the
    module notes: at most two idle sessions per login per process, closed after a minute idle).
    """

    dialect = "postgres"  # sqlglot dialect of the SQL this engine runs (WarehouseConnector.dialect)

    def __init__(
        self,
        *,
        conninfo: Mapping[str, Any],
        schema: str,
        allowed_tables: Iterable[str],
        statement_timeout_ms: int,
        default_limit: int,
    ) -> None:
        if not schema:
            raise ValueError("schema is required")
        if isinstance(allowed_tables, str):
            raise TypeError("allowed_tables must be an iterable of table names, not a single string")
        if int(statement_timeout_ms) < 1:
            raise ValueError("statement_timeout_ms must be >= 1")
        if int(default_limit) < 1:
            raise ValueError("default_limit must be >= 1")
        self.host = str(conninfo.get("host") or "")
        self.port = str(conninfo.get("port") or "")
        self.dbname = str(conninfo.get("dbname") or "")
        self.user = str(conninfo.get("user") or "")
        self._password = str(conninfo.get("password") or "")
        self.schema = schema
        self.allowed_tables = tuple(sorted({t.lower() for t in allowed_tables}))
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.default_limit = int(default_limit)

    def __repr__(self) -> str:
        return (
            f"<PostgresWarehouse {self.user}@{self._where()} schema={self.schema} "
            f"tables={len(self.allowed_tables)} limit={self.default_limit}>"
        )

    def _where(self) -> str:
        return f"{self.host or 'localhost'}:{self.port or '5432'}/{self.dbname}"

    def _redact(self, text: str) -> str:
        return text.replace(self._password, "********") if self._password else text

    def connect(self) -> psycopg.Connection:
        """A new psycopg connection (not in autocommit), or :class:`WarehouseUnavailable`.

        Waits at most ``CONNECT_TIMEOUT_S`` (5) seconds.
        """
        kwargs: dict[str, Any] = {
            "host": self.host or None,
            "port": self.port or None,
            "dbname": self.dbname or None,
            "user": self.user or None,
            "password": self._password or None,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
        }
        try:
            return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})
        except psycopg.Error as exc:
            reason = self._redact(str(exc).strip()) or type(exc).__name__
        # Raised outside the except block: the driver exception is neither chained nor kept as
        # __context__, so nothing that might carry connection details travels with the error.
        raise WarehouseUnavailable(
            f"cannot connect to the warehouse database {self.dbname!r} at {self._where()} "
            f"as {self.user!r}: {reason}"
        )

    def _pool_key(self) -> tuple:
        return (self.host, self.port, self.dbname, self.user, hashlib.sha256(self._password.encode()).hexdigest())

    def _acquire(self) -> psycopg.Connection:
        """An idle connection of this login when one is fresh and healthy, else a new one."""
        return self._acquire_pooled()[0]

    def _acquire_pooled(self) -> tuple[psycopg.Connection, bool]:
        """``(connection, pooled)``: as :meth:`_acquire`; ``pooled`` tells an idle one (whose
        server side may have died meanwhile) from a new one."""
        global _idle_pid
        key = self._pool_key()
        now = time.monotonic()
        stale: list[psycopg.Connection] = []
        found = None
        with _idle_lock:
            if _idle_pid != os.getpid():
                _idle.clear()  # the parent's sockets: never used from a forked child
                _idle_pid = os.getpid()
            entries = _idle.get(key, [])
            while entries:
                conn, returned_at = entries.pop()
                if now - returned_at > IDLE_MAX_SECONDS or conn.closed or conn.broken:
                    stale.append(conn)
                    continue
                found = conn
                break
        for conn in stale:
            conn.close()
        return (found, True) if found is not None else (self.connect(), False)

    def _begin(self, conn: psycopg.Connection, *, pooled: bool) -> psycopg.Connection:
        """Open the read-only transaction (:func:`pg_read_only_begin`) on ``conn``; the connection
        to run the statement on. A pooled connection whose server side died while idle (a
        restart, an idle timeout, ``pg_terminate_backend``) fails here with OperationalError
        before the statement is sent: it is closed and the transaction begun once on a fresh
        :meth:`connect`. Raises psycopg.Error (a fresh connection failing) or WarehouseUnavailable."""
        try:
            with conn.cursor() as cur:
                pg_read_only_begin(cur, statement_timeout_ms=self.statement_timeout_ms, schema=self.schema)
            return conn
        except psycopg.OperationalError:
            if not pooled:
                raise
            conn.close()
        fresh = self.connect()
        try:
            with fresh.cursor() as cur:
                pg_read_only_begin(cur, statement_timeout_ms=self.statement_timeout_ms, schema=self.schema)
        except psycopg.Error:
            fresh.close()
            raise
        return fresh

    def _release(self, conn: psycopg.Connection) -> None:
        """Keep ``conn`` for the next statement when it is healthy and idle, else close it."""
        from psycopg.pq import TransactionStatus

        keep = not conn.closed and not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE
        if keep:
            with _idle_lock:
                if _idle_pid == os.getpid():
                    entries = _idle.setdefault(self._pool_key(), [])
                    if len(entries) < IDLE_PER_KEY:
                        entries.append((conn, time.monotonic()))
                        return
        conn.close()

    def execute(self, sql: str, params: Sequence | Mapping | None = None) -> WarehouseResult:
        """Validate ``sql`` with the guard and run it read-only; see :class:`WarehouseConnector`.

        The guard caps the statement at ``default_limit + 1`` rows: the extra row is fetched only
        to learn whether the cap cut rows (``truncated``) and is not returned, so
        ``WarehouseResult.sql`` shows ``LIMIT <default_limit + 1>``.

        ``params`` empty (``{}`` / ``[]``) is treated as ``None`` (the text is sent as is, so
        ``LIKE 'A%'`` works) unless the text holds a ``%%`` escape, which only means ``%`` when
        psycopg processes placeholders.

        Returns:
            :class:`WarehouseResult` with at most ``default_limit`` rows.

        Raises:
            UnsafeSQL: refused by the guard (nothing is sent to the database).
            WarehouseUnavailable: cannot connect (message names host, port, db and user).
            WarehouseQueryError: the statement failed; ``"statement timed out after N ms"`` when
                it ran longer than ``statement_timeout_ms``.
        """
        safe_sql = validate_select(
            sql,
            allowed_tables=self.allowed_tables,
            default_limit=self.default_limit + 1,
            schema=self.schema,
        )
        if params is not None and len(params) == 0 and "%%" not in safe_sql:
            # Callers pass {} by default; psycopg would then read every '%' as a placeholder and
            # reject LIKE 'A%'. Empty params with no '%%' escape mean "no params".
            params = None
        conn, pooled = self._acquire_pooled()
        failure: str | None = None
        try:
            conn = self._begin(conn, pooled=pooled)
            with conn.cursor() as cur:
                started = time.monotonic()
                # prepare=True: extended protocol, so PostgreSQL itself refuses a second command.
                cur.execute(safe_sql, params, prepare=True)
                if cur.description is None:
                    failure = "the statement returned no result set"
                else:
                    columns = [col.name for col in cur.description]
                    rows = cur.fetchmany(self.default_limit + 1)
                    duration_ms = int((time.monotonic() - started) * 1000)
        except psycopg.Error as exc:
            failure = self.failure_text(exc)
        finally:
            try:
                conn.rollback()  # nothing to keep: the transaction was read-only; SET LOCALs end
            except psycopg.Error:
                pass
            self._release(conn)
        if failure is not None:
            # Raised outside the except block so the driver error (which may quote the
            # statement or a value) is not attached as __context__.
            raise WarehouseQueryError(failure)
        truncated = len(rows) > self.default_limit
        rows = [tuple(row) for row in rows[: self.default_limit]]
        return WarehouseResult(
            columns=columns,
            rows=rows,
            sql=safe_sql,
            row_count=len(rows),
            truncated=truncated,
            duration_ms=duration_ms,
        )


    def connection_test(self) -> str:
        """Connect as the reader role, run ``SELECT 1`` in the read-only transaction and count the
        schema's tables the role can read.

        Returns:
            e.g. ``"PostgreSQL localhost:5432/revops as wh_reader, schema crm: 6 table(s)"``.

        Raises:
            WarehouseUnavailable: cannot connect.
            WarehouseQueryError: the check failed or timed out.
        """
        def work(conn: psycopg.Connection, cur: psycopg.Cursor) -> int:
            cur.execute("SELECT 1")
            return int(
                cur.execute(
                    "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                    "AND pg_catalog.has_table_privilege(c.oid, 'SELECT')",
                    [self.schema],
                ).fetchone()[0]
            )

        count = pg_read_only(self, work)
        return f"PostgreSQL {self._where()} as {self.user}, schema {self.schema}: {count} table(s)"

    def failure_text(self, exc: psycopg.Error) -> str:
        """The message a :class:`WarehouseQueryError` carries for driver error ``exc``:
        ``"statement timed out after N ms"`` for a statement timeout, else PostgreSQL's message
        (:func:`_pg_message`) with the password redacted. Shared by :meth:`execute` and the
        introspection transactions (:func:`integrations.warehouse.introspect.pg_read_only`)."""
        message = _pg_message(exc)
        if isinstance(exc, pg_errors.QueryCanceled) and "timeout" in message:
            return f"statement timed out after {self.statement_timeout_ms} ms"
        # Any other cancellation (an administrator, a shutdown) or error: the server's words.
        return self._redact(message)

    def describe_schema(self) -> list[dict[str, Any]]:
        """The tables of :attr:`schema` this role can ``SELECT``, for onboarding (fixed catalog SQL,
        not agent-written, so the SQL guard does not apply; read-only transaction, statement
        timeout). See :mod:`integrations.warehouse.introspect`.

        Returns:
            one dict per table or view, sorted by name::

                {"table": "opportunity", "kind": "table" | "view",
                 "columns": [{"name", "type" (e.g. "numeric(12,2)"),
                              "category": "string" | "number" | "date" | "boolean" | "other",
                              "nullable": bool}],
                 "primary_key": ["id"], "unique_keys": [["email"]],
                 "foreign_keys": [{"name", "columns": ["account_id"], "ref_schema",
                                   "ref_table": "account", "ref_columns": ["id"]}],
                 "row_count": 8800, "row_count_exact": True}

            ``row_count`` is ``count(*)`` when it finished within the timeout, else the planner's
            estimate (-1 when never analysed) with ``row_count_exact`` False.

        Raises:
            WarehouseUnavailable: cannot connect.
            WarehouseQueryError: a catalog statement failed or timed out.
        """
        return pg_read_only(self, lambda conn, cur: pg_describe_schema(conn, cur, self.schema))

    def sample_values(
        self, table: str, column: str, *, max_values: int = 50, scan_rows: int = 200_000
    ) -> list[tuple[str, int]] | None:
        """Distinct non-null values of ``table.column`` with their row counts, most frequent first.

        Fixed SQL, identifiers quoted with :class:`psycopg.sql.Identifier`, at most ``scan_rows``
        rows read and ``max_values + 1`` groups returned, under the statement timeout and in a
        read-only transaction. Values are cast to text.

        Returns:
            ``[(value, rows), ...]``, or None when the rows read hold more than ``max_values``
            distinct values (not a category worth listing).

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable: cannot connect.
            WarehouseQueryError: unknown table/column, no privilege, or a timeout.
        """
        if int(max_values) < 1 or int(scan_rows) < 1:
            raise ValueError("max_values and scan_rows must be >= 1")
        return pg_read_only(
            self,
            lambda conn, cur: pg_sample_values(
                cur, self.schema, table, column, max_values=int(max_values), scan_rows=int(scan_rows)
            ),
        )

    def sample_columns(
        self, columns: Iterable[tuple[str, str]], *, max_values: int = 50, scan_rows: int = 200_000
    ) -> dict[tuple[str, str], list[tuple[str, int]] | None]:
        """:meth:`sample_values` for many ``(table, column)`` pairs in one connection and one
        read-only transaction, each column in its own savepoint (onboarding introspection).

        Returns:
            ``{(table, column): [(value, rows), ...] | None}`` as :meth:`sample_values`; a column
            whose statement failed or timed out is left out (the others are still sampled).

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable: cannot connect.
            WarehouseQueryError: the connection failed (not one column's statement).
        """
        if int(max_values) < 1 or int(scan_rows) < 1:
            raise ValueError("max_values and scan_rows must be >= 1")
        pairs = list(columns)
        if not pairs:
            return {}
        return pg_read_only(
            self,
            lambda conn, cur: pg_sample_columns(
                conn, cur, self.schema, pairs, max_values=int(max_values), scan_rows=int(scan_rows)
            ),
        )


def _pg_message(exc: psycopg.Error) -> str:
    """PostgreSQL's primary message (plus detail/hint), or the driver's text for client errors."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if not primary:
        return str(exc).strip() or type(exc).__name__
    parts = [primary]
    for extra in (getattr(diag, "message_detail", None), getattr(diag, "message_hint", None)):
        if extra:
            parts.append(extra)
    return "; ".join(parts)
