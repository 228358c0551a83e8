"""manage.py warehouse_import: load CSV and Parquet files into a tenant's warehouse.

    manage.py warehouse_import --tenant SLUG [--engine postgres|duckdb] [--schema NAME] [--dry-run] PATH...

One table per file (a folder: every .csv / .parquet inside it), types inferred, a preview of the
first rows and the inferred types, and bad rows reported with file, row number and value; nothing
is written when any row is bad. A tenant without a warehouse gets one (DuckDB unless
``--engine postgres``), connected as its ``default`` warehouse connector. See
:func:`integrations.warehouse.importer.warehouse_import`.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.warehouse.importer import ENGINES, WarehouseImportError, import_report_text, warehouse_import
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Load CSV and Parquet files (or folders of them) into a tenant's warehouse, one table per file, "
        "creating and connecting a DuckDB (default) or PostgreSQL warehouse when the tenant has none. "
        "--dry-run shows the inferred types and first rows without writing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help=".csv / .parquet files or folders")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--engine", choices=ENGINES, help="warehouse engine for a tenant without one (default duckdb)")
        parser.add_argument("--schema", help="target schema (default: the connected warehouse's, else main / wh_<slug>)")
        parser.add_argument("--dry-run", action="store_true", help="preview types and rows; write nothing")
        parser.add_argument("--preview-rows", type=int, default=5, help="rows shown per table (default 5)")

    def handle(self, *args, **opts) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        try:
            report = warehouse_import(
                tenant=tenant, paths=opts["paths"], engine=opts["engine"], schema=opts["schema"], dry_run=opts["dry_run"]
            )
        except WarehouseImportError as exc:
            raise CommandError("nothing was imported:\n" + "\n".join(exc.errors)) from None
        self.stdout.write(import_report_text(report, tenant_slug=tenant.slug, preview_rows=max(0, opts["preview_rows"])))
