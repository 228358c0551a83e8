"""Firebolt warehouse backend: guarded, read-only, time-boxed SELECTs through the official
``firebolt-sdk`` (``firebolt.db.connect`` with a service account's client credentials).

A tenant's ``warehouse_firebolt`` connector holds, in config: ``account_name``, ``engine_name``,
``database``, ``schema`` (default ``public``) and optionally ``api_endpoint`` (default
``https://api.app.firebolt.io``); in its encrypted secrets: ``client_id`` and ``client_secret``
of a Firebolt service account. Neither secret is ever logged or put in an error message; the
SDK's on-disk token cache is off (``use_token_cache=False``): tokens live only in this
process's memory, one :class:`ClientCredentials` per (endpoint, client id, secret digest), so a
token is fetched once per process and refreshed by the SDK when it expires.

**Dialect.** sqlglot (30.x) has no Firebolt dialect. Firebolt's SQL follows PostgreSQL's (its
documentation: "Firebolt SQL is PostgreSQL-compliant" for the query syntax used here: CTEs,
``CASE``, ``CAST``, ``DATE_TRUNC``, ``EXTRACT``, ``PERCENTILE_CONT ... WITHIN GROUP``, ``ILIKE``,
``NULLIF``, ``COALESCE``), so the connector's :attr:`FireboltWarehouse.dialect` is ``postgres``:
the semantic compiler writes PostgreSQL and the guard checks it with the PostgreSQL rules. The
differences handled here:

- *Placeholders.* Firebolt has no server-side ``%(name)s``; the SDK's ``qmark`` style formats
  ``?`` parameters into SQL literals client-side (escaping quotes and backslashes). The guard's
  psycopg placeholders are rewritten to ``?`` with the values in order (:func:`qmark_statement`),
  and ``%%`` becomes ``%`` as psycopg would send it. Without parameters the text is sent as is.
- *Read-only.* Firebolt has no ``SET TRANSACTION READ ONLY`` or ``search_path``: the guard is the
  statement check, the service account's role should hold only ``USAGE`` on the database and
  engine and ``SELECT`` on the schema (the connection test warns nothing here: Firebolt's
  privilege catalog differs by account version), and every statement runs on its own connection.
- *Timeout.* Firebolt's ``statement_timeout`` setting (milliseconds; Firebolt documentation,
  "System settings") is sent with every statement, so the engine cancels a longer statement; the
  SDK's own ``timeout_seconds`` (the HTTP read timeout) is set :data:`CLIENT_GRACE_MS` later as a
  backstop for an engine that does not answer. Connecting (token, system engine lookup,
  ``USE DATABASE``, ``USE ENGINE``) runs under a watchdog of :data:`CONNECT_TIMEOUT_S`.
- *Numbers.* A bare ``NUMERIC`` is ``NUMERIC(38, 9)`` in Firebolt (PostgreSQL: unbounded), which
  keeps the compiler's ratio casts exact enough; numeric values arrive as ``Decimal``.
- *Catalog.* :meth:`FireboltWarehouse.describe_schema` reads ``information_schema.tables`` /
  ``columns``; Firebolt declares no primary, unique or foreign keys, so those lists are empty.
- *Rate limits.* A ``429`` or ``503`` answer is retried at most :data:`RETRIES` times (waiting
  ``Retry-After``, at most :data:`RETRY_WAIT_MAX_S` and never past the statement timeout); reads
  are idempotent.

**Connections.** An SDK connection is an HTTP client bound to the engine: it is kept per process
and per login (endpoint, account, engine, database, client id, secret digest, timeout) and
shared by the calls of that login, each on its own cursor (closed after the call), which saves
the TLS and HTTP client set-up of ``connect`` on every statement. A kept connection that fails at
the connection level (unreachable, 429/503, refused) is closed and dropped, so the next call
connects again; a forked process never reuses its parent's. :func:`firebolt_connections_close`
closes them (tests, shutdown).

Errors: every failure ends as :class:`~integrations.warehouse.base.WarehouseUnavailable` (cannot
connect: credentials refused, unknown account/database/engine, unreachable, rate-limited) or
:class:`~integrations.warehouse.base.WarehouseQueryError` (the statement failed or timed out, or
the answer was malformed), with a message naming the account, engine and client id, never the
secret.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from firebolt.client.auth import ClientCredentials
from firebolt.db import connect as firebolt_connect
from firebolt.utils import exception as fb_errors

from integrations.warehouse.base import WarehouseQueryError, WarehouseResult, WarehouseUnavailable, sample_values_via_columns
from integrations.warehouse.guard import validate_select

DIALECT = "postgres"  # sqlglot has no Firebolt dialect; see the module notes
DEFAULT_API_ENDPOINT = "https://api.app.firebolt.io"
DEFAULT_SCHEMA = "public"
#: The client-side (HTTP read) timeout is the statement timeout plus this much, milliseconds.
CLIENT_GRACE_MS = 2000
#: Longest wait for a connection (token, system engine, USE DATABASE / ENGINE), seconds.
CONNECT_TIMEOUT_S = 15.0
#: Retries of a 429 / 503 answer, and the longest wait between two tries (seconds).
RETRIES = 2
RETRY_WAIT_MAX_S = 2.0

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")

_auths: dict[tuple[str, str, str], ClientCredentials] = {}
_auths_lock = threading.Lock()

T = TypeVar("T")

# login key -> the kept SDK connection; _conns_pid is the process that owns them.
_conns: dict[tuple, Any] = {}
_conns_lock = threading.Lock()
_conns_pid = os.getpid()


def firebolt_connections_close() -> int:
    """Close this process's kept Firebolt connections (tests, shutdown); returns how many."""
    global _conns_pid
    with _conns_lock:
        if _conns_pid != os.getpid():  # inherited from a parent: not ours to close
            _conns.clear()
            _conns_pid = os.getpid()
            return 0
        kept = list(_conns.values())
        _conns.clear()
    for conn in kept:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a broken client
            pass
    return len(kept)


def _auth_for(api_endpoint: str, client_id: str, client_secret: str) -> ClientCredentials:
    """One in-memory :class:`ClientCredentials` (and so one token) per endpoint and account."""
    key = (api_endpoint, client_id, hashlib.sha256(client_secret.encode()).hexdigest())
    with _auths_lock:
        auth = _auths.get(key)
        if auth is None:
            auth = _auths[key] = ClientCredentials(client_id, client_secret, use_token_cache=False)
        return auth


_PSYCOPG = re.compile(r"%%|%\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)s|%s")


def qmark_statement(sql: str, params: Sequence | Mapping | None) -> tuple[str, list[Any] | None]:
    """``sql`` with psycopg placeholders (``%(name)s`` / ``%s``) as the SDK's ``?`` and the values
    in placeholder order; ``%%`` -> ``%``. Without params: ``(sql, None)`` unchanged.

    Raises:
        WarehouseQueryError: a named placeholder has no value, or the counts differ.
    """
    if params is None or len(params) == 0:
        return sql, None
    values: list[Any] = []
    positional = None if isinstance(params, Mapping) else list(params)
    missing: list[str] = []

    def swap(m: re.Match) -> str:
        if m.group(0) == "%%":
            return "%"
        name = m.group("name")
        if name is not None:
            if not isinstance(params, Mapping) or name not in params:
                missing.append(f"%({name})s")
                return "?"
            values.append(params[name])
        else:
            if positional is None or len(values) >= len(positional):
                missing.append("%s")
                return "?"
            values.append(positional[len(values)])
        return "?"

    text = _PSYCOPG.sub(swap, sql)
    if missing:
        raise WarehouseQueryError(f"no parameter value for placeholder(s) {', '.join(missing)}")
    if positional is not None and len(values) != len(positional):
        raise WarehouseQueryError(f"the statement has {len(values)} placeholder(s) but {len(positional)} parameter(s) were given")
    return text, values


def _first_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return (lines[0] if lines else "")[:limit]


def _structured(exc: fb_errors.FireboltStructuredError) -> str:
    """The descriptions of a Firebolt ``errors`` body, joined."""
    parts = [str(e.get("description") or e.get("name") or "") for e in exc.errors if isinstance(e, dict)]
    return "; ".join(p for p in parts if p) or _first_line(str(exc)) or "unknown error"


def _is_timeout(exc: fb_errors.FireboltStructuredError) -> bool:
    text = " ".join(f"{e.get('code', '')} {e.get('name', '')} {e.get('description', '')}" for e in exc.errors if isinstance(e, dict)).lower()
    return "statement_timeout" in text or "timeout" in text and "cancel" in text


def firebolt_category(data_type: str) -> str:
    """Our column category (string / number / date / boolean / other) of a catalog type name.

    Source: Firebolt documentation, "Data types" (``TEXT``, ``INTEGER``, ``BIGINT``, ``REAL``,
    ``DOUBLE PRECISION``, ``NUMERIC(p, s)``, ``DATE``, ``TIMESTAMP``, ``TIMESTAMPTZ``,
    ``BOOLEAN``); the PostgreSQL/ANSI spellings (``VARCHAR``, ``DECIMAL``, ``DOUBLE``) too.
    """
    t = data_type.strip().lower()
    if t.endswith(" null"):
        t = t[: -len(" null")].strip()
    if t.startswith(("text", "varchar", "string", "char", "bpchar", "uuid")):
        return "string"
    if t.startswith(("int", "bigint", "long", "smallint", "tinyint", "hugeint", "real", "float", "double", "numeric", "decimal")):
        return "number"
    if t.startswith(("date", "pgdate", "timestamp")):
        return "date"
    if t.startswith("bool"):
        return "boolean"
    return "other"


class FireboltWarehouse:
    """A tenant's Firebolt database, read through the SQL guard (dialect ``postgres``).

    Args:
        client_id / client_secret: the service account's credentials (secret never shown).
        account_name: the Firebolt account; engine_name: the engine that runs the queries;
        database: the database; schema: the one schema read (default ``public``).
        api_endpoint: Firebolt's API URL (``https://api.app.firebolt.io``; the SDK reaches
            authentication at the same host with its first label replaced by ``id``).
        allowed_tables: bare names of the tables the semantic model exposes.
        statement_timeout_ms: limit per statement, milliseconds (>= 1).
        default_limit: most rows a result carries (>= 1); more are reported as ``truncated``.

    Raises:
        ValueError: a missing or malformed name, or a timeout / limit below 1.
        TypeError: ``allowed_tables`` is a single string.
    """

    dialect = DIALECT

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        account_name: str,
        engine_name: str,
        database: str,
        schema: str = DEFAULT_SCHEMA,
        api_endpoint: str = DEFAULT_API_ENDPOINT,
        allowed_tables: Iterable[str],
        statement_timeout_ms: int,
        default_limit: int,
    ) -> None:
        if isinstance(allowed_tables, str):
            raise TypeError("allowed_tables must be an iterable of table names, not a single string")
        for label, value in (("account_name", account_name), ("engine_name", engine_name), ("database", database)):
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(f"{label} must be a Firebolt name (letters, digits, _ . -), got {value!r}")
        if not isinstance(schema, str) or not _IDENT.match(schema):
            raise ValueError(f"schema must be an identifier, got {schema!r}")
        if not client_id or not client_secret:
            raise ValueError("the service account's client id and client secret are both required")
        if not str(api_endpoint).startswith(("https://", "http://")):
            raise ValueError(f"api_endpoint must be an http(s) URL, got {api_endpoint!r}")
        if int(statement_timeout_ms) < 1:
            raise ValueError("statement_timeout_ms must be >= 1")
        if int(default_limit) < 1:
            raise ValueError("default_limit must be >= 1")
        self.client_id = str(client_id)
        self._client_secret = str(client_secret)
        self.account_name = account_name
        self.engine_name = engine_name
        self.database = database
        self.schema = schema
        self.api_endpoint = str(api_endpoint).rstrip("/")
        self.allowed_tables = tuple(sorted({t.lower() for t in allowed_tables}))
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.default_limit = int(default_limit)

    def __repr__(self) -> str:
        return (
            f"<FireboltWarehouse account={self.account_name} engine={self.engine_name} database={self.database} "
            f"schema={self.schema} tables={len(self.allowed_tables)} limit={self.default_limit}>"
        )

    # -- messages ----------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._client_secret, "[secret]") if self._client_secret else text

    def _where(self) -> str:
        return f"Firebolt account {self.account_name!r} (engine {self.engine_name!r}, database {self.database!r})"

    def _unavailable(self, exc: BaseException) -> WarehouseUnavailable:
        """The clear error for a failure while connecting."""
        if isinstance(exc, fb_errors.AuthorizationError):
            text = f"Firebolt refused the service account credentials (client id {self.client_id!r}): check the client id and secret"
        elif isinstance(exc, fb_errors.AuthenticationError):
            text = f"Firebolt authentication failed for client id {self.client_id!r}: {_first_line(str(exc))}"
        elif isinstance(exc, fb_errors.AccountNotFoundOrNoAccessError):
            text = f"Firebolt account {self.account_name!r} does not exist or the service account has no access to it"
        elif isinstance(exc, fb_errors.FireboltStructuredError):
            text = f"{self._where()} refused the connection: {_structured(exc)}"
        elif isinstance(exc, (httpx.TimeoutException, fb_errors.QueryTimeoutError, TimeoutError)):
            text = f"{self._where()} did not answer within {CONNECT_TIMEOUT_S:g} s"
        elif isinstance(exc, httpx.HTTPStatusError):
            text = f"{self._where()} answered HTTP {exc.response.status_code}{self._status_hint(exc.response.status_code)}"
        elif isinstance(exc, httpx.RequestError):
            text = f"cannot reach Firebolt at {self.api_endpoint}: {type(exc).__name__} {_first_line(str(exc))}".rstrip()
        elif isinstance(exc, fb_errors.FireboltError):
            text = f"cannot connect to {self._where()}: {_first_line(str(exc)) or type(exc).__name__}"
        else:
            text = f"cannot connect to {self._where()}: unexpected {type(exc).__name__}"
        return WarehouseUnavailable(self._redact(text))

    @staticmethod
    def _status_hint(status: int) -> str:
        if status == 429:
            return " (rate limited: too many requests; try again shortly)"
        if status == 503:
            return " (service unavailable: the engine may be starting or overloaded; try again shortly)"
        return ""

    # -- connections -------------------------------------------------------------------------------

    def connect(self) -> Any:
        """A new SDK connection (``firebolt.db.Connection``) on :attr:`engine_name` and
        :attr:`database`, with ``statement_timeout`` set for every cursor; the caller closes it.

        Raises:
            WarehouseUnavailable: credentials refused, unknown account / database / engine,
                unreachable, rate limited, or no answer within :data:`CONNECT_TIMEOUT_S`.
        """
        auth = _auth_for(self.api_endpoint, self.client_id, self._client_secret)

        def open_connection() -> Any:
            return firebolt_connect(
                auth=auth,
                account_name=self.account_name,
                engine_name=self.engine_name,
                database=self.database,
                api_endpoint=self.api_endpoint,
            )

        conn = self._with_deadline(open_connection, CONNECT_TIMEOUT_S)
        # Firebolt settings travel as URL parameters of each query; init_parameters seeds every
        # cursor of this connection (what the SDK does after a validated SET, minus the round trip).
        conn.init_parameters["statement_timeout"] = str(self.statement_timeout_ms)
        return conn

    def _with_deadline(self, fn: Callable[[], T], seconds: float) -> T:
        """Run ``fn`` in a helper thread; give up after ``seconds`` (the watchdog of connect:
        the SDK's own connect timeouts are fixed at 60 s). A connection that arrives late is
        closed. Raises WarehouseUnavailable for any failure."""
        box: dict[str, Any] = {}
        abandoned = threading.Event()

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = exc
            if abandoned.is_set() and "value" in box:
                try:
                    box["value"].close()
                except Exception:  # noqa: BLE001 - closing a late connection
                    pass

        worker = threading.Thread(target=target, name="firebolt-connect", daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            abandoned.set()
            raise WarehouseUnavailable(f"{self._where()} did not answer within {seconds:g} s")
        if "error" in box:
            raise self._unavailable(box["error"]) from None
        return box["value"]

    def _run(self, cursor: Any, text: str, values: list[Any] | None) -> None:
        """Execute on ``cursor`` with the client-side timeout and the 429/503 retries.

        Raises WarehouseQueryError / WarehouseUnavailable (see :meth:`execute`)."""
        deadline = time.monotonic() + (self.statement_timeout_ms + CLIENT_GRACE_MS) / 1000.0
        attempt = 0
        while True:
            remaining = max(0.05, deadline - time.monotonic())
            failure: WarehouseQueryError | WarehouseUnavailable | None = None
            retry_after: float | None = None
            try:
                if values is None:
                    cursor.execute(text, skip_parsing=True, timeout_seconds=remaining)
                else:
                    cursor.execute(text, values, timeout_seconds=remaining)
                return
            except fb_errors.QueryTimeoutError:
                failure = WarehouseQueryError(f"statement timed out after {self.statement_timeout_ms} ms (Firebolt did not answer)")
            except fb_errors.FireboltStructuredError as exc:
                if _is_timeout(exc):
                    failure = WarehouseQueryError(f"statement timed out after {self.statement_timeout_ms} ms")
                else:
                    failure = WarehouseQueryError(self._redact(f"Firebolt: {_structured(exc)}"))
            except fb_errors.DataError as exc:
                failure = WarehouseQueryError(self._redact(f"Firebolt returned a malformed response: {_first_line(str(exc), 200)}"))
            except fb_errors.OperationalError as exc:
                failure = WarehouseQueryError(self._redact(f"Firebolt failed to run the statement: {_first_line(str(exc).replace('Error executing query:', ''), 200)}"))
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                if status in (429, 503):
                    retry_after = _retry_after(exc.response.headers.get("Retry-After"))
                failure = WarehouseUnavailable(f"{self._where()} answered HTTP {status}{self._status_hint(status)}")
            except httpx.RequestError as exc:
                failure = WarehouseUnavailable(f"lost the connection to {self._where()}: {type(exc).__name__}")
            except fb_errors.FireboltError as exc:
                failure = WarehouseQueryError(self._redact(f"Firebolt: {_first_line(str(exc)) or type(exc).__name__}"))
            if retry_after is not None and attempt < RETRIES and time.monotonic() + retry_after < deadline:
                attempt += 1
                time.sleep(retry_after)
                continue
            raise failure

    def _login_key(self) -> tuple:
        digest = hashlib.sha256(self._client_secret.encode()).hexdigest()
        return (self.api_endpoint, self.account_name, self.engine_name, self.database, self.client_id, digest, self.statement_timeout_ms)

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """The kept connection of this login (connected on first use), for one call; dropped
        and closed when the call fails at the connection level (:class:`WarehouseUnavailable`).

        Raises:
            WarehouseUnavailable: as :meth:`connect`.
        """
        global _conns_pid
        key = self._login_key()
        with _conns_lock:
            if _conns_pid != os.getpid():
                _conns.clear()
                _conns_pid = os.getpid()
            conn = _conns.get(key)
        if conn is None or conn.closed:
            conn = self.connect()
            with _conns_lock:
                kept = _conns.get(key)
                if kept is not None and not kept.closed:
                    conn.close()
                    conn = kept
                else:
                    _conns[key] = conn
        try:
            yield conn
        except WarehouseUnavailable:
            with _conns_lock:
                if _conns.get(key) is conn:
                    del _conns[key]
            conn.close()
            raise

    # -- the protocol ------------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence | Mapping | None = None) -> WarehouseResult:
        """Validate ``sql`` with the guard (PostgreSQL rules, schema :attr:`schema`) and run it
        on a new connection; see :class:`integrations.warehouse.base.WarehouseConnector`.

        ``params``: psycopg-style, a mapping for ``%(name)s`` or a sequence for ``%s``; the SDK
        formats them as literals (see the module notes). The guard caps the statement at
        ``default_limit + 1`` rows to learn whether the cap cut rows (``truncated``).

        Raises:
            UnsafeSQL: refused by the guard (nothing is sent).
            WarehouseUnavailable: cannot connect (see :meth:`connect`), the connection was lost,
                or Firebolt kept answering 429 / 503.
            WarehouseQueryError: the statement failed, ``"statement timed out after N ms"``, or
                the answer was malformed.
        """
        safe_sql = validate_select(
            sql, allowed_tables=self.allowed_tables, default_limit=self.default_limit + 1, schema=self.schema, dialect=DIALECT
        )
        text, values = qmark_statement(safe_sql, params)
        with self._session() as conn:
            cursor = conn.cursor()
            try:
                started = time.monotonic()
                self._run(cursor, text, values)
                if cursor.description is None:
                    raise WarehouseQueryError("the statement returned no result set")
                columns = [d.name for d in cursor.description]
                try:
                    rows = cursor.fetchmany(self.default_limit + 1)
                except fb_errors.FireboltError as exc:
                    raise WarehouseQueryError(self._redact(f"Firebolt returned a malformed response: {_first_line(str(exc), 200)}")) from None
                duration_ms = int((time.monotonic() - started) * 1000)
            finally:
                cursor.close()
        truncated = len(rows) > self.default_limit
        rows = [tuple(row) for row in rows[: self.default_limit]]
        return WarehouseResult(
            columns=columns, rows=rows, sql=safe_sql, row_count=len(rows), truncated=truncated, duration_ms=duration_ms
        )

    def _fetch(self, conn: Any, text: str, values: list[Any] | None = None) -> list[list[Any]]:
        cursor = conn.cursor()
        try:
            self._run(cursor, text, values)
            try:
                return cursor.fetchall() if cursor.description is not None else []
            except fb_errors.FireboltError as exc:
                raise WarehouseQueryError(self._redact(f"Firebolt returned a malformed response: {_first_line(str(exc), 200)}")) from None
        finally:
            cursor.close()

    def connection_test(self) -> str:
        """Connect, run ``SELECT 1`` and count the schema's tables.

        Returns:
            e.g. ``"Firebolt account 'acme' (engine 'reader', database 'crm'), schema public: 6 table(s)"``.

        Raises:
            WarehouseUnavailable / WarehouseQueryError: as :meth:`execute`.
        """
        conn = self.connect()  # a new connection: the test covers the whole login
        try:
            one = self._fetch(conn, "SELECT 1")
            if not one or one[0][0] != 1:
                raise WarehouseQueryError(f"SELECT 1 answered {one!r}")
            count = self._fetch(conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = ?", [self.schema])[0][0]
        finally:
            conn.close()
        return f"{self._where()}, schema {self.schema}: {count} table(s)"

    def describe_schema(self) -> list[dict[str, Any]]:
        """Tables and views of :attr:`schema` in the shape of
        :meth:`integrations.warehouse.postgres.PostgresWarehouse.describe_schema`, from
        ``information_schema.tables`` / ``columns`` with fixed SQL; no keys (Firebolt declares
        none); exact ``count(*)`` for tables, ``-1`` for views.

        Raises:
            WarehouseUnavailable / WarehouseQueryError: as :meth:`execute`.
        """
        with self._session() as conn:
            found: dict[str, dict[str, Any]] = {}
            for name, table_type in self._fetch(
                conn, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", [self.schema]
            ):
                found[name] = {
                    "table": name, "kind": "view" if "VIEW" in str(table_type).upper() else "table", "columns": [],
                    "primary_key": [], "unique_keys": [], "foreign_keys": [], "row_count": -1, "row_count_exact": False,
                }
            for table, column, data_type, nullable in self._fetch(
                conn,
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = ? ORDER BY table_name, ordinal_position",
                [self.schema],
            ):
                if table in found:
                    found[table]["columns"].append(
                        {"name": column, "type": str(data_type).lower(), "category": firebolt_category(str(data_type)),
                         "nullable": str(nullable).upper() in ("YES", "TRUE", "1")}
                    )
            for info in found.values():
                if info["kind"] == "table":
                    info["row_count"] = int(self._fetch(conn, f"SELECT count(*) FROM {self._qualified(info['table'])}")[0][0])
                    info["row_count_exact"] = True
        return list(found.values())

    def _qualified(self, table: str) -> str:
        return '"' + self.schema + '"."' + table.replace('"', '""') + '"'

    def sample_values(
        self, table: str, column: str, *, max_values: int = 50, scan_rows: int = 200_000
    ) -> list[tuple[str, int]] | None:
        """Distinct non-null values of ``table.column`` with row counts, most frequent first, or
        None when there are more than ``max_values`` among the first ``scan_rows`` rows (fixed
        SQL, quoted identifiers; onboarding only). See
        :meth:`integrations.warehouse.postgres.PostgresWarehouse.sample_values`.

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable / WarehouseQueryError: as :meth:`execute`.
        """
        return sample_values_via_columns(self, table, column, max_values=max_values, scan_rows=scan_rows)

    def sample_columns(
        self, columns: Iterable[tuple[str, str]], *, max_values: int = 50, scan_rows: int = 200_000
    ) -> dict[tuple[str, str], list[tuple[str, int]] | None]:
        """:meth:`sample_values` for many columns on one connection; a column whose statement
        fails or times out is left out of the result.

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable: cannot connect.
        """
        if int(max_values) < 1 or int(scan_rows) < 1:
            raise ValueError("max_values and scan_rows must be >= 1")
        pairs = list(columns)
        if not pairs:
            return {}
        found: dict[tuple[str, str], list[tuple[str, int]] | None] = {}
        with self._session() as conn:
            for table, column in pairs:
                col = '"' + column.replace('"', '""') + '"'
                stmt = (
                    f"SELECT v, count(*) AS n FROM (SELECT CAST({col} AS TEXT) AS v FROM {self._qualified(table)} "
                    f"WHERE {col} IS NOT NULL LIMIT {int(scan_rows)}) s GROUP BY v ORDER BY n DESC, v LIMIT {int(max_values) + 1}"
                )
                try:
                    rows = self._fetch(conn, stmt)
                except WarehouseQueryError:
                    continue
                found[(table, column)] = None if len(rows) > max_values else [(str(v), int(n)) for v, n in rows]
        return found


def _retry_after(value: str | None) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta seconds), capped at
    :data:`RETRY_WAIT_MAX_S`; 0.2 s when absent or not a number."""
    try:
        return min(max(float(value or ""), 0.0), RETRY_WAIT_MAX_S)
    except ValueError:
        return 0.2
