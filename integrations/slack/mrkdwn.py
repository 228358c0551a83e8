"""Markdown (what the agents write) to Slack ``mrkdwn``, and splitting long messages.

The conversion is :func:`revops.lib.markdown.to_mrkdwn` (the one markdown pipeline); this module
keeps the name callers use and cuts rendered mrkdwn into messages. Slack's mrkdwn is not
Markdown: ``*bold*``, ``_italic_``, ``~strike~``, links ``<url|text>``, no headings, no tables; ``&``, ``<`` and ``>`` must be escaped as HTML entities
(https://api.slack.com/reference/surfaces/formatting). Escaping everything except the links we
build also means an answer can never smuggle ``<!channel>`` or ``<@U…>`` pings into a thread.
"""

from __future__ import annotations

from revops.lib.markdown import to_mrkdwn

_FENCE = "```"
_MIN_SPLIT_LIMIT = 16


def _is_fence_toggle(stripped: str) -> bool:
    """A line opening or closing a fenced block (```` ``` ````), in mrkdwn as rendered here."""
    return stripped.startswith(_FENCE) and _FENCE not in stripped[3:]


def markdown_to_mrkdwn(text: str) -> str:
    """Convert the agents' Markdown answer to Slack mrkdwn (see :func:`revops.lib.markdown.to_mrkdwn`).

    Headings -> ``*Heading*``; ``**bold**`` -> ``*bold*``; ``*italic*`` -> ``_italic_``;
    ``~~x~~`` -> ``~x~``; ``[text](https://url)`` -> ``<https://url|text>``; tables -> an aligned
    monospace block; fenced code kept without its language tag; ``&``, ``<``, ``>`` escaped
    everywhere else, so no ``<!channel>``/``<@U…>`` pings. Returns a string (no trailing newline).
    """
    return to_mrkdwn(text)


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
