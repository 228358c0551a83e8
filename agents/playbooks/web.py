"""Web research specialist: searches with the tenant's provider and lists what it found, quoted
as data. Offline it does not summarise (no model); with no provider it says so and invents nothing."""

from __future__ import annotations

import re
import time

from agents.models import StepKind
from agents.playbooks.base import SpecialistAnswer
from agents.runtime.context import RunContext

AGENT = "web_search"


def answer(ctx: RunContext, query: str) -> SpecialistAnswer:
    from integrations.web_search.client import WebSearchUnavailable, web_search

    terms = re.sub(r"(?i)^\s*(please\s+)?(research|look up|search( the web)? for|find news (on|about))\s+", "", query).strip(" ?.")
    started = time.monotonic()
    try:
        hits = web_search(query=terms, count=5)
    except WebSearchUnavailable as exc:
        ctx.record(agent=AGENT, kind=StepKind.TOOL_CALL, name="web_search", input={"query": terms}, error=str(exc), duration_ms=(time.monotonic() - started) * 1000)
        return SpecialistAnswer(
            AGENT,
            f"### Web research\n\nI could not search the web: {exc}. I have no external facts to report and will not guess any.",
        )
    ref = len(ctx.citations) + 1
    step = ctx.record(
        agent=AGENT, kind=StepKind.TOOL_CALL, name="web_search", input={"query": terms},
        output_summary=f"{len(hits)} result(s)", output={"results": [h.__dict__ for h in hits]},
        duration_ms=(time.monotonic() - started) * 1000,
    )
    ctx.citations.append({"ref": ref, "type": "web", "query": terms, "urls": [h.url for h in hits], "step": step.position})
    if not hits:
        return SpecialistAnswer(AGENT, f"### Web research\n\nThe search for “{terms}” returned no results [{ref}].")
    lines = [f"### Web research: {terms}", "", f"Top {len(hits)} results [{ref}] (quoted from the pages' own descriptions, not verified):", ""]
    lines += [f"- [{h.title}]({h.url}): {h.snippet[:240]}" for h in hits]
    return SpecialistAnswer(AGENT, "\n".join(lines), {"web_query": terms})
