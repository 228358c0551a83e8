"""The semantic-model commands read the document the agents read: published, declaring
``rule_set: semantic_model`` (any kind), newest first (:func:`knowledge.selectors.rule_set_document`,
also behind ``RunContext.rules``); ``semantic_model_check`` falls back to the newest such draft.
``semantic_bench`` resolves its as-of date like a run (:func:`agents.timeperiods.resolve_as_of`)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.tests.test_semantic_onboarding import _draft, bare  # noqa: F401 (fixture)
from knowledge.models import DocumentKind, DocumentStatus
from knowledge.selectors import rule_set_document
from knowledge.services import document_save
from tenants.context import tenant_context
from tenants.models import Tenant

def test_check_falls_back_to_the_newest_draft_declaring_the_rule_set(bare):
    _draft(bare)
    # A newer semantic_model-kind note that declares no rule set: neither the agents nor check read it.
    document_save(
        tenant=bare, kind=DocumentKind.SEMANTIC_MODEL, title="Model notes", body="# Notes\n\nNo front matter.\n",
        status=DocumentStatus.DRAFT,
    )
    out = io.StringIO()
    call_command("semantic_model_check", "--tenant", "bare", stdout=out)
    assert "'Warehouse semantic model' (version 1, draft)" in out.getvalue()


def test_bench_reads_the_published_rule_set_document_the_agents_read(demo, tmp_path):
    with tenant_context(demo.tenant):
        _, before = rule_set_document(rule_set="semantic_model")
    assert before is not None and before.kind == DocumentKind.SEMANTIC_MODEL
    # Newer, published, another kind, declaring the rule set: RunContext.rules reads this one.
    document_save(tenant=demo.tenant, kind=DocumentKind.OTHER, title="Model v2",
                  body=before.body.replace("\nkind: semantic_model\n", "\nkind: other\n", 1))
    with tenant_context(demo.tenant):
        _, doc = rule_set_document(rule_set="semantic_model")
    assert doc.title == "Model v2"
    path = tmp_path / "one.yaml"
    path.write_text("as_of: '2025-06-30'\nquestions:\n- question: What is the win rate?\n")
    out = io.StringIO()
    call_command("semantic_bench", str(path), "--tenant", "demo", "--no-e2e", "--repeat", "1", stdout=out)
    assert "model 'Model v2' (version 1)" in out.getvalue()
    out = io.StringIO()
    call_command("semantic_model_check", "--tenant", "demo", stdout=out)
    assert "checking 'Model v2' (version 1, published)" in out.getvalue()


def test_bench_rejects_a_malformed_pinned_as_of_date(demo, tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("questions:\n- question: What is the win rate?\n")
    Tenant.objects.filter(pk=demo.tenant.pk).update(settings={"as_of_date": "2025-13-45"})
    with pytest.raises(CommandError, match="as-of"):
        call_command("semantic_bench", str(path), "--tenant", "demo", "--no-e2e", stdout=io.StringIO())
