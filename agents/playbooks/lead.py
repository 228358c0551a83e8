"""Lead analysis: ICP fit for a contact at an account, engagement from call notes, an opening
question. Formula and weights come from the tenant's ICP document (``rule_set: icp``)."""

from __future__ import annotations

import re

from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.deal import account_names
from agents.playbooks.evidence import phrases_found
from agents.runtime.context import RunContext, ToolError
from agents.runtime.entities import closest, find_name
from agents.semantic.query import Filter, SemanticQuery

FIRM_FIELDS = ("sector", "employees", "revenue_musd", "headquarters", "year_established")

AGENT = "lead_analysis"


def answer(ctx: RunContext, query: str, *, person: str | None, company: str | None, previous: dict) -> SpecialistAnswer:
    """Assess ``person`` (from the router, else the question) at ``company``. Raises ToolError."""
    icp = ctx.rules("icp", agent=AGENT, sections=("Formula",))
    sm = ctx.semantic_model(agent=AGENT)
    degraded: list[str] = []
    if not sm.call_notes_missing():
        people = ctx.semantic(
            SemanticQuery(metrics=("call_notes",), group_by=("note_contact", "account")),
            agent=AGENT,
            purpose="contacts in call notes for name resolution",
        )
        people.rows = [{"contact": r["note_contact"], "account": r["account"], "notes": r["call_notes"]} for r in people.rows if r["note_contact"]]
    else:
        people = None
        degraded.append("Your semantic model declares no call notes, so the contact could not be looked up and engagement and technical signals are unknown.")
    accounts = account_names(ctx, agent=AGENT)
    account_match = find_name(company or query, [r["name"] for r in accounts.rows])
    if people is None:
        if account_match is None:
            return SpecialistAnswer(AGENT, f"### Lead Information\n\nI found no account named in your question [{accounts.citation}], and {degraded[0][0].lower()}{degraded[0][1:]}")
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
            return SpecialistAnswer(
                AGENT,
                f"### Lead Information\n\nThe call notes have no contact named {person} at {account_match.name} [{people.citation if people else accounts.citation}]. "
                f"{elsewhere.name} appears at {', '.join(accounts_of)}; ask about that company if that is who you mean.",
            )
    if person_match is None:
        where = f" at {account_match.name}" if account_match else ""
        return SpecialistAnswer(
            AGENT,
            f"### Lead Information\n\nI found no contact named {person or 'in your question'}{where} in the call notes "
            f"[{people.citation if people else accounts.citation}], so I cannot assess this lead from your data. Nothing here is guessed.",
        )
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

    lines = [
        "### Lead Information",
        "",
        f"- **Name**: {contact}" + ("" if person_match.score >= 99 else f" (closest match to “{person}”, {person_match.score:.0f}/100)"),
        "- **Title**: not recorded in the CRM",
        f"- **Company**: {account}: sector {f.get('sector') or 'n/a'}, {f.get('employees') if f.get('employees') is not None else 'n/a'} employees, "
        f"revenue {'USD ' + format(float(f['revenue_musd']), ',.2f') + ' million' if f.get('revenue_musd') is not None else 'n/a'}, HQ {f.get('headquarters') or 'n/a'} [{firm.citation}]",
        f"- **Relationship**: {len(notes)} interactions ({meetings} meetings, {len(notes) - meetings} e-mails; {len(completed)} completed), "
        f"{first.isoformat() if first else 'n/a'} to {last.isoformat() if last else 'n/a'} [{notes_ref}]; "
        f"account has {open_deals} open and {won_deals} won opportunities [{deals.citation}]",
        "",
        "### ICP Fit",
        "",
        f"**{fit_label}**" + (f" (score {fit:.2f} of 1.00)" if fit is not None else ""),
        "",
        "**Reasoning**",
        "",
        f"- Company {company_score:.2f}: industry {sector or 'n/a'} scores {industry_score if industry_score is not None else 'n/a'}"
        + (f" (recorded as “{f.get('sector')}”)" if sector != sector_raw else "")
        + (f", {band['label']} employees scores {band['score']}" if band else ", head count unknown")
        if company_score is not None else "- Company: no firmographics found",
        "- Authority: unknown, the CRM records no job title for contacts (left out of the formula, not guessed)",
        f"- Technical signals {technical_score:.2f}: {', '.join(tech_found) if tech_found else 'none'} in the call notes"
        if technical_score is not None else "- Technical signals: no call notes",
        f"- Formula (ICP document [{ctx.rule_refs['icp']}]): fit = ({' + '.join(f'{float(weights.get(k, 0)):g} x {k}' for k in ('company', 'authority', 'technical'))}) / weights of the known parts = {fit:.2f}"
        if fit is not None else "- Formula: not enough data to score",
        "",
        f"**Confidence**: {confidence}: {completeness} of 4 inputs known (industry, head count, title, call notes).",
        "",
        "### Engagement Strategy",
        "",
        f"- **Opening question**: {_opening_question(contact, account, notes)}",
    ]
    if notes:
        latest = notes[0]
        excerpt = re.sub(r"\s+", " ", latest["text"] or "")[:280]
        lines.append(f"- **Latest note** ({latest['date']}, {latest['activity_type']}, {latest['status']}): “{excerpt}…” [{notes_ref}]")
    lines.append("- Outreach drafts are written only when you ask for them.")
    lines += [f"- {d}" for d in degraded]
    return SpecialistAnswer(AGENT, "\n".join(lines), {"contact": contact, "account": account, "icp_fit": fit_label})


_THEMES = [
    ("integration", "integration", "how the integration with your current workflows is going, and what a seamless onboarding would need for your team"),
    ("onboarding", "onboarding", "what a smooth onboarding would need to cover for your team"),
    ("scalab", "scalability", "how you expect your needs to scale over the next year"),
    ("cost", "cost", "which costs you most want to bring down this year"),
    ("efficien", "efficiency", "where your team loses the most time today"),
    ("demo", "the demonstration", "what you would need to see to move forward"),
]


def _opening_question(contact: str, account: str, notes: list[dict]) -> str:
    """An opening question built from the themes of the contact's five latest notes (no invented facts)."""
    first_name = contact.split()[0]
    blob = " ".join((n.get("text") or "").lower() for n in notes[:5])
    for key, label, topic in _THEMES:
        if key in blob:
            return f"“{first_name}, last time we talked about {label}: could you tell me {topic}?” (theme from the latest notes)"
    return f"“{first_name}, what is the most important problem {account} wants to solve this quarter?” (no recurring theme in the notes)"
