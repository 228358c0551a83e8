"""Web research specialist: searches with the tenant's provider and lists what it found, quoted
as data. Offline it does not summarise (no model); with no provider it says so and invents nothing."""

from __future__ import annotations

import re

from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.render import render_answer
from agents.runtime.context import RunContext, ToolError

AGENT = "web_search"


def answer(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Search the web for the question's subject (leading "research"/"look up" wording removed)
    and list the top 5 results with links; says so, without guessing, when search is unavailable."""
    terms = re.sub(r"(?i)^\s*(please\s+)?(research|look up|search( the web)? for|find news (on|about))\s+", "", query).strip(" ?.")
    try:
        hits, ref = ctx.web_search(terms, agent=AGENT)
    except ToolError as exc:
        return SpecialistAnswer(AGENT, render_answer("web_research", {"terms": terms, "error": str(exc)}))
    shown = [{"title": h.title, "url": h.url, "snippet": h.snippet[:240], "published": h.published} for h in hits]
    markdown = render_answer("web_research", {"terms": terms, "ref": ref, "hits": shown})
    return SpecialistAnswer(AGENT, markdown, {"web_query": terms} if hits else {})
