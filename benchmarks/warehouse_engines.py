"""Per-query overhead of each warehouse engine through its connector (issue 12's closing note:
"query overhead per engine").

Run ``python -m benchmarks.warehouse_engines [--queries N]``. It:

1. creates a throwaway database ``revops_bench_warehouses`` on the embedded PostgreSQL server
   (never the dev database), loads the demo CRM into schema ``wh_bench`` with a reader role
   (:func:`integrations.warehouse.loader.warehouse_load_demo`) and reads it with
   :class:`~integrations.warehouse.postgres.PostgresWarehouse` (pooled connections);
2. imports the same CSVs into a temporary DuckDB file (the import service) and reads it with
   :class:`~integrations.warehouse.duckdb_engine.DuckDBWarehouse`;
3. starts the local fake Firebolt API (:mod:`integrations.tests.fake_firebolt`, the same tables
   on an in-memory DuckDB) and reads it with
   :class:`~integrations.warehouse.firebolt_engine.FireboltWarehouse` through the real SDK;
4. times ``connector.execute(QUERY)`` (guard, connection, statement, fetch; wall clock) after
   :data:`WARMUP` warm-up calls and prints median and p95 in milliseconds per engine, plus the
   first (cold) call; then drops the database and its reader role.

The Firebolt figure is the SDK's HTTP round trip to a loopback fake that itself runs the
statement on DuckDB: it measures the connector's and the SDK's overhead, not Firebolt's engine.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import django

from benchmarks.harness import drop_database, recreate_database

DATABASE = "revops_bench_warehouses"
# Django reads the throwaway database's name at set-up (a standalone script: set up first).
os.environ["DATABASE_NAME_OVERRIDE"] = DATABASE
os.environ["DJANGO_SETTINGS_MODULE"] = "revops.settings"
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.db import connections  # noqa: E402

from integrations.tests.fake_firebolt import fake_firebolt_server  # noqa: E402
from integrations.warehouse.duckdb_engine import DuckDBWarehouse  # noqa: E402
from integrations.warehouse.firebolt_engine import FireboltWarehouse  # noqa: E402
from integrations.warehouse.importer import import_files_read, import_tables_load_duckdb  # noqa: E402
from integrations.warehouse.loader import DEMO_CSV_DIR, reader_role_name, warehouse_load_demo  # noqa: E402
from integrations.warehouse.postgres import PostgresWarehouse, warehouse_connections_close  # noqa: E402
from integrations.warehouse.selectors import app_database  # noqa: E402

SCHEMA = "wh_bench"
QUERY = "SELECT deal_stage, count(*) AS deals, sum(close_value) AS revenue FROM sales_pipeline GROUP BY deal_stage ORDER BY deal_stage"
TABLES = ("accounts", "products", "sales_teams", "sales_pipeline", "interactions")
WARMUP = 3


def _time(connector, n: int) -> tuple[float, float, float, list]:
    """(cold ms, median ms, p95 ms, rows of the last call)."""
    started = time.perf_counter()
    result = connector.execute(QUERY)
    cold = (time.perf_counter() - started) * 1000
    for _ in range(WARMUP - 1):
        connector.execute(QUERY)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        result = connector.execute(QUERY)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return cold, statistics.median(samples), p95, [tuple(map(str, r)) for r in result.rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=50, help="timed calls per engine (default 50)")
    args = parser.parse_args()

    recreate_database(DATABASE)
    logging.getLogger("firebolt").setLevel(logging.WARNING)
    logging.getLogger("integrations").setLevel(logging.WARNING)

    results: dict[str, tuple[float, float, float, list]] = {}
    role = reader_role_name(dbname=DATABASE, schema=SCHEMA)
    password = secrets.token_urlsafe(16)
    try:
        warehouse_load_demo(schema=SCHEMA, reader_role=role, reader_password=password)
        postgres = PostgresWarehouse(
            conninfo={**app_database(), "user": role, "password": password}, schema=SCHEMA,
            allowed_tables=TABLES, statement_timeout_ms=15_000, default_limit=1000,
        )
        results["PostgreSQL"] = _time(postgres, args.queries)
        warehouse_connections_close()

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.duckdb"
            import_tables_load_duckdb(path=path, schema="main", tables=import_files_read([DEMO_CSV_DIR]))
            duck = DuckDBWarehouse(path=path, schema="main", allowed_tables=TABLES, statement_timeout_ms=15_000, default_limit=1000)
            results["DuckDB"] = _time(duck, args.queries)

        with fake_firebolt_server() as fake:
            firebolt = FireboltWarehouse(
                client_id=fake.client_id, client_secret=fake.client_secret, account_name=fake.account,
                engine_name=fake.engine, database=fake.database, schema="public", api_endpoint=fake.api_endpoint,
                allowed_tables=TABLES, statement_timeout_ms=15_000, default_limit=1000,
            )
            results["Firebolt (SDK -> loopback fake)"] = _time(firebolt, args.queries)
    finally:
        connections.close_all()
        drop_database(DATABASE, roles=True)

    reference = results["PostgreSQL"][3]
    print(f"query: {QUERY}")
    print(f"{'engine':34} {'cold ms':>9} {'median ms':>10} {'p95 ms':>8}  same rows as PostgreSQL")
    for name, (cold, median, p95, rows) in results.items():
        same = [r[:2] for r in rows] == [r[:2] for r in reference]
        print(f"{name:34} {cold:9.1f} {median:10.2f} {p95:8.2f}  {same}")
    print(f"({args.queries} timed calls per engine after {WARMUP} warm-up calls; wall clock of connector.execute)")


if __name__ == "__main__":
    main()
