"""Writes for the knowledge base: saving documents and (re)building their chunks."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from knowledge.chunking import chunk_markdown
from knowledge.embedders import get_embedder
from knowledge.models import IndexStatus, KnowledgeChunk, KnowledgeDocument
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Chunk sizes in characters (about 300 and 40 English tokens).
CHUNK_MAX_CHARS = 1200
CHUNK_OVERLAP_CHARS = 150


def document_save(
    *,
    tenant: Tenant,
    kind: str,
    title: str,
    body: str,
    user=None,
    document: KnowledgeDocument | None = None,
) -> KnowledgeDocument:
    """Create a document, or update ``document``, then queue its re-indexing.

    ``kind`` is a :class:`~knowledge.models.DocumentKind` value; ``title`` is unique per tenant
    (surrounding spaces are stripped). On update, ``version`` goes up by 1 only when kind, title
    or body differ from the stored row (compared under a row lock, so an admin form that already
    copied the new values onto ``document`` is handled). Every save sets ``index_status`` to
    ``pending`` and, after commit, enqueues ``knowledge.tasks.index_document`` (idempotent), so a
    save also retries a failed indexing. ``user`` (optional) becomes ``updated_by``.

    Returns the saved row (a fresh instance on update, not ``document`` itself).

    Raises:
        django.core.exceptions.ValidationError: unknown kind, blank or duplicate title, invalid
            front matter (message names the line), or ``document`` belongs to another tenant.
            Nothing is written in that case.
    """
    title = title.strip()
    with transaction.atomic():
        if document is None:
            row = KnowledgeDocument(tenant=tenant, version=1)
        else:
            if document.pk is None:
                raise ValueError("document must be a saved row; pass document=None to create one")
            if document.tenant_id != tenant.pk:
                raise ValidationError("A document cannot be moved to another tenant.")
            # Explicit opt-out: the tenant is checked just above, and callers (admin, tasks) may
            # have no tenant in context.
            row = KnowledgeDocument.objects.unscoped().select_for_update().get(pk=document.pk)
            if (row.kind, row.title, row.body) != (kind, title, body):
                row.version += 1
        row.kind = kind
        row.title = title
        row.body = body
        if user is not None:
            row.updated_by = user
        row.index_status = IndexStatus.PENDING
        row.index_error = ""
        row.full_clean()  # choices, lengths, front matter (field validator), unique title
        row.save()
        document_id = row.pk
        transaction.on_commit(lambda: async_task("knowledge.tasks.index_document", document_id))
    return row


def document_index(*, document: KnowledgeDocument) -> int:
    """Rebuild ``document``'s chunks: chunk the markdown, embed, replace the old chunks atomically.

    Each chunk is embedded as ``"<document title>\\n<chunk text>"`` (the title is context the
    chunk text lacks) with :func:`knowledge.embedders.get_embedder`. On success the document is
    marked ``indexed`` with ``indexed_at``; on failure it is marked ``failed`` with
    ``index_error`` and the exception is re-raised.

    Idempotent. If the document's version changed since it was read (a newer save queued its own
    indexing), nothing is written and 0 is returned.

    Returns the number of chunks written (0 for an empty body).
    """
    version = document.version
    try:
        embedder = get_embedder()
        chunks = chunk_markdown(document.body, max_chars=CHUNK_MAX_CHARS, overlap_chars=CHUNK_OVERLAP_CHARS)
        vectors = embedder.embed_documents([f"{document.title}\n{chunk.text}" for chunk in chunks])
        with transaction.atomic():
            # Explicit opt-out: the document row is given; the lock serialises concurrent indexers.
            current = (
                KnowledgeDocument.objects.unscoped()
                .select_for_update()
                .filter(pk=document.pk)
                .values_list("version", flat=True)
                .first()
            )
            if current != version:
                logger.info("document %s changed (v%s -> v%s) while indexing; skipped", document.pk, version, current)
                return 0
            document.chunks.all().delete()
            KnowledgeChunk.objects.unscoped().bulk_create(
                KnowledgeChunk(
                    tenant_id=document.tenant_id,
                    document=document,
                    position=chunk.position,
                    heading_path=chunk.heading_path,
                    text=chunk.text,
                    embedding=vector,
                    embedding_model=embedder.name,
                )
                for chunk, vector in zip(chunks, vectors)
            )
            now = timezone.now()
            KnowledgeDocument.objects.unscoped().filter(pk=document.pk).update(
                index_status=IndexStatus.INDEXED, index_error="", indexed_at=now
            )
    except Exception as exc:
        logger.exception("indexing document %s failed", document.pk)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        KnowledgeDocument.objects.unscoped().filter(pk=document.pk, version=version).update(
            index_status=IndexStatus.FAILED, index_error=error
        )
        document.index_status, document.index_error = IndexStatus.FAILED, error
        raise
    document.index_status, document.index_error, document.indexed_at = IndexStatus.INDEXED, "", now
    return len(chunks)

