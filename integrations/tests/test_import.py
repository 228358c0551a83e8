"""CSV and Parquet import (integrations/warehouse/importer.py, manage.py warehouse_import).

Expected counts and sums are computed here from the CSV files with the standard library."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from integrations.models import ConnectorCredential, ConnectorKind
from integrations.services import credential_set
from integrations.warehouse.duckdb_engine import duckdb_path_for
from integrations.warehouse.importer import (
    ImportColumn,
    ImportTable,
    WarehouseImportError,
    import_files_read,
    import_tables_load_duckdb,
    import_tables_load_postgres,
    warehouse_import,
)
from integrations.warehouse.selectors import warehouse_for_tenant
from tenants.context import tenant_context

CRM_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "demo_crm"


def _csv_rows(name: str) -> list[dict]:
    with open(CRM_DIR / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _duck(path: Path, sql: str):
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def duck_dir(settings, tmp_path):
    settings.WAREHOUSE_DUCKDB_DIR = tmp_path / "warehouses"
    return settings.WAREHOUSE_DUCKDB_DIR


def test_demo_csvs_types_inferred_and_rows_loaded(world_a, duck_dir):
    report = warehouse_import(tenant=world_a.tenant, paths=[CRM_DIR])
    types = {t.name: {c.name: c.type for c in t.columns} for t in report.tables}
    assert types["sales_pipeline"] == {
        "opportunity_id": "text", "account_id": "integer", "sales_agent": "text", "product_id": "integer",
        "product": "text", "account": "text", "deal_stage": "text", "engage_date": "date",
        "close_date": "date", "close_value": "integer",
    }
    assert types["accounts"]["revenue"] == "decimal" and types["accounts"]["propensity_to_buy"] == "decimal"
    assert types["interactions"]["timestamp"] == "date"
    path = duckdb_path_for(world_a.tenant.slug)
    for name in ("accounts", "products", "sales_teams", "sales_pipeline", "interactions", "data_dictionary"):
        assert _duck(path, f'SELECT count(*) FROM "{name}"') == [(len(_csv_rows(name)),)]
    pipeline = _csv_rows("sales_pipeline")
    expected_total = sum(int(r["close_value"]) for r in pipeline if r["deal_stage"] == "Won" and r["close_value"])
    assert _duck(path, "SELECT sum(close_value) FROM sales_pipeline WHERE deal_stage = 'Won'") == [(expected_total,)]
    first = pipeline[0]
    month, day, year = (int(x) for x in first["engage_date"].split("/"))
    got = _duck(path, f"SELECT engage_date FROM sales_pipeline WHERE opportunity_id = '{first['opportunity_id']}'")[0][0]
    assert (got.year, got.month, got.day) == (year, month, day)
    revenue = {r["account"]: Decimal(r["revenue"]) for r in _csv_rows("accounts")}
    assert dict(_duck(path, "SELECT account, revenue FROM accounts")) == revenue
    # Connected: the tenant's warehouse is now this DuckDB file.
    assert report.created_warehouse and report.engine == "duckdb"
    with tenant_context(world_a.tenant):
        wh = warehouse_for_tenant(allowed_tables=["products"])
    assert wh.execute("SELECT count(*) FROM products").rows == [(len(_csv_rows("products")),)]


def test_booleans_timestamps_iso_dates_and_codes(tmp_path):
    _write(tmp_path / "misc.csv", ["Is Active", "Created At", "Day", "Zip", "Score"],
           [["true", "2024-01-02 10:30:00", "2024-03-04", "02134", "1.5"], ["No", "2024-01-03T08:00", "", "10001", "-2"]])
    (table,) = import_files_read([tmp_path / "misc.csv"])
    assert [(c.name, c.type) for c in table.columns] == [
        ("is_active", "boolean"), ("created_at", "timestamp"), ("day", "date"), ("zip", "text"), ("score", "decimal")
    ]
    assert table.rows[1][0] is False and table.rows[1][2] is None and table.rows[0][3] == "02134"


def test_bad_row_names_file_row_and_value(tmp_path):
    rows = [[f"D{i}", str(100 + i)] for i in range(60)]
    rows[15][1] = "abc"  # data row 16 = spreadsheet row 17 (the header is row 1)
    _write(tmp_path / "sales_pipeline.csv", ["opportunity_id", "close_value"], rows)
    with pytest.raises(WarehouseImportError) as info:
        import_files_read([tmp_path / "sales_pipeline.csv"])
    assert info.value.errors == ["sales_pipeline.csv row 17: close_value 'abc' is not a number"]
    rows[15][1] = "1.5"
    _write(tmp_path / "sales_pipeline.csv", ["opportunity_id", "close_value"], rows)
    (table,) = import_files_read([tmp_path / "sales_pipeline.csv"])  # every value is a number
    assert table.columns[1].type == "decimal"


def test_wrong_field_count_and_bad_date(tmp_path):
    rows = [["1", "1/2/2024"] for _ in range(60)]
    rows[2] = ["1", "13/45/2024"]
    rows[4] = ["1"]
    _write(tmp_path / "d.csv", ["id", "day"], rows)
    with pytest.raises(WarehouseImportError) as info:
        import_files_read([tmp_path / "d.csv"])
    assert info.value.errors == [
        "d.csv row 6: 1 fields, expected 2 (id, day)",
        "d.csv row 4: day '13/45/2024' is not a date (M/D/YYYY or YYYY-MM-DD)",
    ]


def test_nothing_is_written_when_a_file_is_bad(world_a, duck_dir, tmp_path):
    _write(tmp_path / "good.csv", ["a"], [["1"], ["2"]])
    _write(tmp_path / "bad.csv", ["n"], [["1"]] * 59 + [["x"]])
    with pytest.raises(WarehouseImportError, match=r"bad.csv row 61: n 'x' is not a number"):
        warehouse_import(tenant=world_a.tenant, paths=[tmp_path / "good.csv", tmp_path / "bad.csv"])
    assert not duckdb_path_for(world_a.tenant.slug).exists()
    assert not ConnectorCredential.objects.for_tenant(world_a.tenant).exists()


def test_duckdb_load_is_one_transaction(tmp_path):
    path = tmp_path / "w.duckdb"
    ok = ImportTable("a", tmp_path / "a.csv", [ImportColumn("x", "x", "integer")], [(1,), (2,)])
    import_tables_load_duckdb(path=path, schema="main", tables=[ok])
    replacement = ImportTable("a", tmp_path / "a.csv", [ImportColumn("x", "x", "integer")], [(7,)])
    broken = ImportTable("b", tmp_path / "b.csv", [ImportColumn("y", "y", "integer")], [("not a number",)])
    with pytest.raises(WarehouseImportError, match="DuckDB refused the import"):
        import_tables_load_duckdb(path=path, schema="main", tables=[replacement, broken])
    assert _duck(path, "SELECT x FROM a ORDER BY x") == [(1,), (2,)]
    assert _duck(path, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'b'") == [(0,)]


@pytest.mark.django_db(transaction=True)
def test_postgres_load_is_one_transaction(tmp_path):
    ok = ImportTable("a", tmp_path / "a.csv", [ImportColumn("x", "x", "integer")], [(1,)])
    broken = ImportTable("b", tmp_path / "b.csv", [ImportColumn("y", "y", "integer")], [("not a number",)])
    with pytest.raises(WarehouseImportError, match="PostgreSQL refused the import"):
        import_tables_load_postgres(schema="wh_pytest_import_tx", tables=[ok, broken])
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'wh_pytest_import_tx'")
        assert cur.fetchone() == (0,)


def test_reimport_replaces_the_table_and_keeps_the_others(world_a, duck_dir, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir(), second.mkdir()
    _write(first / "deals.csv", ["id"], [["1"], ["2"], ["3"]])
    _write(first / "teams.csv", ["name"], [["East"]])
    warehouse_import(tenant=world_a.tenant, paths=[first])
    _write(second / "deals.csv", ["id", "stage"], [["9", "Won"]])
    report = warehouse_import(tenant=world_a.tenant, paths=[second / "deals.csv"])
    assert not report.created_warehouse
    path = duckdb_path_for(world_a.tenant.slug)
    assert _duck(path, "SELECT * FROM deals") == [(9, "Won")]
    assert _duck(path, "SELECT * FROM teams") == [("East",)]
    assert ConnectorCredential.objects.for_tenant(world_a.tenant).filter(kind=ConnectorKind.WAREHOUSE_DUCKDB).count() == 1


def test_parquet_files_are_read_with_their_types(world_a, duck_dir, tmp_path):
    source = tmp_path / "deals.parquet"
    conn = duckdb.connect()
    conn.execute(
        f"COPY (SELECT 1::INTEGER AS id, 12.5::DECIMAL(10, 2) AS amount, DATE '2024-05-01' AS closed, "
        f"true AS won, 'Acme' AS account) TO '{source}' (FORMAT parquet)"
    )
    conn.close()
    report = warehouse_import(tenant=world_a.tenant, paths=[source])
    assert [(c.name, c.type) for c in report.tables[0].columns] == [
        ("id", "integer"), ("amount", "decimal"), ("closed", "date"), ("won", "boolean"), ("account", "text")
    ]
    assert _duck(duckdb_path_for(world_a.tenant.slug), "SELECT amount, won, account FROM deals") == [(Decimal("12.50"), True, "Acme")]


def test_dry_run_writes_nothing(world_a, duck_dir):
    report = warehouse_import(tenant=world_a.tenant, paths=[CRM_DIR / "products.csv"], dry_run=True)
    assert report.dry_run and report.tables[0].row_count == len(_csv_rows("products"))
    assert not duckdb_path_for(world_a.tenant.slug).exists()
    assert not ConnectorCredential.objects.for_tenant(world_a.tenant).exists()


def test_external_postgres_warehouse_is_refused(world_a, duck_dir):
    credential_set(tenant=world_a.tenant, kind=ConnectorKind.WAREHOUSE_POSTGRES, config={"schema": "crm", "user": "r", "host": "db.example.com", "dbname": "dw"}, secrets={"password": "pw-secret"})
    with pytest.raises(WarehouseImportError, match="external PostgreSQL database .*db.example.com/dw") as info:
        warehouse_import(tenant=world_a.tenant, paths=[CRM_DIR / "products.csv"])
    assert "pw-secret" not in str(info.value)
    with pytest.raises(WarehouseImportError, match="has a PostgreSQL warehouse"):
        warehouse_import(tenant=world_a.tenant, paths=[CRM_DIR / "products.csv"], engine="duckdb")


@pytest.mark.django_db(transaction=True)
def test_postgres_engine_creates_schema_role_and_connector(world_a, tmp_path):
    from integrations.warehouse.loader import warehouse_drop

    report = warehouse_import(tenant=world_a.tenant, paths=[CRM_DIR / "products.csv", CRM_DIR / "sales_teams.csv"], engine="postgres")
    try:
        assert report.created_warehouse and report.schema == f"wh_t{world_a.tenant.pk}_acme_a"
        with tenant_context(world_a.tenant):
            wh = warehouse_for_tenant(allowed_tables=["products", "sales_teams"])
        assert wh.dialect == "postgres" and wh.user != connection.settings_dict["USER"]
        assert wh.execute("SELECT count(*) FROM sales_teams").rows == [(len(_csv_rows("sales_teams")),)]
        prices = sorted(Decimal(r["sales_price"]) for r in _csv_rows("products"))
        assert sorted(r[0] for r in wh.execute("SELECT sales_price FROM products").rows) == prices
        # A second import into the same (app-hosted) warehouse grants the reader the new table.
        _write(tmp_path / "extra.csv", ["k"], [["v"]])
        warehouse_import(tenant=world_a.tenant, paths=[tmp_path / "extra.csv"])
        with tenant_context(world_a.tenant):
            assert warehouse_for_tenant(allowed_tables=["extra"]).execute("SELECT k FROM extra").rows == [("v",)]
    finally:
        credential = ConnectorCredential.objects.for_tenant(world_a.tenant).get(kind=ConnectorKind.WAREHOUSE_POSTGRES)
        warehouse_drop(schema=f"wh_t{world_a.tenant.pk}_acme_a", reader_role=credential.config["user"])


def test_command_preview_errors_and_next_step(world_a, duck_dir, tmp_path):
    out = io.StringIO()
    call_command("warehouse_import", "--tenant", world_a.tenant.slug, "--dry-run", str(CRM_DIR / "products.csv"), stdout=out)
    text = out.getvalue()
    first = _csv_rows("products")[0]
    price_type = "integer" if all(r["sales_price"].isdigit() for r in _csv_rows("products")) else "decimal"
    assert "products.csv -> table main.products" in text and f"sales_price {price_type}" in text
    assert first["product"] in text and "Dry run: nothing was written" in text
    out = io.StringIO()
    call_command("warehouse_import", "--tenant", world_a.tenant.slug, str(CRM_DIR / "products.csv"), stdout=out)
    assert f"Next: manage.py semantic_model_draft --tenant {world_a.tenant.slug}" in out.getvalue()
    rows = [[str(i)] for i in range(60)]
    rows[3] = ["x"]
    _write(tmp_path / "n.csv", ["n"], rows)
    with pytest.raises(CommandError, match="n.csv row 5: n 'x' is not a number"):
        call_command("warehouse_import", "--tenant", world_a.tenant.slug, str(tmp_path / "n.csv"))
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("warehouse_import", "--tenant", "nope", str(tmp_path / "n.csv"))
    with pytest.raises(CommandError, match="no such file"):
        call_command("warehouse_import", "--tenant", world_a.tenant.slug, str(tmp_path / "missing.csv"))


# --- review findings: schema per tenant, uppercase slugs, renamed-upload clashes -----------------


@pytest.mark.django_db(transaction=True)
def test_tenants_whose_slugs_sanitise_alike_get_their_own_schema_and_role(tmp_path):
    """``acme-co`` and ``acme_co`` are distinct tenants; a shared ``wh_acme_co`` schema would let the
    second import drop the first's tables and its reader role read them."""
    from integrations.warehouse.loader import warehouse_drop
    from tenants.services import tenant_create

    one = tenant_create(slug="acme-co", name="Acme Co", time_zone="UTC")
    two = tenant_create(slug="acme_co", name="Acme Co (other)", time_zone="UTC")
    _write(tmp_path / "deals.csv", ["id"], [["1"]])
    made = []
    try:
        for tenant in (one, two):
            report = warehouse_import(tenant=tenant, paths=[tmp_path / "deals.csv"], engine="postgres")
            credential = ConnectorCredential.objects.for_tenant(tenant).get(kind=ConnectorKind.WAREHOUSE_POSTGRES)
            made.append((report.schema, credential.config["user"]))
        (schema_one, role_one), (schema_two, role_two) = made
        assert schema_one == f"wh_t{one.pk}_acme_co" and schema_two == f"wh_t{two.pk}_acme_co"
        assert role_one != role_two
        with tenant_context(one):
            assert warehouse_for_tenant(allowed_tables=["deals"]).execute("SELECT count(*) FROM deals").rows == [(1,)]
    finally:
        for schema, role in made:
            warehouse_drop(schema=schema, reader_role=role)


def test_an_uppercase_slug_previews_and_imports_into_its_own_file(db, duck_dir, tmp_path):
    from tenants.services import tenant_create

    tenant = tenant_create(slug="AcmeUpper", name="Acme Upper", time_zone="UTC")
    _write(tmp_path / "deals.csv", ["id"], [["1"], ["2"]])
    preview = warehouse_import(tenant=tenant, paths=[tmp_path / "deals.csv"], dry_run=True)
    assert preview.tables[0].row_count == 2
    warehouse_import(tenant=tenant, paths=[tmp_path / "deals.csv"])
    assert (duck_dir / "AcmeUpper.duckdb").is_file()


def test_renamed_files_that_would_load_one_table_are_refused(duck_dir, tmp_path):
    a = _write(tmp_path / "upload_0.csv", ["id"], [["1"]])
    b = _write(tmp_path / "upload_1.csv", ["id"], [["2"]])
    with pytest.raises(WarehouseImportError, match="would both load table 'deals'"):
        import_files_read([a, b], table_names={"upload_0.csv": "deals", "upload_1.csv": "deals"})


def test_an_unreadable_file_is_a_clear_import_error(duck_dir, tmp_path):
    """An I/O error while reading (here: a .csv link to /proc/self/mem, which cannot be read from
    offset 0, even by root) is a clear import error naming the file, not a traceback."""
    unreadable = tmp_path / "unreadable.csv"
    unreadable.symlink_to("/proc/self/mem")
    with pytest.raises(WarehouseImportError, match=r"unreadable.csv: cannot be read \(Input/output error\)"):
        import_files_read([unreadable])
