"""Markdown (what the agents write) to Slack ``mrkdwn``, and splitting long messages.

Slack's mrkdwn is not Markdown: ``*bold*``, ``_italic_``, ``~strike~``, links ``<url|text>``, no
headings, no tables; ``&``, ``<`` and ``>`` must be escaped as HTML entities
(https://api.slack.com/reference/surfaces/formatting). Escaping everything except the links we
build also means an answer can never smuggle ``<!channel>`` or ``<@U…>`` pings into a thread.
"""

from __future__ import annotations

import re

_FENCE = "```"
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_HR_RE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_BULLET_RE = re.compile(r"^(\s*)([*+-])\s+(.*)$")
_QUOTE_RE = re.compile(r"^(\s*)>\s?(.*)$")
_TABLE_SEP_CELL_RE = re.compile(r"^\s*:?-+:?\s*$")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")

_INLINE_CODE_RE = re.compile(r"(`+)(.+?)\1")
_LINK_RE = re.compile(r"\[([^\]\n]+)\]\(\s*<?(https?://[^)\s>]+|mailto:[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK_RE = re.compile(r"<(https?://[^>\s]+)>")
_BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE_RE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")

# Private-use characters: placeholders that no escaping or emphasis rule touches.
_PH_OPEN, _PH_CLOSE, _BOLD_MARK = "\ue000", "\ue001", "\ue002"
_PH_RE = re.compile(f"{_PH_OPEN}(\\d+){_PH_CLOSE}")

_MIN_SPLIT_LIMIT = 16


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_url(url: str) -> str:
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")


def _is_fence_toggle(stripped: str) -> bool:
    """A line opening or closing a fenced block (```` ``` ```` or ```` ```sql ````), not ```` ```x``` ````."""
    return stripped.startswith(_FENCE) and _FENCE not in stripped[3:]


def _plain(text: str) -> str:
    """Text without Markdown emphasis/links/code marks (for table cells, which are monospace)."""
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = _AUTOLINK_RE.sub(lambda m: m.group(1), text)
    text = _INLINE_CODE_RE.sub(lambda m: m.group(2), text)
    text = _BOLD_RE.sub(lambda m: m.group(1) or m.group(2), text)
    text = _STRIKE_RE.sub(lambda m: m.group(1), text)
    return text.replace("\\|", "|")


def _inline(text: str) -> str:
    """Convert one line of Markdown inline syntax to escaped mrkdwn."""
    kept: list[str] = []

    def keep(rendered: str) -> str:
        kept.append(rendered)
        return f"{_PH_OPEN}{len(kept) - 1}{_PH_CLOSE}"

    text = _INLINE_CODE_RE.sub(lambda m: keep(f"`{_escape(m.group(2).strip())}`"), text)
    text = _LINK_RE.sub(
        lambda m: keep(f"<{_escape_url(m.group(2))}|{_escape(_plain(m.group(1))).replace('|', '/')}>"), text
    )
    text = _AUTOLINK_RE.sub(lambda m: keep(f"<{_escape_url(m.group(1))}>"), text)
    text = _escape(text)
    text = _BOLD_RE.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC_RE.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE_RE.sub(lambda m: f"~{m.group(1)}~", text)
    text = text.replace(_BOLD_MARK, "*")
    return _PH_RE.sub(lambda m: kept[int(m.group(1))], text)


def _table_cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip() for cell in _CELL_SPLIT_RE.split(line)]


def _is_table_separator(line: str) -> bool:
    return "|" in line and all(_TABLE_SEP_CELL_RE.match(cell) for cell in _table_cells(line))


def _render_table(header: str, separator: str, rows: list[str]) -> list[str]:
    """A Markdown table as an aligned, monospace block (Slack has no tables)."""
    aligns = []
    for cell in _table_cells(separator):
        right, left = cell.endswith(":"), cell.startswith(":")
        aligns.append("center" if left and right else "right" if right else "left")
    grid = [[_escape(_plain(c)) for c in _table_cells(line)] for line in [header, *rows]]
    ncols = max(len(r) for r in grid)
    aligns += ["left"] * (ncols - len(aligns))
    grid = [r + [""] * (ncols - len(r)) for r in grid]
    widths = [max(len(r[i]) for r in grid) for i in range(ncols)]

    def fmt(row: list[str]) -> str:
        cells = []
        for value, width, align in zip(row, widths, aligns):
            cells.append(value.rjust(width) if align == "right" else value.center(width) if align == "center" else value.ljust(width))
        return " | ".join(cells).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return [_FENCE, fmt(grid[0]), rule, *(fmt(r) for r in grid[1:]), _FENCE]


def markdown_to_mrkdwn(text: str) -> str:
    """Convert the agents' Markdown answer to Slack mrkdwn.

    - ``### Heading`` -> ``*Heading*`` on its own line;
    - ``**bold**``/``__bold__`` -> ``*bold*``; ``*italic*`` -> ``_italic_``; ``~~x~~`` -> ``~x~``;
    - ``[text](https://url)`` -> ``<https://url|text>``; ``<https://url>`` kept as a link;
    - tables -> an aligned monospace block wrapped in triple backticks;
    - fenced code kept (the language tag is dropped: Slack would print it); inline code kept;
    - bullets kept (``-`` as is, ``*``/``+`` become ``•`` so they cannot pair up as bold),
      numbered lists and ``>`` quotes kept;
    - ``&``, ``<``, ``>`` escaped everywhere else, so no ``<!channel>``/``<@U…>`` pings.

    An unclosed code fence is closed at the end. Returns a string (no trailing newline added).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if in_code:
            if _is_fence_toggle(stripped):
                out.append(_FENCE)
                in_code = False
            else:
                out.append(_escape(line))
            i += 1
            continue
        if _is_fence_toggle(stripped):
            out.append(_FENCE)
            in_code = True
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _is_table_separator(lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].strip() and "|" in lines[j]:
                j += 1
            out.extend(_render_table(line, lines[i + 1], lines[i + 2 : j]))
            i = j
            continue
        if heading := _HEADING_RE.match(line):
            content = _inline(heading.group(1)).replace("*", "").strip()
            out.append(f"*{content}*" if content else "")
        elif _HR_RE.match(line):
            out.append("---")
        elif bullet := _BULLET_RE.match(line):
            indent, marker, rest = bullet.groups()
            out.append(f"{indent}{'-' if marker == '-' else '•'} {_inline(rest)}")
        elif quote := _QUOTE_RE.match(line):
            indent, rest = quote.groups()
            out.append(f"{indent}> {_inline(rest)}".rstrip())
        else:
            out.append(_inline(line))
        i += 1
    if in_code:
        out.append(_FENCE)
    return "\n".join(out).strip("\n")


# --- splitting ----------------------------------------------------------------------------------


def _hard_split(line: str, room: int) -> list[str]:
    """Cut one over-long line into pieces of at most ``room`` chars, at a space when possible."""
    pieces = []
    while len(line) > room:
        cut = line.rfind(" ", room // 2, room + 1)
        if cut <= 0:
            cut = room
            # Do not cut an &amp;/&lt;/&gt; entity in two.
            amp = line.rfind("&", max(0, cut - 4), cut)
            if amp > 0 and cut <= line.find(";", amp) <= amp + 4:
                cut = amp
        if piece := line[:cut].rstrip():
            pieces.append(piece)
        line = line[cut:].lstrip(" ")
    if line:
        pieces.append(line)
    return pieces


def _pack_lines(lines: list[str], room: int) -> list[list[str]]:
    """Greedy groups of lines whose ``"\\n".join`` is at most ``room`` chars."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        for line in _hard_split(raw, room) if len(raw) > room else [raw]:
            added = len(line) + (1 if current else 0)
            if current and size + added > room:
                groups.append(current)
                current, size = [], 0
                added = len(line)
            current.append(line)
            size += added
    if current:
        groups.append(current)
    return groups


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """Paragraphs (``("p", lines)``) and fenced code blocks (``("code", [open, *inner])``)."""
    blocks: list[tuple[str, list[str]]] = []
    para: list[str] = []
    code: list[str] | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if code is not None:
            if _is_fence_toggle(stripped):
                blocks.append(("code", code))
                code = None
            else:
                code.append(line)
        elif _is_fence_toggle(stripped):
            if para:
                blocks.append(("p", para))
                para = []
            code = [stripped]
        elif not stripped:
            if para:
                blocks.append(("p", para))
                para = []
        else:
            para.append(line)
    if code is not None:
        blocks.append(("code", code))
    if para:
        blocks.append(("p", para))
    return blocks


def _fit_block(kind: str, lines: list[str], limit: int) -> list[str]:
    if kind == "p":
        return ["\n".join(group) for group in _pack_lines(lines, limit)]
    opening, inner = lines[0], lines[1:]
    whole = "\n".join([opening, *inner, _FENCE])
    if len(whole) <= limit:
        return [whole]
    room = limit - len(opening) - len(_FENCE) - 2
    if room < 1:
        opening = _FENCE
        room = limit - 2 * len(_FENCE) - 2
    # Each piece closes the block and the next one reopens it.
    return ["\n".join([opening, *group, _FENCE]) for group in _pack_lines(inner, room)]


def split_message(text: str, *, limit: int) -> list[str]:
    """Split mrkdwn ``text`` into messages of at most ``limit`` characters, in order.

    Cuts at paragraph boundaries (blank lines) first, then at line ends, then (a single line
    longer than ``limit``) at a space or, failing that, mid-word. A fenced code block that must
    be cut is closed at the end of one piece and reopened at the start of the next, so no piece
    leaves a block open. Blank-line runs between paragraphs are normalised to one blank line.
    Returns ``[]`` for blank text. Raises ``ValueError`` when ``limit`` < 16.
    """
    if limit < _MIN_SPLIT_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_SPLIT_LIMIT} characters")
    text = text.strip("\n")
    if not text.strip():
        return []
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for kind, lines in _blocks(text):
        for chunk in _fit_block(kind, lines, limit):
            if current and len(current) + 2 + len(chunk) <= limit:
                current = f"{current}\n\n{chunk}"
            else:
                if current:
                    pieces.append(current)
                current = chunk
    if current:
        pieces.append(current)
    return [piece.rstrip() for piece in pieces]
