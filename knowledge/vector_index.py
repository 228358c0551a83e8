"""One partial HNSW expression index per embedding model on the dimension-less ``embedding`` column.

The column is ``vector`` without a dimension, so chunks of several models (and dimensions) share
it. An HNSW index needs a fixed dimension, hence one index per model, on the cast expression and
restricted to that model's rows::

    CREATE INDEX knowledge_chunk_hnsw_titan_v2_512 ON knowledge_knowledgechunk
    USING hnsw ((embedding::vector(512)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE embedding_model = 'titan-v2-512'

Queries must repeat the same cast in ``ORDER BY`` and the same predicate in ``WHERE``
(:func:`knowledge.selectors.chunk_search` does). Migrations create the indexes of the built-in
models (hashing, Titan V2 256/512/1024, MiniLM); :func:`ensure_hnsw_index` creates the index of
any other model (an OpenAI-compatible model chosen in settings) before a tenant is re-embedded
with it.
"""

from __future__ import annotations

import hashlib
import logging
import re

from django.db import connection

logger = logging.getLogger(__name__)

TABLE = "knowledge_knowledgechunk"
# HNSW build parameters. pgvector's defaults (16, 64) gave recall@10 of 0.85-0.88 with a 1-in-20
# tenant filter at 200,000 chunks (knowledge.bench); (32, 128) gives 0.95-0.96 for a build 2.8x
# longer (116 s instead of 42 s on 2 cores). Queries tune hnsw.ef_search.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 128
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")
_ensured: set[tuple[str, str]] = set()


def index_name(model: str) -> str:
    """PostgreSQL name of ``model``'s index (at most 63 bytes): ``knowledge_chunk_hnsw_<slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")
    name = f"knowledge_chunk_hnsw_{slug}"
    if len(name) > 63:
        name = f"knowledge_chunk_hnsw_{slug[:32]}_{hashlib.sha1(model.encode()).hexdigest()[:8]}"
    return name


def create_index_sql(model: str, dimensions: int, *, concurrently: bool = False) -> str:
    """``CREATE INDEX IF NOT EXISTS`` statement for ``model`` (name validated, dimensions an int).

    Raises:
        ValueError: ``model`` is not a valid model name or ``dimensions`` is outside 1..2000.
    """
    if not _NAME_RE.match(model):
        raise ValueError(f"invalid embedding model name {model!r}")
    dims = int(dimensions)
    if not 1 <= dims <= 2000:
        raise ValueError(f"HNSW indexes vectors of 1..2000 dimensions, got {dims}")
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {index_name(model)} ON {TABLE} "
        f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
        f"WHERE embedding_model = '{model}'"
    )


def ensure_hnsw_index(model: str, dimensions: int) -> bool:
    """Create ``model``'s partial HNSW index unless it exists; returns True when it was created.

    Outside a transaction the index is built ``CONCURRENTLY`` (writes go on meanwhile); inside
    one (tests, a caller's atomic block) it is built plainly. Cached per process and database.

    Raises:
        ValueError: see :func:`create_index_sql`.
    """
    key = (connection.settings_dict["NAME"], model)
    if key in _ensured:
        return False
    name = index_name(model)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
        exists = cursor.fetchone() is not None
        if not exists:
            concurrently = not connection.in_atomic_block
            logger.info("creating HNSW index %s for %s (%s dimensions)", name, model, dimensions)
            if not concurrently:
                # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED; PostgreSQL refuses to
                # build an index on a table with pending constraint checks, so run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(create_index_sql(model, dimensions, concurrently=concurrently))
            if not concurrently:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    if not connection.in_atomic_block:
        _ensured.add(key)  # inside a transaction the index may still be rolled back
    return not exists
