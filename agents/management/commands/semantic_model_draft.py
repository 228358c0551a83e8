"""``manage.py semantic_model_draft --tenant SLUG [--publish] [--title T]``: onboard a warehouse.

Introspects the tenant's connected warehouse schema as its read-only reader role
(:func:`integrations.warehouse.selectors.tenant_schema_introspect`), drafts a semantic model
(:func:`agents.semantic.draft.semantic_model_draft`) and saves it as the tenant's
``semantic_model`` KB document titled ``T`` (default "Warehouse semantic model") through
:func:`knowledge.services.document_save`: created, or updated as a new version. The document is a
draft (agents do not read it) unless ``--publish``. Prints what was found and what an editor
must check.

Safety: an existing *published* document of that title is not turned back into a draft (pass
``--publish`` to replace it, or another ``--title``); a document of that title that is not a
semantic model is never overwritten. Only the tenant's own documents are read or written.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from agents.semantic.draft import DEFAULT_TITLE, semantic_model_document, semantic_model_draft
from integrations.warehouse.base import WarehouseError
from integrations.warehouse.selectors import tenant_schema_introspect
from knowledge.models import DocumentKind, DocumentStatus, KnowledgeDocument
from knowledge.services import document_save
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Draft the tenant's semantic model from its warehouse schema and save it as a KB document (draft unless --publish)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--publish", action="store_true", help="publish the document at once (scripted onboarding)")
        parser.add_argument("--title", default=None, help="document title (default: 'Warehouse semantic model')")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        title = (opts["title"] or DEFAULT_TITLE).strip()
        status = DocumentStatus.PUBLISHED if opts["publish"] else DocumentStatus.DRAFT
        with tenant_context(tenant):
            existing = KnowledgeDocument.objects.filter(title=title).first()
            if existing is not None and existing.kind != DocumentKind.SEMANTIC_MODEL:
                raise CommandError(f"document {title!r} exists and is a {existing.kind} document; pass another --title")
            if existing is not None and existing.status == DocumentStatus.PUBLISHED and not opts["publish"]:
                raise CommandError(
                    f"document {title!r} is published and the agents use it; a draft would unpublish it. "
                    "Pass --title to save a separate draft, or --publish to replace it."
                )
            try:
                schema = tenant_schema_introspect()
            except WarehouseError as exc:
                raise CommandError(f"cannot introspect the warehouse: {exc}") from None
            if not schema.tables:
                raise CommandError(
                    f"schema {schema.schema!r} holds no table the reader role can read: check the schema name "
                    "and GRANT USAGE ON SCHEMA / SELECT ON ALL TABLES to the reader role"
                )
            front_matter, markdown, notes = semantic_model_draft(schema, title=title)
            doc = document_save(
                tenant=tenant,
                kind=DocumentKind.SEMANTIC_MODEL,
                title=title,
                body=semantic_model_document(front_matter, markdown),
                document=existing,
                status=status,
                note="semantic_model_draft",
            )
            others = list(
                KnowledgeDocument.objects.filter(
                    kind=DocumentKind.SEMANTIC_MODEL, status=DocumentStatus.PUBLISHED
                ).exclude(pk=doc.pk).values_list("title", flat=True)
            )

        w = self.stdout.write
        w(f"schema {schema.schema}: {len(schema.tables)} table(s)")
        for table in schema.tables.values():
            rows = f"{table.row_count} rows" + ("" if table.row_count_exact else " (estimate)")
            pk = ", ".join(table.primary_key) or "none"
            fks = "; ".join(f"{', '.join(fk.columns)} -> {fk.ref_table}({', '.join(fk.ref_columns)})" for fk in table.foreign_keys)
            w(f"  {table.name}: {rows}, {len(table.columns)} columns, primary key {pk}" + (f", foreign keys {fks}" if fks else ""))
        counts = {k: len(front_matter.get(k) or {}) for k in ("entities", "relationships", "dimensions", "time_dimensions", "measures", "metrics")}
        w("proposed: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
        aliases = {n: d["aliases"] for n, d in front_matter["dimensions"].items() if d.get("aliases")}
        for dim, mapping in aliases.items():
            w(f"aliases on {dim}: " + ", ".join(f"{a} -> {b}" for a, b in mapping.items()))
        stages = front_matter.get("stages")
        if stages:
            w(f"stages ({stages['dimension']}): open {stages['open']}, won {stages['won']}, lost {stages['lost']}")
        w("what to check:")
        for note in notes:
            w(f"  - {note}")
        w(f"saved document {doc.title!r} (id {doc.pk}, version {doc.version}, {doc.status})")
        if doc.status == DocumentStatus.DRAFT:
            w("next: edit the document, run `manage.py semantic_model_check`, then publish it")
        if others:
            w(
                "note: other published semantic model documents exist ("
                + ", ".join(repr(t) for t in others)
                + "); the agents read the most recently updated one: unpublish the ones you do not want"
            )
