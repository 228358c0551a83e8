"""Load CSV and Parquet files into a tenant's warehouse: one table per file, types inferred.

Used by ``manage.py warehouse_import``, the admin upload page (:mod:`integrations.admin_import`)
and the demo loader (:func:`integrations.warehouse.loader.warehouse_load_demo`). Three steps:

1. :func:`import_files_read` reads every file and infers each column's type (nothing is written);
   a bad row is reported with its file, row number and value
   (``sales_pipeline.csv row 17: close_value 'abc' is not a number``);
2. :func:`import_tables_load_duckdb` / :func:`import_tables_load_postgres` write the tables in
   one transaction: all files or none; a table of the same name is replaced, other tables stay;
3. :func:`warehouse_import` does both for a tenant, creating and connecting its warehouse when it
   has none (a DuckDB file by default, or a schema of the app's PostgreSQL database with a
   read-only reader role).

**Type inference** (CSV; Parquet files carry their own types). An empty field is NULL. A column's
type is the first of ``boolean`` (true/false/yes/no, any case), ``integer`` (``-12``; a number
with a leading zero such as ``007`` stays text: it is a code; so for decimals), ``decimal`` (``1223.72``,
``-0.5``), ``date`` (``M/D/YYYY`` as the demo CSVs write it, or ISO ``YYYY-MM-DD``) and
``timestamp`` (ISO ``YYYY-MM-DD HH:MM[:SS[.ffffff]]``, ``T`` allowed) that every non-empty value
matches; otherwise ``text``. When at least :data:`TYPED_SHARE` (98%) of at least
:data:`TYPED_MIN_VALUES` (20) non-empty values match a type, the column gets that type and the
others are reported as bad rows rather than silently turning the column into text. Row numbers
count the header as row 1, as a spreadsheet shows them. Column and table names are folded to
lower-case identifiers (``Close Value`` -> ``close_value``; file ``Sales Pipeline.csv`` ->
table ``sales_pipeline``).

Storage types: integer -> ``integer`` (``bigint`` beyond 32 bits) in PostgreSQL, ``BIGINT`` in
DuckDB; decimal -> ``numeric`` in PostgreSQL, ``DECIMAL(18, s)`` in DuckDB with ``s`` the most
decimals seen (``DOUBLE`` when a value needs more than 18 digits or 10 decimals: DuckDB's
fixed-point limit, DuckDB documentation "Numeric Types"); date, timestamp, boolean, text as named.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import secrets as secrets_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import duckdb
from django.db import DatabaseError, connection, transaction
from psycopg import sql as pg_sql

from integrations.models import ConnectorKind
from integrations.services import credential_set
from integrations.warehouse.duckdb_engine import duckdb_path_for
from integrations.warehouse.roles import check_identifier, reader_grant, reader_role_name, tenant_schema_name
from integrations.warehouse.selectors import warehouse_credential_for_tenant, warehouse_location
from tenants.context import tenant_context

logger = logging.getLogger(__name__)

ColumnType = Literal["boolean", "integer", "decimal", "double", "date", "timestamp", "text"]
COLUMN_TYPES: tuple[str, ...] = ("boolean", "integer", "decimal", "double", "date", "timestamp", "text")
ENGINES = ("duckdb", "postgres")
FILE_SUFFIXES = (".csv", ".parquet")

TYPED_SHARE = 0.98  # share of non-empty values that must match a type for misfits to be errors
TYPED_MIN_VALUES = 20  # ... among at least this many non-empty values
MAX_ERRORS = 20  # bad-row messages reported per import (the rest are counted)
PREVIEW_ROWS = 5

_INT = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")
_DEC = re.compile(r"^[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ISO_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")
_BOOL = {"true": True, "false": False, "yes": True, "no": False}
_IDENT_MAX = 63
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

# What a misfit is told, per type.
_EXPECTED = {
    "boolean": "is not true/false",
    "integer": "is not a whole number",
    "decimal": "is not a number",
    "double": "is not a number",
    "date": "is not a date (M/D/YYYY or YYYY-MM-DD)",
    "timestamp": "is not a timestamp (YYYY-MM-DD HH:MM:SS)",
}


class WarehouseImportError(ValueError):
    """The files cannot be imported; nothing was written.

    ``errors``: one message per problem (``"deals.csv row 17: close_value 'abc' is not a
    number"``), at most :data:`MAX_ERRORS` plus a final ``"... and N more"``.
    """

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors) if len(self.errors) <= 3 else "\n".join(self.errors))


@dataclass(frozen=True)
class ImportColumn:
    """One column: ``name`` (identifier), ``source`` (header as written), ``type`` and, for a
    decimal, the most decimals seen (``scale``) and the most digits (``precision``)."""

    name: str
    source: str
    type: str
    scale: int = 0
    precision: int = 0

    def postgres_type(self, values: Sequence[Any] = ()) -> str:
        """The PostgreSQL column type (see the module notes)."""
        if self.type == "integer":
            fits32 = all(not isinstance(v, int) or _INT32[0] <= v <= _INT32[1] for v in values)
            return "integer" if fits32 else "bigint"
        return {"decimal": "numeric", "double": "double precision", "boolean": "boolean", "date": "date",
                "timestamp": "timestamp", "text": "text"}[self.type]

    def duckdb_type(self) -> str:
        """The DuckDB column type (see the module notes)."""
        if self.type == "decimal":
            if self.precision <= 18 and self.scale <= 10:
                return f"DECIMAL(18, {self.scale})"
            return "DOUBLE"
        return {"integer": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
                "timestamp": "TIMESTAMP", "text": "VARCHAR"}[self.type]


@dataclass
class ImportTable:
    """One file read and typed: ``rows`` hold Python values (int, Decimal, float, date, datetime,
    bool, str or None) in column order."""

    name: str
    path: Path
    columns: list[ImportColumn]
    rows: list[tuple]

    @property
    def row_count(self) -> int:
        """Number of data rows."""
        return len(self.rows)

    def preview(self, limit: int = PREVIEW_ROWS) -> list[tuple]:
        """The first ``limit`` rows."""
        return self.rows[:limit]


@dataclass
class ImportReport:
    """What :func:`warehouse_import` did (or, with ``dry_run``, would do)."""

    engine: str
    schema: str
    tables: list[ImportTable]
    dry_run: bool = False
    created_warehouse: bool = False
    location: str = ""
    notes: list[str] = field(default_factory=list)

    def next_step(self, tenant_slug: str) -> str:
        """The command an operator runs next."""
        return f"manage.py semantic_model_draft --tenant {tenant_slug}"


# --- names ----------------------------------------------------------------------------------------


def identifier_from(text: str, *, fallback: str) -> str:
    """``text`` folded to a lower-case identifier: other characters become ``_``, a leading digit
    gets a ``c_`` prefix, at most 63 characters; ``fallback`` when nothing is left."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_")
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"c_{name}"
    return name[:_IDENT_MAX]


def _column_names(header: Sequence[str]) -> list[str]:
    names: list[str] = []
    for i, raw in enumerate(header, start=1):
        name = identifier_from(raw, fallback=f"column_{i}")
        base, n = name, 2
        while name in names:
            name = f"{base[: _IDENT_MAX - len(str(n)) - 1]}_{n}"
            n += 1
        names.append(name)
    return names


# --- values ---------------------------------------------------------------------------------------


def _parse(value: str, kind: str) -> Any:
    """``value`` (non-empty) as ``kind``; raises ValueError when it is not one."""
    v = value.strip()
    if kind == "text":
        return value
    if kind == "boolean":
        b = _BOOL.get(v.lower())
        if b is None:
            raise ValueError
        return b
    if kind == "integer":
        if not _INT.match(v):
            raise ValueError
        n = int(v)
        if not _INT64[0] <= n <= _INT64[1]:
            raise ValueError
        return n
    if kind in ("decimal", "double"):
        if not _DEC.match(v):
            raise ValueError
        try:
            return Decimal(v) if kind == "decimal" else float(v)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise ValueError from None
    if kind == "date":
        m = _US_DATE.match(v)
        if m:
            month, day, year = (int(g) for g in m.groups())
            return dt.date(year, month, day)
        m = _ISO_DATE.match(v)
        if m:
            return dt.date(*(int(g) for g in m.groups()))
        raise ValueError
    if kind == "timestamp":
        m = _ISO_TS.match(v)
        if m:
            y, mo, d, h, mi, s, frac = m.groups()
            return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), int((frac or "0").ljust(6, "0")))
        m = _ISO_DATE.match(v)
        if m:
            return dt.datetime(*(int(g) for g in m.groups()))
        raise ValueError
    raise ValueError(f"unknown column type {kind!r}")


def _fits(value: str, kind: str) -> bool:
    try:
        _parse(value, kind)
    except ValueError:
        return False
    return True


_CANDIDATES = ("boolean", "integer", "decimal", "date", "timestamp")


def infer_type(values: Iterable[str]) -> str:
    """The type of a column of raw CSV fields (empty fields ignored), by the rule in the module
    notes: the first candidate every value fits, else one at least 98% of >= 20 values fit,
    else ``text``."""
    present = [v for v in values if v != ""]
    if not present:
        return "text"
    best: tuple[str, float] | None = None
    for kind in _CANDIDATES:
        fit = sum(1 for v in present if _fits(v, kind))
        if fit == len(present):
            return kind
        share = fit / len(present)
        if len(present) >= TYPED_MIN_VALUES and share >= TYPED_SHARE and (best is None or share > best[1]):
            best = (kind, share)
    return best[0] if best else "text"


def _decimal_shape(values: Iterable[Any]) -> tuple[int, int]:
    """(precision, scale) large enough for every Decimal in ``values``."""
    precision = scale = 0
    for v in values:
        if isinstance(v, Decimal):
            sign, digits, exponent = v.as_tuple()
            s = max(0, -int(exponent))
            whole = max(1, len(digits) + int(exponent))
            scale = max(scale, s)
            precision = max(precision, whole + scale)
    return precision, scale


# --- reading --------------------------------------------------------------------------------------


def import_files_collect(paths: Iterable[str | Path]) -> list[Path]:
    """The files to import: each path that is a ``.csv`` / ``.parquet`` file, and the files with
    those suffixes directly inside each directory (sorted by name).

    Raises:
        WarehouseImportError: a path does not exist, has another suffix, a folder holds no such
            file, or two files would make the same table.
    """
    errors: list[str] = []
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
            if not found:
                errors.append(f"{path}: the folder holds no .csv or .parquet file")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in FILE_SUFFIXES:
                errors.append(f"{path.name}: only .csv and .parquet files can be imported")
            else:
                files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    seen: dict[str, Path] = {}
    for path in files:
        table = identifier_from(path.stem, fallback="table")
        if table in seen:
            errors.append(f"{path.name} and {seen[table].name} would both load table {table!r}; rename one")
        seen[table] = path
    if not files and not errors:
        errors.append("no file to import")
    if errors:
        raise WarehouseImportError(errors)
    return files


def import_files_read(
    paths: Iterable[str | Path],
    *,
    column_types: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    table_names: Mapping[str, str] | None = None,
) -> list[ImportTable]:
    """Read and type every file (see the module notes); nothing is written.

    Args:
        paths: files and folders (:func:`import_files_collect`).
        column_types: ``{table: [(column, type), ...]}`` fixing a table's columns in file order
            (types from :data:`COLUMN_TYPES`): the header must list exactly those columns and
            every value must fit (the demo loader uses this).
        table_names: ``{file name: table}`` to load a file under another table name (the admin
            upload keeps the uploaded file's name this way).

    Returns:
        one :class:`ImportTable` per file, in file order.

    Raises:
        WarehouseImportError: every problem found, file by file (bad rows with row number and
            value, wrong field counts, unreadable files), up to :data:`MAX_ERRORS`.
    """
    files = import_files_collect(paths)
    errors: list[str] = []
    tables: list[ImportTable] = []
    if table_names:  # renamed files (the admin upload) may clash only after renaming
        targets: dict[str, str] = {}
        for path in files:
            name = table_names.get(path.name) or identifier_from(path.stem, fallback="table")
            if name in targets:
                raise WarehouseImportError([f"two files would both load table {name!r} ({targets[name]} and {path.name}); rename one"])
            targets[name] = path.name
    for path in files:
        name = (table_names or {}).get(path.name) or identifier_from(path.stem, fallback="table")
        fixed = (column_types or {}).get(name)
        try:
            if path.suffix.lower() == ".parquet":
                table = _read_parquet(path, name)
            else:
                table = _read_csv(path, name, fixed, errors)
        except WarehouseImportError as exc:
            errors.extend(exc.errors)
            continue
        if table is not None:
            tables.append(table)
    if errors:
        shown = errors[:MAX_ERRORS]
        if len(errors) > MAX_ERRORS:
            shown.append(f"... and {len(errors) - MAX_ERRORS} more problem(s)")
        raise WarehouseImportError(shown)
    return tables


def _read_csv(path: Path, name: str, fixed: Sequence[tuple[str, str]] | None, errors: list[str]) -> ImportTable | None:
    label = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            records = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise WarehouseImportError([f"{label}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV"]) from None
    except csv.Error as exc:
        raise WarehouseImportError([f"{label}: not a readable CSV file ({exc})"]) from None
    except OSError as exc:  # permissions, a file removed meanwhile, an I/O error
        raise WarehouseImportError([f"{label}: cannot be read ({exc.strerror or type(exc).__name__})"]) from None
    if not records or not any(h.strip() for h in records[0]):
        raise WarehouseImportError([f"{label}: the file is empty (a header row is needed)"])
    header = records[0]
    names = _column_names(header)
    body = records[1:]
    width = len(names)
    good_rows: list[tuple[int, list[str]]] = []
    for row_no, record in enumerate(body, start=2):
        if not record or (len(record) == 1 and record[0] == "" and width > 1):
            continue  # a blank line
        if len(record) != width:
            errors.append(f"{label} row {row_no}: {len(record)} fields, expected {width} ({', '.join(names)})")
            continue
        good_rows.append((row_no, record))
    if fixed is not None:
        expected = [c for c, _ in fixed]
        if names != expected:
            raise WarehouseImportError([f"{label}: expected columns {expected}, found {names}"])
        types = [t for _, t in fixed]
        for t in types:
            if t not in COLUMN_TYPES:
                raise ValueError(f"unknown column type {t!r}; one of: {', '.join(COLUMN_TYPES)}")
    else:
        types = [infer_type(record[i] for _, record in good_rows) for i in range(width)]
    rows: list[tuple] = []
    for row_no, record in good_rows:
        out: list[Any] = []
        bad = False
        for value, col, kind in zip(record, names, types):
            if value == "":
                out.append(None)
                continue
            try:
                out.append(_parse(value, kind))
            except ValueError:
                expected = _EXPECTED.get(kind, "is not valid")
                if kind == "integer" and not _DEC.match(value.strip()):
                    expected = "is not a number"
                errors.append(f"{label} row {row_no}: {col} {value!r} {expected}")
                bad = True
                out.append(None)
        if not bad:
            rows.append(tuple(out))
    columns = []
    for i, (col, src, kind) in enumerate(zip(names, header, types)):
        precision, scale = _decimal_shape(r[i] for r in rows) if kind == "decimal" else (0, 0)
        columns.append(ImportColumn(name=col, source=src, type=kind, scale=scale, precision=precision))
    return ImportTable(name=name, path=path, columns=columns, rows=rows)


def _parquet_type(duck_type: str) -> tuple[str, int, int]:
    t = duck_type.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"):
        return "integer", 0, 0
    m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        return "decimal", int(m.group(1)), int(m.group(2))
    if t in ("DOUBLE", "FLOAT", "REAL", "HUGEINT", "UBIGINT"):
        return "double", 0, 0
    if t == "DATE":
        return "date", 0, 0
    if t.startswith("TIMESTAMP"):
        return "timestamp", 0, 0
    if t == "BOOLEAN":
        return "boolean", 0, 0
    return "text", 0, 0


def _read_parquet(path: Path, name: str) -> ImportTable:
    """A Parquet file read with DuckDB's own reader (column types from the file)."""
    conn = duckdb.connect()  # in memory, product side: reading the uploaded file is the point
    try:
        described = conn.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()
        raw_rows = conn.execute("SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise WarehouseImportError([f"{path.name}: not a readable Parquet file ({_first_line(exc)})"]) from None
    finally:
        conn.close()
    names = _column_names([str(d[0]) for d in described])
    columns: list[ImportColumn] = []
    kinds: list[str] = []
    for col, d in zip(names, described):
        kind, precision, scale = _parquet_type(str(d[1]))
        kinds.append(kind)
        columns.append(ImportColumn(name=col, source=str(d[0]), type=kind, scale=scale, precision=precision))
    rows = [tuple(None if v is None else (str(v) if kind == "text" else v) for v, kind in zip(r, kinds)) for r in raw_rows]
    return ImportTable(name=name, path=path, columns=columns, rows=rows)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- writing: DuckDB --------------------------------------------------------------------------------


def import_tables_load_duckdb(*, path: Path, schema: str, tables: Sequence[ImportTable]) -> dict[str, int]:
    """Write ``tables`` into the DuckDB file ``path`` (created when missing) under ``schema``, in
    one transaction: ``CREATE OR REPLACE TABLE`` per table, rows inserted with ``unnest`` over
    typed lists. Nothing is kept when anything fails.

    Returns:
        ``{table: rows}``.

    Raises:
        WarehouseImportError: the file is busy (another process or connection has it open) or
            DuckDB refused a statement; nothing was written.
        ValueError: ``schema`` or a table name is not an identifier.
    """

    check_identifier(schema, "schema")
    for t in tables:
        check_identifier(t.name, "table")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise WarehouseImportError([f"cannot open the DuckDB warehouse {path.name} for writing (it may be in use): {_first_line(exc)}"]) from None
    counts: dict[str, int] = {}
    try:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        for t in tables:
            target = f"{_quote(schema)}.{_quote(t.name)}"
            col_types = [c.duckdb_type() for c in t.columns]
            ddl = ", ".join(f"{_quote(c.name)} {ty}" for c, ty in zip(t.columns, col_types))
            conn.execute(f"CREATE OR REPLACE TABLE {target} ({ddl})")
            if t.rows:
                lists = {f"c{i}": [row[i] for row in t.rows] for i in range(len(t.columns))}
                select = ", ".join(f"unnest($c{i}::{ty}[])" for i, ty in enumerate(col_types))
                conn.execute(f"INSERT INTO {target} SELECT {select}", lists)
            counts[t.name] = t.row_count
        conn.execute("COMMIT")
    except duckdb.Error as exc:
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise WarehouseImportError([f"DuckDB refused the import: {_first_line(exc)}"]) from None
    finally:
        conn.close()
    logger.info("imported into DuckDB %s schema %s: %s", path.name, schema, counts)
    return counts


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().split("\n", 1)[0] or type(exc).__name__)[:300]


# --- writing: PostgreSQL ----------------------------------------------------------------------------


#: A text column whose longest value has at least this many characters gets a pg_trgm GIN index
#: when imported into PostgreSQL: call notes and comments, searched with the semantic ``contains``
#: filter, which compiles to ``ILIKE '%word%'`` (agents/semantic/compiler.py); a trigram index
#: serves ILIKE with a leading wildcard, a b-tree cannot. Names, sectors and ids stay unindexed.
TRIGRAM_MIN_CHARS = 80


def long_text_columns(table: ImportTable) -> list[str]:
    """Names of ``table``'s text columns whose longest value has at least :data:`TRIGRAM_MIN_CHARS`
    characters (the columns :func:`import_tables_load_postgres` gives a trigram index)."""
    out = []
    for i, column in enumerate(table.columns):
        if column.type == "text" and max((len(r[i]) for r in table.rows if isinstance(r[i], str)), default=0) >= TRIGRAM_MIN_CHARS:
            out.append(column.name)
    return out


def _pg_trgm_schema(cur) -> str | None:
    """The schema holding the ``pg_trgm`` extension in this database, after
    ``CREATE EXTENSION IF NOT EXISTS pg_trgm`` (a trusted extension since PostgreSQL 13: the
    database owner may create it) in a savepoint; None when the server does not ship it or the
    user may not create it (the import then goes on without trigram indexes)."""
    import psycopg

    found = cur.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    ).fetchone()
    if found:
        return found[0]
    if not cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone():
        logger.info("pg_trgm is not available on this server: no trigram indexes")
        return None
    cur.execute("SAVEPOINT revops_pg_trgm")
    try:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except psycopg.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT revops_pg_trgm")
        logger.info("pg_trgm could not be created (%s): no trigram indexes", _first_line(exc))
        return None
    cur.execute("RELEASE SAVEPOINT revops_pg_trgm")
    return _pg_trgm_schema(cur)


def import_tables_load_postgres(
    *, schema: str, tables: Sequence[ImportTable], reader_role: str | None = None, replace_schema: bool = False
) -> dict[str, int]:
    """Write ``tables`` into ``schema`` of Django's default database (as its user), in one
    transaction: ``DROP SCHEMA ... CASCADE`` first when ``replace_schema``, else
    ``CREATE SCHEMA IF NOT EXISTS`` and ``DROP TABLE IF EXISTS`` per table; ``CREATE TABLE`` and
    ``COPY`` per table; ``SELECT`` on each table granted to ``reader_role`` when given (the role
    must exist and hold ``USAGE`` on the schema); a pg_trgm GIN index on each long text column
    (:func:`long_text_columns`, when pg_trgm is or can be installed) and ``ANALYZE`` per table.
    Nothing is kept when anything fails.

    Returns:
        ``{table: rows}``.

    Raises:
        ValueError: a bad identifier.
        WarehouseImportError: the database refused a statement; nothing was written.
    """
    import psycopg

    check_identifier(schema, "schema")
    if reader_role is not None:
        check_identifier(reader_role, "reader_role")
    for t in tables:
        check_identifier(t.name, "table")
    schema_id = pg_sql.Identifier(schema)
    counts: dict[str, int] = {}
    try:
        with transaction.atomic():
            connection.ensure_connection()
            raw = connection.connection
            with raw.cursor() as cur:
                if replace_schema:
                    cur.execute(pg_sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema_id))
                cur.execute(pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_id))
                for t in tables:
                    table_id = pg_sql.Identifier(schema, t.name)
                    cur.execute(pg_sql.SQL("DROP TABLE IF EXISTS {}").format(table_id))
                    cols = pg_sql.SQL(", ").join(
                        pg_sql.SQL("{} {}").format(pg_sql.Identifier(c.name), pg_sql.SQL(c.postgres_type([r[i] for r in t.rows])))
                        for i, c in enumerate(t.columns)
                    )
                    cur.execute(pg_sql.SQL("CREATE TABLE {} ({})").format(table_id, cols))
                    copy_sql = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
                        table_id, pg_sql.SQL(", ").join(pg_sql.Identifier(c.name) for c in t.columns)
                    )
                    with cur.copy(copy_sql) as copy:
                        for row in t.rows:
                            copy.write_row(row)
                    if reader_role is not None:
                        cur.execute(pg_sql.SQL("GRANT SELECT ON {} TO {}").format(table_id, pg_sql.Identifier(reader_role)))
                    counts[t.name] = t.row_count
                trigram = _pg_trgm_schema(cur)
                for t in tables:
                    table_id = pg_sql.Identifier(schema, t.name)
                    for column in long_text_columns(t) if trigram else []:
                        cur.execute(pg_sql.SQL("CREATE INDEX ON {} USING gin ({} {}.gin_trgm_ops)").format(
                            table_id, pg_sql.Identifier(column), pg_sql.Identifier(trigram)))
                    cur.execute(pg_sql.SQL("ANALYZE {}").format(table_id))  # the planner's statistics now, not at autovacuum's leisure
    except (DatabaseError, psycopg.Error) as exc:
        raise WarehouseImportError([f"PostgreSQL refused the import: {_first_line(exc)}"]) from None
    logger.info("imported into PostgreSQL schema %s: %s", schema, counts)
    return counts


# --- the service ------------------------------------------------------------------------------------


def _duckdb_path(tenant) -> Path:
    """The tenant's DuckDB file; a slug that cannot name one is a :class:`WarehouseImportError`."""
    try:
        return duckdb_path_for(tenant.slug)
    except ValueError as exc:
        raise WarehouseImportError([f"tenant {tenant.slug!r}: {exc}"]) from None


def warehouse_import(
    *,
    tenant: Any,
    paths: Iterable[str | Path],
    engine: str | None = None,
    schema: str | None = None,
    dry_run: bool = False,
    table_names: Mapping[str, str] | None = None,
) -> ImportReport:
    """Import CSV/Parquet files into ``tenant``'s warehouse, creating and connecting it when the
    tenant has none.

    Which warehouse:

    - the tenant has a ``warehouse_duckdb`` credential: its file and schema (``engine`` must be
      ``duckdb`` or None; ``schema`` must be None or the credential's);
    - it has a ``warehouse_postgres`` credential on the app's own database
      (``use_app_database``): that schema, and ``SELECT`` granted to its reader role (``engine``
      ``postgres`` or None). An external PostgreSQL warehouse is refused: the product does not
      write into warehouses it does not host;
    - it has none: ``engine`` (default ``duckdb``) decides. DuckDB: the file
      ``<WAREHOUSE_DUCKDB_DIR>/<slug>.duckdb``, schema ``schema`` or ``main``. PostgreSQL: schema
      ``schema`` or ``wh_t<tenant id>_<slug>`` in the app database with a new read-only reader role (random
      password, stored encrypted). Then the ``default`` credential is saved.

    Args:
        tenant: the :class:`tenants.models.Tenant`.
        paths: files and folders (``.csv``, ``.parquet``).
        engine: ``duckdb`` | ``postgres`` | None (see above).
        schema: the target schema (see above).
        dry_run: read, type and check the files only; nothing is written or created.
        table_names: ``{file name: table}`` overrides (admin uploads).

    Returns:
        :class:`ImportReport` (tables with types, row counts and preview rows).

    Raises:
        WarehouseImportError: bad files or rows (file, row number, value), a refused engine or
            schema, or the warehouse refused the load; nothing was written.
    """

    if engine is not None and engine not in ENGINES:
        raise WarehouseImportError([f"unknown engine {engine!r}; one of: {', '.join(ENGINES)}"])
    if schema is not None:
        try:
            check_identifier(schema, "schema")
        except ValueError as exc:
            raise WarehouseImportError([str(exc)]) from None
    tables = import_files_read(paths, table_names=table_names)

    with tenant_context(tenant):
        credential = warehouse_credential_for_tenant()
    if credential is not None and credential.kind == ConnectorKind.WAREHOUSE_DUCKDB:
        if engine not in (None, "duckdb"):
            raise WarehouseImportError([f"tenant {tenant.slug!r} has a DuckDB warehouse; import with --engine duckdb (or no --engine)"])
        current = str((credential.config or {}).get("schema") or "main")
        if schema not in (None, current):
            raise WarehouseImportError([f"tenant {tenant.slug!r}'s warehouse reads schema {current!r}; pass --schema {current} or leave it out"])
        path = _duckdb_path(tenant)
        report = ImportReport("duckdb", current, tables, dry_run, False, path.name)
        if not dry_run:
            import_tables_load_duckdb(path=path, schema=current, tables=tables)
        return report
    if credential is not None:  # PostgreSQL
        config = credential.config or {}
        if engine not in (None, "postgres"):
            raise WarehouseImportError([f"tenant {tenant.slug!r} has a PostgreSQL warehouse; import with --engine postgres (or no --engine)"])
        if not config.get("use_app_database"):
            where = warehouse_location(config) or {}
            raise WarehouseImportError(
                [f"tenant {tenant.slug!r}'s warehouse is an external PostgreSQL database ({where.get('host', '?')}/{where.get('dbname', '')}); "
                 "the import writes only into warehouses the product hosts: load the files there with your own tools"]
            )
        current = str(config.get("schema") or "")
        if schema not in (None, current):
            raise WarehouseImportError([f"tenant {tenant.slug!r}'s warehouse reads schema {current!r}; pass --schema {current} or leave it out"])
        report = ImportReport("postgres", current, tables, dry_run, False, "app database")
        if not dry_run:
            reader = str(config.get("user") or "") or None
            import_tables_load_postgres(schema=current, tables=tables, reader_role=reader)
        return report

    chosen = engine or "duckdb"
    if chosen == "duckdb":
        target_schema = schema or "main"
        path = _duckdb_path(tenant)
        report = ImportReport("duckdb", target_schema, tables, dry_run, not dry_run, path.name)
        if not dry_run:
            import_tables_load_duckdb(path=path, schema=target_schema, tables=tables)
            credential_set(tenant=tenant, kind=ConnectorKind.WAREHOUSE_DUCKDB, config={"schema": target_schema}, secrets={})
        return report
    target_schema = schema or tenant_schema_name(tenant.pk, tenant.slug)
    report = ImportReport("postgres", target_schema, tables, dry_run, not dry_run, "app database")
    if not dry_run:
        role = reader_role_name(dbname=connection.settings_dict["NAME"], schema=target_schema)
        password = secrets_module.token_urlsafe(24)
        with transaction.atomic():
            import_tables_load_postgres(schema=target_schema, tables=tables)
            reader_grant(schema=target_schema, reader_role=role, reader_password=password)
            credential_set(
                tenant=tenant,
                kind=ConnectorKind.WAREHOUSE_POSTGRES,
                config={"schema": target_schema, "user": role, "use_app_database": True},
                secrets={"password": password},
            )
    return report


def preview_cell(value: Any, width: int = 40) -> str:
    """One value as shown in a preview: empty for NULL, one line, at most ``width`` characters."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def import_report_text(report: ImportReport, *, tenant_slug: str, preview_rows: int = PREVIEW_ROWS) -> str:
    """The report as plain text for the command and the admin page: per table its columns with
    types, the first rows, the row count; then where it went and the next step."""
    out = io.StringIO()
    for t in report.tables:
        out.write(f"{t.path.name} -> table {report.schema}.{t.name}: {t.row_count} row(s)\n")
        out.write("  columns: " + ", ".join(f"{c.name} {c.type}" for c in t.columns) + "\n")
        for row in t.preview(preview_rows):
            out.write("  | " + " | ".join(preview_cell(v) for v in row) + "\n")
    if report.dry_run:
        out.write(f"Dry run: nothing was written (engine {report.engine}, {report.location}).\n")
    else:
        made = " (created and connected as the tenant's warehouse)" if report.created_warehouse else ""
        out.write(f"Imported {len(report.tables)} table(s) into {report.engine} {report.location}, schema {report.schema}{made}.\n")
        out.write(f"Next: {report.next_step(tenant_slug)}\n")
    return out.getvalue()
