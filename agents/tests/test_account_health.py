"""Customer health end to end (issue 11, part 3): churn risk ranking, one account's health card,
expansion, declining engagement, usage trends; a tenant whose model lacks call notes, and a
fixture tenant whose model declares usage and contracts.

Expected figures are computed here from the CSV files (and the fixture's seeded generator) with
the standard library, re-implementing the churn document's formulas; never from the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict

import pytest

from agents.routing import classify
from agents.tests.conftest import read_csv
from agents.tests.runs import ask, drop_call_notes, semantic_model_edit
from agents.tests.usage_tenant import PLG_ACCOUNT, contract_rows, usage_rows

AS_OF = dt.date(2025, 6, 30)
WEIGHTS = {"Commit": {"usage": 40, "engagement": 25, "business": 25, "contract": 10},
           "PLG": {"usage": 50, "engagement": 30, "business": 20, "contract": 0},
           "Prospect": {"usage": 0, "engagement": 60, "business": 40, "contract": 0}}
BANDS = [(25, "Low"), (50, "Medium"), (75, "High"), (100, "Critical")]


def _d(text: str) -> dt.date | None:
    if not text:
        return None
    m, d, y = (int(x) for x in text.split("/"))
    return dt.date(y, m, d)


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _band(score: int) -> str:
    return next(label for top, label in BANDS if score <= top)


def _decline(recent: float, previous: float) -> float:
    if previous <= 0:
        return 100.0 if recent <= 0 else 0.0
    return max(0.0, min(100.0, 100.0 * (previous - recent) / previous))


def facts_from_csv(accounts: list[dict] | None = None) -> dict[str, dict]:
    """Per account name: the inputs of the churn signals, from the CSV files."""
    accounts = accounts or read_csv("accounts")
    name_of = {a["account_id"]: a["account"] for a in accounts}
    f = {a["account"]: {"sector": a["sector"], "employees": int(a["employees"]) if a["employees"] else None, "recent": 0, "previous": 0, "last_note": None,
                        "won_total": 0, "won_revenue": 0, "won_w": 0, "lost_w": 0, "last_win": None, "open": 0, "products": set()} for a in accounts}
    for n in read_csv("interactions"):
        name, day = name_of.get(n["account_id"]), _d(n["timestamp"])
        if name is None or day is None or day > AS_OF:
            continue
        age = (AS_OF - day).days
        if age < 90:
            f[name]["recent"] += 1
        elif age < 180:
            f[name]["previous"] += 1
        if f[name]["last_note"] is None or day > f[name]["last_note"]:
            f[name]["last_note"] = day
    for o in read_csv("sales_pipeline"):
        name = name_of.get(o["account_id"])
        if name is None:
            continue
        if o["deal_stage"] in ("Prospecting", "Engaging"):
            f[name]["open"] += 1
            continue
        day = _d(o["close_date"])
        if day is None or day > AS_OF:
            continue
        if o["deal_stage"] == "Won":
            f[name]["won_total"] += 1
            f[name]["won_revenue"] += int(o["close_value"])
            f[name]["products"].add("GTX Pro" if o["product"] == "GTXPro" else o["product"])
            if f[name]["last_win"] is None or day > f[name]["last_win"]:
                f[name]["last_win"] = day
        if (AS_OF - day).days < 180:
            f[name]["won_w" if o["deal_stage"] == "Won" else "lost_w"] += 1
    return f


def engagement_risk(x: dict) -> float:
    recency = 100.0 if x["last_note"] is None else min(100.0, 100.0 * (AS_OF - x["last_note"]).days / 180)
    return (_decline(x["recent"], x["previous"]) + recency) / 2


def business_risk(x: dict) -> float:
    parts = [100.0 if x["last_win"] is None else min(100.0, 100.0 * (AS_OF - x["last_win"]).days / 365)]
    if x["won_w"] + x["lost_w"]:
        parts.append(100.0 * x["lost_w"] / (x["won_w"] + x["lost_w"]))
    parts.append(100.0 / (1 + x["open"]))
    return sum(parts) / len(parts)


def churn(x: dict, risks: dict[str, float], segment: str) -> int:
    w = {k: v for k, v in WEIGHTS[segment].items() if v and k in risks}
    return _half_up(sum(w[k] * risks[k] for k in w) / sum(w.values()))


def expected_ranking(facts: dict) -> list[tuple[str, int]]:
    scores = {name: churn(x, {"engagement": engagement_risk(x), "business": business_risk(x)}, "Commit" if x["won_total"] else "Prospect") for name, x in facts.items()}
    return sorted(scores.items(), key=lambda t: (-t[1], t[0]))


def test_routes():
    for q in ("Which customers are at highest churn risk this quarter?", "Top 10 accounts by churn risk", "How healthy is Acme Corporation?",
              "Which accounts have expansion potential?", "upsell opportunities in the medical sector", "accounts with declining engagement",
              "usage trend for Acme Corporation", "Where are we seeing cross-sell white space?"):
        assert classify(q).agents == ["account_health"], q
    assert classify("What is our churn rate this year?").agents == ["data"]
    assert classify("How healthy is the Acme deal?").agents == ["deal_analysis"]


def test_churn_ranking_matches_the_csv_files(demo):
    facts = facts_from_csv()
    ranking = expected_ranking(facts)
    run = ask(demo.tenant, "Which customers are at highest churn risk this quarter?")
    assert run.status == "succeeded", run.error
    assert run.route == ["account_health"]
    md = run.answer_markdown
    for i, (name, score) in enumerate(ranking[:10], 1):
        assert f"| {i} | {name} | Commit | {score} | {_band(score)} |" in md, name
    bands = defaultdict(int)
    for _, s in ranking:
        bands[_band(s)] += 1
    assert "bands: " + ", ".join(f"{b} {bands[b]}" for _, b in BANDS if bands[b]) in md
    # Missing signals are named, and the weights renormalised without them.
    assert "declares no usage entity" in md and "computed without the usage signal" in md
    assert "declares no contract entity" in md
    # The intervention of the top driver comes from the churn document.
    assert "Re-engage: the account owner books an executive check-in" in md
    assert not run.grounding.get("unmatched"), run.grounding


def test_top_n_is_respected(demo):
    ranking = expected_ranking(facts_from_csv())
    run = ask(demo.tenant, "Top 5 accounts by churn risk")
    assert f"| 5 | {ranking[4][0]} |" in run.answer_markdown and "| 6 |" not in run.answer_markdown


def test_health_card_for_one_account(demo):
    facts = facts_from_csv()
    acme = facts["Acme Corporation"]
    eng, bus = engagement_risk(acme), business_risk(acme)
    score = churn(acme, {"engagement": eng, "business": bus}, "Commit")
    run = ask(demo.tenant, "How healthy is Acme Corporation?")
    md = run.answer_markdown
    assert run.status == "succeeded", run.error
    assert f"**{score}/100 ({_band(score)})**" in md
    assert "**Segment**: Commit" in md
    assert f"{acme['won_total']} won opportunities (${acme['won_revenue']:,})" in md
    assert f"{acme['open']} open" in md
    assert f"| engagement | {round(eng)} |" in md and f"| business | {round(bus)} |" in md
    # Expansion: white space over similar accounts (same sector and ICP employee band), ICP fit, activity.
    icp_ind = {"technology": 1.0, "software": 1.0, "telecommunications": 0.8, "finance": 0.7, "medical": 0.6, "marketing": 0.5,
               "services": 0.5, "retail": 0.4, "entertainment": 0.4, "employment": 0.3}
    bands = [(5000, 1.0, "5,000+"), (1000, 0.9, "1,000-4,999"), (200, 0.6, "200-999"), (50, 0.3, "50-199"), (0, 0.1, "under 50")]

    def band(emp):
        return next(b for b in bands if emp >= b[0])

    def company(x):
        sector = "technology" if x["sector"] == "technolgy" else x["sector"]
        return (icp_ind[sector] + band(x["employees"])[1]) / 2

    peers = [x for n, x in facts.items() if n != "Acme Corporation" and x["sector"] == acme["sector"] and band(x["employees"]) == band(acme["employees"])]
    products = {p["product"] for p in read_csv("products")}
    white = max((100 * sum(p in x["products"] for x in peers) / len(peers) for p in products - acme["products"]), default=0.0)
    growth = 100.0 if acme["previous"] == 0 and acme["recent"] > 0 else 0.0 if acme["previous"] == 0 else max(0.0, min(100.0, 100 * (acme["recent"] - acme["previous"]) / acme["previous"]))
    expansion = _half_up((50 * white + 20 * growth + 30 * 100 * company(acme)) / 100)
    assert f"**Expansion score**: {expansion}/100" in md
    assert not run.grounding.get("unmatched"), run.grounding
    assert run.entities["churn_risk"] == score


def test_expansion_in_a_sector(demo):
    facts = facts_from_csv()
    run = ask(demo.tenant, "upsell opportunities in the medical sector")
    md = run.answer_markdown
    medical = [n for n, x in facts.items() if x["sector"] == "medical"]
    assert f"of {len(medical)} accounts in the medical sector" in md
    rows = re.findall(r"^\| \d+ \| ([^|]+) \| ([^|]+) \|", md, flags=re.M)
    assert rows and all(sector.strip() == "medical" for _, sector in rows)
    assert not run.grounding.get("unmatched"), run.grounding


def test_declining_engagement(demo):
    facts = facts_from_csv()
    declining = sorted((n for n, x in facts.items() if x["recent"] < x["previous"]),
                       key=lambda n: (-(facts[n]["previous"] - facts[n]["recent"]) / facts[n]["previous"], -(facts[n]["previous"] - facts[n]["recent"]), n))
    run = ask(demo.tenant, "accounts with declining engagement")
    md = run.answer_markdown
    assert f"**{len(declining)} of {len(facts)} accounts**" in md
    total_recent = sum(x["recent"] for x in facts.values())
    total_prev = sum(x["previous"] for x in facts.values())
    assert f"{total_recent} interactions in the last 90 days vs {total_prev} before" in md
    first = facts[declining[0]]
    assert f"| 1 | {declining[0]} | {first['previous']} | {first['recent']} |" in md
    assert not run.grounding.get("unmatched"), run.grounding


def test_a_tenant_without_call_notes_is_scored_without_engagement(demo):
    semantic_model_edit(demo.tenant, drop_call_notes)
    acme = facts_from_csv()["Acme Corporation"]
    score = churn(acme, {"business": business_risk(acme)}, "Commit")
    run = ask(demo.tenant, "How healthy is Acme Corporation?")
    md = run.answer_markdown
    assert run.status == "succeeded", run.error
    assert "declares no call-notes entity" in md and "computed without the engagement signal" in md
    assert f"**{score}/100 ({_band(score)})**" in md
    run = ask(demo.tenant, "accounts with declining engagement")
    assert "declares no call-notes entity" in run.answer_markdown and "Nothing was computed" in run.answer_markdown


def _usage_facts():
    accounts = read_csv("accounts") + [PLG_ACCOUNT]
    facts = facts_from_csv(accounts)
    name_of = {a["account_id"]: a["account"] for a in accounts}
    monthly = defaultdict(dict)
    for account_id, month, units in usage_rows():
        monthly[name_of[str(account_id)]][month] = units
    for name, x in facts.items():
        months = sorted(monthly[name])
        x["usage_prev"] = sum(monthly[name][m] for m in months[6:9])  # 2025-01 .. 2025-03
        x["usage_recent"] = sum(monthly[name][m] for m in months[9:12])  # 2025-04 .. 2025-06
        x["monthly"] = monthly[name]
    for _, account_id, end in contract_rows():
        facts[name_of[str(account_id)]]["contract_end"] = end
    return facts


def _usage_risks(x: dict) -> dict[str, float]:
    risks = {"engagement": engagement_risk(x), "business": business_risk(x), "usage": _decline(x["usage_recent"], x["usage_prev"])}
    end = x.get("contract_end")
    if end is None:
        risks["contract"] = 100.0
    elif end >= AS_OF:
        risks["contract"] = max(0.0, min(100.0, 100 * (1 - (end - AS_OF).days / 180)))
    else:
        risks["contract"] = 100.0
    return risks


def test_usage_tenant_scores_with_usage_and_contracts(usage_tenant):
    facts = _usage_facts()
    acme = facts["Acme Corporation"]
    risks = _usage_risks(acme)
    score = churn(acme, risks, "Commit")
    run = ask(usage_tenant, "How healthy is Acme Corporation?")
    md = run.answer_markdown
    assert run.status == "succeeded", run.error
    assert f"**{score}/100 ({_band(score)})**" in md
    assert f"| usage | {round(risks['usage'])} | 40% |" in md
    assert f"| contract | {round(risks['contract'])} | 10% |" in md
    assert "declares no usage entity" not in md and "declares no contract entity" not in md
    assert not run.grounding.get("unmatched"), run.grounding

    # The self-serve account: usage, no won opportunity -> PLG, weighted by the PLG weights.
    plg = facts[PLG_ACCOUNT["account"]]
    plg_score = churn(plg, _usage_risks(plg), "PLG")
    run = ask(usage_tenant, "How healthy is Selfserve Labs?")
    assert "**Segment**: PLG" in run.answer_markdown
    assert f"**{plg_score}/100 ({_band(plg_score)})**" in run.answer_markdown

    ranking = sorted(((n, churn(x, _usage_risks(x), "Commit" if x["won_total"] else "PLG")) for n, x in facts.items()), key=lambda t: (-t[1], t[0]))
    run = ask(usage_tenant, "Top 10 accounts by churn risk")
    for i, (name, s) in enumerate(ranking[:10], 1):
        assert f"| {i} | {name} |" in run.answer_markdown and f"| {s} | {_band(s)} |" in run.answer_markdown
    assert "declares no usage entity" not in run.answer_markdown


def test_usage_trend_for_one_account(usage_tenant):
    acme = _usage_facts()["Acme Corporation"]
    run = ask(usage_tenant, "usage trend for Acme Corporation")
    md = run.answer_markdown
    assert run.status == "succeeded", run.error
    for month, units in acme["monthly"].items():
        assert f"| {month.isoformat()} | {units:,} |" in md
    change = 100 * (acme["usage_recent"] - acme["usage_prev"]) / acme["usage_prev"]
    assert f"{acme['usage_recent']:,} vs {acme['usage_prev']:,}" in md and f"({change:.1f}%)" in md
    assert not run.grounding.get("unmatched"), run.grounding


def test_usage_trend_of_an_account_without_usage_rows_says_so(usage_tenant):
    """With the as-of date moved two years past the generated usage (2024-07 .. 2025-06), no
    account has a usage row in either window: the answer says none is recorded and shows the
    churn rule's full usage risk, never "0 vs 0"."""
    usage_tenant.settings = {**usage_tenant.settings, "as_of_date": "2027-06-30"}
    usage_tenant.save()
    run = ask(usage_tenant, "usage trend for Acme Corporation")
    md = run.answer_markdown
    assert run.status == "succeeded", run.error
    assert "No usage units recorded for Acme Corporation in the last 3 complete months or the 3 before" in md
    assert "Usage risk 100/100" in md and " vs 0 " not in md and "| Month |" not in md
    assert not run.grounding.get("unmatched"), run.grounding


def test_usage_question_on_a_tenant_without_usage(demo):
    run = ask(demo.tenant, "usage trend for Acme Corporation")
    assert run.status == "succeeded"
    assert "declares no usage entity" in run.answer_markdown and "Nothing was computed" in run.answer_markdown
    assert not run.steps.filter(name="warehouse_sql").exists()


def test_the_eval_file_passes_offline(demo):
    """``manage.py eval --tenant demo agents/evals/account_health.yaml`` in-process: >= 95% routing and answers."""
    from pathlib import Path

    from agents.evaluation import eval_load, eval_run, eval_summary

    data = eval_load(Path(__file__).resolve().parents[1] / "evals" / "account_health.yaml")
    assert len(data["questions"]) >= 12
    rows = eval_run(tenant=demo.tenant, data=data)
    summary = eval_summary(rows)
    failed = [(r.question, r.route, r.missing) for r in rows if not (r.route_ok and r.answer_ok)]
    for r in rows:
        print(f"{r.latency_ms:>5} ms  route {r.route_ok}  answer {r.answer_ok}  grounded {r.grounded}  {r.question}")
    assert summary.routing_accuracy >= 0.95 and summary.answer_accuracy >= 0.95, failed
