"""Charts for answers: a typed chart spec (the figures), PNG rendering and alt text (issue 11).

A run stores its charts as specs (``Run.charts``: the title, the category labels, the series and
their unit), never as images: the spec *is* the underlying data table, the API serves it as JSON
beside the PNG, and the PNG is rendered on demand, server-side, with matplotlib's Agg backend
(``matplotlib.figure.Figure`` directly, not pyplot, so rendering is thread-safe and leaves no
global state). The alt text states every figure the chart shows, so a reader who cannot see the
image loses nothing.

Charts are offered only for shapes a leader reads faster as a picture: a breakdown over a
dimension (bars), a trend over a time grain (lines), forecast against target (bars with a target
line). One value is not a chart.
"""

from __future__ import annotations

import io
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Pixel size of a rendered chart: 1000 x 560 at 100 dpi, readable in a Slack thread and on a phone.
WIDTH_PX = 1000
HEIGHT_PX = 560
_DPI = 100
MAX_CATEGORIES = 30
MAX_SERIES = 6

Unit = Literal["USD", "count", "percent", "ratio", "days", "number"]


class ChartSeries(BaseModel):
    """One named series: one value per category (``None`` where the value is missing)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120)
    values: list[float | None]


class ChartSpec(BaseModel):
    """What a chart shows. ``kind``: ``bar`` (a breakdown), ``line`` (a trend over a time grain)
    or ``bar_target`` (bars with a horizontal target line, e.g. forecast vs target).

    ``categories`` are the x-axis labels (dimension values or periods, in display order);
    every series has one value per category; ``unit`` is the values' unit (USD, count, percent
    0-100, ratio, days, number). ``target`` is the target line's value in the same unit
    (``bar_target`` only). ``source_ref`` is the citation number ``[n]`` of the query the figures
    came from, so the chart traces back like the text does.

    Raises ``pydantic.ValidationError`` when a series' length differs from the categories', when
    there are more than ``MAX_CATEGORIES`` categories or ``MAX_SERIES`` series, or when a
    ``bar_target`` chart has no target.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bar", "line", "bar_target"] = "bar"
    title: str = Field(max_length=200)
    categories: list[str] = Field(min_length=1, max_length=MAX_CATEGORIES)
    series: list[ChartSeries] = Field(min_length=1, max_length=MAX_SERIES)
    unit: Unit = "number"
    x_label: str = ""
    target: float | None = None
    target_label: str = "Target"
    source_ref: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ChartSpec":
        for s in self.series:
            if len(s.values) != len(self.categories):
                raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(self.categories)} categories")
        if self.kind == "bar_target" and self.target is None:
            raise ValueError("a bar_target chart needs a target")
        return self


def format_value(value: float | None, unit: str) -> str:
    """A chart value as the answers print it: ``$1,234,567`` (USD, whole dollars), ``42.0%``
    (percent, already 0-100), ``1,234`` (count), ``0.85`` (ratio), ``12 days``; ``n/a`` for a
    missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "USD":
        return f"-${abs(value):,.0f}" if value < 0 else f"${value:,.0f}"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "days":
        return f"{value:,.0f} days"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if not float(value).is_integer() else f"{value:,.0f}"


def alt_text(spec: ChartSpec) -> str:
    """A sentence per series stating every figure of the chart, e.g.
    ``Bar chart: Pipeline by stage (USD). Engaging: $1,200; Prospecting: $300.`` and, for a target
    chart, ``Target: $5,000.``"""
    kind = {"bar": "Bar chart", "line": "Line chart", "bar_target": "Bar chart with target line"}[spec.kind]
    parts = [f"{kind}: {spec.title} ({spec.unit})."]
    for s in spec.series:
        figures = "; ".join(f"{c}: {format_value(v, spec.unit)}" for c, v in zip(spec.categories, s.values))
        prefix = f"{s.name}: " if len(spec.series) > 1 else ""
        parts.append(f"{prefix}{figures}.")
    if spec.target is not None:
        parts.append(f"{spec.target_label}: {format_value(spec.target, spec.unit)}.")
    return " ".join(parts)


def data_table(spec: ChartSpec) -> dict:
    """The chart's underlying data as a table: ``{"columns": [x_label, series...], "rows": [[category,
    value...], ...]}`` (values as numbers, unit in ``"unit"``)."""
    columns = [spec.x_label or "category", *(s.name for s in spec.series)]
    rows = [[c, *(s.values[i] for s in spec.series)] for i, c in enumerate(spec.categories)]
    return {"columns": columns, "rows": rows, "unit": spec.unit}


def render_png(spec: ChartSpec, *, width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """Render ``spec`` to PNG bytes of exactly ``width_px`` x ``height_px`` pixels (Agg backend).

    Missing values are drawn as gaps (lines) or left out (bars). Tick labels use the same
    formatting as the answers (``format_value``)."""
    from matplotlib.figure import Figure  # heavy import (~0.3 s); only processes that draw pay it
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    ax = fig.add_subplot(1, 1, 1)
    positions = list(range(len(spec.categories)))
    if spec.kind == "line":
        for s in spec.series:
            ys = [math.nan if v is None else v for v in s.values]
            ax.plot(positions, ys, marker="o", label=s.name)
    else:
        n = len(spec.series)
        width = 0.8 / n
        for i, s in enumerate(spec.series):
            xs = [p - 0.4 + width * (i + 0.5) for p in positions]
            ys = [0.0 if v is None else v for v in s.values]
            ax.bar(xs, ys, width=width, label=s.name)
        if spec.target is not None:
            ax.axhline(spec.target, color="#c0392b", linestyle="--", linewidth=2, label=f"{spec.target_label} ({format_value(spec.target, spec.unit)})")
    ax.set_xticks(positions)
    rotate = len(spec.categories) > 6 or max(len(c) for c in spec.categories) > 12
    ax.set_xticklabels(spec.categories, rotation=35 if rotate else 0, ha="right" if rotate else "center", fontsize=9)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_value(v, spec.unit)))
    ax.set_title(spec.title, fontsize=13)
    if spec.x_label:
        ax.set_xlabel(spec.x_label)
    ax.grid(axis="y", alpha=0.3)
    if len(spec.series) > 1 or spec.target is not None:
        ax.legend(fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def chart_from_columns(
    *, title: str, categories: list, series: dict[str, list], unit: str, x_label: str = "", time_grain: bool = False,
    source_ref: int | None = None,
) -> ChartSpec | None:
    """A chart for a result table, or ``None`` when a picture adds nothing: fewer than two
    categories, more than ``MAX_CATEGORIES``, or no numeric value at all. ``time_grain`` picks a line
    chart (a trend over periods) instead of bars. Values that are not numbers become gaps."""
    if not (2 <= len(categories) <= MAX_CATEGORIES) or not series:
        return None
    clean: list[ChartSeries] = []
    for name, values in list(series.items())[:MAX_SERIES]:
        nums = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _as_float(v) for v in values]
        if any(v is not None for v in nums):
            clean.append(ChartSeries(name=str(name)[:120], values=nums))
    if not clean:
        return None
    return ChartSpec(
        kind="line" if time_grain else "bar", title=title[:200], categories=[str(c) for c in categories],
        series=clean, unit=unit if unit in {"USD", "count", "percent", "ratio", "days", "number"} else "number",
        x_label=x_label, source_ref=source_ref,
    )


def _as_float(value) -> float | None:
    try:
        out = float(value)  # Decimal from the warehouse
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def stored_charts(raw: object) -> list[tuple[int, ChartSpec]]:
    """The charts stored on a run (``Run.charts``: a list of ChartSpec dicts) as ``(n, spec)``
    pairs, ``n`` 1-based in stored order (the ``<n>`` of ``/api/v1/runs/<id>/charts/<n>.png``).

    An entry that no longer validates (a spec stored by an older version) is left out, its number
    is not reused, so URLs stay stable. Anything but a list gives ``[]``."""
    if not isinstance(raw, list):
        return []
    out: list[tuple[int, ChartSpec]] = []
    for n, item in enumerate(raw, start=1):
        try:
            out.append((n, ChartSpec.model_validate(item)))
        except ValueError:  # pydantic.ValidationError is a ValueError
            continue
    return out


def stored_chart(raw: object, n: int) -> ChartSpec | None:
    """Chart ``n`` (1-based) of a run's stored charts, or ``None`` when there is no such valid chart."""
    return next((spec for k, spec in stored_charts(raw) if k == n), None)
