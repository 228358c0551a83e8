"""Plain-text rendering of the agents' markdown answers (Slack fallbacks, API ``answer_plain``)."""

from __future__ import annotations

import re


def markdown_to_plain(markdown: str) -> str:
    """A plain-text rendering: headings, emphasis and link syntax removed; tables kept as rows."""
    text = re.sub(r"^#{1,6}\s*", "", markdown, flags=re.M)
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"\1 (\2)", text)
    text = re.sub(r"^\|\s*-{3}.*\|\s*$\n?", "", text, flags=re.M)
    text = re.sub(r"^\|\s*(.*?)\s*\|\s*$", lambda m: "  ".join(c.strip() for c in m.group(1).split("|")), text, flags=re.M)
    return text.strip()
