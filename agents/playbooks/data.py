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
from agents.runtime.context import QueryResult, RunContext, fmt_pct, fmt_usd, md_table
from agents.semantic.parser import ParseResult, parse_question
from agents.semantic.query import SemanticQuery, SemanticQueryError
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
        return decline(ctx, model, values, parsed)
    if unsupported:
        return decline(ctx, model, values, parsed, reason=unsupported)
    try:
        return compute(ctx, model, parsed)
    except SemanticQueryError as exc:
        return decline(ctx, model, values, parsed, reason=str(exc))


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


def interpreted_line(model: SemanticModelSpec, parsed: ParseResult, query: SemanticQuery) -> str:
    """The answer's first line: ``**Interpreted as:** ...`` plus the words not used."""
    line = f"**Interpreted as:** {describe(model, query)}."
    unused = list(dict.fromkeys(w.lower() for w in parsed.unused_words))
    if unused:
        line += " Words not used: " + ", ".join(f"“{w}”" for w in unused) + "."
    if parsed.notes:
        line += " " + " ".join(n if n.endswith(".") else n + "." for n in parsed.notes)
    return line


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
def decline(ctx: RunContext, model: SemanticModelSpec, values: dict, parsed: ParseResult, *, reason: str = "") -> SpecialistAnswer:
    """Say which part of the question could not be mapped and what exists; compute nothing."""
    lines = ["### I could not answer this as asked", ""]
    if parsed.unmapped:
        lines.append(
            "I did not compute anything, because these parts of your question are not in your semantic model: "
            + ", ".join(f"**{u}**" for u in parsed.unmapped)
            + ". Answering without them would answer a different question."
        )
        for u in parsed.unmapped:
            close = _closest_values(values, u)
            if close:
                lines.append(f"- Closest known values to “{u}”: " + ", ".join(f"{v} ({model.dimension_label(d)})" for d, v in close) + ".")
    elif reason:
        lines.append(f"I did not compute anything: {reason}.")
    else:
        lines.append("I could not find a metric in your question, so I computed nothing rather than guess.")
    if parsed.matched:
        lines.append("Understood: " + "; ".join(f"“{text}” = {meaning}" for text, meaning in parsed.matched) + ".")
    lines += [
        "",
        "What I can compute: " + ", ".join(sorted(model.metric_label(m) for m in model.metrics)) + ".",
        "Broken down or filtered by: " + ", ".join(sorted(model.dimension_label(d) for d, s in model.dimensions.items() if s.link_values)) + ", and periods of "
        + ", ".join(sorted(model.dimension_label(t) for t in model.time_dimensions)) + ".",
    ]
    return SpecialistAnswer(AGENT, "\n".join(lines), {}, interpretation=_interpretation("declined", parsed, parsed.query, reason))


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
        return f"{float(value):,.1f} days"
    if unit == "count":
        return f"{int(value):,}"
    return f"{float(value):,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _parts(model: SemanticModelSpec, name: str, row: dict) -> str:
    """``" (4,238 of 6,711 closed opportunities)"`` for a ratio metric, '' otherwise."""
    spec = model.metrics.get(name)
    num, den = row.get(f"{name}__numerator"), row.get(f"{name}__denominator")
    if spec is None or not spec.is_ratio or num is None or den is None:
        return ""
    den_label = model.measures[spec.denominator].label or spec.denominator
    return f" ({int(num):,} of {int(den):,} {den_label})"


def compute(ctx: RunContext, model: SemanticModelSpec, parsed: ParseResult) -> SpecialistAnswer:
    """Run the parsed query (and its comparison period) and render the answer markdown."""
    query = parsed.query
    assert query is not None
    title = describe(model, query)
    companions = companion_counts(model, query.metrics)
    extra = tuple(c for c in dict.fromkeys(companions.values()) if c not in query.metrics)
    res = ctx.semantic(replace(query, metrics=query.metrics + extra), agent=AGENT, purpose=title)
    lines = [interpreted_line(model, parsed, query), ""]
    if query.fields:
        lines += _render_rows(model, query, res)
    elif query.group_by or query.grain:
        lines += _render_groups(ctx, model, query, res, companions)
    else:
        lines += _render_totals(ctx, model, query, res, companions)
    if query.compare is not None and query.group_by:
        lines += _render_group_comparison(ctx, model, query, res)
    elif query.compare is not None:
        lines += _render_comparison(ctx, model, query, res)
    notes = [f"{model.metric_label(m)} = {model.metrics[m].description}" for m in query.metrics if model.metrics[m].description]
    if query.period is not None and not query.period.complete:
        notes.append(f"the period is not over yet: figures are to the as-of date {ctx.as_of.isoformat()}")
    if notes:
        lines += ["", "Definitions: " + "; ".join(notes) + f" [{ctx.semantic_document.get('ref')}]."]
    entities = {"semantic_query": query.as_dict(), "metric": query.metrics[0] if query.metrics else None}
    return SpecialistAnswer(AGENT, "\n".join(lines), entities, interpretation=_interpretation("answered", parsed, query))


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


def _render_totals(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult, companions: dict[str, str]) -> list[str]:
    row = res.rows[0] if res.rows else {}
    out = []
    for m in query.metrics:
        count = f" from {_fmt(model, companions[m], row.get(companions[m]))} {model.metric_label(companions[m])}" if m in companions else ""
        out.append(f"- {model.metric_label(m).capitalize()}: **{_fmt(model, m, row.get(m))}**{count}{_parts(model, m, row)} [{res.citation}]")
    return out


def _render_groups(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult, companions: dict[str, str]) -> list[str]:
    keys = list(query.group_by) + (["period"] if query.grain else [])
    stage_dim = model.stages.dimension if model.stages else None
    if stage_dim in query.group_by:
        # Measures restricted to a stage group list every stage as a group (NULL/0 outside the
        # group, e.g. Won under open pipeline): those rows say nothing and are left out.
        res.rows = [r for r in res.rows if any(r.get(m) not in (None, 0) for m in query.metrics)]
    # A group where no metric has a value (a ratio over nothing, e.g. open deals without an account
    # under win rate) is noise, not a finding.
    res.rows = [r for r in res.rows if any(r.get(m) is not None for m in query.metrics)]
    if not res.rows:
        return [f"No rows match this question [{res.citation}]."]
    headers = [model.dimension_label(k).capitalize() if k != "period" else query.grain.capitalize() for k in keys]
    headers += [model.metric_label(m).capitalize() for m in query.metrics]
    ratio = [m for m in query.metrics if model.metrics[m].is_ratio]
    for m in ratio:
        headers.append(f"{model.measures[model.metrics[m].numerator].label or 'numerator'} / {model.measures[model.metrics[m].denominator].label or 'denominator'}")
    shown_counts = [c for c in dict.fromkeys(companions.values()) if c not in query.metrics]
    headers += [model.metric_label(c).capitalize() for c in shown_counts]
    table_rows = []
    for r in res.rows[:TABLE_ROWS]:
        cells = [_key(r.get(k)) for k in keys]
        cells += [_fmt(model, m, r.get(m)) for m in query.metrics]
        for m in ratio:
            num, den = r.get(f"{m}__numerator"), r.get(f"{m}__denominator")
            cells.append(f"{int(num or 0):,} / {int(den or 0):,}")
        cells += [_fmt(model, c, r.get(c)) for c in shown_counts]
        table_rows.append(cells)
    out = []
    first = query.metrics[0]
    if query.limit == 1 and res.rows:
        top = res.rows[0]
        out.append(f"**{' / '.join(_key(top.get(k)) for k in keys)}**: {_fmt(model, first, top.get(first))}{_parts(model, first, top)} [{res.citation}].")
        out.append("")
    elif len(res.rows) > 1 and not query.grain:
        ordered = query.order[0] if query.order else None
        if ordered is None or ordered.by == first:
            best, worst = res.rows[0], res.rows[-1]
            hi, lo = ("Highest", "lowest") if ordered is None or ordered.desc else ("Lowest", "highest")
            out.append(
                f"{hi}: **{_key(best.get(keys[0]))}** at {_fmt(model, first, best.get(first))}; {lo}: **{_key(worst.get(keys[0]))}** at "
                f"{_fmt(model, first, worst.get(first))} ({ctx.computed('groups', len(res.rows), 'rows with a value'):,} groups) [{res.citation}]."
            )
            out.append("")
    additive = [m for m in (*query.metrics, *shown_counts) if model.additive(m)]
    if res.truncated:
        out.append(f"The result was cut at {ctx.computed('rows returned', len(res.rows)):,} rows (the warehouse row cap), so no total is given; "
                   "narrow the question with a filter or a top N.")
        out.append("")
    elif additive and not query.limit and len(res.rows) > 1:
        totals = [(m, ctx.computed(f"total {m}", sum(float(r.get(m) or 0) for r in res.rows), "sum over the groups")) for m in additive]
        out.append("Total: " + ", ".join(f"{_fmt(model, m, v)} {model.metric_label(m)}" for m, v in totals) + f" [{res.citation}].")
        out.append("")
    out.append(md_table(headers, table_rows))
    if len(res.rows) > TABLE_ROWS:
        rest = res.rows[TABLE_ROWS:]
        out += ["", f"Also ({ctx.computed('groups beyond the table', len(rest)):,} more): " + ", ".join(f"{_key(r.get(keys[0]))} ({_fmt(model, first, r.get(first))})" for r in rest) + "."]
    out += ["", f"Source [{res.citation}]."]
    return out


def _render_rows(model: SemanticModelSpec, query: SemanticQuery, res: QueryResult) -> list[str]:
    if not res.rows:
        return [f"No rows match [{res.citation}]."]
    table = md_table([model.dimension_label(f).capitalize() for f in query.fields], [[_key(r.get(f)) for f in query.fields] for r in res.rows[:TABLE_ROWS]])
    return [f"{len(res.rows):,} row(s) [{res.citation}].", "", table]


def _render_comparison(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult) -> list[str]:
    assert query.compare is not None
    other_query = replace(query, period=query.compare, compare=None)
    other = ctx.semantic(other_query, agent=AGENT, purpose=describe(model, other_query))
    now, then = (res.rows[0] if res.rows else {}), (other.rows[0] if other.rows else {})
    out = ["", f"Compared with {query.compare.label or 'the comparison period'} ({query.compare.start.isoformat()} to {query.compare.end.isoformat()}):"]
    for m in query.metrics:
        a, b = now.get(m), then.get(m)
        spec = model.metrics[m]
        if model.zero_when_empty(m):
            a, b = a or 0, b or 0
        line = f"- {model.metric_label(m).capitalize()}: **{_fmt(model, m, b)}**{_parts(model, m, then)} then [{other.citation}], {_fmt(model, m, a)} now"
        if a is not None and b is not None:
            change = ctx.computed(f"change in {m}", float(a) - float(b), "period value - comparison value")
            ctx.computed(f"size of the change in {m}", abs(change), "absolute value of the change")
            if spec.is_ratio and spec.percent or spec.transform:
                line += f": {change:+.1f} percentage points"
            else:
                line += f": {'+' if change >= 0 else '-'}{_fmt(model, m, abs(change)).lstrip('+')}"
                if query.period is not None and not _same_length(query):
                    pass  # the length caveat below replaces the percent change
                elif float(b):
                    pct = ctx.computed(f"change in {m} (percent)", round(100.0 * change / float(b), 1), "(period - comparison) / comparison x 100")
                    line += f" ({pct:+.1f}%)"
                else:
                    line += " (no percent change: nothing in the comparison period)"
        out.append(line + ".")
    if query.period is not None and not _same_length(query):
        out.append(_length_caveat(ctx, query))
    return out


def _same_length(query: SemanticQuery) -> bool:
    """Whether the period and the comparison period are comparable in length: within 3 days (calendar
    quarters and months differ by a day or two) and neither cut at the as-of date alone."""
    assert query.period is not None and query.compare is not None
    days = abs((query.period.end - query.period.start) - (query.compare.end - query.compare.start)).days
    return days <= 3 and query.period.complete == query.compare.complete


def _length_caveat(ctx: RunContext, query: SemanticQuery) -> str:
    """The sentence saying the periods differ in length (days declared for grounding)."""
    p, c = query.period, query.compare
    assert p is not None and c is not None
    ctx.computed("period lengths", [(p.end - p.start).days + 1, (c.end - c.start).days + 1], "end - start + 1, days")
    return (
        f"The two periods differ in length ({(p.end - p.start).days + 1} and {(c.end - c.start).days + 1} days"
        + ("; the first is cut at the as-of date" if not p.complete else "")
        + "), so no percent change is given."
    )


def _render_group_comparison(ctx: RunContext, model: SemanticModelSpec, query: SemanticQuery, res: QueryResult) -> list[str]:
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
            delta = ctx.computed(f"change in {m} for {'/'.join(_key(r.get(k)) for k in keys)}", float(a) - float(b), "period - comparison")
            ctx.computed("size of that change", abs(delta), "absolute value")
            change = f"{delta:+.1f} pts" if points else f"{'+' if delta >= 0 else '-'}{_fmt(model, m, abs(delta))}"
        rows.append([*(_key(r.get(k)) for k in keys), _fmt(model, m, b), _fmt(model, m, a), change])
    label = model.metric_label(m).capitalize()
    c = query.compare
    out = ["", f"{label} compared with {c.label or 'the comparison period'} ({c.start.isoformat()} to {c.end.isoformat()}) [{other.citation}]:", ""]
    out.append(md_table([*(model.dimension_label(k).capitalize() for k in keys), f"{label} then", f"{label} now", "Change"], rows))
    if query.period is not None and not _same_length(query):
        out += ["", _length_caveat(ctx, query)]
    return out


def _key(value: Any) -> str:
    if value is None:
        return "(none)"
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


# -- competitor mentions (call notes) -----------------------------------------------------------
def competitor_mentions(ctx: RunContext) -> SpecialistAnswer:
    """Accounts whose call notes name a competitor (names and phrases from the KB's competitor
    list), through the model's call-note dimensions; says so when the model has no call notes."""
    rules = ctx.rules("competitors", agent=AGENT)
    model = ctx.semantic_model(agent=AGENT)
    missing = model.call_notes_missing() + ([] if model.has_dimension("account") else ["account"])
    if missing:
        return SpecialistAnswer(
            AGENT,
            f"### Competitor mentions\n\nYour semantic model lacks {', '.join(missing)}, so I cannot look for competitor mentions "
            "in call notes. Nothing was computed.",
        )
    names = [str(c) for c in rules.get("competitors", [])]
    phrases = names + [str(p) for p in rules.get("generic_phrases", [])]
    from agents.semantic.query import Filter

    mentions = Filter("note_text", tuple(phrases), "contains")
    accounts = ctx.semantic(
        SemanticQuery(metrics=("call_notes",), group_by=("account",), filters=(mentions,)),
        agent=AGENT,
        purpose="accounts with competitor mentions in call notes",
    ) if "call_notes" in model.metrics else None
    if accounts is None:
        return SpecialistAnswer(AGENT, "### Competitor mentions\n\nYour semantic model has no `call_notes` metric (a count of notes), so I cannot count mentions. Nothing was computed.")
    rows = sorted(accounts.rows, key=lambda r: (-(r["call_notes"] or 0), str(r["account"])))
    total_notes = sum(r["call_notes"] for r in rows)
    ctx.computed("competitor mentions", [len(rows), total_notes, max(0, len(rows) - TABLE_ROWS)], "accounts, notes, accounts beyond the table")
    lines = [
        "### Accounts that mentioned competitors in call notes",
        "",
        f"**{len(rows)} accounts** have call notes mentioning a competitor, in {total_notes:,} notes [{accounts.citation}] "
        f"(names and phrases from the competitor list [{ctx.rule_refs['competitors']}]).",
        "",
        md_table(["Account", "Notes"], [[_key(r["account"]), r["call_notes"]] for r in rows[:TABLE_ROWS]]),
    ]
    if len(rows) > TABLE_ROWS:
        rest = rows[TABLE_ROWS:]
        lines += ["", f"Also ({len(rest)} more, fewer notes each): " + ", ".join(f"{_key(r['account'])} ({r['call_notes']})" for r in rest) + "."]
    if names:
        # One query for the notes naming any competitor; each name's count is taken from its rows
        # (case-insensitive substring, as the ILIKE filter matched them).
        named = ctx.semantic(SemanticQuery(fields=("note_text",), filters=(Filter("note_text", tuple(names), "contains"),)), agent=AGENT, purpose="call notes naming a competitor")
        if named.truncated:
            lines += ["", f"Per-competitor counts are left out: more notes name a competitor than one query returns [{named.citation}]."]
        else:
            texts = [str(r["note_text"] or "").lower() for r in named.rows]
            counts = sorted(((n, sum(n.lower() in t for t in texts)) for n in names), key=lambda x: -x[1])
            ctx.computed("notes naming each competitor", [c for _, c in counts], "notes whose text contains the name (case-insensitive)")
            lines += ["", "Notes naming each competitor: " + ", ".join(f"{n} {c}" for n, c in counts) + f" [{named.citation}]."]
    return SpecialistAnswer(AGENT, "\n".join(lines), {"metric": "competitor_mentions"})
