"""``manage.py insights_setup --tenant SLUG [--schema S] [--table T]``

Creates the tenant's insights table (typed schema, see ``actions.insights``) in Django's
database, a login role that may only INSERT into it, and the tenant's ``insights_writer``
credential, so ``warehouse_write`` actions can run. Idempotent (a new role password each time).
For the demo tenant: ``manage.py insights_setup --tenant demo`` (schema ``wh_demo_insights``).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from actions.insights import insights_table_provision
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create a tenant's insights table, its insert-only role and the insights_writer credential."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--schema", default=None, help="default: wh_<tenant slug>_insights")
        parser.add_argument("--table", default="insights")

    def handle(self, *args, tenant: str, schema: str | None, table: str, **options):
        row = Tenant.objects.filter(slug=tenant).first()
        if row is None:
            raise CommandError(f"no tenant {tenant!r}")
        schema = schema or f"wh_{row.slug.replace('-', '_')}_insights"
        try:
            where = insights_table_provision(tenant=row, schema=schema, table=table)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"insights table {where.schema}.{where.table}, insert-only role {where.user}")
