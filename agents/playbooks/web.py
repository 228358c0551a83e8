"""Web research specialist: searches with the tenant's provider and lists what it found, quoted
as data. Offline it does not summarise (no model); with no provider it says so and invents nothing."""

from __future__ import annotations

import re

from agents.playbooks.base import SpecialistAnswer
from agents.runtime.context import RunContext, ToolError

AGENT = "web_search"


def answer(ctx: RunContext, query: str) -> SpecialistAnswer:
    """Search the web for the question's subject (leading "research"/"look up" wording removed)
    and list the top 5 results with links; says so, without guessing, when search is unavailable."""
    terms = re.sub(r"(?i)^\s*(please\s+)?(research|look up|search( the web)? for|find news (on|about))\s+", "", query).strip(" ?.")
    try:
        hits, ref = ctx.web_search(terms, agent=AGENT)
    except ToolError as exc:
        return SpecialistAnswer(
            AGENT,
            f"### Web research\n\nI could not search the web: {exc}. I have no external facts to report and will not guess any.",
        )
    if not hits:
        return SpecialistAnswer(AGENT, f"### Web research\n\nThe search for “{terms}” returned no results [{ref}].")
    lines = [f"### Web research: {terms}", "", f"Top {len(hits)} results [{ref}] (quoted from the pages' own descriptions, not verified):", ""]
    lines += [f"- [{h.title}]({h.url}): {h.snippet[:240]}" for h in hits]
    return SpecialistAnswer(AGENT, "\n".join(lines), {"web_query": terms})
