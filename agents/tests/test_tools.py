"""The tool belt: refused SQL is an error the run records, never executed; KB rules are cited."""

from __future__ import annotations

import pytest

from agents.models import Run, RunStep
from agents.runtime.context import RunContext, ToolError
from agents.services import run_create
from tenants.context import tenant_context


@pytest.fixture
def ctx(demo):
    with tenant_context(demo.tenant):
        run = run_create(tenant=demo.tenant, channel="cli", query="tool test", enqueue=False)
        yield RunContext(run=run)


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("DROP TABLE sales_pipeline", "SELECT"),
        ("DELETE FROM sales_pipeline", "SELECT"),
        ("SELECT * FROM sales_pipeline; DELETE FROM accounts", "one"),
        ("SELECT * FROM pg_authid", "pg_authid"),
        ("SELECT pg_sleep(10)", "pg_sleep"),
        ("SELECT * INTO stolen FROM accounts", "INTO"),
    ],
)
def test_unsafe_sql_is_refused_and_recorded(ctx, sql, reason):
    with pytest.raises(ToolError) as exc:
        ctx.sql(sql, agent="data", purpose="attack")
    assert reason.lower() in str(exc.value).lower()
    step = RunStep.objects.filter(run=ctx.run, name="warehouse_sql").last()
    assert step.error and step.input["sql"] == sql
    assert not [c for c in ctx.citations if c["type"] == "sql"]


def test_safe_sql_gets_a_limit_and_a_citation(ctx):
    result = ctx.sql("SELECT account FROM accounts ORDER BY 1", agent="data", purpose="names")
    assert len(result.rows) == 85
    assert "LIMIT 1001" in result.sql  # the default 1,000-row cap plus one row to detect truncation
    citation = ctx.citations[result.citation - 1]
    assert citation["type"] == "sql" and citation["row_count"] == 85


def test_rules_come_from_kb_and_are_cited(ctx):
    params = ctx.rules("deal_health", agent="deal_analysis")  # typed: knowledge.validation.DealHealthRules
    assert (params.bands[0].min, params.bands[0].label) == (90, "Excellent")
    assert ctx.citations[-1]["title"] == "Deal health score"


def test_editing_a_rule_in_the_kb_changes_the_answer(demo, django_capture_on_commit_callbacks):
    """Risk thresholds are read from the KB document, not hard-coded."""
    from knowledge.models import KnowledgeDocument
    from knowledge.services import document_save

    from agents.tasks import execute_run

    with tenant_context(demo.tenant):
        doc = KnowledgeDocument.objects.get(title="Deal risk warnings")
        run = run_create(tenant=demo.tenant, channel="cli", query="Status of the Acme Corporation deals", enqueue=False)
        execute_run(run.pk)
        assert "Stalled in stage" in Run.objects.get(pk=run.pk).answer_markdown
        document_save(tenant=demo.tenant, kind=doc.kind, title=doc.title, body=doc.body.replace("stalled_in_stage_days: 90", "stalled_in_stage_days: 400"), document=doc)
        run2 = run_create(tenant=demo.tenant, channel="cli", query="Status of the Acme Corporation deals", enqueue=False)
        execute_run(run2.pk)
        answer = Run.objects.get(pk=run2.pk).answer_markdown
    assert "Stalled in stage" not in answer
    assert "Deal risk warnings v2" in answer


def test_rules_cite_document_and_heading(ctx):
    ctx.rules("deal_health", agent="deal_analysis", sections=("Bands",))
    kb = [c for c in ctx.citations if c["type"] == "kb" and c["title"] == "Deal health score"]
    assert [c["heading_path"] for c in kb] == ["", "Deal health score > Bands"]


def test_draft_rules_are_not_used(demo):
    from knowledge.models import KnowledgeDocument

    with tenant_context(demo.tenant):
        KnowledgeDocument.objects.filter(title="Deal health score").update(status="draft")
        run = run_create(tenant=demo.tenant, channel="cli", query="x", enqueue=False)
        with pytest.raises(ToolError, match="no published document"):
            RunContext(run=run).rules("deal_health", agent="deal_analysis")
