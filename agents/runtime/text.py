"""Plain-text rendering of the agents' markdown answers (Slack fallbacks, API ``answer_plain``)."""

from __future__ import annotations

from revops.lib.markdown import to_plain


def markdown_to_plain(markdown: str) -> str:
    """A plain-text rendering (:func:`revops.lib.markdown.to_plain`): headings as their text,
    emphasis marks dropped, http(s) links as ``text (url)``, tables as rows of cells separated by
    two spaces, code without fences. Leading and trailing blank space stripped."""
    return to_plain(markdown)
