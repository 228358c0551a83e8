from django.core.management.base import BaseCommand, CommandError

from knowledge.models import KnowledgeDocument
from knowledge.quality import LABELLED_QUERIES, evaluate
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Retrieval quality (recall@1, recall@5, MRR) of a tenant holding the demo documents, over the "
        "labelled queries of knowledge/quality.py, for hybrid, vector-only and text-only search."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo", help="tenant slug (default: demo)")
        parser.add_argument("--misses", action="store_true", help="list the queries missed in the top 5")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        titles = dict(KnowledgeDocument.objects.for_tenant(tenant).values_list("title", "id"))
        missing = {title for _, title in LABELLED_QUERIES} - set(titles)
        if missing:
            raise CommandError(f"{tenant.slug} lacks demo documents: {', '.join(sorted(missing))} (run `manage.py demo`)")
        with tenant_context(tenant):
            for mode in ("hybrid", "vector", "text"):
                report = evaluate(tenant=tenant, titles=titles, mode=mode)
                self.stdout.write(report.line())
                if opts["misses"]:
                    for query in report.misses:
                        self.stdout.write(f"    missed: {query}")
