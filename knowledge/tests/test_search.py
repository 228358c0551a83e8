import pytest
from django.db import connection, transaction

from knowledge.selectors import ChunkHit, _search_sql, _vector_literal, chunk_search
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


def test_search_sql_can_use_the_partial_hnsw_index(world_a, kb_a):
    """The ORDER BY expression and predicate must match the migration's index exactly."""
    embedder = get_embedder()
    literal = _vector_literal(embedder.embed_query("negotiate"))
    sql = _search_sql(dimensions=embedder.dimensions, filter_kinds=False)
    with transaction.atomic(), connection.cursor() as cursor:
        # Tiny tables would be scanned sequentially; forbid the alternatives to see if the index
        # is *usable* at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, [literal, world_a.tenant.pk, embedder.name, literal, 5, world_a.tenant.pk])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "knowledge_chunk_hnsw_hashing_384" in plan, plan
