"""Answers read through the semantic layer: comparisons by breakdown, declines of concepts the model
lacks, and optional entities (call notes) missing from a tenant's model. Expected figures come from
the CSV files."""

from __future__ import annotations

from collections import defaultdict

import yaml

from agents.services import run_create
from agents.tasks import execute_run
from agents.models import Run
from agents.tests.conftest import read_csv
from knowledge.frontmatter import split_front_matter
from knowledge.models import KnowledgeDocument
from knowledge.services import document_save
from tenants.context import tenant_context


def _ask(tenant, query: str) -> Run:
    run = run_create(tenant=tenant, channel="cli", query=query, enqueue=False)
    execute_run(run.pk)
    with tenant_context(tenant):
        return Run.objects.get(pk=run.pk)


def _us_date(text: str):
    import datetime as dt

    m, d, y = (int(x) for x in text.split("/"))
    return dt.date(y, m, d)


def test_a_breakdown_compared_with_another_period_shows_both(demo):
    office = {r["sales_agent"]: r["regional_office"] for r in read_csv("sales_teams")}
    revenue = defaultdict(lambda: defaultdict(int))
    for r in read_csv("sales_pipeline"):
        if r["deal_stage"] == "Won":
            d = _us_date(r["close_date"])
            quarter = (d.year, (d.month - 1) // 3 + 1)
            revenue[quarter][office[r["sales_agent"]]] += int(r["close_value"])
    run = _ask(demo.tenant, "revenue by office this quarter vs last quarter")
    assert run.interpretation["status"] == "answered"
    for name in ("Central", "East", "West"):
        now, then = revenue[(2025, 2)][name], revenue[(2025, 1)][name]
        change = now - then
        assert f"| {name} | ${then:,} | ${now:,} | {'+' if change >= 0 else '-'}${abs(change):,} |" in run.answer_markdown
    assert not run.grounding.get("unmatched")


def test_a_concept_the_model_lacks_is_declined_even_next_to_known_words(demo):
    run = _ask(demo.tenant, "What is our win rate in competitive deals this year?")
    assert run.interpretation["status"] == "declined" and "competitive" in run.answer_markdown
    assert not run.steps.filter(name="warehouse_sql").exists()


def test_deal_analysis_degrades_when_the_model_has_no_call_notes(demo):
    """Call notes are optional: without them the deal card still shows the CRM figures and says what
    could not be checked, instead of refusing the analysis."""
    with tenant_context(demo.tenant):
        doc = next(d for d in KnowledgeDocument.objects.filter(kind="semantic_model") if "rule_set: semantic_model" in d.body)
        params, markdown = split_front_matter(doc.body)
        params["entities"].pop("call_notes")
        params["relationships"] = [r for r in params["relationships"] if "call_notes" not in (r["from"], r["to"])]
        params["time_dimensions"].pop("note_date")
        params["measures"].pop("note_count")
        params["metrics"].pop("call_notes")
        for name in [d for d, spec in params["dimensions"].items() if spec["entity"] == "call_notes"]:
            params["dimensions"].pop(name)
        body = "---\n" + yaml.safe_dump(params, sort_keys=False) + "---\n" + markdown
        document_save(tenant=demo.tenant, kind="semantic_model", title=doc.title, body=body, document=doc, status="published")
    won = [r for r in read_csv("sales_pipeline") if r["account"] == "Acme Corporation" and r["deal_stage"] == "Won"]
    run = _ask(demo.tenant, "What is the status of the Acme Corporation deals?")
    assert run.status == "succeeded", run.error
    assert "declares no call notes" in run.answer_markdown
    assert f"{len(won)} won" in run.answer_markdown


def test_a_comparison_by_month_is_declined_not_half_answered(demo):
    run = _ask(demo.tenant, "win rate by month this year vs last year")
    assert run.interpretation["status"] == "declined" and "month by month" in run.answer_markdown


def test_a_stored_query_with_a_string_where_a_list_belongs_is_refused():
    import pytest

    from agents.semantic.query import SemanticQuery, SemanticQueryError

    with pytest.raises(SemanticQueryError, match="must be a list"):
        SemanticQuery.from_dict({"metrics": ["won_revenue"], "filters": [{"dimension": "product", "values": "GTX Pro"}]})
