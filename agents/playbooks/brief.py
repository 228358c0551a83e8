"""The daily executive brief and the weekly summary (issue 11 part 5), and the alerts evaluation.

A schedule's run asks its analysis name (``daily_brief``, ``weekly_summary``, ``alerts``) and is
routed here (:data:`agents.routing.BRIEF`); people may also ask "give me the daily brief". The
brief reads the warehouse only through the semantic model and composes the other analyses:

- **pipeline health**: open opportunities and pipeline value (USD, list price: the model's
  ``pipeline_value``) by stage, one semantic query;
- **forecast vs target**: :func:`agents.playbooks.forecast.answer` for "this quarter" (its
  summary, target and gap and how its estimates were made; the deal tables are left to the
  forecast question itself);
- **slipped or stalled deals**: :func:`agents.playbooks.deal.at_risk_deals` (open deals in stage
  longer than the KB's ``deal_risks`` ``stalled_in_stage_days``), the 5 longest;
- **risk ranking**: churn risk 0-100 per account (:mod:`agents.account_signals`, the KB churn
  document), the 5 riskiest with their top driver and the document's intervention;
- **key wins and losses**: won and lost opportunities whose close date falls in the window (daily:
  the as-of date; weekly: the 7 days ending on it), counts, won amount (USD; wins without an
  amount are counted apart, and no total is given when the model has no ``amount`` dimension),
  the largest 5 each;
- **competitor mention trends**: call notes naming each competitor of the KB ``competitors``
  document in the last :data:`TREND_DAYS` days vs the :data:`TREND_DAYS` before (both ending on
  the as-of date; call notes are sparse, so a shorter window would show noise);
- **recommended actions**: from the KB documents, one per finding that fired (stalled deals: the
  ``deal_risks`` action; the riskiest account: the churn intervention of its top driver; a
  competitor present: the ``competitors`` document's ``when_present``).

``alerts``: the deals and accounts above a KB threshold (stalled deals: days in stage above the
``deal_risks`` threshold; accounts: churn risk in the churn document's highest band) listed with
their owners; the entities of the answer carry them for :mod:`agents.alerts`, which notifies once
per crossing after the run (the run itself changes nothing).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from agents.account_signals import account_data_load, churn_rules, churn_score
from agents.analysis_history import rows_all
from agents.playbooks import deal, forecast
from agents.playbooks import notes as N
from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.deal import as_date
from agents.playbooks.formatting import fmt_count
from agents.playbooks.render import render_answer
from agents.runtime.context import RunContext, ToolError, fmt_usd, md_table
from agents.semantic.query import Filter, OrderBy, SemanticQuery, SemanticQueryError, TimeRange

AGENT = "brief"
DAILY, WEEKLY, ALERTS = "daily_brief", "weekly_summary", "alerts"
TOP = 5
TREND_DAYS = 90
_EPOCH = dt.date(1900, 1, 1)
_WEEKLY = re.compile(r"\bweekly\b|\bweek\b|\bweekly_summary\b", re.I)
_ALERTS = re.compile(r"^\s*alerts\s*$|\b(risk )?alerts?\b", re.I)
_HEADING = re.compile(r"^(#{3,4}) (.+)$", re.M)


def brief_kind(query: str) -> str:
    """``alerts`` for the alerts analysis, ``weekly_summary`` for week wording, else ``daily_brief``."""
    if _ALERTS.search(query):
        return ALERTS
    return WEEKLY if _WEEKLY.search(query) else DAILY


def answer(ctx: RunContext, query: str, *, previous: dict) -> SpecialistAnswer:
    """The brief, the weekly summary or the alerts evaluation (module docstring), as Markdown.

    Each section that cannot be computed for this tenant (a missing KB document, a semantic model
    lacking an entity) says so in one sentence; the other sections still run."""
    kind = brief_kind(query)
    if kind == ALERTS:
        return alerts_answer(ctx)
    as_of = ctx.as_of
    days = 7 if kind == WEEKLY else 1
    start = as_of - dt.timedelta(days=days - 1)
    sections: list[dict] = []
    actions: list[str] = []
    entities: dict = {"brief": kind}

    sections.append(_guard("Pipeline health", lambda: _pipeline(ctx)))
    sections.append(_guard("Forecast vs target", lambda: _forecast(ctx)))
    stalled = _guard("Slipped or stalled deals", lambda: _stalled(ctx, actions))
    sections.append(stalled)
    sections.append(_guard("Risk ranking: churn risk", lambda: _risk(ctx, actions, entities)))
    sections.append(_guard("Key wins and losses", lambda: _wins_losses(ctx, start, as_of, "the as-of date" if days == 1 else f"the {days} days ending on the as-of date")))
    sections.append(_guard("Competitor mention trends", lambda: _competitors(ctx, actions)))
    context = {
        "title": "Weekly summary" if kind == WEEKLY else "Daily executive brief",
        "as_of": as_of.isoformat(),
        "window": f"{start.isoformat()} to {as_of.isoformat()}" if days > 1 else as_of.isoformat(),
        "sections": sections,
        "actions": actions,
    }
    return SpecialistAnswer(AGENT, render_answer("brief", context), entities)


def _guard(title: str, compute) -> dict:
    """One section: ``{"title", "body"}``; a tool failure becomes an honest sentence."""
    try:
        return {"title": title, "body": compute()}
    except (ToolError, SemanticQueryError) as exc:
        return {"title": title, "body": f"This section could not be computed: {exc}. No figures were guessed."}


def _demote(markdown: str, drop: tuple[str, ...] = ()) -> str:
    """A specialist's answer as a brief section: its ``###`` title removed, ``####`` sub-headings
    turned into bold lines, and the sub-sections named in ``drop`` left out."""
    out: list[str] = []
    skipping = False
    for line in markdown.splitlines():
        m = _HEADING.match(line)
        if m:
            skipping = m.group(2).strip() in drop
            if skipping or len(m.group(1)) == 3:
                continue
            out.append(f"**{m.group(2).strip()}**")
            continue
        if not skipping:
            out.append(line)
    return "\n".join(out).strip()


# -- sections ---------------------------------------------------------------------------------------
def _pipeline(ctx: RunContext) -> str:
    sm = ctx.semantic_model(agent=AGENT)
    open_stages = sm.stage_values("open")
    metrics = tuple(m for m in ("open_deals", "pipeline_value") if m in sm.metrics)
    if "open_deals" not in metrics:
        return "The semantic model has no `open_deals` metric (a count of open opportunities), so pipeline health is not shown."
    res = ctx.semantic(
        SemanticQuery(metrics=metrics, group_by=(sm.stages.dimension,), filters=(Filter(sm.stages.dimension, tuple(open_stages)),), order=(OrderBy(sm.stages.dimension, False),)),
        agent=AGENT,
        purpose="open pipeline by stage",
    )
    rows = [r for r in res.rows if r.get(sm.stages.dimension) is not None]
    total_n = sum(int(r["open_deals"] or 0) for r in rows)
    total_v = sum(float(r.get("pipeline_value") or 0) for r in rows) if "pipeline_value" in metrics else None
    ctx.computed("open pipeline totals", [total_n, total_v], "sum of open opportunities / pipeline value over the open stages")
    has_value = total_v is not None
    table = [[r[sm.stages.dimension], fmt_count(r["open_deals"])] + ([fmt_usd(r["pipeline_value"])] if has_value else []) for r in rows]
    table.append(["**Total**", fmt_count(total_n)] + ([fmt_usd(total_v)] if has_value else []))
    headers = ["Stage", "Open opportunities"] + ([sm.metric_label("pipeline_value")] if has_value else [])
    return render_answer("brief_pipeline", {"table": md_table(headers, table), "ref": res.citation, "total": fmt_count(total_n), "value": fmt_usd(total_v) if has_value else ""})


def _forecast(ctx: RunContext) -> str:
    result = forecast.answer(ctx, "forecast for this quarter", previous={})
    return _demote(result.markdown, drop=("Forecast categories", "Deals that decide the gap"))


def _stalled(ctx: RunContext, actions: list[str]) -> str:
    result = deal.at_risk_deals(ctx, limit=TOP)
    count = int(result.entities.get("at_risk_deals") or 0)
    if count:
        rules = ctx.rules("deal_risks", agent=AGENT)
        text = str((rules.get("actions") or {}).get("stalled_in_stage") or "")
        if text:
            actions.append(f"**Stalled deals** ({fmt_count(count)}): {text} [{ctx.rule_refs['deal_risks']}]")
    return _demote(result.markdown)


def _risk(ctx: RunContext, actions: list[str], entities: dict) -> str:
    rules = churn_rules(ctx, agent=AGENT)
    data = account_data_load(ctx, rules, agent=AGENT)
    scores = sorted((s for s in (churn_score(f, data, rules, ctx.as_of) for f in data.accounts.values()) if s.score is not None), key=lambda s: (-s.score, s.account))
    if not scores:
        return "No account could be scored: no churn signal with weight has data for this tenant."
    bands = Counter(s.band for s in scores)
    ctx.computed("accounts by churn band", [len(scores), *bands.values()], "count of scored accounts per band")
    rows = []
    for i, s in enumerate(scores[:TOP], 1):
        driver = s.drivers(1)[0][0] if s.drivers(1) else None
        ctx.computed(f"churn risk {s.account}", [s.score, *[round(sig.risk) for sig in s.signals]], "churn document: sum(weight x signal risk) over available signals")
        ctx.sources.add([sig.detail for sig in s.signals])
        rows.append([i, s.account, s.segment, s.score, s.band, f"{driver.name}: {driver.detail}" if driver else "n/a", rules.interventions.get(driver.name, "none in the churn document") if driver else "n/a"])
    top = scores[0]
    driver = top.drivers(1)[0][0] if top.drivers(1) else None
    if driver and rules.interventions.get(driver.name):
        actions.append(f"**{top.account}** (churn risk {top.score}, {top.band}): {rules.interventions[driver.name]} [{ctx.rule_refs['churn']}]")
    entities["churn_ranking"] = [s.account for s in scores[:TOP]]
    refs = ", ".join(f"[{r}]" for r in dict.fromkeys(v for k, v in data.refs.items() if k not in ("products", "products_bought")))
    order = [b.label for b in rules.bands]
    return render_answer(
        "brief_risk",
        {
            "n": len(rows), "scored": len(scores), "refs": refs, "rules_ref": ctx.rule_refs["churn"],
            "bands": ", ".join(f"{b} {bands[b]}" for b in order if b in bands),
            "table": md_table(["#", "Account", "Segment", "Churn risk", "Band", "Top driver", "Intervention"], rows),
        },
    )


def _wins_losses(ctx: RunContext, start: dt.date, end: dt.date, window_text: str) -> str:
    sm = ctx.semantic_model(agent=AGENT)
    won, lost = sm.stage_values("won"), sm.stage_values("lost")
    fields = tuple(f for f in ("opportunity", "account", "owner", "product", "amount", "list_price", "close_date", sm.stages.dimension) if sm.has_dimension(f))
    fields = tuple(dict.fromkeys(fields))
    if "close_date" not in fields:
        return "The semantic model declares no `close_date` dimension, so wins and losses cannot be placed in a window."
    rows, refs = rows_all(
        ctx,
        SemanticQuery(
            fields=fields,
            filters=(Filter(sm.stages.dimension, tuple(won) + tuple(lost)),),
            period=TimeRange(start, end, window_text, time_dimension="close_date"),
            order=(OrderBy("opportunity", False),),
        ),
        agent=AGENT,
        purpose=f"won and lost opportunities closed {start.isoformat()} to {end.isoformat()}",
    )
    stage = sm.stages.dimension
    wins = sorted((r for r in rows if r[stage] in won), key=lambda r: (-float(r.get("amount") or 0), str(r.get("opportunity"))))
    losses = sorted((r for r in rows if r[stage] in lost), key=lambda r: (-float(r.get("list_price") or 0), str(r.get("opportunity"))))
    has_amount = "amount" in fields
    # Wins without an amount add nothing to the total; they are counted and named as left out.
    won_total, won_no_amount = forecast.closed_won_sum(wins) if has_amount else (None, len(wins))
    lost_list = sum(float(r.get("list_price") or 0) for r in losses)
    ctx.computed("wins and losses", [len(wins), won_total, len(losses), lost_list, won_no_amount], "won deals / sum of amount / lost deals / sum of list price / won deals without an amount")

    def row(r: dict, value: str | None) -> list:
        cells = [r.get("opportunity"), r.get("account") or "(no account)", r.get("owner") or "n/a", r.get("product") or "n/a"]
        return cells + ([fmt_usd(r.get(value))] if value else []) + [as_date(r.get("close_date")).isoformat()]

    return render_answer(
        "brief_wins_losses",
        {
            "window": window_text, "start": start.isoformat(), "end": end.isoformat(), "refs": ", ".join(str(r) for r in refs),
            "wins": fmt_count(len(wins)), "won_total": fmt_usd(won_total) if has_amount else "", "losses": fmt_count(len(losses)), "lost_list": fmt_usd(lost_list),
            "has_amount": has_amount, "won_no_amount": fmt_count(won_no_amount) if has_amount and won_no_amount else "",
            "has_list": "list_price" in fields,
            "win_table": md_table(["Opportunity", "Account", "Owner", "Product", *(["Amount"] if has_amount else []), "Closed"], [row(r, "amount" if has_amount else None) for r in wins[:TOP]]) if wins else "",
            "loss_table": md_table(["Opportunity", "Account", "Owner", "Product", "List price", "Closed"], [row(r, "list_price") for r in losses[:TOP]]) if losses else "",
            "top": TOP,
        },
    )


def _competitors(ctx: RunContext, actions: list[str]) -> str:
    sm = ctx.semantic_model(agent=AGENT)
    missing = [d for d in ("note_text", "note_date") if not sm.has_dimension(d)]
    if missing:
        return f"This tenant's semantic model declares no call-notes entity ({', '.join(missing)} missing), so competitor mentions cannot be counted."
    params = ctx.rules("competitors", agent=AGENT)
    raw = params.model_dump(exclude_unset=True) if hasattr(params, "model_dump") else dict(params or {})
    names = [str(c) for c in raw.get("competitors") or []]
    if not names:
        return f"The competitors document [{ctx.rule_refs['competitors']}] lists no competitor names, so nothing was counted."
    as_of = ctx.as_of
    recent_start = as_of - dt.timedelta(days=TREND_DAYS - 1)
    before_start = recent_start - dt.timedelta(days=TREND_DAYS)
    before_end = recent_start - dt.timedelta(days=1)
    ctx.computed("trend windows", [recent_start, as_of, before_start, before_end], "last window start/end, window before start/end")
    res = ctx.semantic(
        SemanticQuery(fields=("note_date", "note_text"), filters=(Filter("note_text", tuple(names), "contains"),), period=TimeRange(before_start, as_of, "trend windows", time_dimension="note_date")),
        agent=AGENT,
        purpose=f"call notes naming a competitor, {before_start.isoformat()} to {as_of.isoformat()}",
    )
    recent, before = Counter(), Counter()
    for r in res.rows:
        day = as_date(r["note_date"])
        bucket = recent if day >= recent_start else before
        for name in N.competitors_in(str(r["note_text"] or ""), names):
            bucket[name] += 1
    rows = []
    for name in sorted(names, key=lambda n: (-recent[n], -before[n], n)):
        change = recent[name] - before[name]
        rows.append([name, recent[name], before[name], f"{change:+d}"])
        ctx.computed(f"change in mentions of {name}", [change, f"{change:+d}"], "last window - window before")
    ctx.computed("competitor mentions per window", [[recent[n], before[n]] for n in names], "notes naming the competitor, last window / window before")
    ctx.computed("competitor mention totals", [sum(recent.values()), sum(before.values()), len(res.rows)], "mentions last window / before / notes returned")
    if sum(recent.values()):
        when = str(raw.get("when_present") or "")
        if when:
            leader = rows[0][0]
            actions.append(f"**Competitors present** ({leader} most mentioned recently): {when} [{ctx.rule_refs['competitors']}]")
    return render_answer(
        "brief_competitors",
        {
            "days": TREND_DAYS, "recent": f"{recent_start.isoformat()} to {as_of.isoformat()}", "before": f"{before_start.isoformat()} to {before_end.isoformat()}",
            "ref": res.citation, "kb_ref": ctx.rule_refs["competitors"], "truncated": res.truncated,
            "recent_total": sum(recent.values()), "before_total": sum(before.values()),
            "table": md_table(["Competitor", "Last window", "Window before", "Change"], rows),
        },
    )


# -- alerts ---------------------------------------------------------------------------------------
def _account_owners(ctx: RunContext, accounts: list[str]) -> tuple[dict[str, str], int | None]:
    """{account: the sales agent owning most of its opportunities (ties: alphabetical)} for
    ``accounts``, cited; empty when the model has no owner dimension or opportunities metric."""
    sm = ctx.semantic_model(agent=AGENT)
    if not (sm.has_dimension("owner") and "opportunities" in sm.metrics):
        return {}, None
    res = ctx.semantic(
        SemanticQuery(metrics=("opportunities",), group_by=("account", "owner"), filters=(Filter("account", tuple(accounts)),)),
        agent=AGENT,
        purpose="opportunities per account and owner (account owner attribution)",
    )
    best: dict[str, tuple[int, str]] = {}
    for r in res.rows:
        if r["account"] is None or r["owner"] is None:
            continue
        key = (-(r["opportunities"] or 0), str(r["owner"]))
        if r["account"] not in best or key < best[r["account"]]:
            best[r["account"]] = key
    return {a: k[1] for a, k in best.items()}, res.citation


def alerts_answer(ctx: RunContext) -> SpecialistAnswer:
    """Deals and accounts above their KB alert thresholds at the as-of date.

    - deal: an open opportunity engaged more than ``deal_risks.thresholds.stalled_in_stage_days``
      days before the as-of date (value: days in stage); threshold key ``stalled_in_stage_days>N``;
    - account: churn risk in the churn document's highest band (value: churn risk 0-100);
      threshold key ``churn_band>=<label>``; owner: the sales agent with most of its opportunities.

    Entities: ``{"alerts": {"evaluated": [[kind, threshold], ...], "items": [{"kind", "key",
    "threshold", "value", "owner", "label"}, ...]}}`` for :func:`agents.alerts.alerts_record`.
    """
    sm = ctx.semantic_model(agent=AGENT)
    items: list[dict] = []
    evaluated: list[list[str]] = []
    lines: list[str] = []
    as_of = ctx.as_of
    try:
        risks = ctx.rules("deal_risks", agent=AGENT)
        days = int((risks.get("thresholds") or {}).get("stalled_in_stage_days") or 0)
        if days:
            threshold = f"stalled_in_stage_days>{days}"
            cutoff = as_of - dt.timedelta(days=days)
            fields = tuple(f for f in ("opportunity", "account", "owner", "engage_date") if sm.has_dimension(f))
            rows, refs = rows_all(
                ctx,
                SemanticQuery(fields=fields, filters=(Filter(sm.stages.dimension, tuple(sm.stage_values("open"))),), period=TimeRange(_EPOCH, cutoff - dt.timedelta(days=1), f"engaged before {cutoff.isoformat()}", time_dimension="engage_date"), order=(OrderBy("opportunity", False),)),
                agent=AGENT,
                purpose=f"open opportunities stalled more than {days} days",
            )
            for r in rows:
                age = ctx.computed(f"days in stage {r['opportunity']}", (as_of - as_date(r["engage_date"])).days, "as-of date - engage date")
                items.append({"kind": "deal", "key": str(r["opportunity"]), "threshold": threshold, "value": age, "owner": r.get("owner") or "", "label": f"{r['opportunity']} ({r.get('account') or 'no account'}): {age} days in stage"})
            evaluated.append(["deal", threshold])
            ctx.computed("stalled deals", len(rows), f"open deals engaged before {cutoff.isoformat()}")
            lines.append(f"- **{fmt_count(len(rows))} open deals** have been in stage more than {days} days (deal risk warnings [{ctx.rule_refs['deal_risks']}]) [{', '.join(map(str, refs))}].")
    except (ToolError, SemanticQueryError) as exc:
        lines.append(f"- Stalled deals were not evaluated: {exc}.")
    try:
        rules = churn_rules(ctx, agent=AGENT)
        top_band = rules.bands[-1]
        floor = rules.bands[-2].max + 1 if len(rules.bands) > 1 else 0
        threshold = f"churn_band>={top_band.label}"
        data = account_data_load(ctx, rules, agent=AGENT)
        above = [s for s in (churn_score(f, data, rules, as_of) for f in data.accounts.values()) if s.score is not None and s.score >= floor]
        above.sort(key=lambda s: (-s.score, s.account))
        owners, owner_ref = _account_owners(ctx, [s.account for s in above]) if above else ({}, None)
        for s in above:
            items.append({"kind": "account", "key": s.account, "threshold": threshold, "value": s.score, "owner": owners.get(s.account, ""), "label": f"{s.account}: churn risk {s.score} ({s.band})"})
        evaluated.append(["account", threshold])
        ctx.computed("accounts in the top churn band", [len(above), floor], f"accounts with churn risk >= {floor}")
        owner_text = f"; owner: the sales agent with most of the account's opportunities [{owner_ref}]" if owner_ref else ""
        lines.append(f"- **{fmt_count(len(above))} accounts** have churn risk in the {top_band.label} band ({floor:g}-{top_band.max:g}, churn document [{ctx.rule_refs['churn']}]){owner_text}.")
    except (ToolError, SemanticQueryError) as exc:
        lines.append(f"- Account churn risk was not evaluated: {exc}.")
    shown = [[i["kind"], i["label"], i["owner"] or "n/a"] for i in items[:20]]
    more = ctx.computed("alerts not listed", max(0, len(items) - 20))
    context = {"as_of": as_of.isoformat(), "lines": lines, "table": md_table(["Kind", "Entity", "Owner"], shown) if shown else "", "more": more}
    return SpecialistAnswer(AGENT, render_answer("brief_alerts", context), {"alerts": {"evaluated": evaluated, "items": items}})
