"""Answers read through the semantic layer: comparisons by breakdown, declines of concepts the model
lacks, and optional entities (call notes) missing from a tenant's model. Expected figures come from
the CSV files."""

from __future__ import annotations

from collections import defaultdict

from agents.tests.conftest import read_csv
from agents.tests.runs import ask, drop_call_notes, semantic_model_edit


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
    run = ask(demo.tenant, "revenue by office this quarter vs last quarter")
    assert run.interpretation["status"] == "answered"
    for name in ("Central", "East", "West"):
        now, then = revenue[(2025, 2)][name], revenue[(2025, 1)][name]
        change = now - then
        assert f"| {name} | ${then:,} | ${now:,} | {'+' if change >= 0 else '-'}${abs(change):,} |" in run.answer_markdown
    assert not run.grounding.get("unmatched")


def test_a_concept_the_model_lacks_is_declined_even_next_to_known_words(demo):
    run = ask(demo.tenant, "What is our win rate in competitive deals this year?")
    assert run.interpretation["status"] == "declined" and "competitive" in run.answer_markdown
    assert not run.steps.filter(name="warehouse_sql").exists()


def test_deal_analysis_degrades_when_the_model_has_no_call_notes(demo):
    """Call notes are optional: without them the deal card still shows the CRM figures and says what
    could not be checked, instead of refusing the analysis."""
    semantic_model_edit(demo.tenant, drop_call_notes)
    won = [r for r in read_csv("sales_pipeline") if r["account"] == "Acme Corporation" and r["deal_stage"] == "Won"]
    run = ask(demo.tenant, "What is the status of the Acme Corporation deals?")
    assert run.status == "succeeded", run.error
    assert "declares no call notes" in run.answer_markdown
    assert f"{len(won)} won" in run.answer_markdown


def test_a_comparison_by_month_is_declined_not_half_answered(demo):
    run = ask(demo.tenant, "win rate by month this year vs last year")
    assert run.interpretation["status"] == "declined" and "month by month" in run.answer_markdown


def test_a_stored_query_with_a_string_where_a_list_belongs_is_refused():
    import pytest

    from agents.semantic.query import SemanticQuery, SemanticQueryError

    with pytest.raises(SemanticQueryError, match="must be a list"):
        SemanticQuery.from_dict({"metrics": ["won_revenue"], "filters": [{"dimension": "product", "values": "GTX Pro"}]})
