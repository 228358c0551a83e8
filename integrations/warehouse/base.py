"""The warehouse connector contract: result shape, errors, and the protocol every backend implements.

Agents and playbooks only see :class:`WarehouseConnector` and :class:`WarehouseResult`. Engines:
PostgreSQL (:mod:`integrations.warehouse.postgres`), the embedded DuckDB
(:mod:`integrations.warehouse.duckdb_engine`) and Firebolt through firebolt-sdk
(:mod:`integrations.warehouse.firebolt_engine`, PostgreSQL dialect); the tenant's credential kind
chooses one (:mod:`integrations.warehouse.selectors`).

Adding an engine (Snowflake, BigQuery...): a class with the members of
:class:`WarehouseConnector`, a sqlglot dialect name in :data:`integrations.warehouse.guard.DIALECTS`
(the guard parses and renders in it; add its file/network functions to the refusals), a
``ConnectorKind`` (with its migration) mapped in ``selectors.WAREHOUSE_KINDS`` /
``WAREHOUSE_DIALECTS``, and tests with the real client library against a local fake.
Every error a caller can meet derives from :class:`WarehouseError`, and no error message ever
contains a password or token (lesson 5 of the design notes: redact secrets everywhere).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class WarehouseError(Exception):
    """Base class of every warehouse error (safe to show to a user: never holds secrets)."""


class UnsafeSQL(WarehouseError):
    """The SQL guard refused the statement; the message says exactly why.

    Examples: ``only SELECT statements are allowed; got INSERT``,
    ``table 'pg_authid' is not in the semantic model; allowed: accounts, products``.
    """


class WarehouseUnavailable(WarehouseError):
    """The warehouse cannot be reached or is not configured.

    The message names the host, port, database and user, never the password.
    """


class WarehouseQueryError(WarehouseError):
    """The warehouse accepted the connection but the statement failed.

    Includes statement timeouts (``statement timed out after 15000 ms``). The message is
    PostgreSQL's own primary message, with any secret of the connection redacted.
    """


def _jsonable(value: Any) -> Any:
    """One cell as a JSON-friendly value (see :meth:`WarehouseResult.as_dicts`)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class WarehouseResult:
    """The rows one statement returned, and how they were obtained.

    Attributes:
        columns: column names in result order (duplicates possible, as PostgreSQL allows them).
        rows: one tuple per row, values as the driver returned them (``Decimal`` for numeric,
            ``datetime.date`` for date, ``None`` for NULL); ``len(rows) == row_count``.
        sql: the SQL actually executed: the guard's rendering of the caller's statement,
            including the row cap it added (the citation an answer points to).
        row_count: number of rows in ``rows`` (at most the connector's default limit).
        truncated: True when the connector's row cap cut rows off, i.e. the statement would have
            returned more than ``row_count`` rows. A LIMIT the caller wrote themselves and that is
            at or below the cap does not count as truncation.
        duration_ms: wall-clock milliseconds spent executing the statement and fetching rows
            (connection set-up excluded).
    """

    columns: list[str]
    rows: list[tuple]
    sql: str
    row_count: int
    truncated: bool
    duration_ms: int

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as JSON-friendly dicts keyed by column name.

        ``Decimal`` -> ``float`` (display precision, not accounting precision), ``date`` /
        ``datetime`` / ``time`` -> ISO 8601 string, ``timedelta`` -> seconds (float), ``UUID`` ->
        string, bytes -> hex string; lists and dicts are converted recursively. A repeated column
        name gets a ``_2``, ``_3``... suffix so no value is silently lost.
        """
        keys: list[str] = []
        seen: dict[str, int] = {}
        for name in self.columns:
            n = seen.get(name, 0) + 1
            seen[name] = n
            keys.append(name if n == 1 else f"{name}_{n}")
        return [{k: _jsonable(v) for k, v in zip(keys, row)} for row in self.rows]


@runtime_checkable
class WarehouseConnector(Protocol):
    """A read-only SQL endpoint into one tenant's warehouse.

    Attributes:
        dialect: the engine's sqlglot dialect name (``"postgres"``, ``"duckdb"``): the semantic
            compiler writes SQL in it (``compile_query(..., dialect=connector.dialect)``) and the
            guard parses it in it.
        schema: the one schema the connector reads.
        statement_timeout_ms: limit per statement, milliseconds.
        default_limit: row cap of a result.
    """

    dialect: str
    schema: str
    statement_timeout_ms: int
    default_limit: int

    def connect(self) -> Any:
        """A new driver connection as the reader (read-only); the caller closes it.

        Raises:
            WarehouseUnavailable: the warehouse cannot be reached.
        """
        ...

    def connection_test(self) -> str:
        """Connect, run a trivial read and say what was found (one line, no secret).

        Raises:
            WarehouseUnavailable: the warehouse cannot be reached.
            WarehouseQueryError: the check failed or timed out.
        """
        ...

    def execute(self, sql: str, params: Sequence | Mapping | None = None) -> WarehouseResult:
        """Validate and run one SELECT; return at most the connector's default limit of rows.

        ``params`` are driver parameters for ``%s`` (sequence) or ``%(name)s`` (mapping)
        placeholders; with no params the text is sent as is.

        Raises:
            UnsafeSQL: the guard refused the statement.
            WarehouseUnavailable: the warehouse cannot be reached.
            WarehouseQueryError: the statement failed or timed out.
        """
        ...

    def describe_schema(self) -> list[dict[str, Any]]:
        """Tables, typed columns, primary/unique/foreign keys and row counts of the connector's
        schema, read with fixed catalog SQL as the reader role (onboarding; see
        :mod:`integrations.warehouse.introspect` and ``PostgresWarehouse.describe_schema`` for the
        dict shape).

        Raises:
            WarehouseUnavailable: the warehouse cannot be reached.
            WarehouseQueryError: a catalog statement failed or timed out.
        """
        ...

    def sample_values(
        self, table: str, column: str, *, max_values: int = 50, scan_rows: int = 200_000
    ) -> list[tuple[str, int]] | None:
        """Distinct values of ``table.column`` with row counts, most frequent first, or None when
        there are more than ``max_values`` (bounded fixed SQL; onboarding only).

        Raises:
            WarehouseUnavailable: the warehouse cannot be reached.
            WarehouseQueryError: the statement failed or timed out.
        """
        ...

    def sample_columns(
        self, columns: Iterable[tuple[str, str]], *, max_values: int = 50, scan_rows: int = 200_000
    ) -> dict[tuple[str, str], list[tuple[str, int]] | None]:
        """:meth:`sample_values` for many ``(table, column)`` pairs on one connection; a column
        whose statement fails or times out is left out of the result (onboarding only).

        Raises:
            ValueError: ``max_values`` or ``scan_rows`` below 1.
            WarehouseUnavailable: the warehouse cannot be reached.
        """
        ...


def sample_values_via_columns(
    connector: WarehouseConnector, table: str, column: str, *, max_values: int = 50, scan_rows: int = 200_000
) -> list[tuple[str, int]] | None:
    """:meth:`WarehouseConnector.sample_values` for engines whose ``sample_columns`` does the work
    (DuckDB, Firebolt): the one column's distinct values with counts, most frequent first, or None
    when there are more than ``max_values`` among the first ``scan_rows`` rows.

    Raises:
        WarehouseQueryError: the column is not readable (no such table or column, or its
            statement failed); ``ValueError`` / ``WarehouseUnavailable`` from ``sample_columns``.
    """
    found = connector.sample_columns([(table, column)], max_values=max_values, scan_rows=scan_rows)
    if (table, column) not in found:
        raise WarehouseQueryError(f"cannot sample {table}.{column}: no such readable column")
    return found[(table, column)]
