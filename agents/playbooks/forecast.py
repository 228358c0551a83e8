"""Forecast and gap to target (issue 11): for a period and optionally an office, manager or sales
agent, closed-won revenue to date, the open pipeline expected to close in the period weighted by
stage probability, commit/best-case categories when the model declares them, coverage ratio, gap
to target and the deals that decide the gap, each deal with its probability, confidence, risk
drivers and a suggested intervention.

Sources of every rule and formula:

- stage probabilities: the KB ``deal_stages`` document (CRM stage -> methodology stage ->
  probability), else the semantic model's ``stages.probabilities``;
- targets: the KB ``targets`` document (:mod:`knowledge.targets`), compared with closed-won revenue;
- risk thresholds and interventions: the KB ``deal_risks`` document (``thresholds``,
  ``interventions``);
- historical rates: :mod:`agents.analysis_history` (win rate by product, median sales cycle).

Formulas (USD, days, percent):

- closed-won to date = sum of amount of won opportunities closed from the period start to the
  earlier of the period end and the as-of date; a won deal with no amount adds nothing, and the
  answer says how many such deals there are;
- deal value = its amount, or, when the CRM records none (open deals of the demo CRM), the
  **estimate** list price of its product (chosen over the historical average won amount because
  the semantic model values open pipeline at list price too, ``pipeline_value``);
- expected close date = the recorded close date, or the **estimate** engage date (as-of date for a
  deal not yet engaged) + the median sales cycle of closed deals; a deal whose date has passed is
  treated as due the day after the as-of date (and flagged);
- weighted pipeline = sum over open deals expected in the period of value x stage probability /
  100; history check = value x historical win rate of the deal's product / 100 (**estimate**);
- forecast (**estimate**) = closed-won to date + weighted pipeline; gap to target = target -
  forecast and forecast attainment = forecast / target x 100 (both **estimates**, from it);
  remaining gap = target - closed-won to date; coverage ratio = open pipeline expected in the
  period (unweighted) / remaining gap.
- deals that decide the gap: the open deals expected in the period with the largest weighted
  value (ties: larger value, then opportunity id).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from agents.analysis_history import HIGH_EVIDENCE, MEDIUM_EVIDENCE, History, HistoryUnavailable, as_date, history_load, rows_all
from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.render import render_answer
from agents.runtime.context import RunContext, ToolError, fmt_pct, fmt_usd
from agents.runtime.entities import find_name
from agents.semantic.query import Filter, OrderBy, SemanticQuery, TimeRange
from agents.charts import ChartSeries, ChartSpec
from agents.timeperiods import Period, current_period, find_periods, range_label, shift_period
from knowledge.semantic_model import SemanticModelSpec
from knowledge.targets import COMPANY, TargetsInvalid, parse_targets, quarter_range

AGENT = "forecast"
DECIDING_DEALS = 10
SCOPE_DIMENSIONS = ("office", "manager", "owner")  # checked in the question, when the model has them
# Risk drivers in order of severity; the first one a deal has picks its suggested intervention.
RISK_ORDER = ("stalled_in_stage", "past_cycle", "close_date_passed", "not_engaged", "no_account", "low_evidence")
_NEXT = re.compile(r"\b(next|coming|upcoming)\s+(quarter|month|year)\b", re.I)
_ATTAINMENT = re.compile(r"\battainment\b", re.I)
_SCOPE_WORD = re.compile(r"\b(?:the\s+)?([A-Z][\w-]*)\s+(office|region|team)\b")
# A scope the question names with a noun the semantic model may not have ("the Enterprise
# segment", "EMEA territory"), and a capitalised name after "for" ("for EMEA", "for Acme
# Corporation"): when it is no known office, manager or owner, the company figure would answer
# another question, so the forecast declines it.
_SCOPE_NOUN = re.compile(r"\b(?:the\s+)?([\w-]+)\s+(segment|territory|division|vertical|business unit|geo)\b", re.I)
_FOR_NAME = re.compile(r"\bfor\s+(?:the\s+)?([A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*)*)")
_PERIOD_NAME = re.compile(
    r"^(Q[1-4]|H[12]|FY\w*|\d{4}|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|January|February|March|April|June|July|August"
    r"|September|October|November|December|This|Next|Last|Current|Coming)\b", re.I,
)
# Several scopes in one question: a breakdown ("by office", "per rep", "each manager"), plural
# roles ("reps", "offices"), a ranking or a comparison. The forecast answers one scope; the
# company's figure given to "forecast by office" would answer another question.
_SPLIT = re.compile(
    r"\b(by|per|across|among|each|every)\s+(?!the\s+end\b)(?!(?:q[1-4]|h[12]|fy|\d{4}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|end|then|now)\w*\b)"
    r"|\bper-\w|\b\w+-level\b"
    r"|\b(reps|agents|owners|managers|offices|regions|teams|segments|sellers|salespeople|territories)\b"
    r"|\b(rank\w*|highest|lowest|worst|compar\w*|distribution|individual|trend\w*)\b|\bover time\b|\bbest\b(?![- ]case)|\btop\s+\d"
    r"|\b(vs\.?|versus)\s+(q[1-4]|h[12]|fy|last|prior|previous|the previous|\d{4})\b",
    re.I,
)
_EPOCH = dt.date(1900, 1, 1)
_ONE_DAY = dt.timedelta(days=1)


@dataclass
class Deal:
    """One open opportunity with its estimates (value USD, probability percent, dates)."""

    id: str
    stage: str
    row: dict
    value: float | None
    value_estimated: bool
    probability: float | None
    expected_close: dt.date | None
    close_estimated: bool
    age_days: int | None
    drivers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def weighted(self) -> float:
        """Value x stage probability / 100 (USD); 0 without either."""
        return (self.value or 0.0) * (self.probability or 0.0) / 100


# -- period and scope -----------------------------------------------------------------------------
def _full_end(period: Period) -> dt.date:
    """The calendar end of ``period`` (a period cut at the as-of date keeps its real end)."""
    if period.complete:
        return period.end
    if period.unit == "quarter":
        return quarter_range(f"Q{(period.start.month - 1) // 3 + 1} {period.start.year}")[1]
    if period.unit == "month":
        return (period.start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - _ONE_DAY
    if period.unit == "year":
        return dt.date(period.start.year, 12, 31)
    if period.unit == "half":
        return dt.date(period.start.year, 6 if period.start.month == 1 else 12, 30 if period.start.month == 1 else 31)
    if period.unit == "week":
        return period.start + dt.timedelta(days=6)
    return period.end


def resolve_period(query: str, *, as_of: dt.date, previous: dict) -> tuple[Period, dt.date, str]:
    """``(period, calendar end, note)`` named by ``query``: "next quarter/month/year", any period
    :mod:`agents.timeperiods` understands ("Q3 2025", "this quarter"), else the previous turn's
    forecast period, else this quarter, or the next quarter when this one ends on the as-of date
    (no day left to forecast) unless the question asks for attainment (closed-won against the
    target: this quarter's is the one that means something). ``note`` says which default was
    taken ('' when named)."""
    m = _NEXT.search(query)
    if m:
        unit = m.group(2).lower()
        this = current_period(unit, as_of=as_of)
        months = {"quarter": 3, "month": 1, "year": 12}[unit]
        nxt = shift_period(Period(this.label, this.start, _full_end(this), True, unit), months=months)

        label = f"next {unit}, {range_label(nxt.start, nxt.end)}"
        return Period(label, nxt.start, nxt.end, True, unit), nxt.end, ""
    found = find_periods(query, as_of=as_of)
    if found:
        p = found[0].period
        return p, _full_end(p), ""
    if previous.get("forecast_period"):
        prev = previous["forecast_period"]
        start, end = dt.date.fromisoformat(prev["start"]), dt.date.fromisoformat(prev["end"])
        return Period(prev["label"], start, end, True, prev.get("unit", "")), end, f"No period named: the previous question's {prev['label']}."
    this = current_period("quarter", as_of=as_of)
    end = _full_end(this)
    if _ATTAINMENT.search(query):  # attainment of a quarter not yet started would be 0% by construction
        return this, end, "No period named: this quarter."
    if end <= as_of:
        nxt = shift_period(Period(this.label, this.start, end, True, "quarter"), months=3)
        label = f"next quarter, Q{(nxt.start.month - 1) // 3 + 1} {nxt.start.year}"
        return (
            Period(label, nxt.start, nxt.end, True, "quarter"),
            nxt.end,
            f"No period named: this quarter ends on the as-of date ({as_of.isoformat()}), so the forecast covers the next quarter.",
        )
    return this, end, "No period named: this quarter."


def _whole_words(name: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.I) is not None


def resolve_scope(ctx: RunContext, query: str, *, dims: list[str], previous: dict) -> tuple[str, str | None, str]:
    """``(dimension, value, unknown)``: the office, manager or agent named in ``query`` (whole
    words; person names also fuzzily), ``("company", None, "")`` when none. ``unknown`` is a
    scope the question names that is no known value, which the caller declines: a "<word>
    office/region/team" or "<word> segment/territory/division/vertical" phrase, or a capitalised
    name after "for" that is not a period ("for EMEA", "for Acme Corporation")."""
    values = ctx.dimension_values(agent=AGENT) if dims else {}
    best: tuple[str, str] | None = None
    for dim in dims:
        for value in values.get(dim, []):
            if _whole_words(value, query) and (best is None or len(value) > len(best[1])):
                best = (dim, value)
    if best is None:
        for dim in dims:
            people = [v for v in values.get(dim, []) if " " in v]
            match = find_name(query, people, cutoff=90)
            if match:
                best = (dim, match.name)
                break
    if best:
        return best[0], best[1], ""
    skip = {"the", "our", "each", "every", "per", "by", "which", "what", "whole", "this", "that", "my", "a", "an"}
    m = _SCOPE_WORD.search(query)
    if m and m.group(1).lower() not in skip:
        return COMPANY, None, f"{m.group(1)} {m.group(2)}"
    m = _SCOPE_NOUN.search(query)
    if m and m.group(1).lower() not in skip:
        return COMPANY, None, f"{m.group(1)} {m.group(2)}"
    m = _FOR_NAME.search(query)
    if m and not _PERIOD_NAME.match(m.group(1)) and m.group(1).lower() not in {"the", "our", "us", "we"}:
        return COMPANY, None, m.group(1)
    if previous.get("forecast_scope") and re.search(r"\b(same|that|this|those|these|it)\b", query, re.I):
        prev = previous["forecast_scope"]
        if prev.get("dimension") in dims:
            return prev["dimension"], prev.get("value"), ""
    return COMPANY, None, ""


# -- requirements ---------------------------------------------------------------------------------
def missing_requirements(sm: SemanticModelSpec) -> list[str]:
    """What the semantic model lacks for a forecast, one sentence each ([] when complete)."""
    out = []
    if sm.stages is None:
        out.append("no stage semantics (which stage values are open, won and lost), so open pipeline and closed-won revenue cannot be told apart")
    if "close_date" not in sm.time_dimensions:
        out.append("no `close_date` time dimension, so closed-won revenue cannot be placed in a period")
    if not sm.has_dimension("amount"):
        out.append("no `amount` dimension (deal value), so closed-won revenue cannot be summed")
    if not sm.has_dimension("opportunity"):
        out.append("no `opportunity` dimension, so deals cannot be listed")
    return out


def _rules_or_none(ctx: RunContext, rule_set: str, sections: tuple[str, ...] = ()) -> dict | None:
    try:
        return ctx.rules(rule_set, agent=AGENT, sections=sections)
    except ToolError:
        return None


def _stage_probabilities(ctx: RunContext, sm: SemanticModelSpec, open_stages: list[str]) -> tuple[dict[str, float], dict[str, str], str]:
    """``(probability by CRM stage, methodology stage by CRM stage, source)``: the KB deal_stages
    document's mapping and probabilities, else the semantic model's stage probabilities."""
    kb = _rules_or_none(ctx, "deal_stages", ("Stage gates",))
    probs: dict[str, float] = {}
    names: dict[str, str] = {}
    source = ""
    if kb:
        stage_map, gates = kb.get("crm_stage_map") or {}, kb.get("stages") or {}
        for s in open_stages:
            method = stage_map.get(s, s)
            p = (gates.get(method) or {}).get("probability")
            if p is not None:
                probs[s], names[s] = float(p), method
        if probs:
            source = f"the deal stages document [{ctx.rule_refs['deal_stages']}]"
    for s in open_stages:
        if s not in probs and s in sm.stages.probabilities:
            probs[s], names[s] = float(sm.stages.probabilities[s]), s
            source = source or f"the semantic model's stage probabilities [{ctx.semantic_document.get('ref')}]"
    return probs, names, source


# -- the analysis ---------------------------------------------------------------------------------
def answer(ctx: RunContext, query: str, *, previous: dict) -> SpecialistAnswer:
    """Forecast and gap to target for the period and scope named in ``query`` (see the module
    docstring for every formula). Raises ToolError / SemanticQueryError on tool failures (the
    supervisor reports them); a model lacking what the forecast needs gets a statement of what is
    missing instead."""
    sm = ctx.semantic_model(agent=AGENT)
    missing = missing_requirements(sm)
    if missing:
        return SpecialistAnswer(AGENT, render_answer("forecast_missing", {"missing": missing}))
    as_of = ctx.as_of
    period, end, period_note = resolve_period(query, as_of=as_of, previous=previous)
    start = period.start

    targets_params = _rules_or_none(ctx, "targets")
    targets, targets_error = None, ""
    if targets_params is not None:
        try:
            targets = parse_targets(_plain(targets_params), dimensions=list(sm.dimensions))
        except TargetsInvalid as exc:
            targets_error = "; ".join(exc.errors)
    dims = [d for d in dict.fromkeys([*SCOPE_DIMENSIONS, *(targets.scopes() if targets else ())]) if sm.has_dimension(d)]
    if _SPLIT.search(query):
        return SpecialistAnswer(AGENT, render_answer("forecast_missing", {"split": True, "scopes": [sm.dimension_label(d) for d in dims]}))
    scope_dim, scope_value, unknown = resolve_scope(ctx, query, dims=dims, previous=previous)
    if unknown:
        values = ctx.dimension_values(agent=AGENT)
        known = {d: values.get(d, []) for d in dims if d in ("office",)}
        return SpecialistAnswer(AGENT, render_answer("forecast_missing", {"unknown_scope": unknown, "known": known}))
    scope_filter = () if scope_dim == COMPANY else (Filter(scope_dim, (scope_value,)),)
    scope_text = "the whole company" if scope_dim == COMPANY else f"{sm.dimension_label(scope_dim)} {scope_value}"

    open_stages, won_stages = sm.stage_values("open"), sm.stage_values("won")
    probs, method_names, prob_source = _stage_probabilities(ctx, sm, open_stages)
    risks_kb = _rules_or_none(ctx, "deal_risks") or {}
    thresholds = risks_kb.get("thresholds") or {}
    interventions = risks_kb.get("actions") or {}  # the deal risk warnings document: one action per warning
    try:
        history: History | None = history_load(ctx, agent=AGENT)
    except HistoryUnavailable:
        history = None
    median_cycle = history.cycle_median_days if history else None
    cycle_days = math.ceil(median_cycle) if median_cycle is not None else None

    # Closed-won in the period (deals dated after the as-of date are counted apart: the snapshot
    # is later than the as-of date and the forecast must not see them).
    won_all, won_refs = rows_all(
        ctx,
        SemanticQuery(
            fields=("opportunity", "amount", "close_date"),
            filters=(Filter(sm.stages.dimension, tuple(won_stages)), *scope_filter),
            period=TimeRange(start, end, period.label, time_dimension="close_date"),
            order=(OrderBy("opportunity", False),),
        ),
        agent=AGENT,
        purpose=f"won opportunities closed in {period.label} ({scope_text})",
    )
    ctx.computed("period", [start, end, as_of + _ONE_DAY], "period start and end; the day after the as-of date")
    won_rows = [r for r in won_all if as_date(r["close_date"]) <= as_of]
    won_later = len(won_all) - len(won_rows)
    won_total, won_no_amount = closed_won_sum(won_rows)
    ctx.computed("closed-won to date", won_total, "sum of amount of won deals closed from the period start to the as-of date (deals without an amount left out)")
    ctx.computed("won deals to date", [len(won_rows), won_later, won_no_amount], "won deals to date / dated after the as-of date / without an amount")

    # Open pipeline (a snapshot: open deals have no period; their expected close date places them).
    fields = [f for f in ("opportunity", sm.stages.dimension, "account", "owner", "product", "amount", "list_price", "engage_date", "close_date", "forecast_category") if sm.has_dimension(f)]
    fields = list(dict.fromkeys(fields))
    open_rows, open_refs = rows_all(
        ctx,
        SemanticQuery(fields=tuple(fields), filters=(Filter(sm.stages.dimension, tuple(open_stages)), *scope_filter), order=(OrderBy("opportunity", False),)),
        agent=AGENT,
        purpose=f"open opportunities ({scope_text})",
    )
    stalled_days = int(thresholds.get("stalled_in_stage_days", 0)) or None
    deals: list[Deal] = []
    for r in open_rows:
        deals.append(_estimate(r, sm=sm, as_of=as_of, probs=probs, history=history, cycle_days=cycle_days, stalled_days=stalled_days))
    in_period = [d for d in deals if d.expected_close is not None and start <= d.expected_close <= end and d.expected_close > as_of]
    valued = [d for d in in_period if d.value is not None]
    unvalued = len(in_period) - len(valued)
    open_value = sum(d.value for d in valued)
    weighted = sum(d.weighted for d in valued)
    hist_weighted = sum(d.value * (history.win_rate(d.row.get("product")).percent or 0) / 100 for d in valued) if history else None
    forecast = won_total + weighted
    ctx.computed("open pipeline expected in the period", [len(in_period), open_value, weighted], "count / sum of value / sum of value x stage probability / 100")
    ctx.computed("history-weighted pipeline", hist_weighted, "sum of value x historical win rate of the product / 100")
    ctx.computed("forecast", forecast, "closed-won to date + weighted pipeline")

    # Target and gap.
    target_amount, target_note = None, ""
    if targets is not None:
        target_amount, target_note = _target_for(targets, start, end, scope_dim, scope_value)
    remaining = coverage = gap = attainment = None
    if target_amount is not None:
        ctx.computed("target", target_amount)
        remaining = ctx.computed("remaining gap", target_amount - won_total, "target - closed-won to date")
        gap = ctx.computed("gap to target", target_amount - forecast, "target - forecast")
        attainment = ctx.computed("attainment", 100 * won_total / target_amount if target_amount else None, "closed-won to date / target x 100")
        ctx.computed("gap sizes", [abs(remaining), abs(gap)], "absolute remaining gap and gap (an excess is shown as a positive figure)")
        ctx.computed("forecast attainment", 100 * forecast / target_amount if target_amount else None, "forecast / target x 100")
        if remaining > 0 and end > as_of:
            coverage = ctx.computed("coverage ratio", open_value / remaining, "open pipeline expected in the period / remaining gap")

    # Deals that decide the gap.
    deciding = sorted(valued, key=lambda d: (-d.weighted, -(d.value or 0), d.id))[:DECIDING_DEALS]
    top_weighted = sum(d.weighted for d in deciding)
    ctx.computed("deciding deals", [[d.value, d.probability, d.weighted, d.age_days, d.expected_close] for d in deciding], "value, probability, weighted, age (days), expected close")
    ctx.computed("deciding deals weighted", [top_weighted, 100 * top_weighted / weighted if weighted else None], "sum of their weighted value, share of the weighted pipeline")
    deal_rows = []
    for d in deciding:
        rate = history.win_rate(d.row.get("product")) if history else None
        if rate is not None:
            ctx.computed("historical win rate", [rate.percent, rate.closed], f"won / closed of {rate.basis}")
        key = next((k for k in RISK_ORDER if k in {k for k, _ in d.drivers}), None)
        deal_rows.append(
            {
                "id": d.id,
                "account": d.row.get("account") or "(no account)",
                "owner": d.row.get("owner") or "n/a",
                "product": d.row.get("product") or "n/a",
                "stage": f"{d.stage} ({method_names[d.stage]})" if method_names.get(d.stage, d.stage) != d.stage else d.stage,
                "value": fmt_usd(d.value) + (" (est.)" if d.value_estimated else ""),
                "probability": fmt_pct(d.probability, 0) if d.probability is not None else "n/a",
                "weighted": fmt_usd(d.weighted),
                "close": (d.expected_close.isoformat() if d.expected_close else "n/a") + (" (est.)" if d.close_estimated else ""),
                "history": f"{fmt_pct(rate.percent)} of {rate.closed:,} ({rate.basis})" if rate and rate.percent is not None else "n/a",
                "confidence": rate.confidence if rate else "None",
                "drivers": "; ".join(text for _, text in d.drivers) or "none",
                "intervention": (interventions.get(key) or "no intervention defined in the knowledge base") if key else "keep the next step on the calendar",
            }
        )

    # Categories, when the model declares them.
    categories = []
    if "forecast_category" in fields:
        by_cat: dict[str, list[Deal]] = {}
        for d in valued:
            by_cat.setdefault(str(d.row.get("forecast_category") or "(none)"), []).append(d)
        for name, items in sorted(by_cat.items()):
            v, w = sum(d.value for d in items), sum(d.weighted for d in items)
            ctx.computed(f"category {name}", [len(items), v, w])
            categories.append({"name": name, "count": f"{len(items):,}", "value": fmt_usd(v), "weighted": fmt_usd(w)})

    # Estimates, with their method.
    est_value = sum(1 for d in valued if d.value_estimated)
    est_close = sum(1 for d in in_period if d.close_estimated)
    overdue = sum(1 for d in in_period if any(k in ("past_cycle", "close_date_passed") for k, _ in d.drivers) and d.expected_close == as_of + _ONE_DAY)
    not_engaged = sum(1 for d in in_period if d.age_days is None)
    later = sum(1 for d in deals if d.expected_close and d.expected_close > end)
    earlier_period = end <= as_of
    ctx.computed("estimate counts", [est_value, est_close, overdue, not_engaged, later, unvalued, len(deals)])
    ctx.computed("confidence thresholds", [HIGH_EVIDENCE, MEDIUM_EVIDENCE], "closed deals for High / Medium confidence")
    if history:
        ctx.computed("history", [history.overall.percent, history.overall.closed, median_cycle, cycle_days, len(history.cycles)], "overall win rate, closed deals, median cycle (days)")
    refs = ctx.rule_refs
    context = {
        "period": period.label,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "as_of": as_of.isoformat(),
        "period_note": period_note,
        "scope": scope_text,
        "won_total": fmt_usd(won_total),
        "won_count": f"{len(won_rows):,}",
        "won_no_amount": f"{won_no_amount:,}" if won_no_amount else "",
        "won_ref": _refs(won_refs),
        "won_later": f"{won_later:,}" if won_later else "",
        "period_over": earlier_period,
        "not_started": start > as_of,
        "open_ref": _refs(open_refs),
        "open_count": f"{len(in_period):,}",
        "open_value": fmt_usd(open_value),
        "weighted": fmt_usd(weighted),
        "hist_weighted": fmt_usd(hist_weighted) if hist_weighted is not None else "",
        "forecast": fmt_usd(forecast),
        "prob_source": prob_source,
        "probabilities": ", ".join(f"{s} {fmt_pct(probs[s], 0)}" + (f" ({method_names[s]})" if method_names.get(s, s) != s else "") for s in open_stages if s in probs),
        "no_probability": [s for s in open_stages if s not in probs],
        "target": fmt_usd(target_amount) if target_amount is not None else "",
        "target_ref": refs.get("targets"),
        "target_note": target_note,
        "targets_error": targets_error,
        "has_targets_doc": targets_params is not None,
        "remaining": fmt_usd(abs(remaining)) if remaining is not None else "",
        "remaining_met": remaining is not None and remaining <= 0,
        "gap": fmt_usd(abs(gap)) if gap is not None else "",
        "gap_over": gap is not None and gap <= 0,
        "attainment": fmt_pct(attainment) if attainment is not None else "",
        "forecast_attainment": fmt_pct(100 * forecast / target_amount) if target_amount else "",
        "coverage": f"{coverage:.2f}" if coverage is not None else "",
        "categories": categories,
        "category_missing": "forecast_category" not in fields,
        "deals": deal_rows,
        "deciding_weighted": fmt_usd(top_weighted),
        "deciding_share": fmt_pct(100 * top_weighted / weighted) if weighted else "",
        "history_ref": history.citation if history else None,
        "cycle_ref": history.cycle_citation if history else None,
        "history_missing": history is None,
        "history_overall": fmt_pct(history.overall.percent) if history and history.overall.percent is not None else "n/a",
        "history_closed": f"{history.overall.closed:,}" if history else "0",
        "median_cycle": f"{median_cycle:g}" if median_cycle is not None else "",
        "cycles": f"{len(history.cycles):,}" if history else "0",
        "est_value": f"{est_value:,}",
        "est_close": f"{est_close:,}",
        "overdue": f"{overdue:,}",
        "not_engaged": f"{not_engaged:,}",
        "later": f"{later:,}",
        "unvalued": f"{unvalued:,}",
        "open_total": f"{len(deals):,}",
        "stalled_days": stalled_days,
        "risks_ref": refs.get("deal_risks"),
        "interventions_missing": not interventions,
        "stages_ref": refs.get("deal_stages"),
    }
    entities = {
        "forecast_period": {"label": period.label, "start": start.isoformat(), "end": end.isoformat(), "unit": period.unit},
        "forecast_scope": {"dimension": scope_dim, "value": scope_value},
        "forecast": round(forecast, 2),
    }
    chart = ChartSpec(
        kind="bar_target" if target_amount is not None else "bar",
        title=f"Forecast vs target, {period.label}" + (f" ({scope_value})" if scope_value else ""),
        categories=["Closed-won to date", "Weighted open pipeline", "Forecast"],
        series=[ChartSeries(name="USD", values=[round(won_total, 2), round(weighted, 2), round(forecast, 2)])],
        unit="USD",
        target=round(target_amount, 2) if target_amount is not None else None,
        source_ref=won_refs[0] if won_refs else None,  # the first bar's query (closed-won)
    )
    return SpecialistAnswer(AGENT, render_answer("forecast", context), entities, charts=[chart.model_dump()])


def closed_won_sum(rows: list[dict]) -> tuple[float, int]:
    """``(closed-won USD, won deals without an amount)`` over won opportunity rows (key
    ``amount``, USD or None). A won deal whose CRM row has no amount adds nothing to the sum and
    is counted apart, so the answer can say the figure leaves it out (module docstring: closed-won
    to date = sum of amount of won opportunities)."""
    total, missing = 0.0, 0
    for r in rows:
        if r.get("amount") is None:
            missing += 1
        else:
            total += float(r["amount"])
    return total, missing


def _plain(params) -> dict:
    """Front matter as a plain dict: ``RunContext.rules`` may hand a typed rules model (mapping-style
    ``items()``) or a dict; pydantic models nested in it are dumped back to mappings."""
    if isinstance(params, dict):
        return params
    if not hasattr(params, "items"):  # a TargetsSpec (knowledge.validation.TargetsRules)
        return params.model_dump()
    return {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in params.items()}


def _refs(refs: list[int]) -> str:
    """Citation marks of one logical query run in parts: ``3`` or ``3], [4], [5``."""
    return "], [".join(str(r) for r in refs)


def _estimate(
    r: dict, *, sm: SemanticModelSpec, as_of: dt.date, probs: dict[str, float], history: History | None, cycle_days: int | None, stalled_days: int | None
) -> Deal:
    """One open deal's value, probability, expected close date, age and risk drivers (module
    docstring for the formulas)."""
    stage = r[sm.stages.dimension]
    amount, price = r.get("amount"), r.get("list_price")
    value = float(amount) if amount is not None else (float(price) if price is not None else None)
    engaged = as_date(r.get("engage_date"))
    recorded = as_date(r.get("close_date"))
    # The warehouse is today's snapshot: a deal engaged after the as-of date has no age yet (0).
    age = None if engaged is None else max(0, (as_of - engaged).days)
    drivers: list[tuple[str, str]] = []
    close_estimated = recorded is None
    if recorded is not None:
        expected = recorded
        if recorded <= as_of:
            drivers.append(("close_date_passed", f"close date {recorded.isoformat()} has passed"))
            expected = as_of + _ONE_DAY
    elif cycle_days is not None:
        expected = (engaged or as_of) + dt.timedelta(days=cycle_days)
        if expected <= as_of:
            expected = as_of + _ONE_DAY
    else:
        expected = None
    if age is not None and stalled_days is not None and age > stalled_days:
        drivers.append(("stalled_in_stage", f"in stage {age} days (threshold {stalled_days})"))
    if age is not None and cycle_days is not None and age > cycle_days:
        drivers.append(("past_cycle", f"older than the median cycle ({cycle_days} days)"))
    if engaged is None and "engage_date" in sm.time_dimensions:
        drivers.append(("not_engaged", "not engaged yet"))
    if sm.has_dimension("account") and not r.get("account"):
        drivers.append(("no_account", "no account on the opportunity"))
    if history is not None and history.win_rate(r.get("product")).confidence in ("Low", "None"):
        drivers.append(("low_evidence", "little history for its product"))
    return Deal(
        id=str(r["opportunity"]), stage=stage, row=r, value=value, value_estimated=amount is None and value is not None,
        probability=probs.get(stage), expected_close=expected, close_estimated=close_estimated, age_days=age, drivers=drivers,
    )


def _target_for(targets, start: dt.date, end: dt.date, scope: str, value: str | None) -> tuple[float | None, str]:
    """``(target USD or None, note)`` for ``[start, end]``: the quarter's target, or the sum of
    the targets of the whole quarters the period spans when every one has a target."""
    quarters = []
    day = start
    while day <= end:
        label = f"Q{(day.month - 1) // 3 + 1} {day.year}"
        q_start, q_end = quarter_range(label)
        quarters.append((label, q_start, q_end))
        day = q_end + _ONE_DAY
    who = "the whole company" if scope == COMPANY else f"{scope} {value}"
    if quarters[0][1] != start or quarters[-1][2] != end:
        return None, f"targets are set per calendar quarter; {start.isoformat()} to {end.isoformat()} is not made of whole quarters"
    found = [targets.find(period=label, scope=scope, value=value) for label, _, _ in quarters]
    lacking = [label for (label, _, _), t in zip(quarters, found) if t is None]
    if lacking:
        return None, f"the targets document sets no target for {who} in {', '.join(lacking)}"
    return sum(t.amount for t in found), ""
