"""Customer health: churn risk ranking, one account's health card, expansion potential,
declining engagement and usage trends (issue 11, part 3).

Rules come from the tenant's churn document (``rule_set: churn``) and ICP document
(``rule_set: icp``); data from the warehouse through the semantic model
(:mod:`agents.account_signals` runs the queries and the formulas). The playbook picks the answer
shape from the question, computes a context of formatted figures and presents it with the
``templates/answers/account_health_*.md`` layouts.

Answer shapes (first match wins):

1. usage/consumption trend wording -> ``account_health_usage`` (one account when named);
2. health wording, or churn wording naming one account -> ``account_health_card``;
3. expansion/upsell/cross-sell wording -> ``account_health_expansion`` (a sector filter when a
   sector is named);
4. declining/dropping engagement wording -> ``account_health_engagement``;
5. otherwise the churn ranking -> ``account_health_churn`` (top N, default 10).
"""

from __future__ import annotations

import datetime as dt
import re

from agents.account_signals import (
    SIGNAL_LABELS,
    AccountData,
    ChurnAnalysisRules,
    ChurnScore,
    Expansion,
    account_data_load,
    change_pct,
    churn_rules,
    churn_score,
    expansion_score,
    plain,
    usage_windows,
)
from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.render import render_answer
from agents.runtime.context import RunContext, fmt_pct, fmt_usd, md_table
from agents.runtime.entities import find_name
from agents.semantic.query import Filter, SemanticQuery, TimeRange

AGENT = "account_health"
DEFAULT_TOP = 10

_USAGE = re.compile(r"\b(usage|consumption)\b", re.I)
_HEALTH = re.compile(r"\b(healthy|health)\b", re.I)
_EXPANSION = re.compile(r"\b(expansion|expand|upsell|up-sell|upselling|cross-sell|cross sell|white space|whitespace|grow(th)? potential)\b", re.I)
_DECLINING = re.compile(r"\b(declin\w*|dropping|falling|decreasing|waning|less engaged|disengag\w*)\b", re.I)
_LIST = re.compile(r"\b(which|top|list|rank\w*|accounts|customers|clients|companies|customer base|portfolio)\b", re.I)
_TOP = re.compile(r"\btop\s+(\d{1,3})\b|\b(\d{1,3})\s+(?:accounts|customers|clients|companies)\b", re.I)


def _top_n(query: str) -> int:
    m = _TOP.search(query)
    n = int(next(g for g in m.groups() if g)) if m else DEFAULT_TOP
    return max(1, min(n, 100))


def answer(ctx: RunContext, query: str, *, previous: dict) -> SpecialistAnswer:
    """Answer a customer-health question (see the module docstring for the shapes).

    Raises ToolError (the supervisor reports it) when the churn document is missing or invalid,
    the semantic model has no ``account`` dimension, or a query fails."""
    rules = churn_rules(ctx, agent=AGENT)
    as_of = ctx.as_of
    if _USAGE.search(query):
        return _usage(ctx, query, rules, previous=previous)
    listing = bool(_LIST.search(query))
    data = account_data_load(ctx, rules, agent=AGENT, need_products=bool(_EXPANSION.search(query) or not listing))
    account = _named_account(query, data, previous=previous, allow_previous=bool(_HEALTH.search(query)) and not listing)
    if account is None and _HEALTH.search(query) and not listing:
        ctx.computed("accounts", len(data.accounts), "accounts in the warehouse")
        return SpecialistAnswer(AGENT, render_answer("account_health_no_account", {"citation": data.refs["accounts"], "accounts": len(data.accounts)}))
    if account is not None:
        return _card(ctx, account, data, rules)
    if _EXPANSION.search(query):
        return _expansion_list(ctx, query, data, rules)
    if _DECLINING.search(query):
        return _declining(ctx, query, data, rules)
    return _churn_list(ctx, query, data, rules, as_of)


def _named_account(query: str, data: AccountData, *, previous: dict, allow_previous: bool) -> str | None:
    match = find_name(query, list(data.accounts))
    if match:
        return match.name
    prior = previous.get("account") if allow_previous else None
    return prior if prior in data.accounts else None


def _missing_lines(data: AccountData, scores: list[ChurnScore]) -> list[str]:
    """One sentence per signal with weight for some scored account but no data for the tenant."""
    left = {s for sc in scores for s in sc.left_out}
    return [f"{data.missing[s]}: the churn score is computed without the {SIGNAL_LABELS[s]} signal (weights renormalised over the others)." for s in sorted(left) if s in data.missing]


def _weights_text(rules: ChurnAnalysisRules, segment: str, score: ChurnScore) -> str:
    given = rules.weights.get(segment, {})
    used = ", ".join(f"{k} {given[k]:g}" for k in given if k in score.weights)
    return used or "none"


def _drivers_text(score: ChurnScore) -> str:
    return "; ".join(f"{s.name} {round(s.risk):d}/100 ({s.detail})" for s, _ in score.drivers(2))


def _declare(ctx: RunContext, score: ChurnScore) -> None:
    ctx.computed(
        f"churn risk {score.account}",
        [score.score, *[round(s.risk) for s in score.signals], *[round(100 * w) for w in score.weights.values()]],
        "sum(weight x signal risk) / sum(weights of available signals), rounded half up (churn document)",
    )
    ctx.sources.add([s.detail for s in score.signals])


def _signal_refs(data: AccountData) -> str:
    return ", ".join(f"[{r}]" for r in dict.fromkeys(v for k, v in data.refs.items() if k not in ("products", "products_bought")))


def _churn_list(ctx: RunContext, query: str, data: AccountData, rules: ChurnAnalysisRules, as_of: dt.date) -> SpecialistAnswer:
    n = _top_n(query)
    scores = [churn_score(f, data, rules, as_of) for f in data.accounts.values()]
    scored = sorted((s for s in scores if s.score is not None), key=lambda s: (-s.score, s.account))
    top = scored[:n]
    bands: dict[str, int] = {}
    for s in scored:
        bands[s.band] = bands.get(s.band, 0) + 1
    for s in top:
        _declare(ctx, s)
    ctx.computed("accounts by band", [len(scored), n, *bands.values()], "count of scored accounts per churn band")
    segments: dict[str, int] = {}
    for s in scored:
        segments[s.segment] = segments.get(s.segment, 0) + 1
    ctx.computed("accounts by segment", list(segments.values()))
    rows = [
        [i, s.account, s.segment, f"{s.score}", s.band, _drivers_text(s), rules.interventions.get(s.drivers(1)[0][0].name, "none in the churn document") if s.drivers(1) else "n/a"]
        for i, s in enumerate(top, 1)
    ]
    context = {
        "as_of": as_of.isoformat(),
        "n": len(top),
        "scored": len(scored),
        "bands": ", ".join(f"{label} {bands[label]}" for label in [b.label for b in rules.bands] if label in bands),
        "segments": ", ".join(f"{k} {v}" for k, v in sorted(segments.items())),
        "table": md_table(["#", "Account", "Segment", "Churn risk", "Band", "Top drivers", "Intervention"], rows),
        "refs": _signal_refs(data),
        "rules_ref": ctx.rule_refs["churn"],
        "signals_used": ", ".join(sorted(data.available)) or "none",
        "missing": _missing_lines(data, scored),
        "notes": data.notes,
        "unscored": len(scores) - len(scored),
        "period_word": "this quarter" if re.search(r"\bthis quarter\b", query, re.I) else "",
    }
    entities = {"churn_ranking": [s.account for s in top], "account": top[0].account if top else None}
    return SpecialistAnswer(AGENT, render_answer("account_health_churn", context), {k: v for k, v in entities.items() if v is not None})


def _card(ctx: RunContext, account: str, data: AccountData, rules: ChurnAnalysisRules) -> SpecialistAnswer:
    f = data.accounts[account]
    score = churn_score(f, data, rules, ctx.as_of)
    _declare(ctx, score)
    icp = plain(ctx.rules("icp", agent=AGENT, sections=("Formula",)))
    exp = expansion_score(f, data, rules, icp)
    _declare_expansion(ctx, exp)
    top = score.drivers(1)
    context = {
        "account": account,
        "as_of": ctx.as_of.isoformat(),
        "sector": f.sector or "n/a",
        "employees": f"{f.employees:,}" if f.employees is not None else "n/a",
        "segment": score.segment,
        "score": score.score,
        "band": score.band,
        "weights": _weights_text(rules, score.segment, score),
        "signals": md_table(
            ["Signal", "Risk (0-100)", "Weight used", "Values"],
            [[s.name, round(s.risk), fmt_pct(100 * score.weights[s.name], 0) if s.name in score.weights else "0 (not weighted for this segment)", s.detail] for s in score.signals],
        ),
        "drivers": _drivers_text(score),
        "intervention": rules.interventions.get(top[0][0].name, "") if top else "",
        "won": f"{f.won_total:,}",
        "won_revenue": fmt_usd(f.won_revenue) if "business" in data.available else "n/a",
        "open_deals": f.open_deals,
        "open_value": fmt_usd(f.open_value) if f.open_value is not None else "n/a",
        "business": "business" in data.available,
        "expansion": _expansion_context(exp),
        "refs": _signal_refs(data),
        "products_ref": data.refs.get("products_bought"),
        "rules_ref": ctx.rule_refs["churn"],
        "icp_ref": ctx.rule_refs.get("icp"),
        "missing": _missing_lines(data, [score]),
        "notes": data.notes,
    }
    return SpecialistAnswer(AGENT, render_answer("account_health_card", context), {"account": account, "churn_risk": score.score, "churn_band": score.band, "segment": score.segment})


def _declare_expansion(ctx: RunContext, e: Expansion) -> None:
    ctx.computed(
        f"expansion {e.account}",
        [e.score, *[round(v) for v in e.parts.values()], *[x for w in e.white_space for x in (w[1], w[2], round(100 * w[1] / w[2]))],
         round(e.activity_change, 1) if e.activity_change is not None else None],
        "weighted mean of white space, activity growth and ICP fit (churn document expansion_weights), rounded half up",
    )


def _expansion_context(e: Expansion) -> dict:
    products = [f"{p} (bought by {k} of {n} similar accounts, {round(100 * k / n)}%)" for p, k, n in e.white_space[:3]]
    parts = {"white_space": "white space", "activity_growth": "activity growth", "icp_fit": "ICP fit"}
    return {
        "score": e.score,
        "parts": ", ".join(f"{parts[k]} {round(v)}" for k, v in e.parts.items()),
        "products": "; ".join(products) if products else "none: similar accounts buy nothing this account lacks",
        "basis": e.peer_basis or "n/a",
        "activity": fmt_pct(e.activity_change) if e.activity_change is not None else "n/a (no earlier interactions)",
    }


def _sector_named(query: str, data: AccountData) -> str | None:
    words = set(re.findall(r"[a-z]+", query.lower()))
    for sector in sorted({f.sector for f in data.accounts.values() if f.sector}):
        if sector.lower() in words:
            return sector
    return None


def _expansion_list(ctx: RunContext, query: str, data: AccountData, rules: ChurnAnalysisRules) -> SpecialistAnswer:
    icp = plain(ctx.rules("icp", agent=AGENT, sections=("Formula",)))
    sector = _sector_named(query, data)
    pool = [f for f in data.accounts.values() if sector is None or f.sector == sector]
    found = [expansion_score(f, data, rules, icp) for f in pool]
    ranked = sorted((e for e in found if e.score is not None), key=lambda e: (-e.score, e.account))
    n = _top_n(query)
    top = ranked[:n]
    for e in top:
        _declare_expansion(ctx, e)
    ctx.computed("expansion pool", [len(pool), len(ranked), n])
    rows = []
    for i, e in enumerate(top, 1):
        c = _expansion_context(e)
        rows.append([i, e.account, data.accounts[e.account].sector or "n/a", e.score, c["parts"], c["products"], c["activity"]])
    context = {
        "as_of": ctx.as_of.isoformat(),
        "sector": sector,
        "pool": len(pool),
        "n": len(top),
        "table": md_table(["#", "Account", "Sector", "Expansion score", "Parts (0-100)", "Not yet bought, by similar accounts", "Interactions change"], rows),
        "weights": ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in rules.expansion_weights.items()),
        "refs": ", ".join(f"[{data.refs[k]}]" for k in ("accounts", "products_bought", "notes_recent", "notes_previous") if k in data.refs),
        "rules_ref": ctx.rule_refs["churn"],
        "icp_ref": ctx.rule_refs.get("icp"),
        "no_products": not data.products,
        "no_notes": "engagement" not in data.available,
    }
    return SpecialistAnswer(AGENT, render_answer("account_health_expansion", context), {"expansion_ranking": [e.account for e in top]})


def _declining(ctx: RunContext, query: str, data: AccountData, rules: ChurnAnalysisRules) -> SpecialistAnswer:
    if "engagement" not in data.available:
        return SpecialistAnswer(AGENT, render_answer("account_health_engagement", {"missing": data.missing["engagement"]}))
    w = rules.signals.window_days
    dropping = [f for f in data.accounts.values() if f.notes_recent < f.notes_previous]
    dropping.sort(key=lambda f: (-(f.notes_previous - f.notes_recent) / f.notes_previous, -(f.notes_previous - f.notes_recent), f.name))
    n = _top_n(query)
    shown = dropping[:n]
    rows = []
    for i, f in enumerate(shown, 1):
        ch = change_pct(f.notes_recent, f.notes_previous)
        days = (ctx.as_of - f.last_note).days if f.last_note else None
        ctx.computed(f"engagement {f.name}", [f.notes_recent, f.notes_previous, round(ch, 1) if ch is not None else None, days])
        rows.append([i, f.name, f.notes_previous, f.notes_recent, fmt_pct(ch), f"{f.last_note.isoformat()} ({days} days)" if f.last_note else "none"])
    total_recent = sum(f.notes_recent for f in data.accounts.values())
    total_prev = sum(f.notes_previous for f in data.accounts.values())
    ctx.computed("engagement totals", [len(dropping), len(data.accounts), total_recent, total_prev, len(shown)])
    context = {
        "as_of": ctx.as_of.isoformat(),
        "window": w,
        "declining": len(dropping),
        "accounts": len(data.accounts),
        "total_recent": total_recent,
        "total_prev": total_prev,
        "n": len(shown),
        "table": md_table(["#", "Account", f"Interactions, {w} days before", f"Interactions, last {w} days", "Change", "Last interaction"], rows) if rows else "",
        "refs": ", ".join(f"[{data.refs[k]}]" for k in ("notes_previous", "notes_recent", "last_note")),
    }
    return SpecialistAnswer(AGENT, render_answer("account_health_engagement", context), {"declining_engagement": [f.name for f in shown]})


def _usage(ctx: RunContext, query: str, rules: ChurnAnalysisRules, *, previous: dict) -> SpecialistAnswer:
    """Monthly usage of one named account (12 complete months) with the trend of the churn signal,
    or, with no account named, the accounts whose usage fell most."""
    sm = ctx.semantic_model(agent=AGENT)
    names = rules.model_names
    if names.usage_metric not in sm.metrics or names.usage_date not in sm.time_dimensions:
        return SpecialistAnswer(AGENT, render_answer("account_health_usage", {"missing": f"This tenant's semantic model declares no usage entity (no '{names.usage_metric}' metric by '{names.usage_date}'), so there is no usage or consumption trend to show. Nothing was computed."}))
    data = account_data_load(ctx, rules, agent=AGENT)
    account = _named_account(query, data, previous=previous, allow_previous=not _LIST.search(query))
    months = rules.signals.usage_months
    prev_start, recent_start, end = usage_windows(ctx.as_of, months)
    label = sm.metric_label(names.usage_metric)
    if account is None:
        rows = []
        falling = [f for f in data.accounts.values() if f.usage_recent is not None and (f.usage_previous or 0) > f.usage_recent]
        falling.sort(key=lambda f: (change_pct(f.usage_recent, f.usage_previous) or 0, f.name))
        for i, f in enumerate(falling[: _top_n(query)], 1):
            ch = change_pct(f.usage_recent, f.usage_previous)
            ctx.computed(f"usage {f.name}", [f.usage_previous, f.usage_recent, round(ch, 1)])
            rows.append([i, f.name, f"{f.usage_previous:,.0f}", f"{f.usage_recent:,.0f}", fmt_pct(ch)])
        ctx.computed("usage decliners", [len(falling), len(data.accounts), len(rows)])
        return SpecialistAnswer(AGENT, render_answer("account_health_usage", {
            "label": label, "falling": len(falling), "accounts": len(data.accounts), "months": months,
            "recent": f"{recent_start.isoformat()} to {end.isoformat()}", "previous": f"{prev_start.isoformat()} to {(recent_start - dt.timedelta(days=1)).isoformat()}",
            "table": md_table(["#", "Account", f"Usage, {months} months before", f"Usage, last {months} months", "Change"], rows) if rows else "",
            "ref": data.refs["usage"],
        }))
    start = dt.date(end.year - 1, end.month, 1) if end.month == 12 else dt.date(end.year - 1, end.month + 1, 1)
    res = ctx.semantic(
        SemanticQuery(metrics=(names.usage_metric,), filters=(Filter("account", (account,)),), grain="month", period=TimeRange(start, end, f"{start.isoformat()} to {end.isoformat()}", time_dimension=names.usage_date)),
        agent=AGENT, purpose=f"{label} of {account} by month",
    )
    f = data.accounts[account]
    score = churn_score(f, data, rules, ctx.as_of)
    _declare(ctx, score)
    usage_sig = next(s for s in score.signals if s.name == "usage")
    ch = change_pct(f.usage_recent or 0, f.usage_previous or 0)
    ctx.computed(f"usage trend {account}", [f.usage_previous, f.usage_recent, round(ch, 1) if ch is not None else None, round(usage_sig.risk)])
    rows = [[r["period"].isoformat() if hasattr(r["period"], "isoformat") else r["period"], f"{float(r[names.usage_metric] or 0):,.0f}"] for r in res.rows]
    return SpecialistAnswer(AGENT, render_answer("account_health_usage", {
        "account": account, "label": label, "months": months, "table": md_table(["Month", label.capitalize()], rows) if rows else "", "ref": res.citation,
        "no_usage": f.usage_recent is None,
        "recent_total": f"{f.usage_recent or 0:,.0f}", "previous_total": f"{f.usage_previous or 0:,.0f}", "change": fmt_pct(ch) if ch is not None else "n/a",
        "risk": round(usage_sig.risk), "score": score.score, "band": score.band, "segment": score.segment, "signal_ref": data.refs["usage"], "rules_ref": ctx.rule_refs["churn"],
    }), {"account": account, "churn_risk": score.score})
