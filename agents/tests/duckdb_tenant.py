"""A fixture tenant whose warehouse is an embedded DuckDB file built from the demo CRM CSVs
through the import service (:mod:`integrations.warehouse.importer`, types inferred, nothing
fixed by hand), so the whole evaluation runs on a second SQL dialect.

The tables keep the CSV file names (``accounts``, ``products``, ``sales_teams``,
``sales_pipeline``, ``interactions``, ``data_dictionary``), so the demo's own KB documents,
semantic model included, describe it unchanged.

Fixtures (registered in the root ``conftest.py`` through ``pytest_plugins``):

- ``duckdb_warehouse_dir`` (session): a temporary directory holding ``demo-duckdb.duckdb``,
  imported once per test session;
- ``duckdb_demo`` (function): tenant ``demo-duckdb`` (as-of 2025-06-30, offline LLM) with a
  ``warehouse_duckdb`` connector over that file (``settings.WAREHOUSE_DUCKDB_DIR`` points at the
  session directory for the test) and the demo KB documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CRM_DIR = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"
DUCKDB_SLUG = "demo-duckdb"
DUCKDB_AS_OF = "2025-06-30"


@pytest.fixture(scope="session")
def duckdb_warehouse_dir(tmp_path_factory) -> Path:
    """The demo CSVs imported into ``<dir>/demo-duckdb.duckdb`` (schema ``main``); the directory."""
    from integrations.warehouse.importer import import_files_read, import_tables_load_duckdb

    directory = tmp_path_factory.mktemp("duckdb_warehouses")
    tables = import_files_read([CRM_DIR])
    import_tables_load_duckdb(path=directory / f"{DUCKDB_SLUG}.duckdb", schema="main", tables=tables)
    return directory


@pytest.fixture
def duckdb_demo(db, settings, duckdb_warehouse_dir):
    """Tenant ``demo-duckdb`` over the session's DuckDB file, configured like the demo tenant."""
    from agents.demo import demo_documents
    from integrations.models import ConnectorKind
    from integrations.services import credential_set
    from tenants.models import Tenant

    settings.WAREHOUSE_DUCKDB_DIR = duckdb_warehouse_dir
    tenant, _ = Tenant.objects.update_or_create(
        slug=DUCKDB_SLUG,
        defaults={"name": "Demo Hardware Co. (DuckDB)", "time_zone": "America/New_York", "settings": {"as_of_date": DUCKDB_AS_OF, "llm_provider": "offline"}},
    )
    credential_set(tenant=tenant, kind=ConnectorKind.WAREHOUSE_DUCKDB, config={"schema": "main"})
    demo_documents(tenant)
    return tenant
