"""Markdown -> retrieval chunks that keep structure (sections, lists, tables, code) intact.

Rules (why: a chunk is what an agent reads back, so it must make sense on its own):

1. Top-level headings (``#`` .. ``######`` or setext, not inside fenced code, lists or quotes)
   start sections; each section knows its heading path, e.g. ``Deal stages > Negotiate``.
   Chunks never span sections. Parsing is the one pipeline's (:mod:`revops.lib.markdown`).
2. A section body is cut into blocks: paragraphs, whole lists, whole tables, whole code blocks
   (and quotes, rules and link reference definitions, treated as paragraphs). Blocks are packed greedily into chunks of at most ``max_chars`` body characters.
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
from revops.lib.markdown import Block, sections


@dataclass(frozen=True)
class Chunk:
    """One chunk: ``position`` (0-based order in the document), ``heading_path``
    (``"A > B"``, ``""`` before the first heading) and ``text`` (heading path line + body)."""

    position: int
    heading_path: str
    text: str


_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class _Piece:
    text: str
    prose: bool  # may be repeated as overlap in the next chunk


def chunk_markdown(markdown: str, *, max_chars: int = 1200, overlap_chars: int = 150) -> list[Chunk]:
    """Split a markdown document into self-describing chunks (rules in the module docstring).

    YAML front matter is removed first (it is parameters, not prose). Sections and blocks come
    from the one markdown pipeline (:func:`revops.lib.markdown.sections`, CommonMark via
    markdown-it-py). ``max_chars`` bounds the body of each chunk (the heading path line comes on
    top); it is exceeded only when a table header or code fence repeated on a piece is itself
    that long. Empty or blank input gives ``[]``; so do heading-only sections.

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
    for section in sections(markdown):
        pieces: list[_Piece] = []
        for block in section.blocks:
            pieces.extend(_pieces(block, max_chars))
        for body in _pack(pieces, max_chars, overlap_chars):
            text = f"{section.heading_path}\n\n{body}" if section.heading_path else body
            chunks.append(Chunk(position=len(chunks), heading_path=section.heading_path, text=text))
    return chunks


def _pieces(block: Block, max_chars: int) -> list[_Piece]:
    """The block as one piece, or split on line boundaries into pieces of at most max_chars."""
    lines = list(block.lines)
    text = "\n".join(lines)
    prose = block.kind not in ("table", "code")
    if len(text) <= max_chars:
        return [_Piece(text, prose)]
    if block.kind == "table":
        head, tail, inner = lines[:2], [], lines[2:]
    elif block.fence and block.node is not None:
        # Opening fence, the content's lines, then the closing fence unless it was never closed.
        closed = len(lines) >= block.node.content.count("\n") + 2
        head, tail = lines[:1], [lines[-1] if closed else block.fence]
        inner = lines[1:-1] if closed else lines[1:]
    else:
        head, tail, inner = [], [], lines
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
