"""Retrieval quality on the demo tenant's documents: a labelled query set, recall@5 and MRR.

Each labelled query names the demo document (by title, from ``knowledge/demo_docs``) that
answers it. Queries are written the way people ask, not copied from the documents: some share
words with the answer, some are paraphrases (which a lexical embedder may miss; that is what
the figures are for).

- recall@5: share of queries whose answering document is among the documents of the top-5
  chunks.
- recall@1: share of queries whose first chunk belongs to the answering document (with only
  seven demo documents recall@5 is easy; recall@1 and MRR separate retrievers better).
- MRR: mean over queries of 1 / (rank of the first chunk of the answering document), 0 when it
  is not in the top 10.

Run against a tenant holding the demo documents: ``python manage.py kb_eval --tenant demo``
(the tests do it on a fresh tenant, see ``knowledge/tests/test_quality.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.embedders import Embedder
from knowledge.selectors import chunk_search, serving_embedder
from tenants.models import Tenant

STAGES = "Deal stages and MEDDPICC"
HEALTH = "Deal health score"
RISKS = "Deal risk warnings"
ICP = "Ideal customer profile (ICP)"
CHURN = "Customer classification and churn risk"
COMPETITORS = "Competitors and competitive mentions"
SEMANTIC = "Warehouse semantic model (CRM sample)"
TARGETS = "Revenue targets (demo targets)"

# (query, title of the document that answers it)
LABELLED_QUERIES: list[tuple[str, str]] = [
    ("what probability does a deal in the negotiate stage have?", STAGES),
    ("which MEDDPICC elements are required at proof of concept", STAGES),
    ("what does the E in MEDDPICC stand for", STAGES),
    ("CRM says Engaging but the calls only show discovery, which stage is it?", STAGES),
    ("is paper process needed before signature", STAGES),
    ("how is the deal health score calculated", HEALTH),
    ("what band is a deal scoring 80 points", HEALTH),
    ("technical validation points demo proof of concept", HEALTH),
    ("how many points is buyer engagement worth", HEALTH),
    ("when is a deal considered at risk or critical health", HEALTH),
    ("how many days without activity before a warning", RISKS),
    ("what does ghosted mean for a deal", RISKS),
    ("single-threaded opportunity with one contact", RISKS),
    ("stalled in stage threshold days", RISKS),
    ("is the close date pushed checked", RISKS),
    ("what is the revenue target for the East office in Q3 2025", TARGETS),
    ("how do I add a quota for a sales agent", TARGETS),
    ("how do we score ICP fit for a lead", ICP),
    ("title tiers VP head of director authority score", ICP),
    ("which industries are the best fit for us", ICP),
    ("employee band score for a company with 1,500 employees", ICP),
    ("confidence of the lead assessment when data is missing", ICP),
    ("what is a high churn risk score", CHURN),
    ("churn weights for commit customers", CHURN),
    ("difference between commit PLG and prospect customers", CHURN),
    ("is a churn score of 90 good or bad", CHURN),
    ("which competitors do reps mention in call notes", COMPETITORS),
    ("how to position against a competing vendor", COMPETITORS),
    ("is NorthPeak a competitor", COMPETITORS),
    ("what column holds the deal amount", SEMANTIC),
    ("how is win rate computed", SEMANTIC),
    ("which table has the call notes", SEMANTIC),
    ("where is the regional office of a sales agent", SEMANTIC),
    ("open deals have no close value, what amount do we use", SEMANTIC),
    ("industry sector spelled technolgy in the accounts table", SEMANTIC),
    ("lead with total cost of ownership when a rival is in the deal", COMPETITORS),
]


@dataclass(frozen=True)
class QualityReport:
    """``recall_at_1``, ``recall_at_5`` and ``mrr`` in [0, 1]; ``misses`` are the queries not
    answered in the top 5."""

    mode: str
    model: str
    queries: int
    recall_at_1: float
    recall_at_5: float
    mrr: float
    misses: tuple[str, ...]

    def line(self) -> str:
        return (
            f"{self.model} {self.mode}: recall@1 {self.recall_at_1:.3f}, recall@5 {self.recall_at_5:.3f}, "
            f"MRR {self.mrr:.3f} over {self.queries} queries"
        )


def evaluate(
    *,
    tenant: Tenant,
    titles: dict[str, int],
    mode: str = "hybrid",
    embedder: Embedder | None = None,
    queries: list[tuple[str, str]] | None = None,
) -> QualityReport:
    """Recall@1, recall@5 and MRR@10 of :func:`chunk_search` for ``tenant`` over the labelled queries.

    ``titles`` maps each document title to its id in ``tenant``. ``embedder`` overrides the
    tenant's serving embedder (its chunks must exist).

    Raises:
        KeyError: a labelled title is missing from ``titles``.
    """
    queries = queries or LABELLED_QUERIES
    first, found, reciprocal, misses = 0, 0, 0.0, []
    model = ""
    for query, title in queries:
        wanted = titles[title]
        hits = chunk_search(tenant=tenant, query=query, k=10, mode=mode, embedder=embedder)
        ranks = [i for i, hit in enumerate(hits, start=1) if hit.document_id == wanted]
        if ranks and ranks[0] == 1:
            first += 1
        if ranks and ranks[0] <= 5:
            found += 1
        else:
            misses.append(query)
        reciprocal += 1.0 / ranks[0] if ranks else 0.0
    if embedder is None:
        embedder = serving_embedder(tenant=tenant)
    model = embedder.name
    return QualityReport(
        mode=mode,
        model=model,
        queries=len(queries),
        recall_at_1=first / len(queries),
        recall_at_5=found / len(queries),
        mrr=reciprocal / len(queries),
        misses=tuple(misses),
    )
