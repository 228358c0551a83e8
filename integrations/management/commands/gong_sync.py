"""``manage.py gong_sync --tenant SLUG [--full] [--no-model]``: sync the tenant's Gong calls and
transcripts into its warehouse (:func:`integrations.gong.services.gong_sync_run`), print what was
read and linked, and exit non-zero with the message (also on the sync state) when it failed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.gong.services import gong_sync_run
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Sync the tenant's Gong calls and transcripts into its warehouse (incremental by call start)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--full", action="store_true",
            help="re-read every call from the connector's from_date and delete the calls Gong no longer lists (deletions)",
        )
        parser.add_argument("--no-model", action="store_true", help="do not declare the calls as call notes in the semantic model")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        report, offer = gong_sync_run(tenant=tenant, full=opts["full"], install_model=not opts["no_model"])
        w = self.stdout.write
        stamp = report.watermark.isoformat() if report.watermark else "none"
        w(f"schema {report.schema or '-'}: {report.fetched} call(s) read, {report.upserted} inserted or changed, "
          f"{f'{report.deleted} deleted (no longer listed by Gong), ' if opts['full'] else ''}{report.batches} page(s), linked {report.linked_crm} by CRM id and {report.linked_domain} by domain, watermark {stamp}")
        if offer is not None:
            w(f"semantic model {offer.title!r}: {offer.action}" + (f" ({offer.reason})" if offer.reason else ""))
        if not report.ok:
            raise CommandError(f"Gong sync failed: {report.error}")
