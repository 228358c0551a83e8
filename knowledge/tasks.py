"""django-q2 tasks for the knowledge base (thin: load by id, resolve the tenant, call a service)."""

from __future__ import annotations

import logging

from knowledge.models import KnowledgeDocument
from knowledge.services import document_index, kb_reembed
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def index_document(document_id: int) -> int | None:
    """Rebuild the chunks of document ``document_id``; return the chunk count.

    The task loader is where the tenant is resolved: the row is loaded by id across tenants and
    its tenant is put in context. An unknown id (document deleted after the save) is logged and
    ignored (returns None). Safe to retry: indexing replaces the chunks atomically.
    """
    document = KnowledgeDocument.objects.for_task(document_id)
    if document is None:
        logger.warning("index_document: document %s does not exist (deleted?); nothing to do", document_id)
        return None
    with tenant_context(document.tenant):
        return document_index(document=document)


def reembed_tenant(tenant_id: int) -> int | None:
    """Re-embed tenant ``tenant_id``'s documents with its pending embedder, then switch to it.

    Returns the number of documents embedded (None for an unknown tenant). Safe to retry and to
    run twice: finished documents are skipped, the switch happens once.
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        logger.warning("reembed_tenant: tenant %s does not exist; nothing to do", tenant_id)
        return None
    with tenant_context(tenant):
        return kb_reembed(tenant=tenant)
