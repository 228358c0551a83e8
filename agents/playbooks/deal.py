"""Deal analysis: status, MEDDPICC evidence and gaps, health score and risk warnings for an
account's opportunities, in the Dry Numbers / Bottom Line / Risks and Opportunities format.

Rules come from the tenant's KB (``rule_set`` documents: deal_stages, deal_health, deal_risks,
competitors); data from the warehouse through the semantic model. Call-note evidence beats the
CRM stage when they conflict (DESIGN.md §4).
"""

from __future__ import annotations

import datetime as dt
import re

from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.evidence import find_evidence, phrases_found
from agents.playbooks.formatting import fmt_count, fmt_usd
from agents.playbooks.render import render_answer
from agents.runtime.context import QueryResult, RunContext, ToolError
from agents.runtime.entities import find_name
from agents.semantic.query import Filter, OrderBy, SemanticQuery, TimeRange

AGENT = "deal_analysis"
ELEMENT_LABELS = {
    "metrics": "Metrics",
    "economic_buyer": "Economic buyer",
    "decision_criteria": "Decision criteria",
    "decision_process": "Decision process",
    "paper_process": "Paper process",
    "identify_pain": "Identify pain",
    "champion": "Champion",
    "competition": "Competition",
}
# Dimensions of the semantic model the deal card reads (names, not columns: the tenant's model
# maps them to its warehouse). Optional ones degrade to "n/a" with a sentence saying so.
OPPORTUNITY_FIELDS = ("opportunity", "stage", "owner", "product", "list_price", "amount", "engage_date", "close_date", "office")
REQUIRED_OPPORTUNITY_FIELDS = ("opportunity", "stage", "account")
FIRM_FIELDS = ("sector", "employees", "revenue_musd")


def account_names(ctx: RunContext, *, agent: str) -> QueryResult:
    """All account names of the warehouse (one query, cited), for fuzzy name resolution. Rows
    ``{"name": ...}``; raises ToolError when the semantic model has no ``account`` dimension."""
    model = ctx.semantic_model(agent=agent)
    if not model.has_dimension("account"):
        raise ToolError("the semantic model has no 'account' dimension, so accounts cannot be named")
    res = ctx.rows_where(["account"], agent=agent, purpose="account names for name resolution", order=[("account", False)])
    res.rows = [{"name": r["account"]} for r in res.rows if r["account"] is not None]
    return res


def as_date(value):
    """A date for a date or timestamp column value (warehouses differ: Salesforce's CreatedDate is a
    timestamp); None stays None."""
    return value.date() if isinstance(value, dt.datetime) else value


def _present(ctx: RunContext, fields: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(fields the tenant's model declares, fields it lacks)."""
    model = ctx.semantic_model(agent=AGENT)
    return [f for f in fields if model.has_dimension(f)], [f for f in fields if not model.has_dimension(f)]


def resolve_account(ctx: RunContext, query: str, *, agent: str, previous: dict) -> tuple[str | None, int]:
    """Find the account named in ``query`` (fuzzy) among the warehouse's accounts; falls back to the
    account an earlier run of the conversation resolved. Returns (name or None, citation ref)."""
    res = account_names(ctx, agent=agent)
    match = find_name(query, [r["name"] for r in res.rows])
    if match:
        return match.name, res.citation
    if previous.get("account") in {r["name"] for r in res.rows}:
        return previous["account"], res.citation
    return None, res.citation


def answer(ctx: RunContext, query: str, *, previous: dict) -> SpecialistAnswer:
    """Analyse the deals of the account named in the question. Raises ToolError on tool failures."""
    account, names_ref = resolve_account(ctx, query, agent=AGENT, previous=previous)
    if account is None and re.search(r"at[- ]risk|risky|stalled|stuck|slipping", query, re.I):
        return at_risk_deals(ctx)
    if account is None:
        return SpecialistAnswer(AGENT, render_answer("deal_no_account", {"names_ref": names_ref}))
    stages_kb = ctx.rules("deal_stages", agent=AGENT, sections=("Stage gates", "Evidence"))
    health_kb = ctx.rules("deal_health", agent=AGENT, sections=("Bands",))
    risks_kb = ctx.rules("deal_risks", agent=AGENT)
    competitors_kb = ctx.rules("competitors", agent=AGENT)
    sm = ctx.semantic_model(agent=AGENT)
    missing_required = [f for f in REQUIRED_OPPORTUNITY_FIELDS if not sm.has_dimension(f)]
    if missing_required:
        raise ToolError(f"the semantic model lacks the dimension(s) {', '.join(missing_required)} a deal analysis needs")
    firm_fields, firm_missing = _present(ctx, FIRM_FIELDS)
    firm = ctx.rows_where(firm_fields or ["account"], agent=AGENT, purpose="account firmographics", filters={"account": account})
    opp_fields, opp_missing = _present(ctx, OPPORTUNITY_FIELDS)
    order = [("engage_date", True)] if "engage_date" in opp_fields else []
    opps = ctx.rows_where(opp_fields, agent=AGENT, purpose=f"opportunities of {account}", filters={"account": account}, order=order + [("opportunity", False)])
    for r in opps.rows:
        r["id"] = r.pop("opportunity")
        for name in ("engage_date", "close_date"):
            r[name] = as_date(r.get(name))
        for name in opp_missing:
            r[name] = None
    if not sm.call_notes_missing():
        notes_res = ctx.call_notes(account, agent=AGENT)
        notes = notes_res.rows
        for n in notes:
            n["date"] = as_date(n.get("date"))
    else:
        notes_res, notes = None, []  # the layout says evidence, activity and contacts could not be checked
    open_v, won_v, lost_v = set(sm.stage_values("open")), set(sm.stage_values("won")), set(sm.stage_values("lost"))
    open_deals = [r for r in opps.rows if r["stage"] in open_v]
    won = [r for r in opps.rows if r["stage"] in won_v]
    lost = [r for r in opps.rows if r["stage"] in lost_v]
    stage_map: dict = stages_kb.get("crm_stage_map", {})
    gates: dict = stages_kb.get("stages", {})
    phrases: dict = stages_kb.get("evidence_phrases", {})
    stage_order = list(gates)  # the KB document lists its methodology stages in order
    as_of = ctx.as_of

    # MEDDPICC evidence from call notes (account level: the notes are per account and contact).
    notes_ref = notes_res.citation if notes_res else "no call notes"
    evidence = {el: find_evidence(notes, phrases.get(el, []), element=el) for el in ELEMENT_LABELS}
    have = {el for el, ev in evidence.items() if ev}

    # Per open deal: methodology stage, probability, expected amount (list price), days in stage.
    rows, weighted, list_total, priced_by_list = [], 0.0, 0.0, 0
    for d in open_deals:
        method = stage_map.get(d["stage"], d["stage"])
        prob = (gates.get(method) or {}).get("probability")
        # Expected value: the deal's amount when the CRM has one, else its product's list price.
        price = float(d["amount"] if d.get("amount") is not None else d["list_price"] or 0)
        priced_by_list += d.get("amount") is None
        list_total += price
        if prob is not None:
            weighted += price * prob / 100
        # The warehouse is today's snapshot: a deal engaged after the as-of date has no age yet.
        days = (as_of - d["engage_date"]).days if d["engage_date"] and d["engage_date"] <= as_of else None
        rows.append((d, method, prob, days))
    # The most advanced CRM stage among open deals sets the gate to check.
    crm_method = max((m for _, m, _, _ in rows if m in stage_order), key=stage_order.index, default=None)
    # Gates are cumulative: a stage requires its own elements and those of every earlier stage.
    def cumulative(stage: str) -> list[str]:
        out: list[str] = []
        for s in stage_order[: stage_order.index(stage) + 1]:
            out += [el for el in (gates.get(s) or {}).get("requires", []) if el not in out]
        return out

    required = cumulative(crm_method) if crm_method else []
    gaps = [el for el in required if el not in have]
    evidence_stage = None
    for stage in stage_order:
        if all(el in have for el in cumulative(stage)):
            evidence_stage = stage
        else:
            break

    # Activity facts.
    completed = [x for x in notes if (x["status"] or "").lower() == "completed" and x["date"] and x["date"] <= as_of]
    last_completed = completed[0]["date"] if completed else None
    days_since = (as_of - last_completed).days if last_completed else None
    contacts = sorted({x["contact"] for x in notes if x["contact"]})
    last_note = next((x for x in notes if x["date"] and x["date"] <= as_of), None)
    scheduled_after = [x for x in notes if (x["status"] or "").lower() == "scheduled" and x["date"] and (last_completed is None or x["date"] > last_completed)]

    # Health score (KB: four dimensions x 25 points, 25 x found/listed).
    signal_phrases = health_kb.get("signal_phrases", {})
    recent_days = int(health_kb.get("recent_activity_days", 30))
    signals = {
        "recent_activity": days_since is not None and days_since <= recent_days,
        "multi_threaded": len(contacts) > 1,
        "next_meeting_scheduled": bool(scheduled_after),
        **{el: el in have for el in ELEMENT_LABELS},
        **{name: bool(phrases_found(notes, ph)) for name, ph in signal_phrases.items()},
    }
    dims = []
    for key, spec in (health_kb.get("dimensions") or {}).items():
        listed = spec.get("signals", [])
        found = [s for s in listed if signals.get(s)]
        dims.append((spec.get("label", key), round(25 * len(found) / len(listed)) if listed else 0, found, listed))
    health = sum(d[1] for d in dims)
    band = next((b["label"] for b in sorted(health_kb.get("bands", []), key=lambda b: -b["min"]) if health >= b["min"]), "n/a")

    # Risk warnings (KB thresholds, days).
    th = risks_kb.get("thresholds", {})
    risks: list[dict] = []  # each {"kind": ..., facts...}; layout answers/_deal_risk.md words them
    if open_deals and (days_since is None or days_since > th.get("no_activity_days", 30)):
        risks.append({
            "kind": "no_activity", "last": last_completed.isoformat() if last_completed else "", "days": days_since,
            "as_of": as_of.isoformat(), "threshold": th.get("no_activity_days", 30), "ref": notes_ref,
        })
    if last_note and (last_note["status"] or "").lower() == "scheduled" and (as_of - last_note["date"]).days > th.get("ghosted_days", 21):
        risks.append({"kind": "ghosted", "date": last_note["date"].isoformat(), "contact": last_note["contact"], "days": (as_of - last_note["date"]).days, "ref": notes_ref})
    if len(contacts) <= th.get("single_threaded_max_contacts", 1):
        risks.append({"kind": "single_threaded", "contacts": len(contacts), "who": contacts[0] if contacts else "nobody", "ref": notes_ref})
    if "economic_buyer" not in have:
        risks.append({"kind": "no_economic_buyer", "notes": len(notes), "ref": notes_ref})
    stalled = [r for r in rows if r[3] is not None and r[3] > th.get("stalled_in_stage_days", 90)]
    if stalled:
        risks.append({"kind": "stalled", "stalled": len(stalled), "open": len(open_deals), "threshold": th.get("stalled_in_stage_days", 90), "ref": opps.citation})
    comp_names = phrases_found(notes, [str(c) for c in competitors_kb.get("competitors", [])])
    if comp_names:
        risks.append({"kind": "competitor", "names": ", ".join(comp_names), "ref": notes_ref})
    elif evidence["competition"]:
        risks.append({"kind": "competitor", "names": "", "date": str(evidence["competition"].date), "ref": notes_ref})

    opportunities: list[dict] = []  # layout answers/_deal_opportunity.md words them
    if won:
        opportunities.append({"kind": "expansion", "won": len(won), "value": fmt_usd(sum(float(w["amount"] or 0) for w in won)), "ref": opps.citation})
    if evidence["identify_pain"]:
        ev = evidence["identify_pain"]
        opportunities.append({"kind": "pain", "contact": ev.contact, "date": str(ev.date), "snippet": ev.snippet, "ref": notes_ref})
    if evidence["champion"]:
        ev = evidence["champion"]
        opportunities.append({"kind": "champion", "contact": ev.contact, "date": str(ev.date), "ref": notes_ref})
    elif len(notes) >= 5:
        opportunities.append({"kind": "engaged", "notes": len(notes), "ref": notes_ref})

    # Derived figures, declared so the grounding check can trace them (formulas in the step).
    won_total = ctx.computed("won amount", sum(float(w["amount"] or 0) for w in won), "sum of amount over won opportunities")
    ctx.computed("opportunity counts", [len(open_deals), len(won), len(lost)], "open / won / lost")
    ctx.computed("open pipeline value", list_total, "sum over open opportunities of the amount, or the list price where there is no amount")
    ctx.computed("weighted pipeline", weighted, "sum of list price x stage probability / 100")
    ctx.computed("days in stage", [r[3] for r in rows if r[3] is not None], "as-of date - engage date")
    ctx.computed("activity", [days_since, len(contacts), len(notes), len(stalled)], "days since last completed interaction, contacts, notes, stalled deals")
    ctx.computed("last note age", (as_of - last_note["date"]).days if last_note else None, "as-of date - last note date")
    ctx.computed("deal health", [health] + [d[1] for d in dims], "sum of 25 x found/listed per dimension")
    ctx.computed("warnings not shown", max(0, len(risks) - 3))

    # --- present (layout answers/deal_status.md) ---------------------------------------------
    f = firm.rows[0] if firm.rows else {}
    conflict = None
    if open_deals and crm_method and evidence_stage != crm_method and (evidence_stage is None or stage_order.index(evidence_stage) < stage_order.index(crm_method)):
        conflict = {"crm_stage": crm_method, "evidence_stage": evidence_stage or "", "gaps": [ELEMENT_LABELS[g] for g in gaps]}
    context = {
        "account": account,
        "sector": f.get("sector") or "",
        "employees": str(f.get("employees") or ""),
        "firm_ref": firm.citation,
        "opps_ref": opps.citation,
        "open": len(open_deals),
        "won": len(won),
        "won_value": fmt_usd(won_total),
        "lost": len(lost),
        "pipeline": fmt_usd(list_total),
        "valued_by": {"by_list_price": priced_by_list, "total": len(open_deals)},
        "weighted": fmt_usd(weighted),
        "owners": sorted({d["owner"] for d in open_deals if d["owner"]}),
        "deals": [
            [d["id"], d["product"] or "n/a", d["stage"], f"{m} ({prob}%)" if prob is not None else m, fmt_usd(d["list_price"]), d["owner"],
             d["engage_date"].isoformat() if d["engage_date"] else "not engaged",
             days if days is not None else ("after as-of" if d["engage_date"] else "n/a")] for d, m, prob, days in rows
        ],
        "health": health,
        "band": band,
        "dimensions": [{"label": label, "score": score} for label, score, _, _ in dims],
        "gate_stage": crm_method if required else "",
        "required": [ELEMENT_LABELS[e] for e in required],
        "evidence": [
            [label, f"“{evidence[el].phrase}”" if evidence[el] else "gap", f"{evidence[el].contact}, {evidence[el].date}" if evidence[el] else "-"]
            for el, label in ELEMENT_LABELS.items()
        ],
        "conflict": conflict,
        "risks": risks[:3],
        "more_risks": risks[3:],
        "opportunities": opportunities[:3],
        "refs": {name: ctx.rule_refs[name] for name in ("deal_stages", "deal_health", "deal_risks", "competitors")},
        "missing_fields": opp_missing + firm_missing,
        "no_call_notes": notes_res is None,
    }
    entities = {"account": account, "open_opportunities": len(open_deals), "health": health}
    return SpecialistAnswer(AGENT, render_answer("deal_status", context), entities)


def at_risk_deals(ctx: RunContext, *, limit: int = 15) -> SpecialistAnswer:
    """Pipeline-wide: open opportunities stalled in stage longer than the KB threshold (days since
    engage date at the as-of date), longest first, with owner and list price (USD)."""
    risks_kb = ctx.rules("deal_risks", agent=AGENT)
    days = int((risks_kb.get("thresholds") or {}).get("stalled_in_stage_days", 90))
    sm = ctx.semantic_model(agent=AGENT)
    cutoff = ctx.computed("stalled cutoff", ctx.as_of - dt.timedelta(days=days), f"as-of date - {days} days")
    engaged_before = TimeRange(dt.date(1900, 1, 1), cutoff - dt.timedelta(days=1), f"engaged before {cutoff.isoformat()}", time_dimension="engage_date")
    open_stages = sm.stage_values("open")  # raises SemanticModelInvalid, reported by the supervisor, without stages
    is_open = Filter(sm.stages.dimension, tuple(open_stages))
    metrics = tuple(m for m in ("open_deals", "pipeline_value") if m in sm.metrics)
    if "open_deals" not in metrics:
        raise ToolError("the semantic model has no 'open_deals' metric (a count of open opportunities)")
    totals = ctx.semantic(SemanticQuery(metrics=metrics, filters=(is_open,), period=engaged_before), agent=AGENT, purpose="stalled open opportunities: totals")
    fields, missing = _present(ctx, ("opportunity", "account", "owner", "product", "list_price", "engage_date"))
    top = ctx.semantic(
        SemanticQuery(fields=tuple(fields), filters=(is_open,), period=engaged_before, order=(OrderBy("engage_date", False), OrderBy("opportunity", False)), limit=limit),
        agent=AGENT,
        purpose="stalled open opportunities: longest in stage",
    )
    for r in top.rows:
        r["id"] = r.pop("opportunity", None)
        r["engage_date"] = as_date(r.get("engage_date"))
        for name in missing:
            r[name] = None
    t = totals.rows[0]
    ages = ctx.computed("days in stage", [(ctx.as_of - r["engage_date"]).days for r in top.rows], "as-of date - engage date")
    ctx.computed("rows shown", len(top.rows))
    context = {
        "count": fmt_count(t["open_deals"]),
        "days": days,
        "rules_ref": ctx.rule_refs["deal_risks"],
        "cutoff": cutoff.isoformat(),
        "value": fmt_usd(t["pipeline_value"]) if "pipeline_value" in t else "",
        "value_label": sm.metric_label("pipeline_value") if "pipeline_value" in t else "",
        "totals_ref": totals.citation,
        "shown": len(top.rows),
        "top_ref": top.citation,
        "deals": [
            [r["id"], r["account"] or "(no account)", r["owner"], r["product"], fmt_usd(r["list_price"]), r["engage_date"].isoformat(), a]
            for r, a in zip(top.rows, ages)
        ],
    }
    return SpecialistAnswer(AGENT, render_answer("deal_at_risk", context), {"at_risk_deals": t["open_deals"]})
