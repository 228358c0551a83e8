"""Writes for the knowledge base: saving, versioning and restoring documents, (re)building their
chunks, and moving a tenant to another embedding model without downtime."""

from __future__ import annotations

import logging
from typing import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from knowledge.chunking import Chunk, chunk_markdown
from knowledge.embedders import Embedder, default_embedder_spec, get_embedder, redact_secrets
from knowledge.models import (
    DocumentStatus,
    IndexStatus,
    KnowledgeBaseSettings,
    KnowledgeChunk,
    KnowledgeDocument,
    KnowledgeDocumentVersion,
    ReembedStatus,
)
from knowledge.search_terms import TEXT_SEARCH_CONFIG, normalise_tags  # normalise_tags: also used by the admin and transfer
from knowledge.vector_index import ensure_hnsw_index
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
    status: str | None = None,
    tags: Iterable[str] | str | None = None,
    note: str = "",
) -> KnowledgeDocument:
    """Create a document, or update ``document``; record the version; queue its re-indexing.

    ``kind`` is a :class:`~knowledge.models.DocumentKind` value; ``title`` is unique per tenant
    (surrounding spaces are stripped); ``body`` line endings are normalised to ``\n``. ``status``
    (draft/published) and ``tags`` default to the stored values on update, and to ``published``
    / ``[]`` on create (so callers that predate them keep publishing). On update, ``version``
    goes up by 1 only when kind, title, body, status or tags differ from the stored row (compared
    under a row lock, so an admin form that already copied the new values onto ``document`` is
    handled). Every new version is snapshotted as a
    :class:`~knowledge.models.KnowledgeDocumentVersion` (``created_by=user``, ``note``).

    Indexing: when the title or body changed, or the last indexing did not succeed, the document
    goes to ``index_status = pending`` and ``knowledge.tasks.index_document`` is enqueued after
    commit (idempotent). Kind, status and tag changes need no re-embedding: the chunks' copies of
    them are updated in the same transaction. ``user`` (optional) becomes ``updated_by``.

    Returns the saved row (a fresh instance on update, not ``document`` itself).

    Raises:
        django.core.exceptions.ValidationError: unknown kind or status, bad tag, blank or
            duplicate title, invalid front matter or front-matter parameters for the kind
            (messages name the line or key), or ``document`` belongs to another tenant. Nothing
            is written in that case.
    """
    title = title.strip()
    # Browsers submit textareas with CRLF line endings; store one convention so versions compare.
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    new_tags = normalise_tags(tags) if tags is not None else None
    with transaction.atomic():
        if document is None:
            row = KnowledgeDocument(tenant=tenant, version=1)
            changed = reindex = True
            old_status, old_tags, old_kind = DocumentStatus.PUBLISHED, [], kind
        else:
            if document.pk is None:
                raise ValueError("document must be a saved row; pass document=None to create one")
            if document.tenant_id != tenant.pk:
                raise ValidationError("A document cannot be moved to another tenant.")
            row = KnowledgeDocument.objects.for_tenant(tenant).select_for_update().get(pk=document.pk)
            old_status, old_tags, old_kind = row.status, list(row.tags), row.kind
            reindex = (row.title, row.body) != (title, body) or row.index_status != IndexStatus.INDEXED
            changed = (row.kind, row.title, row.body) != (kind, title, body)
        row.status = status if status is not None else old_status
        row.tags = new_tags if new_tags is not None else old_tags
        if document is not None and (row.status, row.tags) != (old_status, old_tags):
            changed = True
        if document is not None and changed:
            row.version += 1
        row.kind = kind
        row.title = title
        row.body = body
        if user is not None:
            row.updated_by = user
        if reindex:
            row.index_status = IndexStatus.PENDING
            row.index_error = ""
        row.full_clean()  # choices, lengths, front matter (field validator + clean()), unique title
        row.save()
        if document is not None and (row.status, row.kind, row.tags) != (old_status, old_kind, old_tags):
            # The chunks carry the retrieval filters: keep them in step in this transaction.
            KnowledgeChunk.objects.for_tenant(tenant).filter(document=row).update(
                document_status=row.status, document_kind=row.kind, document_tags=row.tags
            )
        if changed:
            KnowledgeDocumentVersion.objects.for_tenant(tenant).update_or_create(
                document=row,
                version=row.version,
                defaults=dict(
                    tenant_id=row.tenant_id,
                    kind=row.kind,
                    title=row.title,
                    body=row.body,
                    status=row.status,
                    tags=row.tags,
                    created_by=user,
                    note=note[:200],
                ),
            )
        if reindex:
            document_id = row.pk
            transaction.on_commit(lambda: async_task("knowledge.tasks.index_document", document_id))
    return row


def document_restore(*, document: KnowledgeDocument, version: int, user=None) -> KnowledgeDocument:
    """Make version ``version`` of ``document`` current again, as a new version (history is kept).

    Restores kind, title, body, status and tags of that snapshot and notes ``restored from vN``.
    Restoring content equal to the current one writes nothing and returns the document.

    Raises:
        KnowledgeDocumentVersion.DoesNotExist: no such version of this document.
        django.core.exceptions.ValidationError: the old title is now taken by another document,
            or the old front matter no longer validates.
    """
    snapshot = KnowledgeDocumentVersion.objects.for_tenant(document.tenant_id).get(document=document, version=version)
    return document_save(
        tenant=document.tenant,
        kind=snapshot.kind,
        title=snapshot.title,
        body=snapshot.body,
        status=snapshot.status,
        tags=snapshot.tags,
        user=user,
        document=document,
        note=f"restored from v{version}",
    )


# --- indexing -------------------------------------------------------------------------------------


def kb_settings_for(*, tenant: Tenant) -> KnowledgeBaseSettings:
    """The tenant's knowledge-base settings row, created with the default embedder spec on first
    use (which pins the tenant to that model: later changes of ``KB_EMBEDDER`` do not strand
    its chunks; :func:`kb_embedder_change` moves it)."""
    row, _ = KnowledgeBaseSettings.objects.for_tenant(tenant).get_or_create(
        tenant=tenant, defaults={"embedder": default_embedder_spec()}
    )
    return row


def _write_chunks(
    *, document: KnowledgeDocument, version: int, embedder: Embedder, chunks: list[Chunk], vectors: list[list[float]]
) -> None:
    """Replace ``document``'s chunks of ``embedder``'s model (caller holds the document row lock)."""
    chunks_of_tenant = KnowledgeChunk.objects.for_tenant(document.tenant_id)
    chunks_of_tenant.filter(document=document, embedding_model=embedder.name).delete()
    chunks_of_tenant.bulk_create(
        KnowledgeChunk(
            tenant_id=document.tenant_id,
            document=document,
            position=chunk.position,
            heading_path=chunk.heading_path,
            text=chunk.text,
            embedding=vector,
            embedding_model=embedder.name,
            document_version=version,
            document_status=document.status,
            document_kind=document.kind,
            document_tags=list(document.tags),
        )
        for chunk, vector in zip(chunks, vectors)
    )
    # Title (A) and heading path (B) weigh more than the text (C) in ts_rank.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE knowledge_knowledgechunk
                SET search_vector = setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', %s), 'A')
                                 || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', heading_path), 'B')
                                 || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', text), 'C')
                WHERE document_id = %s AND embedding_model = %s""",
            [document.title, document.pk, embedder.name],
        )


def _refresh_chunk_count(*, tenant_id: int) -> None:
    """Store how many chunks of its serving model the tenant has (selectors pick exact or HNSW
    search from it). One index-only count per indexing, not per search."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE knowledge_knowledgebasesettings s
               SET chunk_count = (SELECT count(*) FROM knowledge_knowledgechunk c
                                  WHERE c.tenant_id = s.tenant_id AND c.embedding_model = %s)
               WHERE s.tenant_id = %s""",
            [get_embedder(KnowledgeBaseSettings.objects.for_tenant(tenant_id).get().embedder).name, tenant_id],
        )


def _embed_chunks(document: KnowledgeDocument, embedder: Embedder, chunks: list[Chunk]) -> list[list[float]]:
    # The title is context the chunk text lacks.
    vectors = embedder.embed_documents([f"{document.title}\n{chunk.text}" for chunk in chunks]) if chunks else []
    if len(vectors) != len(chunks):
        raise RuntimeError(f"{embedder.name} returned {len(vectors)} vectors for {len(chunks)} chunks")
    return vectors


def document_index(*, document: KnowledgeDocument) -> int:
    """Rebuild ``document``'s chunks: chunk the markdown, embed, replace the old chunks atomically.

    Chunks are built for the tenant's serving embedder and, while the tenant is being re-embedded,
    for the pending one too (so edits made during a model change are not lost). Each chunk is
    embedded as ``"<document title>\\n<chunk text>"`` and gets a weighted search vector. On
    success the document is marked ``indexed`` with ``indexed_at``; on failure it is marked
    ``failed`` with ``index_error`` (prefixed by the model when the pending one failed) and the
    exception is re-raised; chunks of a model that failed are left as they were.

    Idempotent. If the document's version changed since it was read (a newer save queued its own
    indexing), nothing is written and 0 is returned.

    Returns the number of chunks written per model (0 for an empty body).
    """
    version = document.version
    try:
        config = kb_settings_for(tenant=document.tenant)
        specs = [config.embedder]
        if config.pending_embedder and config.pending_embedder != config.embedder:
            specs.append(config.pending_embedder)
        chunks = chunk_markdown(document.body, max_chars=CHUNK_MAX_CHARS, overlap_chars=CHUNK_OVERLAP_CHARS)
        embedded: list[tuple[Embedder, list[list[float]]]] = []
        failure: Exception | None = None
        for position, spec in enumerate(specs):
            try:
                embedder = get_embedder(spec)
                vectors = _embed_chunks(document, embedder, chunks)
            except Exception as exc:
                if position == 0:
                    raise
                failure = exc  # the serving model's chunks are still written
                failed_spec = spec
                continue
            embedded.append((embedder, vectors))
        for embedder, _ in embedded:
            ensure_hnsw_index(embedder.name, embedder.dimensions)
        with transaction.atomic():
            # The lock serialises concurrent indexers.
            current = (
                KnowledgeDocument.objects.for_tenant(document.tenant_id)
                .select_for_update()
                .filter(pk=document.pk)
                .values_list("version", flat=True)
                .first()
            )
            if current != version:
                logger.info("document %s changed (v%s -> v%s) while indexing; skipped", document.pk, version, current)
                return 0
            for embedder, vectors in embedded:
                _write_chunks(document=document, version=version, embedder=embedder, chunks=chunks, vectors=vectors)
            _refresh_chunk_count(tenant_id=document.tenant_id)
            now = timezone.now()
            if failure is None:
                KnowledgeDocument.objects.for_tenant(document.tenant_id).filter(pk=document.pk).update(
                    index_status=IndexStatus.INDEXED, index_error="", indexed_at=now
                )
        if failure is not None:
            raise RuntimeError(
                redact_secrets(f"re-embedding with {failed_spec!r} failed: {type(failure).__name__}: {failure}")
            ) from failure
    except Exception as exc:
        logger.exception("indexing document %s failed", document.pk)
        error = redact_secrets(f"{type(exc).__name__}: {exc}")[:2000]
        KnowledgeDocument.objects.for_tenant(document.tenant_id).filter(pk=document.pk, version=version).update(
            index_status=IndexStatus.FAILED, index_error=error
        )
        document.index_status, document.index_error = IndexStatus.FAILED, error
        raise
    document.index_status, document.index_error, document.indexed_at = IndexStatus.INDEXED, "", now
    return len(chunks)


# --- changing a tenant's embedding model ----------------------------------------------------------


def kb_embedder_change(*, tenant: Tenant, embedder: str, enqueue: bool = True) -> KnowledgeBaseSettings:
    """Start moving ``tenant`` to embedder spec ``embedder``; the current model keeps serving.

    Sets ``pending_embedder`` and (``enqueue``) enqueues ``knowledge.tasks.reembed_tenant`` after
    commit, which runs :func:`kb_reembed`. Choosing the serving spec again cancels a pending change (its partial
    chunks are deleted). Re-submitting the pending spec (e.g. after a failure) restarts the task,
    which skips documents already done.

    Raises:
        django.core.exceptions.ImproperlyConfigured: unknown spec or a provider misconfigured
            (checked before anything is written; no network call is made).
    """
    target = get_embedder(embedder)
    with transaction.atomic():
        config = kb_settings_for(tenant=tenant)
        config = KnowledgeBaseSettings.objects.for_tenant(tenant).select_for_update().get(pk=config.pk)  # re-read under a lock
        if embedder == config.embedder or target.name == get_embedder(config.embedder).name:
            if config.pending_embedder:
                _delete_model_chunks(tenant=tenant, model=get_embedder(config.pending_embedder).name, keep=target.name)
            config.pending_embedder = ""
            config.reembed_status = ReembedStatus.IDLE
            config.reembed_error = ""
            config.save()
            return config
        if config.pending_embedder and config.pending_embedder != embedder:
            _delete_model_chunks(tenant=tenant, model=get_embedder(config.pending_embedder).name, keep=get_embedder(config.embedder).name)
        config.pending_embedder = embedder
        config.reembed_status = ReembedStatus.RUNNING
        config.reembed_error = ""
        config.reembed_done = 0
        config.reembed_total = KnowledgeDocument.objects.for_tenant(tenant).count()
        config.reembed_started_at = timezone.now()
        config.reembed_finished_at = None
        config.save()
        tenant_id = tenant.pk
        if enqueue:
            transaction.on_commit(lambda: async_task("knowledge.tasks.reembed_tenant", tenant_id))
    return config


def _delete_model_chunks(*, tenant: Tenant, model: str, keep: str) -> None:
    if model != keep:
        KnowledgeChunk.objects.for_tenant(tenant).filter(embedding_model=model).delete()


def kb_reembed(*, tenant: Tenant, max_passes: int = 3) -> int:
    """Embed every document of ``tenant`` with its pending embedder, then switch to it.

    For each document without chunks of the new model at its current version, the chunks are
    built with the new model (the old model's chunks keep serving searches). When every document
    is done, one transaction makes the new spec the serving one and deletes the tenant's chunks
    of other models. Documents edited meanwhile are indexed for both models by
    :func:`document_index`; a document edited between a pass and the switch is caught by the
    next pass (up to ``max_passes``). Progress is kept in ``reembed_done`` / ``reembed_total``.

    Idempotent and resumable: documents already done are skipped. Returns the number of
    documents embedded; 0 when nothing is pending or the pending spec changed meanwhile.

    Raises:
        Exception: whatever the embedder raised; the settings row is then ``failed`` with the
            error, and the old model still serves.
    """
    config = kb_settings_for(tenant=tenant)
    settings_rows = KnowledgeBaseSettings.objects.for_tenant(tenant)
    spec = config.pending_embedder
    if not spec:
        return 0
    embedded = 0
    try:
        embedder = get_embedder(spec)
        ensure_hnsw_index(embedder.name, embedder.dimensions)
        for _ in range(max_passes):
            todo = _documents_missing_model(tenant=tenant, model=embedder.name)
            if not todo:
                break
            for document in todo:
                if not settings_rows.filter(pk=config.pk, pending_embedder=spec).exists():
                    logger.info("tenant %s: pending embedder changed, re-embedding with %s stopped", tenant.pk, spec)
                    return embedded
                _reembed_document(document=document, embedder=embedder)
                embedded += 1
                settings_rows.filter(pk=config.pk).update(reembed_done=F("reembed_done") + 1)
        with transaction.atomic():
            config = settings_rows.select_for_update().get(pk=config.pk)
            if config.pending_embedder != spec:
                return embedded
            missing = _documents_missing_model(tenant=tenant, model=embedder.name)
            if missing:
                raise RuntimeError(f"{len(missing)} document(s) still lack {embedder.name} chunks after {max_passes} passes")
            config.embedder = spec
            config.pending_embedder = ""
            config.reembed_status = ReembedStatus.IDLE
            config.reembed_error = ""
            config.reembed_finished_at = timezone.now()
            config.save()
            KnowledgeChunk.objects.for_tenant(tenant).exclude(embedding_model=embedder.name).delete()
            _refresh_chunk_count(tenant_id=tenant.pk)
        logger.info("tenant %s now served by %s (%s documents re-embedded)", tenant.pk, embedder.name, embedded)
        return embedded
    except Exception as exc:
        settings_rows.filter(pk=config.pk, pending_embedder=spec).update(
            reembed_status=ReembedStatus.FAILED, reembed_error=redact_secrets(f"{type(exc).__name__}: {exc}")[:2000]
        )
        raise


def _documents_missing_model(*, tenant: Tenant, model: str) -> list[KnowledgeDocument]:
    """Documents whose current version has no chunks of ``model`` (empty bodies need none)."""
    documents = list(KnowledgeDocument.objects.for_tenant(tenant).order_by("pk"))
    done = set(
        KnowledgeChunk.objects.for_tenant(tenant)
        .filter(embedding_model=model)
        .values_list("document_id", "document_version")
        .distinct()
    )
    return [
        d
        for d in documents
        if (d.pk, d.version) not in done
        and chunk_markdown(d.body, max_chars=CHUNK_MAX_CHARS, overlap_chars=CHUNK_OVERLAP_CHARS)
    ]


def _reembed_document(*, document: KnowledgeDocument, embedder: Embedder) -> None:
    version = document.version
    chunks = chunk_markdown(document.body, max_chars=CHUNK_MAX_CHARS, overlap_chars=CHUNK_OVERLAP_CHARS)
    vectors = _embed_chunks(document, embedder, chunks)
    with transaction.atomic():
        current = (  # the document's row, locked
            KnowledgeDocument.objects.for_tenant(document.tenant_id).select_for_update().filter(pk=document.pk).values_list("version", flat=True).first()
        )
        if current == version:  # else a newer save's indexing builds both models
            _write_chunks(document=document, version=version, embedder=embedder, chunks=chunks, vectors=vectors)
