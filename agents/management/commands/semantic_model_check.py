"""``manage.py semantic_model_check --tenant SLUG [--title T] [--by-dimension] [--limit N]``.

Runs every metric of the tenant's semantic model once over all rows (and, with
``--by-dimension``, once per dimension with ``LIMIT N``), each compiled by
:func:`agents.semantic.compiler.compile_query` and executed through the tenant's warehouse
connector (SQL guard, read-only reader role, statement timeout), exactly as the agents would.
Prints ``OK`` / ``FAIL`` per metric with the value or the error; exits non-zero (CommandError)
when any check fails or the document does not validate.

The model checked is the published ``rule_set: semantic_model`` document the agents read (the
most recently updated one, :func:`knowledge.selectors.rule_set_document`); with none published,
the newest draft declaring ``rule_set: semantic_model`` (the onboarding order is draft, check,
publish); ``--title`` picks a document whatever its status. A breakdown the model cannot join without double counting (or at
all) is reported as ``skip`` with the compiler's reason, not as a failure: the agents decline
such questions by design.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from agents.semantic.compiler import compile_query
from agents.semantic.query import SemanticQuery, SemanticQueryError
from integrations.warehouse.base import WarehouseError
from integrations.warehouse.selectors import warehouse_for_tenant
from knowledge.frontmatter import FrontMatterError, split_front_matter
from knowledge.models import DocumentStatus, KnowledgeDocument
from knowledge.selectors import rule_set_document
from knowledge.semantic_model import SemanticModelInvalid, parse_semantic_model
from tenants.context import tenant_context
from tenants.models import Tenant


def _model_document(title: str | None):
    """The document to check (tenant in context): by title (any status); else the published
    ``rule_set: semantic_model`` document the agents read
    (:func:`knowledge.selectors.rule_set_document`, as ``RunContext.rules``: newest first); else,
    nothing published yet (onboarding: draft, check, then publish), the newest draft declaring
    ``rule_set: semantic_model``. None when there is none.

    Raises:
        knowledge.frontmatter.FrontMatterError: a candidate's stored front matter is invalid.
    """
    if title:
        return KnowledgeDocument.objects.filter(title=title.strip()).first()
    _, doc = rule_set_document(rule_set="semantic_model")
    if doc is None:
        _, doc = rule_set_document(rule_set="semantic_model", status=DocumentStatus.DRAFT)
    return doc


def _value(result, name: str) -> str:
    if not result.rows:
        return "no rows"
    row = dict(zip(result.columns, result.rows[0]))
    value = row.get(name)
    if value is None:
        return "NULL"
    try:
        return f"{float(value):,.2f}".rstrip("0").rstrip(".")
    except (TypeError, ValueError):
        return str(value)


class Command(BaseCommand):
    help = "Run every metric of the tenant's semantic model once (optionally per dimension); non-zero exit when one fails."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--title", default=None, help="check this document (any status) instead of the published model")
        parser.add_argument("--by-dimension", action="store_true", help="also run each metric grouped by each dimension")
        parser.add_argument("--limit", type=int, default=5, help="rows per breakdown with --by-dimension (default 5)")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        if opts["limit"] < 1:
            raise CommandError("--limit must be >= 1")
        w = self.stdout.write
        with tenant_context(tenant):
            try:
                doc = _model_document(opts["title"])
            except FrontMatterError as exc:
                raise CommandError(f"a semantic model document has invalid front matter: {exc}") from None
            if doc is None:
                what = f"no document titled {opts['title']!r}" if opts["title"] else "no semantic model document"
                raise CommandError(f"{what} for tenant {tenant.slug!r}; run semantic_model_draft first")
            try:
                params, _ = split_front_matter(doc.body)
                model = parse_semantic_model(params)
            except (FrontMatterError, SemanticModelInvalid) as exc:
                for line in getattr(exc, "errors", [str(exc)]):
                    w(f"INVALID {line}")
                raise CommandError(f"document {doc.title!r} is not a valid semantic model") from None
            w(f"checking {doc.title!r} (version {doc.version}, {doc.status}): {len(model.metrics)} metric(s)")
            try:
                warehouse = warehouse_for_tenant(allowed_tables=model.table_names())
            except WarehouseError as exc:
                raise CommandError(f"no warehouse: {exc}") from None

            def run(query: SemanticQuery) -> tuple[str, str, str]:
                """(status, value-or-error, sql) for one query: OK, FAIL or skip."""
                try:
                    compiled = compile_query(model, query)
                except SemanticQueryError as exc:
                    return ("skip" if query.group_by else "FAIL"), str(exc), ""
                except (SemanticModelInvalid, ValueError) as exc:
                    return "FAIL", f"cannot compile: {exc}", ""
                try:
                    result = warehouse.execute(compiled.sql, compiled.params)
                except WarehouseError as exc:
                    return "FAIL", str(exc), compiled.sql
                return "OK", _value(result, query.metrics[0]) if not query.group_by else f"{result.row_count} row(s)", compiled.sql

            failures: list[str] = []
            checks = 0
            for name in model.metrics:
                started = time.monotonic()
                query = SemanticQuery(metrics=(name,))
                if model.metrics[name].transform == "share_of_total":
                    # A share is over a breakdown: check it by the first dimension of its entity.
                    entity = model.measures[model.metrics[name].measure].entity
                    first = next((d for d, spec in model.dimensions.items() if spec.entity == entity), None)
                    query = SemanticQuery(metrics=(name,), group_by=(first,) if first else (), limit=opts["limit"])
                status, detail, sql = run(query)
                checks += 1
                ms = int((time.monotonic() - started) * 1000)
                w(f"{status:4} {name}: {detail} ({ms} ms)")
                if status == "FAIL":
                    failures.append(name)
                    if sql and opts["verbosity"] > 1:
                        w(f"     sql: {sql}")
                if not opts["by_dimension"]:
                    continue
                skipped = []
                for dim in model.dimensions:
                    status, detail, sql = run(SemanticQuery(metrics=(name,), group_by=(dim,), limit=opts["limit"]))
                    checks += 1
                    if status == "skip":
                        skipped.append(dim)
                        if opts["verbosity"] > 1:
                            w(f"     skip by {dim}: {detail}")
                        continue
                    if status == "FAIL":
                        failures.append(f"{name} by {dim}")
                        w(f"FAIL {name} by {dim}: {detail}")
                    elif opts["verbosity"] > 1:
                        w(f"OK   {name} by {dim}: {detail}")
                if skipped:
                    w(f"     {name}: not broken down by {', '.join(skipped)} (no join without double counting; -v 2 says why)")
            # The answers search call notes with `contains` (note_text): on PostgreSQL a trigram index serves it.
            searched = [(d, model.entities[spec.entity].table, spec.column) for d, spec in model.dimensions.items() if d == "note_text" and spec.column]
            if searched and hasattr(warehouse, "trigram_indexed_columns"):
                try:
                    indexed = warehouse.trigram_indexed_columns()
                except WarehouseError as exc:
                    indexed, searched = set(), []
                    w(f"note: could not read the warehouse's indexes: {exc}")
                for dim, table, column in searched:
                    if (table, column) not in indexed:
                        w(f"RECOMMEND {dim} ({table}.{column}) is searched by text and has no trigram index; as the table owner: "
                          f"CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON {warehouse.schema}.{table} USING gin ({column} gin_trgm_ops);")
        if failures:
            raise CommandError(f"{len(failures)} of {checks} check(s) failed: {', '.join(failures)}")
        w(f"all {checks} check(s) passed")
