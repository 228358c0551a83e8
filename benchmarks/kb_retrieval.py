"""Benchmark of knowledge-base retrieval at scale: ``python -m benchmarks.kb_retrieval [--n N] [--tenants T]``.

What it does (everything in a scratch database ``kb_bench_<pid>`` created on the configured
server with the project's migrations, dropped at the end unless ``--keep``):

1. Generates ``N`` synthetic chunks across ``T`` tenants from a fixed ``--seed``: a vocabulary of
   4,000 made-up words, 300 topics of 25 words each; documents of 10 chunks, each document on one
   topic (topics drawn with Zipf weights); a chunk is a heading plus 45 words, half from its
   topic and half from the whole vocabulary (Zipf). Chunks are embedded with the project's
   default ``hashing-384`` embedder (384 dimensions), so vectors and text agree the way they
   do in production, and the queries below go through :func:`knowledge.selectors.chunk_search`.
2. Loads documents and chunks with ``COPY`` (no indexes), then times the index builds: the
   partial HNSW expression index of ``hashing-384`` (m=16, ef_construction=64) and the GIN
   index on ``search_vector``.
3. Runs ``--queries`` queries (after ``--warmup`` unmeasured ones): a random tenant, four words
   (three of a topic that tenant has, one from the vocabulary below its 100 most frequent
   words, which stand for stopwords). Reports p50/p95/mean latency of
   hybrid top-10 (end to end: query embedding, SQL, rows to ChunkHit) with the tenant filter,
   and of the vector-only and text-only sides.
   This is the production path: a tenant with at most ``KB_EXACT_SEARCH_MAX_CHUNKS`` (20,000)
   chunks is ranked exactly, a bigger one through the HNSW index.
4. Recall@10 against an exact scan (|result ∩ exact| / |exact|, vector-only and hybrid top-10),
   for the production path and for the HNSW path forced (iterative scan, ``relaxed_order``) at
   ``ef_search`` 40, 100 and 400, with its latencies: what a tenant above the threshold gets.

Output: a human-readable report, and a JSON line (``--json``) with every figure.
Units: seconds for builds, milliseconds for latencies.
"""

from __future__ import annotations

import argparse
import bisect
import io
import itertools
import json
import os
import random
import statistics
import sys
import time
from multiprocessing import Pool

DOC_CHUNKS = 10
VOCAB = 4000
TOPICS = 300
TOPIC_WORDS = 25
CHUNK_WORDS = 45
MODEL = "hashing-384"


def _vocabulary(rng: random.Random) -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCAB:
        word = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Corpus:
    """Deterministic synthetic corpus: everything derives from ``seed``."""

    def __init__(self, *, n: int, tenants: int, seed: int) -> None:
        rng = random.Random(seed)
        self.n, self.tenants, self.seed = n, tenants, seed
        self.words = _vocabulary(rng)
        self.topics = [rng.sample(self.words, TOPIC_WORDS) for _ in range(TOPICS)]
        zipf = [1 / (rank + 1) ** 1.07 for rank in range(VOCAB)]
        self.word_cum = list(itertools.accumulate(zipf))
        topic_zipf = [1 / (rank + 1) ** 0.8 for rank in range(TOPICS)]
        self.topic_cum = list(itertools.accumulate(topic_zipf))
        self.documents = (n + DOC_CHUNKS - 1) // DOC_CHUNKS
        self.doc_topic = [self._pick(rng, self.topic_cum) for _ in range(self.documents)]

    @staticmethod
    def _pick(rng: random.Random, cum: list[float]) -> int:
        return bisect.bisect_left(cum, rng.random() * cum[-1])

    def doc_tenant(self, doc: int) -> int:
        return doc % self.tenants

    def chunk_text(self, index: int) -> tuple[int, str, str]:
        """(document index, heading path, text) of chunk ``index``."""
        rng = random.Random(self.seed * 1_000_003 + index)
        doc = index // DOC_CHUNKS
        topic = self.doc_topic[doc]
        words = [
            rng.choice(self.topics[topic]) if rng.random() < 0.5 else self.words[self._pick(rng, self.word_cum)]
            for _ in range(CHUNK_WORDS)
        ]
        heading = f"{self.topics[topic][0].title()} {self.topics[topic][1]} > Part {index % DOC_CHUNKS + 1}"
        return doc, heading, f"{heading}\n\n{' '.join(words)}."

    def queries(self, count: int) -> list[tuple[int, str]]:
        """``count`` (tenant index, query text) pairs, drawn from a separate random stream."""
        rng = random.Random(self.seed + 99)
        out = []
        for _ in range(count):
            doc = rng.randrange(self.documents)
            topic = self.topics[self.doc_topic[doc]]
            # The 100 most frequent words play the part of stopwords (the text-search configuration
            # drops real ones), so the fourth word is drawn below them.
            extra = self._pick(rng, self.word_cum)
            while extra < 100:
                extra = self._pick(rng, self.word_cum)
            words = rng.sample(topic, 3) + [self.words[extra]]
            out.append((self.doc_tenant(doc), " ".join(words)))
        return out


_corpus: Corpus | None = None


def _init_worker(n: int, tenants: int, seed: int) -> None:
    global _corpus
    _corpus = Corpus(n=n, tenants=tenants, seed=seed)


def _rows(bounds: tuple[int, int]) -> bytes:
    """COPY text rows for chunks [start, stop): doc index, position, heading, text, vector."""
    from knowledge.embedders import HashingEmbedder

    embedder = HashingEmbedder(384)
    out = io.StringIO()
    for index in range(*bounds):
        doc, heading, text = _corpus.chunk_text(index)
        title = f"Doc {doc}"
        vector = embedder.embed_documents([f"{title}\n{text}"])[0]
        literal = "[" + ",".join(f"{x:.6g}" for x in vector) + "]"
        out.write(f"{doc}\t{index % DOC_CHUNKS}\t{heading}\t{text.replace(chr(10), chr(92) + 'n')}\t{literal}\n")
    return out.getvalue().encode()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run(*, n: int, tenants: int, seed: int, queries: int, warmup: int, keep: bool, workers: int) -> dict:
    """Build N synthetic chunks over T tenants in a scratch database and measure index build time
    (s), hybrid/vector/text top-10 latency p50/p95 (ms) with a tenant filter and recall@10 against an
    exact scan; returns the figures as a dict (the database is dropped unless ``keep``)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")
    django.setup()
    from django.db import connection, transaction

    from knowledge.selectors import DEFAULT_EXACT_SEARCH_MAX_CHUNKS, chunk_search
    from knowledge.vector_index import create_index_sql, index_name
    from tenants.models import Tenant

    report: dict = {"n": n, "tenants": tenants, "seed": seed, "dimensions": 384, "queries": queries}
    scratch = f"kb_bench_{os.getpid()}"
    connection.settings_dict.setdefault("TEST", {}).update({"NAME": scratch, "CHARSET": None, "COLLATION": None, "TEMPLATE": None, "MIRROR": None, "MIGRATE": True})
    old_name = connection.settings_dict["NAME"]
    started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    report["migrate_s"] = round(time.perf_counter() - started, 1)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            report["pgvector"] = cursor.fetchone()[0]
            cursor.execute("SHOW server_version")
            report["postgres"] = cursor.fetchone()[0]
        corpus = Corpus(n=n, tenants=tenants, seed=seed)
        tenant_rows = [Tenant.objects.create(slug=f"bench-{i:02d}", name=f"Bench {i}") for i in range(tenants)]
        tenant_ids = [t.pk for t in tenant_rows]

        # --- load ------------------------------------------------------------------------------
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(MODEL)}")
            cursor.execute("DROP INDEX IF EXISTS knowledge_chunk_fts")
            raw = cursor.connection
            with raw.cursor().copy(
                "COPY knowledge_knowledgedocument (id, tenant_id, kind, title, body, status, tags, version,"
                " created_at, updated_at, index_status, index_error) FROM STDIN"
            ) as copy:
                for doc in range(corpus.documents):
                    copy.write_row(
                        (doc + 1, tenant_ids[corpus.doc_tenant(doc)], "business_logic", f"Doc {doc}", "", "published",
                         "{}", 1, "2025-01-01", "2025-01-01", "indexed", "")
                    )
            cursor.execute(
                "CREATE TEMP TABLE bench_chunks (doc int, position int, heading text, text text, embedding vector)"
            )
            step = 2000
            ranges = [(start, min(start + step, n)) for start in range(0, n, step)]
            with Pool(workers, initializer=_init_worker, initargs=(n, tenants, seed)) as pool:
                with raw.cursor().copy("COPY bench_chunks FROM STDIN") as copy:
                    for data in pool.imap(_rows, ranges):
                        copy.write(data)
            report["generate_and_copy_s"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            cursor.execute(
                """INSERT INTO knowledge_knowledgechunk
                      (tenant_id, document_id, position, heading_path, text, embedding, embedding_model,
                       document_version, document_status, document_kind, document_tags, search_vector, created_at)
                    SELECT d.tenant_id, d.id, b.position, b.heading, b.text, b.embedding, %s, 1, d.status, d.kind, d.tags,
                           setweight(to_tsvector('english', d.title), 'A')
                           || setweight(to_tsvector('english', b.heading), 'B')
                           || setweight(to_tsvector('english', b.text), 'C'),
                           now()
                    FROM bench_chunks b JOIN knowledge_knowledgedocument d ON d.id = b.doc + 1""",
                [MODEL],
            )
            cursor.execute("DROP TABLE bench_chunks")
            cursor.execute("ANALYZE knowledge_knowledgechunk")
            cursor.execute("ANALYZE knowledge_knowledgedocument")
            report["insert_tsvector_s"] = round(time.perf_counter() - started, 1)

            # --- index builds --------------------------------------------------------------------
            cursor.execute("SET maintenance_work_mem = '2GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 1")
            started = time.perf_counter()
            cursor.execute(create_index_sql(MODEL, 384))
            report["hnsw_build_s"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            cursor.execute("CREATE INDEX knowledge_chunk_fts ON knowledge_knowledgechunk USING gin (search_vector)")
            report["gin_build_s"] = round(time.perf_counter() - started, 1)
            cursor.execute("VACUUM ANALYZE knowledge_knowledgechunk")
            cursor.execute(f"SELECT pg_relation_size('{index_name(MODEL)}'), pg_relation_size('knowledge_chunk_fts'),"
                           " pg_total_relation_size('knowledge_knowledgechunk')")
            hnsw_bytes, gin_bytes, table_bytes = cursor.fetchone()
            report["hnsw_index_mb"] = round(hnsw_bytes / 2**20, 1)
            report["gin_index_mb"] = round(gin_bytes / 2**20, 1)
            report["table_total_mb"] = round(table_bytes / 2**20, 1)

        # --- queries ----------------------------------------------------------------------------
        from knowledge.models import KnowledgeBaseSettings

        with connection.cursor() as cursor:  # what indexing keeps: the serving model's chunk count
            for tenant in tenant_rows:
                cursor.execute(
                    "SELECT count(*) FROM knowledge_knowledgechunk WHERE tenant_id = %s AND embedding_model = %s",
                    [tenant.pk, MODEL],
                )
                KnowledgeBaseSettings.objects.for_tenant(tenant).create(tenant=tenant, embedder="hashing", chunk_count=cursor.fetchone()[0])
        query_list = corpus.queries(queries + warmup)
        by_id = {t.pk: t for t in tenant_rows}
        everything = 10**9

        def search(mode: str, tenant_index: int, text: str, *, force_hnsw: bool = False, **options) -> list[int]:
            tenant = by_id[tenant_ids[tenant_index]]
            if not force_hnsw:
                return [h.chunk_id for h in chunk_search(tenant=tenant, query=text, k=10, mode=mode, **options)]
            with transaction.atomic(), connection.cursor() as cursor:
                # Left alone, the planner prefers an exact scan (rows, then a sort) of a tenant
                # this small over the HNSW index (rightly); penalising sorts makes it walk the
                # index, which returns rows in distance order. The text side sorts either way.
                cursor.execute("SET LOCAL enable_sort = off")
                hits = chunk_search(tenant=tenant, query=text, k=10, mode=mode, exact_max_chunks=0, **options)
            return [h.chunk_id for h in hits]

        def timed(mode: str, **options) -> tuple[list[float], list[list[int]]]:
            latencies, results = [], []
            for tenant_index, text in measured:
                t0 = time.perf_counter()
                results.append(search(mode, tenant_index, text, **options))
                latencies.append((time.perf_counter() - t0) * 1000)
            return latencies, results

        def recall(approx: list[list[int]], exact: list[list[int]]) -> float:
            pairs = [(a, e) for a, e in zip(approx, exact) if e]
            return round(statistics.fmean(len(set(a) & set(e)) / len(e) for a, e in pairs), 4)

        def record(key: str, latencies: list[float]) -> None:
            report[f"{key}_p50_ms"] = round(_percentile(latencies, 50), 2)
            report[f"{key}_p95_ms"] = round(_percentile(latencies, 95), 2)
            report[f"{key}_mean_ms"] = round(statistics.fmean(latencies), 2)

        for tenant_index, text in query_list[:warmup]:
            search("hybrid", tenant_index, text)
        measured = query_list[warmup:]
        # Exact references: every tenant ranked by true cosine distance.
        _, exact_vector = timed("vector", exact_max_chunks=everything)
        _, exact_hybrid = timed("hybrid", exact_max_chunks=everything)
        # The production path: exact up to KB_EXACT_SEARCH_MAX_CHUNKS chunks per tenant, else HNSW.
        per_tenant = n // tenants
        report["chunks_per_tenant"] = per_tenant
        report["strategy"] = "exact" if per_tenant <= DEFAULT_EXACT_SEARCH_MAX_CHUNKS else "hnsw"
        for mode in ("hybrid", "vector", "text"):
            latencies, results = timed(mode)
            record(mode, latencies)
            if mode == "vector":
                report["vector_recall_at_10"] = recall(results, exact_vector)
            if mode == "hybrid":
                report["hybrid_recall_at_10"] = recall(results, exact_hybrid)
        # The HNSW path forced (what a tenant above the threshold gets), at three ef_search values.
        report["hnsw"] = {}
        for ef in (40, 100, 400):
            row = {}
            for mode, reference in (("vector", exact_vector), ("hybrid", exact_hybrid)):
                latencies, results = timed(mode, force_hnsw=True, ef_search=ef)
                row[f"{mode}_p50_ms"] = round(_percentile(latencies, 50), 2)
                row[f"{mode}_p95_ms"] = round(_percentile(latencies, 95), 2)
                row[f"{mode}_recall_at_10"] = recall(results, reference)
            report["hnsw"][ef] = row
        tenant_index, text = measured[0]
        with transaction.atomic(), connection.cursor() as cursor:
            from knowledge.embedders import get_embedder
            from knowledge.selectors import doc_filter_sql, search_sql, tsquery_text, vector_literal

            embedder = get_embedder("hashing")
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute("SET LOCAL hnsw.ef_search = 100")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(
                "EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF) "
                + search_sql(dimensions=384, mode="hybrid", doc_clause=doc_filter_sql(kinds=False, tags=False), exact=False),
                {
                    "qvec": vector_literal(embedder.embed_query(text)),
                    "tenant": tenant_ids[tenant_index],
                    "model": MODEL,
                    "candidates": 40,
                    "tsq": tsquery_text(text),
                    "rrf_k": 60,
                    "k": 10,
                    "statuses": ["published"],
                    "kinds": [],
                    "tags": [],
                },
            )
            report["plan"] = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        if keep:
            print(f"kept database {scratch}", file=sys.stderr)
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m benchmarks.kb_retrieval``; prints the figures; exit status 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kb_retrieval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="chunks (default 20,000)")
    parser.add_argument("--tenants", "-t", type=int, default=20, help="tenants (default 20)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--queries", type=int, default=200, help="measured queries per mode (default 200)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes generating chunks")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--plan", action="store_true", help="print EXPLAIN ANALYZE of one forced-HNSW hybrid query")
    args = parser.parse_args(argv)
    if args.n < DOC_CHUNKS or args.tenants < 1:
        parser.error("--n must be >= 10 and --tenants >= 1")
    report = run(
        n=args.n, tenants=args.tenants, seed=args.seed, queries=args.queries, warmup=args.warmup,
        keep=args.keep, workers=args.workers,
    )
    plan = report.pop("plan")
    r = report
    print(f"benchmarks.kb_retrieval  N={r['n']:,} chunks, T={r['tenants']} tenants, seed {r['seed']}, 384 dims "
          f"(PostgreSQL {r['postgres']}, pgvector {r['pgvector']})")
    print(f"  generate+embed+COPY {r['generate_and_copy_s']} s, insert with tsvector {r['insert_tsvector_s']} s")
    print(f"  index build: HNSW {r['hnsw_build_s']} s ({r['hnsw_index_mb']} MB), GIN {r['gin_build_s']} s "
          f"({r['gin_index_mb']} MB); table+indexes {r['table_total_mb']} MB")
    print(f"  production path ({r['chunks_per_tenant']:,} chunks per tenant: {r['strategy']} vector search), top-10 with tenant filter:")
    for mode in ("hybrid", "vector", "text"):
        print(f"    {mode:6} p50 {r[f'{mode}_p50_ms']} ms, p95 {r[f'{mode}_p95_ms']} ms, mean {r[f'{mode}_mean_ms']} ms ({r['queries']} queries)")
    print(f"    recall@10 vs exact scan: vector {r['vector_recall_at_10']}, hybrid {r['hybrid_recall_at_10']}")
    print("  HNSW path forced (iterative scan, relaxed order), top-10 with tenant filter:")
    for ef, row in r["hnsw"].items():
        print(f"    ef_search {ef:>3}: vector p50 {row['vector_p50_ms']} / p95 {row['vector_p95_ms']} ms, recall@10 {row['vector_recall_at_10']};"
              f" hybrid p50 {row['hybrid_p50_ms']} / p95 {row['hybrid_p95_ms']} ms, recall@10 {row['hybrid_recall_at_10']}")
    if args.plan:
        print(plan)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
