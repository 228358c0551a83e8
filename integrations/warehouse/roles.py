"""PostgreSQL identifiers and least-privilege login roles, shared by the warehouse reader role
(:mod:`integrations.warehouse.loader`) and the insights writer role (:mod:`actions.insights`).

Roles are cluster-wide while schemas live in one database, so role names embed the database
name (:func:`role_name`) and the dev database and pytest's per-process databases never share one.
Statements go through the raw psycopg connection (outside Django's query log) and passwords are
hashed client-side (SCRAM-SHA-256 via libpq), so the plain text is never sent or logged.
"""

from __future__ import annotations

import hashlib
import logging
import re

import psycopg
from django.db import connection, transaction
from psycopg import sql as pg_sql

logger = logging.getLogger(__name__)

MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_identifier(value: str, what: str) -> str:
    """Return ``value`` when it is a lower-case unquoted PostgreSQL identifier
    (``[a-z_][a-z0-9_]*``, at most 63 characters).

    Raises:
        ValueError: otherwise; the message starts with ``what`` (e.g. ``"schema"``).
    """
    if not isinstance(value, str) or not _IDENT.match(value) or len(value) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(
            f"{what} must be a lower-case PostgreSQL identifier ([a-z_][a-z0-9_]*, at most "
            f"{MAX_IDENTIFIER_LENGTH} characters), got {value!r}"
        )
    return value


def role_name(prefix: str, dbname: str, *parts: str) -> str:
    """A deterministic role name ``<prefix>_<dbname>_<part>_...``, a valid unquoted identifier.

    Lower-cased, every character outside ``[a-z0-9_]`` replaced by ``_``. When that sanitising
    changed anything, or the name would exceed 63 characters, the name is cut and gets ``_`` plus
    the first 8 hex digits of SHA-256 of ``"<dbname>/<part>/..."``, so distinct inputs keep
    distinct roles.

    Example: ``role_name("wh", "test_revops", "crm") == "wh_test_revops_crm"``.
    """
    raw = "_".join((prefix, dbname, *parts))
    clean = re.sub(r"[^a-z0-9_]", "_", raw.lower())
    if clean == raw and len(clean) <= MAX_IDENTIFIER_LENGTH:
        return clean
    digest = hashlib.sha256("/".join((dbname, *parts)).encode()).hexdigest()[:8]
    return f"{clean[: MAX_IDENTIFIER_LENGTH - 9]}_{digest}"


def tenant_schema_name(tenant_id: int, slug: str) -> str:
    """The warehouse schema the product creates for a tenant in its own database:
    ``wh_t<tenant id>_<slug>`` (lower-cased, other characters as ``_``, at most 63 characters).

    The id makes it unique: slugs such as ``acme-co`` and ``acme_co`` are distinct tenants but
    read the same once sanitised, and sharing a schema (and its reader role) would let one tenant
    overwrite and read the other's tables. Example: ``tenant_schema_name(7, "acme-co") == "wh_t7_acme_co"``.
    """
    return check_identifier((f"wh_t{int(tenant_id)}_" + re.sub(r"[^a-z0-9_]", "_", slug.lower()))[:MAX_IDENTIFIER_LENGTH], "schema")


def login_role_upsert(raw: psycopg.Connection, cur: psycopg.Cursor, *, role: str, password: str) -> str:
    """Create ``role`` (or alter it, since roles are cluster-wide) as ``LOGIN NOSUPERUSER
    NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`` with ``password``, grant it ``CONNECT``
    on the current database and revoke a direct ``CREATE`` on schema ``public``. Nothing else:
    the caller grants schema and table privileges.

    ``raw`` is the psycopg connection (for client-side hashing) and ``cur`` a cursor on it, in
    the caller's transaction; ``role`` must already be checked (:func:`check_identifier`).

    Returns:
        the current database name.

    Raises:
        psycopg.Error: the database refused a statement.
    """
    role_id = pg_sql.Identifier(role)
    dbname = cur.execute("SELECT current_database()").fetchone()[0]
    hashed = raw.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    exists = cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    cur.execute(
        pg_sql.SQL(
            "{} {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
        ).format(pg_sql.SQL("ALTER ROLE" if exists else "CREATE ROLE"), role_id, pg_sql.Literal(hashed))
    )
    cur.execute(pg_sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(pg_sql.Identifier(dbname), role_id))
    cur.execute(pg_sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(role_id))
    return dbname


def login_role_drop(cur: psycopg.Cursor, *, role: str) -> None:
    """Drop ``role`` when it exists, after ``DROP OWNED BY`` (which also revokes what it was
    granted in this database). A role still holding privileges in another database cannot be
    dropped: PostgreSQL raises ``DependentObjectsStillExist``.
    """
    if cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
        role_id = pg_sql.Identifier(role)
        cur.execute(pg_sql.SQL("DROP OWNED BY {}").format(role_id))
        cur.execute(pg_sql.SQL("DROP ROLE {}").format(role_id))


def reader_role_name(*, dbname: str, schema: str) -> str:
    """The reader role for ``schema`` in database ``dbname``: ``wh_<dbname>_<schema>``, made a
    valid identifier (and hash-suffixed when that changed it or it is too long) by
    :func:`integrations.warehouse.roles.role_name`.

    Example: ``reader_role_name(dbname="test_revops", schema="crm") == "wh_test_revops_crm"``.
    """
    return role_name("wh", dbname, schema)


def reader_grant(*, schema: str, reader_role: str, reader_password: str) -> None:
    """Create (or alter: roles are cluster-wide) ``reader_role`` as a read-only login and grant it
    ``USAGE`` on ``schema`` and ``SELECT`` on its tables, in the caller's transaction on Django's
    default connection (see :func:`warehouse_load_demo` for the exact privileges).

    Raises:
        ValueError: bad identifier or empty password.
        django.db.Error / psycopg.Error: the database refused a statement.
    """
    check_identifier(schema, "schema")
    check_identifier(reader_role, "reader_role")
    if not reader_password:
        raise ValueError("reader_password must not be empty")
    schema_id = pg_sql.Identifier(schema)
    role_id = pg_sql.Identifier(reader_role)
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor() as cur:
            login_role_upsert(raw, cur, role=reader_role, password=reader_password)
            cur.execute(pg_sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role_id))
            cur.execute(pg_sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role_id))
            cur.execute(pg_sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema_id, role_id))
            # login_role_upsert revoked a CREATE granted directly to the role; one it holds
            # through PUBLIC (PostgreSQL < 15 gives PUBLIC CREATE on schema public) cannot be
            # revoked without changing it for everybody: warn instead.
            can_create = cur.execute(
                "SELECT has_schema_privilege(%s, 'public', 'CREATE')", [reader_role]
            ).fetchone()[0]
            if can_create:
                logger.warning(
                    "role %s can create objects in schema public through PUBLIC; "
                    "run REVOKE CREATE ON SCHEMA public FROM PUBLIC to close that",
                    reader_role,
                )
