"""Historical rates from closed opportunities, shared by the analyses that estimate what the CRM
does not record (forecast: probability and expected close date of open deals; churn and
expansion may reuse the same rates).

Everything is read through the semantic layer (stage semantics, ``close_date`` / ``engage_date``
time dimensions, ``product``), never by table or column name, and only opportunities closed on or
before the run's as-of date count: the warehouse is today's snapshot and may hold deals closed
later, which an analysis "as of" an earlier date must not see.

Rules and formulas:

- **Win rate** = won / (won + lost) x 100 over closed opportunities (the semantic model's
  ``win_rate`` definition), per product and overall.
- **Sales cycle** = close date - engage date in days, of closed opportunities (won and lost)
  with both dates; the **median** is used (robust to the long tail of stalled deals).
- **Confidence** of a rate from the evidence behind it (closed deals): High >= 100, Medium >= 30,
  Low >= 1, None 0. Rule of thumb from the normal approximation of a proportion: with 100
  deals the 95% margin of a win rate near 50% is about +-10 points, with 30 about +-18 points.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from agents.runtime.context import RunContext, ToolError
from agents.semantic.query import Filter, SemanticQuery, TimeRange
from knowledge.semantic_model import SemanticModelInvalid

HIGH_EVIDENCE = 100
MEDIUM_EVIDENCE = 30
_EPOCH = dt.date(1900, 1, 1)


class HistoryUnavailable(ValueError):
    """The semantic model lacks what the historical rates need; the message names it (safe to show)."""


def evidence_label(deals: int) -> str:
    """``High`` / ``Medium`` / ``Low`` / ``None`` for a rate resting on ``deals`` closed deals
    (thresholds in the module docstring)."""
    if deals >= HIGH_EVIDENCE:
        return "High"
    if deals >= MEDIUM_EVIDENCE:
        return "Medium"
    return "Low" if deals > 0 else "None"


@dataclass(frozen=True)
class Rate:
    """A win rate: ``won`` of ``closed`` deals; ``percent`` is None with no closed deal."""

    won: int
    closed: int
    basis: str = "all products"

    @property
    def percent(self) -> float | None:
        """Won / closed x 100 (percent), None without evidence."""
        return 100.0 * self.won / self.closed if self.closed else None

    @property
    def confidence(self) -> str:
        """Evidence label of this rate (:func:`evidence_label`)."""
        return evidence_label(self.closed)


def as_date(value: Any) -> dt.date | None:
    """A date from a date or timestamp value (warehouses differ); None stays None."""
    return value.date() if isinstance(value, dt.datetime) else value


@dataclass
class History:
    """Historical rates of opportunities closed on or before ``as_of``.

    ``overall``/``by_product``: win rates; ``cycles``: sorted cycle lengths in days (close date -
    engage date of closed deals); ``citation``/``cycle_citation``: refs of the queries they come
    from."""

    as_of: dt.date
    overall: Rate
    by_product: dict[str, Rate] = field(default_factory=dict)
    cycles: list[int] = field(default_factory=list)
    citation: int = 0
    cycle_citation: int | None = None

    @property
    def cycle_median_days(self) -> float | None:
        """Median sales cycle (days) of closed deals, None without any."""
        return float(statistics.median(self.cycles)) if self.cycles else None

    def win_rate(self, product: str | None) -> Rate:
        """The product's win rate when it has closed deals, else the overall rate (``basis``
        says which)."""
        rate = self.by_product.get(product or "")
        return rate if rate is not None and rate.closed else self.overall


def count_metric(sm) -> str | None:
    """The model's plain count of opportunities: a metric over a ``count`` measure of the stage
    dimension's entity with no stage group or filter (``opportunities`` in the demo model)."""
    if sm.stages is None:
        return None
    entity = sm.dimensions[sm.stages.dimension].entity if sm.stages.dimension in sm.dimensions else None
    for name, metric in sm.metrics.items():
        measure = sm.measures.get(metric.measure or "")
        if measure and not metric.transform and measure.agg == "count" and measure.entity == entity and not measure.stage_group and not measure.filters:
            return name
    return None


def history_load(ctx: RunContext, *, agent: str, as_of: dt.date | None = None) -> History:
    """Win rates (overall and by ``product`` when the model has it) and the sales-cycle lengths of
    opportunities closed on or before ``as_of`` (default the run's), from two aggregate queries
    (cited; aggregates stay far below the warehouse's row cap): closed deals counted by stage and
    product, and by ``sales_cycle_days`` (skipped when the model has no such dimension: no cycles).

    Raises HistoryUnavailable when the model declares no stage semantics, no ``close_date`` time
    dimension or no plain count metric of opportunities; ToolError / SemanticQueryError from the
    queries.
    """
    as_of = as_of or ctx.as_of
    sm = ctx.semantic_model(agent=agent)
    try:
        won_v, lost_v = set(sm.stage_values("won")), set(sm.stage_values("lost"))
    except SemanticModelInvalid as exc:
        raise HistoryUnavailable("the semantic model declares no stage semantics (which stages are won, lost, open)") from exc
    if "close_date" not in sm.time_dimensions:
        raise HistoryUnavailable("the semantic model declares no 'close_date' time dimension")
    count = count_metric(sm)
    if count is None:
        raise HistoryUnavailable("the semantic model has no plain count metric of opportunities")
    stage = sm.stages.dimension
    closed = (Filter(stage, tuple(sorted(won_v | lost_v))),)
    period = TimeRange(_EPOCH, as_of, f"closed on or before {as_of.isoformat()}", time_dimension="close_date")
    by = (stage, "product") if sm.has_dimension("product") else (stage,)
    res = ctx.semantic(
        SemanticQuery(metrics=(count,), group_by=by, filters=closed, period=period),
        agent=agent,
        purpose=f"closed opportunities up to {as_of.isoformat()} by stage and product: win rates",
    )
    won_n = closed_n = 0
    per: dict[str, list[int]] = {}
    for r in res.rows:
        n = int(r[count] or 0)
        won = r[stage] in won_v
        won_n += n if won else 0
        closed_n += n
        product = r.get("product")
        if product is not None:
            counts = per.setdefault(str(product), [0, 0])
            counts[0] += n if won else 0
            counts[1] += n
    cycles: list[int] = []
    if sm.has_dimension("sales_cycle_days"):
        cyc = ctx.semantic(
            SemanticQuery(metrics=(count,), group_by=("sales_cycle_days",), filters=closed, period=period),
            agent=agent,
            purpose=f"closed opportunities up to {as_of.isoformat()} by sales cycle (days)",
        )
        for r in cyc.rows:
            if r["sales_cycle_days"] is not None:
                cycles += [int(r["sales_cycle_days"])] * int(r[count] or 0)
    return History(
        as_of=as_of,
        overall=Rate(won_n, closed_n),
        by_product={p: Rate(w, c, basis=p) for p, (w, c) in per.items()},
        cycles=sorted(cycles),
        citation=res.citation,
        cycle_citation=cyc.citation if cycles else None,
    )


def rows_all(
    ctx: RunContext, query: SemanticQuery, *, agent: str, purpose: str, split: tuple[str, ...] = ("product", "owner")
) -> tuple[list[dict], list[int]]:
    """Every detail row of ``query`` despite the warehouse's row cap: when a result is truncated,
    the query is run again once per value of the next ``split`` dimension the model has (its
    distinct values from :meth:`RunContext.dimension_values`, plus one part for values not in that
    list), recursively. Rows whose split dimension is empty (NULL) are not reached by a split: split
    on dimensions every row has (product and owner of an opportunity). Returns ``(rows, citation refs)``. Raises ToolError when the rows still exceed
    the cap after every split (the message says so), or like :meth:`RunContext.semantic`."""
    sm = ctx.semantic_model(agent=agent)
    res = ctx.semantic(query, agent=agent, purpose=purpose)
    if not res.truncated:
        return res.rows, [res.citation]
    dims = [d for d in split if sm.has_dimension(d) and d not in {f.dimension for f in query.filters}]
    if not dims:
        raise ToolError(f"{purpose}: more rows than the warehouse returns at once, even split by {', '.join(split)}")
    dim, rest = dims[0], tuple(d for d in split if d != dims[0])
    values = ctx.dimension_values(agent=agent).get(dim, [])
    rows: list[dict] = []
    refs: list[int] = []
    parts = [Filter(dim, (v,)) for v in values] + [Filter(dim, tuple(values), op="not_in")]
    for flt in parts:
        part_rows, part_refs = rows_all(
            ctx, dataclasses.replace(query, filters=(*query.filters, flt)), agent=agent, purpose=f"{purpose}, {dim} {'other' if flt.op == 'not_in' else flt.values[0]}", split=rest
        )
        rows += part_rows
        refs += part_refs
    return rows, refs
