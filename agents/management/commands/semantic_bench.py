"""``manage.py semantic_bench --tenant SLUG [FILE]``: how fast questions become SQL and answers.

Prints, over the questions of an evaluation file (default ``agents/evals/semantic.yaml``):
parse + compile time per question (the offline parser and the SQL compiler, values already
cached; target p95 < 20 ms) and end-to-end in-process time per question (a run created,
executed and stored, like ``manage.py ask``; target p95 < 300 ms). Figures in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents.evaluation import EvalFileError, eval_load, eval_run
from agents.runtime.context import dimension_values_load
from agents.semantic.compiler import compile_query
from agents.semantic.parser import parse_question
from agents.timeperiods import resolve_as_of
from integrations.warehouse.selectors import warehouse_for_tenant
from knowledge.frontmatter import FrontMatterError
from knowledge.selectors import rule_set_document
from knowledge.semantic_model import SemanticModelInvalid, parse_semantic_model
from tenants.context import tenant_context
from tenants.models import Tenant

DEFAULT_FILE = Path(settings.BASE_DIR) / "agents" / "evals" / "semantic.yaml"


def _pct(values: list[float], q: float) -> float:
    """The q-quantile (0-1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class Command(BaseCommand):
    help = "Benchmark: parse + compile time and end-to-end time per question (ms, p50/p95/max)."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--repeat", type=int, default=3, help="parse + compile repetitions per question (default 3)")
        parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end runs")

    def handle(self, *args, **opts):
        try:
            data = eval_load(Path(opts["file"]))
        except EvalFileError as exc:
            raise CommandError(str(exc)) from exc
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {opts['tenant']!r}")
        try:
            # The file's as_of, else the tenant's pinned date, else today in its time zone (as runs do).
            explicit = dt.date.fromisoformat(str(data["as_of"])) if data.get("as_of") else None
            as_of = resolve_as_of(tenant=tenant, explicit=explicit)
        except ValueError as exc:
            raise CommandError(f"invalid as-of date: {exc}") from None
        questions = [q["question"] for q in data["questions"]]
        with tenant_context(tenant):
            try:
                # The document the agents read: published, rule_set semantic_model, newest.
                params, doc = rule_set_document(rule_set="semantic_model")
            except FrontMatterError as exc:
                raise CommandError(f"a semantic model document has invalid front matter: {exc}") from None
            if doc is None:
                raise CommandError("the tenant has no published semantic model document")
            try:
                model = parse_semantic_model(params)
            except SemanticModelInvalid as exc:
                raise CommandError(f"invalid semantic model: {exc}") from exc
            self.stdout.write(f"model {doc.title!r} (version {doc.version}), as of {as_of.isoformat()}")
            values = self._values(tenant, model)
            timings: list[float] = []
            for question in questions:
                for _ in range(max(1, opts["repeat"])):
                    started = time.perf_counter()
                    parsed = parse_question(question, model=model, values=values, as_of=as_of)
                    if parsed.query is not None and not parsed.unmapped:
                        try:
                            compile_query(model, parsed.query)
                        except ValueError:
                            pass  # declined at compile time: still timed
                    timings.append((time.perf_counter() - started) * 1000)
        self.stdout.write(
            f"parse + compile: {len(questions)} questions x {opts['repeat']}: p50 {statistics.median(timings):.2f} ms, "
            f"p95 {_pct(timings, 0.95):.2f} ms, max {max(timings):.2f} ms (target p95 < 20 ms)"
        )
        if opts["no_e2e"]:
            return

        rows = eval_run(tenant=tenant, data={"as_of": as_of.isoformat(), "questions": [{"question": q} for q in questions]})
        e2e = [r.latency_ms for r in rows]
        self.stdout.write(
            f"end to end (in-process, offline): {len(e2e)} questions: p50 {statistics.median(e2e):.0f} ms, "
            f"p95 {_pct(e2e, 0.95):.0f} ms, max {max(e2e)} ms (target p95 < 300 ms)"
        )

    def _values(self, tenant, model) -> dict[str, list[str]]:
        """Distinct values of the linked dimensions, read once through the tenant's warehouse."""
        return dimension_values_load(model, warehouse_for_tenant(allowed_tables=model.table_names()))[0]
