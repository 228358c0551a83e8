"""Deal copilot and competitive intelligence (issue 11 part 4).

Per account (or the account of a named opportunity or contact), from the tenant's call notes read
through the semantic model (the ``note_*`` dimensions and the ``call_notes`` metric):

- **summary** of the last N call notes (default :data:`DEFAULT_LAST_N`): per note its date, type,
  contact and first informative sentences, quoted (:func:`agents.playbooks.notes.summary_sentences`);
- **objections**: sentences with a KB objection cue, by category, dated and quoted;
- **competitors mentioned**, with the dates and the sentence naming them (names from the KB's
  ``competitors`` document); "in our last call" reads the newest note only;
- **next best actions** from the KB playbooks: each deal risk warning that fires
  (``deal_risks`` thresholds) gives that document's ``actions`` text, each MEDDPICC element the
  open deals' stage requires without call-note evidence (``deal_stages``) a gather-evidence
  action, a competitor present the ``competitors`` document's ``when_present`` advice, and the
  latest objection an action to answer it;
- a **follow-up e-mail draft** to a named contact: offline a template that says it is one,
  filled only with the contact's name, account, last meeting date and topics quoted from the notes.

Competitive intelligence across accounts: notes naming each competitor by regional office,
sector or account (a heatmap-style table) for a period, and objection patterns (categories with
counts). A "call" is a call note of any type (the model's call-notes entity: meetings and
e-mails), dated on or before the run's as-of date.

Offline everything is extractive; with a model the supervisor's specialist loop writes from this
section, whose quotes carry the call-notes query's citation ``[n]``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict

from agents.playbooks import notes as N
from agents.playbooks.base import SpecialistAnswer
from agents.playbooks.deal import account_names, as_date
from agents.playbooks.evidence import find_evidence
from agents.playbooks.render import render_answer
from agents.runtime.context import QueryResult, RunContext, ToolError, md_table
from agents.runtime.entities import closest, find_name
from agents.semantic.query import Filter, SemanticQuery
from agents.timeperiods import parse_period

AGENT = "deal_copilot"
DEFAULT_LAST_N = 5
MAX_LAST_N = 20
EMAIL_TOPIC_NOTES = 3  # the contact's newest notes whose products and objections the draft names
MAX_ACTIONS = 6
MAX_EXAMPLES = 3

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_EMAIL = re.compile(r"\b(draft|write|compose|prepare)\b[^.?!]*\b(e-?mails?|follow[- ]?up|message|note)\b", re.I)
_COMPETITOR = re.compile(r"\bcompetit(or|ors|ion|ive)\b|\bheat ?map\b", re.I)
_OBJECTION = re.compile(r"\bobjections?\b|\bpush ?back\b|\bconcerns\b", re.I)
_ACTIONS = re.compile(r"\bnext[- ]best[- ]actions?\b|\bnext steps?\b|\brecommended actions?\b|\bwhat should (we|i) do\b", re.I)
_LAST_ONE = re.compile(r"\b(last|latest|most recent|previous)\s+(call|meeting|note|conversation|interaction|e-?mail|touchpoint)\b", re.I)
_LAST_N = re.compile(r"\b(?:last|latest|past|recent)\s+(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\s+(calls?|notes?|meetings?|conversations?|interactions?|e-?mails?|touchpoints?)\b", re.I)
_BY = {
    "office": re.compile(r"\b(by|per|across|for each)\s+(regional\s+)?(region|office|territor)", re.I),
    "sector": re.compile(r"\b(by|per|across|for each)\s+(industr|sector|vertical)", re.I),
    "account": re.compile(r"\b(by|per|across|for each)\s+(account|customer|compan|client)", re.I),
}
_OPPORTUNITY_ID = re.compile(r"\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{8}\b")


# -- entry point ----------------------------------------------------------------------------
def answer(ctx: RunContext, query: str, *, previous: dict) -> SpecialistAnswer:
    """Answer a copilot question (see the module docstring for the intents). Raises ToolError on
    tool failures; a model without call notes gets a statement of what is missing."""
    sm = ctx.semantic_model(agent=AGENT)
    missing = sm.call_notes_missing() + ([] if sm.has_dimension("account") else ["account"])
    if missing:
        return SpecialistAnswer(AGENT, render_answer("copilot_missing", {"missing": ", ".join(missing), "what": _what(query)}))
    if _EMAIL.search(query):
        return follow_up_email(ctx, query, previous=previous)
    account, via = _account(ctx, query, previous=previous)
    if _COMPETITOR.search(query):
        if account and _LAST_ONE.search(query):
            return last_call_competitors(ctx, account, via=via)
        by = next((name for name, rx in _BY.items() if rx.search(query)), None)
        if account and by is None:
            return account_competitors(ctx, account, via=via)
        return competitor_heatmap(ctx, query, by=by or "office", account=account)
    if _OBJECTION.search(query):
        return account_objections(ctx, account, via=via) if account else objection_patterns(ctx, query)
    if account is None:
        names = account_names(ctx, agent=AGENT)
        return SpecialistAnswer(
            AGENT,
            render_answer("copilot_no_account", {"ref": names.citation}),
        )
    if _ACTIONS.search(query):
        return next_best_actions(ctx, account, via=via)
    return call_summary(ctx, query, account, via=via)


def _what(query: str) -> str:
    if _EMAIL.search(query):
        return "draft a follow-up e-mail from them"
    if _COMPETITOR.search(query):
        return "count competitor mentions in them"
    if _OBJECTION.search(query):
        return "read objections from them"
    if _ACTIONS.search(query):
        return "ground next best actions in them"
    return "summarise them"


# -- resolution -----------------------------------------------------------------------------
def _account(ctx: RunContext, query: str, *, previous: dict) -> tuple[str | None, str]:
    """(account, how it was found). An opportunity id in the question resolves to its account
    (call notes are kept per account); else an account name (fuzzy); else the conversation's."""
    for oid in _OPPORTUNITY_ID.findall(query):
        if not ctx.semantic_model(agent=AGENT).has_dimension("opportunity"):
            break
        res = ctx.rows_where(["opportunity", "account"], agent=AGENT, purpose=f"account of opportunity {oid}", filters={"opportunity": oid})
        if res.rows and res.rows[0]["account"]:
            return res.rows[0]["account"], f"the account of opportunity {oid} [{res.citation}]; call notes are kept per account"
    names = account_names(ctx, agent=AGENT)
    match = find_name(query, [r["name"] for r in names.rows])
    if match:
        return match.name, ""
    if previous.get("account") in {r["name"] for r in names.rows}:
        return previous["account"], "the account of the previous question"
    return None, ""


def _notes(ctx: RunContext, account: str, *, contact: str | None = None) -> tuple[list[dict], QueryResult]:
    """Call notes of ``account`` dated on or before the as-of date, newest first (cited)."""
    res = ctx.call_notes(account, agent=AGENT, contact=contact, purpose=f"call notes of {account}" + (f" with {contact}" if contact else ""))
    rows = []
    for r in res.rows:
        r["date"] = as_date(r.get("date"))
        if r["date"] is None or r["date"] <= ctx.as_of:
            rows.append(r)
    return rows, res


def _label(note: dict) -> str:
    bits = [note["date"].isoformat() if note.get("date") else "undated"]
    bits += [str(note[k]) for k in ("activity_type", "contact") if note.get(k)]
    return ", ".join(bits)


def _raw(params) -> dict:
    """A KB rule set's front matter as a plain mapping (``RunContext.rules`` returns the typed
    model of ``knowledge.validation``; its unknown keys, such as the copilot's, are kept as extras)."""
    return params.model_dump(exclude_unset=True) if hasattr(params, "model_dump") else dict(params or {})


def _competitor_rules(ctx: RunContext) -> tuple[N.CompetitorRules, int]:
    params = _raw(ctx.rules("competitors", agent=AGENT, sections=("Objections",)))
    try:
        rules = N.parse_rules(N.CompetitorRules, params)
    except N.NotesRulesInvalid as exc:
        raise ToolError(f"the competitors document's copilot keys are invalid: {exc}") from exc
    return rules, ctx.rule_refs["competitors"]


def _cue_source(params: N.CompetitorRules, ref: int) -> str:
    explicit = "objection_cues" in params.model_fields_set
    return f"cue phrases and categories from the competitors document [{ref}]" if explicit else "the copilot's built-in cue phrases and categories (the competitors document sets none)"


# -- summary --------------------------------------------------------------------------------
def _last_n(query: str) -> int:
    m = _LAST_N.search(query)
    if not m:
        return DEFAULT_LAST_N
    word = m.group(1).lower()
    return max(1, min(MAX_LAST_N, int(word) if word.isdigit() else _NUMBER_WORDS[word]))


def call_summary(ctx: RunContext, query: str, account: str, *, via: str = "") -> SpecialistAnswer:
    """Summary of the last N call notes of ``account``: each note's date, type, contact and first
    :data:`agents.playbooks.notes.SUMMARY_SENTENCES` informative sentences, quoted."""
    n = _last_n(query)
    rows, res = _notes(ctx, account)
    rules, comp_ref = _competitor_rules(ctx)
    shown = rows[:n]
    items = [{"label": _label(r), "quotes": N.summary_sentences(r.get("text") or ""), "status": r.get("status") or ""} for r in shown]
    named = Counter(c for r in shown for c in N.competitors_in(r.get("text") or "", rules.competitors))
    ctx.computed("call notes summarised", [n, len(shown), len(rows)], "requested, shown, notes on or before the as-of date")
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_summary",
            {
                "account": account, "via": via, "asked": n, "shown": len(shown), "total": len(rows), "items": items, "ref": res.citation,
                "as_of": ctx.as_of.isoformat(), "sentences": N.SUMMARY_SENTENCES,
                "competitors": ", ".join(f"{c} ({k} note{'s' if k != 1 else ''})" for c, k in named.most_common()), "comp_ref": comp_ref,
            },
        ),
        {"account": account},
    )


# -- objections -----------------------------------------------------------------------------
def _objections(rows: list[dict], rules: N.CompetitorRules) -> list[dict]:
    out = []
    for r in rows:
        for s in N.objection_sentences(r.get("text") or "", rules.objection_cues):
            out.append({"note": r, "sentence": s, "category": N.objection_category(s, rules.objection_categories)})
    return out


def account_objections(ctx: RunContext, account: str, *, via: str = "") -> SpecialistAnswer:
    """Objections raised in ``account``'s call notes, newest first, each quoted with its date and
    category, and the count per category."""
    rows, res = _notes(ctx, account)
    rules, ref = _competitor_rules(ctx)
    found = _objections(rows, rules)
    counts = Counter(o["category"] for o in found)
    ctx.computed("objections", [len(found), len(rows)] + list(counts.values()), "objection sentences, notes read, objections per category")
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_objections",
            {
                "account": account, "via": via, "notes": len(rows), "ref": res.citation, "cues": _cue_source(rules, ref),
                "items": [{"label": _label(o["note"]), "category": o["category"], "quote": o["sentence"]} for o in found],
                "counts": ", ".join(f"{c} {k}" for c, k in sorted(counts.items(), key=lambda x: (-x[1], x[0]))),
                "count": len(found),
            },
        ),
        {"account": account},
    )


def _period_filters(ctx: RunContext, query: str) -> tuple[list[Filter], str]:
    period = parse_period(query, as_of=ctx.as_of)
    if period is None:
        return [Filter("note_date", (ctx.as_of,), "lte")], f"all call notes to {ctx.as_of.isoformat()}"
    end = min(period.end, ctx.as_of)
    ctx.computed("period", [period.start, period.end], f"dates of '{period.label}' relative to the as-of date")
    return [Filter("note_date", (period.start,), "gte"), Filter("note_date", (end,), "lte")], period.describe()


def objection_patterns(ctx: RunContext, query: str) -> SpecialistAnswer:
    """The most frequent objection categories across accounts for the question's period (all
    notes to the as-of date when none): objections (sentences), notes and accounts per category,
    with the latest example of the top categories quoted."""
    rules, ref = _competitor_rules(ctx)
    filters, period_text = _period_filters(ctx, query)
    res = ctx.semantic(
        SemanticQuery(fields=("account", "note_date", "note_text"), filters=(Filter("note_text", tuple(rules.objection_cues), "contains"), *filters)),
        agent=AGENT,
        purpose="call notes with an objection cue",
    )
    rows = [{"account": r["account"], "date": as_date(r["note_date"]), "text": r["note_text"] or ""} for r in res.rows]
    found = _objections(rows, rules)
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for o in found:
        by_cat[o["category"]].append(o)
    ranked = sorted(by_cat.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    table = []
    for cat, items in ranked:
        notes = {(o["note"]["account"], o["note"]["date"], o["note"]["text"][:80]) for o in items}
        accounts = {o["note"]["account"] for o in items}
        latest = max((o["note"]["date"] for o in items if o["note"]["date"]), default=None)
        table.append([cat, len(items), len(notes), len(accounts), latest.isoformat() if latest else "n/a"])
        ctx.computed(f"objections: {cat}", [len(items), len(notes), len(accounts)], "objection sentences, notes, accounts")
    examples = []
    for cat, items in ranked[:MAX_EXAMPLES]:
        o = max(items, key=lambda o: (o["note"]["date"] or dt.date.min, o["note"]["account"] or ""))
        examples.append({"category": cat, "label": f"{o['note']['account']}, {o['note']['date'].isoformat() if o['note']['date'] else 'undated'}", "quote": o["sentence"]})
    ctx.computed("objection totals", [len(found), len(rows)], "objection sentences, notes with a cue phrase")
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_objection_patterns",
            {
                "period": period_text, "ref": res.citation, "cues": _cue_source(rules, ref), "count": len(found), "notes": len(rows),
                "truncated": res.truncated, "empty": not table,
                "table": md_table(["Objection category", "Objections", "Notes", "Accounts", "Latest"], table),
                "examples": examples,
            },
        ),
        {"metric": "objection_patterns"},
    )


# -- competitors ----------------------------------------------------------------------------
def account_competitors(ctx: RunContext, account: str, *, via: str = "") -> SpecialistAnswer:
    """Competitors named in ``account``'s call notes: per competitor the dates of the notes naming
    it and the newest sentence naming it, quoted."""
    rows, res = _notes(ctx, account)
    rules, ref = _competitor_rules(ctx)
    per: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        for c in N.competitors_in(r.get("text") or "", rules.competitors):
            per[c].append(r)
    items = [
        {"name": c, "count": len(rs), "dates": ", ".join(x["date"].isoformat() for x in rs if x["date"]), "quote": N.sentence_with(rs[0].get("text") or "", c), "label": _label(rs[0])}
        for c, rs in sorted(per.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    ctx.computed("competitor mentions of the account", [len(rows)] + [len(rs) for rs in per.values()], "notes read, notes naming each competitor")
    return SpecialistAnswer(
        AGENT,
        render_answer("copilot_competitors", {"account": account, "via": via, "notes": len(rows), "ref": res.citation, "kb_ref": ref, "items": items, "advice": rules.when_present}),
        {"account": account},
    )


def last_call_competitors(ctx: RunContext, account: str, *, via: str = "") -> SpecialistAnswer:
    """Competitors named in the newest call note of ``account`` (that note only)."""
    rows, res = _notes(ctx, account)
    rules, ref = _competitor_rules(ctx)
    last = rows[0] if rows else None
    names = N.competitors_in(last.get("text") or "", rules.competitors) if last else []
    generic = [p for p in rules.generic_phrases if last and N.has_phrase(last.get("text") or "", p)]
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_last_call",
            {
                "account": account, "via": via, "ref": res.citation, "kb_ref": ref, "label": _label(last) if last else "",
                "has_note": last is not None, "names": [{"name": c, "quote": N.sentence_with(last.get("text") or "", c)} for c in names],
                "generic": ", ".join(generic), "advice": rules.when_present,
            },
        ),
        {"account": account},
    )


def _primary_office(ctx: RunContext) -> tuple[dict[str, str], int]:
    """{account: regional office owning most of its opportunities (ties: alphabetical)}, cited."""
    res = ctx.semantic(SemanticQuery(metrics=("opportunities",), group_by=("account", "office")), agent=AGENT, purpose="opportunities per account and regional office (region attribution)")
    best: dict[str, tuple[int, str]] = {}
    for r in res.rows:
        if r["account"] is None or r["office"] is None:
            continue
        key = (-(r["opportunities"] or 0), str(r["office"]))
        if r["account"] not in best or key < best[r["account"]]:
            best[r["account"]] = key
    return {a: k[1] for a, k in best.items()}, res.citation


def competitor_heatmap(ctx: RunContext, query: str, *, by: str, account: str | None = None) -> SpecialistAnswer:
    """Notes naming each competitor (rows) by ``by`` (``office``, ``sector`` or ``account``;
    columns) for the question's period, optionally for one ``account``. A note counts once per
    competitor it names. Call notes belong to accounts, not to sales agents, so a note's regional
    office is its account's primary office (the office owning most of the account's opportunities,
    ties alphabetical): an attribution, stated in the answer."""
    rules, ref = _competitor_rules(ctx)
    sm = ctx.semantic_model(agent=AGENT)
    need = {"office": ["office", "opportunities (metric)"], "sector": ["sector"], "account": []}[by]
    lacking = [d for d in need if not (sm.has_dimension(d) or (d.endswith("(metric)") and d.split()[0] in sm.metrics))]
    if not rules.competitors:
        return SpecialistAnswer(AGENT, "### Competitor mentions\n\nThe competitors document lists no competitor names, so nothing was counted.")
    if lacking:
        return SpecialistAnswer(AGENT, render_answer("copilot_missing", {"missing": ", ".join(lacking), "what": f"break competitor mentions down by {sm.dimension_label(by) if sm.has_dimension(by) else by}", "dimension": True}))
    filters, period_text = _period_filters(ctx, query)
    if account:
        filters.append(Filter("account", (account,)))
    fields = ("account", "note_date", "note_text") + (("sector",) if by == "sector" else ())
    res = ctx.semantic(
        SemanticQuery(fields=fields, filters=(Filter("note_text", tuple(rules.competitors), "contains"), *filters)),
        agent=AGENT,
        purpose="call notes naming a competitor" + (f" ({account})" if account else ""),
    )
    attribution, office_ref = ("", None)
    if by == "office":
        offices, office_ref = _primary_office(ctx)
        group_of = lambda r: offices.get(r["account"], "no opportunities")  # noqa: E731
        attribution = "office"
    elif by == "sector":
        group_of = lambda r: r.get("sector") or "n/a"  # noqa: E731
    else:
        group_of = lambda r: r["account"] or "n/a"  # noqa: E731
    cells: dict[str, Counter] = defaultdict(Counter)
    notes_with = 0
    for r in res.rows:
        names = N.competitors_in(r["note_text"] or "", rules.competitors)
        notes_with += bool(names)
        for c in names:
            cells[c][group_of(r)] += 1
    columns = sorted({g for row in cells.values() for g in row})
    if by == "account" and len(columns) > 12:
        top = Counter()
        for row in cells.values():
            top.update(row)
        columns = sorted(g for g, _ in top.most_common(12))
    comps = sorted(cells, key=lambda c: (-sum(cells[c].values()), c))
    table = [[c] + [cells[c].get(g, 0) for g in columns] + [sum(cells[c].values())] for c in comps]
    col_totals = [sum(cells[c].get(g, 0) for c in comps) for g in columns]
    grand = sum(sum(cells[c].values()) for c in comps)
    if table:
        table.append(["**Total**"] + col_totals + [grand])
    for c in comps:
        ctx.computed(f"notes naming {c}", [sum(cells[c].values())] + [cells[c].get(g, 0) for g in columns], f"notes naming {c}, total then per {by}")
    ctx.computed("competitor mention totals", [grand, notes_with, len(res.rows)] + col_totals, f"mentions, notes naming a competitor, notes returned, per {by}")
    label = {"office": "Regional office", "sector": "Sector", "account": "Account"}[by]
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_heatmap",
            {
                "by": label.lower(), "period": period_text, "account": account, "ref": res.citation, "kb_ref": ref, "office_ref": office_ref,
                "attribution": attribution, "truncated": res.truncated, "empty": not table, "grand": grand, "notes": notes_with,
                "table": md_table(["Competitor"] + columns + ["Total"], table), "cut": by == "account" and len(columns) == 12,
            },
        ),
        {"metric": "competitor_mentions", "account": account} if account else {"metric": "competitor_mentions"},
    )


# -- next best actions ----------------------------------------------------------------------
def next_best_actions(ctx: RunContext, account: str, *, via: str = "") -> SpecialistAnswer:
    """Next best actions for ``account`` grounded in the KB playbooks (module docstring); each
    action names the rule that produced it and the evidence, cited."""
    rows, res = _notes(ctx, account)
    comp, comp_ref = _competitor_rules(ctx)
    try:
        risks = N.parse_rules(N.RiskActionRules, _raw(ctx.rules("deal_risks", agent=AGENT, sections=("Next best actions",))))
    except N.NotesRulesInvalid as exc:
        raise ToolError(f"the deal risk warnings document's copilot keys are invalid: {exc}") from exc
    risk_ref = ctx.rule_refs["deal_risks"]
    stages_kb = _raw(ctx.rules("deal_stages", agent=AGENT, sections=("Stage gates",)))
    stage_ref = ctx.rule_refs["deal_stages"]
    sm = ctx.semantic_model(agent=AGENT)
    th, acts = risks.thresholds, risks.actions
    as_of = ctx.as_of
    actions: list[dict] = []
    unset: list[str] = []

    def add(rule: str, why: str, kb_ref: int, text: str | None = None) -> None:
        text = text if text is not None else acts.get(rule)
        if not text:
            unset.append(rule.replace("_", " "))
            return
        actions.append({"text": text, "why": why, "kb_ref": kb_ref})

    fields = [f for f in ("opportunity", "stage", "engage_date") if sm.has_dimension(f)]
    opps = ctx.rows_where(fields, agent=AGENT, purpose=f"opportunities of {account}", filters={"account": account}) if "stage" in fields else None
    open_values = set(sm.stage_values("open"))
    open_deals = [r for r in (opps.rows if opps else []) if r["stage"] in open_values]

    completed = [r for r in rows if (r.get("status") or "").lower() == "completed"]
    last_done = completed[0]["date"] if completed and completed[0]["date"] else None
    days_since = (as_of - last_done).days if last_done else None
    ctx.computed("days since last completed interaction", days_since, "as-of date - date of the newest completed call note")
    if open_deals and (days_since is None or days_since > th.get("no_activity_days", 30)):
        seen = f"last completed {last_done.isoformat()}, {days_since} days before {as_of.isoformat()}" if last_done else "no completed interaction on record"
        add("no_activity", f"no activity: {seen} (threshold {th.get('no_activity_days', 30)} days) [{res.citation}]", risk_ref)
    last = rows[0] if rows else None
    if last and last["date"] and (last.get("status") or "").lower() == "scheduled" and (as_of - last["date"]).days > th.get("ghosted_days", 21):
        age = ctx.computed("age of the last call note", (as_of - last["date"]).days, "as-of date - its date")
        add("ghosted", f"ghosted: the last call note ({_label(last)}) is still marked scheduled, {age} days on (threshold {th.get('ghosted_days', 21)}) [{res.citation}]", risk_ref)
    contacts = sorted({r["contact"] for r in rows if r.get("contact")})
    if len(contacts) <= th.get("single_threaded_max_contacts", 1):
        add("single_threaded", f"single-threaded: {len(contacts)} contact in the call notes ({', '.join(contacts) or 'nobody'}) [{res.citation}]", risk_ref)
    phrases = stages_kb.get("evidence_phrases", {})
    evidence = {el: find_evidence(rows, phrases.get(el, []), element=el) for el in phrases}
    if not evidence.get("economic_buyer"):
        add("no_economic_buyer", f"no economic buyer in {len(rows)} call notes [{res.citation}]", risk_ref)
    stalled_days = th.get("stalled_in_stage_days", 90)
    stalled = [r for r in open_deals if as_date(r.get("engage_date")) and as_date(r["engage_date"]) <= as_of and (as_of - as_date(r["engage_date"])).days > stalled_days]
    if stalled:
        ctx.computed("stalled opportunities", [len(stalled), len(open_deals)], "open opportunities engaged more than the threshold before the as-of date")
        add("stalled_in_stage", f"stalled in stage: {len(stalled)} of {len(open_deals)} open opportunities engaged more than {stalled_days} days ago [{opps.citation}]", risk_ref)
    # MEDDPICC gaps of the most advanced open deal's methodology stage (gates are cumulative).
    gates = stages_kb.get("stages", {})
    order = list(gates)
    stage_map = stages_kb.get("crm_stage_map", {})
    methods = [stage_map.get(r["stage"], r["stage"]) for r in open_deals]
    top = max((m for m in methods if m in order), key=order.index, default=None)
    if top:
        required: list[str] = []
        for s in order[: order.index(top) + 1]:
            required += [el for el in (gates.get(s) or {}).get("requires", []) if el not in required]
        template = acts.get("meddpicc_gap")
        for el in required:
            if evidence.get(el) is None and el != "economic_buyer":
                label = el.replace("_", " ")
                text = template.format(element=label, stage=top, probability=(gates.get(top) or {}).get("probability", "n/a")) if template else None
                add("meddpicc_gap", f"no call-note evidence of {label} [{res.citation}], required by the {top} gate [{stage_ref}]", risk_ref, text)
    named = sorted({c for r in rows for c in N.competitors_in(r.get("text") or "", comp.competitors)})
    if named:
        dates = [r["date"] for r in rows if r["date"] and N.competitors_in(r.get("text") or "", comp.competitors)]
        add("competitor_present", f"competitor present: {', '.join(named)} named in call notes, latest {max(dates).isoformat()} [{res.citation}]", comp_ref, comp.when_present or None)
    objections = _objections(rows, comp)
    if objections:
        o = objections[0]
        actions.append({"text": f"Answer the {o['category']} objection in the next conversation.", "why": f"objection on {_label(o['note'])}: “{o['sentence']}” [{res.citation}]", "kb_ref": comp_ref})
    ctx.computed("next best actions", [len(actions), len(rows), len(open_deals)], "actions, notes read, open opportunities")
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_actions",
            {
                "account": account, "via": via, "actions": actions[:MAX_ACTIONS], "more": max(0, len(actions) - MAX_ACTIONS), "notes": len(rows),
                "open": len(open_deals), "ref": res.citation, "unset": ", ".join(sorted(set(unset))), "risk_ref": risk_ref,
            },
        ),
        {"account": account},
    )


# -- follow-up e-mail -----------------------------------------------------------------------
_TO_PERSON = re.compile(r"\b(?:to|for|with)\s+([A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,3})")


def follow_up_email(ctx: RunContext, query: str, *, previous: dict) -> SpecialistAnswer:
    """A follow-up e-mail template to the contact named in the question (or the main contact of
    the named account: most call notes, ties alphabetical), filled only with the contact's name,
    account, last meeting date and topics from the notes (products the notes name, objection
    categories), with the newest notes quoted below it for the writer (or the model)."""
    people = ctx.semantic(SemanticQuery(metrics=("call_notes",), group_by=("note_contact", "account")), agent=AGENT, purpose="contacts in call notes for name resolution")
    pairs = [(r["note_contact"], r["account"], r["call_notes"] or 0) for r in people.rows if r["note_contact"]]
    names = account_names(ctx, agent=AGENT)
    account_match = find_name(query, [r["name"] for r in names.rows])
    wanted = _TO_PERSON.search(query)
    person = wanted.group(1) if wanted else None
    pool = [p for p in pairs if not account_match or p[1] == account_match.name]
    match = closest(person, [p[0] for p in pool]) if person and (not account_match or person != account_match.name) else None
    match = match or find_name(query, [p[0] for p in pool])
    if match is None and account_match and pool:
        contact, account = sorted(pool, key=lambda p: (-p[2], p[0]))[0][:2]
    elif match is not None:
        contact, account = next((p[0], p[1]) for p in pool if p[0] == match.name)
    elif previous.get("contact") and previous.get("account"):
        contact, account = previous["contact"], previous["account"]
    else:
        return SpecialistAnswer(AGENT, render_answer("copilot_no_contact", {"person": person or "", "ref": people.citation}))
    rows, res = _notes(ctx, account, contact=contact)
    rules, _ = _competitor_rules(ctx)
    meetings = [r for r in rows if "meeting" in str(r.get("activity_type") or "").lower()]
    last_meeting = meetings[0] if meetings else (rows[0] if rows else None)
    recent = rows[:EMAIL_TOPIC_NOTES]
    products = []
    sm = ctx.semantic_model(agent=AGENT)
    if sm.has_dimension("product"):
        values = ctx.dimension_values(agent=AGENT).get("product", [])
        blob = " ".join(r.get("text") or "" for r in recent)
        # Longest names first so "GTX Plus Pro" is not also read as "GTX Pro".
        for v in sorted(values, key=len, reverse=True):
            if N.has_phrase(blob, v) and not any(v in p for p in products):
                products.append(v)
        products.sort(key=lambda v: blob.lower().find(v.lower()))
    categories = list(dict.fromkeys(o["category"] for o in _objections(recent, rules) if o["category"] != N.OTHER and o["category"] != "competition"))
    first = contact.split()[0]
    return SpecialistAnswer(
        AGENT,
        render_answer(
            "copilot_email",
            {
                "contact": contact, "first": first, "account": account, "ref": res.citation, "people_ref": people.citation,
                "meeting": last_meeting["date"].isoformat() if last_meeting and last_meeting["date"] else "",
                "meeting_kind": "meeting" if meetings else "conversation", "products": ", ".join(products), "categories": ", ".join(categories),
                "context": [{"label": _label(r), "quotes": N.summary_sentences(r.get("text") or "")} for r in recent], "topic_notes": len(recent),
            },
        ),
        {"account": account, "contact": contact},
    )
