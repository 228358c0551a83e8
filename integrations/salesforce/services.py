"""Salesforce sync runs (the task and the command call these): sync, then offer the tenant a
semantic model for the synced tables.

Sits in the services layer (it writes KB documents through :mod:`knowledge.services`); the sync
itself is :mod:`integrations.salesforce.sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from agents.semantic.draft import semantic_model_document
from integrations.salesforce.sync import SyncReport, SyncTarget, salesforce_stage_semantics, salesforce_sync
from knowledge.frontmatter import split_front_matter
from knowledge.models import DocumentKind, DocumentStatus, KnowledgeDocument
from knowledge.semantic_model import parse_semantic_model
from knowledge.services import document_save
from tenants.models import Tenant

TEMPLATE_PATH = Path(settings.BASE_DIR) / "knowledge" / "semantic_models" / "salesforce.md"


@dataclass(frozen=True)
class ModelOffer:
    """What happened to the Salesforce semantic model: ``published`` (the tenant had none),
    ``draft`` (another published model exists: ours is offered as a draft), ``kept`` (the
    document already exists; an editor owns it) or ``skipped`` (nothing synced yet)."""

    action: str
    title: str
    document_id: int | None = None


def salesforce_model_front_matter(*, target: SyncTarget) -> tuple[dict, str]:
    """The template's front matter and Markdown, with the stage groups, order and probabilities
    taken from the synced opportunities' ``IsWon`` / ``IsClosed`` / ``Probability`` (the org's
    own stage settings) when any are synced.

    Raises:
        knowledge.semantic_model.SemanticModelInvalid: the result does not validate.
    """
    params, markdown = split_front_matter(TEMPLATE_PATH.read_text())
    stages = salesforce_stage_semantics(target=target)
    won = [s for s, is_won, closed, _, _ in stages if closed and is_won]
    lost = [s for s, is_won, closed, _, _ in stages if closed and not is_won]
    if won and lost:
        params["stages"] = {
            "dimension": params["stages"]["dimension"],
            "open": [s for s, _, closed, _, _ in stages if not closed],
            "won": won,
            "lost": lost,
            "order": [s for s, *_ in stages],
            "probabilities": {s: p for s, _, _, p, _ in stages if p is not None},
        }
    parse_semantic_model(params)
    return params, markdown


def salesforce_model_offer(*, tenant: Tenant, target: SyncTarget) -> ModelOffer:
    """Install the Salesforce semantic model for ``tenant`` (see :class:`ModelOffer` for the
    rules; an existing document of the template's title is never overwritten)."""
    params, markdown = salesforce_model_front_matter(target=target)
    title = str(params.get("title") or "Salesforce semantic model")
    docs = KnowledgeDocument.objects.for_tenant(tenant)
    existing = docs.filter(title=title).first()
    if existing is not None:
        return ModelOffer("kept", title, existing.pk)
    other_published = docs.filter(kind=DocumentKind.SEMANTIC_MODEL, status=DocumentStatus.PUBLISHED).exists()
    status = DocumentStatus.DRAFT if other_published else DocumentStatus.PUBLISHED
    doc = document_save(
        tenant=tenant, kind=DocumentKind.SEMANTIC_MODEL, title=title, body=semantic_model_document(params, markdown),
        status=status, note="installed by the Salesforce sync",
    )
    return ModelOffer(str(status), title, doc.pk)


def salesforce_sync_run(*, tenant: Tenant, full: bool = False, objects: list[str] | None = None, install_model: bool = True,
                        retry_wait: float = 1.0) -> tuple[SyncReport, ModelOffer | None]:
    """One sync of ``tenant`` (:func:`integrations.salesforce.sync.salesforce_sync`), then, when
    it succeeded and ``install_model``, :func:`salesforce_model_offer`.

    Returns:
        ``(report, offer or None)``. Raises ValueError for an unknown object name.
    """
    report = salesforce_sync(tenant=tenant, full=full, objects=objects, retry_wait=retry_wait)
    offer = None
    if report.ok and install_model and report.target is not None:
        offer = salesforce_model_offer(tenant=tenant, target=report.target)
    return report, offer
