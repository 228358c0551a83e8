"""Answers as Slack Block Kit messages: a header, sections, tables, a context line, feedback buttons.

Pure functions (no I/O): :func:`answer_messages` turns the agents' Markdown answer into one or
more :class:`SlackMessage` (``text`` fallback + ``blocks``) within Slack's limits
(https://api.slack.com/reference/block-kit/blocks): a header's plain text <= 150 characters, a
section's text <= 3,000, <= 10 fields of <= 2,000 each, <= 10 context elements, <= 50 blocks per
message. :func:`progress_message` is the "Working on it…" message as specialists finish.

The answer is parsed once by :mod:`revops.lib.markdown` (markdown-it-py); text runs are rendered
with its Slack mrkdwn renderer and tables read from its table nodes. Reading rules:

- sections are cut on paragraph boundaries (then lines, then words; see
  :func:`integrations.slack.mrkdwn.split_message`) and a Markdown heading starts a new section;
- a Markdown table becomes aligned section fields when it has two columns and few rows, an
  aligned monospace block when its rendered width is at most 60 columns (Slack wraps wider code
  blocks on phones), and otherwise a compact list: one line per row, the first cell in bold and
  the other cells as ``column: value``; such a *wide* table (:func:`wide_tables`) is also
  attached to the thread as an image of the full grid by the caller (``table_images=True`` adds
  the line "Full table in the attached image N." under the list, which keeps every row as text);
- the answer's ``Sources`` section moves to a context line with the run id (linked to the run
  page when a public URL is known);
- a long answer becomes several messages of <= ``MESSAGE_CHARS`` section characters and <= 50
  blocks each; the header opens the first, the context line and the 👍/👎 buttons close the last.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it.tree import SyntaxTreeNode

from integrations.slack.mrkdwn import split_message
from revops.lib.markdown import (
    Document,
    Table,
    aligned_table,
    inline_to_mrkdwn,
    parse,
    parse_table,
    plain_text,
    slack_escape,
    slack_escape_url,
    table_of,
    to_mrkdwn,
)

HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
CONTEXT_CHARS = 2000
NARROW_TABLE_COLUMNS = 60
FIELD_TABLE_MAX_ROWS = 15  # two-column tables up to this many rows become fields (<= 2 field sections)
MESSAGE_CHARS = 12_000  # section characters per message: beyond this a thread reads better as several messages
FALLBACK_CHARS = 3000

FEEDBACK_UP_ACTION_ID = "revops_feedback_up"
FEEDBACK_DOWN_ACTION_ID = "revops_feedback_down"
FEEDBACK_ACTION_IDS = {FEEDBACK_UP_ACTION_ID: "up", FEEDBACK_DOWN_ACTION_ID: "down"}

@dataclass(frozen=True)
class SlackMessage:
    """One message to post or update: ``text`` is the fallback Slack shows in notifications and
    to clients without Block Kit; ``blocks`` the Block Kit blocks (dicts, JSON-ready)."""

    text: str
    blocks: list[dict]


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary when possible, with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit - 1].rstrip() + "…"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(title: str) -> dict:
    title = " ".join(title.split()) or "Answer"
    return {"type": "header", "text": {"type": "plain_text", "text": _truncate(title, HEADER_CHARS), "emoji": True}}


def agent_label(agent: str) -> str:
    """``deal_analysis`` -> ``Deal analysis`` (how specialists are named to people)."""
    return agent.replace("_", " ").capitalize()


# --- the answer's parts ---------------------------------------------------------------------------


def _split_sources(doc: Document) -> tuple[list[SyntaxTreeNode], list[str]]:
    """The answer's top-level nodes without its ``Sources`` section (a heading of any level
    titled "Sources", up to the next heading), and that section's non-blank source lines."""
    nodes = list(doc.nodes)
    for i, node in enumerate(nodes):
        if node.type == "heading" and plain_text(node).strip().lower() == "sources":
            end = next((j for j in range(i + 1, len(nodes)) if nodes[j].type == "heading"), len(nodes))
            stop = nodes[end].map[0] if end < len(nodes) else len(doc.lines)
            sources = [line.strip() for line in doc.lines[node.map[1] : stop] if line.strip()]
            return nodes[:i] + nodes[end:], sources
    return nodes, []


def _parts(nodes: list[SyntaxTreeNode]) -> list[tuple[str, object]]:
    """``("text", [nodes])`` runs (a heading starts a new run) and ``("table", Table)``."""
    parts: list[tuple[str, object]] = []
    current: list[SyntaxTreeNode] = []
    for node in nodes:
        if node.type in ("heading", "table") and current:
            parts.append(("text", current))
            current = []
        if node.type == "table":
            parts.append(("table", table_of(node)))
        else:
            current.append(node)
    if current:
        parts.append(("text", current))
    return parts


def _fits_fields(table: Table) -> bool:
    return len(table.header) == 2 and len(table.rows) <= FIELD_TABLE_MAX_ROWS


def is_wide_table(table: Table) -> bool:
    """Whether ``table`` is too wide for Slack's section fields and a monospace block (it becomes a
    compact list): more than two columns (or over 15 rows) and an aligned width over 60 characters."""
    if _fits_fields(table):
        return False
    return max(len(line) for line in aligned_table(table, slack_escape)) > NARROW_TABLE_COLUMNS


def _table_blocks(table: Table, image_note: str = "") -> list[dict]:
    names = [slack_escape(c) for c in table.header]
    grid = [[slack_escape(c) for c in row] for row in table.rows]
    if _fits_fields(table):
        fields = [f"*{n}*" if n else " " for n in names]
        for row in grid:
            fields.extend(cell or "–" for cell in row)
        return [
            {"type": "section", "fields": [{"type": "mrkdwn", "text": _truncate(f, FIELD_CHARS)} for f in fields[k : k + MAX_FIELDS]]}
            for k in range(0, len(fields), MAX_FIELDS)
        ]
    rendered = aligned_table(table, slack_escape)  # [header, rule, *rows]
    if max(len(l) for l in rendered) <= NARROW_TABLE_COLUMNS:
        return [_section(piece) for piece in split_message("\n".join(["```", *rendered, "```"]), limit=SECTION_CHARS)]
    lines = []
    for row in grid:
        first = row[0] or "–"
        rest = " · ".join(f"{n}: {v}" if n else v for n, v in zip(names[1:], row[1:]) if v)
        lines.append(f"• *{first}*" + (f" — {rest}" if rest else ""))
    if image_note:
        lines.append(f"_{slack_escape(image_note)}_")
    return [_section(piece) for piece in split_message("\n".join(lines), limit=SECTION_CHARS)]


def table_blocks(header: str, separator: str, rows: list[str]) -> list[dict]:
    """Blocks for one Markdown table given as its lines (see the module docstring for the three renderings).

    Two columns and <= 15 rows: section ``fields`` (column names in bold, then one row per
    line of the two-column grid, <= 10 fields per section). Else, rendered width <= 60: an
    aligned monospace block. Else: a compact list. Every block is within Slack's limits.
    Raises ValueError when the lines are not a Markdown table.
    """
    return _table_blocks(parse_table("\n".join([header, separator, *rows])))


def _body_blocks(doc: Document, nodes: list[SyntaxTreeNode], table_images: bool = False) -> list[dict]:
    blocks: list[dict] = []
    wide = 0
    for kind, value in _parts(nodes):
        if kind == "table":
            note = ""
            if table_images and is_wide_table(value):  # type: ignore[arg-type]
                wide += 1
                note = table_image_note(wide)
            rendered = _table_blocks(value, note)  # type: ignore[arg-type]
            last = blocks[-1] if blocks else None
            if last and "fields" in rendered[0] and "fields" not in last and last["text"]["text"].count("\n") == 0:
                last["fields"] = rendered.pop(0)["fields"]  # a one-line heading and its key/value table: one block
            blocks.extend(rendered)
        else:
            blocks.extend(_section(piece) for piece in split_message(to_mrkdwn(doc, value), limit=SECTION_CHARS))  # type: ignore[arg-type]
    return blocks


def table_image_note(n: int) -> str:
    """The line under the ``n``-th wide table (1-based) when its image is attached."""
    return f"Full table in the attached image {n}."


def wide_tables(markdown: str) -> list[Table]:
    """The answer's wide tables (:func:`is_wide_table`), in order, outside its ``Sources`` section:
    the tables a caller attaches as images (``answer_messages(table_images=True)`` numbers them
    1, 2, ... in the same order)."""
    doc = parse(markdown)
    body, _ = _split_sources(doc)
    return [value for kind, value in _parts(body) if kind == "table" and is_wide_table(value)]  # type: ignore[arg-type]


def body_blocks(markdown: str) -> list[dict]:
    """Section blocks for an answer body (no ``Sources``): text <= 3,000 characters each."""
    doc = parse(markdown)
    return _body_blocks(doc, list(doc.nodes))


def _block_chars(block: dict) -> int:
    text = len(block["text"]["text"]) if "text" in block else 0
    return text + sum(len(f["text"]) for f in block.get("fields", []))


def _block_text(block: dict) -> str:
    fields = [f["text"] for f in block.get("fields", [])]
    rows = ["  ".join(fields[k : k + 2]) for k in range(0, len(fields), 2)]  # fields read as a 2-column grid
    return "\n".join(([block["text"]["text"]] if "text" in block else []) + rows)


def context_block(*, sources: list[str], run_ref: str, run_url: str = "", note: str = "") -> dict:
    """The context line: sources (mrkdwn, escaped, <= 2,000 characters) and the run id/link."""
    elements = []
    if sources:
        text = "*Sources*\n" + "\n".join(inline_to_mrkdwn(s) for s in sources)
        elements.append({"type": "mrkdwn", "text": _truncate(text, CONTEXT_CHARS)})
    run = f"<{slack_escape_url(run_url)}|Run {run_ref}>" if run_url else f"Run `{run_ref}`"
    elements.append({"type": "mrkdwn", "text": f"{run}{f' · {slack_escape(note)}' if note else ''}"})
    return {"type": "context", "elements": elements}


def feedback_block(*, run_ref: str) -> dict:
    """👍/👎 buttons; their ``value`` is the run's tracking id (resolved in the clicker's tenant)."""
    return {
        "type": "actions",
        "block_id": "revops_feedback",
        "elements": [
            {"type": "button", "action_id": FEEDBACK_UP_ACTION_ID, "value": run_ref, "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True}},
            {"type": "button", "action_id": FEEDBACK_DOWN_ACTION_ID, "value": run_ref, "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True}},
        ],
    }


def answer_messages(
    *, title: str, markdown: str, run_ref: str, run_url: str = "", note: str = "", feedback: bool = True, table_images: bool = False
) -> list[SlackMessage]:
    """The answer as Slack messages, in order (at least one).

    ``title``: the header's text (the question; cut to 150 characters at a word). ``markdown``:
    the agents' answer; its ``Sources`` section becomes the context line. ``run_ref``: the run's
    tracking id; ``run_url``: a link to the run page, or "" for none; ``note``: a short remark
    after the run id (e.g. "failed"). Each message holds <= 50 blocks and <= ``MESSAGE_CHARS``
    characters of section text (one oversized block still gets a message of its own); the first
    starts with the header, the last ends with the context line and (``feedback``) the buttons.
    ``table_images``: the caller attaches each wide table (:func:`wide_tables`) as an image; its
    text list then ends with "Full table in the attached image N." (the rows stay as text).
    ``text`` of each message is its sections' mrkdwn, cut to 3,000 characters.
    """
    doc = parse(markdown)
    body, sources = _split_sources(doc)
    blocks = _body_blocks(doc, body, table_images) or [_section("_(no answer text)_")]
    tail = [context_block(sources=sources, run_ref=run_ref, run_url=run_url, note=note)]
    if feedback:
        tail.append(feedback_block(run_ref=run_ref))
    groups: list[list[dict]] = [[_header(title)]]
    chars = 0
    for block in blocks:
        size = _block_chars(block)
        if len(groups[-1]) >= MAX_BLOCKS or (chars and chars + size > MESSAGE_CHARS):
            groups.append([])
            chars = 0
        groups[-1].append(block)
        chars += size
    if len(groups[-1]) + len(tail) > MAX_BLOCKS:
        groups.append([])
    groups[-1].extend(tail)
    messages = []
    for n, group in enumerate(groups):
        texts = [_block_text(b) for b in group if b["type"] == "section"]
        if n == 0:
            texts.insert(0, f"*{slack_escape(group[0]['text']['text'])}*")
        messages.append(SlackMessage(text=_truncate("\n\n".join(texts), FALLBACK_CHARS) or f"Run {run_ref}", blocks=group))
    return messages


def progress_message(*, run_ref: str, planned: list[str], done: list[str], failed: list[str] | None = None) -> SlackMessage:
    """The "Working on it…" message: one line per planned specialist (✅ done, ⚠️ failed, ⏳ to do).

    ``planned``/``done``/``failed`` hold agent names (``deal_analysis``); the text fallback keeps
    the "Working on it… (run <id>)" wording of the first acknowledgement.
    """
    failed = failed or []
    text = f"Working on it… (run {run_ref})"
    if not planned:
        return SlackMessage(text=text, blocks=[_section(slack_escape(text))])
    lines = []
    for agent in planned:
        mark = "⚠️" if agent in failed else "✅" if agent in done else "⏳"
        lines.append(f"{mark} {slack_escape(agent_label(agent))}")
    finished = sum(1 for a in planned if a in done or a in failed)
    status = f"{finished} of {len(planned)} specialist{'s' if len(planned) != 1 else ''} finished"
    return SlackMessage(
        text=f"{text}: {status}",
        blocks=[_section(slack_escape(f"Working on it… {status}.")), {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(" · ".join(lines), CONTEXT_CHARS)}, {"type": "mrkdwn", "text": f"Run `{run_ref}`"}]}],
    )


def answered_below_message(*, run_ref: str, count: int) -> SlackMessage:
    """What the acknowledgement becomes when the answer follows in ``count`` messages."""
    text = f"Done: the answer follows in {count} messages (run {run_ref})."
    return SlackMessage(text=text, blocks=[_section(slack_escape(text))])


__all__ = [
    "FEEDBACK_ACTION_IDS",
    "SlackMessage",
    "answer_messages",
    "answered_below_message",
    "body_blocks",
    "context_block",
    "feedback_block",
    "is_wide_table",
    "progress_message",
    "table_blocks",
    "table_image_note",
    "wide_tables",
]
