"""Regenerates semantic_holdout.yaml: a HELD-OUT evaluation set over the demo tenant.

Same format and same definitions as semantic.yaml (agents/evals/make_semantic_eval.py), but the
questions were written without looking at the question parser, its period parsing or its tests,
and were never run through the product before being committed: it measures how the parser
generalises to questions nobody tuned it against. Do not tune the parser against this file; if
it has been, write a new hold-out set.

The questions are phrased the way sales leaders and RevOps analysts type in Slack: lower case,
abbreviations ("q1", "ytd", "qtr", "avg", "opps", "#"), possessives, "reps" / "team" / "region",
"revenue" vs "bookings", and a typo in two of them ("revnue", "pipline"). They cover metrics x
breakdowns x filters x periods, rankings (top / bottom N, best / worst), A vs B, period over
period, counts, a month grain, three two-turn follow-up threads, and out-of-scope questions whose
right answer is a decline naming the missing concept (concepts the model lacks, names that do
not exist, a breakdown the model lacks).

Every expected figure is computed from the CRM sample CSV files with the standard library, by
the helper functions of make_semantic_eval.py (loaded by path, never project code): win rate,
revenue, share, deal sizes, counts, pipeline at list price, sales cycle, joins and the sector
alias exactly as documented there. As-of 2025-06-30, calendar quarters: "ytd" / "this year" /
"h1" = 2025-01-01..2025-06-30; "this qtr" = Q2 2025; "q1" / "last qtr" = Q1 2025 (the latest
Q1 at the as-of date); "jan" = January 2025; "last month" = May 2025; "this month" = June 2025;
"2024" = calendar 2024. A question without a period covers every row.

Run: .venv/bin/python agents/evals/make_holdout_eval.py   (prints the counts; deterministic)
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "semantic_holdout.yaml"


def _load_helpers():
    """make_semantic_eval.py as a module (standard library + PyYAML; it only reads the CSVs at
    import and writes nothing)."""
    spec = importlib.util.spec_from_file_location("_make_semantic_eval", HERE / "make_semantic_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


M = _load_helpers()
AS_OF = M.AS_OF
F = M.F
single, breakdown, ranking, versus, over_periods, monthly, decline = (
    M.single, M.breakdown, M.ranking, M.versus, M.over_periods, M.monthly, M.decline,
)

# ---------------------------------------------------------------- periods (as-of 2025-06-30)
YTD = M.THIS_YEAR  # 2025-01-01..2025-06-30 (also "h1", "this year")
THIS_QTR = M.THIS_QUARTER  # Q2 2025
Q1 = M.LAST_QUARTER  # Q1 2025
Q4_2024 = M.Q4_2024
YEAR_2024 = M.LAST_YEAR
LAST_MONTH = M.LAST_MONTH  # May 2025
THIS_MONTH = (dt.date(2025, 6, 1), dt.date(2025, 6, 30))
JAN = (dt.date(2025, 1, 1), dt.date(2025, 1, 31))


def build() -> dict:
    """The whole hold-out document (deterministic)."""
    Q = M.QUESTIONS
    Q.clear()
    # ---- single figures: metric x filter x period
    single("what's our win rate ytd?", "win_rate", period=YTD)
    single("how much revenue did we book in q1?", "won_revenue", period=Q1)
    single("avg deal size for the west region this qtr", "average_deal_size", F(office="West"), THIS_QTR)
    single("how many deals did dustin brinkmann's team win in jan?", "won_deals", F(manager="Dustin Brinkmann"), JAN)
    single("whats the open pipeline for mg advanced", "pipeline_value", F(product="MG Advanced"))
    single("give me kami bicknell's win rate for q1", "win_rate", F(owner="Kami Bicknell"), Q1)
    single("how many open opps does celia rouche's team have?", "open_deals", F(manager="Celia Rouche"))
    single("how many accounts are in the telecom sector?", "accounts", F(sector="telecommunications"))
    single("how many deals did we lose in the east region in q1", "lost_deals", F(office="East"), Q1)
    single("call notes logged for ganjaflex this year", "call_notes", F(account="Ganjaflex"), YTD)
    single("ytd revenue from accounts headquartered outside the united states", "won_revenue",
           F(headquarters="!United States"), YTD, names=[])
    single("median deal size for finance customers h1 2025", "median_deal_size", F(sector="finance"), YTD)
    # ---- breakdowns x filters x periods
    breakdown("break down revnue by region for q1", "won_revenue", "office", period=Q1)
    breakdown("give me win rates by sector ytd", "win_rate", "sector", period=YTD)
    breakdown("avg deal size per rep on cara losch's team", "average_deal_size", "owner", F(manager="Cara Losch"))
    breakdown("# of closed deals per team last month", "closed_deals", "manager", period=LAST_MONTH)
    breakdown("revenue share by sector for 2024", "revenue_share", "sector", period=YEAR_2024)
    breakdown("how many opps did we create per region this qtr?", "opportunities", "office", period=THIS_QTR)
    breakdown("central region: avg sales cycle by product ytd", "sales_cycle", "product", F(office="Central"), YTD)
    # ---- rankings (top / bottom N, best / worst)
    ranking("who are our top 3 reps by bookings ytd", "won_revenue", "owner", 3, period=YTD)
    ranking("worst performing region by win rate in q1?", "win_rate", "office", 1, desc=False, period=Q1)
    ranking("which team has the biggest open pipline?", "pipeline_value", "manager", 1)
    ranking("which 5 reps w/ the fewest wins this qtr?", "won_deals", "owner", 5, desc=False, period=THIS_QTR)
    ranking("which product brought in the most revenue last month?", "won_revenue", "product", 1, period=LAST_MONTH)
    ranking("which customer has the most call notes ytd?", "call_notes", "account", 1, period=YTD)
    ranking("who's got the shortest avg sales cycle in the west region?", "sales_cycle", "owner", 1, desc=False,
            filters=F(office="West"))
    ranking("best sector by avg deal size in 2024", "average_deal_size", "sector", 1, period=YEAR_2024)
    # ---- A vs B
    versus("how did central do vs east on revenue in q1?", "won_revenue", "office", "Central", "East", Q1)
    versus("gtx basic vs gtx plus basic win rate", "win_rate", "product", "GTX Basic", "GTX Plus Basic")
    versus("how did cara losch's team compare to rocco neubert's on win rate this qtr?", "win_rate", "manager",
           "Cara Losch", "Rocco Neubert", THIS_QTR)
    # ---- period over period
    over_periods("how did our q1 win rate stack up vs q4 2024?", "win_rate", Q1, Q4_2024)
    over_periods("wins this month vs last month?", "won_deals", THIS_MONTH, LAST_MONTH)
    over_periods("avg deal size this qtr vs last qtr", "average_deal_size", THIS_QTR, Q1)
    # ---- a month grain
    monthly("monthly bookings for the east region ytd", "won_revenue", YTD, F(office="East"))
    # ---- follow-up threads (turns in file order; each turn's expectation is the merged question)
    breakdown("what's the avg deal size by region ytd", "average_deal_size", "office", period=YTD, thread="h1")
    breakdown("what about q1?", "average_deal_size", "office", period=Q1, thread="h1")
    single("how many deals did vicki laflamme win this year?", "won_deals", F(owner="Vicki Laflamme"), YTD, thread="h2")
    single("and her win rate?", "win_rate", F(owner="Vicki Laflamme"), YTD, thread="h2")
    ranking("top 5 accounts by revenue in q1", "won_revenue", "account", 5, period=Q1, thread="h3")
    ranking("now show the bottom 5", "won_revenue", "account", 5, desc=False, period=Q1, thread="h3")
    # ---- out of scope: the right answer declines and names the missing concept
    decline("what's the loss reason breakdown for q1?", ["loss reason"])
    decline("what's our arr by sector?", ["ARR"])
    decline("cac payback by region?", ["CAC"])
    decline("avg time in stage for engaging deals", ["time in stage"])
    decline("break down bookings by sales channel ytd", ["channel"])
    decline("revenue by city for q1", ["city"])
    decline("how much did priya patel book in q1?", ["Priya Patel"])
    decline("what's the win rate for the apac region?", ["APAC"])
    decline("revenue from initrode this year", ["Initrode"])
    decline("whats the open pipeline for gtx max?", ["GTX Max"])
    return {
        "description": (
            "Held-out evaluation set over the demo tenant (as-of 2025-06-30), written without looking at the question "
            "parser and never run before it was committed: Slack-style questions (lower case, abbreviations, "
            "possessives, two typos) over metrics x breakdowns x filters x periods, rankings, A vs B, period over "
            "period, counts, a month grain, two-turn follow-up threads, and out-of-scope questions whose right answer "
            "is a decline naming the missing concept. Expected figures were computed from the CSV files with the "
            "standard library by agents/evals/make_holdout_eval.py (the definitions of make_semantic_eval.py); "
            "interpreted_as is the expected SemanticQuery.signature() (only the keys given are compared). Do not "
            "tune the parser against this file."
        ),
        "as_of": AS_OF.isoformat(),
        "tolerance": {"relative": 0.001, "absolute": 0.1},
        "questions": list(Q),
    }


def _check(doc: dict) -> None:
    """No question identical to one of semantic.yaml (case and spacing aside); no duplicate."""
    seen = yaml.safe_load((HERE / "semantic.yaml").read_text(encoding="utf-8"))["questions"]
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    old = {norm(q["question"]) for q in seen}
    mine = [norm(q["question"]) for q in doc["questions"]]
    clash = sorted(set(mine) & old)
    if clash:
        raise SystemExit(f"questions also in semantic.yaml: {clash}")
    if len(set(mine)) != len(mine):
        raise SystemExit("duplicate question in the hold-out set")


def main() -> None:
    doc = build()
    _check(doc)
    M.write(doc, OUT)


if __name__ == "__main__":
    main()
