"""The tenant's insights table: a typed table the ``warehouse_write`` action inserts into, and the
login role that may INSERT into exactly that table and nothing else.

Never raw SQL from a model: the only statement is the fixed, parameterised INSERT below, with the
schema and table names composed as identifiers (``psycopg.sql.Identifier``).

Connection config is the tenant's ``warehouse_postgres`` credential named
``insights_writer`` (see :data:`INSIGHTS_CREDENTIAL_NAME`):

- ``config``: ``schema``, ``table``, ``user``; ``host``/``port``/``dbname`` or
  ``use_app_database: true`` (host, port and database of Django's default database);
- ``secrets``: ``password``.

:func:`insights_table_provision` creates the table, the role and the credential (run as Django's
database user, which must be allowed to create roles: the embedded server's superuser is);
``manage.py insights_setup --tenant SLUG`` calls it.
"""

from __future__ import annotations

import secrets as pysecrets
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import connection, transaction
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorKind
from integrations.selectors import credential_get
from integrations.services import credential_set
from integrations.warehouse.roles import check_identifier, login_role_drop, login_role_upsert, role_name
from integrations.warehouse.selectors import app_database, warehouse_location
from tenants.models import Tenant

INSIGHTS_CREDENTIAL_NAME = "insights_writer"
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 15_000

# The typed schema of an insight row (issue "Actions": category, type, title, description,
# score 0-1, source agent), plus the bookkeeping columns the writer fills.
INSIGHT_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    action_key   text PRIMARY KEY,
    run_id       uuid,
    category     text NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    type         text NOT NULL CHECK (length(type) BETWEEN 1 AND 64),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text NOT NULL CHECK (length(description) <= 4000),
    score        double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    source_agent text NOT NULL CHECK (length(source_agent) BETWEEN 1 AND 64),
    created_at   timestamptz NOT NULL DEFAULT now()
)
"""
WRITER_COLUMNS = ("action_key", "run_id", "category", "type", "title", "description", "score", "source_agent")

class InsightsUnavailable(Exception):
    """No usable insights table configuration (missing credential, key or secret)."""


def writer_role_name(*, dbname: str, schema: str, table: str) -> str:
    """Login role for one insights table: ``wi_<dbname>_<schema>_<table>`` sanitised, or cut and
    suffixed with 8 hex digits of SHA-256 when too long (roles are cluster-wide, so the
    database name keeps the dev database and pytest's per-process databases apart); see
    :func:`integrations.warehouse.roles.role_name`."""
    return role_name("wi", dbname, schema, table)


@dataclass(frozen=True)
class InsightsTable:
    """Where insights go and as whom; the password is kept out of ``repr``."""

    schema: str
    table: str
    user: str
    host: str = ""
    port: str = ""
    dbname: str = ""
    password: str = field(default="", repr=False)


def insights_table_get() -> InsightsTable:
    """The current tenant's insights table from its ``insights_writer`` credential.

    Raises:
        InsightsUnavailable: no credential, a missing config key, or undecryptable secrets.
        tenants.context.TenantNotSet: no tenant in context.
    """
    credential = credential_get(kind=ConnectorKind.WAREHOUSE_POSTGRES, name=INSIGHTS_CREDENTIAL_NAME)
    if credential is None:
        raise InsightsUnavailable("no insights table is configured for this tenant (credential 'insights_writer')")
    config: dict[str, Any] = credential.config or {}
    for key in ("schema", "table", "user"):
        if not config.get(key):
            raise InsightsUnavailable(f"the insights_writer credential is missing config key {key!r}")
    try:
        password = str(credential.secrets().get("password") or "")
    except SecretDecryptError:
        raise InsightsUnavailable("the insights_writer credential's secrets cannot be decrypted") from None
    location = warehouse_location(config)
    if location is None:
        raise InsightsUnavailable("the insights_writer credential is missing config key 'host'")
    return InsightsTable(schema=config["schema"], table=config["table"], user=config["user"], password=password, **location)


class InsightWriteError(Exception):
    """The insert failed. ``retryable``: a later attempt may pass (connection, timeout, lock)."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def insight_insert(*, where: InsightsTable, row: dict[str, Any]) -> bool:
    """Insert one insight row as the writer role; returns False when ``row["action_key"]`` was
    already written (a retried action), True when inserted.

    ``row`` holds exactly :data:`WRITER_COLUMNS` (``score`` a float 0..1, ``run_id`` a UUID
    string or None). The statement is ``INSERT ... ON CONFLICT DO NOTHING`` in its own
    transaction with a 15 s statement timeout; connecting waits at most 5 s.

    Raises:
        InsightWriteError: with ``retryable`` set for connection failures, timeouts, lock and
            serialization errors; unset for refused privileges, missing tables, check
            violations. Messages never carry the password.
    """
    kwargs = {
        "host": where.host or None,
        "port": where.port or None,
        "dbname": where.dbname or None,
        "user": where.user,
        "password": where.password or None,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": "revops-insights-writer",
    }
    statement = pg_sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        pg_sql.Identifier(where.schema, where.table),
        pg_sql.SQL(", ").join(pg_sql.Identifier(c) for c in WRITER_COLUMNS),
        pg_sql.SQL(", ").join(pg_sql.Placeholder() for _ in WRITER_COLUMNS),
    )
    failure: InsightWriteError | None = None
    try:
        conn = psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})
    except psycopg.Error as exc:
        reason = str(exc).replace(where.password, "********") if where.password else str(exc)
        failure = InsightWriteError(f"cannot connect to the insights database as {where.user!r}: {reason.strip()[:300]}", retryable=True)
    if failure is not None:
        raise failure
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            cur.execute(statement, [row[c] for c in WRITER_COLUMNS])
            inserted = cur.rowcount == 1
    except (pg_errors.QueryCanceled, pg_errors.LockNotAvailable, pg_errors.SerializationFailure, pg_errors.DeadlockDetected, psycopg.OperationalError) as exc:
        failure = InsightWriteError(f"the insert did not complete: {type(exc).__name__}", retryable=True)
    except psycopg.Error as exc:
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or type(exc).__name__
        failure = InsightWriteError(f"the database refused the insert: {primary}", retryable=False)
    finally:
        conn.close()
    if failure is not None:
        raise failure
    return inserted


def insights_table_create(*, schema: str, table: str, role: str, password: str) -> None:
    """Create (if missing) ``schema.table`` with the insight schema and the login ``role`` that
    may INSERT into exactly that table, in Django's database, in one transaction.

    The role (created, or altered since roles are cluster-wide) is ``LOGIN NOSUPERUSER
    NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`` with ``CONNECT`` on the database,
    ``USAGE`` on the schema and ``INSERT`` on the writer columns: no SELECT, UPDATE, DELETE,
    TRUNCATE, no other table, no CREATE. The password is hashed client-side (SCRAM-SHA-256).

    Raises:
        ValueError: a schema/table/role that is not a lower-case identifier, or an empty password.
        django.db.Error / psycopg.Error: the database refused a statement (nothing is kept).
    """
    check_identifier(schema, "schema")
    check_identifier(table, "table")
    check_identifier(role, "role")
    if not password:
        raise ValueError("password must not be empty")
    role_id = pg_sql.Identifier(role)
    table_id = pg_sql.Identifier(schema, table)
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor() as cur:
            cur.execute(pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg_sql.Identifier(schema)))
            cur.execute(pg_sql.SQL(INSIGHT_DDL).format(table=table_id))
            login_role_upsert(raw, cur, role=role, password=password)
            cur.execute(pg_sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(pg_sql.Identifier(schema), role_id))
            cur.execute(pg_sql.SQL("REVOKE ALL ON {} FROM {}").format(table_id, role_id))
            cur.execute(
                pg_sql.SQL("GRANT INSERT ({}) ON {} TO {}").format(
                    pg_sql.SQL(", ").join(pg_sql.Identifier(c) for c in WRITER_COLUMNS), table_id, role_id
                )
            )


def insights_credential_set(*, tenant: Tenant, schema: str, table: str, role: str, password: str) -> None:
    """Store ``tenant``'s ``insights_writer`` credential for a table in Django's database
    (``use_app_database: true``)."""
    credential_set(
        tenant=tenant,
        kind=ConnectorKind.WAREHOUSE_POSTGRES,
        name=INSIGHTS_CREDENTIAL_NAME,
        config={"schema": schema, "table": table, "user": role, "use_app_database": True},
        secrets={"password": password},
    )


def insights_table_provision(*, tenant: Tenant, schema: str, table: str = "insights") -> InsightsTable:
    """:func:`insights_table_create` with a derived role name (:func:`writer_role_name`) and a
    new random password, then :func:`insights_credential_set`. Idempotent."""
    role = writer_role_name(dbname=connection.settings_dict["NAME"], schema=schema, table=table)
    password = pysecrets.token_urlsafe(24)
    insights_table_create(schema=schema, table=table, role=role, password=password)
    insights_credential_set(tenant=tenant, schema=schema, table=table, role=role, password=password)
    return InsightsTable(schema=schema, table=table, user=role, password=password, **app_database())


def insights_table_drop(*, schema: str, table: str, role: str) -> None:
    """Drop ``schema.table`` and the writer ``role`` (missing ones skipped); for tests and teardown."""
    check_identifier(schema, "schema")
    check_identifier(table, "table")
    check_identifier(role, "role")
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cur:
            cur.execute(pg_sql.SQL("DROP TABLE IF EXISTS {}").format(pg_sql.Identifier(schema, table)))
            login_role_drop(cur, role=role)
