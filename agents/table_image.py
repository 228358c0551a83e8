"""A wide answer table as a PNG (issue 10 item 7: "tables as aligned fields or an attached image when wide").

Slack shows tables as section fields or a monospace block only while they are narrow
(:mod:`integrations.slack.blocks`); a wider table is kept as text (a compact list) and also
attached as an image of the full grid, drawn here server-side with matplotlib's ``ax.table`` on
the Agg backend (``matplotlib.figure.Figure`` directly: thread-safe, no pyplot state).
"""

from __future__ import annotations

import io

MAX_ROWS = 60  # beyond this an image is unreadable in a thread; the caption says rows were left out
MAX_CELL_CHARS = 40
_DPI = 100
_ROW_HEIGHT_PX = 26
_CHAR_WIDTH_PX = 7.5
_MIN_WIDTH_PX = 480
_MAX_WIDTH_PX = 2400


def _cut(text: str, limit: int = MAX_CELL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _char_widths(header: list[str], rows: list[list[str]]) -> list[float]:
    """Characters per column: the widest cell, the (bold) header counting 15% wider."""
    return [
        max([len(_cut(header[i])) * 1.15, *(len(_cut(r[i])) for r in rows if i < len(r))]) for i in range(len(header))
    ]


def table_image_size(header: list[str], rows: list[list[str]]) -> tuple[int, int]:
    """The PNG's ``(width, height)`` in pixels for this table: width from the widest cell per
    column (7.5 px per character + padding, 480-2,400 px), height 26 px per row (header, up to
    ``MAX_ROWS`` rows, a caption line and the title)."""
    shown = rows[:MAX_ROWS]
    widths = _char_widths(header, shown)
    width = int(sum(max(w, 3) * _CHAR_WIDTH_PX + 16 for w in widths)) + 40
    width = max(_MIN_WIDTH_PX, min(_MAX_WIDTH_PX, width))
    height = (len(shown) + 1) * _ROW_HEIGHT_PX + 3 * _ROW_HEIGHT_PX
    return width, height


def render_table_png(*, header: list[str], rows: list[list[str]], title: str = "", aligns: list[str] | None = None) -> bytes:
    """Render a table (``header``: column names; ``rows``: cells as display text, one list per row)
    to PNG bytes of :func:`table_image_size` pixels.

    Cells longer than 40 characters are cut with an ellipsis; at most ``MAX_ROWS`` rows are drawn
    and a caption says how many were left out. ``aligns`` (``left``/``right``/``center`` per
    column, as :class:`revops.lib.markdown.Table` gives them) aligns the cells. Raises
    ``ValueError`` for a table without columns or with a row whose cell count differs from the header's."""
    if not header:
        raise ValueError("a table image needs at least one column")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i + 1} has {len(row)} cells for {len(header)} columns")
    from matplotlib.figure import Figure  # heavy import; only processes that draw pay it

    width, height = table_image_size(header, rows)
    shown = rows[:MAX_ROWS]
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    row_share = _ROW_HEIGHT_PX / height
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 1.5 * row_share))  # the title's line above the grid
    ax.axis("off")
    loc = {"left": "left", "right": "right", "center": "center"}
    cell_aligns = [loc.get(a, "left") for a in (aligns or ["left"] * len(header))]
    char_counts = [w + 2 for w in _char_widths(header, shown)]
    total = sum(char_counts)
    table = ax.table(
        cellText=[[_cut(c) for c in row] for row in shown] or [[""] * len(header)],
        colLabels=[_cut(h) for h in header],
        colWidths=[c / total for c in char_counts],
        loc="upper center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    for (r, c), cell in table.get_celld().items():
        cell.set_height(row_share)
        cell.set_edgecolor("#d0d0d0")
        cell.get_text().set_horizontalalignment(cell_aligns[c] if r > 0 else "left")
        cell.PAD = 0.04
        if r == 0:
            cell.set_facecolor("#f0f0f0")
            cell.get_text().set_fontweight("bold")
        elif r % 2 == 0:
            cell.set_facecolor("#fafafa")
    if title:
        fig.text(0.01, 1 - row_share, _cut(title, 160), fontsize=11, fontweight="bold", va="center")
    if len(rows) > MAX_ROWS:
        fig.text(0.01, 0.5 * row_share, f"First {MAX_ROWS} of {len(rows)} rows shown.", fontsize=9, color="#555555", va="center")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()
