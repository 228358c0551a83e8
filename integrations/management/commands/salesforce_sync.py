"""``manage.py salesforce_sync --tenant SLUG [--full] [--object NAME ...] [--no-model]``.

Syncs the tenant's Salesforce objects into its warehouse schema
(:func:`integrations.salesforce.services.salesforce_sync_run`) and prints, per object, the rows
read, inserted or changed, and deleted, and the new watermark. A failure exits non-zero with the
message also recorded on the object's sync state (admin: Integrations > Sync states).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.salesforce.services import salesforce_sync_run
from integrations.salesforce.sync import SYNC_OBJECTS_BY_NAME
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Sync the tenant's Salesforce objects into its warehouse schema (incremental by SystemModstamp)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--full", action="store_true", help="ignore the watermarks and remove rows Salesforce no longer returns")
        parser.add_argument("--object", action="append", dest="objects", choices=sorted(SYNC_OBJECTS_BY_NAME),
                            help="sync only this object (repeatable)")
        parser.add_argument("--no-model", action="store_true", help="do not install the Salesforce semantic model")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        report, offer = salesforce_sync_run(tenant=tenant, full=opts["full"], objects=opts["objects"], install_model=not opts["no_model"])
        w = self.stdout.write
        if report.schema:
            w(f"schema {report.schema}")
        for o in report.objects:
            mark = f" FAILED: {o.error}" if o.error else ""
            stamp = o.watermark.isoformat() if o.watermark else "none"
            w(f"  {o.object} -> {o.table}: {o.fetched} read, {o.upserted} inserted or changed, {o.deleted} deleted, "
              f"{o.batches} batch(es), watermark {stamp}{mark}")
        if offer is not None:
            w(f"semantic model {offer.title!r}: {offer.action}")
        if not report.ok:
            raise CommandError(f"Salesforce sync failed: {report.error}")
