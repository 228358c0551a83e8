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

Connections for :meth:`PostgresWarehouse.execute` come from a ``psycopg_pool.ConnectionPool``
per login (host, port, database, role, password hash: a tenant's credential version, since a new
password makes a new key) per process, of at most ``settings.WAREHOUSE_POOL_MAX_SIZE``
connections (default 4), none kept open when unused: ``min_size`` 0, an idle connection closed
after :data:`IDLE_MAX_SECONDS`. Each checkout is health-checked
(``ConnectionPool.check_connection``: a dead connection, e.g. after a server restart or
``pg_terminate_backend``, is discarded and another one taken); each new connection is configured
once (:func:`_configure`: ``default_transaction_read_only`` on and the statement timeout as
session defaults), and every statement still opens its own read-only transaction with
``SET LOCAL`` statement timeout and ``search_path``, rolled back after it. The first use of a login
in a process connects once directly, so a wrong password or an unreachable host fails at once with
the server's reason (:class:`WarehouseUnavailable`) instead of the pool retrying in the background.
Two tenants share a pool only when they log in with the same role and password, i.e. when they hold
the same privileges anyway. A forked process never uses its parent's pools (their sockets and
threads are the parent's). :func:`warehouse_connections_close` closes this process's pools.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

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
#: A pooled connection idle this long (seconds) is closed by the pool.
IDLE_MAX_SECONDS = 60.0
#: A pool unused this long (seconds) is closed with its connections and threads when another
#: pool is looked up (tenants that stopped asking do not keep threads).
POOL_UNUSED_CLOSE_SECONDS = 600.0
#: Longest wait (seconds) for a pooled connection before one is opened outside the pool.
POOL_WAIT_SECONDS = float(CONNECT_TIMEOUT_S)
#: How long (seconds) the pool keeps retrying a connection that failed in its background worker.
POOL_RECONNECT_SECONDS = 30.0
DEFAULT_POOL_MAX_SIZE = 4

# key -> (pool, last used, monotonic seconds); _pools_pid is the process that owns them.
_pools: dict[tuple, list] = {}
_pools_lock = threading.Lock()
_pools_pid = os.getpid()


def _pool_max_size() -> int:
    """``settings.WAREHOUSE_POOL_MAX_SIZE`` (connections per login per process), default 4."""
    from django.conf import settings

    return max(1, int(getattr(settings, "WAREHOUSE_POOL_MAX_SIZE", DEFAULT_POOL_MAX_SIZE)))


def _pools_of_this_process() -> dict[tuple, list]:
    """``_pools``, emptied first when this is a forked child (call with ``_pools_lock`` held).
    The parent's pools are dropped, not closed: closing would end the parent's sessions (psycopg
    does not close a connection inherited across fork when it is garbage-collected)."""
    global _pools_pid
    if _pools_pid != os.getpid():
        _pools.clear()
        _pools_pid = os.getpid()
    return _pools


def warehouse_connections_close() -> int:
    """Close this process's warehouse connection pools (tests, shutdown); returns how many
    connections they held open (idle or in use)."""
    with _pools_lock:
        pools = [entry[0] for entry in _pools_of_this_process().values()]
        _pools.clear()
    opened = 0
    for pool in pools:
        opened += int(pool.get_stats().get("pool_size", 0))
        try:
            pool.close(timeout=2.0)
        except psycopg.Error:  # pragma: no cover - closing a broken socket
            pass
    return opened


def _configure(statement_timeout_ms: int) -> Callable[[psycopg.Connection], None]:
    """The pool's ``configure`` callback: session defaults set once per new connection, so even a
    statement sent outside :func:`pg_read_only_begin` is read-only and time-boxed. The login role
    is the reader role itself (it only holds ``SELECT``); nothing switches it."""

    def configure(conn: psycopg.Connection) -> None:
        conn.autocommit = True  # the pool wants the connection idle afterwards
        try:
            conn.execute("SET default_transaction_read_only = on")
            conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        finally:
            conn.autocommit = False

    return configure


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
    :meth:`execute` takes a connection from the login's pool (see the module notes: at most
    ``settings.WAREHOUSE_POOL_MAX_SIZE`` per login per process, checked on checkout, closed after
    a minute idle).
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
        try:
            return psycopg.connect(**self._connect_kwargs())
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

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host or None,
            "port": self.port or None,
            "dbname": self.dbname or None,
            "user": self.user or None,
            "password": self._password or None,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
        }
        return {k: v for k, v in kwargs.items() if v is not None}

    def _pool(self) -> ConnectionPool:
        """This login's pool in this process, made on first use after one direct connection
        (:meth:`connect`) proved the login works. Pools unused for
        :data:`POOL_UNUSED_CLOSE_SECONDS` are closed on the way. Raises WarehouseUnavailable."""
        key = self._pool_key()
        now = time.monotonic()
        idle: list[ConnectionPool] = []
        with _pools_lock:
            pools = _pools_of_this_process()
            entry = pools.get(key)
            if entry is not None:
                entry[1] = now
                return entry[0]
            for other, (pool, used) in list(pools.items()):
                if now - used > POOL_UNUSED_CLOSE_SECONDS:
                    idle.append(pools.pop(other)[0])
        for pool in idle:
            pool.close(timeout=0)
        self.connect().close()  # a clear WarehouseUnavailable now, not a pool retrying quietly
        pool = ConnectionPool(
            kwargs=self._connect_kwargs(),
            min_size=0,
            max_size=_pool_max_size(),
            open=False,
            check=ConnectionPool.check_connection,
            configure=_configure(self.statement_timeout_ms),
            max_idle=IDLE_MAX_SECONDS,
            reconnect_timeout=POOL_RECONNECT_SECONDS,
            num_workers=1,
            name=f"warehouse-{self.user}@{self._where()}",
        )
        with _pools_lock:
            pools = _pools_of_this_process()
            entry = pools.get(key)
            if entry is None:
                pool.open(wait=False)
                pools[key] = entry = [pool, now]
                return pool
        return entry[0]  # another thread made it meanwhile; ours was never opened

    def _checkout(self) -> tuple[psycopg.Connection, ConnectionPool | None]:
        """``(connection, pool)``: a health-checked connection from this login's pool; when none is
        free within :data:`POOL_WAIT_SECONDS` (all busy, or the pool cannot reconnect), a direct
        :meth:`connect` (``pool`` None: closed after use), which raises WarehouseUnavailable with
        the server's reason when the database is gone."""
        pool = self._pool()
        try:
            return pool.getconn(timeout=POOL_WAIT_SECONDS), pool
        except PoolTimeout:
            return self.connect(), None

    @staticmethod
    def _checkin(conn: psycopg.Connection, pool: ConnectionPool | None) -> None:
        """Give ``conn`` back to its pool (which discards it when broken), or close it."""
        if pool is None or pool.closed:
            conn.close()
        else:
            pool.putconn(conn)

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
        conn, pool = self._checkout()
        failure: str | None = None
        try:
            with conn.cursor() as cur:
                pg_read_only_begin(cur, statement_timeout_ms=self.statement_timeout_ms, schema=self.schema)
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
            self._checkin(conn, pool)
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

    def trigram_indexed_columns(self) -> set[tuple[str, str]]:
        """``{(table, column)}`` of :attr:`schema` that carry a pg_trgm index (GIN or GiST,
        ``gin_trgm_ops`` / ``gist_trgm_ops``) on the bare column, read from ``pg_indexes`` (fixed
        catalog SQL in the read-only transaction; the SQL guard does not apply). Such an index
        serves the semantic ``contains`` filter (``~*`` / ``ILIKE``); an index on an expression
        such as ``lower(col)`` does not, and is not listed. ``semantic_model_check`` uses it to
        recommend one for a searched column.

        Raises:
            WarehouseUnavailable: cannot connect.
            WarehouseQueryError: the catalog read failed or timed out.
        """
        def work(conn: psycopg.Connection, cur: psycopg.Cursor) -> set[tuple[str, str]]:
            rows = cur.execute(
                "SELECT tablename, indexdef FROM pg_catalog.pg_indexes WHERE schemaname = %s AND indexdef ~ '_trgm_ops'",
                [self.schema],
            ).fetchall()
            found = set()
            for table, ddl in rows:
                for quoted, bare in _TRGM_COLUMN.findall(ddl):
                    found.add((table, quoted.replace('""', '"') if quoted else bare))
            return found

        return pg_read_only(self, work)

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


# A bare column with a trigram operator class in pg_indexes.indexdef, e.g. "USING gin (comment
# gin_trgm_ops)" or "(\"Note\" public.gist_trgm_ops)": group 1 a quoted name, group 2 a bare one.
_TRGM_COLUMN = re.compile(r'[(,]\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))\s+(?:[A-Za-z_][A-Za-z0-9_$]*\.)?g(?:in|ist)_trgm_ops\b')


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
