"""Lead analysis: ICP fit for a contact at an account, engagement from call notes, an opening
question. Formula and weights come from the tenant's ICP document (``rule_set: icp``)."""

from __future__ import annotations

import re

from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.deal import account_names
from agents.playbooks.evidence import phrases_found
from agents.playbooks.formatting import fmt_musd
from agents.playbooks.render import render_answer
from agents.runtime.context import RunContext, ToolError
from agents.runtime.entities import closest, find_name
from agents.semantic.query import Filter, SemanticQuery

FIRM_FIELDS = ("sector", "employees", "revenue_musd", "headquarters", "year_established")

AGENT = "lead_analysis"


def answer(ctx: RunContext, query: str, *, person: str | None, company: str | None, previous: dict) -> SpecialistAnswer:
    """Assess ``person`` (from the router, else the question) at ``company``. Raises ToolError."""
    icp = ctx.rules("icp", agent=AGENT, sections=("Formula",))
    sm = ctx.semantic_model(agent=AGENT)
    if not sm.call_notes_missing():
        people = ctx.semantic(
            SemanticQuery(metrics=("call_notes",), group_by=("note_contact", "account")),
            agent=AGENT,
            purpose="contacts in call notes for name resolution",
        )
        people.rows = [{"contact": r["note_contact"], "account": r["account"], "notes": r["call_notes"]} for r in people.rows if r["note_contact"]]
    else:
        people = None  # the layouts say the contact could not be looked up
    accounts = account_names(ctx, agent=AGENT)
    account_match = find_name(company or query, [r["name"] for r in accounts.rows])
    if people is None:
        if account_match is None:
            return SpecialistAnswer(AGENT, render_answer("lead_not_found", {"no_account_no_notes": True, "ref": accounts.citation}))
        people_rows: list[dict] = [{"contact": person or "the contact", "account": account_match.name, "notes": 0}]
    else:
        people_rows = people.rows
    candidates = [r for r in people_rows if not account_match or r["account"] == account_match.name]
    person_match = closest(person, [r["contact"] for r in candidates]) if person else find_name(query, [r["contact"] for r in candidates])
    if person_match is None and account_match and person:
        # Not at the named company: say where that name does appear instead of moving the person.
        elsewhere = closest(person, [r["contact"] for r in people_rows])
        if elsewhere:
            accounts_of = sorted({r["account"] for r in people_rows if r["contact"] == elsewhere.name})
            context = {"person": person, "account": account_match.name, "ref": people.citation if people else accounts.citation, "elsewhere": elsewhere.name, "elsewhere_accounts": accounts_of}
            return SpecialistAnswer(AGENT, render_answer("lead_not_found", context))
    if person_match is None:
        context = {"person": person or "", "account": account_match.name if account_match else "", "ref": people.citation if people else accounts.citation}
        return SpecialistAnswer(AGENT, render_answer("lead_not_found", context))
    contact = person_match.name
    account = account_match.name if account_match else next(r["account"] for r in people_rows if r["contact"] == contact)

    if sm.stages is None:
        raise ToolError("the semantic model declares no stage semantics (which stages are open, won, lost)")
    stage_dim = sm.stages.dimension
    firm_fields = [x for x in FIRM_FIELDS if sm.has_dimension(x)]
    firm = ctx.rows_where(firm_fields or ["account"], agent=AGENT, purpose=f"firmographics of {account}", filters={"account": account})
    notes_res = ctx.call_notes(account, contact=contact, agent=AGENT, purpose=f"call notes with {contact}") if people is not None else None
    notes_ref = notes_res.citation if notes_res else "no call notes"
    deals = ctx.semantic(
        SemanticQuery(metrics=("opportunities",), group_by=(stage_dim,), filters=(Filter("account", (account,)),)),
        agent=AGENT,
        purpose=f"opportunities of {account} by stage",
    )
    deals.rows = [{"stage": r[stage_dim], "opportunities": r["opportunities"]} for r in deals.rows]
    f = firm.rows[0] if firm.rows else {}
    notes = notes_res.rows if notes_res else []

    # Company score: mean of industry score and employee-band score (ICP document).
    sector_raw = (f.get("sector") or "").strip().lower()
    sector = (icp.get("industry_aliases") or {}).get(sector_raw, sector_raw)
    industries = icp.get("industries") or {}
    industry_score = float(industries[sector]) if sector in industries else (0.0 if sector else None)
    band = None
    if f.get("employees") is not None:
        band = next((b for b in sorted(icp.get("employee_bands", []), key=lambda b: -b["min"]) if f["employees"] >= b["min"]), None)
    parts_company = [x for x in (industry_score, band["score"] if band else None) if x is not None]
    company_score = sum(parts_company) / len(parts_company) if parts_company else None
    # Authority: the semantic model has no title column for contacts -> unknown, not guessed.
    title = None
    authority_score = None
    # Technical signals: distinct technical phrases in this contact's notes, 3 = full score.
    tech_found = phrases_found(notes, icp.get("technical_phrases", []))
    technical_score = min(1.0, len(tech_found) / 3) if notes else None

    weights = icp.get("weights", {})
    known = {k: v for k, v in {"company": company_score, "authority": authority_score, "technical": technical_score}.items() if v is not None}
    weight_sum = sum(float(weights.get(k, 0)) for k in known)
    fit = sum(float(weights.get(k, 0)) * v for k, v in known.items()) / weight_sum if weight_sum else None
    fit_label = next((b["label"] for b in sorted(icp.get("fit_bands", []), key=lambda b: -b["min"]) if fit is not None and fit >= b["min"]), "Unknown")
    completeness = sum(x is not None for x in (f.get("sector"), f.get("employees"), title, notes or None))
    confidence = "High" if completeness == 4 else "Medium" if completeness == 3 else "Low"

    ctx.computed("ICP scores", [company_score, industry_score, technical_score, fit], "company = mean(industry, employee band); fit = weighted mean of known parts")
    ctx.computed("inputs known", [completeness, 4], "of industry, head count, title, call notes")
    completed = [x for x in notes if (x["status"] or "").lower() == "completed"]
    meetings = sum(1 for x in notes if (x["activity_type"] or "").lower() == "meeting")
    first, last = (notes[-1]["date"], notes[0]["date"]) if notes else (None, None)
    open_deals = sum(r["opportunities"] for r in deals.rows if r["stage"] in sm.stage_values("open"))
    won_deals = sum(r["opportunities"] for r in deals.rows if r["stage"] in sm.stage_values("won"))
    ctx.computed("engagement counts", [len(notes), meetings, len(notes) - meetings, len(completed), open_deals, won_deals], "interactions, meetings, e-mails, completed, open and won opportunities")

    latest = notes[0] if notes else None
    context = {
        "contact": contact,
        "match": {"asked": person, "score": f"{person_match.score:.0f}"} if person_match.score < 99 else None,
        "account": account,
        "sector": f.get("sector") or "",
        "employees": str(f["employees"]) if f.get("employees") is not None else "n/a",
        "revenue": fmt_musd(f.get("revenue_musd")),
        "headquarters": f.get("headquarters") or "",
        "firm_ref": firm.citation,
        "interactions": len(notes),
        "meetings": meetings,
        "emails": len(notes) - meetings,
        "completed": len(completed),
        "first": first.isoformat() if first else "n/a",
        "last": last.isoformat() if last else "n/a",
        "notes_ref": notes_ref,
        "open_deals": open_deals,
        "won_deals": won_deals,
        "deals_ref": deals.citation,
        "fit_label": fit_label,
        "fit": f"{fit:.2f}" if fit is not None else "",
        "company": None if company_score is None else {
            "score": f"{company_score:.2f}",
            "industry": sector or "n/a",
            "industry_score": str(industry_score) if industry_score is not None else "n/a",
            "recorded_as": f.get("sector") if sector != sector_raw else None,
            "band": {"label": band["label"], "score": str(band["score"])} if band else None,
        },
        "technical": None if technical_score is None else {"score": f"{technical_score:.2f}", "found": tech_found},
        "formula": "" if fit is None else " + ".join(f"{float(weights.get(k, 0)):g} x {k}" for k in ("company", "authority", "technical")),
        "icp_ref": ctx.rule_refs["icp"],
        "confidence": confidence,
        "completeness": completeness,
        "opening": _opening_question(contact, account, notes),
        "latest": None if latest is None else {
            "date": str(latest["date"]), "type": latest["activity_type"], "status": latest["status"],
            "excerpt": re.sub(r"\s+", " ", latest["text"] or "")[:280],
        },
        "no_call_notes": people is None,
    }
    return SpecialistAnswer(AGENT, render_answer("lead", context), {"contact": contact, "account": account, "icp_fit": fit_label})


_THEMES = [
    ("integration", "integration", "how the integration with your current workflows is going, and what a seamless onboarding would need for your team"),
    ("onboarding", "onboarding", "what a smooth onboarding would need to cover for your team"),
    ("scalab", "scalability", "how you expect your needs to scale over the next year"),
    ("cost", "cost", "which costs you most want to bring down this year"),
    ("efficien", "efficiency", "where your team loses the most time today"),
    ("demo", "the demonstration", "what you would need to see to move forward"),
]


def _opening_question(contact: str, account: str, notes: list[dict]) -> dict:
    """The opening question's facts (layout ``answers/_lead_opening.md`` words it): the contact's
    first name, and the first theme (label, topic) found in the contact's five latest notes, or
    the account when no theme recurs. No invented facts."""
    first_name = contact.split()[0]
    blob = " ".join((n.get("text") or "").lower() for n in notes[:5])
    for key, label, topic in _THEMES:
        if key in blob:
            return {"first_name": first_name, "theme": label, "topic": topic}
    return {"first_name": first_name, "theme": "", "account": account}
