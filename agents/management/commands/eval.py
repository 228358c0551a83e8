"""``manage.py eval --tenant SLUG [--provider P] [--fail-under PCT] FILE``: run an evaluation file
through the pipeline (agents.evaluation) and print one line per question, what was missing or
read differently, and the totals: routing, answer accuracy (answerable questions), decline
accuracy (out-of-scope questions), interpreted-as accuracy, strict accuracy (answer and
interpretation both right), grounding, tokens, latency p50/p95.

``--fail-under PCT`` exits with an error when any reported accuracy (answer, decline,
interpreted-as) is below PCT percent (CI gate)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents.evaluation import EvalFileError, EvalSummary, eval_load, eval_run, eval_summary
from agents.llm.providers import provider_for_tenant
from tenants.models import Tenant


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else "ok" if ok else "NO"


def _share(ok: int, n: int) -> str:
    return f"{ok}/{n} ({100 * ok / n:.0f}%)"


class Command(BaseCommand):
    help = "Run an evaluation file through the pipeline: eval --tenant SLUG [--provider P] [--fail-under PCT] FILE"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--provider", choices=["offline", "bedrock", "openai"], help="override the tenant's provider for this evaluation")
        parser.add_argument(
            "--fail-under", type=float, metavar="PCT", help="fail when answer, decline or interpreted-as accuracy is below PCT percent"
        )

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
            tenant.settings = {**tenant.settings, "llm_provider": opts["provider"]}  # in memory only
            provider = provider_for_tenant(tenant)
        rows = eval_run(tenant=tenant, data=data, provider=provider)
        self.stdout.write(f"{'#':>3}  {'kind':7} route answer interp grounded  tokens  latency  question")
        for i, r in enumerate(rows, 1):
            thread = f"[{r.thread}] " if r.thread else ""
            self.stdout.write(
                f"{i:>3}  {r.kind:7} {_mark(r.route_ok):5} {_mark(r.answer_ok):6} {_mark(r.interpreted_ok):6} {_mark(r.grounded):8} "
                f"{r.tokens:>7} {r.latency_ms:>6} ms  {thread}{r.question}"
            )
            if not r.route_ok:
                self.stdout.write(f"       route was {r.route}")
            if r.status != "succeeded":
                self.stdout.write(f"       run {r.status}")
            if r.missing:
                self.stdout.write(f"       missing: {', '.join(r.missing[:10])}")
            for line in r.interpretation_diff:
                self.stdout.write(f"       interpreted as: {line}")
        s = eval_summary(rows)
        self.stdout.write("\n" + self._totals(s))
        if opts["fail_under"] is not None:
            low = [
                f"{name} {100 * acc:.1f}%"
                for name, acc in (("answer", s.answer_accuracy), ("decline", s.decline_accuracy), ("interpreted-as", s.interpreted_accuracy))
                if acc is not None and 100 * acc < opts["fail_under"]
            ]
            if low:
                raise CommandError(f"below {opts['fail_under']:g}%: {', '.join(low)}")

    @staticmethod
    def _totals(s: EvalSummary) -> str:
        parts = [f"routing accuracy {_share(s.routed_ok, s.questions)}"]
        if s.answerable:
            parts.append(f"answer accuracy {_share(s.answers_ok, s.answerable)}")
        if s.declines:
            parts.append(f"decline accuracy {_share(s.declines_ok, s.declines)}")
        if s.interpreted:
            parts.append(f"interpreted-as accuracy {_share(s.interpreted_ok, s.interpreted)}")
            parts.append(f"answered and interpreted as expected {_share(s.strict_ok, s.answerable)}")
        parts += [
            f"grounding rate {_share(s.grounded, s.questions)}",
            f"tokens {s.tokens}",
            f"latency median {s.latency_p50_ms:.0f} ms, p95 {s.latency_p95_ms} ms, total {s.latency_total_ms / 1000:.1f} s",
        ]
        return ", ".join(parts)
