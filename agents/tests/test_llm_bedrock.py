"""Bedrock Converse through boto3 with ``botocore.stub.Stubber`` (requests validated against the
real service model): multi-turn tool use, an error tool result, throttling retried, max_tokens
and guardrail stops handled."""

from __future__ import annotations

from collections import Counter

import pytest
from botocore.stub import ANY, Stubber

from agents.llm.providers import provider_for_tenant
from agents.models import Run
from agents.services import run_claim, run_create, run_execute
from agents.tests.conftest import read_csv
from integrations.services import credential_set
from tenants.context import tenant_context

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
EXPECTED = {"modelId": MODEL, "system": ANY, "messages": ANY, "inferenceConfig": ANY, "toolConfig": ANY}


def converse_reply(*, text: str | None = None, tool: tuple[str, str, dict] | None = None, stop: str = "end_turn", tokens=(120, 30)) -> dict:
    content = []
    if text is not None:
        content.append({"text": text})
    if tool:
        content.append({"toolUse": {"toolUseId": tool[0], "name": tool[1], "input": tool[2]}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 42},
    }


@pytest.fixture
def bedrock(demo, settings):
    settings.LLM_RETRY_BASE_SECONDS = 0.01
    demo.tenant.settings = {**demo.tenant.settings, "llm_provider": "bedrock"}
    demo.tenant.save()
    credential_set(
        tenant=demo.tenant, kind="llm", name="bedrock", config={"region": "us-east-1", "model_id": MODEL},
        secrets={"aws_access_key_id": "AKIAABCDEFGHIJKLMNOP", "aws_secret_access_key": "test-secret-key-not-real"},
    )
    provider = provider_for_tenant(demo.tenant)
    sent: list[dict] = []
    provider.client.meta.events.register("provide-client-params.bedrock-runtime.Converse", lambda params, **kw: sent.append(params))
    with Stubber(provider.client) as stubber:
        yield demo, provider, stubber, sent
        stubber.assert_no_pending_responses()


def _run(demo, provider, query) -> Run:
    with tenant_context(demo.tenant):
        run = run_create(tenant=demo.tenant, channel="cli", query=query, enqueue=False)
        assert run_claim(run_id=run.pk)
        return run_execute(run=Run.objects.get(pk=run.pk), provider=provider)


def test_multi_turn_tool_use_with_an_error_result(bedrock):
    demo, provider, stub, sent = bedrock
    offices = Counter(r["regional_office"] for r in read_csv("sales_teams"))
    stub.add_response("converse", converse_reply(tool=("t0", "handoff", {"agents": ["data"]}), stop="tool_use"), EXPECTED)
    stub.add_response("converse", converse_reply(tool=("t1", "warehouse_sql", {"sql": "DELETE FROM sales_teams", "purpose": "oops"}), stop="tool_use"), EXPECTED)
    stub.add_response("converse", converse_reply(tool=("t2", "warehouse_sql", {"sql": "SELECT regional_office, COUNT(*) AS n FROM sales_teams GROUP BY 1", "purpose": "agents per office"}), stop="tool_use"), EXPECTED)
    final = "Agents per office: " + ", ".join(f"{o} {n} [3]" for o, n in sorted(offices.items())) + "."
    stub.add_response("converse", converse_reply(text=final), EXPECTED)
    run = _run(demo, provider, "How many sales agents does each regional office have?")
    assert run.status == "succeeded", run.error
    assert final in run.answer_markdown and "Caveat" not in run.answer_markdown
    # The refused DELETE went back to the model as an error tool result, then the SELECT as success.
    results = [b["toolResult"] for m in sent[2]["messages"] for b in m["content"] if "toolResult" in b]
    assert results[-1]["status"] == "error" and "SELECT" in results[-1]["content"][0]["text"]
    results = [b["toolResult"] for m in sent[3]["messages"] for b in m["content"] if "toolResult" in b]
    assert results[-1]["status"] == "success"
    assert [t["toolSpec"]["name"] for t in sent[1]["toolConfig"]["tools"]][:2] == ["semantic_query", "warehouse_sql"]
    assert run.usage == {"input_tokens": 480, "output_tokens": 120}
    assert run.provider == "bedrock"


def test_throttled_call_is_retried(bedrock):
    demo, provider, stub, sent = bedrock
    stub.add_client_error("converse", service_error_code="ThrottlingException", service_message="Rate exceeded", http_status_code=429)
    stub.add_response("converse", converse_reply(tool=("t0", "handoff", {"agents": ["data"]}), stop="tool_use"), EXPECTED)
    stub.add_response("converse", converse_reply(text="No figures needed."), EXPECTED)
    run = _run(demo, provider, "How many accounts do we have?")
    assert run.status == "succeeded"
    assert len(sent) == 3 and "No figures needed." in run.answer_markdown


def test_max_tokens_gives_a_marked_partial_answer(bedrock):
    demo, provider, stub, _ = bedrock
    stub.add_response("converse", converse_reply(tool=("t0", "handoff", {"agents": ["data"]}), stop="tool_use"), EXPECTED)
    stub.add_response("converse", converse_reply(text="The win rate by office is", stop="max_tokens"), EXPECTED)
    run = _run(demo, provider, "What is the win rate by regional office?")
    assert "The win rate by office is" in run.answer_markdown
    assert "reached its output limit" in run.answer_markdown


def test_guardrail_stop_falls_back_to_the_playbook(bedrock):
    demo, provider, stub, _ = bedrock
    stub.add_response("converse", converse_reply(tool=("t0", "handoff", {"agents": ["data"]}), stop="tool_use"), EXPECTED)
    stub.add_response("converse", converse_reply(text="", stop="guardrail_intervened"), EXPECTED)
    run = _run(demo, provider, "What is the win rate by regional office?")
    assert "| Central |" in run.answer_markdown  # the playbook's computed table
    assert "safety filter stopped its answer (guardrail_intervened)" in run.answer_markdown


def test_access_denied_is_not_retried_and_the_run_still_answers(bedrock):
    demo, provider, stub, sent = bedrock
    stub.add_client_error("converse", service_error_code="AccessDeniedException", service_message="no access", http_status_code=403)
    stub.add_client_error("converse", service_error_code="AccessDeniedException", service_message="no access", http_status_code=403)
    run = _run(demo, provider, "What is the win rate by regional office?")
    assert len(sent) == 2  # routing and the specialist, once each
    assert "could not be reached" in run.answer_markdown and "| Central |" in run.answer_markdown
    steps = list(run.steps.filter(kind="llm").values_list("error", flat=True))
    assert steps and all("AccessDeniedException" in e for e in steps)
    assert "test-secret-key-not-real" not in str(list(run.steps.values("input", "output", "error")))
