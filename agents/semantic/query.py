"""The semantic query: what a question asks, in the model's own names (metrics, dimensions).

Produced by the offline parser (``agents.semantic.parser``) or by a model's ``semantic_query``
tool call, compiled to SQL by ``agents.semantic.compiler``, stored on the run
(``Run.semantic_query``) and shown as the answer's "Interpreted as" line.

JSON shape (``SemanticQuery.as_dict``)::

    {"metrics": ["win_rate"], "group_by": ["office"],
     "filters": [{"dimension": "product", "op": "in", "values": ["GTX Pro"]}],
     "period": {"time_dimension": null, "start": "2025-04-01", "end": "2025-06-30", "label": "Q2 2025"},
     "grain": null, "compare": null, "order": [{"by": "win_rate", "desc": true}], "limit": 5,
     "fields": []}

``fields`` (dimensions, no metrics) asks for rows rather than aggregates (a list of deals).
``period.time_dimension`` null means "each measure's own time dimension". ``compare`` is a
second period the metrics are also computed for (period over period). Filter ``values`` are
canonical values (after the dimension's aliases).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Literal

FilterOp = Literal["in", "not_in", "contains", "gt", "gte", "lt", "lte"]
Grain = Literal["day", "week", "month", "quarter", "year"]


class SemanticQueryError(ValueError):
    """The query names something the model lacks, or cannot be compiled without double counting.
    The message is safe to show (it names the part and what exists instead)."""


@dataclass(frozen=True)
class Filter:
    """``dimension`` ``op`` ``values`` (``in``/``not_in``: canonical values; ``contains``: text
    containing any of the values, case-insensitive; comparisons: one number or date)."""

    dimension: str
    values: tuple
    op: FilterOp = "in"

    def as_dict(self) -> dict:
        """``{"dimension", "op", "values"}`` (JSON-ready)."""
        return {"dimension": self.dimension, "op": self.op, "values": list(self.values)}


@dataclass(frozen=True)
class TimeRange:
    """An inclusive date range; ``time_dimension`` None = each measure's own time dimension.
    ``complete`` is False when the range was cut at the as-of date (a period to date)."""

    start: dt.date
    end: dt.date
    label: str = ""
    time_dimension: str | None = None
    complete: bool = True

    def as_dict(self) -> dict:
        """``{"time_dimension", "start", "end" (ISO dates), "label", "complete"}``."""
        return {
            "time_dimension": self.time_dimension,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "label": self.label,
            "complete": self.complete,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "TimeRange":
        """Inverse of :meth:`as_dict`; raises KeyError/ValueError on a malformed dict (callers
        turn them into SemanticQueryError)."""
        return cls(
            start=dt.date.fromisoformat(str(data["start"])),
            end=dt.date.fromisoformat(str(data["end"])),
            label=str(data.get("label") or ""),
            time_dimension=data.get("time_dimension"),
            complete=bool(data.get("complete", True)),
        )


@dataclass(frozen=True)
class OrderBy:
    """Sort by a metric or dimension name; ``desc`` for highest first."""

    by: str
    desc: bool = True


@dataclass(frozen=True)
class SemanticQuery:
    """What to compute, in the model's names. See the module docstring for the JSON shape."""

    metrics: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    period: TimeRange | None = None
    grain: Grain | None = None
    compare: TimeRange | None = None
    order: tuple[OrderBy, ...] = ()
    limit: int | None = None
    fields: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """JSON-ready dict (stored on the run, shown by the API and the admin)."""
        return {
            "metrics": list(self.metrics),
            "group_by": list(self.group_by),
            "filters": [f.as_dict() for f in self.filters],
            "period": self.period.as_dict() if self.period else None,
            "grain": self.grain,
            "compare": self.compare.as_dict() if self.compare else None,
            "order": [asdict(o) for o in self.order],
            "limit": self.limit,
            "fields": list(self.fields),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SemanticQuery":
        """Inverse of :meth:`as_dict`. Raises SemanticQueryError on a malformed dict (a model's
        tool call arguments go through here)."""
        if not isinstance(data, dict):
            raise SemanticQueryError("a semantic query must be a JSON object")
        lists = {k: data.get(k) for k in ("metrics", "group_by", "fields", "filters", "order")}
        lists.update({f"filters[{i}].values": f.get("values") for i, f in enumerate(data.get("filters") or []) if isinstance(f, dict)})
        for key, value in lists.items():
            if value is not None and not isinstance(value, (list, tuple)):
                # tuple("GTX Pro") would silently become single letters
                raise SemanticQueryError(f"malformed semantic query: {key} must be a list, got {type(value).__name__}")
        try:
            return cls(
                metrics=tuple(str(m) for m in data.get("metrics") or ()),
                group_by=tuple(str(d) for d in data.get("group_by") or ()),
                filters=tuple(
                    Filter(str(f["dimension"]), tuple(f.get("values") or ()), f.get("op") or "in") for f in data.get("filters") or ()
                ),
                period=TimeRange.from_dict(data["period"]) if data.get("period") else None,
                grain=data.get("grain"),
                compare=TimeRange.from_dict(data["compare"]) if data.get("compare") else None,
                order=tuple(OrderBy(str(o["by"]), bool(o.get("desc", True))) for o in data.get("order") or ()),
                limit=int(data["limit"]) if data.get("limit") is not None else None,
                fields=tuple(str(d) for d in data.get("fields") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SemanticQueryError(f"malformed semantic query: {exc}") from exc

    def signature(self) -> dict:
        """Order-insensitive comparison key (eval's interpreted-as accuracy): metrics, group-by and
        filters as sorted lists, period and comparison as (start, end), limit, and the direction of
        the first ordering."""
        return {
            "metrics": sorted(self.metrics),
            "group_by": sorted(self.group_by),
            "filters": sorted((f.dimension, f.op, sorted(str(v).lower() for v in f.values)) for f in self.filters),
            "period": [self.period.start.isoformat(), self.period.end.isoformat()] if self.period else None,
            "compare": [self.compare.start.isoformat(), self.compare.end.isoformat()] if self.compare else None,
            "grain": self.grain,
            "limit": self.limit,
            "desc": self.order[0].desc if self.order and self.limit else None,
        }
