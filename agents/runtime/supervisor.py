"""The supervisor: routes a run to specialists, collects their sections, and assembles a grounded
answer with its sources. Offline (the default provider) the specialists' deterministic playbooks
compute everything and the answer says so."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from agents.llm.base import OFFLINE_NOTICE, provider_for_tenant
from agents.models import Run, RunStatus, StepKind
from agents.playbooks import data, deal, execution, lead, web
from agents.routing import DATA, DEAL, EXECUTION, LEAD, WEB, classify
from agents.runtime.context import RunContext, ToolError

AGENT = "supervisor"


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


def previous_entities(run: Run) -> dict:
    """Entities resolved by the latest earlier successful run in the same conversation."""
    if run.conversation_id is None:
        return {}
    prior = (
        Run.objects.filter(conversation_id=run.conversation_id, status=RunStatus.SUCCEEDED, queued_at__lt=run.queued_at)
        .order_by("-queued_at")
        .values_list("entities", flat=True)
        .first()
    )
    return prior or {}


def supervise(*, run: Run) -> Outcome:
    """Answer ``run`` (tenant in context). Specialist failures become an honest section, not a crash."""
    ctx = RunContext(run=run)
    provider = provider_for_tenant(run.tenant)
    started = time.monotonic()
    decision = classify(run.query)
    previous = previous_entities(run)
    ctx.record(
        agent=AGENT,
        kind=StepKind.ROUTE,
        name="classify",
        input={"query": run.query, "as_of": run.as_of.isoformat(), "previous_entities": previous},
        output={"agents": decision.agents, "reason": decision.reason, "person": decision.person, "company": decision.company},
        output_summary=f"{', '.join(decision.agents)}: {decision.reason}",
        duration_ms=(time.monotonic() - started) * 1000,
    )
    sections: list[str] = []
    entities: dict = {}
    for agent in decision.agents:
        try:
            ctx.check_budget()
            if agent == DEAL:
                result = deal.answer(ctx, run.query, previous=previous)
            elif agent == LEAD:
                result = lead.answer(ctx, run.query, person=decision.person, company=decision.company, previous=previous)
            elif agent == WEB:
                result = web.answer(ctx, run.query)
            elif agent == EXECUTION:
                result = execution.answer(ctx, run.query, prior_markdown="\n\n".join(sections))
            else:
                result = data.answer(ctx, run.query)
        except ToolError as exc:
            sections.append(f"### {agent.replace('_', ' ').capitalize()}\n\nI could not complete this part: {exc}. No figures were guessed.")
            continue
        sections.append(result.markdown)
        entities.update(result.entities)
    notice = OFFLINE_NOTICE if provider.is_offline else ""
    body = "\n\n".join(sections)
    markdown = f"{body}\n\n{notice} As of {run.as_of.isoformat()}.\n\n{render_sources(ctx.citations)}".strip()
    ctx.record(agent=AGENT, kind=StepKind.ANSWER, name="answer", output_summary=f"{len(markdown)} characters, {len(ctx.citations)} citation(s)")
    return Outcome(
        route=decision.agents,
        route_reason=decision.reason,
        answer_markdown=markdown,
        answer_plain=markdown_to_plain(markdown),
        citations=ctx.citations,
        entities=entities,
        provider=provider.name,
    )


def render_sources(citations: list[dict]) -> str:
    """The "Sources" footer: one line per citation, numbered like the ``[n]`` marks in the text."""
    if not citations:
        return ""
    lines = ["#### Sources", ""]
    for c in citations:
        if c["type"] == "sql":
            lines.append(f"[{c['ref']}] warehouse query: {c['purpose']} ({c['row_count']} rows; SQL in run step {c['step']})")
        elif c["type"] == "kb":
            heading = f" › {c['heading_path']}" if c.get("heading_path") else ""
            lines.append(f"[{c['ref']}] knowledge base: {c['title']} v{c['version']}{heading}")
        elif c["type"] == "web":
            lines.append(f"[{c['ref']}] web search: “{c['query']}”")
    return "\n".join(lines)


def markdown_to_plain(markdown: str) -> str:
    """A plain-text rendering: headings, emphasis and link syntax removed; tables kept as rows."""
    text = re.sub(r"^#{1,6}\s*", "", markdown, flags=re.M)
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"\1 (\2)", text)
    text = re.sub(r"^\|\s*-{3}.*\|\s*$\n?", "", text, flags=re.M)
    text = re.sub(r"^\|\s*(.*?)\s*\|\s*$", lambda m: "  ".join(c.strip() for c in m.group(1).split("|")), text, flags=re.M)
    return text.strip()
