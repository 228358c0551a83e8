"""Reads for the knowledge base: hybrid chunk search and rule parameters from front matter."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import connection, transaction

from knowledge.embedders import STOPWORDS as _STOPWORDS, Embedder, default_embedder_spec, get_embedder
from knowledge.frontmatter import split_front_matter
from knowledge.models import DocumentKind, DocumentStatus, KnowledgeBaseSettings, KnowledgeDocument
from knowledge.search_terms import TEXT_SEARCH_CONFIG, normalise_tags
from tenants.models import Tenant

MAX_K = 100
# A tenant with at most this many chunks (of its serving model) is searched exactly: its rows are
# read through the (tenant, model) btree and ranked by true cosine distance. Above it, the HNSW
# index with an iterative scan is used. Measured on 2 cores (knowledge.bench): an exact scan of
# 10,000 chunks of 384 dimensions takes about 10 ms, and filtered HNSW recall is poor on lexical
# (hashing) vectors; see the bench figures.
DEFAULT_EXACT_SEARCH_MAX_CHUNKS = 20_000
# hnsw.ef_search for the HNSW path (at least the candidate count).
DEFAULT_HNSW_EF_SEARCH = 100
# Reciprocal rank fusion constant (Cormack, Clarke & Buettcher, SIGIR 2009: k = 60).
RRF_K = 60
# Candidates taken from each retriever before fusion: max(k * CANDIDATE_FACTOR, MIN_CANDIDATES).
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 40
_WORD_RE = re.compile(r"[^\W_]+")

Mode = Literal["hybrid", "vector", "text"]


@dataclass(frozen=True)
class ChunkHit:
    """One search result, best first.

    ``score`` is the ranking score of the search mode: for ``hybrid`` (the default) the
    reciprocal-rank-fusion score scaled to [0, 1] (1 = ranked first by both the vector and the
    full-text retriever; ``(1/(60 + r_vec) + 1/(60 + r_text)) / (2/61)``); for ``vector`` the
    cosine similarity in [-1, 1]; for ``text`` PostgreSQL's ``ts_rank_cd`` (>= 0).
    ``vector_rank`` / ``text_rank`` are the 1-based ranks in each retriever (None when the chunk
    was not among its candidates), ``vector_score`` the cosine similarity and ``text_score`` the
    ``ts_rank_cd``. ``document_version`` is the version the chunk was built from.
    """

    chunk_id: int
    document_id: int
    document_title: str
    document_kind: str
    document_version: int
    heading_path: str
    text: str
    score: float
    vector_rank: int | None = None
    text_rank: int | None = None
    vector_score: float | None = None
    text_score: float | None = None
    document_status: str = DocumentStatus.PUBLISHED
    document_tags: tuple[str, ...] = ()


def serving_embedder(*, tenant: Tenant) -> Embedder:
    """The embedder whose chunks answer ``tenant``'s searches (its settings row, else the default).

    Raises:
        django.core.exceptions.ImproperlyConfigured: the spec cannot be built (settings changed).
    """
    return _serving(tenant)[0]


def _serving(tenant: Tenant) -> tuple[Embedder, int]:
    """(serving embedder, chunk count of its model) from the tenant's settings row."""
    row = KnowledgeBaseSettings.objects.for_tenant(tenant).values_list("embedder", "chunk_count").first()
    spec, count = row if row else (default_embedder_spec(), 0)
    return get_embedder(spec), count


def tsquery_text(query: str) -> str:
    """The OR-of-words ``to_tsquery`` input for ``query`` (``''`` when it has no content word).

    Natural-language questions rarely have all their words in one chunk, so the full-text side
    is recall-oriented: any word matches and ``ts_rank_cd`` ranks chunks with more (and
    title/heading) matches higher. Words are runs of letters/digits, so the text is safe to pass
    to ``to_tsquery``; English stopwords are dropped here and by the ``english`` configuration.
    """
    words = [w for w in _WORD_RE.findall(query.lower()) if w not in _STOPWORDS]
    seen: list[str] = []
    for word in words:
        if word not in seen:
            seen.append(word)
    return " | ".join(seen[:32])


def doc_filter_sql(*, kinds: bool, tags: bool) -> str:
    """The document filter of both retrievers (named parameters ``statuses``, ``kinds``,
    ``tags``), on the chunk's copies of the document's status, kind and tags."""
    clauses = ["c.document_status = ANY(%(statuses)s)"]
    if kinds:
        clauses.append("c.document_kind = ANY(%(kinds)s)")
    if tags:
        clauses.append("c.document_tags && %(tags)s::varchar[]")
    return "AND " + " AND ".join(clauses)


def search_sql(*, dimensions: int, mode: Mode, doc_clause: str, exact: bool = False) -> str:
    """The search statement (named parameters; ``dimensions`` is an int formatted into the casts).

    Vector side, HNSW (``exact=False``): ``ORDER BY (c.embedding::vector(N)) <=> q`` with
    ``c.embedding_model = m`` repeats the partial HNSW index's expression and predicate exactly,
    or PostgreSQL cannot use the index. With ``hnsw.iterative_scan = relaxed_order`` the index
    scan may return rows slightly out of order, so the materialised candidates are re-ranked
    (pgvector 0.8 README). Exact (``exact=True``): ``ORDER BY c.embedding <=> q`` on the
    dimension-less column matches no HNSW index, so the tenant's rows are ranked by true distance. Text side:
    ``search_vector @@ to_tsquery('english', ...)`` through the GIN index, ranked by
    ``ts_rank_cd``. The two candidate lists are fused with reciprocal rank fusion. Both sides
    filter ``tenant_id`` explicitly (raw SQL bypasses the scoped manager) and the document
    filter (status, kinds, tags; see :func:`doc_filter_sql`), then the result is joined to the
    tenant's documents for titles.
    """
    dims = int(dimensions)
    distance = (
        "c.embedding <=> %(qvec)s::vector" if exact else f"(c.embedding::vector({dims})) <=> %(qvec)s::vector({dims})"
    )
    vec_cte = f"""
        vec AS MATERIALIZED (
            SELECT c.id, {distance} AS distance
            FROM knowledge_knowledgechunk c
            WHERE c.tenant_id = %(tenant)s AND c.embedding_model = %(model)s {doc_clause}
            ORDER BY {distance}
            LIMIT %(candidates)s
        ),
        vec_ranked AS (
            SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
            FROM vec WHERE distance IS NOT NULL AND distance <> 'NaN'::float8
        )"""
    txt_cte = f"""
        txt AS MATERIALIZED (
            SELECT c.id, ts_rank_cd(c.search_vector, query) AS rank_score
            FROM knowledge_knowledgechunk c, to_tsquery('{TEXT_SEARCH_CONFIG}', %(tsq)s) query
            WHERE c.tenant_id = %(tenant)s AND c.embedding_model = %(model)s {doc_clause}
              AND c.search_vector @@ query
            ORDER BY rank_score DESC, c.id
            LIMIT %(candidates)s
        ),
        txt_ranked AS (
            SELECT id, rank_score, row_number() OVER (ORDER BY rank_score DESC, id) AS rank FROM txt
        )"""
    if mode == "vector":
        ctes, fused = vec_cte, """
        fused AS (SELECT id, rank AS vrank, distance, NULL::bigint AS trank, NULL::float4 AS rank_score,
                         1.0 - distance AS score FROM vec_ranked)"""
    elif mode == "text":
        ctes, fused = txt_cte, """
        fused AS (SELECT id, NULL::bigint AS vrank, NULL::float8 AS distance, rank AS trank, rank_score,
                         rank_score::float8 AS score FROM txt_ranked)"""
    else:
        ctes, fused = vec_cte + "," + txt_cte, """
        fused AS (
            SELECT COALESCE(v.id, t.id) AS id, v.rank AS vrank, v.distance, t.rank AS trank, t.rank_score,
                   (COALESCE(1.0 / (%(rrf_k)s + v.rank), 0) + COALESCE(1.0 / (%(rrf_k)s + t.rank), 0))
                   / (2.0 / (%(rrf_k)s + 1)) AS score
            FROM vec_ranked v FULL OUTER JOIN txt_ranked t ON t.id = v.id
        )"""
    return f"""
        WITH {ctes},{fused}
        SELECT f.id, c.document_id, d.title, d.kind, c.document_version, c.heading_path, c.text,
               f.score, f.vrank, f.distance, f.trank, f.rank_score, d.status, d.tags
        FROM fused f
        JOIN knowledge_knowledgechunk c ON c.id = f.id
        JOIN knowledge_knowledgedocument d ON d.id = c.document_id AND d.tenant_id = %(tenant)s
        ORDER BY f.score DESC, f.id
        LIMIT %(k)s
    """


def vector_literal(vector: list[float]) -> str:
    """pgvector's text form ``[x1,x2,...]``."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def chunk_search(
    *,
    tenant: Tenant,
    query: str,
    k: int = 5,
    kinds: list[str] | None = None,
    tags: list[str] | None = None,
    mode: Mode = "hybrid",
    include_drafts: bool = False,
    ef_search: int | None = None,
    embedder: Embedder | None = None,
    exact_max_chunks: int | None = None,
) -> list[ChunkHit]:
    """The ``k`` chunks of ``tenant``'s published documents most relevant to ``query``, best first.

    Hybrid by default: the query is embedded with the tenant's serving embedder
    (:func:`serving_embedder`, or ``embedder``) and compared by cosine distance with that model's
    chunks through its partial HNSW index, and matched against the chunks' full-text vectors
    (GIN); each side contributes ``max(4k, 40)`` candidates, fused by reciprocal rank fusion
    (k=60). ``mode="vector"`` or ``"text"`` uses one side only. ``kinds`` (DocumentKind values)
    and ``tags`` (any of) restrict the documents; None or empty means no restriction. Drafts are
    excluded unless ``include_drafts`` (the admin's test box). A query without any word returns
    ``[]``; chunks whose vector is zero are never returned by the vector side.

    Vector strategy: a tenant with at most ``exact_max_chunks`` chunks of the model (default
    ``KB_EXACT_SEARCH_MAX_CHUNKS`` from settings or the environment, 20,000) is ranked exactly; a bigger one through the
    model's partial HNSW index, with ``hnsw.iterative_scan = relaxed_order`` set for the
    transaction (``SET LOCAL``) so the tenant and document filters cannot starve the scan of
    rows (pgvector >= 0.8), and ``hnsw.ef_search`` = max(candidates, ``ef_search`` or
    ``KB_HNSW_EF_SEARCH``, default 100).

    Raises:
        ValueError: ``k`` outside 1..100, an unknown kind or mode, an invalid tag.
        django.core.exceptions.ImproperlyConfigured / knowledge.embedders.EmbeddingError: the
            embedder is misconfigured or failing (the query cannot be embedded).
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    if mode not in ("hybrid", "vector", "text"):
        raise ValueError(f"unknown search mode {mode!r}")
    kinds = list(kinds or [])
    unknown = set(kinds) - set(DocumentKind.values)
    if unknown:
        raise ValueError(f"unknown document kinds: {sorted(unknown)}")
    try:
        tags = normalise_tags(tags or [])
    except Exception as exc:  # ValidationError
        raise ValueError(f"invalid tags: {tags!r}") from exc
    if not _WORD_RE.search(query):
        return []
    serving, chunk_count = _serving(tenant)
    if embedder is None or embedder.name == serving.name:
        embedder = serving
    candidates = max(k * CANDIDATE_FACTOR, MIN_CANDIDATES)
    tsq = tsquery_text(query)
    if mode == "text" and not tsq:
        return []
    literal = None
    if mode != "text":
        vector = embedder.embed_query(query)
        if any(vector):
            literal = vector_literal(vector)
        elif mode == "vector":
            return []
        else:
            mode = "text"
    if mode == "hybrid" and not tsq:
        mode = "vector"
    statuses = [DocumentStatus.PUBLISHED, DocumentStatus.DRAFT] if include_drafts else [DocumentStatus.PUBLISHED]
    doc_clause = doc_filter_sql(kinds=bool(kinds), tags=bool(tags))
    params = {
        "qvec": literal,
        "tenant": tenant.pk,
        "model": embedder.name,
        "candidates": candidates,
        "tsq": tsq,
        "rrf_k": RRF_K,
        "k": k,
        "statuses": statuses,
        "kinds": kinds,
        "tags": tags,
    }
    if exact_max_chunks is None:
        exact_max_chunks = settings.KB_EXACT_SEARCH_MAX_CHUNKS
    ef = max(ef_search or settings.KB_HNSW_EF_SEARCH, candidates)
    # The serving model's count is kept by indexing; another model's (a re-embedding under way,
    # the quality tests) is counted here, up to the threshold.
    with transaction.atomic(), connection.cursor() as cursor:
        if embedder is not serving and mode != "text":
            cursor.execute(
                "SELECT count(*) FROM (SELECT 1 FROM knowledge_knowledgechunk "
                "WHERE tenant_id = %s AND embedding_model = %s LIMIT %s) t",
                [tenant.pk, embedder.name, exact_max_chunks + 1],
            )
            chunk_count = cursor.fetchone()[0]
        exact = chunk_count <= exact_max_chunks
        if not exact:
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {ef}")
        sql = search_sql(dimensions=embedder.dimensions, mode=mode, doc_clause=doc_clause, exact=exact)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    hits = []
    for (chunk_id, document_id, title, kind, version, heading_path, text, score, vrank, distance, trank,
         rank_score, status, doc_tags) in rows:
        if score is None or (isinstance(score, float) and math.isnan(score)):
            continue
        hits.append(
            ChunkHit(
                chunk_id=chunk_id,
                document_id=document_id,
                document_title=title,
                document_kind=kind,
                document_version=version,
                heading_path=heading_path,
                text=text,
                score=float(score),
                vector_rank=vrank,
                text_rank=trank,
                vector_score=None if distance is None else 1.0 - float(distance),
                text_score=None if rank_score is None else float(rank_score),
                document_status=status,
                document_tags=tuple(doc_tags or ()),
            )
        )
    return hits


def published_documents():
    """The current tenant's published documents (what the agents may use).

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
    """
    return KnowledgeDocument.objects.filter(status=DocumentStatus.PUBLISHED)


def document_for_kind(*, kind: str) -> KnowledgeDocument | None:
    """The current tenant's most recently updated *published* document of ``kind``, or None.

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
    """
    return published_documents().filter(kind=kind).order_by("-updated_at", "-pk").first()


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


def rule_set_document(*, rule_set: str, status: str = DocumentStatus.PUBLISHED) -> tuple[dict, KnowledgeDocument | None]:
    """``(front_matter, document)`` of the current tenant's most recently updated document of
    ``status`` whose front matter declares ``rule_set: <rule_set>`` (any kind); ``({}, None)``
    without one. With the default (published) this is the document the agents read
    (:meth:`agents.runtime.context.RunContext.rules`); the semantic-model commands use it too.

    Raises:
        tenants.context.TenantNotSet: no tenant in context.
        knowledge.frontmatter.FrontMatterError: a candidate's stored front matter is invalid.
    """
    candidates = KnowledgeDocument.objects.filter(status=status, body__contains=f"rule_set: {rule_set}")
    for document in candidates.order_by("-updated_at", "-pk"):
        params, _ = split_front_matter(document.body)
        if params.get("rule_set") == rule_set:
            return params, document
    return {}, None
