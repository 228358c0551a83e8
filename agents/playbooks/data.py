"""Data specialist: metric and list questions answered through the tenant's semantic model.

The question is parsed into a semantic query (metrics x breakdowns x filters x period, ranking,
comparison; ``agents.semantic.parser``), compiled to SQL from the model's declared entities,
relationships and measures (``agents.semantic.compiler``) and answered with one "Interpreted as"
line first. When a part of the question that would change the result maps to nothing in the
model (an unknown concept, a name not among the values), the answer declines, names that part
and lists what exists instead: it never answers another question. Competitor mentions in call
notes are the one analysis outside the metric grammar (phrases from the KB's competitor list).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from rapidfuzz import fuzz, process

from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.formatting import fmt_count, fmt_days, fmt_key, fmt_pct, fmt_usd
from agents.charts import ChartSpec, chart_from_columns
from agents.playbooks.render import render_answer
from agents.runtime.context import QueryResult, RunContext
from agents.semantic.parser import ParseResult, parse_question
from agents.semantic.query import Filter, SemanticQuery, SemanticQueryError
from knowledge.semantic_model import SemanticModelSpec

AGENT = "data"
TABLE_ROWS = 25  # longer lists continue as one line so Slack messages stay readable
# Competitor mentions in call notes are their own analysis only when that is what is asked ("which
# accounts mentioned competitors"); "win rate in competitive deals" goes to the parser (and is declined).
_COMPETITOR_WORDS = re.compile(r"\bcompetitors?\b.*\b(mention|mentioned|mentions|call notes?|notes|named)\b|\b(mention|mentioned|mentions|named|naming)\b.*\bcompetitors?\b", re.I)


def answer(ctx: RunContext, query: str, *, previous: dict | None = None) -> SpecialistAnswer:
    """Answer a metric question, or decline naming the unmapped part.

    ``previous`` is the entities dict of the conversation's last answered run; its
    ``semantic_query`` lets follow-ups ("now by product") reuse the earlier question.
    Raises ToolError on tool failures (the supervisor turns them into an honest section).
    """
    if _COMPETITOR_WORDS.search(query):
        return competitor_mentions(ctx)
    model = ctx.semantic_model(agent=AGENT)
    values = ctx.dimension_values(agent=AGENT)
    prior = None
    if previous and previous.get("semantic_query"):
        try:
            prior = SemanticQuery.from_dict(previous["semantic_query"])
        except SemanticQueryError:
            prior = None
    parsed = parse_question(query, model=model, values=values, as_of=ctx.as_of, previous=prior)
    unsupported = _unsupported(parsed.query)
    if parsed.query is not None and parsed.query.period is not None:
        p = parsed.query.period
        ctx.computed("period", [p.start, p.end], f"{p.label} relative to as-of {ctx.as_of.isoformat()}")
    if parsed.query is not None and parsed.query.compare is not None:
        c = parsed.query.compare
        ctx.computed("comparison period", [c.start, c.end], c.label)
    if parsed.unmapped or parsed.query is None or not (parsed.query.metrics or parsed.query.fields):
        return decline(ctx, model, values, parsed, question=query)
    if unsupported:
        return decline(ctx, model, values, parsed, reason=unsupported, question=query)
    try:
        return compute(ctx, model, parsed)
    except SemanticQueryError as exc:
        return decline(ctx, model, values, parsed, reason=str(exc), question=query)


def _unsupported(query: SemanticQuery | None) -> str:
    """Why a parsed query cannot be answered as asked ('' when it can): a comparison period shown
    by month (not rendered: it would silently show one period only), or a comparison period equal
    to the period itself (nothing to compare)."""
    if query is None or query.compare is None:
        return ""
    if query.grain:
        return f"comparing two periods {query.grain} by {query.grain} is not supported; ask for each period by {query.grain}, or for the two periods' totals"
    if query.period is not None and (query.compare.start, query.compare.end) == (query.period.start, query.period.end):
        return f"the comparison period is the same as the period ({query.period.start.isoformat()} to {query.period.end.isoformat()})"
    return ""


# -- interpretation ------------------------------------------------------------------------------
def describe(model: SemanticModelSpec, query: SemanticQuery) -> str:
    """One line: metric(s), breakdown, filters, period, comparison, ranking, in the model's labels."""
    parts = [", ".join(model.metric_label(m) for m in query.metrics) if query.metrics else "rows of " + ", ".join(model.dimension_label(f) for f in query.fields)]
    if query.group_by:
        parts.append("by " + ", ".join(model.dimension_label(d) for d in query.group_by))
    if query.grain:
        parts.append(f"by {query.grain}")
    for f in query.filters:
        label = model.dimension_label(f.dimension)
        shown = " or ".join(str(v) for v in f.values)
        op = {"in": "=", "not_in": "is not", "contains": "contains", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.op]
        parts.append(f"{label} {op} {shown}")
    if query.period:
        p = query.period
        parts.append(f"{p.label + ': ' if p.label else ''}{p.start.isoformat()} to {p.end.isoformat()}" + ("" if p.complete else " (to date)"))
    else:
        parts.append("all time")
    if query.compare:
        c = query.compare
        parts.append(f"compared with {c.label + ': ' if c.label else ''}{c.start.isoformat()} to {c.end.isoformat()}")
    if query.limit:
        first = query.order[0] if query.order else None
        direction = "top" if (first is None or first.desc) else "bottom"
        parts.append(f"{direction} {query.limit}" + (f" by {model.metric_label(first.by) if first.by in model.metrics else model.dimension_label(first.by)}" if first else ""))
    return " · ".join(parts)


def interpreted_context(model: SemanticModelSpec, parsed: ParseResult, query: SemanticQuery) -> dict:
    """Context of the ``**Interpreted as:**`` line (layout ``answers/_interpreted_as.md``): the
    description, the words not used (lower-cased, once each) and the parser's notes (each ending
    with a full stop)."""
    return {
        "description": describe(model, query),
        "unused": list(dict.fromkeys(w.lower() for w in parsed.unused_words)),
        "notes": [n if n.endswith(".") else n + "." for n in parsed.notes],
    }


def interpreted_line(model: SemanticModelSpec, parsed: ParseResult, query: SemanticQuery) -> str:
    """The answer's first line: ``**Interpreted as:** ...`` plus the words not used."""
    return render_answer("_interpreted_as", {"interpreted": interpreted_context(model, parsed, query)})


def _interpretation(status: str, parsed: ParseResult, query: SemanticQuery | None, reason: str = "") -> dict:
    return {
        "status": status,
        "semantic_query": query.as_dict() if query else None,
        "unmapped": list(parsed.unmapped),
        "unused_words": list(parsed.unused_words),
        "matched": [list(m) for m in parsed.matched],
        "reason": reason,
    }


# -- declining -------------------------------------------------------------------------------------
# A period after the as-of date ("next quarter", "the coming month"): the semantic layer has no
# future periods (results are counted up to the as-of date), so such a question is declined; the
# decline says why and points to the forecast, which estimates what is expected to close.
_FUTURE_PERIOD = re.compile(r"\b(next|coming|upcoming)\s+(week|month|quarter|half|year)\b", re.I)


def decline(ctx: RunContext, model: SemanticModelSpec, values: dict, parsed: ParseResult, *, reason: str = "", question: str = "") -> SpecialistAnswer:
    """Say which part of the question could not be mapped and what exists; compute nothing
    (layout ``answers/data_decline.md``). ``question`` (the asker's text) lets the decline say
    when a part is a period after the as-of date ("next quarter") and point to the forecast."""
    future = _FUTURE_PERIOD.search(question or "")
    context = {
        "future": future.group(0) if future else "",
        "future_unit": future.group(2).lower() if future else "",
        "as_of": ctx.as_of.isoformat(),
        "unmapped": list(parsed.unmapped),
        "closest": [
            {"text": u, "values": [{"value": v, "dimension": model.dimension_label(d)} for d, v in close]}
            for u in parsed.unmapped
            if (close := _closest_values(values, u))
        ],
        "reason": reason,
        "matched": [{"text": text, "meaning": meaning} for text, meaning in parsed.matched],
        "metrics": sorted(model.metric_label(m) for m in model.metrics),
        "dimensions": sorted(model.dimension_label(d) for d, s in model.dimensions.items() if s.link_values),
        "time_dimensions": sorted(model.dimension_label(t) for t in model.time_dimensions),
    }
    markdown = render_answer("data_decline", context)
    return SpecialistAnswer(AGENT, markdown, {}, interpretation=_interpretation("declined", parsed, parsed.query, reason))


def _closest_values(values: dict, text: str) -> list[tuple[str, str]]:
    """Up to three (dimension, value) pairs whose values resemble ``text`` (rapidfuzz WRatio >= 80)."""
    pool = [(d, v) for d, vs in values.items() for v in vs]
    if not pool:
        return []
    hits = process.extract(text, [v for _, v in pool], scorer=fuzz.WRatio, limit=3, score_cutoff=80)
    return [pool[i] for _, _, i in hits]


# -- computing -------------------------------------------------------------------------------------
def _fmt(model: SemanticModelSpec, name: str, value: Any) -> str:
    """A metric value in its unit: USD to the dollar, percent to 0.1, days to 0.1, counts with
    commas. A sum or count over no rows is 0 (SQL gives NULL); other aggregates show n/a."""
    spec = model.metrics.get(name)
    if value is None and model.zero_when_empty(name):
        value = 0
    if value is None:
        return "n/a"
    unit = spec.unit if spec else ""
    if spec is not None and (spec.is_ratio and spec.percent or spec.transform == "share_of_total"):
        unit = "percent"
    if unit == "usd":
        return fmt_usd(value)
    if unit == "percent":
        return fmt_pct(value)
    if unit == "days":
        return fmt_days(value)
    if unit == "count":
        return fmt_count(value)
    return f"{float(value):,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _parts(model: SemanticModelSpec, name: str, row: dict) -> dict | None:
    """``{"num": "4,238", "den": "6,711", "label": "closed opportunities"}`` for a ratio metric (the
    layouts show it as "(4,238 of 6,711 closed opportunities)"), None otherwise."""
    spec = model.metrics.get(name)
    num, den = row.get(f"{name}__numerator"), row.get(f"{name}__denominator")
    if spec is None or not spec.is_ratio or num is None or den is None:
        return None
    return {"num": fmt_count(num), "den": fmt_count(den), "label": model.measures[spec.denominator].label or spec.denominator}


def compute(ctx: RunContext, model: SemanticModelSpec, parsed: ParseResult) -> SpecialistAnswer:
    """Run the parsed query (and its comparison period) and render the answer (layout
    ``answers/data_answer.md``: interpreted-as line, totals / breakdown / rows, comparison, definitions)."""
    query = parsed.query
    assert query is not None
    title = describe(model, query)
    companions = companion_counts(model, query.metrics)
    extra = tuple(c for c in dict.fromkeys(companions.values()) if c not in query.metrics)
    res = ctx.semantic(replace(query, metrics=query.metrics + extra), agent=AGENT, purpose=title)
    context: dict[str, Any] = {"interpreted": interpreted_context(model, parsed, query)}
    if query.fields:
        context["rows"] = _rows_context(model, query, res)
    elif query.group_by or query.grain:
        context["groups"] = _groups_context(ctx, model, query, res, companions)
    else:
        context["totals"] = _totals_context(ctx, model, query, res, companions)
    if query.compare is not None and query.group_by:
        context["group_comparison"] = _group_comparison_context(ctx, model, query, res)
    elif query.compare is not None:
        context["comparison"] = _comparison_context(ctx, model, query, res)
    context["definitions"] = [
        {"label": model.metric_label(m), "description": model.metrics[m].description} for m in query.metrics if model.metrics[m].description
    ]
    context["to_date"] = ctx.as_of.isoformat() if query.period is not None and not query.period.complete else ""
    context["semantic_ref"] = ctx.semantic_document.get("ref")
    entities = {"semantic_query": query.as_dict(), "metric": query.metrics[0] if query.metrics else None}
    charts = [c.model_dump() for c in [breakdown_chart(model, query, res, title)] if c is not None] if "groups" in context else []
    return SpecialistAnswer(
        AGENT, render_answer("data_answer", context), entities, interpretation=_interpretation("answered", parsed, query), charts=charts
    )


_CHART_UNITS = {"usd": "USD", "percent": "percent", "count": "count", "days": "days"}


def breakdown_chart(model: SemanticModelSpec, query: SemanticQuery, res: QueryResult, title: str) -> ChartSpec | None:
    """A chart of a breakdown's first metric (``agents.charts``): bars over one dimension, a line
    over a time grain (the period, optionally one series per value of one dimension). ``None`` for
    a truncated result, more than one breakdown dimension without a grain, or fewer than two
    groups. Figures are the query's rows as shown in the table (citation ``res.citation``)."""
    if res.truncated or not res.rows or not query.metrics:
        return None
    first = query.metrics[0]
    spec = model.metrics.get(first)
    unit = "percent" if spec is not None and (spec.is_ratio and spec.percent or spec.transform == "share_of_total") else _CHART_UNITS.get(spec.unit if spec else "", "number")
    label = model.metric_label(first).capitalize()
    zero = model.zero_when_empty(first)

    def value(row: dict):
        v = row.get(first)
        return 0 if v is None and zero else v

    if query.grain and len(query.group_by) <= 1:
        periods = list(dict.fromkeys(fmt_key(r.get("period")) for r in res.rows))
        if query.group_by:
            dim = query.group_by[0]
            series: dict[str, list] = {}
            for r in res.rows:
                series.setdefault(fmt_key(r.get(dim)), [None] * len(periods))[periods.index(fmt_key(r.get("period")))] = value(r)
        else:
            series = {label: [value(r) for r in res.rows]}
        return chart_from_columns(title=title, categories=periods, series=series, unit=unit, x_label=query.grain, time_grain=True, source_ref=res.citation)
    if len(query.group_by) == 1 and not query.grain:
        dim = query.group_by[0]
        return chart_from_columns(
            title=title, categories=[fmt_key(r.get(dim)) for r in res.rows], series={label: [value(r) for r in res.rows]}, unit=unit,
            x_label=model.dimension_label(dim), source_ref=res.citation,
        )
    return None


def companion_counts(model: SemanticModelSpec, metrics: tuple[str, ...]) -> dict[str, str]:
    """For each metric aggregating an amount over a restricted set of rows (won revenue, open
    pipeline value), the count metric over the same rows (won opportunities, open opportunities),
    so the answer can say how many rows the figure covers. Matched on the measures' entity, stage
    group, filters and time dimension in the model."""
    out: dict[str, str] = {}
    for name in metrics:
        spec = model.metrics.get(name)
        if spec is None or not spec.measure or spec.transform:
            continue
        m = model.measures[spec.measure]
        if m.agg == "count":
            continue
        for other, ospec in model.metrics.items():
            if ospec.measure and not ospec.transform:
                c = model.measures[ospec.measure]
                if c.agg == "count" and (c.entity, c.stage_group, c.filters, c.time_dimension) == (m.entity, m.stage_group, m.filters, m.time_dimension):
                    out[name] = other
                    break
    return out


def _totals_context(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult, companions: dict[str, str]) -> dict:
    """One figure per metric: ``{"citation", "lines": [{label, value, count, parts}]}`` (count: the
    companion count metric, formatted with its label)."""
    row = res.rows[0] if res.rows else {}
    lines = []
    for m in query.metrics:
        count = f"{_fmt(model, companions[m], row.get(companions[m]))} {model.metric_label(companions[m])}" if m in companions else ""
        lines.append({"label": model.metric_label(m).capitalize(), "value": _fmt(model, m, row.get(m)), "count": count, "parts": _parts(model, m, row)})
    return {"citation": res.citation, "lines": lines}


def _groups_context(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult, companions: dict[str, str]) -> dict:
    """A breakdown: headline (the top group, or highest and lowest), total or truncation note, the
    table (first ``TABLE_ROWS`` groups) and the groups beyond it. Figures declared for grounding."""
    keys = list(query.group_by) + (["period"] if query.grain else [])
    stage_dim = model.stages.dimension if model.stages else None
    if stage_dim in query.group_by:
        # Measures restricted to a stage group list every stage as a group (NULL/0 outside the
        # group, e.g. Won under open pipeline): those rows say nothing and are left out.
        res.rows = [r for r in res.rows if any(r.get(m) not in (None, 0) for m in query.metrics)]
    # A group where no metric has a value (a ratio over nothing, e.g. open deals without an account
    # under win rate) is noise, not a finding.
    res.rows = [r for r in res.rows if any(r.get(m) is not None for m in query.metrics)]
    out: dict[str, Any] = {"citation": res.citation}
    if not res.rows:
        out["empty"] = True
        return out
    headers = [model.dimension_label(k).capitalize() if k != "period" else query.grain.capitalize() for k in keys]
    headers += [model.metric_label(m).capitalize() for m in query.metrics]
    ratio = [m for m in query.metrics if model.metrics[m].is_ratio]
    for m in ratio:
        headers.append(f"{model.measures[model.metrics[m].numerator].label or 'numerator'} / {model.measures[model.metrics[m].denominator].label or 'denominator'}")
    shown_counts = [c for c in dict.fromkeys(companions.values()) if c not in query.metrics]
    headers += [model.metric_label(c).capitalize() for c in shown_counts]
    table_rows = []
    for r in res.rows[:TABLE_ROWS]:
        cells = [fmt_key(r.get(k)) for k in keys]
        cells += [_fmt(model, m, r.get(m)) for m in query.metrics]
        for m in ratio:
            num, den = r.get(f"{m}__numerator"), r.get(f"{m}__denominator")
            cells.append(f"{fmt_count(num or 0)} / {fmt_count(den or 0)}")
        cells += [_fmt(model, c, r.get(c)) for c in shown_counts]
        table_rows.append(cells)
    first = query.metrics[0]
    if query.limit == 1 and res.rows:
        top = res.rows[0]
        out["top"] = {"key": " / ".join(fmt_key(top.get(k)) for k in keys), "value": _fmt(model, first, top.get(first)), "parts": _parts(model, first, top)}
    elif len(res.rows) > 1 and not query.grain:
        ordered = query.order[0] if query.order else None
        if ordered is None or ordered.by == first:
            best, worst = res.rows[0], res.rows[-1]
            out["extremes"] = {
                "highest_first": ordered is None or ordered.desc,
                "first": fmt_key(best.get(keys[0])),
                "first_value": _fmt(model, first, best.get(first)),
                "last": fmt_key(worst.get(keys[0])),
                "last_value": _fmt(model, first, worst.get(first)),
                "groups": fmt_count(ctx.computed("groups", len(res.rows), "rows with a value")),
            }
    additive = [m for m in (*query.metrics, *shown_counts) if model.additive(m)]
    if res.truncated:
        out["truncated_at"] = fmt_count(ctx.computed("rows returned", len(res.rows)))
    elif additive and not query.limit and len(res.rows) > 1:
        totals = [(m, ctx.computed(f"total {m}", sum(float(r.get(m) or 0) for r in res.rows), "sum over the groups")) for m in additive]
        out["totals"] = [{"value": _fmt(model, m, v), "label": model.metric_label(m)} for m, v in totals]
    out["headers"], out["table"] = headers, table_rows
    if len(res.rows) > TABLE_ROWS:
        rest = res.rows[TABLE_ROWS:]
        out["rest"] = {
            "count": fmt_count(ctx.computed("groups beyond the table", len(rest))),
            "items": [{"key": fmt_key(r.get(keys[0])), "value": _fmt(model, first, r.get(first))} for r in rest],
        }
    return out


def _rows_context(model: SemanticModelSpec, query: SemanticQuery, res: QueryResult) -> dict:
    """A list of rows: count, headers and the first ``TABLE_ROWS`` rows."""
    return {
        "citation": res.citation,
        "count": fmt_count(len(res.rows)),
        "headers": [model.dimension_label(f).capitalize() for f in query.fields],
        "table": [[fmt_key(r.get(f)) for f in query.fields] for r in res.rows[:TABLE_ROWS]],
    }


def _comparison_context(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult) -> dict:
    """Totals then and now per metric, with the change (percentage points for ratios and shares;
    amount and percent change otherwise, no percent when the comparison is zero or the periods
    differ in length). Changes declared for grounding."""
    assert query.compare is not None
    other_query = replace(query, period=query.compare, compare=None)
    other = ctx.semantic(other_query, agent=AGENT, purpose=describe(model, other_query))
    now, then = (res.rows[0] if res.rows else {}), (other.rows[0] if other.rows else {})
    lines = []
    for m in query.metrics:
        a, b = now.get(m), then.get(m)
        spec = model.metrics[m]
        if model.zero_when_empty(m):
            a, b = a or 0, b or 0
        line: dict[str, Any] = {"label": model.metric_label(m).capitalize(), "then": _fmt(model, m, b), "parts": _parts(model, m, then), "now": _fmt(model, m, a)}
        if a is not None and b is not None:
            change = ctx.computed(f"change in {m}", float(a) - float(b), "period value - comparison value")
            ctx.computed(f"size of the change in {m}", abs(change), "absolute value of the change")
            if spec.is_ratio and spec.percent or spec.transform:
                line["points"] = f"{change:+.1f}"
            else:
                line["change"] = f"{'+' if change >= 0 else '-'}{_fmt(model, m, abs(change)).lstrip('+')}"
                if query.period is not None and not _same_length(query):
                    pass  # the length caveat below replaces the percent change
                elif float(b):
                    pct = ctx.computed(f"change in {m} (percent)", round(100.0 * change / float(b), 1), "(period - comparison) / comparison x 100")
                    line["percent"] = f"{pct:+.1f}%"
                else:
                    line["zero_base"] = True
        lines.append(line)
    c = query.compare
    out = {"label": c.label, "start": c.start.isoformat(), "end": c.end.isoformat(), "citation": other.citation, "lines": lines}
    if query.period is not None and not _same_length(query):
        out["caveat"] = _length_caveat(ctx, query)
    return out


def _same_length(query: SemanticQuery) -> bool:
    """Whether the period and the comparison period are comparable in length: within 3 days (calendar
    quarters and months differ by a day or two) and neither cut at the as-of date alone."""
    assert query.period is not None and query.compare is not None
    days = abs((query.period.end - query.period.start) - (query.compare.end - query.compare.start)).days
    return days <= 3 and query.period.complete == query.compare.complete


def _length_caveat(ctx: RunContext, query: SemanticQuery) -> dict:
    """The lengths of the two periods in days (end - start + 1, declared for grounding) and whether
    the first is cut at the as-of date, for the layout's sentence that no percent change is given."""
    p, c = query.period, query.compare
    assert p is not None and c is not None
    ctx.computed("period lengths", [(p.end - p.start).days + 1, (c.end - c.start).days + 1], "end - start + 1, days")
    return {"first_days": (p.end - p.start).days + 1, "second_days": (c.end - c.start).days + 1, "first_cut": not p.complete}


def _group_comparison_context(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult) -> dict:
    """The breakdown for the comparison period beside the main one: then, now and the change per
    group (groups matched on their keys; a group missing in one period shows n/a)."""
    assert query.compare is not None
    other_query = replace(query, period=query.compare, compare=None, limit=None, order=())
    other = ctx.semantic(other_query, agent=AGENT, purpose=describe(model, other_query))
    keys = list(query.group_by)
    then = {tuple(r.get(k) for k in keys): r for r in other.rows}
    m = query.metrics[0]
    spec = model.metrics[m]
    points = spec.is_ratio and spec.percent or spec.transform is not None
    rows = []
    for r in res.rows[:TABLE_ROWS]:
        before = then.get(tuple(r.get(k) for k in keys), {})
        a, b = r.get(m), before.get(m)
        if model.zero_when_empty(m):
            a, b = a or 0, b or 0
        change = "n/a"
        if a is not None and b is not None:
            delta = ctx.computed(f"change in {m} for {'/'.join(fmt_key(r.get(k)) for k in keys)}", float(a) - float(b), "period - comparison")
            ctx.computed("size of that change", abs(delta), "absolute value")
            change = f"{delta:+.1f} pts" if points else f"{'+' if delta >= 0 else '-'}{_fmt(model, m, abs(delta))}"
        rows.append([*(fmt_key(r.get(k)) for k in keys), _fmt(model, m, b), _fmt(model, m, a), change])
    label = model.metric_label(m).capitalize()
    c = query.compare
    out = {
        "label": label,
        "compare_label": c.label,
        "start": c.start.isoformat(),
        "end": c.end.isoformat(),
        "citation": other.citation,
        "headers": [*(model.dimension_label(k).capitalize() for k in keys), f"{label} then", f"{label} now", "Change"],
        "table": rows,
    }
    if query.period is not None and not _same_length(query):
        out["caveat"] = _length_caveat(ctx, query)
    return out


# -- competitor mentions (call notes) -----------------------------------------------------------
def competitor_mentions(ctx: RunContext) -> SpecialistAnswer:
    """Accounts whose call notes name a competitor (names and phrases from the KB's competitor
    list), through the model's call-note dimensions; says so when the model has no call notes."""
    rules = ctx.rules("competitors", agent=AGENT)
    model = ctx.semantic_model(agent=AGENT)
    missing = model.call_notes_missing() + ([] if model.has_dimension("account") else ["account"])
    if missing:
        return SpecialistAnswer(AGENT, render_answer("competitor_mentions", {"missing": missing}))
    names = [str(c) for c in rules.get("competitors", [])]
    phrases = names + [str(p) for p in rules.get("generic_phrases", [])]
    mentions = Filter("note_text", tuple(phrases), "contains")
    accounts = ctx.semantic(
        SemanticQuery(metrics=("call_notes",), group_by=("account",), filters=(mentions,)),
        agent=AGENT,
        purpose="accounts with competitor mentions in call notes",
    ) if "call_notes" in model.metrics else None
    if accounts is None:
        return SpecialistAnswer(AGENT, render_answer("competitor_mentions", {"no_count_metric": True}))
    rows = sorted(accounts.rows, key=lambda r: (-(r["call_notes"] or 0), str(r["account"])))
    total_notes = sum(r["call_notes"] for r in rows)
    ctx.computed("competitor mentions", [len(rows), total_notes, max(0, len(rows) - TABLE_ROWS)], "accounts, notes, accounts beyond the table")
    context: dict[str, Any] = {
        "accounts": len(rows),
        "notes": fmt_count(total_notes),
        "citation": accounts.citation,
        "rules_ref": ctx.rule_refs["competitors"],
        "table": [[fmt_key(r["account"]), r["call_notes"]] for r in rows[:TABLE_ROWS]],
        "rest": [{"account": fmt_key(r["account"]), "notes": r["call_notes"]} for r in rows[TABLE_ROWS:]],
    }
    if names:
        # One query for the notes naming any competitor; each name's count is taken from its rows
        # (case-insensitive substring, as the ILIKE filter matched them).
        named = ctx.semantic(SemanticQuery(fields=("note_text",), filters=(Filter("note_text", tuple(names), "contains"),)), agent=AGENT, purpose="call notes naming a competitor")
        context["named_citation"] = named.citation
        if named.truncated:
            context["named_truncated"] = True
        else:
            texts = [str(r["note_text"] or "").lower() for r in named.rows]
            counts = sorted(((n, sum(n.lower() in t for t in texts)) for n in names), key=lambda x: -x[1])
            ctx.computed("notes naming each competitor", [c for _, c in counts], "notes whose text contains the name (case-insensitive)")
            context["per_competitor"] = [{"name": n, "notes": c} for n, c in counts]
    return SpecialistAnswer(AGENT, render_answer("competitor_mentions", context), {"metric": "competitor_mentions"})
