"""One markdown pipeline: parse once with markdown-it-py, then small renderers over the tree.

Parsing is CommonMark (https://spec.commonmark.org/) plus GFM pipe tables and ``~~strike~~``
(markdown-it-py's ``commonmark`` preset with ``table`` and ``strikethrough`` enabled). Raw HTML
is never parsed as HTML (``html=False``): ``<script>`` or ``<!channel>`` in the source stay text.
markdown-it-py also refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` link targets
(they stay text).

What is built on the one parse (:func:`parse` -> :class:`Document`):

- :func:`to_html`: HTML passed through nh3's allow-list (no scripts, event handlers, styles or
  unsafe URL schemes), with ``rel`` on every link; for the admin pages.
- :func:`to_mrkdwn` / :func:`inline_to_mrkdwn`: Slack ``mrkdwn``
  (https://api.slack.com/reference/surfaces/formatting): ``*bold*``, ``_italic_``, ``~strike~``,
  ``<url|text>`` links (http, https and mailto only), headings as bold lines, tables as an
  aligned monospace block, fenced code without its language tag. ``&``, ``<`` and ``>`` are
  escaped everywhere except in the links built here, so an answer can never smuggle
  ``<!channel>`` or ``<@U…>`` pings into a thread.
- :func:`to_plain`: plain text (headings and emphasis marks dropped, links as ``text (url)``,
  tables as rows of cells separated by two spaces).
- :func:`blocks`, :func:`headings`, :func:`sections`: top-level blocks with their source lines
  and heading path (``"Deal stages > Negotiate"``), for chunking the knowledge base by heading.
- :class:`Table`, :func:`table_of`, :func:`parse_table`, :func:`aligned_table`: a pipe table as
  plain cells and column alignments (for Slack Block Kit fields and monospace tables).

Blank lines between blocks follow the source in the text renderers (two blocks written on
adjacent lines stay on adjacent lines), so Slack messages keep the author's spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

#: The one parser configuration (CommonMark + tables + strikethrough, raw HTML as text).
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
#: Separator of the titles in a heading path.
PATH_SEP = " > "
#: Link targets kept as links in Slack mrkdwn and plain text (others are shown as their label).
LINK_SCHEMES = ("http://", "https://", "mailto:")
#: ``rel`` of links in :func:`to_html` unless the caller asks for another.
DEFAULT_LINK_REL = "noopener noreferrer"
_FENCE = "```"


@dataclass(frozen=True)
class Document:
    """A parsed markdown text: ``source`` (newlines normalised to ``\\n``), ``lines`` (its lines),
    ``tokens`` (markdown-it's flat token stream) and ``nodes`` (the top-level block nodes)."""

    source: str
    lines: tuple[str, ...]
    tokens: tuple[Token, ...]
    nodes: tuple[SyntaxTreeNode, ...]


def parse(markdown: str | Document) -> Document:
    """Parse ``markdown`` once (a :class:`Document` is returned as it is). Never raises on text."""
    if isinstance(markdown, Document):
        return markdown
    source = (markdown or "").replace("\r\n", "\n").replace("\r", "\n")
    tokens = _MD.parse(source)
    return Document(source, tuple(source.split("\n")), tuple(tokens), tuple(SyntaxTreeNode(tokens).children))


# --- source positions -------------------------------------------------------------------------


def _end(doc: Document, node: SyntaxTreeNode) -> int:
    """The line after the node's last non-blank source line (markdown-it counts trailing blanks)."""
    start, end = node.map or (0, 0)
    while end > start and not doc.lines[end - 1].strip():
        end -= 1
    return end


def _join(doc: Document, nodes: list[SyntaxTreeNode], texts: list[str]) -> str:
    """Rendered sibling blocks joined by a blank line where the source had one, else a newline."""
    out = ""
    for k, (node, text) in enumerate(zip(nodes, texts)):
        if k:
            previous = nodes[k - 1]
            gap = node.map is not None and previous.map is not None and node.map[0] > _end(doc, previous)
            out += "\n\n" if gap else "\n"
        out += text
    return out


# --- blocks, headings and sections --------------------------------------------------------------

_KINDS = {
    "heading": "heading",
    "paragraph": "paragraph",
    "bullet_list": "list",
    "ordered_list": "list",
    "table": "table",
    "fence": "code",
    "code_block": "code",
    "blockquote": "quote",
    "hr": "rule",
}


@dataclass(frozen=True)
class Block:
    """A top-level block: ``kind`` (``heading``, ``paragraph``, ``list``, ``table``, ``code``,
    ``quote``, ``rule``, or ``text`` for source lines no block holds, e.g. link reference
    definitions), ``lines`` (its source lines, trailing blank lines dropped), ``heading_path``
    (the path of the section it is in; a heading's own path), ``level``/``title`` (headings: 1-6
    and the raw inline source, ``""`` when empty), ``fence`` (fenced code: the fence, e.g. ```` ``` ````;
    ``""`` otherwise) and ``node`` (the markdown-it node, None for ``text``)."""

    kind: str
    lines: tuple[str, ...]
    heading_path: str = ""
    level: int = 0
    title: str = ""
    fence: str = ""
    node: SyntaxTreeNode | None = None


def blocks(markdown: str | Document) -> list[Block]:
    """The document's top-level blocks in source order, each with its heading path.

    Headings open sections: a heading of level ``n`` closes the open headings of level ``>= n``;
    the path joins the open headings' non-empty titles with ``" > "``. Headings inside lists,
    quotes or code are content, not sections.
    """
    doc = parse(markdown)
    out: list[Block] = []
    stack: list[tuple[int, str]] = []
    path = ""
    covered = 0

    def text_runs(start: int, end: int) -> None:
        run: list[str] = []
        for line in [*doc.lines[start:end], ""]:
            if line.strip():
                run.append(line)
            elif run:
                out.append(Block("text", tuple(run), path))
                run = []

    for node in doc.nodes:
        start = node.map[0] if node.map else covered
        if start > covered:
            text_runs(covered, start)
        end = _end(doc, node)
        covered = max(covered, node.map[1] if node.map else covered)
        kind = _KINDS.get(node.type, "paragraph")
        if kind == "heading":
            level = int(node.tag[1])
            title = node.children[0].content.strip() if node.children else ""
            stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, title)]
            path = PATH_SEP.join(t for _, t in stack if t)
            out.append(Block(kind, tuple(doc.lines[start:end]), path, level, title, node=node))
            continue
        fence = node.markup if node.type == "fence" else ""
        out.append(Block(kind, tuple(doc.lines[start:end]), path, fence=fence, node=node))
    text_runs(covered, len(doc.lines))
    return out


@dataclass(frozen=True)
class Heading:
    """A top-level heading: ``level`` (1-6), ``title`` (raw inline source), ``path`` (``"A > B"``)."""

    level: int
    title: str
    path: str


def headings(markdown: str | Document) -> list[Heading]:
    """The document's top-level headings in order (not those inside code, lists or quotes)."""
    return [Heading(b.level, b.title, b.heading_path) for b in blocks(markdown) if b.kind == "heading"]


@dataclass(frozen=True)
class Section:
    """The blocks under one heading (``heading_path`` ``""`` before the first heading)."""

    heading_path: str
    blocks: list[Block]


def sections(markdown: str | Document) -> list[Section]:
    """The document cut at its top-level headings; sections without content are left out."""
    out = [Section("", [])]
    for block in blocks(markdown):
        if block.kind == "heading":
            out.append(Section(block.heading_path, []))
        else:
            out[-1].blocks.append(block)
    return [s for s in out if s.blocks]


# --- tables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A pipe table: ``header`` (column names), ``aligns`` (``left``/``right``/``center`` per
    column, ``left`` when the delimiter row says nothing) and ``rows``; cells are plain text
    (emphasis, code and link marks removed, not escaped). Every row has ``len(header)`` cells."""

    header: list[str]
    aligns: list[str]
    rows: list[list[str]]


def plain_text(node: SyntaxTreeNode) -> str:
    """The text of an inline node (or any node) without markup: emphasis, code and link marks
    dropped, line breaks as spaces."""
    if node.type in ("text", "code_inline", "html_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(plain_text(child) for child in node.children)


def table_of(node: SyntaxTreeNode) -> Table:
    """The :class:`Table` of a markdown-it ``table`` node."""
    head, *body = node.children
    header_cells = head.children[0].children
    aligns = []
    for cell in header_cells:
        style = str(cell.attrs.get("style", ""))
        aligns.append(style.split(":", 1)[1] if style.startswith("text-align:") else "left")
    rows = [[plain_text(cell).strip() for cell in tr.children] for part in body for tr in part.children]
    return Table([plain_text(c).strip() for c in header_cells], aligns, rows)


def parse_table(markdown: str) -> Table:
    """The first top-level pipe table of ``markdown``. Raises ValueError when there is none."""
    for node in parse(markdown).nodes:
        if node.type == "table":
            return table_of(node)
    raise ValueError("no markdown table found (a header row, a delimiter row such as |---|---|, rows)")


def aligned_table(table: Table, escape: Callable[[str], str] = lambda s: s) -> list[str]:
    """The table as aligned monospace lines: header, a ``---+---`` rule, rows (cells escaped
    with ``escape`` first, so widths count what is shown)."""
    grid = [[escape(c) for c in row] for row in [table.header, *table.rows]]
    widths = [max(len(row[i]) for row in grid) for i in range(len(table.header))]

    def fmt(row: list[str]) -> str:
        cells = []
        for value, width, align in zip(row, widths, table.aligns):
            cells.append(value.rjust(width) if align == "right" else value.center(width) if align == "center" else value.ljust(width))
        return " | ".join(cells).rstrip()

    return [fmt(grid[0]), "-+-".join("-" * w for w in widths), *(fmt(r) for r in grid[1:])]


# --- text renderers -----------------------------------------------------------------------------


class _PlainRenderer:
    """Blocks and inline nodes to plain text; :class:`_SlackRenderer` overrides the marks."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def escape(self, text: str) -> str:
        return text

    def render(self, nodes: list[SyntaxTreeNode]) -> str:
        return _join(self.doc, nodes, [self.block(n) for n in nodes])

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "heading":
            return self.heading(self.escape(plain_text(node).strip()))
        if kind == "paragraph":
            return self.inline(node.children[0])
        if kind in ("bullet_list", "ordered_list"):
            return "\n".join(self.item(item, ordered=kind == "ordered_list") for item in node.children)
        if kind == "blockquote":
            return "\n".join(f"> {line}".rstrip() for line in self.render(node.children).split("\n"))
        if kind in ("fence", "code_block"):
            content = node.content[:-1] if node.content.endswith("\n") else node.content
            return self.code(content)
        if kind == "table":
            return self.table(table_of(node))
        if kind == "hr":
            return "---"
        return self.escape(node.content)

    def item(self, item: SyntaxTreeNode, *, ordered: bool) -> str:
        marker = f"{item.info}{item.markup}" if ordered else self.bullet(item.markup)
        body = self.render(item.children).split("\n")
        return "\n".join([f"{marker} {body[0]}".rstrip(), *(f"  {line}" if line else "" for line in body[1:])])

    def bullet(self, markup: str) -> str:
        return "-"

    def heading(self, text: str) -> str:
        return text

    def code(self, content: str) -> str:
        return content

    def table(self, table: Table) -> str:
        return "\n".join("  ".join(row) for row in [table.header, *table.rows])

    def inline(self, node: SyntaxTreeNode) -> str:
        return "".join(self.span(child) for child in node.children)

    def span(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind in ("softbreak", "hardbreak"):
            return "\n"
        if kind == "code_inline":
            return self.code_span(node.content)
        if kind in ("strong", "em", "s"):
            return self.mark(kind, self.inline(node))
        if kind in ("link", "image"):
            url = str(node.attrs.get("href") or node.attrs.get("src") or "")
            if url.lower().startswith(LINK_SCHEMES):
                return self.link(url, node)
            return self.inline(node)
        if node.children:
            return self.inline(node)
        return self.escape(node.content)

    def code_span(self, content: str) -> str:
        return content

    def mark(self, kind: str, inner: str) -> str:
        return inner

    def link(self, url: str, node: SyntaxTreeNode) -> str:
        label = plain_text(node)
        return label if label in (url, url.removeprefix("mailto:")) else f"{label} ({url})"


def slack_escape(text: str) -> str:
    """``&``, ``<``, ``>`` as the HTML entities Slack requires (so no ``<!channel>`` pings)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_escape_url(url: str) -> str:
    """A URL safe inside Slack's ``<url|text>``: ``&`` as ``&amp;``; ``<``, ``>``, ``|`` and
    spaces percent-encoded."""
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")


class _SlackRenderer(_PlainRenderer):
    _MARKS = {"strong": "*", "em": "_", "s": "~"}

    def escape(self, text: str) -> str:
        return slack_escape(text)

    def bullet(self, markup: str) -> str:
        return "-" if markup == "-" else "•"  # a `*` bullet could pair up with a `*bold*` star

    def heading(self, text: str) -> str:
        return f"*{text}*" if text else ""

    def code(self, content: str) -> str:
        return "\n".join([_FENCE, *(slack_escape(content).split("\n") if content else []), _FENCE])

    def table(self, table: Table) -> str:
        return "\n".join([_FENCE, *aligned_table(table, slack_escape), _FENCE])

    def code_span(self, content: str) -> str:
        return f"`{slack_escape(content)}`"

    def mark(self, kind: str, inner: str) -> str:
        return f"{self._MARKS[kind]}{inner}{self._MARKS[kind]}"

    def link(self, url: str, node: SyntaxTreeNode) -> str:
        if node.markup == "autolink":
            return f"<{slack_escape_url(url)}>"
        return f"<{slack_escape_url(url)}|{slack_escape(plain_text(node)).replace('|', '/')}>"


def to_plain(markdown: str | Document) -> str:
    """Plain text: headings as their text, emphasis marks dropped, http(s) links as ``text
    (url)``, lists with ``-``/``1.`` markers, code without fences, tables as rows of cells
    separated by two spaces (no delimiter row). Leading/trailing blank space stripped."""
    doc = parse(markdown)
    return _PlainRenderer(doc).render(list(doc.nodes)).strip()


def to_mrkdwn(markdown: str | Document, nodes: list[SyntaxTreeNode] | None = None) -> str:
    """Slack mrkdwn of the document (or of ``nodes``, some of its top-level nodes, in order).

    Headings -> ``*Heading*``; ``**bold**`` -> ``*bold*``; ``*italic*``/``_italic_`` -> ``_italic_``;
    ``~~x~~`` -> ``~x~``; ``[text](https://url)`` -> ``<https://url|text>``; ``<https://url>`` kept;
    other link targets show their text only; tables -> an aligned monospace block in triple
    backticks; fenced code kept without its language tag (an unclosed fence is closed); bullets
    ``-`` kept, ``*``/``+`` become ``•``; nested lists indented two spaces a level; numbered
    lists and ``>`` quotes kept; ``&``, ``<``, ``>`` escaped everywhere else. No trailing newline.
    """
    doc = parse(markdown)
    return _SlackRenderer(doc).render(list(doc.nodes) if nodes is None else nodes).strip("\n")


def inline_to_mrkdwn(text: str) -> str:
    """One line of markdown inline syntax (no block structure) as escaped Slack mrkdwn."""
    tokens = _MD.parseInline(text or "")
    root = SyntaxTreeNode(tokens)
    renderer = _SlackRenderer(parse(""))
    return "".join(renderer.inline(node) for node in root.children)


def to_html(markdown: str | Document, *, link_rel: str = DEFAULT_LINK_REL) -> str:
    """Sanitised HTML of the document (not marked safe: the caller decides; nh3 has removed any
    script, event handler, style attribute and unsafe URL, and added ``rel=link_rel`` to links).

    Tables, strikethrough, fenced code (``<pre><code>``), nested lists, quotes, rules; raw HTML
    in the markdown is shown as text.
    """
    doc = parse(markdown)
    html = _MD.renderer.render(list(doc.tokens), _MD.options, {})
    return nh3.clean(html, link_rel=link_rel)


__all__ = [
    "DEFAULT_LINK_REL",
    "LINK_SCHEMES",
    "PATH_SEP",
    "Block",
    "Document",
    "Heading",
    "Section",
    "Table",
    "aligned_table",
    "blocks",
    "headings",
    "inline_to_mrkdwn",
    "parse",
    "parse_table",
    "plain_text",
    "sections",
    "slack_escape",
    "slack_escape_url",
    "table_of",
    "to_html",
    "to_mrkdwn",
    "to_plain",
]
