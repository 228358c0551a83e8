"""Load the demo CRM CSVs into a warehouse schema and create its read-only reader role.

Runs as Django's default database user (a superuser for the embedded database). The data is
loaded exactly as published (see ``demo_crm/PROVENANCE.md``): ``GTXPro``, ``technolgy`` and the
opportunities without an account stay; only two conversions happen: an empty field becomes NULL
and a US date ``M/D/YYYY`` becomes a ``date``.

Roles are cluster-wide while schemas live in one database: derive the role name with
:func:`reader_role_name` so the dev database and pytest's ``test_revops`` never share a role.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
from pathlib import Path

from django.db import connection, transaction
from psycopg import sql as pg_sql

from integrations.warehouse.roles import check_identifier, login_role_drop, login_role_upsert, role_name

logger = logging.getLogger(__name__)

DEMO_CSV_DIR = Path(__file__).resolve().parent / "demo_crm"

# file stem -> [(column, PostgreSQL type)], in CSV order; the CSV header must match (case-folded).
DEMO_TABLES: dict[str, list[tuple[str, str]]] = {
    "accounts": [
        ("account_id", "integer"),
        ("account", "text"),
        ("sector", "text"),
        ("year_established", "integer"),
        ("revenue", "numeric"),  # USD millions
        ("employees", "integer"),
        ("office_location", "text"),
        ("subsidiary_of", "text"),
        ("propensity_to_buy", "numeric"),  # probability 0..1
    ],
    "products": [
        ("product_id", "integer"),
        ("product", "text"),
        ("series", "text"),
        ("sales_price", "numeric"),  # USD
    ],
    "sales_teams": [
        ("sales_person_id", "integer"),
        ("sales_agent", "text"),
        ("manager", "text"),
        ("regional_office", "text"),
    ],
    "sales_pipeline": [
        ("opportunity_id", "text"),
        ("account_id", "integer"),
        ("sales_agent", "text"),
        ("product_id", "integer"),
        ("product", "text"),
        ("account", "text"),
        ("deal_stage", "text"),
        ("engage_date", "date"),
        ("close_date", "date"),
        ("close_value", "numeric"),  # USD
    ],
    "interactions": [
        ("account_id", "integer"),
        ("account_name", "text"),
        ("contact_name", "text"),
        ("activity_type", "text"),
        ("status", "text"),
        ("timestamp", "date"),  # original name kept: quote it as "timestamp" in SQL
        ("comment", "text"),
    ],
    "data_dictionary": [
        ("table", "text"),  # original name kept: quote it as "table" in SQL
        ("field", "text"),
        ("description", "text"),
    ],
}

_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def reader_role_name(*, dbname: str, schema: str) -> str:
    """The reader role for ``schema`` in database ``dbname``: ``wh_<dbname>_<schema>``, made a
    valid identifier (and hash-suffixed when that changed it or it is too long) by
    :func:`integrations.warehouse.roles.role_name`.

    Example: ``reader_role_name(dbname="test_revops", schema="crm") == "wh_test_revops_crm"``.
    """
    return role_name("wh", dbname, schema)


def _cell(value: str, pg_type: str) -> object:
    """One CSV field as loaded: '' -> NULL, M/D/YYYY -> date, anything else verbatim text."""
    if value == "":
        return None
    if pg_type == "date":
        m = _US_DATE.match(value)
        if not m:
            raise ValueError(f"expected a M/D/YYYY date, got {value!r}")
        month, day, year = (int(g) for g in m.groups())
        return dt.date(year, month, day)
    return value  # PostgreSQL parses integer/numeric text itself, exactly


def _read_rows(path: Path, columns: list[tuple[str, str]]):
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        expected = [name for name, _ in columns]
        if header != expected:
            raise ValueError(f"{path.name}: expected columns {expected}, found {header}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(columns):
                raise ValueError(f"{path.name} record {line_no}: {len(row)} fields, expected {len(columns)}")
            yield [_cell(value, pg_type) for value, (_, pg_type) in zip(row, columns)]


def warehouse_load_demo(
    *,
    schema: str,
    reader_role: str,
    reader_password: str,
    csv_dir: Path = DEMO_CSV_DIR,
) -> dict[str, int]:
    """(Re)create ``schema`` from the demo CSVs and grant ``reader_role`` read access to it.

    In one transaction on Django's default connection: ``DROP SCHEMA IF EXISTS ... CASCADE``,
    ``CREATE SCHEMA``, one typed table per file of :data:`DEMO_TABLES` filled with ``COPY``,
    then the reader role: created, or altered when it exists (roles are cluster-wide), as
    ``LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`` with
    ``default_transaction_read_only = on``, ``CONNECT`` on the current database, ``USAGE`` on the
    schema and ``SELECT`` on its tables, nothing else. Idempotent: run it again to reload.

    The password is hashed client-side (SCRAM-SHA-256 via libpq) so the plain text is never
    sent or logged; the statements go through the raw psycopg connection, outside Django's
    query log.

    Args:
        schema: lower-case identifier of the schema to (re)create.
        reader_role: lower-case identifier of the login role (see :func:`reader_role_name`).
        reader_password: the role's password (non-empty).
        csv_dir: directory holding ``<table>.csv`` for every table of :data:`DEMO_TABLES`.

    Returns:
        ``{table: rows loaded}``, e.g. ``{"accounts": 85, ..., "sales_pipeline": 8800}``.

    Raises:
        ValueError: bad identifier, empty password, or a CSV whose header / shape differs.
        FileNotFoundError: a CSV is missing.
        django.db.Error / psycopg.Error: the database refused a statement (nothing is kept).
    """
    check_identifier(schema, "schema")
    check_identifier(reader_role, "reader_role")
    if not reader_password:
        raise ValueError("reader_password must not be empty")
    csv_dir = Path(csv_dir)
    for table in DEMO_TABLES:
        if not (csv_dir / f"{table}.csv").is_file():
            raise FileNotFoundError(f"missing demo CSV {csv_dir / f'{table}.csv'}")

    schema_id = pg_sql.Identifier(schema)
    role_id = pg_sql.Identifier(reader_role)
    counts: dict[str, int] = {}
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection  # psycopg connection, in the atomic block's transaction
        with raw.cursor() as cur:
            cur.execute(pg_sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema_id))
            cur.execute(pg_sql.SQL("CREATE SCHEMA {}").format(schema_id))
            for table, columns in DEMO_TABLES.items():
                table_id = pg_sql.Identifier(schema, table)
                column_ids = [pg_sql.Identifier(name) for name, _ in columns]
                ddl = pg_sql.SQL("CREATE TABLE {} ({})").format(
                    table_id,
                    pg_sql.SQL(", ").join(
                        pg_sql.SQL("{} {}").format(pg_sql.Identifier(name), pg_sql.SQL(pg_type))
                        for name, pg_type in columns
                    ),
                )
                cur.execute(ddl)
                copy_sql = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(table_id, pg_sql.SQL(", ").join(column_ids))
                n = 0
                with cur.copy(copy_sql) as copy:
                    for row in _read_rows(csv_dir / f"{table}.csv", columns):
                        copy.write_row(row)
                        n += 1
                counts[table] = n

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
    logger.info("loaded demo CRM into schema %s: %s", schema, counts)
    return counts


def warehouse_drop(*, schema: str, reader_role: str) -> None:
    """Drop ``schema`` (CASCADE) and the ``reader_role`` login role; missing ones are skipped.

    ``DROP OWNED BY`` first revokes what the role was granted in this database (including
    ``CONNECT``). A role that still holds privileges in another database cannot be dropped:
    PostgreSQL raises ``DependentObjectsStillExist`` and nothing is changed.

    Raises:
        ValueError: bad identifier.
        django.db.Error / psycopg.Error: the database refused a statement.
    """
    check_identifier(schema, "schema")
    check_identifier(reader_role, "reader_role")
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cur:
            cur.execute(pg_sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pg_sql.Identifier(schema)))
            login_role_drop(cur, role=reader_role)
