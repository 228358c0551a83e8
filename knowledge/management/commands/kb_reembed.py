from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from knowledge.embedders import EMBEDDER_SPECS
from knowledge.services import kb_embedder_change, kb_reembed, kb_settings_for
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Move tenants' knowledge bases to another embedder without downtime: the current model keeps "
        "serving until every document has the new model's chunks. Queued for the worker unless --now."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--tenant", help="tenant slug")
        target.add_argument("--all", action="store_true", help="every tenant")
        parser.add_argument("--embedder", required=True, help=f"embedder spec ({', '.join(EMBEDDER_SPECS)})")
        parser.add_argument("--now", action="store_true", help="re-embed in this process instead of the worker")

    def handle(self, *args, **opts):
        tenants = Tenant.objects.order_by("slug")
        if opts["tenant"]:
            tenants = tenants.filter(slug=opts["tenant"])
            if not tenants.exists():
                raise CommandError(f"unknown tenant {opts['tenant']!r}")
        for tenant in tenants:
            with tenant_context(tenant):
                try:
                    config = kb_embedder_change(tenant=tenant, embedder=opts["embedder"], enqueue=not opts["now"])
                except ImproperlyConfigured as exc:
                    raise CommandError(str(exc)) from exc
                if not config.pending_embedder:
                    self.stdout.write(f"{tenant.slug}: already served by {config.embedder}")
                    continue
                if opts["now"]:
                    done = kb_reembed(tenant=tenant)
                    config = kb_settings_for(tenant=tenant)
                    self.stdout.write(f"{tenant.slug}: {done} document(s) re-embedded; now served by {config.embedder}")
                else:
                    self.stdout.write(f"{tenant.slug}: re-embedding with {opts['embedder']} queued ({config.reembed_total} documents)")
