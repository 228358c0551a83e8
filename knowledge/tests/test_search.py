import pytest
from django.db import connection, transaction

from knowledge.selectors import ChunkHit, chunk_search, doc_filter_sql, search_sql, vector_literal
from knowledge.embedders import get_embedder
from knowledge.tests.factories import make_document

STAGES = """# Deal stages and MEDDPICC

## Discover

Default probability 10%. Requires Metrics, Identify pain, Decision criteria, Champion, Competition.

## Negotiate

Default probability 75%. Requires every MEDDPICC element plus the Paper process.
"""
HEALTH = """# Deal health score

Four components of 25 points: buyer engagement, technical validation, business case,
process and timeline. Bands: 90-100 Excellent, 75-89 Good, 50-74 At risk.
"""
ICP = """# Ideal customer profile

Industry fit: software, fintech. Employee band 200-2000. Authority tiers: C-level, VP, Head are high.
"""
CHURN = """# Churn risk

Churn risk 0-100, higher is riskier. Commit weights: usage 40, engagement 25, business 25, contract 10.
"""


@pytest.fixture
def kb_a(world_a):
    tenant = world_a.tenant
    return {
        "stages": make_document(tenant=tenant, title="Deal stages", body=STAGES),
        "health": make_document(tenant=tenant, title="Deal health", body=HEALTH),
        "icp": make_document(tenant=tenant, title="ICP", body=ICP, kind="icp"),
        "churn": make_document(tenant=tenant, title="Churn", body=CHURN, kind="playbook"),
    }


def test_finds_the_right_document_among_several(world_a, kb_a):
    hits = chunk_search(tenant=world_a.tenant, query="what probability does the negotiate stage have?", k=3)
    assert hits[0].document_id == kb_a["stages"].pk
    assert hits[0].heading_path == "Deal stages and MEDDPICC > Negotiate"
    assert isinstance(hits[0], ChunkHit) and hits[0].document_title == "Deal stages"
    assert hits[0].document_version == 1 and hits[0].document_kind == "business_logic"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert 0 < hits[0].score <= 1

    assert chunk_search(tenant=world_a.tenant, query="health score bands", k=1)[0].document_id == kb_a["health"].pk
    assert chunk_search(tenant=world_a.tenant, query="authority tiers for VP", k=1)[0].document_id == kb_a["icp"].pk
    # Spelling variants still match lexically.
    assert chunk_search(tenant=world_a.tenant, query="churn riskyness weigths", k=1)[0].document_id == kb_a["churn"].pk


def test_k_limits_results(world_a, kb_a):
    assert len(chunk_search(tenant=world_a.tenant, query="deal", k=2)) == 2
    assert len(chunk_search(tenant=world_a.tenant, query="deal", k=50)) == 5  # all chunks of A


def test_tenant_b_never_sees_tenant_a_chunks(world_a, world_b, kb_a):
    query = "Default probability 75%. Requires every MEDDPICC element plus the Paper process."
    assert chunk_search(tenant=world_a.tenant, query=query, k=1)[0].score > 0.7  # same text, plus title and path
    assert chunk_search(tenant=world_b.tenant, query=query, k=10) == []
    b_doc = make_document(tenant=world_b.tenant, title="Deal stages", body="# Stages\n\nGlobex uses three stages.")
    hits = chunk_search(tenant=world_b.tenant, query=query, k=10)
    assert {h.document_id for h in hits} == {b_doc.pk}


def test_kinds_filter(world_a, kb_a):
    hits = chunk_search(tenant=world_a.tenant, query="deal stages probability", k=10, kinds=["icp", "playbook"])
    assert {h.document_kind for h in hits} == {"icp", "playbook"}
    hits = chunk_search(tenant=world_a.tenant, query="deal", k=10, kinds=["sql_pattern"])
    assert hits == []
    with pytest.raises(ValueError, match="unknown"):
        chunk_search(tenant=world_a.tenant, query="deal", kinds=["gossip"])


def test_degenerate_queries(world_a, kb_a):
    assert chunk_search(tenant=world_a.tenant, query="") == []
    assert chunk_search(tenant=world_a.tenant, query="?!") == []
    with pytest.raises(ValueError):
        chunk_search(tenant=world_a.tenant, query="deal", k=0)


def test_search_sql_can_use_the_partial_hnsw_and_gin_indexes(world_a, kb_a):
    """The ORDER BY expression and predicate must match the migration's index exactly."""
    embedder = get_embedder()
    sql = search_sql(dimensions=embedder.dimensions, mode="hybrid", doc_clause=doc_filter_sql(kinds=False, tags=False))
    params = {
        "qvec": vector_literal(embedder.embed_query("negotiate")),
        "tenant": world_a.tenant.pk,
        "model": embedder.name,
        "candidates": 40,
        "tsq": "negotiate",
        "rrf_k": 60,
        "k": 5,
        "statuses": ["published"],
        "kinds": [],
        "tags": [],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # Tiny tables would be scanned sequentially; forbid the alternatives to see if the
        # indexes are *usable* at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "knowledge_chunk_hnsw_hashing_384" in plan, plan
        # The full-text predicate of the text side can use the GIN index.
        cursor.execute(
            "EXPLAIN SELECT c.id FROM knowledge_knowledgechunk c, to_tsquery('english', %s) query "
            "WHERE c.search_vector @@ query",
            ["negotiate | stage"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Bitmap Index Scan on knowledge_chunk_fts" in plan, plan


# --- hybrid retrieval ------------------------------------------------------------------------------


def test_hybrid_fuses_both_retrievers_and_reports_each_rank(world_a, kb_a):
    hits = chunk_search(tenant=world_a.tenant, query="Negotiate probability paper process", k=3)
    top = hits[0]
    assert top.heading_path == "Deal stages and MEDDPICC > Negotiate"
    assert (top.vector_rank, top.text_rank, top.score) == (1, 1, pytest.approx(1.0))
    assert 0 < top.vector_score <= 1 and top.text_score > 0
    assert all(0 < h.score <= 1 for h in hits)
    vector = chunk_search(tenant=world_a.tenant, query="Negotiate probability paper process", k=3, mode="vector")
    text = chunk_search(tenant=world_a.tenant, query="Negotiate probability paper process", k=3, mode="text")
    assert vector[0].chunk_id == text[0].chunk_id == top.chunk_id
    assert vector[0].score == pytest.approx(vector[0].vector_score) and vector[0].text_rank is None
    assert text[0].score == pytest.approx(text[0].text_score) and text[0].vector_rank is None
    with pytest.raises(ValueError, match="mode"):
        chunk_search(tenant=world_a.tenant, query="deal", mode="semantic")


def test_text_side_finds_rare_exact_terms(world_a, kb_a):
    doc = make_document(tenant=world_a.tenant, title="Competitors", body="# Competitors\n\nNorthPeak and OmniSuite appear in calls.\n", kind="playbook")
    hits = chunk_search(tenant=world_a.tenant, query="northpeak", k=3, mode="text")
    assert [h.document_id for h in hits] == [doc.pk]


def test_only_published_documents_are_retrieved_unless_drafts_asked(world_a, kb_a):
    from knowledge.services import document_save

    stages = kb_a["stages"]
    document_save(tenant=world_a.tenant, kind=stages.kind, title=stages.title, body=stages.body, status="draft", document=stages)
    hits = chunk_search(tenant=world_a.tenant, query="negotiate stage probability", k=10)
    assert stages.pk not in {h.document_id for h in hits}
    drafts = chunk_search(tenant=world_a.tenant, query="negotiate stage probability", k=10, include_drafts=True)
    assert drafts[0].document_id == stages.pk and drafts[0].document_status == "draft"


def test_tags_and_kind_filters_follow_document_changes_without_reindexing(world_a, kb_a):
    from knowledge.services import document_save

    health = kb_a["health"]
    assert chunk_search(tenant=world_a.tenant, query="health score bands", k=5, tags=["scoring"]) == []
    document_save(tenant=world_a.tenant, kind="playbook", title=health.title, body=health.body, tags=["Scoring"], document=health)
    hits = chunk_search(tenant=world_a.tenant, query="health score bands", k=5, tags=["scoring", "other"])
    assert {h.document_id for h in hits} == {health.pk} and hits[0].document_tags == ("scoring",)
    assert {h.document_id for h in chunk_search(tenant=world_a.tenant, query="health", k=5, kinds=["playbook"])} >= {health.pk}


def test_hnsw_path_for_big_tenants_gives_the_same_answers(world_a, world_b, kb_a):
    make_document(tenant=world_b.tenant, title="Deal stages", body=STAGES)  # same text, other tenant
    query = "what probability does the negotiate stage have?"
    exact = chunk_search(tenant=world_a.tenant, query=query, k=3)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny table: make the planner walk the index
        hnsw = chunk_search(tenant=world_a.tenant, query=query, k=3, exact_max_chunks=0)
    assert [h.chunk_id for h in hnsw] == [h.chunk_id for h in exact]
    assert all(h.document_id in {d.pk for d in kb_a.values()} for h in hnsw)  # tenant filter held


def test_chunk_count_is_kept_for_the_strategy_choice(world_a, kb_a):
    from knowledge.models import KnowledgeBaseSettings

    assert KnowledgeBaseSettings.objects.unscoped().get(tenant=world_a.tenant).chunk_count == 5
    make_document(tenant=world_a.tenant, title="More", body="# A\n\none\n\n# B\n\ntwo\n")
    assert KnowledgeBaseSettings.objects.unscoped().get(tenant=world_a.tenant).chunk_count == 7
