"""Deterministic routing: the supervisor's first decision, tested, before any LLM (DESIGN.md §5).

Prompt-only routing in the reference framework sent "[person] from [company]" to web search;
here a person-at-company pattern always means lead analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEAL = "deal_analysis"
LEAD = "lead_analysis"
DATA = "data"
WEB = "web_search"
EXECUTION = "execution"
FORECAST = "forecast"
COPILOT = "deal_copilot"
ACCOUNT_HEALTH = "account_health"
BRIEF = "brief"
SPECIALISTS = (DEAL, LEAD, DATA, WEB, EXECUTION, COPILOT, FORECAST, ACCOUNT_HEALTH, BRIEF)

# "Paul Stokes from Acme Corporation", "Jane O'Neil at Globex": two+ capitalised words, from/at/of, a name.
_PERSON_AT_COMPANY = re.compile(
    r"\b([A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){1,2})\s+(?:from|at|of|with)\s+(?:the\s+)?([A-Z][\w&.'’-]*(?:\s+[A-Z][\w&.'’-]*){0,4})"
)
_LEADING_VERBS = {"assess", "evaluate", "qualify", "score", "analyze", "analyse", "tell", "who", "is", "about", "check", "review", "rate"}
_LEAD_WORDS = re.compile(r"\b(lead|prospect\b|icp|ideal customer|qualif(y|ication) (him|her|them|this contact))", re.I)
_EXEC_WORDS = re.compile(
    r"^\s*(please\s+)?(send|notify|post|alert|message|email|e-mail|ping|update|create|log|write|schedule|remind)\b"
    r"|\b(send|post|notify|alert)\b.*\b(to|in)\s+(#|the\s+\w+\s+channel|slack|the owner|owner|him|her|them)",
    re.I,
)
_WEB_WORDS = re.compile(
    r"\b(research|look up|google|search the web|web search|news|press release|website|online|funding|recent announcements?)\b",
    re.I,
)
_DEAL_WORDS = re.compile(
    r"\b(deal|deals|opportunit(y|ies)|status|meddpicc|probability|close date|health|risks?|stage of|forecast for)\b",
    re.I,
)
# Metric wording that wins over deal wording ("average deal size", "how many deals").
_DATA_OVER_DEAL = re.compile(
    r"\bwin rate\b|\b(by|per) (sales )?(agent|rep|office|region|product|sector|industry|stage|quarter|month|year|manager|team|series"
    r"|account|customer|owner|country|source|campaign|segment|channel)s?\b|\baverage\b|\bavg\b|\bmedian\b|\bdeal size\b"
    r"|\bhow many\b|\bnumber of\b|\btotal\b|\bpipeline\b|\btop \d+|\b(largest|biggest|smallest|highest|lowest|most|fewest)\b"
    r"|\b(won|lost|open|closed)(-| )(deals?|opportunit(y|ies))\b|\b(deals?|opportunit(y|ies)) (won|lost)\b",
    re.I,
)
_DATA_WORDS = re.compile(
    r"\b(win rate|revenue|pipeline|how many|how much|top \d*|average|avg|total|list|which|by (agent|rep|office|region|product|sector|industry|quarter|month)|count|trend|competitor)\b",
    re.I,
)

# Deal copilot: call-note summaries, objections, next best actions, follow-up drafts, competitor
# mentions in one call or by region/industry/named account. "Which accounts mentioned competitors"
# (no breakdown, no account) stays with the data agent; any send/post/notify is execution's.
_COPILOT_WORDS = re.compile(
    r"(?i:\b(summar\w*|recap)\b[^?.!]*\b(calls?|notes?|meetings?|conversations?|interactions?|e-?mails?)\b"
    r"|\b(last|latest|past|recent) (\d+|one|two|three|four|five|six|seven|eight|nine|ten) (calls|call notes|meetings|conversations|interactions)\b"
    r"|\bobjections?\b|\bpush ?back\b|\bnext[- ]best[- ]actions?\b|\brecommended (next )?actions?\b"
    r"|\b(draft|write|compose|prepare)\b[^?.!]*\b(follow[- ]?up|e-?mail)\b"
    r"|\bcompetit\w*\b[^?.!]*\b(last|latest|most recent|previous) (call|meeting|note|conversation|interaction)\b"
    r"|\bcompetit\w*\b[^?.!]*\b(by|per|across) (regional )?(regions?|offices?|territor\w*|industr\w*|sectors?|verticals?)\b"
    r"|\bcompetitive intelligence\b|\bcompetitor heat ?map\b)"
    r"|(?i:\bcompetit\w*\b[^?.!]*\b(with|by|did|for|from)\s+(?!the\b|our\b|each\b|all\b|any\b))[A-Z]"
)
_COPILOT_NOT = re.compile(r"\b(send|post|notify|alert|ping|slack)\b", re.I)

# Forecast and gap to target: forecast, gap to quota/target, coverage, best case, deals closing in a
# period; and quota (target) attainment of one scope, which the forecast computes from the targets
# document. Attainment broken down ("by rep", "per office", "each manager") stays with the data
# agent, which declines it: the forecast answers one scope, and the company's attainment given to
# "attainment by rep" would answer another question.
_FORECAST_WORDS = re.compile(
    r"\bforecast\w*\b|\b(gap|shortfall)s?\b[^?.!]*\b(quota|target|plan)s?\b|\b(vs\.?|versus|against) (quota|target|plan)s?\b"
    r"|\bcoverage( ratio)?\b|\bbest[- ]case\b|\bdecides? the gap\b"
    r"|\b(deals?|opportunit(y|ies))\b[^?.!]*\b(closing|(expected|likely|set|due) to close)\b",
    re.I,
)
_ATTAINMENT_WORDS = re.compile(r"\b(quota|target|plan)s?\s+attainment\b|\battainment\b[^?.!]*\b(quota|target|plan)s?\b", re.I)
_BREAKDOWN_WORDS = re.compile(r"\b(by|per|across|for each|each|every|among)\s+(?!the\s+end\b)\w+", re.I)
# A quota that is not closed-won revenue (meetings, MQLs, pipeline, activities): the targets
# document holds revenue targets only, so these stay with the data agent, which declines them.
_NON_REVENUE_QUOTA = re.compile(r"\b(meeting|mql|sql|activit(y|ies)|call|pipeline|sdr|bdr|lead|demo|opportunit(y|ies))s?\s+(quota|target)", re.I)

# Customer health: churn risk (not "churn rate", a metric the data agent declines), expansion and
# upsell, "how healthy is <account>" (not a deal's health), declining engagement, usage trends.
_ACCOUNT_HEALTH_WORDS = re.compile(
    r"\bchurn(?:ing|ed)?\b(?!\s+rates?\b)|\battrition\b|\bexpansion\b|\bup-?sell\w*\b|\bcross-?sell\w*\b|\bwhite ?space\b"
    r"|\bhealthy\b|\b(customer|account|client) health\b"
    r"|\b(declin\w*|dropping|falling|waning) engagement\b|\bengagement\b[^?.!]*\b(declin\w*|dropping|falling)\b"
    r"|\b(usage|consumption) (trends?|for|of)\b",
    re.I,
)
# Scheduled analyses (agents.playbooks.brief): a schedule run asks its analysis name; people ask
# for "the daily brief" or "a weekly summary".
_BRIEF_WORDS = re.compile(
    r"^\s*(daily_brief|weekly_summary|alerts)\s*$|\b(daily|morning|executive|exec|weekly|week's)\s+(executive\s+)?(brief\w*|summary|digest|recap)\b",
    re.I,
)
_DEAL_HEALTH = re.compile(r"\bhealth\w*\b[^?.!]*\b(deal|deals|opportunity)\b|\b(deal|deals|opportunity)\b[^?.!]*\bhealth", re.I)


@dataclass(frozen=True)
class RouteDecision:
    """Specialists to run, in order, and why (shown in the run's route step)."""

    agents: list[str]
    reason: str
    person: str | None = None
    company: str | None = None


def classify(query: str) -> RouteDecision:
    """Route a question to specialist agents with ordered, documented rules.

    0. call-note work (summarise calls, objections, next best actions, draft a follow-up e-mail,
       competitors in the last call / by region or industry / of a named account), unless it also
       says send/post/notify -> deal copilot (before the lead rule: "Draft a follow-up email to
       Paul Stokes from Acme" is a draft, not a lead assessment);
    1. an imperative to send/notify/post/update -> execution (plus deal analysis when it is about a deal);
    2. "[Person Name] from/at [Company]" or lead/ICP wording (unless it is a metric question:
       "how many marketing qualified leads", "deal size by lead source") -> lead analysis;
    3. research/news/website wording -> web search;
    3a. a schedule's analysis name (daily_brief, weekly_summary, alerts) or daily/weekly/executive brief,
        summary or digest wording -> brief;
    3b. forecast, gap to quota/target, coverage, best case, deals closing in a period, quota
        attainment not broken down ("by rep" stays with data, which declines it) -> forecast;
    3c. churn risk (not "churn rate"), expansion/upsell/cross-sell, "healthy" or customer health (not a
        deal's health), declining engagement, usage/consumption trends -> account health;
    4. deal/opportunity/status/MEDDPICC/probability/risk wording -> deal analysis;
    5. metrics and lists (win rate, revenue, pipeline, top, which...) -> data; also the fallback.
    """
    text = query.strip()
    if _COPILOT_WORDS.search(text) and not _COPILOT_NOT.search(text):
        return RouteDecision([COPILOT], "call notes: summary, objections, next best actions, a follow-up draft or competitor mentions")
    if _EXEC_WORDS.search(text):
        agents = [DEAL, EXECUTION] if re.search(r"\b(deal|opportunit|at-risk|at risk)", text, re.I) else [EXECUTION]
        return RouteDecision(agents, "an instruction to act (send/notify/post/update)")
    m = _PERSON_AT_COMPANY.search(text)
    if m and not re.match(r"(?i)(the|our|win|deal|deals)\b", m.group(1)):
        words = m.group(1).split()
        while len(words) > 2 and words[0].lower() in _LEADING_VERBS:
            words.pop(0)
        if len(words) >= 2 and words[0].lower() not in _LEADING_VERBS:
            return RouteDecision([LEAD], "a person at a company", person=" ".join(words), company=m.group(2).rstrip(" ?.!,"))
    if _LEAD_WORDS.search(text) and not _DATA_OVER_DEAL.search(text):
        return RouteDecision([LEAD], "lead / ICP wording")
    if _WEB_WORDS.search(text):
        return RouteDecision([WEB], "research or news wording")
    if _BRIEF_WORDS.search(text):
        return RouteDecision([BRIEF], "a scheduled analysis: daily brief, weekly summary or alerts")
    if _FORECAST_WORDS.search(text):
        return RouteDecision([FORECAST], "forecast / gap to target wording")
    if _ATTAINMENT_WORDS.search(text) and not _BREAKDOWN_WORDS.search(text) and not _NON_REVENUE_QUOTA.search(text):
        return RouteDecision([FORECAST], "quota attainment of one scope (closed-won against the targets document)")
    if _ACCOUNT_HEALTH_WORDS.search(text) and not _DEAL_HEALTH.search(text):
        return RouteDecision([ACCOUNT_HEALTH], "customer health: churn risk, expansion, engagement or usage wording")
    if _DEAL_WORDS.search(text) and not _DATA_OVER_DEAL.search(text):
        return RouteDecision([DEAL], "deal / opportunity wording")
    if _DATA_WORDS.search(text):
        return RouteDecision([DATA], "a metric or list question")
    return RouteDecision([DATA], "no specific signal; the data agent answers metric questions")
