"""Gong sync runs (the task and the command call these): sync the calls, then make the tenant's
semantic model read them as call notes. Services layer: writes KB documents through
:mod:`knowledge.services`; the sync itself is :mod:`integrations.gong.sync`.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.semantic.draft import semantic_model_document
from integrations.gong.model import FRAGMENT_PATH, GongModelError, has_other_call_notes, uses_gong_calls, with_gong_calls
from integrations.gong.sync import GongSyncReport, gong_sync
from knowledge.frontmatter import split_front_matter
from knowledge.models import DocumentKind, DocumentStatus, KnowledgeDocument
from knowledge.semantic_model import SemanticModelInvalid
from knowledge.services import document_save
from tenants.models import Tenant


@dataclass(frozen=True)
class CallNotesOffer:
    """What happened to the tenant's semantic model: ``updated`` (it had no call notes: Gong calls
    added in place, a new version), ``draft`` (it reads call notes from another table: a draft
    copy with Gong calls is offered for an editor to publish), ``kept`` (it already reads Gong
    calls) or ``skipped`` (no published semantic model, or it cannot take them: ``reason``)."""

    action: str
    title: str = ""
    document_id: int | None = None
    reason: str = ""


def gong_model_offer(*, tenant: Tenant) -> CallNotesOffer:
    """Declare the Gong calls as call notes in the semantic model the agents read (the most
    recently updated published one), by the rules of :class:`CallNotesOffer`."""
    doc = (
        KnowledgeDocument.objects.for_tenant(tenant)
        .filter(kind=DocumentKind.SEMANTIC_MODEL, status=DocumentStatus.PUBLISHED)
        .order_by("-updated_at")
        .first()
    )
    if doc is None:
        return CallNotesOffer("skipped", reason="the tenant has no published semantic model to declare the calls in")
    params, markdown = split_front_matter(doc.body)
    if uses_gong_calls(params):
        return CallNotesOffer("kept", doc.title, doc.pk)
    try:
        merged = with_gong_calls(params)
    except (GongModelError, SemanticModelInvalid) as exc:
        return CallNotesOffer("skipped", doc.title, doc.pk, reason=str(exc))
    _, fragment_md = split_front_matter(FRAGMENT_PATH.read_text())
    body = semantic_model_document(merged, markdown.rstrip("\n") + "\n\n" + fragment_md.replace("# Gong calls", "## Gong calls", 1))
    if has_other_call_notes(params):
        title = f"{doc.title} (with Gong calls)"
        existing = KnowledgeDocument.objects.for_tenant(tenant).filter(title=title).first()
        if existing is not None:
            return CallNotesOffer("kept", title, existing.pk)
        saved = document_save(tenant=tenant, kind=DocumentKind.SEMANTIC_MODEL, title=title, body=body, status=DocumentStatus.DRAFT,
                              note="offered by the Gong sync: Gong calls replace the call notes")
        return CallNotesOffer("draft", title, saved.pk)
    saved = document_save(tenant=tenant, kind=doc.kind, title=doc.title, body=body, document=doc, note="Gong calls as call notes (Gong sync)")
    return CallNotesOffer("updated", saved.title, saved.pk)


def gong_sync_run(
    *, tenant: Tenant, full: bool = False, install_model: bool = True, wait_scale: float = 1.0,
) -> tuple[GongSyncReport, CallNotesOffer | None]:
    """:func:`integrations.gong.sync.gong_sync` (``full``: re-read from ``from_date`` and delete
    calls Gong no longer lists), then (when it succeeded and ``install_model``)
    :func:`gong_model_offer`. Returns ``(report, offer or None)``."""
    report = gong_sync(tenant=tenant, full=full, wait_scale=wait_scale)
    offer = gong_model_offer(tenant=tenant) if report.ok and install_model else None
    return report, offer
