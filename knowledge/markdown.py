"""A small, safe markdown-to-HTML renderer for the admin's document preview.

Covers what knowledge documents use: ATX headings, paragraphs, bullet and numbered lists (one
level; deeper items are shown indented), pipe tables, fenced code, block quotes, horizontal
rules, and inline ``code``, **bold**, *italic* and [links](https://...). Everything is
HTML-escaped first; links are kept only for http(s), mailto and relative targets. YAML front
matter is shown separately as a code block. Not a CommonMark implementation: a preview.
"""

from __future__ import annotations

import re
from html import escape

from django.utils.safestring import SafeString, mark_safe

from knowledge.frontmatter import FrontMatterError, split_front_matter

_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_BULLET_RE = re.compile(r"^(\s*)([-*+])\s+(.*)$")
_ORDERED_RE = re.compile(r"^(\s*)\d{1,9}[.)]\s+(.*)$")
_TABLE_DELIM_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_HR_RE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_SAFE_URL_RE = re.compile(r"^(https?://|mailto:|/|#|\.{0,2}/)", re.IGNORECASE)


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{escape(part[1:-1])}</code>")
            continue
        html = escape(part)
        html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
        html = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", html)

        def link(match: re.Match) -> str:
            label, url = match.group(1), match.group(2)
            if not _SAFE_URL_RE.match(url):
                return match.group(0)
            return f'<a href="{url}" rel="noopener noreferrer">{label}</a>'

        html = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", link, html)
        out.append(html)
    return "".join(out)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [cell.strip() for cell in line.split("|")]


def render_markdown(body: str) -> SafeString:
    """HTML for ``body`` (front matter rendered as a ``<pre>`` block). Never raises."""
    html: list[str] = []
    try:
        params, markdown = split_front_matter(body)
        if params:
            lines = body.splitlines()
            end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
            html.append('<pre class="kb-front-matter">' + escape("\n".join(lines[1:end])) + "</pre>")
    except FrontMatterError:
        markdown = body
    lines = markdown.splitlines()
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence:
            j = i + 1
            while j < n and not lines[j].strip().startswith(fence.group(1)):
                j += 1
            html.append("<pre><code>" + escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            level = len(heading.group(1))
            html.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if _HR_RE.match(line):
            html.append("<hr>")
            i += 1
            continue
        if "|" in line and i + 1 < n and _TABLE_DELIM_RE.match(lines[i + 1]) and "-" in lines[i + 1]:
            head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(line))
            rows = []
            j = i + 2
            while j < n and lines[j].strip() and "|" in lines[j]:
                rows.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(lines[j])) + "</tr>")
                j += 1
            html.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
            i = j
            continue
        if _BULLET_RE.match(line) or _ORDERED_RE.match(line):
            ordered = bool(_ORDERED_RE.match(line)) and not _BULLET_RE.match(line)
            items: list[str] = []
            j = i
            while j < n and lines[j].strip():
                bullet, number = _BULLET_RE.match(lines[j]), _ORDERED_RE.match(lines[j])
                match = bullet or number
                if match:
                    indent = len(match.group(1))
                    text = match.group(3) if bullet else match.group(2)
                    style = f' style="margin-left:{indent // 2}em"' if indent >= 2 else ""
                    items.append(f"<li{style}>{_inline(text)}")
                elif items:
                    items[-1] += " " + _inline(lines[j].strip())
                j += 1
            tag = "ol" if ordered else "ul"
            html.append(f"<{tag}>" + "".join(item + "</li>" for item in items) + f"</{tag}>")
            i = j
            continue
        if line.lstrip().startswith(">"):
            quoted = []
            while i < n and lines[i].lstrip().startswith(">"):
                quoted.append(lines[i].lstrip()[1:].strip())
                i += 1
            html.append(f"<blockquote><p>{_inline(' '.join(quoted))}</p></blockquote>")
            continue
        paragraph = []
        while i < n and lines[i].strip() and not (
            _HEADING_RE.match(lines[i]) or _FENCE_RE.match(lines[i]) or _BULLET_RE.match(lines[i]) or _ORDERED_RE.match(lines[i])
        ):
            paragraph.append(lines[i].strip())
            i += 1
        html.append(f"<p>{_inline(' '.join(paragraph))}</p>")
    return mark_safe("\n".join(html))  # every text fragment above went through escape()
