"""The admin's preview of a knowledge document: its markdown as sanitised HTML.

The markdown is rendered by the one pipeline (:func:`revops.lib.markdown.to_html`: CommonMark
plus pipe tables and strikethrough, raw HTML shown as text, output through nh3's allow-list, so no
scripts, event handlers or ``javascript:`` links). YAML front matter is shown separately, as a
code block, before the body.
"""

from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString, mark_safe

from knowledge.frontmatter import FrontMatterError, split_front_matter
from revops.lib.markdown import to_html


def render_markdown(body: str) -> SafeString:
    """HTML for ``body`` (front matter rendered as a ``<pre class="kb-front-matter">`` block,
    links with ``rel="noopener noreferrer"``). Never raises: an invalid front matter is shown as
    part of the markdown."""
    html: list[str] = []
    try:
        params, markdown = split_front_matter(body)
        if params:
            lines = body.splitlines()
            end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
            html.append('<pre class="kb-front-matter">' + escape("\n".join(lines[1:end])) + "</pre>")
    except FrontMatterError:
        markdown = body
    html.append(to_html(markdown))
    return mark_safe("\n".join(html))  # the front matter went through escape(), the body through nh3
