"""Markdown -> retrieval chunks that keep structure (sections, lists, tables, code) intact.

Rules (why: a chunk is what an agent reads back, so it must make sense on its own):

1. ATX headings (``#`` .. ``######``, not inside fenced code) start sections; each section
   knows its heading path, e.g. ``Deal stages > Negotiate``. Chunks never span sections.
2. A section body is cut into blocks: paragraphs, whole lists, whole tables, whole fenced code
   blocks. Blocks are packed greedily into chunks of at most ``max_chars`` body characters.
3. A block longer than ``max_chars`` is split on line boundaries; a table repeats its header
   and delimiter rows on each piece, a fenced code block repeats its opening and closing fences.
   A single line longer than the budget is split at sentence ends, else at spaces, else hard.
4. Consecutive chunks of one section overlap: the next chunk starts with the whole trailing
   sentences/lines (at most ``overlap_chars``) of the previous chunk when that chunk ended in
   prose (a paragraph or list); table and code pieces are not repeated.
5. Each chunk's text is ``"<heading path>\\n\\n<body>"`` (just the body before the first heading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.frontmatter import split_front_matter


@dataclass(frozen=True)
class Chunk:
    """One chunk: ``position`` (0-based order in the document), ``heading_path``
    (``"A > B"``, ``""`` before the first heading) and ``text`` (heading path line + body)."""

    position: int
    heading_path: str
    text: str


_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_OPEN_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_DELIM_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_LIST_ITEM_RE = re.compile(r"^\s{0,3}([-*+]|\d{1,9}[.)])(\s+|$)")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
_PATH_SEP = " > "


@dataclass
class _Section:
    heading_path: str
    lines: list[str]


@dataclass
class _Block:
    kind: str  # "paragraph" | "list" | "table" | "code"
    lines: list[str]


@dataclass
class _Piece:
    text: str
    prose: bool  # may be repeated as overlap in the next chunk


def chunk_markdown(markdown: str, *, max_chars: int = 1200, overlap_chars: int = 150) -> list[Chunk]:
    """Split a markdown document into self-describing chunks (rules in the module docstring).

    YAML front matter is removed first (it is parameters, not prose). ``max_chars`` bounds the
    body of each chunk (the heading path line comes on top); it is exceeded only when a table
    header or code fence repeated on a piece is itself that long. Empty or blank input gives
    ``[]``; so do heading-only sections.

    Raises:
        ValueError: ``max_chars < 1`` or ``overlap_chars`` outside ``[0, max_chars)``.
        knowledge.frontmatter.FrontMatterError: the front matter is invalid.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if not 0 <= overlap_chars < max_chars:
        raise ValueError(f"overlap_chars must be in [0, max_chars), got {overlap_chars}")
    _, markdown = split_front_matter(markdown)
    chunks: list[Chunk] = []
    for section in _sections(markdown):
        pieces: list[_Piece] = []
        for block in _blocks(section.lines):
            pieces.extend(_pieces(block, max_chars))
        for body in _pack(pieces, max_chars, overlap_chars):
            text = f"{section.heading_path}\n\n{body}" if section.heading_path else body
            chunks.append(Chunk(position=len(chunks), heading_path=section.heading_path, text=text))
    return chunks


def _sections(markdown: str) -> list[_Section]:
    sections = [_Section("", [])]
    stack: list[tuple[int, str]] = []
    fence: str | None = None
    for line in markdown.splitlines():
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
        else:
            opening = _FENCE_OPEN_RE.match(line)
            if opening:
                fence = opening.group(1)
            else:
                heading = _HEADING_RE.match(line)
                if heading:
                    level = len(heading.group(1))
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    stack.append((level, (heading.group(2) or "").strip()))
                    path = _PATH_SEP.join(title for _, title in stack if title)
                    sections.append(_Section(path, []))
                    continue
        sections[-1].lines.append(line)
    return [s for s in sections if any(line.strip() for line in s.lines)]


def _closes_fence(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
    )


def _is_table_start(lines: list[str], i: int) -> bool:
    """A header row with a pipe, followed by a delimiter row such as ``|---|:--:|``."""
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "|" in lines[i + 1]
        and "-" in lines[i + 1]
        and bool(_TABLE_DELIM_RE.match(lines[i + 1]))
    )


def _blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        start = i
        opening = _FENCE_OPEN_RE.match(line)
        if opening:
            i += 1
            while i < n and not _closes_fence(lines[i], opening.group(1)):
                i += 1
            i = min(i + 1, n)  # include the closing fence (an unclosed fence runs to the end)
            blocks.append(_Block("code", lines[start:i]))
        elif _is_table_start(lines, i):
            i += 2
            while i < n and lines[i].strip() and "|" in lines[i]:
                i += 1
            blocks.append(_Block("table", lines[start:i]))
        elif _LIST_ITEM_RE.match(line):
            i += 1
            while i < n:
                if lines[i].strip():
                    if _FENCE_OPEN_RE.match(lines[i]) and not lines[i].startswith((" ", "\t")):
                        break
                    i += 1
                    continue
                # A blank line continues the list only if an item or indented content follows.
                j = i
                while j < n and not lines[j].strip():
                    j += 1
                if j < n and (_LIST_ITEM_RE.match(lines[j]) or lines[j].startswith((" ", "\t"))):
                    i = j
                else:
                    break
            blocks.append(_Block("list", lines[start:i]))
        else:
            i += 1
            while (
                i < n
                and lines[i].strip()
                and not _FENCE_OPEN_RE.match(lines[i])
                and not _LIST_ITEM_RE.match(lines[i])
                and not _is_table_start(lines, i)
            ):
                i += 1
            blocks.append(_Block("paragraph", lines[start:i]))
    return blocks


def _pieces(block: _Block, max_chars: int) -> list[_Piece]:
    """The block as one piece, or split on line boundaries into pieces of at most max_chars."""
    text = "\n".join(block.lines)
    prose = block.kind in ("paragraph", "list")
    if len(text) <= max_chars:
        return [_Piece(text, prose)]
    if block.kind == "table":
        head, tail, inner = block.lines[:2], [], block.lines[2:]
    elif block.kind == "code":
        fence = _FENCE_OPEN_RE.match(block.lines[0]).group(1)
        closed = len(block.lines) > 1 and _closes_fence(block.lines[-1], fence)
        head, tail = block.lines[:1], [block.lines[-1] if closed else fence]
        inner = block.lines[1:-1] if closed else block.lines[1:]
    else:
        head, tail, inner = [], [], block.lines
    frame = sum(len(line) + 1 for line in head + tail)
    budget = max(max_chars - frame, max(1, max_chars // 4))
    return [_Piece("\n".join(head + group + tail), prose) for group in _pack_lines(inner, budget)]


def _pack_lines(lines: list[str], budget: int) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for line in (part for line in lines for part in _split_line(line, budget)):
        added = len(line) + (1 if current else 0)
        if current and size + added > budget:
            groups.append(current)
            current, size, added = [], 0, len(line)
        current.append(line)
        size += added
    if current:
        groups.append(current)
    return groups


def _split_line(line: str, budget: int) -> list[str]:
    """Split one over-long line at sentence ends, else spaces, else every ``budget`` chars."""
    if len(line) <= budget:
        return [line]
    parts: list[str] = []
    for unit in _greedy_join(_SENTENCE_END_RE.split(line), " ", budget):
        if len(unit) <= budget:
            parts.append(unit)
            continue
        for word_group in _greedy_join(unit.split(" "), " ", budget):
            parts.extend(word_group[k : k + budget] for k in range(0, len(word_group), budget))
    return parts


def _greedy_join(items: list[str], sep: str, budget: int) -> list[str]:
    out: list[str] = []
    for item in items:
        if out and len(out[-1]) + len(sep) + len(item) <= budget:
            out[-1] = out[-1] + sep + item
        else:
            out.append(item)
    return out


def _pack(pieces: list[_Piece], max_chars: int, overlap_chars: int) -> list[str]:
    bodies: list[str] = []
    current: list[str] = []
    size = 0
    last: _Piece | None = None
    for piece in pieces:
        if current and size + 2 + len(piece.text) > max_chars:
            bodies.append("\n\n".join(current))
            current, size = [], 0
            if last is not None and last.prose and overlap_chars:
                room = min(overlap_chars, max_chars - 2 - len(piece.text))
                overlap = _tail(last.text, room)
                if overlap:
                    current, size = [overlap], len(overlap)
        current.append(piece.text)
        size += len(piece.text) + (2 if size else 0)
        last = piece
    if current:
        bodies.append("\n\n".join(current))
    return bodies


def _tail(text: str, limit: int) -> str:
    """The longest run of whole trailing sentences/lines of ``text`` fitting in ``limit`` chars."""
    units: list[tuple[str, str]] = []  # (separator before the unit, unit)
    for line in text.split("\n"):
        sentences = _SENTENCE_END_RE.split(line) if line.strip() else [line]
        for sentence_no, sentence in enumerate(sentences):
            units.append((" " if sentence_no else "\n", sentence))
    best, result = "", ""
    for separator, unit in reversed(units):
        result = unit + result
        if len(result.strip()) > limit:
            break
        best = result.strip()
        result = separator + result
    return best
