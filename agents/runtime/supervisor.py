"""The supervisor: routes a run to specialists, collects their sections, checks grounding and
assembles the answer with its sources.

Offline (the default provider) the specialists' deterministic playbooks compute and render
everything and the answer says so. With a model (Bedrock, OpenAI-compatible) the deterministic
route is a strong hint the model may extend, the playbooks' required queries still run first in
code, and each specialist's model narrates from their results with its role's tools.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.llm.base import OFFLINE_NOTICE, LLMError, LLMProvider, Message, ToolSpec
from agents.llm.providers import provider_for_tenant
from agents.models import Run, RunStatus, StepKind
from agents.playbooks import account_health, brief, copilot, data, deal, execution, forecast, lead, web
from agents.routing import COPILOT, DEAL, EXECUTION, LEAD, SPECIALISTS, WEB, RouteDecision, classify
from agents.runtime import grounding
from agents.runtime.context import BudgetExceeded, RunContext, ToolError
from agents.runtime.loop import Budgets, Usage, llm_call, specialist_loop
from agents.runtime.prompts import SUPERVISOR
from agents.runtime.text import markdown_to_plain
from agents.semantic.query import SemanticQueryError
from knowledge.semantic_model import SemanticModelInvalid

AGENT = "supervisor"
HISTORY_CHARS = 6000


@dataclass
class Outcome:
    """What the supervisor hands back to ``run_execute``."""

    route: list[str]
    route_reason: str
    answer_markdown: str
    answer_plain: str
    citations: list[dict]
    entities: dict = field(default_factory=dict)
    provider: str = "offline"
    usage: dict = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    grounding: dict = field(default_factory=dict)
    interpretation: dict = field(default_factory=dict)
    charts: list[dict] = field(default_factory=list)


def previous_runs(run: Run) -> list[Run]:
    """Earlier successful runs of the same conversation, oldest first."""
    if run.conversation_id is None:
        return []
    return list(
        Run.objects.filter(conversation_id=run.conversation_id, status=RunStatus.SUCCEEDED, queued_at__lt=run.queued_at)
        .order_by("queued_at")
        .only("query", "answer_plain", "entities")
    )


def conversation_history(prior: list[Run]) -> list[Message]:
    """Earlier turns as messages; when long, older turns are summarised to their first line."""
    turns = [(r.query, r.answer_plain) for r in prior]
    total = sum(len(q) + len(a) for q, a in turns)
    messages: list[Message] = []
    for i, (question, answer) in enumerate(turns):
        if total > HISTORY_CHARS and i < len(turns) - 2:
            first = next((line for line in answer.splitlines() if line.strip()), "")
            answer = f"(summary) {first[:200]}"
        messages += [Message(role="user", text=question), Message(role="assistant", text=answer[:3000])]
    return messages


HANDOFF = ToolSpec(
    "handoff",
    "Choose the specialists that answer the question, in order.",
    {
        "type": "object",
        "properties": {"agents": {"type": "array", "items": {"type": "string", "enum": list(SPECIALISTS)}, "minItems": 1, "maxItems": 3}},
        "required": ["agents"],
        "additionalProperties": False,
    },
)


def llm_route(ctx: RunContext, provider: LLMProvider, decision: RouteDecision, *, history: list[Message], usage: Usage, budgets: Budgets) -> list[str]:
    """Let the model refine the deterministic route; the classifier's choice is kept and the model
    may add specialists up to ``max_handoffs``. Any model failure keeps the classifier's route."""
    hint = decision.agents
    system = SUPERVISOR.format(hint=", ".join(hint), max_extra=max(0, budgets.max_handoffs - len(hint)))
    try:
        completion = llm_call(ctx, provider, agent=AGENT, system_name="supervisor", system=system, messages=history + [Message(role="user", text=ctx.run.query)], tools=[HANDOFF], usage=usage, budgets=budgets)
    except (LLMError, BudgetExceeded):
        return hint
    chosen = list(hint)
    for call in completion.message.tool_calls:
        if call.name == "handoff":
            for agent in call.arguments.get("agents", []):
                if agent in SPECIALISTS and agent not in chosen and len(chosen) < budgets.max_handoffs:
                    chosen.append(agent)
    # Execution acts on what the others found, so it always goes last.
    return sorted(chosen, key=lambda a: a == EXECUTION)


def _playbook(ctx: RunContext, agent: str, run: Run, decision: RouteDecision, previous: dict, sections: list[str]):
    if agent == DEAL:
        return deal.answer(ctx, run.query, previous=previous)
    if agent == LEAD:
        return lead.answer(ctx, run.query, person=decision.person, company=decision.company, previous=previous)
    if agent == WEB:
        return web.answer(ctx, run.query)
    if agent == EXECUTION:
        return execution.answer(ctx, run.query, prior_markdown="\n\n".join(sections))
    if agent == "account_health":
        return account_health.answer(ctx, run.query, previous=previous)
    if agent == "forecast":
        return forecast.answer(ctx, run.query, previous=previous)
    if agent == "brief":
        return brief.answer(ctx, run.query, previous=previous)
    if agent == COPILOT:
        return copilot.answer(ctx, run.query, previous=previous)
    return data.answer(ctx, run.query, previous=previous)


def supervise(
    *, run: Run, provider: LLMProvider | None = None, started: float | None = None,
    progress: Callable[[list[str], list[str]], None] | None = None,
) -> Outcome:
    """Answer ``run`` (tenant in context). ``provider`` defaults to the tenant's; ``started`` is
    the ``time.monotonic()`` the run's budget counts from; ``progress(planned, finished)`` (agent
    names) is called with the plan and after each specialist (the Slack acknowledgement, updated in
    place) and must not raise. Specialist failures become an honest section, not a crash."""
    ctx = RunContext(run=run, started=started) if started is not None else RunContext(run=run)
    provider = provider or provider_for_tenant(run.tenant)
    budgets = Budgets.from_tenant(run.tenant)
    usage = Usage()
    started = time.monotonic()
    decision = classify(run.query)
    prior = previous_runs(run)
    previous = prior[-1].entities if prior else {}
    history = conversation_history(prior)
    ctx.record(
        agent=AGENT,
        kind=StepKind.ROUTE,
        name="classify",
        input={"query": run.query, "as_of": run.as_of.isoformat(), "previous_entities": previous, "history_turns": len(prior)},
        output={"agents": decision.agents, "reason": decision.reason, "person": decision.person, "company": decision.company},
        output_summary=f"{', '.join(decision.agents)}: {decision.reason}",
        duration_ms=(time.monotonic() - started) * 1000,
    )
    agents = decision.agents
    if not provider.is_offline:
        agents = llm_route(ctx, provider, decision, history=history, usage=usage, budgets=budgets)
        if agents != decision.agents:
            ctx.record(agent=AGENT, kind=StepKind.ROUTE, name="llm_route", output={"agents": agents}, output_summary=", ".join(agents))
    sections: list[str] = []
    entities: dict = {}
    interpretation: dict = {}
    charts: list[dict] = []
    for position, agent in enumerate(agents):
        if progress is not None:
            progress(list(agents), list(agents[:position]))
        try:
            ctx.check_budget()
            result = _playbook(ctx, agent, run, decision, previous, sections)
        except (ToolError, SemanticQueryError, SemanticModelInvalid) as exc:  # e.g. the semantic model lacks a dimension the playbook needs
            sections.append(f"### {agent.replace('_', ' ').capitalize()}\n\nI could not complete this part: {exc}. No figures were guessed.")
            continue
        finally:
            ctx.flush_computations(agent=agent)
        entities.update(result.entities)
        charts.extend(result.charts)
        if result.interpretation:
            interpretation = result.interpretation
            ctx.record(
                agent=agent,
                kind=StepKind.TOOL_CALL,
                name="interpret",
                input={"question": run.query},
                output=interpretation,
                output_summary=f"{interpretation['status']}: " + (", ".join(interpretation.get("unmapped") or []) or "all parts mapped"),
            )
        # A question the offline parser declined still goes to a configured model: it may compute
        # what the semantic model cannot express (e.g. agents per office) with its tools; the
        # playbook's decline tells it which part is missing, and the grounding check applies.
        if provider.is_offline or agent == EXECUTION:
            sections.append(result.markdown)
        else:
            loop = specialist_loop(ctx, provider, agent=agent, question=run.query, playbook_markdown=result.markdown, history=history, usage=usage, budgets=budgets)
            sections.append(loop.markdown)
    if progress is not None:
        progress(list(agents), list(agents))
    body = "\n\n".join(sections)
    ctx.sources.add(run.query)
    ctx.sources.add(run.as_of)
    checked = grounding.check(body, ctx.sources)
    caveat = grounding.caveat(checked)
    notice = OFFLINE_NOTICE if provider.is_offline else f"_Written by {provider.name} from the tool results cited below._"
    markdown = "\n\n".join(p for p in (body, caveat, f"{notice} As of {run.as_of.isoformat()}.", render_sources(ctx.citations, body)) if p).strip()
    ctx.record(
        agent=AGENT,
        kind=StepKind.ANSWER,
        name="answer",
        output={"grounding": checked.as_dict(), "usage": usage.as_dict()},
        output_summary=f"{len(markdown)} characters, {len(ctx.citations)} citation(s), {checked.checked - len(checked.unmatched)}/{checked.checked} figures grounded",
        error=caveat,
    )
    return Outcome(
        route=agents,
        route_reason=decision.reason,
        answer_markdown=markdown,
        answer_plain=markdown_to_plain(markdown),
        citations=ctx.citations,
        entities=entities,
        provider=provider.name,
        usage=usage.as_dict(),
        grounding=checked.as_dict(),
        interpretation=interpretation,
        charts=charts,
    )


def render_sources(citations: list[dict], body: str | None = None) -> str:
    """The "Sources" footer: one line per citation, numbered like the ``[n]`` marks in the text.

    With ``body``, only the citations the text refers to (``[n]``) are listed: an answer names the
    sources it used, not every document a specialist opened (all stay in ``run.citations``).
    """
    if body is not None:
        used = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
        citations = [c for c in citations if c["ref"] in used]
    if not citations:
        return ""
    lines = ["#### Sources", ""]
    for c in citations:
        if c["type"] == "sql":
            rows = f"{c['row_count']:,} row{'' if c['row_count'] == 1 else 's'}"
            lines.append(f"[{c['ref']}] warehouse query: {c['purpose']} ({rows}; SQL in run step {c['step']})")
        elif c["type"] == "kb":
            section = c.get("heading_path") or ""
            if section.startswith(f"{c['title']} > "):
                section = section[len(c["title"]) + 3 :]
            heading = f" › {section}" if section else ""
            lines.append(f"[{c['ref']}] knowledge base: {c['title']} v{c['version']}{heading}")
        elif c["type"] == "web":
            pages = "; ".join(p["url"] + (f" ({p['published']})" if p.get("published") else "") for p in c.get("pages") or [])
            lines.append(f"[{c['ref']}] web search: “{c['query']}”" + (f": {pages}" if pages else ""))
    return "\n".join(lines)
