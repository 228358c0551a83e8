import statistics
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents.evaluation import EvalFileError, eval_load, eval_run
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Run an evaluation file through the pipeline: eval --tenant SLUG [--provider P] FILE"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--provider", choices=["offline", "bedrock", "openai"], help="override the tenant's provider for this evaluation")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        try:
            data = eval_load(Path(opts["file"]))
        except EvalFileError as exc:
            raise CommandError(str(exc)) from exc
        provider = None
        if opts["provider"]:
            from agents.llm.base import provider_for_tenant

            tenant.settings = {**tenant.settings, "llm_provider": opts["provider"]}  # in memory only
            provider = provider_for_tenant(tenant)
        rows = eval_run(tenant=tenant, data=data, provider=provider)
        self.stdout.write(f"{'#':>2}  route answer grounded  tokens  latency  question")
        for i, r in enumerate(rows, 1):
            mark = lambda ok: "ok " if ok else "NO "  # noqa: E731
            self.stdout.write(f"{i:>2}  {mark(r.route_ok):5} {mark(r.answer_ok):6} {mark(r.grounded):8} {r.tokens:>7} {r.latency_ms:>6} ms  {r.question}")
            if not r.route_ok:
                self.stdout.write(f"      route was {r.route}")
            if r.missing:
                self.stdout.write(f"      missing: {', '.join(r.missing[:10])}")
        n = len(rows)
        lat = [r.latency_ms for r in rows]
        self.stdout.write(
            f"\nrouting accuracy {sum(r.route_ok for r in rows)}/{n} ({100 * sum(r.route_ok for r in rows) / n:.0f}%), "
            f"answer accuracy {sum(r.answer_ok for r in rows)}/{n} ({100 * sum(r.answer_ok for r in rows) / n:.0f}%), "
            f"grounding rate {sum(r.grounded for r in rows)}/{n} ({100 * sum(r.grounded for r in rows) / n:.0f}%), "
            f"tokens {sum(r.tokens for r in rows)}, latency median {statistics.median(lat):.0f} ms, p95 {sorted(lat)[max(0, int(0.95 * n) - 1)]} ms, total {sum(lat) / 1000:.1f} s"
        )
