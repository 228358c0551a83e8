"""The DuckDB warehouse engine: guard in the DuckDB dialect (file-reading functions and writes
refused), the read-only connection as a second layer, the watchdog timeout, the row cap, the
catalog description, and the selector choosing the engine from the tenant's connector.

The database files are built here with DuckDB itself (not with the product's importer)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from integrations.models import ConnectorKind
from integrations.services import credential_set
from integrations.warehouse.base import UnsafeSQL, WarehouseConnector, WarehouseQueryError, WarehouseUnavailable
from integrations.warehouse.duckdb_engine import DuckDBWarehouse, duckdb_path_for
from integrations.warehouse.guard import validate_select
from integrations.warehouse.selectors import warehouse_dialect_for_tenant, warehouse_for_tenant
from tenants.context import tenant_context


def _build(path: Path) -> None:
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE deals (id INTEGER PRIMARY KEY, stage VARCHAR, amount DECIMAL(18, 2), closed DATE)")
    conn.execute(
        "INSERT INTO deals VALUES (1, 'Won', 100.50, DATE '2024-01-02'), (2, 'Lost', 20, DATE '2024-02-03'), "
        "(3, 'Won', 5, NULL), (4, 'Open', NULL, NULL)"
    )
    conn.execute("CREATE TABLE big AS SELECT range AS n FROM range(5000)")
    conn.execute("CREATE SCHEMA crm")
    conn.execute("CREATE TABLE crm.accounts (id INTEGER, name VARCHAR)")
    conn.execute("INSERT INTO crm.accounts VALUES (1, 'Acme')")
    conn.close()


@pytest.fixture
def wh_file(tmp_path) -> Path:
    path = tmp_path / "t.duckdb"
    _build(path)
    return path


def _wh(path: Path, **kw) -> DuckDBWarehouse:
    args = {"path": path, "allowed_tables": ["deals", "big"], "statement_timeout_ms": 5000, "default_limit": 100}
    args.update(kw)
    return DuckDBWarehouse(**args)


def test_is_a_warehouse_connector_with_the_duckdb_dialect(wh_file):
    wh = _wh(wh_file)
    assert isinstance(wh, WarehouseConnector)
    assert wh.dialect == "duckdb"


def test_runs_a_guarded_select_with_named_and_psycopg_params(wh_file):
    wh = _wh(wh_file)
    native = wh.execute("SELECT stage, SUM(amount) AS total FROM deals WHERE stage = $s GROUP BY stage", {"s": "Won"})
    assert native.rows == [("Won", pytest.approx(105.5))]
    assert native.sql.endswith("LIMIT 101")
    legacy = wh.execute("SELECT count(*) FROM deals WHERE stage = %(s)s", {"s": "Lost"})
    assert legacy.rows == [(1,)] and "$s" in legacy.sql


def test_row_cap_marks_truncation(wh_file):
    result = _wh(wh_file, default_limit=10).execute("SELECT n FROM big ORDER BY n")
    assert result.row_count == 10 and result.truncated
    assert [r[0] for r in result.rows] == list(range(10))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/hosts')",
        "SELECT * FROM read_csv_auto('/etc/hosts')",
        "SELECT * FROM read_parquet('x.parquet')",
        "SELECT * FROM read_json('x.json')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM sqlite_scan('x.db', 't')",
        "SELECT * FROM '/etc/hosts'",
        "SELECT * FROM 'https://example.com/x.parquet'",
        "SELECT * FROM 's3://bucket/x.parquet'",
        "SELECT getenv('HOME')",
        "SELECT * FROM deals WHERE stage IN (SELECT column0 FROM read_csv('/etc/passwd'))",
    ],
)
def test_file_and_url_reading_is_refused(wh_file, sql):
    with pytest.raises(UnsafeSQL, match="reads files|reading files|not allowed"):
        _wh(wh_file).execute(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO deals VALUES (9, 'Won', 1, NULL)",
        "UPDATE deals SET amount = 0",
        "DELETE FROM deals",
        "CREATE TABLE x AS SELECT 1",
        "DROP TABLE deals",
        "ATTACH '/tmp/other.duckdb'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "COPY deals TO '/tmp/out.csv'",
        "SET enable_external_access = true",
        "PRAGMA database_list",
        "SELECT * FROM deals; DROP TABLE deals",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM duckdb_settings",
        "SELECT * FROM accounts",
        "SELECT * FROM crm.accounts",
    ],
)
def test_writes_catalogs_and_other_tables_are_refused(wh_file, sql):
    with pytest.raises(UnsafeSQL):
        _wh(wh_file).execute(sql)


def test_the_connection_itself_is_read_only_without_file_access(wh_file):
    """Second layer: even SQL that skipped the guard cannot write, read files or unlock that."""
    conn = _wh(wh_file).connect()
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            conn.execute("CREATE TABLE x (a INTEGER)")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            conn.execute("SELECT * FROM read_csv('/etc/hosts')")
        with pytest.raises(duckdb.Error, match="locked"):
            conn.execute("SET enable_external_access = true")
    finally:
        conn.close()


def test_watchdog_interrupts_a_long_query(wh_file):
    wh = _wh(wh_file, statement_timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(WarehouseQueryError, match="statement timed out after 300 ms"):
        wh.execute("SELECT count(*) FROM big a, big b, big c")  # 1.25e11 rows
    assert time.monotonic() - started < 10
    assert wh.execute("SELECT count(*) FROM deals").rows == [(4,)]  # the next statement is fine


def test_query_errors_are_clear_and_do_not_quote_the_statement(wh_file):
    with pytest.raises(WarehouseQueryError) as info:
        _wh(wh_file).execute("SELECT no_such_column FROM deals")
    assert "no_such_column" in str(info.value) and "LINE 1" not in str(info.value)


def test_missing_file_is_unavailable(tmp_path):
    with pytest.raises(WarehouseUnavailable, match="does not exist.*warehouse_import"):
        _wh(tmp_path / "none.duckdb").execute("SELECT 1 FROM deals")


def test_schema_other_than_main(wh_file):
    wh = DuckDBWarehouse(path=wh_file, schema="crm", allowed_tables=["accounts"], statement_timeout_ms=1000, default_limit=5)
    assert wh.execute("SELECT name FROM accounts").rows == [("Acme",)]
    assert wh.execute("SELECT name FROM crm.accounts").rows == [("Acme",)]
    with pytest.raises(UnsafeSQL):
        wh.execute("SELECT * FROM main.deals")


def test_describe_schema_and_samples(wh_file):
    wh = _wh(wh_file, allowed_tables=[])
    tables = {t["table"]: t for t in wh.describe_schema()}
    assert set(tables) == {"big", "deals"}
    deals = tables["deals"]
    assert [(c["name"], c["category"]) for c in deals["columns"]] == [
        ("id", "number"), ("stage", "string"), ("amount", "number"), ("closed", "date")
    ]
    assert deals["primary_key"] == ["id"] and deals["row_count"] == 4 and deals["row_count_exact"]
    assert wh.sample_values("deals", "stage") == [("Won", 2), ("Lost", 1), ("Open", 1)]
    assert wh.sample_values("big", "n", max_values=3) is None
    assert "2 table(s)" in wh.connection_test()


def test_guard_renders_duckdb_and_keeps_placeholders():
    out = validate_select("SELECT a FROM t WHERE x = $x AND y = ? LIMIT 5000", allowed_tables=["t"], default_limit=10, dialect="duckdb")
    assert out == "SELECT a FROM t WHERE x = $x AND y = ? LIMIT 10"
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        validate_select("SELECT 1", allowed_tables=[], default_limit=1, dialect="oracle")


def test_selector_builds_the_tenant_file_from_its_slug(world_a, world_b, settings, tmp_path):
    settings.WAREHOUSE_DUCKDB_DIR = tmp_path
    _build(duckdb_path_for(world_a.tenant.slug))
    # A config "path" is ignored: the file comes from the slug, so no tenant can read another's.
    credential_set(tenant=world_a.tenant, kind=ConnectorKind.WAREHOUSE_DUCKDB, config={"schema": "main", "path": str(tmp_path / "x")})
    with tenant_context(world_a.tenant):
        wh = warehouse_for_tenant(allowed_tables=["deals"])
        assert warehouse_dialect_for_tenant() == "duckdb"
    assert isinstance(wh, DuckDBWarehouse) and wh.path == tmp_path / f"{world_a.tenant.slug}.duckdb"
    assert wh.execute("SELECT count(*) FROM deals").rows == [(4,)]
    with tenant_context(world_b.tenant):
        assert warehouse_dialect_for_tenant() is None
        with pytest.raises(WarehouseUnavailable, match="no warehouse connector"):
            warehouse_for_tenant(allowed_tables=["deals"])


def test_slug_cannot_escape_the_directory():
    with pytest.raises(ValueError):
        duckdb_path_for("../etc/passwd")


def test_test_connection_of_a_duckdb_connector_opens_the_tenants_file(duckdb_demo):
    """The admin's "Test connection" (connector_check) for ``warehouse_duckdb`` runs the engine's
    own connection test: the file, ``SELECT 1`` and its table count (the six demo CSV files)."""
    from integrations.connector_checks import connector_check
    from integrations.models import ConnectorCredential, ConnectorKind
    from integrations.warehouse.loader import DEMO_CSV_DIR

    credential = ConnectorCredential.objects.for_tenant(duckdb_demo).get(kind=ConnectorKind.WAREHOUSE_DUCKDB)
    result = connector_check(credential=credential)
    tables = len(list(DEMO_CSV_DIR.glob("*.csv")))
    assert result.ok, result.message
    assert result.message == f"Connected: DuckDB file demo-duckdb.duckdb, schema main: {tables} table(s)."
