"""Load the demo CRM CSVs into a warehouse schema and create its read-only reader role.

A use of the CSV import (:mod:`integrations.warehouse.importer`) with the demo's column types
fixed (:data:`DEMO_TABLES`) instead of inferred. Runs as Django's default database user (a
superuser for the embedded database). The data is loaded exactly as published (see
``demo_crm/PROVENANCE.md``): ``GTXPro``, ``technolgy`` and the opportunities without an account
stay; only two conversions happen: an empty field becomes NULL and a US date ``M/D/YYYY`` becomes
a ``date``.

Roles are cluster-wide while schemas live in one database: derive the role name with
:func:`reader_role_name` so the dev database and pytest's ``test_revops`` never share a role.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import connection, transaction
from psycopg import sql as pg_sql

from integrations.warehouse.importer import WarehouseImportError, import_files_read, import_tables_load_postgres
from integrations.warehouse.roles import check_identifier, login_role_drop, reader_grant, reader_role_name

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

# PostgreSQL type of DEMO_TABLES -> the importer's column type.
_IMPORT_TYPES = {"integer": "integer", "numeric": "decimal", "text": "text", "date": "date"}


def demo_column_types() -> dict[str, list[tuple[str, str]]]:
    """:data:`DEMO_TABLES` as the importer's fixed column types (``{table: [(column, type)]}``)."""
    return {table: [(name, _IMPORT_TYPES[pg_type]) for name, pg_type in cols] for table, cols in DEMO_TABLES.items()}


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

    try:
        tables = import_files_read([csv_dir / f"{table}.csv" for table in DEMO_TABLES], column_types=demo_column_types())
    except WarehouseImportError as exc:
        raise ValueError(str(exc)) from None
    with transaction.atomic():
        try:
            counts = import_tables_load_postgres(schema=schema, tables=tables, replace_schema=True)
        except WarehouseImportError as exc:
            raise ValueError(str(exc)) from None
        reader_grant(schema=schema, reader_role=reader_role, reader_password=reader_password)
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
