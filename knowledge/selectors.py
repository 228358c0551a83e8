"""Reads for the knowledge base: semantic-ish chunk search and rule parameters from front matter."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import connection, transaction

from knowledge.embedders import get_embedder
from knowledge.frontmatter import split_front_matter
from knowledge.models import DocumentKind, KnowledgeDocument
from tenants.models import Tenant

MAX_K = 100


@dataclass(frozen=True)
class ChunkHit:
    """One search result. ``score`` is cosine similarity, ``1 - cosine distance``, in [-1, 1]
    (higher is closer; the hashing embedder gives 0 for texts sharing no feature)."""

    chunk_id: int
    document_id: int
    document_title: str
    document_kind: str
    document_version: int
    heading_path: str
    text: str
    score: float


def _search_sql(*, dimensions: int, filter_kinds: bool) -> str:
    """The search statement; ``dimensions`` is an int formatted into the casts.

    The ORDER BY expression repeats the partial HNSW index's expression exactly
    (``(embedding::vector(N)) <=> ...`` with ``embedding_model = ...``), otherwise PostgreSQL
    cannot use the index. With ``hnsw.iterative_scan = relaxed_order`` the index scan may return
    rows slightly out of order, so the materialised CTE is re-sorted (pgvector 0.8 README).
    Parameters: query vector, tenant id, model name, [tenant id, kinds], query vector, limit,
    tenant id.
    """
    dims = int(dimensions)
    kinds_clause = (
        "AND c.document_id IN (SELECT d.id FROM knowledge_knowledgedocument d "
        "WHERE d.tenant_id = %s AND d.kind = ANY(%s))"
        if filter_kinds
        else ""
    )
    return f"""
        WITH hits AS MATERIALIZED (
            SELECT c.id, c.document_id, c.heading_path, c.text,
                   (c.embedding::vector({dims})) <=> %s::vector({dims}) AS distance
            FROM knowledge_knowledgechunk c
            WHERE c.tenant_id = %s AND c.embedding_model = %s {kinds_clause}
            ORDER BY (c.embedding::vector({dims})) <=> %s::vector({dims})
            LIMIT %s
        )
        SELECT h.id, h.document_id, d.title, d.kind, d.version, h.heading_path, h.text, h.distance
        FROM hits h
        JOIN knowledge_knowledgedocument d ON d.id = h.document_id AND d.tenant_id = %s
        ORDER BY h.distance, h.id
    """


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def chunk_search(*, tenant: Tenant, query: str, k: int = 5, kinds: list[str] | None = None) -> list[ChunkHit]:
    """The ``k`` chunks of ``tenant``'s knowledge base closest to ``query``, best first.

    Embeds the query with :func:`knowledge.embedders.get_embedder` and compares it with chunks
    embedded by the same model only. ``kinds`` (DocumentKind values) restricts the documents;
    None or empty means all kinds. The SQL filters ``tenant_id`` explicitly (raw SQL bypasses the
    scoped manager). A query without any word (empty, punctuation) returns ``[]``; chunks whose
    vector is zero are never returned.

    Sets ``hnsw.iterative_scan = relaxed_order`` for the transaction (``SET LOCAL``) so that the
    tenant and kind filters cannot starve the HNSW scan of rows (pgvector >= 0.8).

    Raises:
        ValueError: ``k`` outside 1..100, or an unknown kind.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    kinds = list(kinds or [])
    unknown = set(kinds) - set(DocumentKind.values)
    if unknown:
        raise ValueError(f"unknown document kinds: {sorted(unknown)}")
    embedder = get_embedder()
    vector = embedder.embed_query(query)
    if not any(vector):
        return []
    literal = _vector_literal(vector)
    params: list = [literal, tenant.pk, embedder.name]
    if kinds:
        params += [tenant.pk, kinds]
    params += [literal, k, tenant.pk]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(_search_sql(dimensions=embedder.dimensions, filter_kinds=bool(kinds)), params)
        rows = cursor.fetchall()
    return [
        ChunkHit(
            chunk_id=chunk_id,
            document_id=document_id,
            document_title=title,
            document_kind=kind,
            document_version=version,
            heading_path=heading_path,
            text=text,
            score=1.0 - distance,
        )
        for chunk_id, document_id, title, kind, version, heading_path, text, distance in rows
        if distance is not None and not math.isnan(distance)  # zero vectors have no cosine
    ]


def document_for_kind(*, kind: str) -> KnowledgeDocument | None:
    """The current tenant's most recently updated document of ``kind``, or None.

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
    """
    return KnowledgeDocument.objects.filter(kind=kind).order_by("-updated_at", "-pk").first()


def document_params(*, kind: str) -> tuple[dict, KnowledgeDocument | None]:
    """``(front_matter, document)`` for :func:`document_for_kind`; ``({}, None)`` without one.

    The front matter is the parsed YAML mapping at the top of the body (``{}`` when absent);
    callers apply their own defaults for missing keys.

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
        knowledge.frontmatter.FrontMatterError: the stored front matter is invalid (saves
            validate it, so only rows written around :func:`knowledge.services.document_save`).
    """
    document = document_for_kind(kind=kind)
    if document is None:
        return {}, None
    params, _ = split_front_matter(document.body)
    return params, document
